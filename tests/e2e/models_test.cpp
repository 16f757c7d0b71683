// Models in pipelines end to end: `vigil replay` of a machine whose vibration jumps after its
// baseline was learned, with the anomaly in the summaries and an on_alarm alert in the outbox;
// and the C-MAPSS example on real run-to-failure engines.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace vigil::test {
namespace {

using Catch::Matchers::Contains;

// Two machines, one record a second for 400 s; press-1's vibration jumps from about 1 to about 3
// at 300 s. Small deterministic noise (an LCG) on every value.
std::string vibration_csv() {
  std::uint64_t seed = 12345;
  auto noise = [&] {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return static_cast<double>(seed) / 2147483648.0 - 0.5;
  };
  std::string csv = "ts,machine,temp,vib\n";
  char line[128];
  for (int i = 0; i < 400; ++i) {
    for (const char* m : {"press-1", "pump-1"}) {
      const double vib = (std::string(m) == "press-1" && i >= 300 ? 3.0 : 1.0) + 0.1 * noise();
      const double temp = 60 + 0.5 * noise();
      std::snprintf(line, sizeof line, "%lld,%s,%.3f,%.4f\n", 1700000000000LL + i * 1000LL, m, temp, vib);
      csv += line;
    }
  }
  return csv;
}

std::string vibration_config() {
  return "vigil: 1\n" + temp_vib_csv_sources() + R"(pipelines:
  - name: health
    from: [line]
    window: {type: tumbling, size: 10s}
    aggregates: [count, mean(temp), rms(vib), max(vib)]
    model:
      - {type: pca_anomaly, baseline: {learn: 20}, confidence: 0.999}
      - {type: ewma, feature: vib_rms, baseline: {learn: 20}, as: vib}
    forward: {policy: on_alarm, column: anomaly, above: 0.5}
outputs:
  console: {format: json}
  outbox: {path: outbox.db}
)";
}

struct Row {
  std::string payload;
  int priority = 0;
};

std::vector<Row> outbox_rows(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT payload, priority FROM outbox ORDER BY seq", -1, &stmt, nullptr) == SQLITE_OK);
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

}  // namespace

TEST_CASE("a vibration jump after the baseline shows as anomaly and as an on_alarm alert in the outbox",
          "[e2e][models]") {
  TempDir dir;
  write_file(dir.file("health.yaml"), vibration_config());
  write_file(dir.file("input.csv"), vibration_csv());
  auto r = run_process({VIGIL_BINARY, "replay", dir.file("health.yaml"), "--input", dir.file("input.csv"), "--outbox",
                        "--stats"});
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Contains("\"model_learning\":40") && Contains("\"model_scored\":40"));
  const auto lines = split_lines(r.out);
  REQUIRE(lines.size() == 80);
  std::map<std::string, int> window;  // per key: index of the next window
  for (const auto& l : lines) {
    const std::string key = summary_key(l);
    const int w = window[key]++;
    INFO(l);
    if (w < 20) {  // learning: the model's outputs are null
      CHECK(std::isnan(summary_number(l, "t2")));
      CHECK(std::isnan(summary_number(l, "anomaly")));
      CHECK(std::isnan(summary_number(l, "vib_ewma")));
      continue;
    }
    CHECK(summary_number(l, "t2") >= 0);
    const bool jumped = key == "press-1" && w >= 30;
    CHECK(summary_number(l, "anomaly") == (jumped ? 1 : 0));
    if (!jumped) CHECK(summary_number(l, "vib_anomaly") == 0);
  }
  CHECK(window["press-1"] == 40);
  // The EWMA on vib_rms sees the jump within two windows.
  for (const auto& l : lines)
    if (l.find("\"start\":1700000310000") != std::string::npos && summary_key(l) == "press-1")
      CHECK(summary_number(l, "vib_anomaly") == 1);

  // on_alarm: only the summary that raised the alarm is stored, on the alert lane.
  const auto rows = outbox_rows(dir.file("outbox.db"));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].priority == 1);
  CHECK_THAT(rows[0].payload, Contains("\"key\":\"press-1\",\"start\":1700000300000") && Contains("\"anomaly\":1,"));
}

TEST_CASE("model config errors are reported by validate with file line and column", "[e2e][models][validate]") {
  TempDir dir;
  std::string text = vibration_config();
  text.replace(text.find("feature: vib_rms"), 16, "feature: vib_mean");
  write_file(dir.file("bad.yaml"), text);
  auto r = run_process({VIGIL_BINARY, "validate", dir.file("bad.yaml")});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("bad.yaml:17:31: pipelines[0].model[1].feature: \"vib_mean\" is not a column") &&
                        Contains("columns: temp_mean, vib_rms, vib_max, t2, q, anomaly"));
}

TEST_CASE("C-MAPSS FD001 example alarms late in each engine's life and not early", "[e2e][models][realdata]") {
  // Units 1 to 3 of the training set, each run from a healthy start to failure.
  std::istringstream in(read_file(std::string(VIGIL_SHARED_DATA_DIR) + "/cmapss/train_FD001.csv"));
  std::string line, csv;
  std::getline(in, line);
  csv = line + "\n";
  while (std::getline(in, line))
    if (std::stoi(line) <= 3) csv += line + "\n";
  TempDir dir;
  write_file(dir.file("fd001.csv"), csv);
  auto r = run_process({VIGIL_BINARY, "replay", source_path("examples/cmapss-fd001.yaml"), "--input", dir.file("fd001.csv")});
  REQUIRE(r.exit_code == 0);
  std::map<std::string, std::vector<double>> anomaly;  // per unit, per cycle
  for (const auto& l : split_lines(r.out)) anomaly[summary_key(l)].push_back(summary_number(l, "anomaly"));
  REQUIRE(anomaly.size() == 3);
  CHECK(anomaly["1"].size() == 192);
  for (const auto& [unit, verdicts] : anomaly) {
    const std::size_t n = verdicts.size();
    const std::size_t early_end = 30 + (n - 30) * 3 / 10, late_begin = n * 8 / 10;
    std::size_t early = 0, late = 0;
    for (std::size_t c = 0; c < 30; ++c) CHECK(std::isnan(verdicts[c]));
    for (std::size_t c = 30; c < early_end; ++c) early += verdicts[c] == 1;
    for (std::size_t c = late_begin; c < n; ++c) late += verdicts[c] == 1;
    INFO("unit " << unit << ": " << n << " cycles, " << early << " alarms in the first 30 % after learning, " << late
                 << " of " << n - late_begin << " in the last 20 %");
    CHECK(early == 0);
    CHECK(late >= (n - late_begin) * 9 / 10);
  }
}

}  // namespace vigil::test

namespace vigil::test {

TEST_CASE("a restart restores each key's learned baseline from the checkpoint", "[e2e][models][checkpoint]") {
  TempDir dir;
  write_file(dir.file("live.yaml"),
             "vigil: 1\n"
             "sources:\n"
             "  - name: sim\n"
             "    type: simulator\n"
             "    machines: [press-1, pump-1]\n"
             "    signals: { temp: { mean: 60, noise: 0.5 }, vib: { mean: 1, noise: 0.1 } }\n"
             "pipelines:\n"
             "  - name: health\n"
             "    from: [sim]\n"
             "    window: { type: tumbling, size: 200ms }\n"
             "    aggregates: [count, mean(temp), rms(vib)]\n"
             "    model: [{type: pca_anomaly, baseline: {learn: 5}}, {type: cusum, feature: vib_rms, baseline: {learn: 5}, as: v}]\n"
             "outputs:\n"
             "  outbox: { path: outbox.db, checkpoint_interval: 1s }\n");
  auto first = run_process({VIGIL_BINARY, "run", dir.file("live.yaml"), "--for", "3s"});
  REQUIRE(first.exit_code == 0);
  CHECK_THAT(first.err, Contains(" 10 learning,"));  // 5 windows of each of the two machines
  auto second = run_process({VIGIL_BINARY, "run", dir.file("live.yaml"), "--for", "1s"});
  REQUIRE(second.exit_code == 0);
  CHECK_THAT(second.err, Contains("(health): restored") && Contains(" 0 learning,"));
  CHECK_THAT(second.err, !Contains("cannot restore"));
}

}  // namespace vigil::test
