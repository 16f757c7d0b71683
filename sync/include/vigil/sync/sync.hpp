#pragma once
// Outputs: where summaries go (console, SQLite outbox, upstream MQTT).
#include <cstdio>

#include "vigil/runtime/plugin.hpp"

namespace vigil::sync {

/// Registers every built-in output (`console`, `outbox`, `upstream`) with `registry`.
void register_outputs(runtime::Registry& registry);

/// Sets where `console` outputs without a `path` write (default: stdout), e.g. for
/// `vigil replay --output FILE`. Applies to console outputs created afterwards; the stream
/// must outlive them. nullptr restores stdout. Any thread.
void set_console_stream(std::FILE* stream) noexcept;

}  // namespace vigil::sync
