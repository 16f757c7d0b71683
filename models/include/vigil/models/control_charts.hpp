#pragma once
// Single-feature control charts: EWMA and two-sided tabular CUSUM, with a baseline that is
// given or learned from the first values, and alarms that raise at once and clear with
// hysteresis.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "vigil/models/baseline.hpp"

namespace vigil::models {

/// Where a chart's in-control mean and std come from.
struct ChartBaseline {
  /// > 0: learn mean and sample std from the first `learn` values (at least 2); no alarms
  /// meanwhile. 0: use `mean` and `std_dev` below.
  std::size_t learn = 0;
  double mean = 0;
  double std_dev = 1;
  /// Floor of the std (learned or given), so a constant learning period still gives limits.
  double min_std = 1e-9;
};

/// When a raised alarm clears: after `clear_after` consecutive points whose statistic is back
/// inside `clear_fraction` times the limit (1: the limit itself; 0.8: 20 % inside it).
struct Hysteresis {
  std::size_t clear_after = 3;
  double clear_fraction = 1.0;
};

/// What this point did to the alarm.
enum class AlarmChange : std::uint8_t { none, raised, cleared };

/// What every chart keeps besides its statistic: the in-control mean and std (given, or learned
/// by Welford from the first values), the alarm with its clearing run, and the values skipped.
/// Shared by Ewma and Cusum; allocation-free.
struct ChartState {
  double mean = 0, std_dev = 1;
  std::size_t learned = 0;
  double learn_mean = 0, learn_m2 = 0;
  bool alarm = false;
  std::size_t inside_run = 0;
  std::size_t skipped = 0;

  /// Back to the start of `b`: learning again, or its given mean and std; alarm off.
  void reset(const ChartBaseline& b) noexcept;
  bool learning(const ChartBaseline& b) const noexcept { return learned < b.learn; }
  /// Learns `x`; true when it completed the baseline (mean and std_dev are then set).
  bool learn(const ChartBaseline& b, double x) noexcept;
  /// Raises at once when `outside`; clears after `h.clear_after` consecutive points inside the
  /// clear band.
  AlarmChange step(bool outside, bool inside_clear_band, const Hysteresis& h) noexcept;
  /// Appends mean, std, the learning sums, then the chart's own `own` values, then the alarm.
  void save(std::vector<double>& out, std::initializer_list<double> own) const;
  /// Reads what save() wrote with `own.size()` values of the chart's own into `own`, advancing
  /// `in` past everything save() wrote plus `extra` values the chart reads itself; false (state
  /// unchanged) when it does not fit.
  bool load(std::span<const double>& in, std::span<double> own, std::size_t extra) noexcept;
};

struct EwmaOptions {
  double lambda = 0.2;  ///< weight of the newest value, in (0, 1]
  double width = 3;     ///< L: limits at mean +- L sigma_z(t)
  ChartBaseline baseline;
  Hysteresis hysteresis;
};

struct EwmaPoint {
  double statistic = 0;  ///< z_t
  double lower = 0;      ///< mean - L sigma_z(t)
  double upper = 0;      ///< mean + L sigma_z(t)
  bool learning = false; ///< the value went into the baseline; no statistic yet
  bool alarm = false;    ///< alarm state after this point
  AlarmChange change = AlarmChange::none;
};

/// EWMA chart z_t = lambda x_t + (1 - lambda) z_{t-1}, z_0 = mean, with the exact time-varying
/// limits mean +- L sigma sqrt(lambda / (2 - lambda) (1 - (1 - lambda)^(2t))). One per key;
/// update() is allocation-free; not thread-safe. Non-finite values are skipped (counted).
class Ewma {
 public:
  static Result<Ewma> create(const EwmaOptions& options);
  EwmaPoint update(double x) noexcept;
  /// Back to the start: learning again if the baseline is learned, else z = mean.
  void reset() noexcept;
  /// Appends the chart's state (baseline learned so far, statistic, alarm) for a checkpoint.
  void save(std::vector<double>& out) const;
  /// Reads what save() wrote, advancing `in`; false (state unchanged) when it does not fit.
  bool load(std::span<const double>& in) noexcept;
  double mean() const noexcept { return state_.mean; }
  double std_dev() const noexcept { return state_.std_dev; }
  bool learning() const noexcept { return state_.learning(options_.baseline); }
  std::size_t skipped() const noexcept { return state_.skipped; }

 private:
  EwmaOptions options_;
  ChartState state_;
  double z_ = 0;
  double decay2_ = 1;  // (1 - lambda)^(2t)
  EwmaPoint last_;
};

struct CusumOptions {
  double k = 0.5;  ///< allowance (slack), in std units: half the shift to detect
  double h = 5;    ///< decision interval, in std units
  ChartBaseline baseline;
  Hysteresis hysteresis;
};

struct CusumPoint {
  double upper = 0;  ///< C+_t, in std units
  double lower = 0;  ///< C-_t, in std units (>= 0; large for a downward shift)
  double limit = 0;  ///< h
  bool learning = false;
  bool alarm = false;
  AlarmChange change = AlarmChange::none;
};

/// Two-sided tabular CUSUM on u = (x - mean) / std: C+ = max(0, C+ + u - k),
/// C- = max(0, C- - u - k), alarm when either exceeds h. The sums are not reset at an alarm:
/// they fall back by k per in-control point and the alarm clears through the hysteresis.
/// One per key; update() is allocation-free; not thread-safe. Non-finite values are skipped.
class Cusum {
 public:
  static Result<Cusum> create(const CusumOptions& options);
  CusumPoint update(double x) noexcept;
  void reset() noexcept;
  /// Appends the chart's state (baseline learned so far, sums, alarm) for a checkpoint.
  void save(std::vector<double>& out) const;
  /// Reads what save() wrote, advancing `in`; false (state unchanged) when it does not fit.
  bool load(std::span<const double>& in) noexcept;
  double mean() const noexcept { return state_.mean; }
  double std_dev() const noexcept { return state_.std_dev; }
  bool learning() const noexcept { return state_.learning(options_.baseline); }
  std::size_t skipped() const noexcept { return state_.skipped; }

 private:
  CusumOptions options_;
  ChartState state_;
  double upper_ = 0, lower_ = 0;
  CusumPoint last_;
};

}  // namespace vigil::models
