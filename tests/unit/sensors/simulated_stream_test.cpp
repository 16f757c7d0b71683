#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include "../../../sensors/src/simulated_stream.hpp"
#include "allocation_counter.hpp"

namespace vigil::test {
namespace {

using sensors::SignalShape;
using sensors::SimulatedRecord;
using sensors::SimulatedStream;
using sensors::StreamFaults;

constexpr runtime::Nanos kSec = runtime::kNanosPerSecond;

struct Delivered {
  std::size_t machine;
  runtime::Nanos offset;
  double value;
  bool malformed;
  bool duplicate;
};

std::vector<Delivered> run(const StreamFaults& faults, std::size_t machines, std::uint64_t count,
                           std::uint64_t seed = 7, double rate = 10) {
  const SignalShape shape{.mean = 0, .noise = 1};
  SimulatedStream stream({&shape, 1}, machines, seed, rate, faults, count);
  std::vector<Delivered> out;
  SimulatedRecord r;
  while (stream.next(runtime::kMaxTime, r)) out.push_back({r.machine, r.offset, r.values[0], r.malformed, r.duplicate});
  REQUIRE(stream.finished());
  return out;
}

// Binomial bound: |n − N·p| within 5 standard deviations.
bool near_fraction(std::size_t n, std::size_t total, double p) {
  const double expected = double(total) * p;
  return std::abs(double(n) - expected) < 5 * std::sqrt(double(total) * p * (1 - p)) + 1;
}

TEST_CASE("simulated stream without faults delivers every record of every machine in time order",
          "[sensors][simulator][faults]") {
  const auto d = run({}, 3, 100);
  REQUIRE(d.size() == 300);
  for (std::size_t i = 0; i < d.size(); ++i) {
    CHECK(d[i].machine == i % 3);
    CHECK(d[i].offset == runtime::Nanos(i / 3) * kSec / 10);
    CHECK_FALSE(d[i].malformed);
    CHECK_FALSE(d[i].duplicate);
  }
}

TEST_CASE("simulated stream faults repeat with the seed and never change the values delivered",
          "[sensors][simulator][faults]") {
  StreamFaults f;
  f.gap_rate = 60;
  f.gap_length = 5 * kSec;
  f.out_of_order = 0.1;
  f.late = 0.05;
  f.late_by = 3 * kSec;
  f.duplicates = 0.05;
  f.malformed = 0.05;
  const auto a = run(f, 4, 2000);
  const auto b = run(f, 4, 2000);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].offset == b[i].offset);
    CHECK(a[i].value == b[i].value);
  }
  const auto other_seed = run(f, 4, 2000, 8);
  CHECK(other_seed.size() != a.size());

  // Every delivered value equals the one the same (machine, time) has without faults.
  std::map<std::pair<std::size_t, runtime::Nanos>, double> clean;
  for (const auto& r : run({}, 4, 2000)) clean[{r.machine, r.offset}] = r.value;
  for (const auto& r : a) CHECK(clean.at({r.machine, r.offset}) == r.value);
}

TEST_CASE("simulated stream outages drop runs of gap_length and count them", "[sensors][simulator][faults]") {
  StreamFaults f;
  f.gap_rate = 36;  // one per 100 s
  f.gap_length = 10 * kSec;
  const SignalShape shape{.mean = 1};
  SimulatedStream stream({&shape, 1}, 1, 3, 10, f, 100'000);  // 10 000 s at 10 Hz
  SimulatedRecord r;
  std::vector<runtime::Nanos> offsets;
  while (stream.next(runtime::kMaxTime, r)) offsets.push_back(r.offset);
  CHECK(stream.counts().gapped == 100'000 - offsets.size());
  int gaps = 0;
  for (std::size_t i = 1; i < offsets.size(); ++i) {
    const runtime::Nanos hole = offsets[i] - offsets[i - 1];
    if (hole == kSec / 10) continue;
    ++gaps;
    // An outage lasts gap_length (plus the record that started it); one may follow another.
    CHECK(hole >= 10 * kSec + kSec / 10);
  }
  // About 100 outages expected (Poisson, fewer while one is running): 80 to 120 is generous.
  CHECK(gaps > 60);
  CHECK(gaps < 120);
}

TEST_CASE("simulated stream duplicates follow their original at once with the same values",
          "[sensors][simulator][faults]") {
  StreamFaults f;
  f.duplicates = 0.1;
  const auto d = run(f, 2, 5000);
  std::size_t copies = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (!d[i].duplicate) continue;
    ++copies;
    REQUIRE(i > 0);
    CHECK(d[i].machine == d[i - 1].machine);
    CHECK(d[i].offset == d[i - 1].offset);
    CHECK(d[i].value == d[i - 1].value);
  }
  CHECK(d.size() == 10'000 + copies);
  CHECK(near_fraction(copies, 10'000, 0.1));
}

TEST_CASE("simulated stream late and out-of-order records arrive after later ones, within their delay",
          "[sensors][simulator][faults]") {
  StreamFaults f;
  f.late = 0.02;
  f.late_by = 30 * kSec;
  f.out_of_order = 0.1;
  f.max_delay = 2 * kSec;
  const auto d = run(f, 2, 5000);
  REQUIRE(d.size() == 10'000);  // nothing lost, all delivered by the end
  runtime::Nanos newest = -1;
  std::size_t behind = 0, late = 0;
  for (const auto& r : d) {
    if (r.offset < newest) {
      ++behind;
      const runtime::Nanos lag = newest - r.offset;
      CHECK(lag <= 30 * kSec);
      if (lag > 2 * kSec) ++late;
    }
    newest = std::max(newest, r.offset);
  }
  // Out-of-order records lag by less than 2 s, late ones by about 30 s.
  CHECK(near_fraction(late, 10'000, 0.02));
  CHECK(behind > late);
  CHECK(behind <= 10'000 * 0.12 + 5 * std::sqrt(10'000 * 0.12));
}

TEST_CASE("simulated stream garbles the configured fraction of records", "[sensors][simulator][faults]") {
  StreamFaults f;
  f.malformed = 0.03;
  const auto d = run(f, 1, 20'000);
  const auto bad = std::count_if(d.begin(), d.end(), [](const Delivered& r) { return r.malformed; });
  CHECK(near_fraction(static_cast<std::size_t>(bad), 20'000, 0.03));
}

TEST_CASE("simulated stream with faults allocates nothing per record", "[sensors][simulator][faults][alloc]") {
  StreamFaults f;
  f.out_of_order = 0.2;
  f.duplicates = 0.1;
  f.gap_rate = 100;
  const SignalShape shapes[] = {{.mean = 1, .noise = 1}, {.walk = 1, .spike_rate = 100, .spike_size = 3}};
  SimulatedStream stream(shapes, 10, 1, 100, f, 0);
  SimulatedRecord r;
  double sum = 0;
  AllocationCounter allocs;
  for (int i = 0; i < 100'000 && stream.next(runtime::kMaxTime, r); ++i) sum += r.values[0];
  CHECK(allocs.count() == 0);
  CHECK(sum != 0);
}

}  // namespace
}  // namespace vigil::test
