#pragma once
// Simulated records in delivery order: the values of a SignalGenerator on an exact schedule, with
// the stream faults of a real plant applied (outages, late and out-of-order delivery, duplicates,
// malformed messages). Shared by the `simulator` source and `vigil simulate`.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vigil/runtime/time.hpp"
#include "vigil/sensors/signal_generator.hpp"

namespace vigil::sensors {

/// What goes wrong with the stream, per machine. Fractions are chances per record, 0 to 1.
struct StreamFaults {
  double gap_rate = 0;  ///< outages per hour (at random times); no records during one
  runtime::Nanos gap_length = 10 * runtime::kNanosPerSecond;
  double out_of_order = 0;  ///< records delivered up to max_delay after their time
  runtime::Nanos max_delay = runtime::kNanosPerSecond;
  double late = 0;  ///< records delivered late_by after their time
  runtime::Nanos late_by = 60 * runtime::kNanosPerSecond;
  double duplicates = 0;  ///< records delivered twice
  double malformed = 0;   ///< records whose message is garbled (the consumer cannot decode it)
};

/// One record to deliver. `values` stay valid until the next call of next().
struct SimulatedRecord {
  std::size_t machine = 0;
  runtime::Nanos offset = 0;  ///< event time, from the start
  std::span<const double> values;
  bool malformed = false;  ///< send it as a garbled message
  bool duplicate = false;  ///< the second copy of a duplicated record
};

/// Counts of what the faults did, for logs and tests.
struct FaultCounts {
  std::uint64_t generated = 0;  ///< records made (gaps included)
  std::uint64_t gapped = 0;     ///< records lost to outages
  std::uint64_t delayed = 0;    ///< records held back (late or out of order)
  std::uint64_t duplicated = 0;
  std::uint64_t malformed = 0;
};

/// Generates record i of every machine (in machine order) at offset(i) and delivers records in
/// order of delivery time; a held-back record is delivered once the stream passes its delivery
/// time (or at the end). Everything is drawn from the seed, so a scenario repeats exactly.
/// Construction allocates; next() does not. One thread at a time.
class SimulatedStream {
 public:
  /// At most this many records are held back at once; beyond it a record is sent on time.
  static constexpr std::size_t kMaxHeld = 1 << 16;

  /// `count`: records per machine, 0 for unlimited. `rate` as for RecordSchedule.
  SimulatedStream(std::span<const SignalShape> shapes, std::size_t machines, std::uint64_t seed, double rate,
                  const StreamFaults& faults, std::uint64_t count);

  /// The next record whose delivery time is at most `until` (ns from the start); false when
  /// none is due by then or the stream has ended.
  bool next(runtime::Nanos until, SimulatedRecord& out) noexcept;
  /// True when every record was delivered (only with a count).
  bool finished() const noexcept;
  /// Delivery time of the next record (ns from the start); kMaxTime when finished.
  runtime::Nanos next_due() const noexcept;
  const FaultCounts& counts() const noexcept { return counts_; }
  std::size_t fields() const noexcept { return generator_.fields(); }

 private:
  struct Held {
    runtime::Nanos release;
    std::uint64_t order;  // ties keep generation order
    runtime::Nanos offset;
    std::uint32_t machine;
    std::uint32_t slot;   // values at slot * fields()
    bool malformed;
  };
  bool generate(SimulatedRecord& out) noexcept;  // false: the record is not delivered now
  void pop_held(SimulatedRecord& out) noexcept;

  SignalGenerator generator_;
  RecordSchedule schedule_;
  StreamFaults faults_;
  std::uint64_t count_;
  std::size_t machines_;
  double gap_chance_ = 0;  // per record
  std::uint64_t index_ = 0;     // record index being generated
  std::size_t machine_ = 0;     // next machine of that index
  std::vector<Random> random_;  // per machine
  std::vector<runtime::Nanos> gap_until_;  // per machine
  std::vector<double> current_;  // values of the record just generated
  std::vector<double> repeat_;   // values of a duplicate to deliver next
  bool has_repeat_ = false;
  SimulatedRecord repeat_record_;
  std::vector<Held> held_;        // min-heap on (release, order), capacity fixed
  std::vector<double> held_values_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<double> popped_;    // values of the held record just delivered
  std::uint64_t order_ = 0;
  FaultCounts counts_;
};

}  // namespace vigil::sensors
