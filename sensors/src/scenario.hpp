#pragma once
// What a simulation is made of (machines, signals, stream faults, rate, seed), read from a
// `simulator` source's block or a `vigil simulate` scenario file with one key table.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "simulated_stream.hpp"
#include "vigil/runtime/config_keys.hpp"
#include "vigil/sensors/signal_generator.hpp"

namespace vigil::sensors {

/// A simulation, checked and typed.
struct Scenario {
  std::vector<std::string> machines;
  std::vector<std::string> fields;  ///< in the order of `signals`
  std::vector<SignalShape> shapes;  ///< one per field
  StreamFaults faults;
  double rate = 100;
  std::uint64_t seed = 1;
  bool has_start = false;
  runtime::Nanos start = 0;
  bool realtime = true;
  std::uint64_t count = 0;  ///< records per machine; 0: unlimited
};

/// The keys of a `simulator` block (machines, rate, seed, signals, faults, start, realtime, count).
std::span<const runtime::ConfigKey> simulator_keys() noexcept;

/// Reads a block validated against simulator_keys(); reports what the table cannot express (an
/// empty or repeated machine, a bad start time, delays adding up to more than 1) into `diag`
/// under `path` (empty: the keys are top-level) and then returns nullopt. Setup only.
std::optional<Scenario> read_scenario(const runtime::Block& block, const std::string& path,
                                      runtime::Diagnostics& diag);

}  // namespace vigil::sensors
