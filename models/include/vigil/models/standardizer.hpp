#pragma once
// Per-feature standardization z = (x - mean) / std, learned from a Baseline.
#include <cstddef>
#include <span>
#include <vector>

#include "vigil/models/baseline.hpp"

namespace vigil::models {

/// When a feature counts as constant and what happens to it.
struct StandardizerOptions {
  /// A feature is constant when its training std is below
  /// max(min_std, relative_min_std * |mean|).
  double min_std = 1e-9;
  double relative_min_std = 1e-9;
  /// true: a constant feature standardizes to 0 whatever its value (it carried no information
  /// in training, so the models ignore it); false: it is divided by the floor above instead,
  /// so any later change of a constant feature shows as a very large z.
  bool ignore_constant = true;
};

/// Standardizes vectors with the training mean and sample std (divisor n - 1). Immutable after
/// construction: transform() is const, noexcept, allocation-free and safe from any thread.
class Standardizer {
 public:
  /// Learns mean and std from `baseline`; an error when the options are not positive numbers.
  static Result<Standardizer> fit(const Baseline& baseline, const StandardizerOptions& options = {});

  /// z = (x - mean) / std for each feature (0 for an ignored constant feature). `x` and `z`
  /// hold dim() values and may be the same span.
  void transform(std::span<const double> x, std::span<double> z) const noexcept;
  std::size_t dim() const noexcept { return mean_.size(); }
  std::span<const double> mean() const noexcept { return mean_; }
  /// Training std, floored for constant features.
  std::span<const double> std_dev() const noexcept { return std_; }
  /// True for a feature found constant in training.
  bool constant(std::size_t i) const noexcept { return constant_[i] != 0; }
  std::size_t constant_count() const noexcept;

 private:
  std::vector<double> mean_;
  std::vector<double> std_;
  std::vector<double> inv_std_;  // 0 for an ignored constant feature
  std::vector<unsigned char> constant_;
};

}  // namespace vigil::models
