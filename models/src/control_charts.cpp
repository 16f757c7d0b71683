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

// Sizes below 2^53 are exact as doubles.
bool whole(double v) noexcept { return v >= 0 && v < 9e15 && v == std::floor(v); }

}  // namespace

void ChartState::reset(const ChartBaseline& b) noexcept {
  learned = 0;
  learn_mean = learn_m2 = 0;
  mean = b.mean;
  std_dev = std::max(b.std_dev, b.min_std);
  alarm = false;
  inside_run = 0;
  skipped = 0;
}

bool ChartState::learn(const ChartBaseline& b, double x) noexcept {
  ++learned;
  const double delta = x - learn_mean;
  learn_mean += delta / static_cast<double>(learned);
  learn_m2 += delta * (x - learn_mean);
  if (learned < b.learn) return false;
  mean = learn_mean;
  std_dev = std::max(std::sqrt(learn_m2 / static_cast<double>(learned - 1)), b.min_std);
  return true;
}

AlarmChange ChartState::step(bool outside, bool inside_clear_band, const Hysteresis& h) noexcept {
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

void ChartState::save(std::vector<double>& out, std::initializer_list<double> own) const {
  out.insert(out.end(), {mean, std_dev, static_cast<double>(learned), learn_mean, learn_m2});
  out.insert(out.end(), own);
  out.insert(out.end(), {static_cast<double>(alarm), static_cast<double>(inside_run), static_cast<double>(skipped)});
}

bool ChartState::load(std::span<const double>& in, std::span<double> own, std::size_t extra) noexcept {
  const std::size_t n = own.size(), total = 8 + n + extra;
  if (in.size() < total || !whole(in[2]) || !whole(in[6 + n]) || !whole(in[7 + n])) return false;
  mean = in[0], std_dev = in[1], learned = static_cast<std::size_t>(in[2]);
  learn_mean = in[3], learn_m2 = in[4];
  std::copy_n(in.data() + 5, n, own.data());
  alarm = in[5 + n] != 0, inside_run = static_cast<std::size_t>(in[6 + n]), skipped = static_cast<std::size_t>(in[7 + n]);
  in = in.subspan(8 + n);
  return true;
}

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
  state_.reset(options_.baseline);
  z_ = state_.mean;
  decay2_ = 1;
  last_ = EwmaPoint{};
  last_.statistic = z_;
  last_.learning = learning();
}

EwmaPoint Ewma::update(double x) noexcept {
  if (!std::isfinite(x)) {
    ++state_.skipped;
    EwmaPoint p = last_;
    p.change = AlarmChange::none;
    return p;
  }
  EwmaPoint p;
  if (learning()) {
    if (state_.learn(options_.baseline, x)) z_ = state_.mean;
    p.learning = true;
    p.statistic = z_;
    last_ = p;
    return p;
  }
  const double lambda = options_.lambda;
  z_ = lambda * x + (1 - lambda) * z_;
  decay2_ *= (1 - lambda) * (1 - lambda);
  const double half_width = options_.width * state_.std_dev * std::sqrt(lambda / (2 - lambda) * (1 - decay2_));
  const double deviation = std::fabs(z_ - state_.mean);
  p.statistic = z_;
  p.lower = state_.mean - half_width;
  p.upper = state_.mean + half_width;
  p.change = state_.step(deviation > half_width, deviation <= options_.hysteresis.clear_fraction * half_width,
                         options_.hysteresis);
  p.alarm = state_.alarm;
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
  state_.reset(options_.baseline);
  upper_ = lower_ = 0;
  last_ = CusumPoint{};
  last_.limit = options_.h;
  last_.learning = learning();
}

CusumPoint Cusum::update(double x) noexcept {
  if (!std::isfinite(x)) {
    ++state_.skipped;
    CusumPoint p = last_;
    p.change = AlarmChange::none;
    return p;
  }
  CusumPoint p;
  p.limit = options_.h;
  if (learning()) {
    state_.learn(options_.baseline, x);
    p.learning = true;
    last_ = p;
    return p;
  }
  const double u = (x - state_.mean) / state_.std_dev;
  upper_ = std::max(0.0, upper_ + u - options_.k);
  lower_ = std::max(0.0, lower_ - u - options_.k);
  const double h = options_.h;
  const double clear = options_.hysteresis.clear_fraction * h;
  p.upper = upper_;
  p.lower = lower_;
  p.change = state_.step(upper_ > h || lower_ > h, upper_ <= clear && lower_ <= clear, options_.hysteresis);
  p.alarm = state_.alarm;
  last_ = p;
  return p;
}

void Ewma::save(std::vector<double>& out) const {
  state_.save(out, {z_, decay2_});
  out.insert(out.end(), {last_.statistic, last_.lower, last_.upper});
}

bool Ewma::load(std::span<const double>& in) noexcept {
  double own[2];
  std::span<const double> rest = in;
  if (!state_.load(rest, own, 3)) return false;
  z_ = own[0], decay2_ = own[1];
  last_ = EwmaPoint{};
  last_.statistic = rest[0], last_.lower = rest[1], last_.upper = rest[2];
  last_.learning = learning();
  last_.alarm = state_.alarm;
  in = rest.subspan(3);
  return true;
}

void Cusum::save(std::vector<double>& out) const { state_.save(out, {upper_, lower_}); }

bool Cusum::load(std::span<const double>& in) noexcept {
  double own[2];
  if (!state_.load(in, own, 0)) return false;
  upper_ = own[0], lower_ = own[1];
  last_ = CusumPoint{};
  last_.upper = upper_, last_.lower = lower_, last_.limit = options_.h;
  last_.learning = learning();
  last_.alarm = state_.alarm;
  return true;
}

}  // namespace vigil::models
