#pragma once
// Runs the real `vigil` binary (end-to-end tests only: VIGIL_BINARY names it).
#include <catch2/catch.hpp>

#include <iterator>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace vigil::test {

/// Runs `vigil args...` with a 30 s deadline and `env` ("K=V") added to the environment; its
/// output is attached to any failing assertion of the calling test, and a timeout fails the test.
inline ProcessResult run_vigil(std::vector<std::string> args, int timeout_ms = 30'000,
                               const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv{VIGIL_BINARY};
  argv.insert(argv.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  auto r = run_process(argv, timeout_ms, env);
  UNSCOPED_INFO("stdout: " << r.out);
  UNSCOPED_INFO("stderr: " << r.err);
  REQUIRE_FALSE(r.timed_out);
  return r;
}

}  // namespace vigil::test
