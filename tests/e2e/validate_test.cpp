// `vigil validate`: every broken config under data/broken/ is refused with exit 2 and a message
// that starts with the exact file:line:column of the problem. Positions were counted by hand
// from the fixture files (1-based lines and columns).
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "test_support.hpp"

namespace vigil::test {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

std::string broken(const std::string& name) { return source_path("tests/e2e/data/broken/" + name); }

ProcessResult validate(const std::string& config, const std::vector<std::string>& env = {}) {
  auto r = run_process({VIGIL_BINARY, "validate", config}, 30'000, env);
  REQUIRE_FALSE(r.timed_out);
  return r;
}

/// Runs `vigil validate` on data/broken/`name` and checks the single error it must print:
/// exit 2, nothing on stdout, one line on stderr starting "<path>:<line_col>: " and holding `phrase`.
void expect_one_error(const std::string& name, const std::string& line_col, const std::string& phrase) {
  auto r = validate(broken(name));
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  auto lines = split_lines(r.err);
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], StartsWith(broken(name) + ":" + line_col + ": "));
  CHECK_THAT(lines[0], Contains(phrase));
}

TEST_CASE("validate accepts a valid config with exit 0 and ok", "[e2e][validate]") {
  std::string config = source_path("tests/e2e/data/valid.yaml");
  auto r = validate(config);
  CHECK(r.exit_code == 0);
  CHECK(r.out == config + ": ok\n");
  CHECK(r.err.empty());
}

TEST_CASE("validate refuses an upstream output without an outbox and says what to add", "[e2e][validate]") {
  expect_one_error("upstream-without-outbox.yaml", "14:5", "outputs.upstream: needs outputs.outbox");
}

TEST_CASE("validate accepts the shipped example", "[e2e][validate]") {
  auto r = validate(source_path("examples/factory-sim.yaml"));
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains(": ok"));
}

TEST_CASE("validate starts nothing and creates no outbox file", "[e2e][validate]") {
  TempDir dir;
  std::string config = dir.file("factory-sim.yaml");
  write_file(config, read_file(source_path("examples/factory-sim.yaml")));  // outbox: var/outbox.db
  auto r = validate(config);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(dir.file("var/outbox.db")));
  CHECK_FALSE(std::filesystem::exists(dir.file("var")));
}

TEST_CASE("validate reports an unknown top-level key and suggests the near name", "[e2e][validate]") {
  // line 2: `limit: {max_keys: 10}`; the key starts the line.
  expect_one_error("unknown-top-key.yaml", "2:1", "unknown key \"limit\" (did you mean \"limits\"?); valid keys:");
}

TEST_CASE("validate reports an unknown key in a source with the source's index", "[e2e][validate]") {
  // line 6: `    rtae: 50`; four blanks, the key at column 5.
  expect_one_error("unknown-source-key.yaml", "6:5",
                   "sources[0]: unknown key \"rtae\" (did you mean \"rate\"?); valid keys: name, type,");
}

TEST_CASE("validate reports a missing vigil: version key at the top-level map", "[e2e][validate]") {
  // line 1 is a comment, so the top-level map starts at line 2, column 1.
  expect_one_error("missing-vigil.yaml", "2:1", "missing key \"vigil\"");
}

TEST_CASE("validate reports a duration it cannot read and the units to use", "[e2e][validate]") {
  // line 12: `      size: 10 parsecs`; six blanks + `size: ` puts the value at column 13.
  expect_one_error("bad-duration.yaml", "12:13",
                   "pipelines[0].window.size: \"10 parsecs\" is not a duration; use a number and a unit: 10s");
}

TEST_CASE("validate reports a window size of 0s as out of range", "[e2e][validate]") {
  // line 10: `    window: {type: tumbling, size: 0s}`; `{` at 13, `size` at 30, the value at 36.
  expect_one_error("window-size-zero.yaml", "10:36", "pipelines[0].window.size: 0s is out of range; use at least 1ms");
}

TEST_CASE("validate reports an unknown window type and lists the known ones", "[e2e][validate]") {
  // line 10: `    window: {type: rolling, size: 10s}`; `{` at 13, the type's value at 20.
  expect_one_error("unknown-window-type.yaml", "10:20", "unknown window type \"rolling\"; window types: ");
  auto r = validate(broken("unknown-window-type.yaml"));
  CHECK_THAT(r.err, Contains("tumbling"));
  CHECK_THAT(r.err, Contains("hopping"));
}

TEST_CASE("validate reports an unknown source type and lists the known ones", "[e2e][validate]") {
  // line 4: `    type: modbus`; the value at column 11.
  expect_one_error("unknown-source-type.yaml", "4:11",
                   "sources[0].type: unknown source type \"modbus\"; known types: simulator");
}

TEST_CASE("validate reports an unknown aggregate function and lists the known ones", "[e2e][validate]") {
  // line 11: `    aggregates: [count, average(temp)]`; `[` at 17, `average` at 25.
  expect_one_error("unknown-aggregate.yaml", "11:25",
                   "pipelines[0].aggregates[1]: unknown aggregate \"average\"; aggregates: count, sum, mean");
}

TEST_CASE("validate reports an aggregate that needs a field but has none", "[e2e][validate]") {
  // line 13: `      - mean`; the item at column 9.
  expect_one_error("aggregate-without-field.yaml", "13:9",
                   "pipelines[0].aggregates[1]: mean needs a field: write mean(temp)");
}

TEST_CASE("validate reports a duplicate source name at the second one", "[e2e][validate]") {
  // line 7: `  - name: sim`; the value at column 11.
  expect_one_error("duplicate-source.yaml", "7:11",
                   "sources[1].name: source name \"sim\" is already used by sources[0]; names must be unique");
}

TEST_CASE("validate reports a duplicate pipeline name at the second one", "[e2e][validate]") {
  // line 12: `  - name: health`; the value at column 11.
  expect_one_error("duplicate-pipeline.yaml", "12:11",
                   "pipelines[1].name: pipeline name \"health\" is already used; names must be unique");
}

TEST_CASE("validate reports a from: that names no source and lists the sources", "[e2e][validate]") {
  // line 9: `    from: [sim, simm]`; `[` at 11, `simm` at 17.
  expect_one_error("from-missing-source.yaml", "9:17",
                   "pipelines[0].from: no source is named \"simm\"; sources are: sim");
}

TEST_CASE("validate reports an unset ${ENV} variable and how to give it a default", "[e2e][validate]") {
  // line 2: `gateway: gw-${VIGIL_TEST_UNSET_SITE}`; the scalar starts at column 10.
  expect_one_error("unset-env.yaml", "2:10",
                   "environment variable VIGIL_TEST_UNSET_SITE is not set; export it or write "
                   "${VIGIL_TEST_UNSET_SITE:-default}");
}

TEST_CASE("validate accepts a config once its ${ENV} variable is set", "[e2e][validate]") {
  auto r = validate(broken("unset-env.yaml"), {"VIGIL_TEST_UNSET_SITE=hall-3"});
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
}

TEST_CASE("validate reports a YAML syntax error where the parser found it", "[e2e][validate]") {
  // line 5 opens `[press-1, pump-1` without closing it; the parser notices at line 6 on the `:`
  // after `signals` (column 12), which cannot appear inside the flow list.
  expect_one_error("yaml-syntax.yaml", "6:12", "YAML syntax: ");
}

TEST_CASE("validate reports an include: that cannot be read at the include line", "[e2e][validate]") {
  // line 2: `include: common/missing-limits.yaml`; the file name at column 10.
  expect_one_error("bad-include.yaml", "2:10", "cannot read ");
  auto r = validate(broken("bad-include.yaml"));
  CHECK_THAT(r.err, Contains("common/missing-limits.yaml: No such file or directory"));
}

TEST_CASE("validate reports an unknown output and lists the known ones", "[e2e][validate]") {
  // line 14: `  kafka: {topic: plant}`; the key at column 3.
  expect_one_error("unknown-output.yaml", "14:3", "outputs: unknown output \"kafka\"; outputs: console, outbox");
}

TEST_CASE("validate reports every error of a file, in sources, pipelines and outputs", "[e2e][validate]") {
  const std::string file = broken("several-errors.yaml");
  auto r = validate(file);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  auto lines = split_lines(r.err);
  REQUIRE(lines.size() == 4);
  // line 6: `    rate: fast`
  CHECK(lines[0] == file + ":6:11: sources[0].rate: \"fast\" is not a number");
  // line 11: `    window: {type: tumbling, size: 10 parsecs}`
  CHECK_THAT(lines[1], StartsWith(file + ":11:36: pipelines[0].window.size: \"10 parsecs\" is not a duration"));
  // line 14: `    from: [nowhere]`
  CHECK(lines[2] == file + ":14:12: pipelines[1].from: no source is named \"nowhere\"; sources are: sim");
  // line 18: `  console: {format: xml}`
  CHECK(lines[3] == file + ":18:21: outputs.console.format: \"xml\" is not one of: json");
}

TEST_CASE("validate reports an aggregate error alongside a from: error of the same pipeline", "[e2e][validate]") {
  const std::string file = broken("several-errors-one-pipeline.yaml");
  auto r = validate(file);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  // line 9: `    from: [nowhere]`; line 11: `    aggregates: [count, mean]` (`mean` at 25).
  CHECK_THAT(r.err, Contains(file + ":9:12: pipelines[0].from: no source is named \"nowhere\""));
  CHECK_THAT(r.err, Contains(file + ":11:25: pipelines[0].aggregates[1]: mean needs a field"));
}

TEST_CASE("validate reports a top-level error together with the errors in pipelines", "[e2e][validate]") {
  const std::string file = broken("several-errors-top.yaml");
  auto r = validate(file);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  // line 1: `vigil: 2`; line 9: `    from: [nowhere]`.
  CHECK_THAT(r.err, Contains(file + ":1:8: vigil: 2 is out of range; use a value from 1 to 1"));
  CHECK_THAT(r.err, Contains(file + ":9:12: pipelines[0].from: no source is named \"nowhere\""));
}

TEST_CASE("validate names a config by the path it was given, also a relative one", "[e2e][validate]") {
  TempDir dir;
  write_file(dir.file("plant.yaml"), read_file(broken("unknown-top-key.yaml")));
  auto r = run_process({"/bin/sh", "-c", "cd '" + dir.path() + "' && exec '" VIGIL_BINARY "' validate plant.yaml"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, StartsWith("plant.yaml:2:1: unknown key \"limit\""));
}

}  // namespace
}  // namespace vigil::test

namespace vigil::test {

TEST_CASE("validate reports an unknown key in a field transform", "[e2e][validate]") {
  // line 8: `      t_raw: {scale: 0.1, factor: 2}`; `factor` at column 27.
  expect_one_error("transform-unknown-key.yaml", "8:27",
                   "sources[0].transform.t_raw: unknown key \"factor\"; valid keys: scale, offset, as");
}

}  // namespace vigil::test
