// `workers: N` for every window type: the same random stream (many keys, disorder, late records,
// idle keys closed by clock ticks) through 2 and 4 workers, fed in random batches, gives line for
// line what one worker gives, with the same counters. (Tumbling and hopping windows are also
// checked on the differential test's streams.)
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "window_harness.hpp"

namespace vigil::test {
namespace {

using namespace literals;
using runtime::Event;
using runtime::Nanos;

struct Item {
  bool tick = false;
  int key = 0;
  Nanos t = 0;
  double x = 0, y = 0;
  bool has_y = true;
};

std::vector<Item> make_stream(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Item> out;
  std::vector<Nanos> clock(12, kT0);
  Nanos now = 1'000_s;
  for (int i = 0; i < 3000; ++i) {
    if (rng() % 40 == 0) {
      now += static_cast<Nanos>(rng() % 3000) * 1_ms;
      out.push_back(Item{true, 0, now, 0, 0, false});
      continue;
    }
    Item it;
    it.key = static_cast<int>(rng() % 12);
    if (it.key >= 9 && (i / 700) % 2 == 1) continue;  // some keys fall silent for a while
    clock[it.key] += static_cast<Nanos>(rng() % 900) * 1_ms;
    it.t = clock[it.key] - (rng() % 5 == 0 ? static_cast<Nanos>(rng() % 4000) * 1_ms : 0);  // disorder, some late
    it.x = static_cast<double>(static_cast<std::int64_t>(rng() % 2001) - 1000) / 10.0;
    it.y = static_cast<double>(rng() % 100);
    it.has_y = rng() % 7 != 0;
    out.push_back(it);
  }
  return out;
}

struct Output {
  std::vector<std::string> lines;
  std::uint64_t records = 0, late = 0, windows = 0, partial = 0, truncated = 0;
};

Output run(const char* window, const char* aggregates, const std::vector<Item>& stream, std::uint32_t workers,
           std::uint64_t seed) {
  WindowOptions o;
  o.max_out_of_order = 1_s;
  o.idle_timeout = 5_s;
  o.max_keys = 16;
  o.workers = workers;
  WindowHarness h(window, aggregates, o);
  REQUIRE(h.ok());
  // Intern every key first, in one order, as the source would when it first sees them.
  for (int k = 0; k < 12; ++k) h.key("m" + std::to_string(k));
  std::vector<Event> events;
  std::mt19937_64 rng(seed);
  std::size_t in_batch = 0, batch = 1;
  auto send = [&] {
    h.process(events);
    events.clear();
    in_batch = 0;
    batch = workers == 1 ? 1 : 1 + rng() % 50;
  };
  for (const Item& it : stream) {
    if (it.tick) {
      events.push_back(WindowHarness::tick_event(it.t));
    } else if (it.has_y) {
      const FieldValue v[] = {{"x", it.x}, {"y", it.y}};
      h.append_record(events, "m" + std::to_string(it.key), it.t, v);
    } else {
      const FieldValue v[] = {{"x", it.x}};
      h.append_record(events, "m" + std::to_string(it.key), it.t, v);
    }
    if (++in_batch >= batch) send();
  }
  send();
  h.flush();
  Output out;
  out.lines = h.json();
  const auto& c = h.counters();
  out.records = c.records.get();
  out.late = c.late.get();
  out.windows = c.windows.get();
  out.partial = c.partial.get();
  out.truncated = c.truncated.get();
  return out;
}

void check_workers(const char* window, const char* aggregates) {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    const auto stream = make_stream(seed);
    const Output one = run(window, aggregates, stream, 1, seed);
    REQUIRE(one.lines.size() > 20);
    for (std::uint32_t workers : {2u, 4u}) {
      INFO(window << ", seed " << seed << ", " << workers << " workers");
      const Output many = run(window, aggregates, stream, workers, seed);
      REQUIRE(many.lines.size() == one.lines.size());
      for (std::size_t i = 0; i < one.lines.size(); ++i) {
        INFO("line " << i);
        REQUIRE(many.lines[i] == one.lines[i]);
      }
      CHECK(many.records == one.records);
      CHECK(many.late == one.late);
      CHECK(many.windows == one.windows);
      CHECK(many.partial == one.partial);
      CHECK(many.truncated == one.truncated);
    }
  }
}

TEST_CASE("session windows give the same output with 1 or 2 or 4 workers", "[operators][session][workers]") {
  check_workers("{type: session, gap: 2s, max_open: 2, allowed_lateness: 500ms, late: emit}",
                "[count, mean(x), max(y), p50(x)]");
}

TEST_CASE("count windows give the same output with 1 or 2 or 4 workers", "[operators][count][workers]") {
  check_workers("{type: count, size: 20, every: 5}", "[count, sum(x), min(y), p90(x)]");
}

TEST_CASE("sliding windows give the same output with 1 or 2 or 4 workers", "[operators][sliding][workers]") {
  check_workers("{type: sliding, size: 3s, max_samples: 15, late: emit}", "[count, mean(x), min(x), max(y)]");
}

TEST_CASE("tumbling windows with quantiles give the same output with 1 or 2 or 4 workers",
          "[operators][tumbling][workers]") {
  check_workers("{type: tumbling, size: 5s, late: emit}", "[count, p50(x), p99(x), stddev(y)]");
}

TEST_CASE("hopping windows give the same output with 1 or 2 or 4 workers", "[operators][hopping][workers]") {
  check_workers("{type: hopping, size: 6s, hop: 2s, allowed_lateness: 1s}", "[count, mean(x), p50(y)]");
}

}  // namespace
}  // namespace vigil::test
