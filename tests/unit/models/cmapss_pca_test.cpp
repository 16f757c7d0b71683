// Sanity check on real run-to-failure data (NASA C-MAPSS FD001, engine 1): a PCA model fitted
// on the engine's first 30 cycles sees T2 grow as the engine degrades.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "vigil/models/pca_anomaly.hpp"

namespace vigil::models {
namespace {

// The 14 sensors that vary in FD001 (s1, s5, s6, s10, s16, s18, s19 are constant).
constexpr int kSensors[] = {2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21};
constexpr std::size_t kDim = std::size(kSensors);

// Rows of unit 1 in cycle order: the 14 informative sensors of each cycle.
std::vector<double> unit_one() {
  std::ifstream in(VIGIL_SHARED_DATA_DIR "/cmapss/train_FD001.csv");
  REQUIRE(in.good());
  std::string line;
  std::getline(in, line);  // header: unit,cycle,setting1..3,s1..s21
  std::vector<double> rows;
  while (std::getline(in, line)) {
    std::vector<double> cells;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) cells.push_back(std::stod(cell));
    if (cells.size() != 26 || cells[0] != 1) continue;
    for (int s : kSensors) rows.push_back(cells[static_cast<std::size_t>(4 + s)]);
  }
  return rows;
}

TEST_CASE("pca T2 of C-MAPSS engine 1 rises toward the end of life", "[models][pca][data]") {
  const auto rows = unit_one();
  const std::size_t cycles = rows.size() / kDim;
  REQUIRE(cycles == 192);
  auto b = Baseline::from_samples({std::span<const double>(rows.data(), 30 * kDim), 30, kDim});
  REQUIRE(b.ok());
  PcaOptions o;
  o.explained_variance = 0.9;
  o.confidence = 0.99;
  auto m = PcaAnomaly::fit(*b, o);
  REQUIRE(m.ok());
  double early = 0, late = 0;
  std::size_t late_alarms = 0;
  for (std::size_t c = 0; c < 30; ++c) early += m->score({rows.data() + c * kDim, kDim}).t2 / 30;
  for (std::size_t c = cycles - 30; c < cycles; ++c) {
    const auto s = m->score({rows.data() + c * kDim, kDim});
    late += s.t2 / 30;
    late_alarms += s.anomaly;
  }
  INFO("components " << m->components() << ", T2 limit " << m->t2_limit() << ", Q limit " << m->q_limit()
                     << ", early mean T2 " << early << ", late mean T2 " << late << ", late alarms "
                     << late_alarms << "/30");
  CHECK(late > 5 * early);
  CHECK(late_alarms >= 25);
}

}  // namespace
}  // namespace vigil::models
