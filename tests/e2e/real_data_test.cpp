// Replays real run-to-failure data and checks every summary against a recomputation made here
// from the raw file.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "vigil_process.hpp"

namespace vigil::test {
namespace {

struct Expected {
  long count = 0;
  double sum_s2 = 0;
  double max_s7 = -1e300;
  double min_s11 = 1e300;
};

double number_after(const std::string& line, const std::string& name) {
  auto at = line.find("\"" + name + "\":");
  REQUIRE(at != std::string::npos);
  return std::stod(line.substr(at + name.size() + 3));
}

}  // namespace

TEST_CASE("C-MAPSS FD001 sorted by unit replays with per-key watermarks and loses no record",
          "[e2e][realdata]") {
  const std::string csv = std::string(VIGIL_SHARED_DATA_DIR) + "/cmapss/train_FD001.csv";
  const std::string text = read_file(csv);
  REQUIRE_FALSE(text.empty());

  // Naive recomputation: (unit, 10-cycle window) -> aggregates, straight from the file.
  std::map<std::pair<int, long>, Expected> expected;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // header: unit,cycle,setting1..3,s1..s21
  long rows = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream row(line);
    std::string cell;
    while (std::getline(row, cell, ',')) cells.push_back(cell);
    REQUIRE(cells.size() == 26);
    const int unit = std::stoi(cells[0]);
    const long cycle = std::stol(cells[1]);
    const double s2 = std::stod(cells[6]), s7 = std::stod(cells[11]), s11 = std::stod(cells[15]);
    Expected& e = expected[{unit, cycle / 10}];
    ++e.count;
    e.sum_s2 += s2;
    e.max_s7 = std::max(e.max_s7, s7);
    e.min_s11 = std::min(e.min_s11, s11);
    ++rows;
  }
  REQUIRE(rows == 20631);

  auto r = run_vigil({"replay", source_path("tests/e2e/data/cmapss/pipeline.yaml"), "--input", csv, "--stats"}, 120'000);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Matchers::Contains("\"late\":0"));
  CHECK_THAT(r.err, Catch::Matchers::Contains("\"records\":20631"));

  const auto lines = split_lines(r.out);
  REQUIRE(lines.size() == expected.size());
  long total = 0;
  std::size_t partial = 0;
  for (const auto& l : lines) {
    const int unit = std::stoi(std::regex_replace(l, std::regex(".*\"key\":\"([0-9]+)\".*"), "$1"));
    const long start_ms = static_cast<long>(number_after(l, "start"));
    const auto it = expected.find({unit, start_ms / 10'000});
    REQUIRE(it != expected.end());
    const Expected& e = it->second;
    CHECK(number_after(l, "count") == e.count);
    CHECK(number_after(l, "s2_mean") == Approx(e.sum_s2 / static_cast<double>(e.count)).epsilon(1e-12));
    CHECK(number_after(l, "s7_max") == e.max_s7);
    CHECK(number_after(l, "s11_min") == e.min_s11);
    total += static_cast<long>(number_after(l, "count"));
    if (l.find("\"partial\":true") != std::string::npos) ++partial;
  }
  CHECK(total == rows);
  // Only each unit's last window is still open at end of input.
  CHECK(partial == 100);
}

}  // namespace vigil::test

namespace vigil::test {

TEST_CASE("C-MAPSS FD001 gives the same bytes with 1 or 2 or 4 workers", "[e2e][realdata][workers]") {
  const std::string csv = std::string(VIGIL_SHARED_DATA_DIR) + "/cmapss/train_FD001.csv";
  TempDir dir;
  auto config = [&](int workers, const char* window) {
    const std::string path = dir.path() + "/w" + std::to_string(workers) + ".yaml";
    write_file(path, std::string("vigil: 1\n"
                                 "limits: { max_keys: 128, batch_size: 256 }\n"
                                 "sources:\n"
                                 "  - name: engines\n"
                                 "    type: simulator\n"
                                 "    machines: [unused]\n"
                                 "    signals: { v: {} }\n"
                                 "    key: unit\n"
                                 "    time: { field: cycle, unit: s, max_out_of_order: 3s }\n"
                                 "    fields: [s2, s7, s11]\n"
                                 "pipelines:\n"
                                 "  - name: degradation\n"
                                 "    from: [engines]\n"
                                 "    workers: ") +
                         std::to_string(workers) + "\n    window: " + window +
                         "\n    aggregates: [count, mean(s2), max(s7), min(s11), " +
                         (std::string(window).find("sliding") != std::string::npos ? "" : "p90(s11), ") +
                         "stddev(s2)]\n");
    return path;
  };
  for (const char* window : {"{ type: hopping, size: 20s, hop: 5s }", "{ type: session, gap: 3s }",
                             "{ type: sliding, size: 15s }"}) {
    INFO(window);
    auto one = run_vigil({"replay", config(1, window), "--input", csv}, 120'000);
    REQUIRE(one.exit_code == 0);
    REQUIRE(split_lines(one.out).size() >= 100);
    for (int workers : {2, 4}) {
      auto many = run_vigil({"replay", config(workers, window), "--input", csv}, 120'000);
      REQUIRE(many.exit_code == 0);
      CHECK(many.out == one.out);
    }
  }
}

TEST_CASE("workers need per-key watermarks", "[e2e][validate][workers]") {
  TempDir dir;
  const std::string path = dir.path() + "/bad.yaml";
  write_file(path,
             "vigil: 1\n"
             "sources:\n"
             "  - {name: s, type: simulator, machines: [a], signals: {v: {}}}\n"
             "pipelines:\n"
             "  - name: p\n"
             "    from: [s]\n"
             "    watermark: per_source\n"
             "    workers: 2\n"
             "    window: {type: tumbling, size: 10s}\n"
             "    aggregates: [count]\n");
  auto r = run_vigil({"validate", path});
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Matchers::Contains("bad.yaml:8:14: pipelines[0].workers: workers: 2 needs watermark: per_key"));
}

}  // namespace vigil::test
