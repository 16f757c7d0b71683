// EWMA and CUSUM on hand-made series: statistics, limits, and when alarms raise and clear.
#include <cmath>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "allocation_counter.hpp"
#include "vigil/models/control_charts.hpp"

namespace vigil::models {
namespace {

TEST_CASE("ewma follows the recursion with exact time-varying limits", "[models][ewma]") {
  EwmaOptions o;
  o.lambda = 0.2;
  o.width = 3;
  o.baseline.mean = 0;
  o.baseline.std_dev = 1;
  o.hysteresis.clear_after = 3;
  auto e = Ewma::create(o);
  REQUIRE(e.ok());
  // sigma_z(t) = sqrt(0.2/1.8 (1 - 0.8^(2t))): t=1 0.2, t=2 0.256125, t=3 0.286329,
  // t=4 0.304090, t=5 0.314932.
  auto p = e->update(5);  // z = 1.0 > 0.6: raised
  CHECK(p.statistic == Approx(1.0));
  CHECK(p.upper == Approx(0.6));
  CHECK(p.lower == Approx(-0.6));
  CHECK(p.alarm);
  CHECK(p.change == AlarmChange::raised);
  p = e->update(0);  // z = 0.8 > 0.768375: still outside
  CHECK(p.statistic == Approx(0.8));
  CHECK(p.upper == Approx(0.768375).epsilon(1e-5));
  CHECK(p.alarm);
  CHECK(p.change == AlarmChange::none);
  p = e->update(0);  // z = 0.64 < 0.858986: inside 1
  CHECK(p.upper == Approx(0.858986).epsilon(1e-5));
  CHECK(p.alarm);
  p = e->update(0);  // z = 0.512: inside 2
  CHECK(p.alarm);
  p = e->update(0);  // z = 0.4096: inside 3, cleared
  CHECK(p.statistic == Approx(0.4096));
  CHECK(p.upper == Approx(0.944796).epsilon(1e-5));
  CHECK_FALSE(p.alarm);
  CHECK(p.change == AlarmChange::cleared);
}

TEST_CASE("ewma clear run restarts when the statistic leaves the clear band", "[models][ewma]") {
  EwmaOptions o;
  o.lambda = 1;  // z = x: a Shewhart chart with limits +-3
  o.hysteresis.clear_after = 2;
  auto e = Ewma::create(o);
  REQUIRE(e.ok());
  const double x[] = {4, 1, 3.5, 1, 1, -5};
  const bool alarm[] = {true, true, true, true, false, true};
  const AlarmChange change[] = {AlarmChange::raised, AlarmChange::none, AlarmChange::none,
                                AlarmChange::none, AlarmChange::cleared, AlarmChange::raised};
  for (std::size_t i = 0; i < 6; ++i) {
    auto p = e->update(x[i]);
    CHECK(p.alarm == alarm[i]);
    CHECK(p.change == change[i]);
  }
}

TEST_CASE("ewma clear fraction demands the statistic well inside the limits", "[models][ewma]") {
  EwmaOptions o;
  o.lambda = 1;
  o.hysteresis.clear_after = 1;
  o.hysteresis.clear_fraction = 0.5;  // back inside +-1.5
  auto e = Ewma::create(o);
  REQUIRE(e.ok());
  CHECK(e->update(4).change == AlarmChange::raised);
  CHECK(e->update(2).alarm);  // inside the limits, not inside the clear band
  CHECK(e->update(1).change == AlarmChange::cleared);
}

TEST_CASE("ewma learns its baseline from the first values", "[models][ewma]") {
  EwmaOptions o;
  o.baseline.learn = 5;
  auto e = Ewma::create(o);
  REQUIRE(e.ok());
  for (double x : {1.0, 2.0, 3.0, 4.0, 5.0}) {
    auto p = e->update(x);
    CHECK(p.learning);
    CHECK_FALSE(p.alarm);
  }
  CHECK_FALSE(e->learning());
  CHECK(e->mean() == Approx(3));
  CHECK(e->std_dev() == Approx(std::sqrt(2.5)));
  auto p = e->update(3);
  CHECK_FALSE(p.learning);
  CHECK(p.statistic == Approx(3));
  CHECK(p.upper == Approx(3 + 3 * std::sqrt(2.5) * 0.2));
  CHECK(e->update(std::numeric_limits<double>::quiet_NaN()).statistic == Approx(3));
  CHECK(e->skipped() == 1);
}

TEST_CASE("ewma refuses bad options with a message", "[models][ewma][config]") {
  EwmaOptions o;
  o.lambda = 0;
  auto e = Ewma::create(o);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().message == "ewma lambda must be in (0, 1]");
  o = {};
  o.baseline.learn = 1;
  CHECK(Ewma::create(o).error().message == "ewma baseline learn must be 0 (given mean and std) or at least 2");
  o = {};
  o.hysteresis.clear_after = 0;
  CHECK(Ewma::create(o).error().message == "ewma hysteresis clear_after must be at least 1");
}

TEST_CASE("cusum accumulates an upward shift and clears after the hysteresis", "[models][cusum]") {
  CusumOptions o;
  o.k = 0.5;
  o.h = 4;
  o.baseline.mean = 10;
  o.baseline.std_dev = 2;
  o.hysteresis.clear_after = 2;
  auto c = Cusum::create(o);
  REQUIRE(c.ok());
  // u = (x - 10) / 2: 0 0 2 2 2 0 0 0. C+ = 0 0 1.5 3 4.5 4 3.5 3.
  const double x[] = {10, 10, 14, 14, 14, 10, 10, 10};
  const double upper[] = {0, 0, 1.5, 3, 4.5, 4, 3.5, 3};
  const bool alarm[] = {false, false, false, false, true, true, false, false};
  for (std::size_t i = 0; i < 8; ++i) {
    auto p = c->update(x[i]);
    CHECK(p.upper == Approx(upper[i]));
    CHECK(p.lower == 0);
    CHECK(p.alarm == alarm[i]);
  }
}

TEST_CASE("cusum detects a downward shift on its lower sum", "[models][cusum]") {
  CusumOptions o;
  o.k = 0.5;
  o.h = 2;
  o.hysteresis.clear_after = 1;
  auto c = Cusum::create(o);
  REQUIRE(c.ok());
  // u = -1.5 three times: C- = 1, 2, 3 (raised at 3 > 2); then u = 1: C- = 1.5, C+ = 0.5: cleared.
  CHECK(c->update(-1.5).lower == Approx(1));
  CHECK(c->update(-1.5).lower == Approx(2));
  auto p = c->update(-1.5);
  CHECK(p.lower == Approx(3));
  CHECK(p.change == AlarmChange::raised);
  p = c->update(1);
  CHECK(p.lower == Approx(1.5));
  CHECK(p.upper == Approx(0.5));
  CHECK(p.change == AlarmChange::cleared);
}

TEST_CASE("cusum learns its baseline from the first values", "[models][cusum]") {
  CusumOptions o;
  o.baseline.learn = 4;
  auto c = Cusum::create(o);
  REQUIRE(c.ok());
  for (double x : {2.0, 4.0, 2.0, 4.0}) CHECK(c->update(x).learning);
  CHECK(c->mean() == Approx(3));
  CHECK(c->std_dev() == Approx(std::sqrt(4.0 / 3)));
  CHECK(c->update(3 + 2 * std::sqrt(4.0 / 3)).upper == Approx(1.5));
}

TEST_CASE("charts update without allocating", "[models][ewma][cusum][alloc]") {
  auto e = Ewma::create({});
  auto c = Cusum::create({});
  REQUIRE(e.ok());
  REQUIRE(c.ok());
  double sum = 0;
  test::AllocationCounter allocs;
  for (int i = 0; i < 1000; ++i) {
    const double x = std::sin(i * 0.1) * (i > 500 ? 4 : 1);
    sum += e->update(x).statistic + c->update(x).upper;
  }
  CHECK(allocs.count() == 0);
  CHECK(std::isfinite(sum));
}

}  // namespace
}  // namespace vigil::models
