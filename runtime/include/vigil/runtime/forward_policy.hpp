#pragma once
// A pipeline's `forward:` policy decides, per summary, whether it goes upstream and at which
// priority. Every summary still reaches every output; outputs read Summary::forward.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vigil/runtime/counter.hpp"
#include "vigil/runtime/key_table.hpp"
#include "vigil/runtime/result.hpp"
#include "vigil/runtime/summary.hpp"

namespace vigil::runtime {

/// Which summaries a pipeline forwards.
enum class ForwardMode : std::uint8_t {
  always,    ///< every summary
  every,     ///< a heartbeat: every N windows or every interval of event time, per key
  deadband,  ///< per key, when a column moved more than a band since the last forwarded value
  on_alarm,  ///< per key, when a threshold alarm on a column is raised or cleared (priority > 0)
};

/// Column index that stands for the summary's `count` rather than one of its columns.
inline constexpr int kCountColumn = -1;

/// The validated `forward:` block of one pipeline.
struct ForwardSettings {
  ForwardMode mode = ForwardMode::always;
  std::int64_t windows = 0;  ///< every: period in windows; deadband/on_alarm: heartbeat (0: none)
  Nanos interval = 0;        ///< every: period in event time; deadband/on_alarm: heartbeat (0: none)
  int column = kCountColumn; ///< deadband/on_alarm: the watched column
  double band = -1;          ///< deadband: absolute band (< 0: not used)
  double percent = -1;       ///< deadband: band in percent of the last forwarded value (< 0: not used)
  bool has_above = false;
  double above = 0;          ///< on_alarm: raised while the value is above this
  bool has_below = false;
  double below = 0;          ///< on_alarm: raised while the value is below this
  double hysteresis = 0;     ///< on_alarm: an alarm clears only this far back inside the limit
  std::uint8_t priority = 1; ///< on_alarm: priority of a summary that raises or clears the alarm
};

/// Counters of one pipeline's policy (pipeline thread writes, any thread reads).
struct ForwardCounters {
  Counter forwarded;       ///< summaries marked for upstream
  Counter held;            ///< summaries kept local only
  Counter alarms_raised;   ///< on_alarm: summaries that raised an alarm
  Counter alarms_cleared;  ///< on_alarm: summaries that cleared one
};

/// Per-key state of one pipeline's policy, allocated once for `max_keys` key slots.
/// decide() runs on the pipeline thread, is noexcept and allocates nothing.
class ForwardPolicy {
 public:
  /// Allocates the state of `max_keys` keys (nothing for `always`). Throws std::bad_alloc.
  ForwardPolicy(const ForwardSettings& settings, std::size_t max_keys);

  /// Sets `s.forward` and `s.priority` and updates the key's state. Summaries must arrive in
  /// output order. Late summaries (kLate) are forwarded only by `always` and change no state;
  /// a key slot reused by another key (new generation) starts afresh.
  void decide(Summary& s) noexcept;

  const ForwardSettings& settings() const noexcept { return settings_; }
  const ForwardCounters& counters() const noexcept { return counters_; }
  /// Appends the per-key state (key names, not slots) for a checkpoint.
  void snapshot(const KeyTable& keys, std::vector<std::byte>& out) const;
  /// Reads what snapshot() wrote, interning the keys; an error leaves the policy as it was built.
  Result<void> restore(std::span<const std::byte> in, KeyTable& keys);

  /// Bytes of per-key state allocated at construction.
  std::size_t state_bytes() const noexcept { return keys_.size() * sizeof(KeyState); }

 private:
  enum class Alarm : std::uint8_t { normal, high, low };
  struct KeyState {
    std::uint32_t generation = 0;
    bool seen = false;          // a summary of this key has been forwarded
    Alarm alarm = Alarm::normal;
    std::uint32_t since = 0;    // windows since the last forwarded one
    Nanos last_end = 0;         // window end of the last forwarded summary
    double last_value = 0;      // deadband: value of the last forwarded summary
  };

  bool heartbeat_due(const KeyState& k, const Summary& s) const noexcept;
  double value_of(const Summary& s) const noexcept;
  Alarm alarm_after(Alarm now, double value) const noexcept;

  ForwardSettings settings_;
  std::vector<KeyState> keys_;
  ForwardCounters counters_;
};

}  // namespace vigil::runtime
