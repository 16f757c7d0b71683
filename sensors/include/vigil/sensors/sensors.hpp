#pragma once
// Sources: where records come from. Each source type lives in one file under sensors/src and
// is registered by name in register_sources().
#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vigil/runtime/plugin.hpp"

namespace vigil::sensors {

/// Registers every built-in source type (`simulator`, ...) with `registry`.
void register_sources(runtime::Registry& registry);

/// The `simulator` source type: seeded sine/drift/noise signals for a list of machines, paced
/// to wall time or as fast as the queue takes them. Its `keys` are the YAML keys it accepts.
const runtime::SourcePlugin& simulator_plugin();

/// A finite source that reads a CSV file with a header line through `setup.mapping`
/// (key column, time column and unit, value columns) and pushes its records as fast as the
/// queue takes them (the queue should block). Malformed rows are counted and skipped.
/// Emits tick events on a virtual clock driven by event time and ends with end_of_stream.
/// Returns nullptr with a message in setup.diag when the file cannot be opened or its header
/// lacks a mapped column.
std::unique_ptr<runtime::Source> make_csv_replay(const runtime::SourceSetup& setup,
                                                 const std::string& csv_path);

/// `vigil simulate SCENARIO --broker URI [--rate N] [--duration D] [--format json|flatbuffers]`:
/// publishes a scenario (a `simulator` block plus `publish:`) to an MQTT broker until its count
/// or the duration is reached, or `stop` turns true. `args` are the words after "simulate".
/// Logs to stderr; returns the exit code: 0 done, 1 broker failure, 2 usage or scenario error.
int simulate_command(const std::vector<std::string>& args, const std::atomic<bool>& stop);

/// The keys of a scenario's `publish:` block (for `vigil describe`).
std::span<const runtime::ConfigKey> simulate_publish_keys() noexcept;

}  // namespace vigil::sensors
