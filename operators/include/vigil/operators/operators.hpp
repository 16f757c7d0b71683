#pragma once
// Window operators and aggregates. Window types are registered by name in register_windows().
#include "vigil/runtime/plugin.hpp"

namespace vigil::operators {

/// Registers every built-in window type (`tumbling`, ...) with `registry`.
void register_windows(runtime::Registry& registry);

}  // namespace vigil::operators
