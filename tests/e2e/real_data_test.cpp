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
