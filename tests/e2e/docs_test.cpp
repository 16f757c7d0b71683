// The configuration reference in docs/ is the output of `vigil describe`: it cannot drift from
// the key tables that validate configs.
#include <catch2/catch.hpp>

#include "test_support.hpp"

namespace vigil::test {

TEST_CASE("docs/reference.md is exactly what vigil describe prints", "[e2e][docs]") {
  auto r = run_process({VIGIL_BINARY, "describe"});
  REQUIRE(r.exit_code == 0);
  const std::string doc = read_file(source_path("docs/reference.md"));
  INFO("regenerate with: vigil describe > docs/reference.md");
  CHECK(r.out == doc);
}

TEST_CASE("the shipped examples validate", "[e2e][docs]") {
  // plant-scenario.yaml is a `vigil simulate` scenario (simulate_test runs it); the RUL example
  // needs the model file its documented `vigil train` writes (train_test runs both).
  for (const char* example : {"factory-sim.yaml", "mqtt-plant.yaml", "cmapss-fd001.yaml", "femto-bearing3_1.yaml"}) {
    auto r = run_process({VIGIL_BINARY, "validate", source_path(std::string("examples/") + example)});
    INFO(example << ": " << r.err);
    CHECK(r.exit_code == 0);
  }
}

}  // namespace vigil::test
