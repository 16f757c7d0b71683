// Sliding windows: hand-worked cases, and a differential test against a naive model on a
// thousand seeded random streams.
//
// The model shares no code with the operator. It keeps every raw record and applies the rules of
// docs/windows.md record by record:
// - per key, watermark = newest event time of the key - max_out_of_order;
// - a record is late when t + allowed_lateness < watermark (after the watermark took the record
//   into account): counted, and with late: emit sent alone as (t - size, t], "late": true;
// - every other record owes one result, over every on-time record of its key with time in
//   (t - size, t]; it is sent once the key's watermark passes t + allowed_lateness, results of a
//   key in order of (t, arrival);
// - flush sends the results still owed, partial, by (t, key first seen, arrival).
// Aggregates are computed from the raw values, in long double, when a result is sent. The random
// streams keep max_samples (1000) above what any key holds (at most 400 records); dropping samples has hand-worked cases.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "vigil/operators/operators.hpp"
#include "allocation_counter.hpp"
#include "window_harness.hpp"

namespace vigil::test {
namespace {

using namespace literals;
using runtime::Nanos;

Nanos at(Nanos offset) { return kT0 + offset; }

std::string window_error(const char* window) {
  WindowHarness h(window, "[count, mean(temp)]");
  CHECK_FALSE(h.ok());
  return h.errors();
}

// ---------------------------------------------------------------------------------------------
// Configuration.

TEST_CASE("a sliding window without a size says which key is missing", "[operators][sliding][config]") {
  CHECK(window_error("{type: sliding}") ==
        "window.yaml:1:1: pipelines[0].window: missing key \"size\" (Window length; each record's result covers "
        "(t - size, t].)");
}

TEST_CASE("a sliding window with an unknown key lists the valid ones", "[operators][sliding][config]") {
  CHECK(window_error("{type: sliding, size: 10s, sizes: 1s}") ==
        "window.yaml:1:28: pipelines[0].window: unknown key \"sizes\" (did you mean \"size\"?); valid keys: type, "
        "size, max_samples, allowed_lateness, late");
}

TEST_CASE("a sliding window's max_samples is range-checked", "[operators][sliding][config]") {
  CHECK(window_error("{type: sliding, size: 10s, max_samples: 0}") ==
        "window.yaml:1:41: pipelines[0].window.max_samples: 0 is out of range; use a value from 1 to 1000000");
  CHECK(window_error("{type: sliding, size: 10s, max_samples: 1000001}") ==
        "window.yaml:1:41: pipelines[0].window.max_samples: 1000001 is out of range; use a value from 1 to 1000000");
}

TEST_CASE("a sliding window whose samples exceed limits.max_state is refused before allocating",
          "[operators][sliding][config]") {
  WindowOptions o;
  o.max_keys = 4096;
  WindowHarness h("{type: sliding, size: 10s, max_samples: 1000000}", "[count, min(temp)]", o);
  CHECK_FALSE(h.ok());
  CHECK_THAT(h.errors(), Catch::Contains("more than limits.max_state"));
}

// ---------------------------------------------------------------------------------------------
// Hand-worked cases. Times are kT0 + offset; JSON start/end are ms since the epoch.

TEST_CASE("a record exactly size before another is not in its window - one nanosecond later is",
          "[operators][sliding]") {
  WindowHarness h("{type: sliding, size: 10s}", "[count, sum(temp), first(temp), last(temp)]");
  REQUIRE(h.ok());
  h.record("a", at(0_s), {{"temp", 1}});
  h.record("a", at(10_s), {{"temp", 2}});          // (0s, 10s]: the record at 0s is out
  h.record("a", at(20_s - 1_ns), {{"temp", 4}});   // (10s - 1ns, 20s - 1ns]: the record at 10s is in
  h.record("a", at(30_s), {{"temp", 8}});
  auto s = h.take();
  REQUIRE(s.size() == 3);
  CHECK(s[0].start == at(-10_s));
  CHECK(s[0].end == at(0_s));
  CHECK(s[0].count == 1);
  CHECK(s[1].start == at(0_s));
  CHECK(s[1].end == at(10_s));
  CHECK(s[1].count == 1);
  CHECK(h.value(s[1], "temp_sum") == 2);
  CHECK(s[2].count == 2);
  CHECK(h.value(s[2], "temp_sum") == 6);
  CHECK(h.value(s[2], "temp_first") == 2);
  CHECK(h.value(s[2], "temp_last") == 4);
  for (const auto& r : s) CHECK_FALSE(r.partial());
  CHECK(s[1].json ==
        "{\"pipeline\":\"p\",\"key\":\"a\",\"start\":1700000000000,\"end\":1700000010000,\"count\":1,"
        "\"temp_sum\":2,\"temp_first\":2,\"temp_last\":2}");
}

TEST_CASE("a result is sent when the watermark passes its record's time and flush sends the rest partial",
          "[operators][sliding]") {
  WindowHarness h("{type: sliding, size: 10s}", "[count, max(temp)]");
  REQUIRE(h.ok());
  h.record("a", at(1_s), {{"temp", 5}});
  CHECK(h.summaries().empty());  // watermark 1s: records at 1s may still arrive
  h.record("a", at(1_s + 1_ns), {{"temp", 3}});
  REQUIRE(h.summaries().size() == 1);
  CHECK(h.summaries()[0].end == at(1_s));
  h.flush();
  REQUIRE(h.summaries().size() == 2);
  CHECK(h.summaries()[1].end == at(1_s + 1_ns));
  CHECK(h.summaries()[1].count == 2);
  CHECK(h.value(h.summaries()[1], "temp_max") == 5);
  CHECK(h.summaries()[1].partial());
  CHECK(h.counters().partial.get() == 1);
}

TEST_CASE("records at equal times each get a result holding all of them with ties in arrival order",
          "[operators][sliding]") {
  WindowHarness h("{type: sliding, size: 10s}", "[count, first(temp), last(temp), min(temp), max(temp)]");
  REQUIRE(h.ok());
  h.record("a", at(5_s), {{"temp", 1}});
  h.record("a", at(5_s), {{"temp", 2}});  // watermark 5s: the first record's result is not due yet
  h.record("a", at(6_s), {{"temp", 3}});
  auto s = h.take();
  REQUIRE(s.size() == 2);
  for (const auto& r : s) {
    CHECK(r.end == at(5_s));
    CHECK(r.count == 2);
    CHECK(h.value(r, "temp_first") == 1);
    CHECK(h.value(r, "temp_last") == 2);
    CHECK(h.value(r, "temp_min") == 1);
    CHECK(h.value(r, "temp_max") == 2);
  }
}

TEST_CASE("out-of-order records within max_out_of_order are in every result they belong to",
          "[operators][sliding]") {
  WindowOptions o;
  o.max_out_of_order = 2_s;
  WindowHarness h("{type: sliding, size: 10s}", "[count, sum(temp), first(temp), last(temp)]", o);
  REQUIRE(h.ok());
  h.record("a", at(1_s), {{"temp", 1}});
  h.record("a", at(3_s), {{"temp", 2}});
  h.record("a", at(2_s), {{"temp", 4}});  // 1s behind the newest: on time
  CHECK(h.summaries().empty());
  h.record("a", at(6_s), {{"temp", 8}});  // watermark 4s: results at 1s, 2s, 3s are due
  auto s = h.take();
  REQUIRE(s.size() == 3);
  CHECK(s[0].end == at(1_s));
  CHECK(h.value(s[0], "temp_sum") == 1);
  CHECK(s[1].end == at(2_s));
  CHECK(h.value(s[1], "temp_sum") == 5);
  CHECK(h.value(s[1], "temp_last") == 4);
  CHECK(s[2].end == at(3_s));
  CHECK(h.value(s[2], "temp_sum") == 7);
  CHECK(h.value(s[2], "temp_first") == 1);
  CHECK(h.value(s[2], "temp_last") == 2);
  CHECK(h.counters().late.get() == 0);
}

TEST_CASE("a record behind the watermark is late - counted and by default dropped", "[operators][sliding]") {
  WindowOptions o;
  o.max_out_of_order = 1_s;
  WindowHarness h("{type: sliding, size: 10s}", "[count, sum(temp)]", o);
  REQUIRE(h.ok());
  h.record("a", at(5_s), {{"temp", 1}});
  h.record("a", at(8_s), {{"temp", 2}});  // watermark 7s
  h.record("a", at(7_s), {{"temp", 4}});  // exactly at the watermark: on time
  h.record("a", at(6_s), {{"temp", 8}});  // behind it: late
  CHECK(h.counters().late.get() == 1);
  h.flush();
  auto s = h.take();
  REQUIRE(s.size() == 3);
  CHECK(s[0].end == at(5_s));
  CHECK(s[1].end == at(7_s));
  CHECK(h.value(s[1], "temp_sum") == 5);
  CHECK(s[2].end == at(8_s));
  CHECK(h.value(s[2], "temp_sum") == 7);  // the late record is in no result
}

TEST_CASE("with late: emit a late record is sent alone as its own window", "[operators][sliding]") {
  WindowOptions o;
  o.max_out_of_order = 1_s;
  WindowHarness h("{type: sliding, size: 10s, late: emit}", "[count, sum(temp)]", o);
  REQUIRE(h.ok());
  h.record("a", at(5_s), {{"temp", 1}});
  h.record("a", at(8_s), {{"temp", 2}});
  h.take();
  h.record("a", at(6_s), {{"temp", 8}});
  auto s = h.take();
  REQUIRE(s.size() == 1);
  CHECK(s[0].late());
  CHECK(s[0].start == at(-4_s));
  CHECK(s[0].end == at(6_s));
  CHECK(s[0].count == 1);
  CHECK(h.value(s[0], "temp_sum") == 8);
  CHECK(h.counters().late_emitted.get() == 1);
}

TEST_CASE("allowed_lateness delays each result until the watermark passes t + allowed_lateness",
          "[operators][sliding]") {
  WindowHarness h("{type: sliding, size: 10s, allowed_lateness: 2s}", "[count]");
  REQUIRE(h.ok());
  h.record("a", at(1_s), {{"temp", 1}});
  h.record("a", at(3_s), {{"temp", 1}});  // watermark 3s = 1s + 2s: not passed yet
  CHECK(h.summaries().empty());
  h.record("a", at(2_s), {{"temp", 1}});  // 1s behind: within allowed_lateness, on time
  h.record("a", at(3_s + 1_ns), {{"temp", 1}});
  REQUIRE(h.summaries().size() == 1);
  CHECK(h.summaries()[0].end == at(1_s));
  CHECK(h.summaries()[0].count == 1);
  CHECK(h.counters().late.get() == 0);
}

TEST_CASE("when max_samples is exceeded the oldest sample is dropped and counted and results missing it are partial",
          "[operators][sliding]") {
  WindowHarness h("{type: sliding, size: 10s, max_samples: 3}", "[count, sum(temp), min(temp)]");
  REQUIRE(h.ok());
  for (int i = 1; i <= 5; ++i) h.record("a", at(i * 1_s), {{"temp", static_cast<double>(1 << (i - 1))}});
  h.flush();
  auto s = h.take();
  REQUIRE(s.size() == 5);
  CHECK(h.value(s[2], "temp_sum") == 7);  // 1 + 2 + 4: sent before the 4th record arrived
  CHECK_FALSE(s[2].partial());
  CHECK(s[3].count == 3);                 // 2 + 4 + 8: the sample at 1s was dropped
  CHECK(h.value(s[3], "temp_sum") == 14);
  CHECK(h.value(s[3], "temp_min") == 2);
  CHECK(s[3].partial());
  CHECK(h.value(s[4], "temp_sum") == 28);
  CHECK(s[4].partial());
  CHECK(h.counters().truncated.get() == 2);
}

TEST_CASE("results no longer missing a dropped sample are complete again", "[operators][sliding]") {
  WindowHarness h("{type: sliding, size: 2s, max_samples: 2}", "[count]");
  REQUIRE(h.ok());
  for (Nanos t : {0_ms, 100_ms, 200_ms, 5_s, 6_s}) h.record("a", at(t), {{"temp", 1}});
  auto s = h.take();
  REQUIRE(s.size() == 4);
  CHECK(s[2].end == at(200_ms));
  CHECK(s[2].partial());       // the sample at 0ms lies in (-1.8s, 200ms]
  CHECK_FALSE(s[3].partial());  // (3s, 5s] misses nothing
  CHECK(s[3].count == 1);
}

TEST_CASE("a full ring sends the oldest owed result early and partial - records at or before it are then late",
          "[operators][sliding]") {
  WindowOptions o;
  o.max_out_of_order = 10_s;
  WindowHarness h("{type: sliding, size: 10s, max_samples: 2}", "[count, sum(temp)]", o);
  REQUIRE(h.ok());
  h.record("a", at(1_s), {{"temp", 1}});
  h.record("a", at(2_s), {{"temp", 2}});
  h.record("a", at(3_s), {{"temp", 4}});  // three samples for two places: 1s goes out early
  auto s = h.take();
  REQUIRE(s.size() == 1);
  CHECK(s[0].end == at(1_s));
  CHECK(s[0].partial());
  CHECK(h.counters().truncated.get() == 1);
  h.record("a", at(1_s), {{"temp", 8}});  // its result at 1s went out already: late
  CHECK(h.counters().late.get() == 1);
  h.flush();
  s = h.take();
  REQUIRE(s.size() == 2);
  CHECK(h.value(s[0], "temp_sum") == 2);
  CHECK(h.value(s[1], "temp_sum") == 6);
  CHECK(s[1].partial());
}

TEST_CASE("a field missing from some records is aggregated over the records that have it", "[operators][sliding]") {
  WindowHarness h("{type: sliding, size: 10s}",
                  "[count, count(vib), first(vib), last(vib), min(vib), max(vib), mean(vib)]");
  REQUIRE(h.ok());
  h.record("a", at(1_s), {{"temp", 1}, {"vib", 5}});
  h.record("a", at(2_s), {{"temp", 1}});
  h.record("a", at(3_s), {{"temp", 1}, {"vib", 3}});
  h.record("a", at(4_s), {{"temp", 1}});
  h.record("a", at(12_s), {{"temp", 1}});  // (2s, 12s]: vib 3 only
  h.record("a", at(14_s), {{"temp", 1}});  // (4s, 14s]: no vib at all
  h.flush();
  auto s = h.take();
  REQUIRE(s.size() == 6);
  CHECK(s[3].count == 4);
  CHECK(h.value(s[3], "vib_count") == 2);
  CHECK(h.value(s[3], "vib_first") == 5);
  CHECK(h.value(s[3], "vib_last") == 3);
  CHECK(h.value(s[3], "vib_mean") == 4);
  CHECK(h.value(s[4], "vib_count") == 1);
  CHECK(h.value(s[4], "vib_first") == 3);
  CHECK(h.value(s[4], "vib_min") == 3);
  CHECK(h.value(s[4], "vib_max") == 3);
  CHECK(h.value(s[5], "vib_count") == 0);
  CHECK(std::isnan(h.value(s[5], "vib_mean")));
}

TEST_CASE("flush sends owed results by time and then by key first seen", "[operators][sliding]") {
  WindowOptions o;
  o.max_out_of_order = 5_s;
  WindowHarness h("{type: sliding, size: 10s}", "[count]", o);
  REQUIRE(h.ok());
  h.record("b", at(2_s), {{"temp", 1}});
  h.record("a", at(1_s), {{"temp", 1}});
  h.record("a", at(2_s), {{"temp", 1}});
  h.flush();
  auto s = h.take();
  REQUIRE(s.size() == 3);
  CHECK(s[0].key == "a");
  CHECK(s[0].end == at(1_s));
  CHECK(s[1].key == "b");
  CHECK(s[2].key == "a");
  CHECK(s[2].end == at(2_s));
}

TEST_CASE("evicting a key sends its owed results complete and forgets it", "[operators][sliding]") {
  WindowOptions o;
  o.max_out_of_order = 5_s;
  WindowHarness h("{type: sliding, size: 10s}", "[count]", o);
  REQUIRE(h.ok());
  h.record("a", at(1_s), {{"temp", 1}});
  h.record("a", at(2_s), {{"temp", 1}});
  CaptureSink sink;
  h.op().evict(h.key("a"), sink);
  REQUIRE(sink.summaries.size() == 2);
  CHECK_FALSE(sink.summaries[1].partial());
  CHECK(sink.summaries[1].count == 2);
  CHECK(h.counters().evicted_keys.get() == 1);
  h.flush();
  CHECK(h.summaries().empty());
}

TEST_CASE("an idle key sends its owed results complete and a later record at or before them is late",
          "[operators][sliding]") {
  WindowOptions o;
  o.max_out_of_order = 5_s;
  o.idle_timeout = 2_s;
  WindowHarness h("{type: sliding, size: 10s}", "[count]", o);
  REQUIRE(h.ok());
  h.tick(at(0_s));
  h.record("a", at(1_s), {{"temp", 1}});
  h.tick(at(3_s));
  REQUIRE(h.summaries().size() == 1);
  CHECK_FALSE(h.summaries()[0].partial());
  h.record("a", at(1_s), {{"temp", 1}});
  CHECK(h.counters().late.get() == 1);
}

TEST_CASE("a sliding window restored from a snapshot goes on as if never stopped", "[operators][sliding]") {
  WindowOptions o;
  o.max_out_of_order = 3_s;
  const char* window = "{type: sliding, size: 5s, max_samples: 4}";
  const char* aggs = "[count, sum(temp), min(temp), max(temp), stddev(temp), first(temp), last(temp)]";
  const Nanos times[] = {1_s, 3_s, 2_s, 4_s, 6_s, 5_s, 9_s, 8_s, 12_s, 11_s, 13_s, 20_s};
  WindowHarness whole(window, aggs, o);
  REQUIRE(whole.ok());
  double v = 1;
  for (Nanos t : times) whole.record("a", at(t), {{"temp", v *= 1.5}});
  whole.flush();

  WindowHarness first(window, aggs, o);
  REQUIRE(first.ok());
  v = 1;
  for (int i = 0; i < 6; ++i) first.record("a", at(times[i]), {{"temp", v *= 1.5}});
  std::vector<std::byte> state;
  first.op().snapshot(state);
  WindowHarness second(window, aggs, o);
  REQUIRE(second.ok());
  REQUIRE(second.op().restore(state));
  for (int i = 6; i < 12; ++i) second.record("a", at(times[i]), {{"temp", v *= 1.5}});
  second.flush();
  std::vector<std::string> resumed = first.json();
  for (const auto& line : second.json()) resumed.push_back(line);
  CHECK(resumed == whole.json());
}

TEST_CASE("a sliding window refuses a snapshot of another configuration", "[operators][sliding]") {
  WindowHarness a("{type: sliding, size: 5s}", "[count]");
  WindowHarness b("{type: sliding, size: 6s}", "[count]");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  a.record("k", at(1_s), {{"temp", 1}});
  std::vector<std::byte> state;
  a.op().snapshot(state);
  CHECK_FALSE(b.op().restore(state));
}

// ---------------------------------------------------------------------------------------------
// Allocation.

class CountingSink final : public runtime::SummarySink {
 public:
  void emit(const runtime::Summary&) noexcept override { ++summaries; }
  std::uint64_t summaries = 0;
};

TEST_CASE("sliding windows allocate nothing in the steady state", "[operators][sliding][alloc]") {
  WindowOptions o;
  o.max_out_of_order = 200_ms;
  o.idle_timeout = 2_s;
  o.max_keys = 32;
  WindowHarness h("{type: sliding, size: 1s, max_samples: 64, late: emit}",
                  "[count, mean(temp), min(temp), max(temp), stddev(temp), kurtosis(vib), first(vib), last(vib)]", o);
  REQUIRE(h.ok());
  constexpr int kKeys = 16;
  std::vector<std::string> names;
  for (int k = 0; k < kKeys; ++k) names.push_back("m" + std::to_string(k));
  std::vector<runtime::Event> events;
  events.reserve(1'200'000);
  std::uint64_t x = 12345;
  auto rnd = [&] { return (x = x * 6364136223846793005ULL + 1442695040888963407ULL) >> 33; };
  for (int i = 0; i < 550'000; ++i) {
    // 10ms apart per key (so ~100 samples in a 1s window: the ring of 64 overflows), some
    // disorder within the bound and a few late records.
    const Nanos jitter = static_cast<Nanos>(rnd() % 150) * 1_ms - (rnd() % 100 == 0 ? 1_s : 0);
    const Nanos t = at((i / kKeys) * 10_ms) - jitter;
    const FieldValue values[] = {{"temp", static_cast<double>(rnd() % 1000) / 10.0},
                                 {"vib", static_cast<double>(rnd() % 100)}};
    h.append_record(events, names[static_cast<std::size_t>(i % kKeys)], t, values);
    if (i % 1000 == 999) events.push_back(WindowHarness::tick_event(t));
  }
  const std::size_t warm = std::find_if(events.begin() + 100'000, events.end(),
                                        [](const runtime::Event& e) { return e.flags & runtime::kRecordBegin; }) -
                           events.begin();
  CountingSink sink;
  auto feed = [&](std::size_t from, std::size_t to) {
    while (from < to) {
      std::size_t next = std::min(from + 1024, to);
      while (next < to && !(events[next].flags & runtime::kRecordBegin)) ++next;
      h.op().process(std::span<const runtime::Event>(events.data() + from, next - from), sink);
      from = next;
    }
  };
  feed(0, warm);
  const std::uint64_t before = sink.summaries;
  std::size_t allocations = 0;
  {
    AllocationCounter counter;
    feed(warm, events.size());
    allocations = counter.count();
  }
  CHECK(allocations == 0);
  CHECK(sink.summaries - before > 400'000);
  CHECK(h.counters().records.get() == 550'000);
  CHECK(h.counters().late_emitted.get() > 0);
  CHECK(h.counters().truncated.get() > 0);
}

// ---------------------------------------------------------------------------------------------
// The differential test.

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {  // splitmix64
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::int64_t range(std::int64_t lo, std::int64_t hi) {  // [lo, hi]
    return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
  }
  double unit() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }

 private:
  std::uint64_t s_;
};

struct Rec {
  int key = 0;
  Nanos t = 0;
  bool has_vib = true;
  double temp = 0;
  double vib = 0;
};

constexpr const char* kAggs =
    "[count, count(temp), sum(temp), mean(temp), min(temp), max(temp), first(temp), last(temp), stddev(temp), "
    "skewness(temp), kurtosis(temp), count(vib), variance_pop(vib), min(vib), max(vib), first(vib), last(vib), "
    "rms(vib), rate(vib)]";
const char* const kColumns[] = {"temp_count", "temp_sum", "temp_mean", "temp_min", "temp_max", "temp_first",
                                "temp_last", "temp_stddev", "temp_skewness", "temp_kurtosis", "vib_count",
                                "vib_variance_pop", "vib_min", "vib_max", "vib_first", "vib_last", "vib_rms",
                                "vib_rate"};
enum class Tol { exact, tight, loose };
const Tol kTolerance[] = {Tol::exact, Tol::tight, Tol::tight, Tol::exact, Tol::exact, Tol::exact, Tol::exact,
                          Tol::tight, Tol::loose, Tol::loose, Tol::exact, Tol::tight, Tol::exact, Tol::exact,
                          Tol::exact, Tol::exact, Tol::tight, Tol::tight};

struct Result {
  std::string key;
  Nanos start = 0, end = 0;
  std::uint64_t count = 0;
  bool partial = false, late = false;
  std::vector<double> values;  // in kColumns order
};

struct Stats {
  std::vector<long double> xs;
  std::vector<Nanos> ts;
};

double nan() { return std::numeric_limits<double>::quiet_NaN(); }

void field_columns(const Stats& s, bool moments, std::vector<double>& out) {
  const auto n = static_cast<long double>(s.xs.size());
  long double sum = 0, sumsq = 0;
  long double mn = 0, mx = 0;
  for (std::size_t i = 0; i < s.xs.size(); ++i) {
    sum += s.xs[i];
    sumsq += s.xs[i] * s.xs[i];
    mn = i == 0 ? s.xs[i] : std::min(mn, s.xs[i]);
    mx = i == 0 ? s.xs[i] : std::max(mx, s.xs[i]);
  }
  const long double mean = s.xs.empty() ? 0 : sum / n;
  long double m2 = 0, m3 = 0, m4 = 0;
  for (long double x : s.xs) {
    const long double d = x - mean;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  // first: earliest time, ties first to arrive; last: latest time, ties last to arrive.
  std::size_t fi = 0, la = 0;
  for (std::size_t i = 0; i < s.ts.size(); ++i) {
    if (s.ts[i] < s.ts[fi]) fi = i;
    if (s.ts[i] >= s.ts[la]) la = i;
  }
  const bool empty = s.xs.empty();
  out.push_back(static_cast<double>(n));
  if (moments) {
    out.push_back(static_cast<double>(sum));
    out.push_back(empty ? nan() : static_cast<double>(mean));
    out.push_back(empty ? nan() : static_cast<double>(mn));
    out.push_back(empty ? nan() : static_cast<double>(mx));
    out.push_back(empty ? nan() : static_cast<double>(s.xs[fi]));
    out.push_back(empty ? nan() : static_cast<double>(s.xs[la]));
    out.push_back(s.xs.size() < 2 ? nan() : static_cast<double>(std::sqrt(m2 / (n - 1))));
    out.push_back(empty || m2 <= 0 ? nan() : static_cast<double>(std::sqrt(n) * m3 / std::pow(m2, 1.5L)));
    out.push_back(empty || m2 <= 0 ? nan() : static_cast<double>(n * m4 / (m2 * m2)));
  } else {
    out.push_back(empty ? nan() : static_cast<double>(m2 / n));
    out.push_back(empty ? nan() : static_cast<double>(mn));
    out.push_back(empty ? nan() : static_cast<double>(mx));
    out.push_back(empty ? nan() : static_cast<double>(s.xs[fi]));
    out.push_back(empty ? nan() : static_cast<double>(s.xs[la]));
    out.push_back(empty ? nan() : static_cast<double>(std::sqrt(sumsq / n)));
    out.push_back(empty || s.ts[la] == s.ts[fi]
                      ? nan()
                      : static_cast<double>((s.xs[la] - s.xs[fi]) / (static_cast<long double>(s.ts[la] - s.ts[fi]) / 1e9L)));
  }
}

struct ModelParams {
  Nanos size = 0;
  Nanos ooo = 0;
  Nanos lateness = 0;
  bool late_emit = false;
};

std::vector<Result> model(const std::vector<Rec>& recs, const ModelParams& p) {
  std::vector<Result> out;
  struct Owed {
    Nanos t;
    std::size_t arrival;
  };
  std::map<int, Nanos> wm, newest;
  std::map<int, std::vector<std::size_t>> on_time;  // record indexes per key
  std::map<int, std::vector<Owed>> owed;
  std::vector<int> first_seen;
  auto result = [&](int key, Nanos t, bool partial) {
    Result r;
    r.key = "k" + std::to_string(key);
    r.start = t - p.size;
    r.end = t;
    r.partial = partial;
    Stats temp, vib;
    for (std::size_t i : on_time[key]) {
      const Rec& rec = recs[i];
      if (rec.t <= r.start || rec.t > t) continue;
      ++r.count;
      temp.xs.push_back(rec.temp);
      temp.ts.push_back(rec.t);
      if (rec.has_vib) {
        vib.xs.push_back(rec.vib);
        vib.ts.push_back(rec.t);
      }
    }
    field_columns(temp, true, r.values);
    field_columns(vib, false, r.values);
    out.push_back(std::move(r));
  };
  auto fire_due = [&](int key) {
    auto& list = owed[key];
    std::stable_sort(list.begin(), list.end(), [](const Owed& a, const Owed& b) { return a.t < b.t; });
    std::size_t n = 0;
    while (n < list.size() && list[n].t + p.lateness < wm[key]) result(key, list[n++].t, false);
    list.erase(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(n));
  };
  for (std::size_t i = 0; i < recs.size(); ++i) {
    const Rec& r = recs[i];
    if (std::find(first_seen.begin(), first_seen.end(), r.key) == first_seen.end()) {
      first_seen.push_back(r.key);
      wm[r.key] = runtime::kMinTime;
      newest[r.key] = runtime::kMinTime;
    }
    newest[r.key] = std::max(newest[r.key], r.t);
    wm[r.key] = std::max(wm[r.key], newest[r.key] - p.ooo);
    fire_due(r.key);
    if (r.t + p.lateness < wm[r.key]) {
      if (p.late_emit) {
        Result late;
        late.key = "k" + std::to_string(r.key);
        late.start = r.t - p.size;
        late.end = r.t;
        late.count = 1;
        late.late = true;
        Stats temp{{r.temp}, {r.t}}, vib;
        if (r.has_vib) vib = Stats{{r.vib}, {r.t}};
        field_columns(temp, true, late.values);
        field_columns(vib, false, late.values);
        out.push_back(std::move(late));
      }
      continue;
    }
    on_time[r.key].push_back(i);
    owed[r.key].push_back(Owed{r.t, i});
  }
  // Flush: by (t, key first seen, arrival).
  struct Pending {
    Nanos t;
    std::size_t rank;
    std::size_t arrival;
    int key;
  };
  std::vector<Pending> rest;
  for (std::size_t rank = 0; rank < first_seen.size(); ++rank)
    for (const Owed& o : owed[first_seen[rank]]) rest.push_back(Pending{o.t, rank, o.arrival, first_seen[rank]});
  std::sort(rest.begin(), rest.end(), [](const Pending& a, const Pending& b) {
    if (a.t != b.t) return a.t < b.t;
    if (a.rank != b.rank) return a.rank < b.rank;
    return a.arrival < b.arrival;
  });
  for (const Pending& q : rest) result(q.key, q.t, true);
  return out;
}

std::vector<Result> run_operator(const std::vector<Rec>& recs, const ModelParams& p) {
  WindowOptions o;
  o.max_out_of_order = p.ooo;
  o.max_keys = 8;
  std::ostringstream window;
  window << "{type: sliding, size: " << p.size << "ns, max_samples: 1000, allowed_lateness: " << p.lateness
         << "ns, late: " << (p.late_emit ? "emit" : "drop") << "}";
  WindowHarness h(window.str(), kAggs, o);
  REQUIRE(h.ok());
  for (const Rec& r : recs) {
    const std::string key = "k" + std::to_string(r.key);
    if (r.has_vib)
      h.record(key, r.t, {{"temp", r.temp}, {"vib", r.vib}});
    else
      h.record(key, r.t, {{"temp", r.temp}});
  }
  h.flush();
  std::vector<Result> out;
  for (const auto& s : h.summaries()) {
    Result r;
    r.key = s.key;
    r.start = s.start;
    r.end = s.end;
    r.count = s.count;
    r.partial = s.partial();
    r.late = s.late();
    for (const char* c : kColumns) r.values.push_back(h.value(s, c));
    out.push_back(std::move(r));
  }
  return out;
}

bool close(double got, double want, Tol tol, double scale) {
  if (std::isnan(got) || std::isnan(want)) return std::isnan(got) && std::isnan(want);
  if (tol == Tol::exact) return got == want;
  const double rel = tol == Tol::tight ? 1e-9 : 1e-6;
  // Relative to the value, with a floor for values that cancel to about zero.
  return std::fabs(got - want) <= rel * std::max(std::fabs(want), scale);
}

std::string describe(const Result& r) {
  std::ostringstream s;
  s << r.key << " (" << r.start << ", " << r.end << "] count " << r.count << (r.partial ? " partial" : "")
    << (r.late ? " late" : "");
  s.precision(17);
  for (std::size_t i = 0; i < r.values.size(); ++i) s << "\n    " << kColumns[i] << '=' << r.values[i];
  return s.str();
}

// Returns an empty string when both agree, else the first difference.
std::string compare(const std::vector<Result>& got, const std::vector<Result>& want) {
  for (std::size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
    if (i >= got.size()) return "missing result " + std::to_string(i) + ": " + describe(want[i]);
    if (i >= want.size()) return "extra result " + std::to_string(i) + ": " + describe(got[i]);
    const Result& g = got[i];
    const Result& w = want[i];
    bool same = g.key == w.key && g.start == w.start && g.end == w.end && g.count == w.count &&
                g.partial == w.partial && g.late == w.late;
    for (std::size_t c = 0; same && c < w.values.size(); ++c) {
      // Moments cancel against the spread of the values, not against their own size.
      const double spread = std::max(std::fabs(w.values[3]), std::fabs(w.values[4]));
      // Skewness and kurtosis have no unit: compare them to within 1e-6 absolute, too.
      const double scale = c == 1 || c == 2   ? 1e-6 * spread
                           : c == 11          ? 1e-12 * spread * spread
                           : c == 8 || c == 9 ? 1.0
                                              : 0.0;
      same = close(g.values[c], w.values[c], kTolerance[c], scale);
    }
    if (!same) return "result " + std::to_string(i) + "\n  got:  " + describe(g) + "\n  want: " + describe(w);
  }
  return {};
}

struct StreamShape {
  int keys = 2;
  int records = 150;
  Nanos step = 1_s;         ///< mean spacing of a key's records
  Nanos ooo = 0;            ///< source max_out_of_order
  Nanos jitter = 0;         ///< disorder drawn within [0, jitter]
  int late_percent = 0;     ///< records pushed further back than jitter
  int duplicate_percent = 10;
  bool whole_ms = true;
};

std::vector<Rec> random_stream(Rng& rng, const StreamShape& shape) {
  std::vector<Rec> out;
  std::vector<Nanos> clock(static_cast<std::size_t>(shape.keys), kT0);
  std::vector<Nanos> last(static_cast<std::size_t>(shape.keys), kT0);
  // Values: a level with noise, occasional spikes (so removals cancel), some negative.
  const double level = rng.range(0, 2) == 0 ? 0.0 : static_cast<double>(rng.range(-1000, 100000));
  for (int i = 0; i < shape.records; ++i) {
    Rec r;
    r.key = static_cast<int>(rng.range(0, shape.keys - 1));
    auto& c = clock[static_cast<std::size_t>(r.key)];
    Nanos t;
    if (rng.range(0, 99) < shape.duplicate_percent) {
      t = last[static_cast<std::size_t>(r.key)];
    } else {
      c += rng.range(0, 2 * shape.step);
      t = c - (shape.jitter > 0 ? rng.range(0, shape.jitter) : 0);
      if (rng.range(0, 99) < shape.late_percent) t -= rng.range(shape.jitter, shape.jitter + 5 * shape.step);
    }
    if (shape.whole_ms) t = t / 1'000'000 * 1'000'000;
    last[static_cast<std::size_t>(r.key)] = t;
    r.t = t;
    r.temp = level + (rng.unit() - 0.5) * 20;
    if (rng.range(0, 49) == 0) r.temp += 1e6;
    if (rng.range(0, 3) == 0) r.temp = static_cast<double>(rng.range(-5, 5));
    r.has_vib = rng.range(0, 3) != 0;
    r.vib = rng.unit() * 4 - 1;
    out.push_back(r);
  }
  return out;
}

void differential(std::uint64_t seed0, int streams, const StreamShape& shape, const ModelParams& base) {
  for (int s = 0; s < streams; ++s) {
    Rng rng(seed0 + static_cast<std::uint64_t>(s));
    ModelParams p = base;
    p.ooo = shape.ooo;
    const std::vector<Rec> recs = random_stream(rng, shape);
    const std::string diff = compare(run_operator(recs, p), model(recs, p));
    if (!diff.empty()) {
      std::ostringstream input;
      for (const Rec& r : recs)
        input << "  k" << r.key << " t=" << (r.t - kT0) << " temp=" << r.temp
              << (r.has_vib ? " vib=" + std::to_string(r.vib) : std::string()) << '\n';
      FAIL("seed " << seed0 + static_cast<std::uint64_t>(s) << ": " << diff << "\ninput:\n" << input.str());
    }
  }
}

TEST_CASE("sliding windows match a naive model on random in-order streams", "[operators][sliding]") {
  StreamShape shape;
  ModelParams p;
  p.size = 5_s;
  differential(1000, 250, shape, p);
}

TEST_CASE("sliding windows match a naive model on random streams with disorder within max_out_of_order",
          "[operators][sliding]") {
  StreamShape shape;
  shape.ooo = 3_s;
  shape.jitter = 3_s;
  ModelParams p;
  p.size = 7_s;
  differential(2000, 250, shape, p);
}

TEST_CASE("sliding windows match a naive model on random streams with late records and late: emit",
          "[operators][sliding]") {
  StreamShape shape;
  shape.ooo = 2_s;
  shape.jitter = 2_s;
  shape.late_percent = 10;
  ModelParams p;
  p.size = 4_s;
  p.lateness = 1_s;
  p.late_emit = true;
  differential(3000, 250, shape, p);
}

TEST_CASE("sliding windows match a naive model on random streams with long windows and many keys and nanosecond times",
          "[operators][sliding]") {
  StreamShape shape;
  shape.keys = 5;
  shape.records = 400;
  shape.step = 100_ms;
  shape.ooo = 500_ms;
  shape.jitter = 500_ms;
  shape.late_percent = 5;
  shape.duplicate_percent = 20;
  shape.whole_ms = false;
  ModelParams p;
  p.size = 10_s;
  differential(4000, 250, shape, p);
}

}  // namespace
}  // namespace vigil::test

namespace vigil::test {
namespace {

TEST_CASE("a sliding window hands its raw samples to models with their times", "[operators][sliding][raw]") {
  using namespace literals;
  WindowOptions o;
  o.max_out_of_order = 2_s;
  WindowHarness h("{type: sliding, size: 5s, max_samples: 7}", "[count, mean(vib), max(temp)]", o);
  REQUIRE(h.ok());
  auto* raw = dynamic_cast<operators::RawSamples*>(&h.op());
  REQUIRE(raw != nullptr);
  CHECK(raw->max_samples() == 7);
  h.record("m", kT0 + 1_s, {{"vib", 1.0}, {"temp", 20.0}});
  h.record("m", kT0 + 3_s, {{"vib", 3.0}});
  h.record("m", kT0 + 2_s, {{"vib", 2.0}, {"temp", 21.0}});  // out of order, on time
  h.record("m", kT0 + 4_s, {{"temp", 22.0}});                // no vib
  h.record("other", kT0 + 4_s, {{"vib", 99.0}});
  std::vector<runtime::Nanos> times(16);
  std::vector<double> values(16);
  const runtime::KeyId m = h.key("m");
  std::size_t n = raw->samples(m, h.field("vib"), times, values);
  REQUIRE(n == 3);
  CHECK(times[0] == kT0 + 1_s);
  CHECK(times[1] == kT0 + 2_s);
  CHECK(times[2] == kT0 + 3_s);
  CHECK(values[0] == 1.0);
  CHECK(values[1] == 2.0);
  CHECK(values[2] == 3.0);
  CHECK(raw->samples(m, h.field("temp"), times, values) == 3);
  CHECK(values[2] == 22.0);

  // Short of room: the newest are kept, oldest first.
  n = raw->samples(m, h.field("vib"), std::span(times).first(2), std::span(values).first(2));
  REQUIRE(n == 2);
  CHECK(values[0] == 2.0);
  CHECK(values[1] == 3.0);

  // Bounded by max_samples however long the stream: the oldest go.
  for (int i = 0; i < 50; ++i) h.record("m", kT0 + 10_s + i * 100_ms, {{"vib", 100.0 + i}});
  n = raw->samples(m, h.field("vib"), times, values);
  CHECK(n == 7);
  CHECK(values[n - 1] == 149.0);
  CHECK(std::is_sorted(times.begin(), times.begin() + static_cast<long>(n)));

  // Unknown key or a field the window does not aggregate: nothing.
  CHECK(raw->samples(h.key("never-sent"), h.field("vib"), times, values) == 0);
  CHECK(raw->samples(m, h.field("pressure"), times, values) == 0);
}

}  // namespace
}  // namespace vigil::test
