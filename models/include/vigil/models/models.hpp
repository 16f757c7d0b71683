#pragma once
// Predictive-maintenance models over window feature vectors. The registry learns about
// models once they exist; until then a pipeline has no `model:` key.
#include "vigil/runtime/plugin.hpp"

namespace vigil::models {

/// Registers every built-in model with `registry` (none yet).
void register_models(runtime::Registry& registry);

}  // namespace vigil::models
