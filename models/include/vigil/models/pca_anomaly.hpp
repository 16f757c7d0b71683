#pragma once
// PCA anomaly detection on standardized feature vectors: Hotelling's T^2 on the retained
// components, SPE (Q) on the residual, each against a control limit at a confidence level.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vigil/models/baseline.hpp"
#include "vigil/models/standardizer.hpp"

namespace vigil::models {

/// How many components to keep and how strict the limits are.
struct PcaOptions {
  /// Keep the fewest leading components whose share of the total variance reaches this, in (0, 1].
  double explained_variance = 0.9;
  /// > 0: keep exactly this many components instead (explained_variance is then unused).
  std::size_t components = 0;
  /// Confidence of both control limits, in (0, 1): 0.99 flags about 1 % of in-control vectors.
  double confidence = 0.99;
  StandardizerOptions standardizer;
};

/// How the Q limit was computed.
enum class QLimitMethod : std::uint8_t {
  jackson_mudholkar,  ///< the normal approximation of Jackson and Mudholkar (h0 > 0)
  box,                ///< g * chi2_h (Box 1954), used when Jackson-Mudholkar's h0 <= 0
  none,               ///< no residual variance (every component kept): Q is not checked
};

/// One vector's statistics. NaN inputs give NaN statistics and no anomaly.
struct PcaScore {
  double t2 = 0;
  double q = 0;
  bool t2_exceeded = false;
  bool q_exceeded = false;
  bool anomaly = false;  ///< either limit exceeded
};

/// A fitted PCA model. Sizes are fixed at fit; score() allocates nothing. score() uses scratch
/// buffers inside the object, so one instance serves one thread at a time (copy it per worker).
class PcaAnomaly {
 public:
  /// Standardizes the baseline, eigen-decomposes its correlation matrix, keeps components and
  /// computes both limits. An error when the options are out of range, every feature is
  /// constant, the kept components include a zero eigenvalue, or count <= components.
  static Result<PcaAnomaly> fit(const Baseline& baseline, const PcaOptions& options = {});

  /// T^2 and Q of `x` (dim() values) and whether they exceed the limits. Allocation-free.
  PcaScore score(std::span<const double> x) noexcept;

  std::size_t dim() const noexcept { return standardizer_.dim(); }
  std::size_t components() const noexcept { return inv_lambda_.size(); }
  /// Every eigenvalue of the standardized covariance, largest first (negatives clamped to 0).
  std::span<const double> eigenvalues() const noexcept { return eigenvalues_; }
  /// Share of the total variance carried by the kept components.
  double explained_variance() const noexcept { return explained_; }
  /// k (n-1)(n+1) / (n (n-k)) F_{k, n-k; confidence}.
  double t2_limit() const noexcept { return t2_limit_; }
  /// Jackson-Mudholkar (or Box, see q_limit_method()); +infinity when QLimitMethod::none.
  double q_limit() const noexcept { return q_limit_; }
  QLimitMethod q_limit_method() const noexcept { return q_method_; }
  const Standardizer& standardizer() const noexcept { return standardizer_; }

 private:
  Standardizer standardizer_;
  std::vector<double> eigenvalues_;
  std::vector<double> loadings_;    // dim x components, column-major: kept eigenvectors
  std::vector<double> inv_lambda_;  // 1 / kept eigenvalue
  double explained_ = 0;
  double t2_limit_ = 0;
  double q_limit_ = 0;
  QLimitMethod q_method_ = QLimitMethod::none;
  std::vector<double> z_, t_, r_;  // scratch of score()
};

/// Median of the last `window` raw decisions (window odd): an alarm needs a majority of the last
/// `window` decisions, so isolated spikes are dropped and isolated gaps bridged. Decisions before
/// the first `window` count as "no alarm". Fixed ring; one per key; not thread-safe.
class DecisionFilter {
 public:
  /// An error unless window is odd and >= 1 (1 passes decisions through).
  static Result<DecisionFilter> create(std::size_t window);
  /// Adds a decision and returns the filtered one. Allocation-free.
  bool push(bool decision) noexcept;
  void reset() noexcept;
  std::size_t window() const noexcept { return ring_.size(); }
  /// Appends the ring for a checkpoint.
  void save(std::vector<double>& out) const;
  /// Reads what save() wrote for the same window, advancing `in`; false when it does not fit.
  bool load(std::span<const double>& in) noexcept;

 private:
  std::vector<unsigned char> ring_;
  std::size_t next_ = 0;
  std::size_t alarms_ = 0;
};

}  // namespace vigil::models
