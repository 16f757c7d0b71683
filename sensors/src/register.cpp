#include "vigil/sensors/sensors.hpp"

namespace vigil::sensors {

const runtime::SourcePlugin& serial_plugin();  // serial_source.cpp

void register_sources(runtime::Registry& registry) {
  registry.add(simulator_plugin());
  registry.add(serial_plugin());
}

}  // namespace vigil::sensors
