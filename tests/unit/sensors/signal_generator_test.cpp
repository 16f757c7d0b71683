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
