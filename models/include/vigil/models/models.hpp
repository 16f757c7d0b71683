#pragma once
// Predictive-maintenance models over window feature vectors, as `model:` plugins of pipelines.
#include "vigil/runtime/plugin.hpp"

namespace vigil::models {

/// Registers every built-in model with `registry`: pca_anomaly, mahalanobis, ewma, cusum.
void register_models(runtime::Registry& registry);

}  // namespace vigil::models
