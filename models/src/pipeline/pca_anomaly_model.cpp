// `model: {type: pca_anomaly}`: standardize, PCA, Hotelling T2 and SPE/Q against control limits.
#include "baseline_model.hpp"
#include "models_plugins.hpp"

namespace vigil::models::pipeline {
namespace {

using runtime::ConfigKey;
using runtime::KeyType;
using runtime::kNoMax;
using runtime::kNoMin;
using runtime::Required;

constexpr ConfigKey kPcaKeys[] = {
    {"features", KeyType::string_list, Required::no, {},
     "Summary columns that form the feature vector (aggregates, or outputs of earlier models); default: every "
     "aggregate column of the window."},
    {"variance", KeyType::real, Required::no, "0.9",
     "Keep the fewest principal components whose share of the variance reaches this.", 0.01, 1},
    {"components", KeyType::integer, Required::no, {}, "Keep exactly this many components instead of `variance`.", 1,
     1000},
    {"confidence", KeyType::real, Required::no, "0.99",
     "Confidence of the T2 and Q control limits: 0.99 flags about 1 % of in-control windows.", 0.5, 0.999999},
    {"filter", KeyType::integer, Required::no, "1",
     "Odd k: anomaly is the median of the key's last k decisions (a majority of them must exceed a limit); 1: "
     "none.",
     1, 99},
};
constexpr std::string_view kPcaOutputs[] = {"t2", "q", "anomaly"};

struct PcaTraits {
  static constexpr std::string_view kName = "pca_anomaly";
  using Fitted = PcaAnomaly;
  using Options = PcaOptions;
  static Result<Fitted> fit(const Baseline& b, const Options& o) { return PcaAnomaly::fit(b, o); }
  static void write(Fitted& m, std::span<const double> x, bool& decision, std::span<double> out) noexcept {
    const PcaScore s = m.score(x);
    out[0] = s.t2;
    out[1] = s.q;
    decision = s.anomaly;
  }
};

// Per key: the online baseline (3 d^2 + 3 d doubles), the fitted model at its largest (every
// component kept: d^2 loadings, 8 d vectors, d flags), the filter ring and the bookkeeping.
std::size_t pca_key_bytes(const runtime::ModelSetup& setup) {
  const std::size_t d = setup.features;
  const std::size_t filter = static_cast<std::size_t>(setup.block.integer("filter"));
  return (3 * d * d + 3 * d) * sizeof(double) + (d * d + 8 * d) * sizeof(double) + d + filter +
         sizeof(OnlineBaseline) + sizeof(PcaAnomaly) + sizeof(DecisionFilter) + 16;
}

std::unique_ptr<runtime::Model> make_pca(const runtime::ModelSetup& setup) {
  const runtime::Block& b = setup.block;
  PcaOptions o;
  o.explained_variance = b.real("variance");
  o.confidence = b.real("confidence");
  bool ok = true;
  if (b.has("components")) {
    o.components = static_cast<std::size_t>(b.integer("components"));
    if (b.has("variance")) {
      report(setup, "components", "give components or variance, not both");
      ok = false;
    }
    if (o.components > setup.features) {
      report(setup, "components",
             std::to_string(o.components) + " components from " + std::to_string(setup.features) +
                 " features; use at most " + std::to_string(setup.features));
      ok = false;
    }
    if (setup.learn > 0 && setup.learn <= o.components) {
      report(setup, "baseline",
             "learn: " + std::to_string(setup.learn) + " is too few vectors for " + std::to_string(o.components) +
                 " components; learn more vectors than components");
      ok = false;
    }
  }
  const auto filter = static_cast<std::size_t>(b.integer("filter"));
  if (filter % 2 == 0) {
    report(setup, "filter", std::to_string(filter) + " is even; the median of the last k decisions needs an odd k (1, 3, 5...)");
    ok = false;
  }
  if (!ok) return nullptr;
  auto shared = shared_from_file<PcaTraits>(setup, o);
  if (!shared) return nullptr;
  return std::make_unique<BaselineModel<PcaTraits>>(setup, o, filter, pca_key_bytes(setup), std::move(*shared));
}

}  // namespace

const runtime::ModelPlugin kPcaAnomalyPlugin{
    "pca_anomaly",
    "PCA on the standardized feature vector: Hotelling T2 on the kept components and SPE/Q on the residual, "
    "each against its control limit at `confidence`. Outputs `t2`, `q`, `anomaly` (1 when either limit is "
    "exceeded, after the optional median filter).",
    kPcaKeys, kPcaOutputs, &make_pca, &pca_key_bytes, runtime::kLearnsOnDevice | runtime::kFromFile};

}  // namespace vigil::models::pipeline
