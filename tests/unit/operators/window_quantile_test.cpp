// Quantile aggregates (p50, p99, pNN) in windows, against the exact nearest-rank quantile of
// each window's values: exact while a window's values fit one sketch, within the stated rank
// error beyond; for every window type that supports them, with late records, snapshots and the
// load-time checks.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "vigil/operators/aggregates.hpp"
#include "vigil/operators/quantile_sketch.hpp"
#include "window_harness.hpp"

namespace vigil::test {
namespace {

using namespace literals;
using runtime::Nanos;

double exact_quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  if (q <= 0) return v.front();
  if (q >= 1) return v.back();
  return v[operators::nearest_rank(q, v.size()) - 1];
}

// Rank error of `answer` as the q-quantile of `v` (0 when it holds the wanted rank).
double rank_error(std::vector<double> v, double q, double answer) {
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  const auto want = operators::nearest_rank(q, n);
  const auto lo = static_cast<std::size_t>(std::lower_bound(v.begin(), v.end(), answer) - v.begin()) + 1;
  const auto hi = static_cast<std::size_t>(std::upper_bound(v.begin(), v.end(), answer) - v.begin());
  if (hi < lo) return 1.0;
  if (want >= lo && want <= hi) return 0.0;
  return static_cast<double>(want < lo ? lo - want : want - hi) / static_cast<double>(n);
}

TEST_CASE("quantile names parse to their fractions", "[operators][quantile]") {
  using operators::parse_quantile_name;
  CHECK(parse_quantile_name("p50") == 0.5);
  CHECK(parse_quantile_name("p5") == 0.05);
  CHECK(parse_quantile_name("p99") == 0.99);
  CHECK(parse_quantile_name("p999") == Approx(0.999));
  CHECK(parse_quantile_name("p9999") == Approx(0.9999));
  CHECK(parse_quantile_name("p100") == 1.0);
  CHECK(parse_quantile_name("p0") == 0.0);
  CHECK_FALSE(parse_quantile_name("p"));
  CHECK_FALSE(parse_quantile_name("p050"));
  CHECK_FALSE(parse_quantile_name("p9x"));
  CHECK_FALSE(parse_quantile_name("q50"));
}

TEST_CASE("tumbling quantiles equal the exact quantiles of each window", "[operators][quantile][tumbling]") {
  WindowOptions o;
  o.max_out_of_order = 2_s;
  WindowHarness h("{type: tumbling, size: 10s}",
                  "[count, p5(x), p50(x), median(x), p90(x), p99(x), p999(x), p100(x), max(x)]", o);
  REQUIRE(h.ok());
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0, 30);
  std::map<std::pair<std::string, Nanos>, std::vector<double>> truth;
  // 3 keys, 40 values per second each, out of order by up to 2 s: 400 values per window.
  for (int i = 0; i < 3 * 40 * 35; ++i) {
    const std::string key = "k" + std::to_string(i % 3);
    const Nanos t = kT0 + (i / 3) * 25_ms - static_cast<Nanos>(rng() % 2'000) * 1_ms;
    const double x = noise(rng) + (i % 3 == 2 ? -1000.0 : 0.0);
    h.record(key, t, {{"x", x}});
    truth[{key, kT0 + (t - kT0) / 10_s * 10_s - (t < kT0 ? 10_s : 0)}].push_back(x);
  }
  h.flush();
  REQUIRE(h.summaries().size() == truth.size());
  for (const auto& s : h.summaries()) {
    const auto& v = truth.at({s.key, s.start});
    INFO(s.json);
    REQUIRE(s.count == v.size());
    CHECK(h.value(s, "x_p5") == exact_quantile(v, 0.05));
    CHECK(h.value(s, "x_p50") == exact_quantile(v, 0.5));
    CHECK(h.value(s, "x_median") == h.value(s, "x_p50"));
    CHECK(h.value(s, "x_p90") == exact_quantile(v, 0.9));
    CHECK(h.value(s, "x_p99") == exact_quantile(v, 0.99));
    CHECK(h.value(s, "x_p999") == exact_quantile(v, 0.999));
    CHECK(h.value(s, "x_p100") == h.value(s, "x_max"));
  }
}

TEST_CASE("hopping quantiles merge slices within the stated rank error", "[operators][quantile][hopping]") {
  // 60 s windows every 1 s over 200 values per second: 12,000 values per window, far more
  // than one 4 KiB sketch holds, merged from 60 slice sketches.
  WindowHarness h("{type: hopping, size: 60s, hop: 1s}", "[count, p50(x), p99(x), p999(x)]");
  REQUIRE(h.ok());
  const double bound = operators::KllShape::from_budget(4096).rank_error();
  std::mt19937_64 rng(9);
  std::lognormal_distribution<double> heavy(0, 2);
  std::vector<std::pair<Nanos, double>> all;
  for (int i = 0; i < 200 * 90; ++i) {
    const Nanos t = kT0 + i * 5_ms;
    const double x = (i % 2 ? -1 : 1) * heavy(rng);
    all.emplace_back(t, x);
    h.record("m", t, {{"x", x}});
  }
  h.flush();
  int checked = 0;
  for (const auto& s : h.summaries()) {
    if (s.partial() || s.end - s.start != 60_s) continue;
    std::vector<double> v;
    for (const auto& [t, x] : all)
      if (t >= s.start && t < s.end) v.push_back(x);
    REQUIRE(s.count == v.size());
    INFO(s.json);
    CHECK(rank_error(v, 0.5, h.value(s, "x_p50")) <= bound);
    CHECK(rank_error(v, 0.99, h.value(s, "x_p99")) <= bound);
    CHECK(rank_error(v, 0.999, h.value(s, "x_p999")) <= bound);
    ++checked;
  }
  CHECK(checked >= 25);
}

TEST_CASE("session and count windows answer quantiles exactly for small windows", "[operators][quantile]") {
  SECTION("session") {
    WindowHarness h("{type: session, gap: 5s}", "[count, p50(x), p90(x)]");
    REQUIRE(h.ok());
    std::vector<double> first, second;
    for (int i = 0; i < 50; ++i) {
      const double x = (i * 37) % 50;
      h.record("m", kT0 + i * 1_s, {{"x", x}});  // one session, then a gap
      first.push_back(x);
    }
    for (int i = 0; i < 30; ++i) {
      const double x = -((i * 11) % 30);
      h.record("m", kT0 + 100_s + i * 2_s, {{"x", x}});
      second.push_back(x);
    }
    h.flush();
    REQUIRE(h.summaries().size() == 2);
    CHECK(h.value(h.summaries()[0], "x_p50") == exact_quantile(first, 0.5));
    CHECK(h.value(h.summaries()[0], "x_p90") == exact_quantile(first, 0.9));
    CHECK(h.value(h.summaries()[1], "x_p50") == exact_quantile(second, 0.5));
  }
  SECTION("sessions bridged by a record merge their sketches") {
    WindowOptions o;
    o.max_out_of_order = 30_s;
    WindowHarness h("{type: session, gap: 5s}", "[count, p50(x), p100(x)]", o);
    REQUIRE(h.ok());
    std::vector<double> all;
    for (int i = 0; i < 10; ++i) h.record("m", kT0 + i * 1_s, {{"x", double(i)}}), all.push_back(i);
    for (int i = 0; i < 10; ++i) h.record("m", kT0 + 17_s + i * 1_s, {{"x", 100.0 + i}}), all.push_back(100.0 + i);
    h.record("m", kT0 + 13_s, {{"x", 50.0}});  // bridges both
    all.push_back(50.0);
    h.flush();
    REQUIRE(h.summaries().size() == 1);
    CHECK(h.summaries()[0].count == 21);
    CHECK(h.value(h.summaries()[0], "x_p50") == exact_quantile(all, 0.5));
    CHECK(h.value(h.summaries()[0], "x_p100") == 109.0);
  }
  SECTION("count") {
    WindowHarness h("{type: count, size: 100, every: 25}", "[count, p50(x), p99(x)]");
    REQUIRE(h.ok());
    std::vector<double> xs;
    for (int i = 0; i < 300; ++i) {
      xs.push_back(std::sin(i * 0.37) * 100);
      h.record("m", kT0 + i * 10_ms, {{"x", xs.back()}});
    }
    REQUIRE(h.summaries().size() == 12);
    for (std::size_t w = 0; w < h.summaries().size(); ++w) {
      const auto& s = h.summaries()[w];
      const std::size_t end = 25 * (w + 1), begin = end > 100 ? end - 100 : 0;
      std::vector<double> v(xs.begin() + static_cast<long>(begin), xs.begin() + static_cast<long>(end));
      CHECK(h.value(s, "x_p50") == exact_quantile(v, 0.5));
      CHECK(h.value(s, "x_p99") == exact_quantile(v, 0.99));
    }
  }
}

TEST_CASE("a late record's own summary has its value as every quantile", "[operators][quantile][late]") {
  WindowHarness h("{type: tumbling, size: 10s, late: emit}", "[count, p50(x), p99(x)]");
  REQUIRE(h.ok());
  for (int i = 0; i < 30; ++i) h.record("m", kT0 + i * 1_s, {{"x", double(i)}});
  h.record("m", kT0 + 3_s, {{"x", -7.5}});  // its window fired long ago
  const auto& s = h.summaries().back();
  REQUIRE(s.late());
  CHECK(h.value(s, "x_p50") == -7.5);
  CHECK(h.value(s, "x_p99") == -7.5);
}

TEST_CASE("windows with quantiles restore from a snapshot and go on unchanged", "[operators][quantile][snapshot]") {
  const char* window = GENERATE("{type: tumbling, size: 10s}", "{type: hopping, size: 20s, hop: 5s}",
                                "{type: session, gap: 3s}", "{type: count, size: 500, every: 250}");
  INFO(window);
  const char* aggs = "[count, p50(x), p99(x), mean(y), p90(y)]";
  WindowOptions o;
  o.max_out_of_order = 1_s;
  WindowHarness whole(window, aggs, o), first(window, aggs, o), second(window, aggs, o);
  REQUIRE(whole.ok());
  auto feed = [](WindowHarness& h, int from, int to) {
    for (int i = from; i < to; ++i) {
      const Nanos t = kT0 + i * 7_ms + (i % 50 == 0 ? 4_s : 0);  // bursts leave session gaps
      h.record("k" + std::to_string(i % 4), t + (i / 1000) * 5_s, {{"x", std::cos(i * 0.01) * i}, {"y", double(i % 97)}});
    }
  };
  feed(whole, 0, 6000);
  whole.flush();
  feed(first, 0, 3000);
  std::vector<std::byte> snap;
  first.op().snapshot(snap);
  // The second operator sees the same keys in the same order, as a restarted pipeline would.
  for (int k = 0; k < 4; ++k) second.key("k" + std::to_string(k));
  REQUIRE(second.op().restore(snap).ok());
  feed(second, 3000, 6000);
  second.flush();
  auto expected = whole.json();
  auto got = first.json();
  for (const auto& line : second.json()) got.push_back(line);
  CHECK(got == expected);
}

TEST_CASE("a snapshot from another sketch size is refused", "[operators][quantile][snapshot]") {
  WindowOptions small;
  small.sketch_bytes = 2048;
  WindowHarness a("{type: tumbling, size: 10s}", "[count, p50(x)]", small);
  WindowHarness b("{type: tumbling, size: 10s}", "[count, p50(x)]");
  a.record("m", kT0, {{"x", 1.0}});
  std::vector<std::byte> snap;
  a.op().snapshot(snap);
  CHECK_FALSE(b.op().restore(snap).ok());
}

TEST_CASE("quantile configuration problems are reported at load", "[operators][quantile][config]") {
  SECTION("sliding windows have no sketches") {
    WindowHarness h("{type: sliding, size: 10s}", "[count, p99(x)]");
    CHECK_FALSE(h.ok());
    CHECK_THAT(h.errors(), Catch::Contains("use a tumbling or hopping window for quantiles"));
  }
  SECTION("sketch too small") {
    WindowOptions o;
    o.sketch_bytes = 512;
    WindowHarness h("{type: tumbling, size: 10s}", "[count, p99(x)]", o);
    CHECK_FALSE(h.ok());
    CHECK_THAT(h.errors(), Catch::Contains("too small for a quantile sketch"));
  }
  SECTION("sketch memory counts against max_state") {
    WindowOptions o;
    o.max_keys = 100'000;
    o.sketch_bytes = 64 * 1024;
    WindowHarness h("{type: hopping, size: 60s, hop: 1s}", "[count, p99(x)]", o);
    CHECK_FALSE(h.ok());
    CHECK_THAT(h.errors(), Catch::Contains("more than limits.max_state"));
  }
  SECTION("a quantile needs a field") {
    WindowHarness h("{type: tumbling, size: 10s}", "[count, p99]");
    CHECK_FALSE(h.ok());
    CHECK_THAT(h.errors(), Catch::Contains("p99 needs a field"));
  }
  SECTION("unknown names list the quantiles") {
    WindowHarness h("{type: tumbling, size: 10s}", "[count, p050(x)]");
    CHECK_FALSE(h.ok());
    CHECK_THAT(h.errors(), Catch::Contains("p999, pNN"));
  }
}

}  // namespace
}  // namespace vigil::test
