#include "vigil/models/control_charts.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace vigil::models {
namespace {

Result<void> check(const ChartBaseline& b, const Hysteresis& h, const char* chart) {
  const std::string name = chart;
  if (b.learn == 1) return Error{name + " baseline learn must be 0 (given mean and std) or at least 2"};
  if (!(b.min_std > 0)) return Error{name + " baseline min_std must be > 0"};
  if (b.learn == 0 && (!std::isfinite(b.mean) || !(b.std_dev > 0) || !std::isfinite(b.std_dev))) {
    return Error{name + " baseline needs a finite mean and a std_dev > 0 when learn is 0"};
  }
  if (h.clear_after == 0) return Error{name + " hysteresis clear_after must be at least 1"};
  if (!(h.clear_fraction > 0 && h.clear_fraction <= 1)) {
    return Error{name + " hysteresis clear_fraction must be in (0, 1]"};
  }
  return runtime::ok();
}

// Welford on the learning values; true once the baseline is complete.
bool learn(const ChartBaseline& b, double x, std::size_t& count, double& mean, double& m2, double& out_mean,
           double& out_std) noexcept {
  ++count;
  const double delta = x - mean;
  mean += delta / static_cast<double>(count);
  m2 += delta * (x - mean);
  if (count < b.learn) return false;
  out_mean = mean;
  out_std = std::max(std::sqrt(m2 / static_cast<double>(count - 1)), b.min_std);
  return true;
}

// Raise at once; clear after clear_after consecutive points inside the clear band.
AlarmChange step_alarm(bool outside, bool inside_clear_band, const Hysteresis& h, bool& alarm,
                       std::size_t& inside_run) noexcept {
  if (!alarm) {
    if (!outside) return AlarmChange::none;
    alarm = true;
    inside_run = 0;
    return AlarmChange::raised;
  }
  inside_run = inside_clear_band ? inside_run + 1 : 0;
  if (inside_run < h.clear_after) return AlarmChange::none;
  alarm = false;
  inside_run = 0;
  return AlarmChange::cleared;
}

}  // namespace

Result<Ewma> Ewma::create(const EwmaOptions& options) {
  if (!(options.lambda > 0 && options.lambda <= 1)) return Error{"ewma lambda must be in (0, 1]"};
  if (!(options.width > 0)) return Error{"ewma width (L) must be > 0"};
  if (auto r = check(options.baseline, options.hysteresis, "ewma"); !r) return std::move(r).error();
  Ewma e;
  e.options_ = options;
  e.reset();
  return e;
}

void Ewma::reset() noexcept {
  learned_ = 0;
  learn_mean_ = learn_m2_ = 0;
  mean_ = options_.baseline.mean;
  std_ = std::max(options_.baseline.std_dev, options_.baseline.min_std);
  z_ = mean_;
  decay2_ = 1;
  alarm_ = false;
  inside_run_ = 0;
  skipped_ = 0;
  last_ = EwmaPoint{};
  last_.statistic = z_;
  last_.learning = learning();
}

EwmaPoint Ewma::update(double x) noexcept {
  if (!std::isfinite(x)) {
    ++skipped_;
    EwmaPoint p = last_;
    p.change = AlarmChange::none;
    return p;
  }
  EwmaPoint p;
  if (learning()) {
    if (learn(options_.baseline, x, learned_, learn_mean_, learn_m2_, mean_, std_)) z_ = mean_;
    p.learning = true;
    p.statistic = z_;
    last_ = p;
    return p;
  }
  const double lambda = options_.lambda;
  z_ = lambda * x + (1 - lambda) * z_;
  decay2_ *= (1 - lambda) * (1 - lambda);
  const double half_width = options_.width * std_ * std::sqrt(lambda / (2 - lambda) * (1 - decay2_));
  const double deviation = std::fabs(z_ - mean_);
  p.statistic = z_;
  p.lower = mean_ - half_width;
  p.upper = mean_ + half_width;
  p.change = step_alarm(deviation > half_width, deviation <= options_.hysteresis.clear_fraction * half_width,
                        options_.hysteresis, alarm_, inside_run_);
  p.alarm = alarm_;
  last_ = p;
  return p;
}

Result<Cusum> Cusum::create(const CusumOptions& options) {
  if (!(options.k >= 0) || !std::isfinite(options.k)) return Error{"cusum k must be >= 0"};
  if (!(options.h > 0) || !std::isfinite(options.h)) return Error{"cusum h must be > 0"};
  if (auto r = check(options.baseline, options.hysteresis, "cusum"); !r) return std::move(r).error();
  Cusum c;
  c.options_ = options;
  c.reset();
  return c;
}

void Cusum::reset() noexcept {
  learned_ = 0;
  learn_mean_ = learn_m2_ = 0;
  mean_ = options_.baseline.mean;
  std_ = std::max(options_.baseline.std_dev, options_.baseline.min_std);
  upper_ = lower_ = 0;
  alarm_ = false;
  inside_run_ = 0;
  skipped_ = 0;
  last_ = CusumPoint{};
  last_.limit = options_.h;
  last_.learning = learning();
}

CusumPoint Cusum::update(double x) noexcept {
  if (!std::isfinite(x)) {
    ++skipped_;
    CusumPoint p = last_;
    p.change = AlarmChange::none;
    return p;
  }
  CusumPoint p;
  p.limit = options_.h;
  if (learning()) {
    learn(options_.baseline, x, learned_, learn_mean_, learn_m2_, mean_, std_);
    p.learning = true;
    last_ = p;
    return p;
  }
  const double u = (x - mean_) / std_;
  upper_ = std::max(0.0, upper_ + u - options_.k);
  lower_ = std::max(0.0, lower_ - u - options_.k);
  const double h = options_.h;
  const double clear = options_.hysteresis.clear_fraction * h;
  p.upper = upper_;
  p.lower = lower_;
  p.change = step_alarm(upper_ > h || lower_ > h, upper_ <= clear && lower_ <= clear, options_.hysteresis, alarm_,
                        inside_run_);
  p.alarm = alarm_;
  last_ = p;
  return p;
}

namespace {

// Doubles each chart saves (sizes below 2^53 are exact as doubles).
constexpr std::size_t kEwmaState = 13;
constexpr std::size_t kCusumState = 10;

bool whole(double v) noexcept { return v >= 0 && v < 9e15 && v == std::floor(v); }

}  // namespace

void Ewma::save(std::vector<double>& out) const {
  out.insert(out.end(), {mean_, std_, static_cast<double>(learned_), learn_mean_, learn_m2_, z_, decay2_,
                         static_cast<double>(alarm_), static_cast<double>(inside_run_),
                         static_cast<double>(skipped_), last_.statistic, last_.lower, last_.upper});
}

bool Ewma::load(std::span<const double>& in) noexcept {
  if (in.size() < kEwmaState || !whole(in[2]) || !whole(in[8]) || !whole(in[9])) return false;
  mean_ = in[0], std_ = in[1], learned_ = static_cast<std::size_t>(in[2]);
  learn_mean_ = in[3], learn_m2_ = in[4], z_ = in[5], decay2_ = in[6];
  alarm_ = in[7] != 0, inside_run_ = static_cast<std::size_t>(in[8]), skipped_ = static_cast<std::size_t>(in[9]);
  last_ = EwmaPoint{};
  last_.statistic = in[10], last_.lower = in[11], last_.upper = in[12];
  last_.learning = learning();
  last_.alarm = alarm_;
  in = in.subspan(kEwmaState);
  return true;
}

void Cusum::save(std::vector<double>& out) const {
  out.insert(out.end(), {mean_, std_, static_cast<double>(learned_), learn_mean_, learn_m2_, upper_, lower_,
                         static_cast<double>(alarm_), static_cast<double>(inside_run_),
                         static_cast<double>(skipped_)});
}

bool Cusum::load(std::span<const double>& in) noexcept {
  if (in.size() < kCusumState || !whole(in[2]) || !whole(in[8]) || !whole(in[9])) return false;
  mean_ = in[0], std_ = in[1], learned_ = static_cast<std::size_t>(in[2]);
  learn_mean_ = in[3], learn_m2_ = in[4], upper_ = in[5], lower_ = in[6];
  alarm_ = in[7] != 0, inside_run_ = static_cast<std::size_t>(in[8]), skipped_ = static_cast<std::size_t>(in[9]);
  last_ = CusumPoint{};
  last_.upper = upper_, last_.lower = lower_, last_.limit = options_.h;
  last_.learning = learning();
  last_.alarm = alarm_;
  in = in.subspan(kCusumState);
  return true;
}

}  // namespace vigil::models
