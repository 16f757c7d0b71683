#include "vigil/models/mahalanobis.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <string>

#include "vigil/models/distributions.hpp"

namespace vigil::models {

double ledoit_wolf_intensity(const Baseline& baseline, std::span<const unsigned char> skip) noexcept {
  const std::size_t d = baseline.dim;
  const double n = static_cast<double>(baseline.count);
  double variance_sum = 0, square_sum = 0;
  for (std::size_t i = 0; i < d; ++i) {
    if (!skip.empty() && skip[i]) continue;
    for (std::size_t j = 0; j < d; ++j) {
      if (i == j || (!skip.empty() && skip[j])) continue;
      const double m11 = baseline.comoment[i * d + j];
      const double m22 = baseline.fourth_comoment[i * d + j];
      variance_sum += n / ((n - 1) * (n - 1) * (n - 1)) * std::max(0.0, m22 - m11 * m11 / n);
      const double s = m11 / (n - 1);
      square_sum += s * s;
    }
  }
  if (!(square_sum > 0)) return 1.0;
  return std::clamp(variance_sum / square_sum, 0.0, 1.0);
}

Result<Mahalanobis> Mahalanobis::fit(const Baseline& baseline, const MahalanobisOptions& options) {
  if (!(options.confidence > 0 && options.confidence < 1)) {
    return Error{"mahalanobis confidence must be in (0, 1), got " + std::to_string(options.confidence)};
  }
  if (options.shrinkage == Shrinkage::fixed && !(options.intensity >= 0 && options.intensity <= 1)) {
    return Error{"mahalanobis shrinkage intensity must be in [0, 1], got " + std::to_string(options.intensity)};
  }
  StandardizerOptions so = options.standardizer;
  so.ignore_constant = true;
  auto standardizer = Standardizer::fit(baseline, so);
  if (!standardizer) return std::move(standardizer).error();
  const std::size_t d = baseline.dim;
  if (options.shrinkage == Shrinkage::ledoit_wolf && baseline.fourth_comoment.size() != d * d) {
    return Error{"mahalanobis ledoit_wolf shrinkage needs the baseline's fourth co-moments; use fixed shrinkage"};
  }

  Mahalanobis m;
  m.standardizer_ = std::move(standardizer.value());
  std::vector<unsigned char> constant(d);
  for (std::size_t i = 0; i < d; ++i) constant[i] = m.standardizer_.constant(i);
  m.dof_ = d - m.standardizer_.constant_count();
  if (m.dof_ == 0) return Error{"mahalanobis: every feature is constant in the training data"};
  m.gamma_ = options.shrinkage == Shrinkage::fixed ? options.intensity : ledoit_wolf_intensity(baseline, constant);

  // Work on standardized vectors: S* = (1-g) S + g diag(S) becomes R* = (1-g) R + g I with R the
  // correlation matrix, the same distance with a better-conditioned factorization. Constant
  // features get an identity row and column; their standardized value is always 0.
  const auto di = static_cast<Eigen::Index>(d);
  Eigen::MatrixXd shrunk = Eigen::MatrixXd::Identity(di, di);
  const auto sd = m.standardizer_.std_dev();
  for (std::size_t i = 0; i < d; ++i) {
    for (std::size_t j = 0; j < d; ++j) {
      if (i == j || constant[i] || constant[j]) continue;
      shrunk(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) =
          (1 - m.gamma_) * baseline.covariance(i, j) / (sd[i] * sd[j]);
    }
  }
  Eigen::LLT<Eigen::MatrixXd> llt(shrunk);
  const Eigen::MatrixXd l = llt.matrixL();
  if (llt.info() != Eigen::Success || !(l.diagonal().minCoeff() > 1e-7)) {
    return Error{"mahalanobis: the covariance (shrinkage " + std::to_string(m.gamma_) +
                 ") is singular or nearly so; use fixed shrinkage with a larger intensity"};
  }
  m.cholesky_.assign(l.data(), l.data() + d * d);
  m.threshold_ = chi_square_quantile(options.confidence, static_cast<double>(m.dof_));
  m.w_.resize(d);
  return m;
}

MahalanobisScore Mahalanobis::score(std::span<const double> x) noexcept {
  const auto d = static_cast<Eigen::Index>(dim());
  standardizer_.transform(x, w_);
  Eigen::Map<Eigen::VectorXd> w(w_.data(), d);
  // d2 = z' R*^-1 z = |L^-1 z|^2.
  Eigen::Map<const Eigen::MatrixXd>(cholesky_.data(), d, d).triangularView<Eigen::Lower>().solveInPlace(w);
  MahalanobisScore s;
  s.d2 = w.squaredNorm();
  s.distance = std::sqrt(s.d2);
  s.anomaly = s.d2 > threshold_;
  return s;
}

}  // namespace vigil::models
