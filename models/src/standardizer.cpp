#include "vigil/models/standardizer.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace vigil::models {

Result<Standardizer> Standardizer::fit(const Baseline& baseline, const StandardizerOptions& options) {
  if (!(options.min_std > 0) || !(options.relative_min_std >= 0)) {
    return Error{"standardizer min_std must be > 0 and relative_min_std >= 0"};
  }
  if (baseline.count < 2 || baseline.dim == 0) {
    return Error{"the baseline needs at least two vectors of at least one feature"};
  }
  if (baseline.mean.size() != baseline.dim || baseline.comoment.size() != baseline.dim * baseline.dim ||
      (!baseline.fourth_comoment.empty() && baseline.fourth_comoment.size() != baseline.dim * baseline.dim)) {
    return Error{"the baseline's mean and co-moment sizes do not match its " + std::to_string(baseline.dim) +
                 " features"};
  }
  Standardizer s;
  const std::size_t d = baseline.dim;
  s.mean_ = baseline.mean;
  s.std_.resize(d);
  s.inv_std_.resize(d);
  s.constant_.resize(d);
  for (std::size_t i = 0; i < d; ++i) {
    const double sd = std::sqrt(std::max(0.0, baseline.covariance(i, i)));
    const double floor = std::max(options.min_std, options.relative_min_std * std::fabs(s.mean_[i]));
    s.constant_[i] = sd < floor;
    s.std_[i] = std::max(sd, floor);
    s.inv_std_[i] = (s.constant_[i] && options.ignore_constant) ? 0.0 : 1.0 / s.std_[i];
  }
  return s;
}

void Standardizer::transform(std::span<const double> x, std::span<double> z) const noexcept {
  for (std::size_t i = 0; i < mean_.size(); ++i) z[i] = (x[i] - mean_[i]) * inv_std_[i];
}

std::size_t Standardizer::constant_count() const noexcept {
  return static_cast<std::size_t>(std::count(constant_.begin(), constant_.end(), 1));
}

}  // namespace vigil::models
