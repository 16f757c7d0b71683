#pragma once
// Gives back the resident pages of code that ran only at start-up (config parsing, schema
// creation, plugin set-up): the executable's and shared libraries' read-only code mappings are
// dropped from this process once, and whatever the running pipeline executes faults back in
// from the page cache. Never touches a writable or relocated mapping.
#include <cstddef>

namespace vigil::runtime {

/// Drops this process's resident code pages (r-xp file mappings); returns the bytes of code
/// mapped that were advised, 0 when /proc/self/maps cannot be read. Any thread may call it.
std::size_t release_code_pages() noexcept;

}  // namespace vigil::runtime
