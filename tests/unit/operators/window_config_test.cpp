// Configuration of tumbling and hopping windows and of the aggregates list: what a user who gets
// it wrong reads (file:line:column, the key's path, and how to fix it).
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "window_harness.hpp"

namespace vigil::test {
namespace {

using Columns = std::vector<std::string>;
constexpr const char* kAggs = "[count, mean(temp)]";

std::string window_error(const char* window) {
  WindowHarness h(window, kAggs);
  CHECK_FALSE(h.ok());
  return h.errors();
}

std::string aggregates_error(const char* aggregates) {
  WindowHarness h("{type: tumbling, size: 10s}", aggregates);
  CHECK_FALSE(h.ok());
  return h.errors();
}

}  // namespace

TEST_CASE("a tumbling window without a size says which key is missing", "[operators][tumbling][config]") {
  CHECK(window_error("{type: tumbling}") ==
        "window.yaml:1:1: pipelines[0].window: missing key \"size\" (Window length; windows are "
        "[start, start + size), aligned to the epoch.)");
}

TEST_CASE("a tumbling window with an unknown key lists the valid ones", "[operators][tumbling][config]") {
  CHECK(window_error("{type: tumbling, size: 10s, sise: 5s}") ==
        "window.yaml:1:29: pipelines[0].window: unknown key \"sise\" (did you mean \"size\"?); valid keys: "
        "type, size, offset, allowed_lateness, late");
}

TEST_CASE("a tumbling window of size 0s is out of range", "[operators][tumbling][config]") {
  CHECK(window_error("{type: tumbling, size: 0s}") ==
        "window.yaml:1:24: pipelines[0].window.size: 0s is out of range; use at least 1ms");
}

TEST_CASE("a tumbling window size that is not a duration says how to write one", "[operators][tumbling][config]") {
  CHECK(window_error("{type: tumbling, size: 10 parsecs}") ==
        "window.yaml:1:24: pipelines[0].window.size: \"10 parsecs\" is not a duration; use a number and a unit: "
        "10s, 500ms, 2m, 1h");
}

TEST_CASE("late accepts only drop or emit", "[operators][tumbling][config]") {
  CHECK(window_error("{type: tumbling, size: 10s, late: keep}") ==
        "window.yaml:1:35: pipelines[0].window.late: \"keep\" is not one of: drop, emit");
}

TEST_CASE("a hopping window without a hop says which key is missing", "[operators][hopping][config]") {
  CHECK(window_error("{type: hopping, size: 10s}") ==
        "window.yaml:1:1: pipelines[0].window: missing key \"hop\" (A window starts every hop (hop <= size).)");
}

TEST_CASE("a hopping window without a size says which key is missing", "[operators][hopping][config]") {
  CHECK(window_error("{type: hopping, hop: 5s}") ==
        "window.yaml:1:1: pipelines[0].window: missing key \"size\" (Window length.)");
}

TEST_CASE("a hopping window whose hop is longer than its size is refused", "[operators][hopping][config]") {
  CHECK(window_error("{type: hopping, size: 10s, hop: 20s}") ==
        "window.yaml:1:33: pipelines[0].window.hop: hop 20s is longer than size 10s; windows would leave gaps "
        "(use hop <= size)");
}

TEST_CASE("a hopping window of hop 0s is out of range", "[operators][hopping][config]") {
  CHECK(window_error("{type: hopping, size: 10s, hop: 0s}") ==
        "window.yaml:1:33: pipelines[0].window.hop: 0s is out of range; use at least 1ms");
}

TEST_CASE("a hopping window with too many slices per window is refused", "[operators][hopping][config]") {
  CHECK(window_error("{type: hopping, size: 1000s, hop: 1ms}") ==
        "window.yaml:1:35: pipelines[0].window.hop: size / gcd(size, hop) is 1000000 slices; choose a hop that "
        "divides the size more evenly (at most 100000 slices)");
}

TEST_CASE("an unknown window type lists the known ones", "[operators][config]") {
  const std::string error = window_error("{type: tumblin, size: 10s}");
  CHECK_THAT(error, Catch::StartsWith("window.yaml:1:8: pipelines[0].window.type: unknown window type \"tumblin\"; "
                                      "window types: "));
  CHECK_THAT(error, Catch::Contains("tumbling") && Catch::Contains("hopping"));
}

TEST_CASE("an unknown aggregate lists the known ones", "[operators][config]") {
  CHECK(aggregates_error("[count, average(temp)]") ==
        "aggregates.yaml:1:9: pipelines[0].aggregates[1]: unknown aggregate \"average\"; aggregates: count, sum, "
        "mean, min, max, first, last, stddev, variance, stddev_pop, variance_pop, rms, peak_to_peak, rate, "
        "skewness, kurtosis, crest_factor, median, p50, p90, p95, p99, p999, pNN (quantiles)");
}

TEST_CASE("an aggregate that needs a field says how to name one", "[operators][config]") {
  CHECK(aggregates_error("[count, mean]") ==
        "aggregates.yaml:1:9: pipelines[0].aggregates[1]: mean needs a field: write mean(temp)");
}

TEST_CASE("an aggregate with an unclosed parenthesis says how to write it", "[operators][config]") {
  CHECK(aggregates_error("[\"mean(temp\"]") ==
        "aggregates.yaml:1:2: pipelines[0].aggregates[0]: \"mean(temp\" is missing a closing parenthesis; "
        "write mean(temp)");
}

TEST_CASE("a column produced twice is refused and names the other one", "[operators][config]") {
  CHECK(aggregates_error("[count, mean(temp), mean(temp)]") ==
        "aggregates.yaml:1:21: pipelines[0].aggregates[2]: column \"temp_mean\" is produced twice (also by "
        "pipelines[0].aggregates[1]); rename one with `as`");
}

TEST_CASE("a renamed column may not collide with another either", "[operators][config]") {
  CHECK(aggregates_error("[max(vib) as peak, {agg: max(temp), as: peak}]") ==
        "aggregates.yaml:1:26: pipelines[0].aggregates[1]: column \"peak\" is produced twice (also by "
        "pipelines[0].aggregates[0]); rename one with `as`");
}

TEST_CASE("a column may not take a reserved summary member's name", "[operators][config]") {
  CHECK(aggregates_error("[max(temp) as start]") ==
        "aggregates.yaml:1:2: pipelines[0].aggregates[0]: column name \"start\" is reserved; rename it with `as`");
}

TEST_CASE("an empty aggregates list is refused", "[operators][config]") {
  CHECK(aggregates_error("[]") ==
        "aggregates.yaml:1:1: pipelines[0].aggregates: expected a list of aggregates such as "
        "[count, mean(temp), max(vib)]");
}

TEST_CASE("a map aggregate with an unknown key lists the valid ones", "[operators][config]") {
  CHECK(aggregates_error("[{agg: max(temp), name: t}]") ==
        "aggregates.yaml:1:2: pipelines[0].aggregates[0]: expected {agg: max(vib), as: vib_peak}; valid keys: agg, as");
}

TEST_CASE("as renames columns in both the inline and the map form", "[operators][config]") {
  WindowHarness h("{type: tumbling, size: 10s}",
                  "[count, max(vib) as vib_peak, {agg: mean(temp), as: t}, mean(temp) as temp_avg, count as n, "
                  "count(temp)]");
  REQUIRE(h.ok());
  CHECK(h.schema().columns == Columns{"vib_peak", "t", "temp_avg", "n", "temp_count"});
  h.record("a", kT0 + 1'000'000'000, {{"temp", 4}, {"vib", 0.25}});
  h.record("a", kT0 + 2'000'000'000, {{"temp", 6}});
  h.flush();
  REQUIRE(h.summaries().size() == 1);
  CHECK(h.summaries()[0].json ==
        R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":2,"vib_peak":0.25,"t":5,)"
        R"("temp_avg":5,"n":2,"temp_count":2,"partial":true})");
}

TEST_CASE("a valid tumbling and hopping config builds an operator with columns in config order",
          "[operators][config]") {
  const char* window = GENERATE("{type: tumbling, size: 10s, offset: 2s, allowed_lateness: 1s, late: emit}",
                                "{type: hopping, size: 10s, hop: 2500ms, offset: 1s, allowed_lateness: 0s, late: drop}");
  WindowHarness h(window, "[count, max(vib), mean(temp), count(vib)]");
  REQUIRE(h.ok());
  CHECK(h.errors().empty());
  CHECK(h.schema().pipeline == "p");
  CHECK(h.schema().columns == Columns{"vib_max", "temp_mean", "vib_count"});
  CHECK(h.op().state_bytes() > 0);
}

}  // namespace vigil::test
