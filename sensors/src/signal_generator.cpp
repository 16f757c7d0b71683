#include "vigil/sensors/signal_generator.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

namespace vigil::sensors {
namespace {

// 128-bit intermediates keep i·10⁹·d exact for every rate and run length we accept. 32-bit
// targets (armhf) have no __int128: there the product is kept in two 64-bit halves.
#if defined(__SIZEOF_INT128__)
__extension__ using Wide = unsigned __int128;

std::uint64_t mul_div(std::uint64_t a, std::uint64_t b, std::uint64_t add, std::uint64_t d) noexcept {
  const Wide q = (static_cast<Wide>(a) * b + add) / d;
  return q > UINT64_MAX ? UINT64_MAX : static_cast<std::uint64_t>(q);
}
#else
struct Wide {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
};

Wide multiply(std::uint64_t a, std::uint64_t b) noexcept {
  const std::uint64_t a_lo = a & 0xFFFFFFFFu, a_hi = a >> 32, b_lo = b & 0xFFFFFFFFu, b_hi = b >> 32;
  const std::uint64_t ll = a_lo * b_lo, lh = a_lo * b_hi, hl = a_hi * b_lo, hh = a_hi * b_hi;
  const std::uint64_t mid = (ll >> 32) + (lh & 0xFFFFFFFFu) + (hl & 0xFFFFFFFFu);
  return Wide{hh + (lh >> 32) + (hl >> 32) + (mid >> 32), (mid << 32) | (ll & 0xFFFFFFFFu)};
}

// (a·b + add) / d, rounded down; UINT64_MAX when the quotient does not fit in 64 bits.
std::uint64_t mul_div(std::uint64_t a, std::uint64_t b, std::uint64_t add, std::uint64_t d) noexcept {
  Wide x = multiply(a, b);
  x.lo += add;
  if (x.lo < add) ++x.hi;
  if (x.hi >= d) return UINT64_MAX;
  // Long division one bit at a time; the remainder stays below d, so 2·remainder + 1 fits in
  // 65 bits and the carry out of the shift says it is at least d.
  std::uint64_t remainder = x.hi, quotient = 0;
  for (int bit = 63; bit >= 0; --bit) {
    const bool carry = (remainder >> 63) != 0;
    remainder = (remainder << 1) | ((x.lo >> bit) & 1u);
    quotient <<= 1;
    if (carry || remainder >= d) {
      remainder -= d;
      quotient |= 1u;
    }
  }
  return quotient;
}
#endif

constexpr double kTwoPi = 2.0 * std::numbers::pi;
constexpr double kNanosPerHour = 3600.0 * 1e9;
// Separate the phase stream and the event streams from the field streams when deriving seeds.
constexpr std::uint64_t kPhaseDomain = 0x7068617365ULL;
constexpr std::uint64_t kEventDomain = 0x6576656e7473ULL;
// Bearing model: impulse height in RMS units and impulse probability per record at failure.
constexpr double kImpulseHeight = 6.0;
constexpr double kImpulseChance = 0.01;
constexpr double kWearCurve = 5.0;

// splitmix64's finalizer: a fixed bijective mixer, identical on every platform.
constexpr std::uint64_t mix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  return mix(x);
}

constexpr std::uint64_t stream_key(std::uint64_t seed, std::uint64_t machine, std::uint64_t field) noexcept {
  std::uint64_t k = mix(seed + 0x9e3779b97f4a7c15ULL);
  k = mix(k ^ mix(machine + 1));
  return mix(k ^ mix((field + 1) * 0xd1b54a32d192ed03ULL));
}

constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

// xoshiro256** (Blackman and Vigna): small, fast and specified bit for bit.
std::uint64_t next_bits(std::uint64_t (&s)[4]) noexcept {
  const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
  const std::uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

// Uniform in [0, 1) with 53 random bits.
double unit_interval(std::uint64_t bits) noexcept { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

}  // namespace

Random::Random(std::uint64_t seed, std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t x = stream_key(seed, a, b);
  for (auto& word : state_) word = splitmix64(x);
}

std::uint64_t Random::bits() noexcept { return next_bits(state_); }
double Random::uniform() noexcept { return unit_interval(next_bits(state_)); }

SignalGenerator::SignalGenerator(std::span<const SignalShape> shapes, std::size_t machines,
                                 std::uint64_t seed)
    : shapes_(shapes.begin(), shapes.end()) {
  phases_.reserve(machines);
  last_.assign(machines, 0);
  streams_.reserve(machines * shapes_.size());
  events_.reserve(machines * shapes_.size());
  for (std::size_t m = 0; m < machines; ++m) {
    std::uint64_t x = stream_key(seed, m, kPhaseDomain);
    phases_.push_back(kTwoPi * unit_interval(splitmix64(x)));
    for (std::size_t f = 0; f < shapes_.size(); ++f) {
      Stream s{};
      x = stream_key(seed, m, f);
      for (auto& word : s.state) word = splitmix64(x);
      streams_.push_back(s);
      Events e{};
      x = stream_key(seed ^ kEventDomain, m, f);
      for (auto& word : e.random.state) word = splitmix64(x);
      events_.push_back(e);
    }
  }
}

// Box–Muller on xoshiro output rather than std::normal_distribution, whose sequence differs
// between standard libraries; a seed must mean the same signal everywhere.
double SignalGenerator::normal(Stream& s) noexcept {
  if (s.has_spare) {
    s.has_spare = false;
    return s.spare;
  }
  const double u1 = 1.0 - unit_interval(next_bits(s.state));  // (0, 1]: log stays finite
  const double u2 = unit_interval(next_bits(s.state));
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = kTwoPi * u2;
  s.spare = r * std::sin(theta);
  s.has_spare = true;
  return r * std::cos(theta);
}

double SignalGenerator::uniform(Stream& s) noexcept { return unit_interval(next_bits(s.state)); }

void SignalGenerator::next(std::size_t machine, runtime::Nanos elapsed, std::span<double> out) noexcept {
  const double hours = static_cast<double>(elapsed) / kNanosPerHour;
  const double phase = phases_[machine];
  // Time since this machine's previous record: walks and event chances scale with it.
  const double dt = static_cast<double>(std::max<runtime::Nanos>(0, elapsed - last_[machine])) / 1e9;
  last_[machine] = elapsed;
  Stream* streams = streams_.data() + machine * shapes_.size();
  Events* events = events_.data() + machine * shapes_.size();
  for (std::size_t f = 0; f < shapes_.size(); ++f) {
    const SignalShape& shape = shapes_[f];
    double value = shape.mean;
    if (shape.amplitude != 0 && shape.period > 0) {
      // The position within the period in integers: exact however long the run.
      runtime::Nanos within = elapsed % shape.period;
      if (within < 0) within += shape.period;
      const double cycle = static_cast<double>(within) / static_cast<double>(shape.period);
      value += shape.amplitude * std::sin(kTwoPi * cycle + phase);
    }
    if (shape.drift != 0) value += shape.drift * hours;
    if (shape.noise != 0) value += shape.noise * normal(streams[f]);
    Events& ev = events[f];
    if (shape.walk != 0 && dt > 0) ev.level += shape.walk * std::sqrt(dt) * normal(ev.random);
    // Poisson events: the chance of at least one in dt is 1 − e^{−rate·dt}.
    if (shape.step_rate > 0 && uniform(ev.random) < -std::expm1(-shape.step_rate * dt / 3600.0))
      ev.level += shape.step_size * normal(ev.random);
    value += ev.level;
    if (shape.spike_rate > 0 && uniform(ev.random) < -std::expm1(-shape.spike_rate * dt / 3600.0))
      value += uniform(ev.random) < 0.5 ? -shape.spike_size : shape.spike_size;
    if (shape.bearing.life > 0) value += bearing(shape.bearing, elapsed, streams[f], ev.random);
    out[f] = value;
  }
}

double SignalGenerator::wear(const BearingWear& b, runtime::Nanos elapsed) noexcept {
  if (b.life <= 0) return 0;
  const double x = std::clamp(static_cast<double>(b.age + elapsed) / static_cast<double>(b.life), 0.0, 1.0);
  return std::expm1(kWearCurve * x) / std::expm1(kWearCurve);
}

// Gaussian vibration plus sparse impacts of ±6·R with chance 0.01·wear per record; the Gaussian
// part gives up the impacts' share of the variance, so the RMS stays R(wear) throughout.
double SignalGenerator::bearing(const BearingWear& b, runtime::Nanos elapsed, Stream& noise, Stream& events) noexcept {
  const double w = wear(b, elapsed);
  const double rms = b.rms + (b.rms_end - b.rms) * w;
  const double chance = kImpulseChance * w;
  const double gaussian = rms * std::sqrt(1.0 - chance * kImpulseHeight * kImpulseHeight);
  double v = gaussian * normal(noise);
  if (uniform(events) < chance) v += (uniform(events) < 0.5 ? -kImpulseHeight : kImpulseHeight) * rms;
  return v;
}

RecordSchedule::RecordSchedule(double rate) noexcept {
  // Write the rate as n/d with d a power of ten, so decimal rates (100, 2.5, 0.001) are exact.
  std::int64_t scale = 1;
  double scaled = rate;
  while (scale < 1'000'000'000 && std::abs(scaled - std::round(scaled)) > 1e-9 * scaled) {
    scale *= 10;
    scaled = rate * static_cast<double>(scale);
  }
  std::int64_t per_scale = std::max<std::int64_t>(1, std::llround(scaled));
  std::int64_t nanos = runtime::kNanosPerSecond * scale;
  std::int64_t g = std::gcd(nanos, per_scale);
  numerator_ = nanos / g;
  denominator_ = per_scale / g;
}

runtime::Nanos RecordSchedule::offset(std::uint64_t i) const noexcept {
  const std::uint64_t t =
      mul_div(i, static_cast<std::uint64_t>(numerator_), 0, static_cast<std::uint64_t>(denominator_));
  return t > static_cast<std::uint64_t>(runtime::kMaxTime) ? runtime::kMaxTime : static_cast<runtime::Nanos>(t);
}

std::uint64_t RecordSchedule::due(runtime::Nanos elapsed) const noexcept {
  if (elapsed < 0) return 0;
  // offset(i) <= e  ⇔  i·n < (e+1)·d  ⇔  i < ⌈(e+1)·d / n⌉
  const auto n = static_cast<std::uint64_t>(numerator_);
  return mul_div(static_cast<std::uint64_t>(elapsed) + 1, static_cast<std::uint64_t>(denominator_), n - 1, n);
}

}  // namespace vigil::sensors
