#pragma once
// One Summary type feeds every encoder (JSON now, FlatBuffers upstream).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/runtime/event.hpp"

namespace vigil::runtime {

/// Column names of one pipeline's summaries, fixed at configuration time.
struct SummarySchema {
  std::string pipeline;
  std::uint16_t pipeline_index = 0;
  std::vector<std::string> columns;  ///< "<field>_<agg>" or the `as:` name, in config order
};

enum SummaryFlags : std::uint8_t {
  kPartial = 1,  ///< flushed before the watermark closed the window, or restored with gaps
  kLate = 2,     ///< a record that arrived after its window fired (late: emit)
  kResent = 4,   ///< sent again from the outbox backlog
};

/// One window result for one key. Views point into pipeline-owned storage and are valid only
/// during the emit() call that receives it.
struct Summary {
  const SummarySchema* schema = nullptr;
  KeyId key{};
  std::string_view key_name;
  std::uint64_t key_rank = 0;  ///< order the key was first seen; ties in output order break on it
  Nanos start = 0;             ///< window start, inclusive (ns since epoch)
  Nanos end = 0;               ///< window end, exclusive
  std::uint64_t count = 0;     ///< records in the window
  std::span<const double> values;  ///< one per schema column
  std::uint8_t flags = 0;
  /// Set by the pipeline's `forward:` policy: false keeps the summary local (console, and the
  /// outbox only with keep_all), true sends it upstream. Not part of the JSON form.
  bool forward = true;
  /// 0 routine; > 0 an alert (a summary that raised or cleared an on_alarm alarm), which takes
  /// the upstream alert lane and is evicted last from a full outbox.
  std::uint8_t priority = 0;
};

/// Receives summaries on the pipeline thread. Must not block for long and must not throw.
class SummarySink {
 public:
  virtual ~SummarySink() = default;
  virtual void emit(const Summary& summary) noexcept = 0;
};

/// Appends the JSON form of `s` (no newline) to `out`: members in fixed order
/// pipeline, key, start, end, count, columns..., then flags; numbers in shortest round-trip
/// form; NaN and infinities as null. Reuses `out`'s capacity.
void append_json(const Summary& s, std::string& out);

/// Appends a JSON string literal with escaping.
void append_json_string(std::string_view text, std::string& out);
/// Appends a number in shortest round-trip form (integers without ".0"); NaN/inf as null.
void append_json_number(double value, std::string& out);

}  // namespace vigil::runtime
