#include "vigil/sensors/sensors.hpp"

namespace vigil::sensors {

const runtime::SourcePlugin& serial_plugin();  // serial_source.cpp
const runtime::SourcePlugin& mqtt_plugin();    // mqtt_source.cpp

void register_sources(runtime::Registry& registry) {
  registry.add(simulator_plugin());
  registry.add(serial_plugin());
  registry.add(mqtt_plugin());
}

}  // namespace vigil::sensors
