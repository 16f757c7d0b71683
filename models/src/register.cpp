#include "vigil/models/models.hpp"

#include "pipeline/models_plugins.hpp"

namespace vigil::models {

void register_models(runtime::Registry& registry) {
  registry.add(pipeline::kPcaAnomalyPlugin);
  registry.add(pipeline::kMahalanobisPlugin);
  registry.add(pipeline::kEwmaPlugin);
  registry.add(pipeline::kCusumPlugin);
  registry.add(pipeline::kRulPlugin);
  registry.add(pipeline::kSpectrumPlugin);
}

}  // namespace vigil::models
