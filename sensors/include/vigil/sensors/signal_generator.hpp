#pragma once
// The arithmetic of the `simulator` source, usable on its own: seeded value streams and an
// exact record schedule. Both are deterministic across compilers and standard libraries.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vigil/runtime/time.hpp"

namespace vigil::sensors {

/// Shape of one simulated field:
/// value = mean + amplitude·sin(2π·t/period + phase(machine)) + drift·hours + noise·N(0,1).
struct SignalShape {
  double mean = 0;
  double noise = 0;      ///< standard deviation of the Gaussian noise; 0 or more
  double amplitude = 0;  ///< of the sine wave around the mean
  runtime::Nanos period = 60 * runtime::kNanosPerSecond;  ///< of the sine wave; above 0
  double drift = 0;      ///< units per hour since the start
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

 private:
  struct Stream {
    std::uint64_t state[4];
    double spare;    // second normal of the last Box–Muller pair
    bool has_spare;
  };
  static double normal(Stream& s) noexcept;

  std::vector<SignalShape> shapes_;
  std::vector<double> phases_;   // per machine
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
