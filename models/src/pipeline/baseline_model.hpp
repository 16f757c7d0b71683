#pragma once
// The per-key life of a model fitted from an on-device baseline: learn the first N vectors of a
// key, freeze, fit, then score. Shared by pca_anomaly and mahalanobis.
#include <optional>
#include <string>
#include <vector>

#include "model_support.hpp"
#include "vigil/models/baseline.hpp"
#include "vigil/models/pca_anomaly.hpp"

namespace vigil::models::pipeline {

/// `Traits` gives: `Fitted` (the fitted model), `Options`, `static Result<Fitted> fit(const
/// Baseline&, const Options&)`, `static void write(Fitted&, std::span<const double> x, bool&
/// decision, std::span<double> out)` (statistics into out, the raw decision into `decision`;
/// the last output is the filtered decision, written here), and `kFittedDoubles(d)`.
template <class Traits>
class BaselineModel final : public runtime::Model {
 public:
  BaselineModel(const runtime::ModelSetup& setup, const typename Traits::Options& options, std::size_t filter,
                std::size_t key_bytes)
      : options_(options), path_(setup.path), key_bytes_(key_bytes) {
    keys_.reserve(setup.max_keys);
    const auto f = DecisionFilter::create(filter);
    for (std::size_t i = 0; i < setup.max_keys; ++i)
      keys_.push_back(Key{OnlineBaseline(setup.features, setup.learn), std::nullopt, f.value(), false});
  }

  runtime::ModelStatus score(std::uint32_t slot, std::span<const double> x, std::span<double> out) noexcept override {
    Key& k = keys_[slot];
    if (!k.fitted) {
      if (k.unfit) return runtime::ModelStatus::unfit;
      k.baseline.add(x);
      if (k.baseline.frozen()) fit(k);  // the vector that completes the baseline is learned, not scored
      return runtime::ModelStatus::learning;
    }
    bool decision = false;
    Traits::write(*k.fitted, x, decision, out);
    out[out.size() - 1] = k.filter.push(decision) ? 1.0 : 0.0;
    return runtime::ModelStatus::scored;
  }

  void reset(std::uint32_t slot) noexcept override {
    Key& k = keys_[slot];
    k.baseline.reset();
    k.fitted.reset();
    k.filter.reset();
    k.unfit = false;
  }

  void snapshot(std::uint32_t slot, std::vector<std::byte>& out) const override {
    const Key& k = keys_[slot];
    std::vector<double> state;
    k.baseline.save(state);
    k.filter.save(state);
    put_doubles(state, out);
  }

  Result<void> restore(std::uint32_t slot, std::span<const std::byte> in) override {
    const std::vector<double> state = get_doubles(in);
    std::span<const double> rest(state);
    Key& k = keys_[slot];
    reset(slot);
    if (!k.baseline.load(rest) || !k.filter.load(rest) || !rest.empty()) {
      reset(slot);
      return Error{path_ + ": the saved model state does not match this model's features or filter"};
    }
    // The fitted model is not saved: fitting the frozen baseline again gives the same model.
    if (k.baseline.frozen()) fit(k);
    return runtime::ok();
  }

  std::size_t state_bytes() const noexcept override { return keys_.size() * key_bytes_; }

 private:
  struct Key {
    OnlineBaseline baseline;
    std::optional<typename Traits::Fitted> fitted;
    DecisionFilter filter;
    bool unfit = false;
  };

  // Once per key, when its baseline freezes (or is restored frozen). Allocates the fitted model.
  void fit(Key& k) noexcept {
    try {
      auto b = k.baseline.baseline();
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
  std::size_t key_bytes_;
  std::vector<Key> keys_;
  bool logged_ = false;
};

}  // namespace vigil::models::pipeline
