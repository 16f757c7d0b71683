// snapshot() and restore() of tumbling and hopping windows.
#include <cstddef>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "window_harness.hpp"

namespace vigil::test {
namespace {

using namespace literals;

void first_half(WindowHarness& h) {
  h.record("press-1", kT0 + 1_s, {{"temp", 20}, {"vib", 0.1}});
  h.record("pump-1", kT0 + 2_s, {{"temp", 30}});
  h.record("press-1", kT0 + 13_s, {{"temp", 22}, {"vib", 0.3}});  // watermark 11s: [0, 10) fires
  h.record("pump-1", kT0 + 9_s, {{"vib", 0.7}});
}

void second_half(WindowHarness& h) {
  h.record("press-1", kT0 + 8_s, {{"temp", 99}});   // late for press-1
  h.record("pump-1", kT0 + 14_s, {{"temp", 31}});   // watermark 12s: pump-1's [0, 10) fires
  h.record("fan-1", kT0 + 15_s, {{"temp", 5}});
  h.record("press-1", kT0 + 19_s, {{"temp", 24}});
  h.flush();
}

}  // namespace

TEST_CASE("an operator restored from a snapshot continues exactly as the original",
          "[operators][tumbling][hopping]") {
  const char* window = GENERATE("{type: tumbling, size: 10s, late: emit}",
                                "{type: hopping, size: 10s, hop: 5s, offset: 1s, allowed_lateness: 1s, late: emit}");
  WindowOptions o;
  o.max_out_of_order = 2_s;
  const char* aggs = "[count, mean(temp), stddev(temp), first(vib), last(vib), kurtosis(temp)]";
  WindowHarness original(window, aggs, o);
  first_half(original);
  std::vector<std::byte> state;
  original.op().snapshot(state);
  original.take();

  WindowHarness restored(window, aggs, o);
  auto r = restored.op().restore(state);
  REQUIRE(r.ok());
  second_half(original);
  second_half(restored);

  CHECK_FALSE(original.summaries().empty());
  CHECK(restored.json() == original.json());
  CHECK(restored.counters().late.get() == original.counters().late.get());
}

TEST_CASE("a restored per-source operator keeps the source's watermark", "[operators][tumbling]") {
  WindowOptions o;
  o.watermark = runtime::WatermarkScope::per_source;
  WindowHarness original("{type: tumbling, size: 10s, late: emit}", "[count]", o);
  original.record("a", kT0 + 12_s, {{"temp", 1}});  // source watermark 12s: [0s, 10s) is closed for every key
  std::vector<std::byte> state;
  original.op().snapshot(state);
  WindowHarness restored("{type: tumbling, size: 10s, late: emit}", "[count]", o);
  REQUIRE(restored.op().restore(state).ok());

  for (auto* h : {&original, &restored}) {
    h->take();
    h->record("b", kT0 + 5_s, {{"temp", 2}});  // behind the source watermark: late
    h->flush();
  }

  CHECK(original.counters().late.get() == 1);
  CHECK(restored.counters().late.get() == original.counters().late.get());
  CHECK(restored.json() == original.json());
}

TEST_CASE("restoring a snapshot of a differently configured window is refused", "[operators][tumbling]") {
  WindowHarness original("{type: tumbling, size: 10s}", "[count, mean(temp)]");
  first_half(original);
  std::vector<std::byte> state;
  original.op().snapshot(state);

  SECTION("another size") {
    WindowHarness other("{type: tumbling, size: 5s}", "[count, mean(temp)]");
    auto r = other.op().restore(state);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "window state does not match this window's configuration");
  }
  SECTION("other aggregated fields") {
    WindowHarness other("{type: tumbling, size: 10s}", "[count, mean(temp), max(vib)]");
    auto r = other.op().restore(state);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "window state does not match this window's configuration");
  }
  SECTION("a truncated snapshot") {
    WindowHarness same("{type: tumbling, size: 10s}", "[count, mean(temp)]");
    state.resize(state.size() - 3);
    auto r = same.op().restore(state);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "window state does not match this window's configuration");
  }
}

TEST_CASE("a snapshot of an empty operator restores to an empty operator", "[operators][tumbling]") {
  WindowHarness original("{type: tumbling, size: 10s}", "[count]");
  std::vector<std::byte> state;
  original.op().snapshot(state);
  WindowHarness restored("{type: tumbling, size: 10s}", "[count]");
  REQUIRE(restored.op().restore(state).ok());
  restored.flush();
  CHECK(restored.summaries().empty());
}

}  // namespace vigil::test

namespace vigil::test {

TEST_CASE("every window type restored from a snapshot continues exactly as the original also with two workers",
          "[operators][checkpoint]") {
  const char* window = GENERATE("{type: tumbling, size: 10s}", "{type: hopping, size: 10s, hop: 5s}",
                                "{type: session, gap: 5s}", "{type: count, size: 2}", "{type: sliding, size: 10s}");
  const std::uint32_t workers = GENERATE(1u, 2u);
  INFO(window << " workers " << workers);
  const std::string aggs = std::string(window).find("sliding") != std::string::npos
                               ? "[count, mean(temp), max(temp)]"
                               : "[count, mean(temp), max(temp), p90(temp)]";
  WindowOptions o;
  o.max_out_of_order = 2_s;
  o.workers = workers;
  WindowHarness original(window, aggs, o);
  first_half(original);
  std::vector<std::byte> state;
  original.op().snapshot(state);
  original.take();

  WindowHarness restored(window, aggs, o);
  REQUIRE(restored.op().restore(state).ok());
  second_half(original);
  second_half(restored);
  CHECK_FALSE(original.summaries().empty());
  CHECK(restored.json() == original.json());

  if (workers == 2) {
    WindowOptions one = o;
    one.workers = 1;
    WindowHarness other(window, aggs, one);
    CHECK_FALSE(other.op().restore(state).ok());  // saved by two workers: refused by one
  }
}

}  // namespace vigil::test
