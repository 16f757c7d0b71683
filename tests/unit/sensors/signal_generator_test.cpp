#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <numbers>
#include <vector>

#include "allocation_counter.hpp"
#include "vigil/sensors/signal_generator.hpp"

namespace vigil::test {
namespace {

using sensors::RecordSchedule;
using sensors::SignalGenerator;
using sensors::SignalShape;

constexpr runtime::Nanos kSec = runtime::kNanosPerSecond;

TEST_CASE("signal noise has the configured mean and standard deviation", "[sensors][simulator]") {
  const SignalShape shape{.mean = 60, .noise = 0.5};
  SignalGenerator gen({&shape, 1}, 1, 42);
  constexpr int kN = 100'000;
  double sum = 0, sum_sq = 0;
  double v[1];
  for (int i = 0; i < kN; ++i) {
    gen.next(0, i * 10'000'000LL, v);
    sum += v[0];
    sum_sq += v[0] * v[0];
  }
  const double mean = sum / kN;
  const double stddev = std::sqrt((sum_sq - kN * mean * mean) / (kN - 1));
  // Standard error of the mean is noise/sqrt(n) = 0.0016; allow 5 of them.
  CHECK(std::abs(mean - shape.mean) < 5 * shape.noise / std::sqrt(double(kN)));
  // The sample stddev of 1e5 normals is within 1% with overwhelming probability; allow 3%.
  CHECK(std::abs(stddev - shape.noise) < 0.03 * shape.noise);
}

TEST_CASE("signal drift adds its units per hour", "[sensors][simulator]") {
  const SignalShape shape{.mean = 10, .drift = 2};
  SignalGenerator gen({&shape, 1}, 1, 1);
  double v[1];
  gen.next(0, 0, v);
  CHECK(v[0] == 10.0);
  gen.next(0, 1800 * kSec, v);
  CHECK(v[0] == Approx(11.0).epsilon(1e-12));
  gen.next(0, 36 * 3600 * kSec, v);
  CHECK(v[0] == Approx(82.0).epsilon(1e-12));
}

TEST_CASE("signal sine swings by its amplitude and repeats every period", "[sensors][simulator]") {
  const SignalShape shape{.mean = 5, .amplitude = 2, .period = 120 * kSec};
  SignalGenerator gen({&shape, 1}, 1, 3);
  double lo = 1e9, hi = -1e9, v[1];
  std::vector<double> first_period;
  for (runtime::Nanos t = 0; t < 240 * kSec; t += 100'000'000) {
    gen.next(0, t, v);
    lo = std::min(lo, v[0]);
    hi = std::max(hi, v[0]);
    if (t < 120 * kSec) first_period.push_back(v[0]);
    else CHECK(v[0] == Approx(first_period[static_cast<std::size_t>((t - 120 * kSec) / 100'000'000)]).margin(1e-12));
  }
  CHECK(hi == Approx(7.0).margin(1e-3));
  CHECK(lo == Approx(3.0).margin(1e-3));
  // value = mean + amplitude * sin(phase) at t = 0.
  gen.next(0, 0, v);
  CHECK(v[0] == Approx(5 + 2 * std::sin(gen.phase(0))).margin(1e-12));
}

TEST_CASE("signal streams depend only on seed, machine and field", "[sensors][simulator]") {
  const SignalShape a{.mean = 1, .noise = 1};
  const SignalShape b{.mean = -1, .noise = 3};
  const SignalShape both[] = {a, b};
  SignalGenerator two_fields(both, 2, 9);
  SignalGenerator one_field({&a, 1}, 2, 9);
  SignalGenerator other_seed({&a, 1}, 2, 10);
  double v2[2], v1[1], w[1];
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    two_fields.next(1, i * kSec, v2);
    one_field.next(1, i * kSec, v1);
    other_seed.next(1, i * kSec, w);
    REQUIRE(v2[0] == v1[0]);
    differs = differs || w[0] != v1[0];
  }
  CHECK(differs);
  CHECK(two_fields.phase(0) != two_fields.phase(1));
}

// Mean, RMS and kurtosis of raw samples, computed directly (the reference for the bearing).
struct Moments {
  double rms = 0, kurtosis = 0;
};
Moments moments(const std::vector<double>& x) {
  double mean = 0;
  for (double v : x) mean += v;
  mean /= double(x.size());
  double m2 = 0, m4 = 0, sq = 0;
  for (double v : x) {
    const double d = v - mean;
    m2 += d * d;
    m4 += d * d * d * d;
    sq += v * v;
  }
  m2 /= double(x.size());
  m4 /= double(x.size());
  return {std::sqrt(sq / double(x.size())), m4 / (m2 * m2)};
}

TEST_CASE("signal random walk spreads as walk times the square root of elapsed seconds", "[sensors][simulator]") {
  const SignalShape shape{.walk = 0.5};
  constexpr std::size_t kMachines = 4000;
  SignalGenerator gen({&shape, 1}, kMachines, 9);
  double v[1], sum = 0, sum_sq = 0;
  for (std::size_t m = 0; m < kMachines; ++m) {
    for (int s = 0; s <= 100; ++s) gen.next(m, s * kSec, v);  // 100 one-second steps
    sum += v[0];
    sum_sq += v[0] * v[0];
  }
  const double mean = sum / kMachines;
  const double stddev = std::sqrt(sum_sq / kMachines - mean * mean);
  // After 100 s the level is N(0, (0.5·10)²): stddev 5; its estimate from 4000 walks is within ~2%.
  CHECK(std::abs(stddev - 5.0) < 0.3);
  CHECK(std::abs(mean) < 5 * 5.0 / std::sqrt(double(kMachines)));
}

TEST_CASE("signal steps come at their rate and persist", "[sensors][simulator]") {
  const SignalShape shape{.mean = 1, .step_rate = 3600, .step_size = 2};  // one per second
  SignalGenerator gen({&shape, 1}, 1, 4);
  double v[1], last = 1;
  int changes = 0;
  constexpr int kN = 10'000;
  for (int i = 0; i < kN; ++i) {
    gen.next(0, i * 100'000'000LL, v);  // 0.1 s apart
    if (v[0] != last) ++changes;
    last = v[0];
  }
  // Chance of a step per record 1 − e^{−0.1} = 0.0952: 952 expected, binomial stddev 29.
  CHECK(std::abs(changes - 951.6) < 5 * 29.4);
  CHECK(last != 1.0);  // the level moved and stayed moved
}

TEST_CASE("signal spikes last one record, have their size and come at their rate", "[sensors][simulator]") {
  const SignalShape shape{.mean = 10, .spike_rate = 360, .spike_size = 4};  // one per 10 s
  SignalGenerator gen({&shape, 1}, 1, 5);
  double v[1];
  int up = 0, down = 0, other = 0;
  constexpr int kN = 100'000;
  for (int i = 0; i < kN; ++i) {
    gen.next(0, i * 100'000'000LL, v);
    if (v[0] == 14) ++up;
    else if (v[0] == 6) ++down;
    else if (v[0] != 10) ++other;
  }
  // 1 − e^{−0.01} per record: 995 expected, stddev 31; up and down about equally often.
  CHECK(other == 0);
  CHECK(std::abs(up + down - 995.0) < 5 * 31.4);
  CHECK(std::abs(up - down) < 5 * std::sqrt(995.0));
}

TEST_CASE("signal bearing vibration: RMS and kurtosis rise from healthy to failed over its life",
          "[sensors][simulator]") {
  SignalShape shape;
  shape.bearing = {.life = 1000 * kSec, .rms = 1, .rms_end = 5, .age = 0};
  SignalGenerator gen({&shape, 1}, 1, 6);
  CHECK(SignalGenerator::wear(shape.bearing, 0) == 0);
  CHECK(SignalGenerator::wear(shape.bearing, 1000 * kSec) == Approx(1.0));
  CHECK(SignalGenerator::wear(shape.bearing, 500 * kSec) < 0.1);  // slow at first
  std::vector<double> early, late;
  double v[1];
  for (std::int64_t i = 0; i < 1'000'000; ++i) {  // 1 kHz over the whole life
    const runtime::Nanos t = i * 1'000'000;
    gen.next(0, t, v);
    if (t < 100 * kSec) early.push_back(v[0]);
    if (t >= 990 * kSec) late.push_back(v[0]);
  }
  const Moments e = moments(early), l = moments(late);
  CHECK(std::abs(e.rms - 1.0) < 0.02);          // wear under 0.2%: healthy
  CHECK(std::abs(e.kurtosis - 3.0) < 0.1);      // Gaussian
  CHECK(l.rms > 4.5);                            // near rms_end
  CHECK(l.rms < 5.1);
  CHECK(l.kurtosis > 8);                         // impacts: about 15 at failure
}

TEST_CASE("record schedule gives exact offsets for any rate", "[sensors][simulator]") {
  CHECK(RecordSchedule(100).offset(1) == 10'000'000);
  CHECK(RecordSchedule(100).offset(360'000'000) == 3'600'000 * kSec);
  CHECK(RecordSchedule(3).offset(1) == 333'333'333);
  CHECK(RecordSchedule(3).offset(2) == 666'666'666);
  CHECK(RecordSchedule(3).offset(3) == kSec);
  CHECK(RecordSchedule(3).offset(3'000'000'001) == 1'000'000'000 * kSec + 333'333'333);
  CHECK(RecordSchedule(2.5).offset(1) == 400'000'000);
  CHECK(RecordSchedule(0.001).offset(1) == 1000 * kSec);
  CHECK(RecordSchedule(1e7).offset(1) == 100);
  CHECK(RecordSchedule(1e7).offset(10'000'000) == kSec);
}

TEST_CASE("record schedule stays exact when i·10⁹·scale passes 64 bits (and on 32-bit targets)",
          "[sensors][simulator]") {
  // 0.123456789 records/s: one record every 10¹⁸/123456789 ns, so record 100 needs 10²⁰ in the
  // product; ⌊10²⁰ / 123456789⌋ = 810000007371 (worked out with exact integers).
  const RecordSchedule s(0.123456789);
  CHECK(s.offset(100) == 810'000'007'371);
  CHECK(s.due(810'000'007'371) == 101);
  CHECK(s.due(810'000'007'370) == 100);
  // Past the largest time the offset saturates instead of wrapping.
  CHECK(RecordSchedule(0.001).offset(std::uint64_t{1} << 62) == runtime::kMaxTime);
}

TEST_CASE("record schedule counts exactly the records due", "[sensors][simulator]") {
  for (double rate : {1.0, 3.0, 7.0, 100.0, 2.5, 0.001, 1e7}) {
    const RecordSchedule s(rate);
    CAPTURE(rate);
    CHECK(s.due(-1) == 0);
    CHECK(s.due(0) == 1);
    for (runtime::Nanos e : std::initializer_list<runtime::Nanos>{1, 99, 100, 333'333'333, 999'999'999, kSec,
                                                                   3600 * kSec + 17}) {
      const std::uint64_t n = s.due(e);
      CAPTURE(e);
      REQUIRE(n >= 1);
      CHECK(s.offset(n - 1) <= e);
      CHECK(s.offset(n) > e);
    }
  }
}

TEST_CASE("signal generation allocates nothing per record", "[sensors][simulator][alloc]") {
  const SignalShape shapes[] = {{.mean = 60, .noise = 0.5, .amplitude = 2, .period = 120 * kSec},
                                {.mean = 0.02, .noise = 0.005},
                                {.mean = 4.0, .noise = 0.05, .drift = 0.1}};
  SignalGenerator gen(shapes, 3, 1);
  const RecordSchedule schedule(100);
  double v[3];
  AllocationCounter allocs;
  double checksum = 0;
  for (std::uint64_t i = 0; i < 100'000; ++i)
    for (std::size_t m = 0; m < 3; ++m) {
      gen.next(m, schedule.offset(i), v);
      checksum += v[0] + v[1] + v[2];
    }
  CHECK(allocs.count() == 0);
  CHECK(std::isfinite(checksum));
}

}  // namespace
}  // namespace vigil::test
