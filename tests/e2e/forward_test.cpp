// `forward:` policies end to end: `vigil replay` of the hand-made CSV (tests/e2e/data/replay),
// whose summaries are worked out by hand in expected.jsonl, through console and outbox.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <string>
#include <vector>

#include "test_support.hpp"

namespace vigil::test {
namespace {

using Catch::Matchers::Contains;

std::string replay_data(const std::string& name) { return source_path("tests/e2e/data/replay/" + name); }

/// The replay fixture with `forward` added to its pipeline and `outputs` extra lines appended.
std::string write_config(const TempDir& dir, const std::string& forward, const std::string& outputs = "") {
  std::string text = read_file(replay_data("replay.yaml"));
  const std::string anchor = "outputs:\n";
  const auto at = text.find(anchor);
  REQUIRE(at != std::string::npos);
  text.insert(at, "    forward: " + forward + "\n");
  text += outputs;
  const std::string path = dir.file("replay.yaml");
  write_file(path, text);
  return path;
}

struct Row {
  std::string payload;
  int priority = 0;
};

std::vector<Row> outbox_rows(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT payload, priority FROM outbox ORDER BY seq", -1, &stmt, nullptr) ==
          SQLITE_OK);
  std::vector<Row> rows;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, 0));
    rows.push_back({std::string(data ? data : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt, 0))),
                    sqlite3_column_int(stmt, 1)});
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

std::vector<std::string> pick(const std::vector<std::string>& lines, const std::vector<std::size_t>& which) {
  std::vector<std::string> out;
  for (std::size_t i : which) out.push_back(lines.at(i));
  return out;
}

std::string validate_error(const std::string& forward) {
  TempDir dir;
  auto r = run_process({VIGIL_BINARY, "validate", write_config(dir, forward)});
  CHECK(r.exit_code == 2);
  return r.err;
}

}  // namespace

// expected.jsonl by key, temp_mean: press-1 21.75, 18.5625, 17.5; pump-1 4, 5.5, 6.5;
// oven-2 181, 182.75 (lines 0, 3, 6; 1, 4, 7; 2, 5). With a band of 2: press-1 forwards 21.75 and
// 18.5625 (moved 3.19), holds 17.5 (1.06); pump-1 forwards 4, holds 5.5 (1.5), forwards 6.5 (2.5
// from 4); oven-2 forwards 181, holds 182.75 (1.75).
TEST_CASE("deadband replay prints every summary but stores only the forwarded ones in the outbox",
          "[e2e][forward]") {
  TempDir dir;
  const std::string config = write_config(dir, "{policy: deadband, column: temp_mean, band: 2}",
                                          "  outbox: {path: outbox.db}\n");
  auto r = run_process({VIGIL_BINARY, "replay", config, "--input", replay_data("input.csv"), "--outbox", "--stats"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string expected = read_file(replay_data("expected.jsonl"));
  CHECK(r.out == expected);
  std::vector<std::string> stored;
  for (const Row& row : outbox_rows(dir.file("outbox.db"))) {
    stored.push_back(row.payload);
    CHECK(row.priority == 0);
  }
  CHECK(stored == pick(split_lines(expected), {0, 1, 2, 3, 7}));
  CHECK_THAT(r.err, Contains("forward: 5 summaries selected for upstream, 3 kept local only; 601 bytes in"));
  CHECK_THAT(r.err, Contains("outbox outbox.db: 5 rows written, 0 dropped, 0 write errors, 3 not forwarded"));
  CHECK_THAT(r.err, Contains("\"forwarded\":5,\"held\":3,\"alarms_raised\":0"));
  CHECK_THAT(r.err, Contains("\"bytes_in\":601,\"bytes_forwarded\":0}"));
}

TEST_CASE("keep_all stores the held summaries too as priority -1 rows", "[e2e][forward]") {
  TempDir dir;
  const std::string config = write_config(dir, "{policy: deadband, column: temp_mean, band: 2}",
                                          "  outbox: {path: outbox.db, keep_all: true}\n");
  auto r = run_process({VIGIL_BINARY, "replay", config, "--input", replay_data("input.csv"), "--outbox"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto expected = split_lines(read_file(replay_data("expected.jsonl")));
  const auto rows = outbox_rows(dir.file("outbox.db"));
  REQUIRE(rows.size() == expected.size());
  const int priorities[] = {0, 0, 0, 0, -1, -1, -1, 0};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(rows[i].payload == expected[i]);
    CHECK(rows[i].priority == priorities[i]);
  }
}

TEST_CASE("console forwarded_only prints just the forwarded summaries", "[e2e][forward]") {
  TempDir dir;
  std::string text = read_file(replay_data("replay.yaml"));
  const std::string console = "console: {format: json}";
  REQUIRE(text.find(console) != std::string::npos);
  text.replace(text.find(console), console.size(), "console: {format: json, forwarded_only: true}");
  text.insert(text.find("outputs:\n"), "    forward: {policy: every, windows: 2}\n");
  write_file(dir.file("replay.yaml"), text);
  auto r = run_process({VIGIL_BINARY, "replay", dir.file("replay.yaml"), "--input", replay_data("input.csv")});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // Every second window per key, starting with the first: each key's windows 1 and 3.
  CHECK(split_lines(r.out) == pick(split_lines(read_file(replay_data("expected.jsonl"))), {0, 1, 2, 6, 7}));
}

// temp_mean below 5 (hysteresis 0.25): pump-1's 4 raises the alarm, its 5.5 (>= 5.25) clears it.
TEST_CASE("on_alarm stores the summaries that raise and clear the alarm at the configured priority",
          "[e2e][forward]") {
  TempDir dir;
  const std::string config =
      write_config(dir, "{policy: on_alarm, column: temp_mean, below: 5, hysteresis: 0.25, priority: 2}",
                   "  outbox: {path: outbox.db}\n");
  auto r = run_process({VIGIL_BINARY, "replay", config, "--input", replay_data("input.csv"), "--outbox", "--stats"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto expected = split_lines(read_file(replay_data("expected.jsonl")));
  const auto rows = outbox_rows(dir.file("outbox.db"));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].payload == expected[1]);
  CHECK(rows[1].payload == expected[4]);
  CHECK(rows[0].priority == 2);
  CHECK(rows[1].priority == 2);
  CHECK_THAT(r.err, Contains("\"alarms_raised\":1,\"alarms_cleared\":1"));
}

TEST_CASE("forward config errors name the key and say how to fix it", "[e2e][forward][config]") {
  CHECK_THAT(validate_error("{policy: deadband, column: temp_avg, band: 1}"),
             Contains("pipelines[0].forward.column: \"temp_avg\" is not a column of this pipeline's summaries; "
                      "columns: count, temp_mean, temp_min, temp_max, temp_sum"));
  CHECK_THAT(validate_error("{policy: deadband, column: temp_mean}"),
             Contains("pipelines[0].forward: policy deadband needs one of band (absolute, e.g. 0.5) or percent"));
  CHECK_THAT(validate_error("{policy: every}"),
             Contains("pipelines[0].forward: policy every needs one of windows"));
  CHECK_THAT(validate_error("{policy: always, band: 1}"),
             Contains("pipelines[0].forward.band: applies to policy deadband only, not always; remove it"));
  CHECK_THAT(validate_error("{policy: on_alarm, column: temp_mean}"),
             Contains("policy on_alarm needs above, below or both"));
  CHECK_THAT(validate_error("{policy: on_alarm, column: temp_mean, above: 10, below: 9, hysteresis: 1}"),
             Contains("pipelines[0].forward.below: must be below above by more than twice the hysteresis"));
  CHECK_THAT(validate_error("{policy: sometimes}"), Contains("pipelines[0].forward.policy") && Contains("deadband"));
  CHECK_THAT(validate_error("{policy: every, windows: 0}"), Contains("pipelines[0].forward.windows"));
  CHECK_THAT(validate_error("{policy: every, windows: 2, band_width: 3}"),
             Contains("band_width") && Contains("hysteresis"));
}

TEST_CASE("the forward error points at the line and column of the key", "[e2e][forward][config]") {
  TempDir dir;
  std::string text = read_file(replay_data("replay.yaml"));
  text.insert(text.find("outputs:\n"), "    forward:\n      policy: always\n      band: 1\n");
  write_file(dir.file("replay.yaml"), text);
  auto r = run_process({VIGIL_BINARY, "validate", dir.file("replay.yaml")});
  CHECK(r.exit_code == 2);
  // The pipeline block ends at line 17; forward is line 18, band line 20, its value at column 13.
  CHECK_THAT(r.err, Contains("replay.yaml:20:13: pipelines[0].forward.band"));
}

}  // namespace vigil::test
