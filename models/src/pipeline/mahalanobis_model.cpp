// `model: {type: mahalanobis}`: squared distance to the key's baseline mean under its shrunk
// covariance, against the chi-square limit.
#include "baseline_model.hpp"
#include "models_plugins.hpp"
#include "vigil/models/mahalanobis.hpp"

namespace vigil::models::pipeline {
namespace {

using runtime::ConfigKey;
using runtime::KeyType;
using runtime::Required;

constexpr ConfigKey kMahalanobisKeys[] = {
    {"features", KeyType::string_list, Required::no, {},
     "Summary columns that form the feature vector (aggregates, or outputs of earlier models); default: every "
     "aggregate column of the window."},
    {"confidence", KeyType::real, Required::no, "0.99",
     "Confidence of the chi-square limit on the squared distance.", 0.5, 0.999999},
    {"shrinkage", KeyType::string, Required::no, "auto",
     "Shrinkage of the covariance toward its diagonal: auto (Ledoit-Wolf estimate) or a fixed intensity from 0 "
     "to 1 (raise it for nearly collinear sensors)."},
};
constexpr std::string_view kMahalanobisOutputs[] = {"score", "anomaly"};

struct MahalanobisTraits {
  static constexpr std::string_view kName = "mahalanobis";
  using Fitted = Mahalanobis;
  using Options = MahalanobisOptions;
  static Result<Fitted> fit(const Baseline& b, const Options& o) { return Mahalanobis::fit(b, o); }
  static void write(Fitted& m, std::span<const double> x, bool& decision, std::span<double> out) noexcept {
    const MahalanobisScore s = m.score(x);
    out[0] = s.d2;
    decision = s.anomaly;
  }
};

std::size_t mahalanobis_key_bytes(const runtime::ModelSetup& setup) {
  const std::size_t d = setup.features;
  return (3 * d * d + 3 * d) * sizeof(double) + (d * d + 4 * d) * sizeof(double) + d + 1 + sizeof(OnlineBaseline) +
         sizeof(Mahalanobis) + sizeof(DecisionFilter) + 16;
}

std::unique_ptr<runtime::Model> make_mahalanobis(const runtime::ModelSetup& setup) {
  const runtime::Block& b = setup.block;
  MahalanobisOptions o;
  o.confidence = b.real("confidence");
  const std::string shrinkage = b.string("shrinkage");
  if (shrinkage == "auto") {
    o.shrinkage = Shrinkage::ledoit_wolf;
  } else {
    auto v = runtime::parse_real(shrinkage);
    if (!v || *v < 0 || *v > 1) {
      report(setup, "shrinkage", "\"" + shrinkage + "\" is not auto or a number from 0 to 1");
      return nullptr;
    }
    o.shrinkage = Shrinkage::fixed;
    o.intensity = *v;
  }
  auto shared = shared_from_file<MahalanobisTraits>(setup, o);
  if (!shared) return nullptr;
  return std::make_unique<BaselineModel<MahalanobisTraits>>(setup, o, 1, mahalanobis_key_bytes(setup), std::move(*shared));
}

}  // namespace

const runtime::ModelPlugin kMahalanobisPlugin{
    "mahalanobis",
    "Squared Mahalanobis distance of the feature vector to the key's baseline mean, with the covariance shrunk "
    "toward its diagonal (LLT solve), against the chi-square limit at `confidence`. Outputs `score` (the "
    "squared distance d2) and `anomaly`.",
    kMahalanobisKeys, kMahalanobisOutputs, &make_mahalanobis, &mahalanobis_key_bytes,
    runtime::kLearnsOnDevice | runtime::kFromFile};

}  // namespace vigil::models::pipeline
