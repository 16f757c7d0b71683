#include "vigil/sensors/sensors.hpp"

namespace vigil::sensors {

void register_sources(runtime::Registry& registry) { registry.add(simulator_plugin()); }

}  // namespace vigil::sensors
