#include "vigil/models/rul.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace vigil::models {
namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXd;
using MatrixMap = Eigen::Map<const Matrix>;

constexpr std::size_t kBandBins = 5;
constexpr std::size_t kMinRowsPerBin = 20;

// Nearest-rank quantile of `values` (sorted in place).
double quantile(std::vector<double>& values, double q) {
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// exp(-gamma |a_i - b_j|^2) for rows of a and b.
Matrix rbf(const Matrix& a, const Matrix& b, double gamma) {
  const Vector an = a.rowwise().squaredNorm();
  const Vector bn = b.rowwise().squaredNorm();
  Matrix k = -2.0 * (a * b.transpose());
  k.colwise() += an;
  k.rowwise() += bn.transpose();
  return (-gamma * k.array().max(0.0)).exp().matrix();
}

// A fitted basis and its weights, in standardized coordinates.
struct Fit {
  Matrix centers;  // kernel only
  Vector w;
  double bias = 0;
};

struct Problem {
  const Matrix& z;  // standardized rows
  const Vector& y;  // capped targets
  RulMethod method;
  std::size_t centers;
  double gamma;
};

// The rows of `rows` chosen as the Nystrom basis: `m` of them at random (all when fewer).
Matrix pick_centers(const Matrix& z, const std::vector<std::size_t>& rows, std::size_t m, std::mt19937_64& rng) {
  std::vector<std::size_t> pick(rows);
  std::shuffle(pick.begin(), pick.end(), rng);
  pick.resize(std::min(m, pick.size()));
  Matrix c(static_cast<Eigen::Index>(pick.size()), z.cols());
  for (std::size_t i = 0; i < pick.size(); ++i) c.row(static_cast<Eigen::Index>(i)) = z.row(static_cast<Eigen::Index>(pick[i]));
  return c;
}

Matrix rows_of(const Matrix& z, const std::vector<std::size_t>& rows) {
  Matrix out(static_cast<Eigen::Index>(rows.size()), z.cols());
  for (std::size_t i = 0; i < rows.size(); ++i) out.row(static_cast<Eigen::Index>(i)) = z.row(static_cast<Eigen::Index>(rows[i]));
  return out;
}

// The normal equations of one training split, solved for several ridge values.
class Normal {
 public:
  Normal(const Problem& p, const std::vector<std::size_t>& rows, std::mt19937_64& rng) : method_(p.method), gamma_(p.gamma) {
    const Matrix zt = rows_of(p.z, rows);
    Vector y(static_cast<Eigen::Index>(rows.size()));
    for (std::size_t i = 0; i < rows.size(); ++i) y(static_cast<Eigen::Index>(i)) = p.y(static_cast<Eigen::Index>(rows[i]));
    bias_ = y.mean();
    if (method_ == RulMethod::kernel) {
      centers_ = pick_centers(p.z, rows, p.centers, rng);
      const Matrix phi = rbf(zt, centers_, gamma_);
      g_.noalias() = phi.transpose() * phi;
      h_.noalias() = phi.transpose() * (y.array() - bias_).matrix();
      r_ = rbf(centers_, centers_, gamma_);
    } else {
      g_.noalias() = zt.transpose() * zt;
      h_.noalias() = zt.transpose() * (y.array() - bias_).matrix();
      r_ = Matrix::Identity(zt.cols(), zt.cols());
    }
  }

  Fit solve(double ridge) const {
    const double jitter = 1e-9 * (g_.trace() / static_cast<double>(std::max<Eigen::Index>(1, g_.rows())) + 1.0);
    Matrix a = g_ + ridge * r_;
    a.diagonal().array() += jitter;
    Fit f;
    f.w = a.ldlt().solve(h_);
    f.bias = bias_;
    f.centers = centers_;
    return f;
  }

  Vector predict(const Fit& f, const Matrix& z) const {
    if (method_ == RulMethod::kernel) return (rbf(z, f.centers, gamma_) * f.w).array() + f.bias;
    return (z * f.w).array() + f.bias;
  }

 private:
  RulMethod method_;
  double gamma_;
  double bias_ = 0;
  Matrix centers_;
  Matrix g_, r_;
  Vector h_;
};

}  // namespace

double phm08_score(double d) noexcept { return d < 0 ? std::exp(-d / 13.0) - 1.0 : std::exp(d / 10.0) - 1.0; }

TrendFeatures::TrendFeatures(std::size_t dim, std::size_t history, bool age)
    : dim_(dim), history_(std::max<std::size_t>(history, 1)), age_(age), ring_(history_ * dim_, 0.0) {}

void TrendFeatures::push(std::span<const double> x) noexcept {
  std::copy_n(x.data(), std::min(x.size(), dim_), ring_.data() + head_ * dim_);
  head_ = (head_ + 1) % history_;
  filled_ = std::min(filled_ + 1, history_);
  ++seen_;
}

void TrendFeatures::derive(std::span<double> out) const noexcept {
  std::fill(out.begin(), out.end(), 0.0);
  const std::size_t n = filled_;
  if (n == 0) return;
  const std::size_t oldest = (head_ + history_ - n) % history_;
  const double t_mean = static_cast<double>(n - 1) / 2.0;
  const double dn = static_cast<double>(n);
  const double stt = dn * (dn * dn - 1.0) / 12.0;  // sum of (t - t_mean)^2 for t = 0..n-1
  double* mean = out.data();
  double* slope = out.data() + dim_;
  for (std::size_t j = 0; j < n; ++j) {
    const double* x = ring_.data() + ((oldest + j) % history_) * dim_;
    const double dt = static_cast<double>(j) - t_mean;
    for (std::size_t i = 0; i < dim_; ++i) {
      mean[i] += x[i];
      slope[i] += dt * x[i];
    }
  }
  for (std::size_t i = 0; i < dim_; ++i) {
    mean[i] /= dn;
    slope[i] = n >= 2 ? slope[i] / stt : 0.0;
  }
  if (age_) out[2 * dim_] = static_cast<double>(seen_);
}

void TrendFeatures::reset() noexcept {
  std::fill(ring_.begin(), ring_.end(), 0.0);
  head_ = filled_ = seen_ = 0;
}

void TrendFeatures::save(std::vector<double>& out) const {
  out.push_back(static_cast<double>(dim_));
  out.push_back(static_cast<double>(history_));
  out.push_back(static_cast<double>(head_));
  out.push_back(static_cast<double>(filled_));
  out.push_back(static_cast<double>(seen_));
  out.insert(out.end(), ring_.begin(), ring_.end());
}

bool TrendFeatures::load(std::span<const double>& in) noexcept {
  if (in.size() < 5 + ring_.size() || in[0] != static_cast<double>(dim_) || in[1] != static_cast<double>(history_))
    return false;
  const double head = in[2], filled = in[3], seen = in[4];
  if (!(head >= 0 && head < static_cast<double>(history_) && filled >= 0 && filled <= static_cast<double>(history_) &&
        seen >= filled))
    return false;
  head_ = static_cast<std::size_t>(head);
  filled_ = static_cast<std::size_t>(filled);
  seen_ = static_cast<std::size_t>(seen);
  std::copy_n(in.data() + 5, ring_.size(), ring_.begin());
  in = in.subspan(5 + ring_.size());
  return true;
}

std::vector<std::string> TrendFeatures::derived_names(std::span<const std::string> names, bool age) {
  std::vector<std::string> out;
  for (const auto& n : names) out.push_back("mean(" + n + ")");
  for (const auto& n : names) out.push_back("slope(" + n + ")");
  if (age) out.emplace_back("age");
  return out;
}

Result<RulRegressor> RulRegressor::fit(const RulTrainingSet& set, const RulFitOptions& o, RulCrossValidation* report) {
  const std::size_t n = set.rows(), d = set.dim;
  if (d == 0 || set.z.size() != n * d || set.group.size() != n) return Error{"rul: training rows are malformed"};
  const std::size_t keys = n == 0 ? 0 : *std::max_element(set.group.begin(), set.group.end()) + 1;
  if (keys < std::max<std::size_t>(o.folds, 2))
    return Error{"rul: training needs run-to-failure data of at least " + std::to_string(std::max<std::size_t>(o.folds, 2)) +
                 " keys (one per cross-validation fold); the input has " + std::to_string(keys)};
  if (!(o.cap > 0) || !(o.band > 0 && o.band < 1) || o.folds < 2)
    return Error{"rul: cap must be > 0, band in (0, 1) and folds >= 2"};

  RulRegressor r;
  r.method_ = o.method;
  r.cap_ = o.cap;
  // Standardization over every row.
  const MatrixMap raw(set.z.data(), static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(d));
  const Eigen::RowVectorXd mean = raw.colwise().mean();
  const Eigen::RowVectorXd sd =
      ((raw.rowwise() - mean).array().square().colwise().sum() / std::max<double>(1.0, static_cast<double>(n) - 1.0)).sqrt();
  r.mean_.assign(mean.data(), mean.data() + d);
  r.inv_sd_.resize(d);
  for (std::size_t i = 0; i < d; ++i) r.inv_sd_[i] = sd(static_cast<Eigen::Index>(i)) > 1e-12 ? 1.0 / sd(static_cast<Eigen::Index>(i)) : 0.0;
  const Eigen::Map<const Eigen::RowVectorXd> inv_sd(r.inv_sd_.data(), static_cast<Eigen::Index>(d));
  const Matrix z = ((raw.rowwise() - mean).array().rowwise() * inv_sd.array()).matrix();
  Vector y(static_cast<Eigen::Index>(n));
  for (std::size_t i = 0; i < n; ++i) y(static_cast<Eigen::Index>(i)) = std::min(set.remaining[i], o.cap);

  // Folds by key.
  std::mt19937_64 rng(o.seed);
  std::vector<std::size_t> order(keys);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<std::size_t> fold_of_key(keys);
  for (std::size_t i = 0; i < keys; ++i) fold_of_key[order[i]] = i % o.folds;

  const double dd = static_cast<double>(d);
  std::vector<double> gammas = o.method == RulMethod::linear ? std::vector<double>{0.0}
                               : o.gamma > 0                ? std::vector<double>{o.gamma}
                                                            : std::vector<double>{0.3 / dd, 0.6 / dd, 1.2 / dd};
  std::vector<double> ridges = o.ridge > 0 ? std::vector<double>{o.ridge} : std::vector<double>{0.1, 1.0, 10.0, 100.0};
  const std::size_t combos = gammas.size() * ridges.size();
  std::vector<Vector> cv(combos, Vector::Zero(static_cast<Eigen::Index>(n)));
  for (std::size_t gi = 0; gi < gammas.size(); ++gi) {
    const Problem p{z, y, o.method, o.centers, gammas[gi]};
    for (std::size_t f = 0; f < o.folds; ++f) {
      std::vector<std::size_t> train, test;
      for (std::size_t i = 0; i < n; ++i) (fold_of_key[set.group[i]] == f ? test : train).push_back(i);
      if (train.empty() || test.empty()) continue;
      const Normal normal(p, train, rng);
      const Matrix zt = rows_of(z, test);
      for (std::size_t ri = 0; ri < ridges.size(); ++ri) {
        const Vector pred = normal.predict(normal.solve(ridges[ri]), zt);
        for (std::size_t i = 0; i < test.size(); ++i)
          cv[gi * ridges.size() + ri](static_cast<Eigen::Index>(test[i])) = std::clamp(pred(static_cast<Eigen::Index>(i)), 0.0, o.cap);
      }
    }
  }
  std::size_t best = 0;
  double best_rmse = INFINITY;
  for (std::size_t c = 0; c < combos; ++c) {
    const double rmse = std::sqrt((cv[c] - y).squaredNorm() / static_cast<double>(n));
    if (rmse < best_rmse) best_rmse = rmse, best = c;
  }
  const double gamma = gammas[best / ridges.size()], ridge = ridges[best % ridges.size()];
  const Vector& pred = cv[best];

  // Band: residual quantiles of the cross-validated predictions, per bin of the prediction.
  const double lo_q = (1.0 - o.band) / 2.0, hi_q = 1.0 - lo_q;
  std::vector<double> all(n);
  for (std::size_t i = 0; i < n; ++i) all[i] = y(static_cast<Eigen::Index>(i)) - pred(static_cast<Eigen::Index>(i));
  std::vector<double> sorted = all;
  const double all_lo = quantile(sorted, lo_q), all_hi = quantile(sorted, hi_q);
  r.band_edges_.resize(kBandBins + 1);
  for (std::size_t b = 0; b <= kBandBins; ++b) r.band_edges_[b] = o.cap * static_cast<double>(b) / kBandBins;
  r.band_lo_.assign(kBandBins, all_lo);
  r.band_hi_.assign(kBandBins, all_hi);
  for (std::size_t b = 0; b < kBandBins; ++b) {
    std::vector<double> in_bin;
    for (std::size_t i = 0; i < n; ++i) {
      const double p = pred(static_cast<Eigen::Index>(i));
      if (p >= r.band_edges_[b] && (p < r.band_edges_[b + 1] || b + 1 == kBandBins)) in_bin.push_back(all[i]);
    }
    if (in_bin.size() < kMinRowsPerBin) continue;
    std::vector<double> copy = in_bin;
    r.band_lo_[b] = quantile(in_bin, lo_q);
    r.band_hi_[b] = quantile(copy, hi_q);
  }

  // Final fit on every row.
  std::vector<std::size_t> every(n);
  std::iota(every.begin(), every.end(), std::size_t{0});
  const Problem p{z, y, o.method, o.centers, gamma};
  const Normal normal(p, every, rng);
  const Fit fit = normal.solve(ridge);
  r.gamma_ = gamma;
  r.bias_ = fit.bias;
  r.weights_.assign(fit.w.data(), fit.w.data() + fit.w.size());
  if (o.method == RulMethod::kernel) r.centers_.assign(fit.centers.data(), fit.centers.data() + fit.centers.size());
  r.scratch_.assign(d, 0.0);

  if (report) {
    RulCrossValidation& rep = *report;
    rep = RulCrossValidation{};
    rep.gamma = gamma;
    rep.ridge = ridge;
    rep.keys = keys;
    rep.rows = n;
    rep.rmse_all = best_rmse;
    std::size_t inside = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const RulEstimate e = r.band_around(pred(static_cast<Eigen::Index>(i)));
      const double t = y(static_cast<Eigen::Index>(i));
      inside += (t >= e.lo && t <= e.hi) ? 1 : 0;
    }
    rep.coverage = static_cast<double>(inside) / static_cast<double>(n);
    // The test protocol: each key cut at a random window, scored there.
    std::vector<std::size_t> first(keys, n), count(keys, 0);
    for (std::size_t i = 0; i < n; ++i) {
      first[set.group[i]] = std::min(first[set.group[i]], i);
      ++count[set.group[i]];
    }
    double se = 0, se_capped = 0, phm = 0;
    std::size_t scored = 0, near = 0;
    std::mt19937_64 cut_rng(o.seed + 1);
    for (std::size_t c = 0; c < o.cuts; ++c)
      for (std::size_t k = 0; k < keys; ++k) {
        if (count[k] == 0) continue;
        const std::size_t i = first[k] + std::uniform_int_distribution<std::size_t>(0, count[k] - 1)(cut_rng);
        const double e = pred(static_cast<Eigen::Index>(i)) - y(static_cast<Eigen::Index>(i));
        se += e * e;
        phm += phm08_score(e);
        ++scored;
        if (set.remaining[i] <= o.cap) {
          const double t = pred(static_cast<Eigen::Index>(i)) - set.remaining[i];
          se_capped += t * t;
          ++near;
        }
      }
    if (scored) {
      rep.rmse_cut = std::sqrt(se / static_cast<double>(scored));
      rep.rmse_cut_near = near ? std::sqrt(se_capped / static_cast<double>(near)) : 0.0;
      rep.phm08_cut = phm / static_cast<double>(o.cuts);
    }
  }
  return r;
}

RulEstimate RulRegressor::band_around(double f) const noexcept {
  RulEstimate e;
  if (std::isnan(f)) {
    e.rul = e.lo = e.hi = f;
    return e;
  }
  e.rul = std::clamp(f, 0.0, cap_);
  std::size_t b = 0;
  while (b + 1 < band_lo_.size() && e.rul >= band_edges_[b + 1]) ++b;
  e.lo = band_lo_.empty() ? e.rul : std::clamp(e.rul + band_lo_[b], 0.0, e.rul);
  e.hi = band_hi_.empty() ? e.rul : std::clamp(e.rul + band_hi_[b], e.rul, cap_);
  return e;
}

RulEstimate RulRegressor::predict(std::span<const double> x) noexcept {
  const std::size_t d = mean_.size();
  for (std::size_t i = 0; i < d; ++i) scratch_[i] = (x[i] - mean_[i]) * inv_sd_[i];
  double f = bias_;
  if (method_ == RulMethod::kernel) {
    const std::size_t m = weights_.size();
    for (std::size_t j = 0; j < m; ++j) {
      const double* c = centers_.data() + j * d;
      double dist = 0;
      for (std::size_t i = 0; i < d; ++i) {
        const double t = scratch_[i] - c[i];
        dist += t * t;
      }
      f += weights_[j] * std::exp(-gamma_ * dist);
    }
  } else {
    for (std::size_t i = 0; i < d; ++i) f += weights_[i] * scratch_[i];
  }
  return band_around(f);
}

void RulRegressor::to_file(ModelFile& file) const {
  const std::size_t d = mean_.size();
  file.put("method", method_ == RulMethod::kernel ? 0.0 : 1.0);
  file.put("gamma", gamma_);
  file.put("bias", bias_);
  file.put("cap", cap_);
  file.put("z_mean", 1, d, mean_);
  file.put("z_inv_sd", 1, d, inv_sd_);
  if (method_ == RulMethod::kernel) file.put("centers", weights_.size(), d, centers_);
  file.put("weights", 1, weights_.size(), weights_);
  file.put("band_edges", 1, band_edges_.size(), band_edges_);
  file.put("band_lo", 1, band_lo_.size(), band_lo_);
  file.put("band_hi", 1, band_hi_.size(), band_hi_);
}

Result<RulRegressor> RulRegressor::from_file(const ModelFile& file) {
  RulRegressor r;
  auto scalar = [&](const char* name, double& out) -> Result<void> {
    auto v = file.scalar(name);
    if (!v) return std::move(v).error();
    out = *v;
    return runtime::ok();
  };
  double method = 0;
  for (auto [name, out] : {std::pair<const char*, double*>{"method", &method}, {"gamma", &r.gamma_}, {"bias", &r.bias_}, {"cap", &r.cap_}})
    if (auto ok = scalar(name, *out); !ok) return std::move(ok).error();
  if (method != 0 && method != 1) return Error{"has an unknown rul method"};
  if (!(r.cap_ > 0) || !std::isfinite(r.cap_) || !(r.gamma_ >= 0) || !std::isfinite(r.gamma_) || !std::isfinite(r.bias_))
    return Error{"has a rul cap, gamma or bias out of range"};
  r.method_ = method == 0 ? RulMethod::kernel : RulMethod::linear;
  auto mean = file.matrix("z_mean", 1);
  if (!mean) return std::move(mean).error();
  const std::size_t d = (*mean)->cols;
  auto inv_sd = file.matrix("z_inv_sd", 1, d);
  auto weights = file.matrix("weights", 1);
  auto edges = file.matrix("band_edges", 1);
  if (!inv_sd) return std::move(inv_sd).error();
  if (!weights) return std::move(weights).error();
  if (!edges) return std::move(edges).error();
  const std::size_t bins = (*edges)->cols > 0 ? (*edges)->cols - 1 : 0;
  auto lo = file.matrix("band_lo", 1, bins);
  auto hi = file.matrix("band_hi", 1, bins);
  if (!lo) return std::move(lo).error();
  if (!hi) return std::move(hi).error();
  if (bins == 0 || d == 0) return Error{"has an empty rul model"};
  r.mean_ = (*mean)->data;
  r.inv_sd_ = (*inv_sd)->data;
  r.weights_ = (*weights)->data;
  r.band_edges_ = (*edges)->data;
  r.band_lo_ = (*lo)->data;
  r.band_hi_ = (*hi)->data;
  if (r.method_ == RulMethod::kernel) {
    auto centers = file.matrix("centers", r.weights_.size(), d);
    if (!centers) return std::move(centers).error();
    r.centers_ = (*centers)->data;
  } else if (r.weights_.size() != d) {
    return Error{"has " + std::to_string(r.weights_.size()) + " linear weights for " + std::to_string(d) + " features"};
  }
  const auto finite = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
  };
  if (!finite(r.mean_) || !finite(r.inv_sd_) || !finite(r.weights_) || !finite(r.centers_) || !finite(r.band_edges_) ||
      !finite(r.band_lo_) || !finite(r.band_hi_) || !std::is_sorted(r.band_edges_.begin(), r.band_edges_.end()))
    return Error{"has a rul matrix with a value that is not finite, or band edges out of order"};
  r.scratch_.assign(d, 0.0);
  return r;
}

}  // namespace vigil::models
