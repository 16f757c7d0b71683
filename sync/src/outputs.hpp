#pragma once
// The built-in output plugins of this module and what they share. Private to sync/src.
#include <string>
#include <string_view>

#include "vigil/runtime/plugin.hpp"

namespace vigil::sync {

/// The `console` output: one JSON line per summary on standard output or a file.
const runtime::OutputPlugin& console_output_plugin() noexcept;
/// The `outbox` output: summaries stored in the SQLite outbox by a writer thread.
const runtime::OutputPlugin& outbox_output_plugin() noexcept;

/// The `upstream` output: publishes what the outbox stores to an MQTT broker.
const runtime::OutputPlugin& upstream_output_plugin() noexcept;

/// Resolves a path from the config against the folder of the config file.
std::string resolve_path(const std::string& path, const std::string& config_dir);

/// Reports a problem with `key` of an output block into setup.diag, at the key's position.
void report_key_error(const runtime::OutputSetup& setup, std::string_view key, std::string_view message);

}  // namespace vigil::sync
