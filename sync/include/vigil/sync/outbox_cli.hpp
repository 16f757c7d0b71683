#pragma once
// `vigil outbox DB stats|tail|export`: inspects a store-and-forward database read-only.
#include <cstdio>
#include <span>
#include <string>

namespace vigil::sync {

/// Runs `vigil outbox` with the arguments after `outbox` (`DB SUBCOMMAND [options]`), writing
/// results to `out` and messages to `err`. Opens DB read-only and never creates or changes it.
/// Returns the exit code: 0 done, 1 the database cannot be read (missing, not an outbox,
/// newer schema) or `out` failed, 2 a usage error.
int outbox_command(std::span<const std::string> args, std::FILE* out, std::FILE* err);

}  // namespace vigil::sync
