#pragma once
// Mahalanobis distance from a baseline, with the covariance shrunk toward its diagonal so that
// nearly collinear or nearly constant sensors still give a usable (positive definite) model.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vigil/models/baseline.hpp"
#include "vigil/models/standardizer.hpp"

namespace vigil::models {

/// How the shrinkage intensity gamma of S* = (1 - gamma) S + gamma diag(S) is chosen.
enum class Shrinkage : std::uint8_t {
  fixed,        ///< MahalanobisOptions::intensity
  ledoit_wolf,  ///< estimated from the data (Schaefer-Strimmer "target D", a Ledoit-Wolf form)
};

struct MahalanobisOptions {
  Shrinkage shrinkage = Shrinkage::ledoit_wolf;
  double intensity = 0;      ///< gamma in [0, 1] for Shrinkage::fixed
  double confidence = 0.99;  ///< threshold: chi2 quantile at this level, in (0, 1)
  /// Decides which features are constant; those are left out (their deviation is ignored and
  /// they do not count as degrees of freedom).
  StandardizerOptions standardizer;
};

struct MahalanobisScore {
  double d2 = 0;        ///< squared distance (x - mean)' S*^-1 (x - mean)
  double distance = 0;  ///< sqrt(d2)
  bool anomaly = false; ///< d2 > threshold_d2()
};

/// A fitted Mahalanobis model: mean, Cholesky factor of the shrunk covariance, threshold.
/// score() allocates nothing and uses scratch inside the object: one thread at a time.
class Mahalanobis {
 public:
  /// An error when options are out of range, every feature is constant, Ledoit-Wolf is asked
  /// for without baseline.fourth_comoment, or the shrunk covariance is not positive definite
  /// (then raise the fixed intensity).
  static Result<Mahalanobis> fit(const Baseline& baseline, const MahalanobisOptions& options = {});

  MahalanobisScore score(std::span<const double> x) noexcept;

  std::size_t dim() const noexcept { return standardizer_.dim(); }
  /// The gamma used (estimated or fixed), in [0, 1].
  double shrinkage() const noexcept { return gamma_; }
  /// Features that are not constant: the chi-square degrees of freedom.
  std::size_t degrees_of_freedom() const noexcept { return dof_; }
  /// chi2_{dof; confidence}: the large-sample limit for d2 (parameters treated as known).
  double threshold_d2() const noexcept { return threshold_; }

 private:
  Standardizer standardizer_;
  std::vector<double> cholesky_;  // lower factor L of the shrunk correlation matrix, column-major
  std::vector<double> w_;         // scratch
  double gamma_ = 0;
  double threshold_ = 0;
  std::size_t dof_ = 0;
};

/// Schaefer-Strimmer / Ledoit-Wolf intensity toward the diagonal,
/// sum_{i!=j} Var(s_ij) / sum_{i!=j} s_ij^2 clipped to [0, 1], with
/// Var(s_ij) = n / (n-1)^3 (M22_ij - M11_ij^2 / n). Features flagged in `skip` (may be empty)
/// are left out. 1 when every off-diagonal covariance is zero. Needs baseline.fourth_comoment.
double ledoit_wolf_intensity(const Baseline& baseline, std::span<const unsigned char> skip = {}) noexcept;

}  // namespace vigil::models
