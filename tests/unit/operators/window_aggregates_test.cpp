// Every aggregate over one window, worked out by hand on the data set 2, 4, 4, 4, 5, 5, 7, 9:
// n 8, sum 40, mean 5, deviations -3 -1 -1 -1 0 0 2 4, so m2 = 32, m3 = 42, m4 = 356;
// variance 32/7, variance_pop 4, stddev_pop 2, rms sqrt(232/8) = sqrt(29),
// skewness sqrt(8) * 42 / 32^1.5 = 84/128 = 0.65625, kurtosis 8 * 356 / 32^2 = 2.78125,
// crest factor 9 / sqrt(29).
#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "window_harness.hpp"

namespace vigil::test {
namespace {

using namespace literals;

constexpr const char* kEvery =
    "[count, count(x), sum(x), mean(x), min(x), max(x), first(x), last(x), stddev(x), variance(x),"
    " stddev_pop(x), variance_pop(x), rms(x), peak_to_peak(x), rate(x), skewness(x), kurtosis(x), crest_factor(x)]";

// Arrival order with event times: first is the earliest time (1s; of the two there, the first to
// arrive: 2), last the latest time (6s; of the two there, the last to arrive: 9).
struct Point {
  double x;
  runtime::Nanos t;
};
constexpr Point kData[] = {{4, 3_s}, {2, 1_s}, {4, 1_s}, {5, 6_s}, {7, 2_s}, {9, 6_s}, {4, 5_s}, {5, 4_s}};

void check_every_aggregate(WindowHarness& h, const CapturedSummary& s) {
  CHECK(s.count == 8);
  CHECK(h.value(s, "x_count") == 8);
  CHECK(h.value(s, "x_sum") == 40);
  CHECK(h.value(s, "x_mean") == 5);
  CHECK(h.value(s, "x_min") == 2);
  CHECK(h.value(s, "x_max") == 9);
  CHECK(h.value(s, "x_first") == 2);
  CHECK(h.value(s, "x_last") == 9);
  CHECK(h.value(s, "x_stddev") == Approx(std::sqrt(32.0 / 7)).epsilon(1e-12));
  CHECK(h.value(s, "x_variance") == Approx(32.0 / 7).epsilon(1e-12));
  CHECK(h.value(s, "x_stddev_pop") == Approx(2).epsilon(1e-12));
  CHECK(h.value(s, "x_variance_pop") == Approx(4).epsilon(1e-12));
  CHECK(h.value(s, "x_rms") == Approx(std::sqrt(29.0)).epsilon(1e-12));
  CHECK(h.value(s, "x_peak_to_peak") == 7);
  CHECK(h.value(s, "x_rate") == Approx(7.0 / 5).epsilon(1e-12));  // (9 - 2) / (6s - 1s)
  CHECK(h.value(s, "x_skewness") == Approx(0.65625).epsilon(1e-12));
  CHECK(h.value(s, "x_kurtosis") == Approx(2.78125).epsilon(1e-12));
  CHECK(h.value(s, "x_crest_factor") == Approx(9 / std::sqrt(29.0)).epsilon(1e-12));
}

}  // namespace

TEST_CASE("every aggregate of one tumbling window matches the hand-worked values", "[operators][tumbling]") {
  WindowOptions o;
  o.max_out_of_order = 10_s;
  WindowHarness h("{type: tumbling, size: 10s}", kEvery, o);
  for (const auto& p : kData) h.record("a", kT0 + p.t, {{"x", p.x}});
  h.flush();

  REQUIRE(h.summaries().size() == 1);
  check_every_aggregate(h, h.summaries()[0]);
}

TEST_CASE("every aggregate merged from hopping slices matches the hand-worked values", "[operators][hopping]") {
  // With hop 1s each record sits in its own slice; [0s, 10s) merges them all.
  WindowOptions o;
  o.max_out_of_order = 10_s;
  WindowHarness h("{type: hopping, size: 10s, hop: 1s}", kEvery, o);
  for (const auto& p : kData) h.record("a", kT0 + p.t, {{"x", p.x}});
  h.flush();

  const CapturedSummary* whole = nullptr;
  for (const auto& s : h.summaries())
    if (s.start == kT0 && s.end == kT0 + 10_s) whole = &s;
  REQUIRE(whole != nullptr);
  check_every_aggregate(h, *whole);
}

TEST_CASE("variance and higher moments stay exact on values with a large common offset",
          "[operators][tumbling][hopping]") {
  // 1e9 + {4, 7, 13, 16}: mean 1e9 + 10, deviations -6 -3 3 6, m2 = 90, m3 = 0, m4 = 2754.
  // A sum-of-squares formula loses every digit here; the streaming moments must not.
  const char* window = GENERATE("{type: tumbling, size: 10s}", "{type: hopping, size: 10s, hop: 1s}");
  WindowOptions o;
  o.max_out_of_order = 10_s;
  WindowHarness h(window, "[variance(x), stddev_pop(x), skewness(x), kurtosis(x), mean(x)]", o);
  const double xs[] = {1e9 + 4, 1e9 + 16, 1e9 + 7, 1e9 + 13};
  runtime::Nanos t = 1_s;
  for (double x : xs) h.record("a", kT0 + (t += 2_s), {{"x", x}});
  h.flush();

  const CapturedSummary* whole = nullptr;
  for (const auto& s : h.summaries())
    if (s.start == kT0 && s.end == kT0 + 10_s) whole = &s;
  REQUIRE(whole != nullptr);
  CHECK(whole->count == 4);
  CHECK(h.value(*whole, "x_variance") == Approx(30).epsilon(1e-9));
  CHECK(h.value(*whole, "x_stddev_pop") == Approx(std::sqrt(22.5)).epsilon(1e-9));
  CHECK(h.value(*whole, "x_skewness") == Approx(0).margin(1e-9));
  CHECK(h.value(*whole, "x_kurtosis") == Approx(4 * 2754.0 / (90.0 * 90.0)).epsilon(1e-9));
  CHECK(h.value(*whole, "x_mean") == 1e9 + 10);
}

TEST_CASE("aggregates undefined for one value are null - population ones are defined", "[operators][tumbling]") {
  WindowHarness h("{type: tumbling, size: 10s}",
                  "[stddev(x), variance(x), stddev_pop(x), variance_pop(x), skewness(x), kurtosis(x), rate(x), "
                  "crest_factor(x), peak_to_peak(x)]");
  h.record("a", kT0 + 1_s, {{"x", -3}});
  h.flush();

  REQUIRE(h.summaries().size() == 1);
  CHECK(h.summaries()[0].json ==
        R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":1,"x_stddev":null,)"
        R"("x_variance":null,"x_stddev_pop":0,"x_variance_pop":0,"x_skewness":null,"x_kurtosis":null,)"
        R"("x_rate":null,"x_crest_factor":1,"x_peak_to_peak":0,"partial":true})");
}

TEST_CASE("rate is null when first and last share their time - crest factor is null for all zeros",
          "[operators][tumbling]") {
  WindowHarness h("{type: tumbling, size: 10s}", "[rate(x), crest_factor(x), skewness(x), first(x), last(x)]");
  h.record("a", kT0 + 1_s, {{"x", 0}});
  h.record("a", kT0 + 1_s, {{"x", 0}});
  h.flush();

  REQUIRE(h.summaries().size() == 1);
  CHECK(h.summaries()[0].json ==
        R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":2,"x_rate":null,)"
        R"("x_crest_factor":null,"x_skewness":null,"x_first":0,"x_last":0,"partial":true})");
}

TEST_CASE("a window with only the record count needs no field", "[operators][tumbling][hopping]") {
  const char* window = GENERATE("{type: tumbling, size: 10s}", "{type: hopping, size: 10s, hop: 5s}");
  WindowHarness h(window, "[count]");
  h.record("a", kT0 + 6_s, {{"temp", 1}});
  h.record("a", kT0 + 7_s, {{"vib", 2}});
  h.flush();

  REQUIRE_FALSE(h.summaries().empty());
  CHECK(h.summaries()[0].json ==
        R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":2,"partial":true})");
}

TEST_CASE("count(field) counts the values present while count counts records", "[operators][tumbling]") {
  WindowHarness h("{type: tumbling, size: 10s}", "[count, count(temp), count(vib), mean(temp), sum(vib)]");
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.record("a", kT0 + 2_s, {{"vib", 2}});
  h.record("a", kT0 + 3_s, {{"temp", 3}, {"vib", 4}});
  h.flush();

  REQUIRE(h.summaries().size() == 1);
  CHECK(h.summaries()[0].json ==
        R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":3,"temp_count":2,)"
        R"("vib_count":2,"temp_mean":2,"vib_sum":6,"partial":true})");
}

TEST_CASE("first and last follow event time, not arrival", "[operators][tumbling]") {
  WindowOptions o;
  o.max_out_of_order = 10_s;
  WindowHarness h("{type: tumbling, size: 10s}", "[first(x), last(x), rate(x)]", o);
  h.record("a", kT0 + 8_s, {{"x", 30}});
  h.record("a", kT0 + 2_s, {{"x", 10}});
  h.record("a", kT0 + 5_s, {{"x", 20}});
  h.flush();

  REQUIRE(h.summaries().size() == 1);
  CHECK(h.value(h.summaries()[0], "x_first") == 10);
  CHECK(h.value(h.summaries()[0], "x_last") == 30);
  CHECK(h.value(h.summaries()[0], "x_rate") == Approx(20.0 / 6).epsilon(1e-12));
}

}  // namespace vigil::test
