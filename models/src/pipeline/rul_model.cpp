// `model: {type: rul, file: ...}`: remaining useful life from per-key trend features and a
// regression trained by `vigil train` on run-to-failure data.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "model_support.hpp"
#include "models_plugins.hpp"
#include "vigil/models/model_file.hpp"
#include "vigil/models/rul.hpp"

namespace vigil::models::pipeline {
namespace {

using runtime::ConfigKey;
using runtime::KeyType;
using runtime::Required;

constexpr std::string_view kMethods[] = {"kernel", "linear"};
constexpr std::string_view kUnits[] = {"windows", "s", "min", "h", "d"};

constexpr ConfigKey kRulKeys[] = {
    {"features", KeyType::string_list, Required::no, {},
     "Summary columns read each window (aggregates, or outputs of earlier models); default: every aggregate column."},
    {"history", KeyType::integer, Required::no, "30",
     "Trend features per key: the mean and least-squares slope of each feature over its last N windows.", 1, 10000},
    {"age", KeyType::boolean, Required::no, "true",
     "Add the key's age (windows seen since it started) as a feature: for machines replayed or run from new."},
    {"unit", KeyType::choice, Required::no, "windows",
     "Unit of rul, rul_lo and rul_hi: windows (remaining windows of the key), or s, min, h, d of event time.", runtime::kNoMin,
     runtime::kNoMax, kUnits},
    {"cap", KeyType::real, Required::no, "125",
     "Training: remaining lives above are cut to this (early life counts as healthy); estimates stay in [0, cap].", 1e-9,
     1e12},
    {"method", KeyType::choice, Required::no, "kernel",
     "Training: kernel (RBF kernel ridge on a Nystrom basis) or linear (ridge regression).", runtime::kNoMin,
     runtime::kNoMax, kMethods},
    {"centers", KeyType::integer, Required::no, "300", "Training, kernel: basis size (model size and time per call grow with it).",
     2, 5000},
    {"gamma", KeyType::real, Required::no, {},
     "Training, kernel: RBF width on standardized features; default: chosen by cross-validation.", 1e-9, 1e6},
    {"ridge", KeyType::real, Required::no, {},
     "Training: regularization; default: chosen by cross-validation.", 1e-12, 1e12},
    {"band", KeyType::real, Required::no, "0.8",
     "Training: central share of cross-validated outcomes [rul_lo, rul_hi] covers.", 0.05, 0.99},
    {"folds", KeyType::integer, Required::no, "5", "Training: cross-validation folds, split by key.", 2, 50},
};
constexpr std::string_view kRulOutputs[] = {"rul", "rul_lo", "rul_hi"};

double unit_seconds(const std::string& unit) {
  if (unit == "s") return 1;
  if (unit == "min") return 60;
  if (unit == "h") return 3600;
  if (unit == "d") return 86400;
  return 0;  // windows
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

class RulModel final : public runtime::Model {
 public:
  RulModel(const runtime::ModelSetup& setup, std::optional<RulRegressor> regressor, std::size_t key_bytes)
      : setup_(setup), regressor_(std::move(regressor)), key_bytes_(key_bytes) {
    const runtime::Block& b = setup.block;
    history_ = static_cast<std::size_t>(b.integer("history"));
    age_ = b.boolean("age");
    trends_.reserve(setup.max_keys);
    for (std::size_t i = 0; i < setup.max_keys; ++i) trends_.emplace_back(setup.features, history_, age_);
    z_.assign(trends_.empty() ? 0 : trends_[0].derived_dim(), 0.0);
    setup_.block = {};  // points into the chain's key table, which does not outlive the build
    setup_.diag = nullptr;
    method_ = b.string("method");
    unit_ = b.string("unit");
    fit_.method = method_ == "linear" ? RulMethod::linear : RulMethod::kernel;
    fit_.centers = static_cast<std::size_t>(b.integer("centers"));
    fit_.gamma = b.has("gamma") ? b.real("gamma") : 0;
    fit_.ridge = b.has("ridge") ? b.real("ridge") : 0;
    fit_.cap = b.real("cap");
    fit_.band = b.real("band");
    fit_.folds = static_cast<std::size_t>(b.integer("folds"));
  }

  runtime::ModelStatus score(std::uint32_t slot, std::span<const double> x, std::span<double> out) noexcept override {
    TrendFeatures& t = trends_[slot];
    t.push(x);
    if (!regressor_) return runtime::ModelStatus::learning;
    t.derive(z_);
    const RulEstimate e = regressor_->predict(z_);
    out[0] = e.rul;
    out[1] = e.lo;
    out[2] = e.hi;
    return runtime::ModelStatus::scored;
  }

  void reset(std::uint32_t slot) noexcept override { trends_[slot].reset(); }

  void snapshot(std::uint32_t slot, std::vector<std::byte>& out) const override { put_state(trends_[slot], out); }

  Result<void> restore(std::uint32_t slot, std::span<const std::byte> in) override {
    if (!get_state(trends_[slot], in)) {
      trends_[slot].reset();
      return Error{setup_.path + ": the saved trend state does not match this model's features or history"};
    }
    return runtime::ok();
  }

  std::size_t state_bytes() const noexcept override { return trends_.size() * key_bytes_; }

  Result<std::string> train(const runtime::TrainingData& data, const std::string& out) override {
    // Each key's windows in order through the same trend features the pipeline computes.
    const std::size_t d = data.cols;
    RulTrainingSet set;
    set.dim = z_.size();
    std::vector<std::vector<std::size_t>> rows_of_key(data.keys.size());
    for (std::size_t r = 0; r < data.rows(); ++r) rows_of_key[data.key_of_row[r]].push_back(r);
    const double seconds = unit_seconds(unit_);
    std::uint32_t group = 0;
    for (const auto& rows : rows_of_key) {
      if (rows.empty()) continue;
      TrendFeatures t(d, history_, age_);
      for (std::size_t j = 0; j < rows.size(); ++j) {
        t.push(std::span<const double>(data.values).subspan(rows[j] * d, d));
        const std::size_t at = set.z.size();
        set.z.resize(at + set.dim);
        t.derive(std::span<double>(set.z).subspan(at, set.dim));
        const double remaining = seconds > 0 ? static_cast<double>(data.end[rows.back()] - data.end[rows[j]]) / 1e9 / seconds
                                             : static_cast<double>(rows.size() - 1 - j);
        set.remaining.push_back(remaining);
        set.group.push_back(group);
      }
      ++group;
    }
    RulCrossValidation cv;
    auto fitted = RulRegressor::fit(set, fit_, &cv);
    if (!fitted) return std::move(fitted).error();
    ModelFile file;
    file.type = "rul";
    file.features = setup_.feature_names;
    file.put("history", static_cast<double>(history_));
    file.put("age", age_ ? 1.0 : 0.0);
    file.note("unit", unit_);
    fitted->to_file(file);
    note_training(file, data.input, set.rows(), group);
    file.note("cv_rmse_all", fixed(cv.rmse_all, 3));
    file.note("cv_rmse_cut", fixed(cv.rmse_cut, 3));
    file.note("cv_rmse_near", fixed(cv.rmse_cut_near, 3));
    file.note("cv_phm08_cut", fixed(cv.phm08_cut, 1));
    if (auto w = write_model_file(file, out); !w) return std::move(w).error();
    const std::size_t bytes = encode_model_file(file).size();
    std::string u = unit_ == "windows" ? "windows" : unit_;
    std::string report;
    report += "trained rul (" + std::string(fit_.method == RulMethod::kernel ? "kernel ridge, " + std::to_string(fitted->basis()) + " centers, gamma " + fixed(cv.gamma, 4) : "linear ridge") +
              ", ridge " + fixed(cv.ridge, 2) + ") on " + std::to_string(set.rows()) + " windows of " + std::to_string(group) +
              " keys, " + std::to_string(set.dim) + " features (mean and slope over " + std::to_string(history_) + " windows" +
              (age_ ? ", age" : "") + ")\n";
    report += "cross-validated, " + std::to_string(fit_.folds) + " folds of keys (rul in " + u + ", target capped at " + fixed(fit_.cap, 0) + "):\n";
    report += "  rmse_all  " + fixed(cv.rmse_all, 2) + "  every window, against the capped target\n";
    report += "  rmse_cut  " + fixed(cv.rmse_cut, 2) + "  one random cut per key (" + std::to_string(fit_.cuts) +
              " draws), against the capped target\n";
    report += "  rmse_near " + fixed(cv.rmse_cut_near, 2) + "  the cuts whose true remaining life is at most " +
              fixed(fit_.cap, 0) + ", against it\n";
    report += "  phm08_cut " + fixed(cv.phm08_cut, 1) + "  PHM08 score summed over the keys at their cut, mean of the draws\n";
    report += "  band      " + fixed(100 * cv.coverage, 1) + "% of capped targets inside [rul_lo, rul_hi] (asked " +
              fixed(100 * fit_.band, 0) + "%)\n";
    report += "wrote " + out + " (" + std::to_string(bytes) + " bytes)\n";
    return report;
  }

 private:
  runtime::ModelSetup setup_;
  std::optional<RulRegressor> regressor_;
  std::size_t key_bytes_;
  std::size_t history_ = 30;
  bool age_ = true;
  std::string method_, unit_;
  RulFitOptions fit_;
  std::vector<TrendFeatures> trends_;
  std::vector<double> z_;
};

std::size_t rul_key_bytes(const runtime::ModelSetup& setup) {
  return static_cast<std::size_t>(setup.block.integer("history")) * setup.features * sizeof(double) +
         sizeof(TrendFeatures) + 16;
}

std::unique_ptr<runtime::Model> make_rul(const runtime::ModelSetup& setup) {
  const runtime::Block& b = setup.block;
  std::optional<RulRegressor> regressor;
  if (!setup.train) {
    auto file = read_model_file(setup.file);
    if (!file) {
      report(setup, "file", file.error().message + "; train it with: vigil train CONFIG --input FILE.csv");
      return nullptr;
    }
    if (auto ok = check_model_file(*file, "rul", setup.feature_names, setup.file); !ok) {
      report(setup, "file", ok.error().message);
      return nullptr;
    }
    const double history = file->scalar("history").value_or(-1), age = file->scalar("age").value_or(-1);
    const std::string unit = file->text("unit");
    if (history != static_cast<double>(b.integer("history")) || age != (b.boolean("age") ? 1.0 : 0.0) ||
        unit != b.string("unit")) {
      report(setup, "file",
             "model file " + setup.file + " was trained with history " + fixed(history, 0) + ", age " +
                 (age == 1 ? "true" : "false") + ", unit " + unit + "; this block says history " +
                 std::to_string(b.integer("history")) + ", age " + (b.boolean("age") ? "true" : "false") + ", unit " +
                 b.string("unit") + " (make them equal or train again)");
      return nullptr;
    }
    auto r = RulRegressor::from_file(*file);
    if (!r) {
      report(setup, "file", "model file " + setup.file + " " + r.error().message);
      return nullptr;
    }
    const std::size_t derived = 2 * setup.features + (b.boolean("age") ? 1 : 0);
    if (r->dim() != derived) {
      report(setup, "file", "model file " + setup.file + " has " + std::to_string(r->dim()) + " trend features, expected " +
                                std::to_string(derived));
      return nullptr;
    }
    regressor = std::move(r).value();
  }
  return std::make_unique<RulModel>(setup, std::move(regressor), rul_key_bytes(setup));
}

}  // namespace

const runtime::ModelPlugin kRulPlugin{
    "rul",
    "Remaining useful life per key: the mean and least-squares slope of each feature over the key's last `history` "
    "windows (and its age) go through a regression trained by `vigil train` on run-to-failure data. Outputs `rul` "
    "and the band `rul_lo`, `rul_hi` (cross-validated residual quantiles), in `unit`.",
    kRulKeys, kRulOutputs, &make_rul, &rul_key_bytes, runtime::kFromFile};

}  // namespace vigil::models::pipeline
