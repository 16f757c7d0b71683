#pragma once
// The per-key life of a model fitted from an on-device baseline: learn the first N vectors of a
// key, freeze, fit, then score. Or one baseline trained by `vigil train` (`file:`), shared by
// every key. Shared by pca_anomaly and mahalanobis.
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "model_support.hpp"
#include "vigil/models/baseline.hpp"
#include "vigil/models/model_file.hpp"
#include "vigil/models/pca_anomaly.hpp"

namespace vigil::models::pipeline {

/// The baseline stored in a model file of `type` for this block's features.
inline Result<Baseline> read_baseline_file(const runtime::ModelSetup& setup, std::string_view type) {
  auto file = read_model_file(setup.file);
  if (!file) return Error{file.error().message + "; train it with: vigil train CONFIG --input FILE.csv"};
  if (auto ok = check_model_file(*file, type, setup.feature_names, setup.file); !ok) return std::move(ok).error();
  const std::size_t d = setup.features;
  auto count = file->scalar("count");
  auto mean = file->matrix("mean", 1, d);
  auto m2 = file->matrix("comoment", d, d);
  auto m4 = file->matrix("fourth_comoment", d, d);
  for (const Error* e : {count ? nullptr : &count.error(), mean ? nullptr : &mean.error(), m2 ? nullptr : &m2.error(),
                         m4 ? nullptr : &m4.error()})
    if (e) return Error{"model file " + setup.file + " " + e->message};
  if (!(*count >= 2) || !(*count < 9e15)) return Error{"model file " + setup.file + " has a baseline of fewer than 2 vectors"};
  for (const NamedMatrix* m : {*mean, *m2, *m4})
    for (double v : m->data)
      if (!std::isfinite(v)) return Error{"model file " + setup.file + " has a value that is not finite in " + m->name};
  Baseline b;
  b.count = static_cast<std::size_t>(*count);
  b.dim = d;
  b.mean = (*mean)->data;
  b.comoment = (*m2)->data;
  b.fourth_comoment = (*m4)->data;
  return b;
}

/// Writes `b` as a model file of `type` over `features`.
inline Result<void> write_baseline_file(const Baseline& b, std::string_view type, const std::vector<std::string>& features,
                                        const runtime::TrainingData& data, const std::string& out) {
  ModelFile file;
  file.type = std::string(type);
  file.features = features;
  file.put("count", static_cast<double>(b.count));
  file.put("mean", 1, b.dim, b.mean);
  file.put("comoment", b.dim, b.dim, b.comoment);
  file.put("fourth_comoment", b.dim, b.dim, b.fourth_comoment);
  note_training(file, data.input, data.rows(), data.keys.size());
  return write_model_file(file, out);
}

/// `Traits` gives: `kName` (the model type), `Fitted` (the fitted model), `Options`, `static Result<Fitted> fit(const
/// Baseline&, const Options&)`, `static void write(Fitted&, std::span<const double> x, bool&
/// decision, std::span<double> out)` (statistics into out, the raw decision into `decision`;
/// the last output is the filtered decision, written here), and `kFittedDoubles(d)`.
template <class Traits>
class BaselineModel final : public runtime::Model {
 public:
  /// `shared`: the model fitted from a model file, used for every key (no per-key baseline).
  BaselineModel(const runtime::ModelSetup& setup, const typename Traits::Options& options, std::size_t filter,
                std::size_t key_bytes, std::optional<typename Traits::Fitted> shared = std::nullopt)
      : options_(options), path_(setup.path), type_(Traits::kName), key_bytes_(key_bytes), shared_(std::move(shared)),
        feature_names_(setup.feature_names) {
    keys_.reserve(setup.max_keys);
    const auto f = DecisionFilter::create(filter);
    const bool learns = !setup.train && !shared_;
    for (std::size_t i = 0; i < setup.max_keys; ++i)
      keys_.push_back(Key{learns ? std::optional<OnlineBaseline>(OnlineBaseline(setup.features, setup.learn)) : std::nullopt,
                          std::nullopt, f.value(), false});
  }

  runtime::ModelStatus score(std::uint32_t slot, std::span<const double> x, std::span<double> out) noexcept override {
    Key& k = keys_[slot];
    if (shared_) {
      bool decision = false;
      Traits::write(*shared_, x, decision, out);
      out[out.size() - 1] = k.filter.push(decision) ? 1.0 : 0.0;
      return runtime::ModelStatus::scored;
    }
    if (!k.baseline) return runtime::ModelStatus::learning;  // built for training
    if (!k.fitted) {
      if (k.unfit) return runtime::ModelStatus::unfit;
      k.baseline->add(x);
      if (k.baseline->frozen()) fit(k);  // the vector that completes the baseline is learned, not scored
      return runtime::ModelStatus::learning;
    }
    bool decision = false;
    Traits::write(*k.fitted, x, decision, out);
    out[out.size() - 1] = k.filter.push(decision) ? 1.0 : 0.0;
    return runtime::ModelStatus::scored;
  }

  void reset(std::uint32_t slot) noexcept override {
    Key& k = keys_[slot];
    if (k.baseline) k.baseline->reset();
    k.fitted.reset();
    k.filter.reset();
    k.unfit = false;
  }

  void snapshot(std::uint32_t slot, std::vector<std::byte>& out) const override {
    const Key& k = keys_[slot];
    std::vector<double> state;
    if (k.baseline) k.baseline->save(state);
    k.filter.save(state);
    put_doubles(state, out);
  }

  Result<void> restore(std::uint32_t slot, std::span<const std::byte> in) override {
    const std::vector<double> state = get_doubles(in);
    std::span<const double> rest(state);
    Key& k = keys_[slot];
    reset(slot);
    if ((k.baseline && !k.baseline->load(rest)) || !k.filter.load(rest) || !rest.empty()) {
      reset(slot);
      return Error{path_ + ": the saved model state does not match this model's features or filter"};
    }
    // The fitted model is not saved: fitting the frozen baseline again gives the same model.
    if (k.baseline && k.baseline->frozen()) fit(k);
    return runtime::ok();
  }

  std::size_t state_bytes() const noexcept override { return keys_.size() * key_bytes_; }

  // One baseline from every collected vector (of every key), checked by fitting it.
  Result<std::string> train(const runtime::TrainingData& data, const std::string& out) override {
    const std::size_t rows = data.rows();
    auto b = Baseline::from_samples(Samples{data.values, rows, data.cols});
    if (!b) return std::move(b).error();
    auto m = Traits::fit(*b, options_);
    if (!m) return Error{"the training vectors give no " + type_ + " model: " + m.error().message};
    if (auto w = write_baseline_file(*b, type_, feature_names_, data, out); !w)
      return std::move(w).error();
    return "trained a " + type_ + " baseline on " + std::to_string(rows) + " vectors of " +
           std::to_string(data.keys.size()) + " keys, " + std::to_string(data.cols) + " features\nwrote " + out + "\n";
  }

 private:
  struct Key {
    std::optional<OnlineBaseline> baseline;  // none when the model comes from a file
    std::optional<typename Traits::Fitted> fitted;
    DecisionFilter filter;
    bool unfit = false;
  };

  // Once per key, when its baseline freezes (or is restored frozen). Allocates the fitted model.
  void fit(Key& k) noexcept {
    try {
      auto b = k.baseline->baseline();
      auto m = b ? Traits::fit(*b, options_) : Result<typename Traits::Fitted>(std::move(b).error());
      if (m) {
        k.fitted.emplace(std::move(m).value());
        return;
      }
      k.unfit = true;
      log_unfit(logged_, path_, m.error().message);
    } catch (...) {
      k.unfit = true;
      log_unfit(logged_, path_, "out of memory");
    }
  }

  typename Traits::Options options_;
  std::string path_;
  std::string type_;
  std::size_t key_bytes_;
  std::optional<typename Traits::Fitted> shared_;
  std::vector<std::string> feature_names_;
  std::vector<Key> keys_;
  bool logged_ = false;
};

/// The model of a `file:` block (fitted once, shared by every key); nullopt when the block
/// learns on the device or is built for training. Reports a bad file at the block's `file`.
template <class Traits>
std::optional<std::optional<typename Traits::Fitted>> shared_from_file(const runtime::ModelSetup& setup,
                                                                       const typename Traits::Options& options) {
  if (setup.file.empty() || setup.train) return std::optional<typename Traits::Fitted>{};
  auto b = read_baseline_file(setup, Traits::kName);
  if (!b) {
    report(setup, "file", b.error().message);
    return std::nullopt;
  }
  auto m = Traits::fit(*b, options);
  if (!m) {
    report(setup, "file", "model file " + setup.file + " gives no model: " + m.error().message);
    return std::nullopt;
  }
  return std::optional<typename Traits::Fitted>(std::move(m).value());
}

}  // namespace vigil::models::pipeline
