#include "vigil/models/models.hpp"

namespace vigil::models {

void register_models(runtime::Registry&) {}

}  // namespace vigil::models
