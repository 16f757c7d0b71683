#include "vigil/models/pca_anomaly.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "vigil/models/distributions.hpp"

namespace vigil::models {
namespace {

using MatrixMap = Eigen::Map<Eigen::MatrixXd>;
using ConstMatrixMap = Eigen::Map<const Eigen::MatrixXd>;
using VectorMap = Eigen::Map<Eigen::VectorXd>;
using ConstVectorMap = Eigen::Map<const Eigen::VectorXd>;

// Eigenvalues below this share of the total variance count as zero.
constexpr double kZeroEigenvalue = 1e-12;

}  // namespace

Result<PcaAnomaly> PcaAnomaly::fit(const Baseline& baseline, const PcaOptions& options) {
  if (!(options.explained_variance > 0 && options.explained_variance <= 1)) {
    return Error{"pca explained_variance must be in (0, 1], got " + std::to_string(options.explained_variance)};
  }
  if (!(options.confidence > 0 && options.confidence < 1)) {
    return Error{"pca confidence must be in (0, 1), got " + std::to_string(options.confidence)};
  }
  auto standardizer = Standardizer::fit(baseline, options.standardizer);
  if (!standardizer) return std::move(standardizer).error();
  const std::size_t d = baseline.dim;
  const auto di = static_cast<Eigen::Index>(d);
  if (options.components > d) {
    return Error{"pca components is " + std::to_string(options.components) + " but there are only " +
                 std::to_string(d) + " features"};
  }

  PcaAnomaly m;
  m.standardizer_ = std::move(standardizer.value());
  // Covariance of the standardized vectors: the correlation matrix (0 rows and columns for
  // ignored constant features).
  Eigen::VectorXd inv_std(di);
  for (std::size_t i = 0; i < d; ++i) {
    const bool ignored = m.standardizer_.constant(i) && options.standardizer.ignore_constant;
    inv_std[static_cast<Eigen::Index>(i)] = ignored ? 0.0 : 1.0 / m.standardizer_.std_dev()[i];
  }
  Eigen::MatrixXd cov(di, di);
  for (std::size_t i = 0; i < d; ++i) {
    for (std::size_t j = 0; j < d; ++j) cov(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = baseline.covariance(i, j);
  }
  const Eigen::MatrixXd corr = inv_std.asDiagonal() * cov * inv_std.asDiagonal();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(corr);
  if (solver.info() != Eigen::Success) return Error{"pca: the eigen-decomposition did not converge"};
  // Eigen sorts ascending; the models want the largest first.
  const Eigen::VectorXd lambda = solver.eigenvalues().reverse().cwiseMax(0.0);
  const Eigen::MatrixXd vectors = solver.eigenvectors().rowwise().reverse();
  const double total = lambda.sum();
  if (!(total > 0)) return Error{"pca: every feature is constant in the training data"};
  m.eigenvalues_.assign(lambda.data(), lambda.data() + d);

  std::size_t nonzero = 0;
  while (nonzero < d && lambda[static_cast<Eigen::Index>(nonzero)] > kZeroEigenvalue * total) ++nonzero;
  std::size_t k = options.components;
  if (k == 0) {
    double cumulative = 0;
    while (k < nonzero) {
      cumulative += lambda[static_cast<Eigen::Index>(k++)];
      if (cumulative >= options.explained_variance * total * (1 - 1e-12)) break;
    }
  } else if (k > nonzero) {
    return Error{"pca components is " + std::to_string(k) + " but the training data has only " +
                 std::to_string(nonzero) + " directions with variance; lower components"};
  }
  const std::size_t n = baseline.count;
  if (n <= k) {
    return Error{"pca keeps " + std::to_string(k) + " components from " + std::to_string(n) +
                 " training vectors; it needs more vectors than components"};
  }
  const auto ki = static_cast<Eigen::Index>(k);
  m.loadings_.resize(d * k);
  MatrixMap(m.loadings_.data(), di, ki) = vectors.leftCols(ki);
  m.inv_lambda_.resize(k);
  for (std::size_t j = 0; j < k; ++j) m.inv_lambda_[j] = 1.0 / lambda[static_cast<Eigen::Index>(j)];
  m.explained_ = lambda.head(ki).sum() / total;

  const double nd = static_cast<double>(n), kd = static_cast<double>(k);
  m.t2_limit_ = kd * (nd - 1) * (nd + 1) / (nd * (nd - kd)) * f_quantile(options.confidence, kd, nd - kd);

  double theta1 = 0, theta2 = 0, theta3 = 0;
  for (std::size_t j = k; j < d; ++j) {
    const double l = lambda[static_cast<Eigen::Index>(j)];
    theta1 += l;
    theta2 += l * l;
    theta3 += l * l * l;
  }
  if (theta1 <= kZeroEigenvalue * total) {
    m.q_limit_ = std::numeric_limits<double>::infinity();
    m.q_method_ = QLimitMethod::none;
  } else {
    const double h0 = 1 - 2 * theta1 * theta3 / (3 * theta2 * theta2);
    if (h0 > 0) {
      const double z = normal_quantile(options.confidence);
      const double bracket = z * std::sqrt(2 * theta2 * h0 * h0) / theta1 + 1 + theta2 * h0 * (h0 - 1) / (theta1 * theta1);
      m.q_limit_ = theta1 * std::pow(bracket, 1 / h0);
      m.q_method_ = QLimitMethod::jackson_mudholkar;
    } else {
      // Q is a weighted sum of chi2_1 variables; Box matches its first two moments with g chi2_h.
      m.q_limit_ = theta2 / theta1 * chi_square_quantile(options.confidence, theta1 * theta1 / theta2);
      m.q_method_ = QLimitMethod::box;
    }
  }
  if (!std::isfinite(m.t2_limit_)) return Error{"pca: the T2 limit is not finite"};
  m.z_.resize(d);
  m.t_.resize(k);
  m.r_.resize(d);
  return m;
}

PcaScore PcaAnomaly::score(std::span<const double> x) noexcept {
  const auto d = static_cast<Eigen::Index>(dim());
  const auto k = static_cast<Eigen::Index>(components());
  standardizer_.transform(x, z_);
  const ConstMatrixMap p(loadings_.data(), d, k);
  const ConstVectorMap z(z_.data(), d);
  VectorMap t(t_.data(), k);
  VectorMap r(r_.data(), d);
  t.noalias() = p.transpose() * z;
  r = z;
  r.noalias() -= p * t;
  PcaScore s;
  s.t2 = t.cwiseAbs2().dot(ConstVectorMap(inv_lambda_.data(), k));
  s.q = r.squaredNorm();
  s.t2_exceeded = s.t2 > t2_limit_;
  s.q_exceeded = s.q > q_limit_;
  s.anomaly = s.t2_exceeded || s.q_exceeded;
  return s;
}

Result<DecisionFilter> DecisionFilter::create(std::size_t window) {
  if (window == 0 || window % 2 == 0) {
    return Error{"median filter window must be odd and at least 1, got " + std::to_string(window)};
  }
  DecisionFilter f;
  f.ring_.assign(window, 0);
  return f;
}

bool DecisionFilter::push(bool decision) noexcept {
  alarms_ -= ring_[next_];
  ring_[next_] = decision;
  alarms_ += ring_[next_];
  next_ = (next_ + 1) % ring_.size();
  return 2 * alarms_ > ring_.size();
}

void DecisionFilter::save(std::vector<double>& out) const {
  out.push_back(static_cast<double>(next_));
  for (unsigned char d : ring_) out.push_back(d);
}

bool DecisionFilter::load(std::span<const double>& in) noexcept {
  if (in.size() < 1 + ring_.size() || !(in[0] >= 0) || in[0] >= static_cast<double>(ring_.size())) return false;
  next_ = static_cast<std::size_t>(in[0]);
  alarms_ = 0;
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    ring_[i] = in[1 + i] != 0;
    alarms_ += ring_[i];
  }
  in = in.subspan(1 + ring_.size());
  return true;
}

void DecisionFilter::reset() noexcept {
  std::fill(ring_.begin(), ring_.end(), 0);
  next_ = 0;
  alarms_ = 0;
}

}  // namespace vigil::models
