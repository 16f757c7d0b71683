#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "source_harness.hpp"
#include "vigil/runtime/ingest_queue.hpp"
#include "vigil/sensors/sensors.hpp"

namespace vigil::test {
namespace {

using runtime::Event;
using runtime::EventKind;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

constexpr runtime::Nanos kMarch1Noon = 1'709'294'400 * runtime::kNanosPerSecond;  // 2024-03-01T12:00:00Z

/// A simulator built from YAML the way the engine builds it.
struct SimFixture {
  bool make(const std::string& yaml) {
    if (!h.configure(yaml, sensors::simulator_plugin().keys)) return false;
    source = sensors::simulator_plugin().make(h.setup);
    return source != nullptr;
  }

  /// Runs a finite (count, realtime: false) simulator to its end.
  std::vector<Event> run_to_end() {
    runtime::IngestQueue queue(1 << 16, runtime::OverflowPolicy::block, nullptr);
    REQUIRE(source->start(queue));
    auto events = drain(queue);
    source->stop();
    return events;
  }

  SourceHarness h;
  std::unique_ptr<runtime::Source> source;
};

const std::string kFactoryDefault = R"(
machines: [press-1, pump-1, fan-1]
rate: 100
signals:
  temp: {mean: 60, noise: 0.5, amplitude: 2, period: 120s}
  vib: {mean: 0.02, noise: 0.005}
  pressure: {mean: 4.0, noise: 0.05}
)";

std::vector<double> values_of(const std::vector<Event>& events) {
  std::vector<double> out;
  for (const auto& e : events)
    if (e.kind == EventKind::sample) out.push_back(e.value);
  return out;
}

TEST_CASE("simulator is registered as a blocking source named simulator", "[sensors][simulator]") {
  runtime::Registry registry;
  sensors::register_sources(registry);
  const runtime::SourcePlugin* plugin = registry.source("simulator");
  REQUIRE(plugin != nullptr);
  CHECK(plugin->default_overflow == runtime::OverflowPolicy::block);
  CHECK(plugin->keys.size() == sensors::simulator_plugin().keys.size());
}

TEST_CASE("simulator with count and realtime false sends machines x fields x count events, then the end",
          "[sensors][simulator]") {
  SimFixture f;
  REQUIRE(f.make(R"(
machines: [press-1, pump-1]
rate: 3
count: 5
realtime: false
start: "2024-03-01T12:00:00Z"
signals:
  temp: {mean: 60, noise: 0.5, amplitude: 2, period: 120s}
  vib: {mean: 0.02, noise: 0.005}
  pressure: {mean: 4.0, noise: 0.05}
)"));
  auto events = f.run_to_end();
  REQUIRE(events.size() == 2 * 3 * 5 + 1);

  const char* machines[] = {"press-1", "pump-1"};
  const char* fields[] = {"temp", "vib", "pressure"};
  std::size_t n = 0;
  for (std::int64_t i = 0; i < 5; ++i) {
    // Record i is due i/3 s after the start, in whole nanoseconds, without accumulated error.
    const runtime::Nanos expected_time = kMarch1Noon + i * 1'000'000'000 / 3;
    for (const char* machine : machines) {
      for (std::size_t field = 0; field < 3; ++field, ++n) {
        const Event& e = events[n];
        CAPTURE(n);
        CHECK(e.kind == EventKind::sample);
        CHECK(e.time == expected_time);
        CHECK(f.h.keys.name(e.key) == machine);
        CHECK(f.h.fields.name(e.field) == fields[field]);
        CHECK(e.source == f.h.setup.index);
        CHECK(((e.flags & runtime::kRecordBegin) != 0) == (field == 0));
      }
    }
  }
  CHECK(events.back().kind == EventKind::end_of_stream);
  CHECK(events.back().time == kMarch1Noon + 4LL * 1'000'000'000 / 3);
  CHECK(f.source->counters().records.get() == 10);
}

TEST_CASE("simulator event times stay exact over a long run", "[sensors][simulator]") {
  SimFixture f;
  REQUIRE(f.make(R"(
machines: [m]
rate: 7
count: 70000
realtime: false
start: 2024-03-01T12:00:00Z
signals: {v: {mean: 1}}
)"));
  auto samples = only(f.run_to_end(), EventKind::sample);
  REQUIRE(samples.size() == 70'000);
  for (std::int64_t i = 0; i < 70'000; ++i)
    REQUIRE(samples[static_cast<std::size_t>(i)].time == kMarch1Noon + i * 1'000'000'000 / 7);
  CHECK(samples.back().time == kMarch1Noon + 9'999 * runtime::kNanosPerSecond + 857'142'857);
}

TEST_CASE("simulator starts at the clock's now when no start is given", "[sensors][simulator]") {
  SimFixture f;
  REQUIRE(f.make("machines: [m]\nrealtime: false\ncount: 2\nrate: 10\nsignals: {v: {}}\n"));
  auto samples = only(f.run_to_end(), EventKind::sample);
  REQUIRE(samples.size() == 2);
  CHECK(samples[0].time == f.h.clock.now());
  CHECK(samples[1].time == f.h.clock.now() + 100 * runtime::kNanosPerMilli);
  CHECK(samples[0].value == 0.0);
}

TEST_CASE("simulator repeats its values for the same seed and changes them for another", "[sensors][simulator]") {
  auto run = [](int seed) {
    SimFixture f;
    REQUIRE(f.make(kFactoryDefault + "realtime: false\ncount: 200\nseed: " + std::to_string(seed) + "\n"));
    return values_of(f.run_to_end());
  };
  const auto a = run(7);
  const auto b = run(7);
  const auto c = run(8);
  REQUIRE(a.size() == 3 * 3 * 200);
  CHECK(a == b);
  CHECK(a != c);
}

TEST_CASE("simulator values sit around the configured means", "[sensors][simulator]") {
  SimFixture f;
  REQUIRE(f.make(kFactoryDefault + "realtime: false\ncount: 1000\n"));
  auto samples = only(f.run_to_end(), EventKind::sample);
  std::map<std::string, std::pair<double, int>> sums;
  for (const auto& e : samples) {
    auto& s = sums[std::string(f.h.fields.name(e.field))];
    s.first += e.value;
    ++s.second;
  }
  // 3000 values each; bounds are many standard errors wide, plus the sine's mean offset.
  CHECK(sums["temp"].first / sums["temp"].second == Approx(60).margin(2.1));
  CHECK(sums["vib"].first / sums["vib"].second == Approx(0.02).margin(0.001));
  CHECK(sums["pressure"].first / sums["pressure"].second == Approx(4.0).margin(0.01));
}

TEST_CASE("simulator in realtime paces records to the clock and stops promptly", "[sensors][simulator]") {
  SimFixture f;
  REQUIRE(f.make("machines: [a, b, c]\nrate: 1000\nsignals: {v: {noise: 1}}\n"));
  runtime::IngestQueue queue(1 << 16, runtime::OverflowPolicy::block, nullptr);
  REQUIRE(f.source->start(queue));
  auto events = drain(queue, std::chrono::milliseconds(300));
  const auto before = std::chrono::steady_clock::now();
  f.source->stop();
  const auto stop_took = std::chrono::steady_clock::now() - before;
  std::vector<Event> rest(1 << 16);
  rest.resize(queue.pop(rest));
  events.insert(events.end(), rest.begin(), rest.end());

  CHECK(stop_took < std::chrono::milliseconds(200));
  std::map<std::string, int> per_machine;
  for (const auto& e : events) {
    REQUIRE(e.kind == EventKind::sample);  // live mode: no ticks, no end
    if (e.flags & runtime::kRecordBegin) ++per_machine[std::string(f.h.keys.name(e.key))];
  }
  for (const char* m : {"a", "b", "c"}) {
    CAPTURE(m);
    CHECK(per_machine[m] >= 100);
    CHECK(per_machine[m] <= 600);
  }
}

TEST_CASE("simulator stops promptly while blocked on a full queue", "[sensors][simulator]") {
  SimFixture f;
  REQUIRE(f.make("machines: [a]\nrealtime: false\nsignals: {v: {}}\n"));
  runtime::IngestQueue queue(64, runtime::OverflowPolicy::block, nullptr);
  REQUIRE(f.source->start(queue));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(queue.size() == 64);
  const auto before = std::chrono::steady_clock::now();
  f.source->stop();
  CHECK(std::chrono::steady_clock::now() - before < std::chrono::milliseconds(200));
  CHECK(queue.dropped() == 0);
}

TEST_CASE("simulator with faults counts garbled records as malformed and still ends after count",
          "[sensors][simulator][faults]") {
  SimFixture f;
  REQUIRE(f.make(R"(
machines: [press-1, pump-1]
rate: 10
count: 2000
realtime: false
start: "2024-03-01T12:00:00Z"
signals:
  vib: {bearing: {life: 10m, rms: 0.1, rms_end: 1}}
  temp: {mean: 60, walk: 0.01, spike_rate: 60, spike_size: 5}
faults: {malformed: 0.05, duplicates: 0.02, out_of_order: 0.1, max_delay: 2s}
)"));
  const auto events = f.run_to_end();
  const auto& c = f.source->counters();
  // 4000 records made; garbled ones are counted, not sent; duplicates are sent twice.
  const auto samples = only(events, EventKind::sample);
  CHECK(samples.size() == 2 * c.records.get());
  CHECK(c.malformed.get() > 100);   // 5% of 4000: 200 ± 70
  CHECK(c.malformed.get() < 300);
  CHECK(c.records.get() + c.malformed.get() > 4000);  // duplicates
  CHECK(events.back().kind == EventKind::end_of_stream);
  // Out-of-order delivery: some record is older than one delivered before it.
  bool behind = false;
  runtime::Nanos newest = 0;
  for (const auto& e : samples) {
    behind = behind || e.time < newest;
    newest = std::max(newest, e.time);
  }
  CHECK(behind);
}

TEST_CASE("simulator config refuses late and out_of_order adding up to more than 1 and a bearing without life",
          "[sensors][simulator][config]") {
  SimFixture f;
  CHECK_FALSE(f.make("machines: [m]\nsignals: {vib: {bearing: {rms: 1}}}\nfaults: {late: 0.6, out_of_order: 0.6}\n"));
  CHECK_THAT(f.h.diag.str(), Contains("sources[0].signals.vib.bearing: missing key \"life\""));
  SimFixture g;
  CHECK_FALSE(g.make("machines: [m]\nsignals: {vib: {}}\nfaults: {late: 0.6, out_of_order: 0.6}\n"));
  CHECK_THAT(g.h.diag.str(), Contains("late and out_of_order add up to more than 1"));
  SimFixture h;
  CHECK_FALSE(h.make("machines: [m]\nsignals: {vib: {}}\nfaults: {duplicates: 2}\n"));
  CHECK_THAT(h.h.diag.str(), Contains("sources[0].faults.duplicates"));
}

TEST_CASE("simulator config without machines names the missing key", "[sensors][simulator][config]") {
  SimFixture f;
  CHECK_FALSE(f.make("rate: 10\nsignals: {v: {mean: 1}}\n"));
  REQUIRE(f.h.diag.lines().size() == 1);
  CHECK_THAT(f.h.diag.str(), StartsWith("test.yaml:1:1: "));
  CHECK_THAT(f.h.diag.str(),
             Contains("sources[0]: missing key \"machines\" (Key names, one stream of records each.)"));
}

TEST_CASE("simulator config with an unknown signal key lists the valid ones", "[sensors][simulator][config]") {
  SimFixture f;
  CHECK_FALSE(f.make("machines: [m]\nsignals:\n  temp: {mean: 1, nosie: 2}\n"));
  REQUIRE(f.h.diag.lines().size() == 1);
  CHECK(f.h.diag.str() ==
        "test.yaml:3:19: sources[0].signals.temp: unknown key \"nosie\" (did you mean \"noise\"?); "
        "valid keys: mean, noise, amplitude, period, drift, walk, step_rate, step_size, spike_rate, spike_size, "
        "bearing");
}

TEST_CASE("simulator config rejects negative noise and a rate of zero", "[sensors][simulator][config]") {
  SimFixture f;
  CHECK_FALSE(f.make("machines: [m]\nrate: 0\nsignals:\n  temp: {noise: -1}\n"));
  REQUIRE(f.h.diag.lines().size() == 2);
  // The upper bound's spelling (1e+07, 10000000) is the validator's business.
  CHECK_THAT(f.h.diag.lines()[0],
             StartsWith("test.yaml:2:7: sources[0].rate: 0 is out of range; use a value from 0.001 to "));
  CHECK(f.h.diag.lines()[1] ==
        "test.yaml:4:17: sources[0].signals.temp.noise: -1 is out of range; use at least 0");
}

TEST_CASE("simulator factory rejects an empty machine list, duplicates and a bad start",
          "[sensors][simulator][config]") {
  SimFixture f;
  REQUIRE(f.h.configure("machines: [a, a]\nstart: yesterday\nsignals: {v: {}}\n",
                        sensors::simulator_plugin().keys));
  CHECK(sensors::simulator_plugin().make(f.h.setup) == nullptr);
  REQUIRE(f.h.diag.lines().size() == 2);
  CHECK(f.h.diag.lines()[0] ==
        "test.yaml:1:15: sources[0].machines[1]: \"a\" is listed twice; machine names must be unique");
  CHECK_THAT(f.h.diag.lines()[1],
             StartsWith("test.yaml:2:8: sources[0].start: \"yesterday\" is not an RFC 3339 time"));

  SimFixture g;
  REQUIRE(g.h.configure("machines: []\nsignals: {v: {}}\n", sensors::simulator_plugin().keys));
  CHECK(sensors::simulator_plugin().make(g.h.setup) == nullptr);
  CHECK(g.h.diag.str() ==
        "test.yaml:1:11: sources[0].machines: no machines listed; name the keys to simulate, "
        "e.g. machines: [press-1, pump-1]");
}

}  // namespace
}  // namespace vigil::test
