#pragma once
// Remaining useful life: per-key trend features (mean and least-squares slope of each input
// over the last `history` vectors, plus the key's age) and a regression trained on
// run-to-failure data (kernel ridge with a Nystrom basis, or linear ridge), with an
// uncertainty band from the cross-validated residuals.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vigil/models/model_file.hpp"

namespace vigil::models {

/// Per-key trend features. push() a vector per window; derive() gives
/// [mean of each input over the last min(n, history) vectors, their least-squares slope per
/// vector, and n (the vectors seen) when `age`]. Fixed memory, allocation-free after construction.
class TrendFeatures {
 public:
  TrendFeatures(std::size_t dim, std::size_t history, bool age);

  void push(std::span<const double> x) noexcept;
  /// Writes derived_dim() values; all zero before the first push.
  void derive(std::span<double> out) const noexcept;
  std::size_t dim() const noexcept { return dim_; }
  std::size_t derived_dim() const noexcept { return 2 * dim_ + (age_ ? 1 : 0); }
  std::size_t seen() const noexcept { return seen_; }
  void reset() noexcept;
  /// Appends the ring and counters (for checkpoints).
  void save(std::vector<double>& out) const;
  /// Reads what save() wrote for the same sizes, advancing `in`; false (state unchanged) otherwise.
  bool load(std::span<const double>& in) noexcept;
  /// Names of the derived features for input names `names`: mean(x), slope(x)..., age.
  static std::vector<std::string> derived_names(std::span<const std::string> names, bool age);

 private:
  std::size_t dim_;
  std::size_t history_;
  bool age_;
  std::vector<double> ring_;  // history_ x dim_, oldest overwritten
  std::size_t head_ = 0;      // next slot to write
  std::size_t filled_ = 0;
  std::size_t seen_ = 0;
};

enum class RulMethod : std::uint8_t { kernel, linear };

/// How `vigil train` fits a RUL regression.
struct RulFitOptions {
  RulMethod method = RulMethod::kernel;
  std::size_t centers = 300;  ///< Nystrom basis size (kernel)
  double gamma = 0;           ///< RBF exp(-gamma |z - c|^2) on standardized features; 0: chosen by cross-validation
  double ridge = 0;           ///< regularization; 0: chosen by cross-validation
  double cap = 125;           ///< targets above are cut to this (piecewise-linear RUL); predictions are in [0, cap]
  std::size_t folds = 5;      ///< cross-validation folds, split by key
  double band = 0.8;          ///< central coverage of [rul_lo, rul_hi]
  std::size_t cuts = 10;      ///< random cut points per held-out key for the test-like score
  std::uint64_t seed = 1;
};

/// Training rows: derived features of every window of every key, with the key and the true
/// (uncapped) remaining life at that window.
struct RulTrainingSet {
  std::vector<double> z;             ///< rows x dim
  std::size_t dim = 0;
  std::vector<double> remaining;     ///< true remaining life, uncapped
  std::vector<std::uint32_t> group;  ///< key index per row; a key's rows are contiguous, in time order
  std::size_t rows() const noexcept { return remaining.size(); }
};

/// One estimate: the point and its band, in the training's units, clamped to [0, cap].
struct RulEstimate {
  double rul = 0;
  double lo = 0;
  double hi = 0;
};

/// Cross-validated figures of a fit (keys held out by fold).
struct RulCrossValidation {
  double gamma = 0, ridge = 0;   ///< the chosen (or given) hyperparameters
  double rmse_all = 0;           ///< every window, against the capped target
  double rmse_cut = 0;           ///< one random cut per key (the test protocol), against the capped target
  double rmse_cut_near = 0;      ///< the cuts whose true remaining life is at most cap (no capping involved)
  double phm08_cut = 0;          ///< PHM08 score (capped target) summed over the keys at their cut, mean of the draws
  double coverage = 0;           ///< share of capped targets inside the band (all windows)
  std::size_t keys = 0, rows = 0;
};

/// A fitted RUL regression. predict() is allocation-free (scratch inside: one thread at a time).
class RulRegressor {
 public:
  /// Fits on every row after choosing gamma/ridge by cross-validation (when not given) and
  /// computing the band from the cross-validated residuals. Errors: too few keys or rows.
  static Result<RulRegressor> fit(const RulTrainingSet& set, const RulFitOptions& options,
                                  RulCrossValidation* report = nullptr);
  /// Reads what to_file() wrote; an error naming the missing or misshapen part.
  static Result<RulRegressor> from_file(const ModelFile& file);
  void to_file(ModelFile& file) const;

  /// Estimate for derived features `z` (dim() values).
  RulEstimate predict(std::span<const double> z) noexcept;
  /// The estimate and band for a raw regression output `f`.
  RulEstimate band_around(double f) const noexcept;
  std::size_t dim() const noexcept { return mean_.size(); }
  std::size_t basis() const noexcept { return weights_.size(); }
  double cap() const noexcept { return cap_; }

 private:
  RulMethod method_ = RulMethod::kernel;
  double gamma_ = 0;
  double bias_ = 0;
  double cap_ = 125;
  std::vector<double> mean_, inv_sd_;  // standardization of z
  std::vector<double> centers_;        // basis x dim (kernel)
  std::vector<double> weights_;        // basis (kernel: centers; linear: dim)
  std::vector<double> band_edges_;     // bins + 1 predicted values
  std::vector<double> band_lo_, band_hi_;  // residual quantiles per bin
  std::vector<double> scratch_;        // dim
};

/// PHM08 score of one prediction error d = predicted - true.
double phm08_score(double d) noexcept;

}  // namespace vigil::models
