#pragma once
// The arithmetic of the `simulator` source, usable on its own: seeded value streams and an
// exact record schedule. Both are deterministic across compilers and standard libraries.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vigil/runtime/time.hpp"

namespace vigil::sensors {

/// A rolling-element bearing wearing out: the field is its vibration signal. Over `life` the
/// signal's RMS rises from `rms` to `rms_end` and defect impacts (sparse impulses of 6·RMS)
/// become frequent, so its kurtosis rises from 3 (healthy, Gaussian) to about 15 at failure.
/// Wear follows (e^{5x} − 1)/(e^5 − 1) of the life fraction x: slow at first, fast at the end;
/// after `life` the bearing stays failed.
struct BearingWear {
  runtime::Nanos life = 0;  ///< 0: no bearing model
  double rms = 1;           ///< RMS of the healthy vibration
  double rms_end = 10;      ///< RMS at the end of life
  runtime::Nanos age = 0;   ///< how far into its life the bearing is at the start
};

/// Shape of one simulated field:
/// value = mean + amplitude·sin(2π·t/period + phase(machine)) + drift·hours + noise·N(0,1)
///         + level (random walk and steps) + spikes + bearing vibration.
struct SignalShape {
  double mean = 0;
  double noise = 0;      ///< standard deviation of the Gaussian noise; 0 or more
  double amplitude = 0;  ///< of the sine wave around the mean
  runtime::Nanos period = 60 * runtime::kNanosPerSecond;  ///< of the sine wave; above 0
  double drift = 0;      ///< units per hour since the start
  double walk = 0;       ///< random walk: standard deviation of the level's change over 1 s
  double step_rate = 0;  ///< level steps per hour (at random times); 0 or more
  double step_size = 0;  ///< standard deviation of a step's height; steps persist
  double spike_rate = 0; ///< spikes per hour (at random times); a spike lasts one record
  double spike_size = 0; ///< height of a spike, up or down at random
  BearingWear bearing = BearingWear();  ///< bearing.life > 0: add a wearing bearing's vibration
};

/// xoshiro256** seeded through splitmix64 from (seed, a, b): the same numbers on every platform
/// and standard library. For the simulator's decisions (faults) that must repeat with the seed.
class Random {
 public:
  Random(std::uint64_t seed, std::uint64_t a, std::uint64_t b) noexcept;
  std::uint64_t bits() noexcept;
  /// Uniform in [0, 1).
  double uniform() noexcept;

 private:
  std::uint64_t state_[4];
};

/// Value streams for `machines` × `shapes`. Each (machine, field) pair draws its noise from its
/// own generator seeded from (seed, machine index, field index), so a value never depends on
/// other fields, other machines or thread timing. Construction allocates; next() does not.
/// One thread at a time.
class SignalGenerator {
 public:
  /// One stream per (machine, field); `shapes` gives the fields in order.
  SignalGenerator(std::span<const SignalShape> shapes, std::size_t machines, std::uint64_t seed);

  /// Writes the values of the next record of `machine`, `elapsed` ns after the start, one per
  /// field into `out` (which must hold fields() values). Records of one machine must be asked
  /// for in order. Allocation-free.
  void next(std::size_t machine, runtime::Nanos elapsed, std::span<double> out) noexcept;

  /// Number of machines and of fields per record, as constructed.
  std::size_t machines() const noexcept { return phases_.size(); }
  std::size_t fields() const noexcept { return shapes_.size(); }
  /// Phase of the sine wave of `machine`, in radians [0, 2π); drawn from the seed.
  double phase(std::size_t machine) const noexcept { return phases_[machine]; }
  /// Wear of a bearing `elapsed` ns after the start: 0 new, 1 failed.
  static double wear(const BearingWear& bearing, runtime::Nanos elapsed) noexcept;

 private:
  struct Stream {
    std::uint64_t state[4];
    double spare;    // second normal of the last Box–Muller pair
    bool has_spare;
  };
  /// Per (machine, field): the random level (walk and steps) and the generator of its events,
  /// apart from the noise stream so adding events leaves the noise as it was.
  struct Events {
    Stream random;
    double level;
  };
  static double normal(Stream& s) noexcept;
  static double uniform(Stream& s) noexcept;
  static double bearing(const BearingWear& b, runtime::Nanos elapsed, Stream& noise, Stream& events) noexcept;

  std::vector<SignalShape> shapes_;
  std::vector<double> phases_;   // per machine
  std::vector<runtime::Nanos> last_;  // per machine: elapsed time of its previous record
  std::vector<Events> events_;   // machine-major like streams_
  std::vector<Stream> streams_;  // machine-major: machine * fields() + field
};

/// When record i is due at `rate` records per second: offset(i) = ⌊i·10⁹/rate⌋ ns, computed
/// from the rate as an exact fraction, so no rounding error accumulates over any run length.
class RecordSchedule {
 public:
  /// `rate` in records per second, from 0.001 to 1e7 (the `simulator` key's range).
  explicit RecordSchedule(double rate) noexcept;
  /// Nanoseconds from the start to record `i`.
  runtime::Nanos offset(std::uint64_t i) const noexcept;
  /// How many records are due `elapsed` ns after the start (those with offset <= elapsed).
  std::uint64_t due(runtime::Nanos elapsed) const noexcept;

 private:
  // offset(i) = ⌊i·numerator_/denominator_⌋, the fraction in lowest terms.
  std::int64_t numerator_ = 1;
  std::int64_t denominator_ = 1;
};

}  // namespace vigil::sensors
