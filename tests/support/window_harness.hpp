#pragma once
// Drives one window operator in-process, the way the engine would: parses a window block and an
// aggregates list, validates them, builds the operator, feeds it records and clock ticks, and
// keeps a copy of every summary it emits (a Summary's views only live during emit()).
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/runtime/config_keys.hpp"
#include "vigil/runtime/config_node.hpp"
#include "vigil/runtime/plugin.hpp"

namespace vigil::test {

/// Durations for tests: 10_s, 500_ms, 1_ns.
namespace literals {
constexpr runtime::Nanos operator""_s(unsigned long long v) { return static_cast<runtime::Nanos>(v) * runtime::kNanosPerSecond; }
constexpr runtime::Nanos operator""_ms(unsigned long long v) { return static_cast<runtime::Nanos>(v) * runtime::kNanosPerMilli; }
constexpr runtime::Nanos operator""_us(unsigned long long v) { return static_cast<runtime::Nanos>(v) * runtime::kNanosPerMicro; }
constexpr runtime::Nanos operator""_ns(unsigned long long v) { return static_cast<runtime::Nanos>(v); }
}  // namespace literals

/// A plausible epoch time (2023-11-14T22:13:20Z) that every window size used in tests divides.
inline constexpr runtime::Nanos kT0 = 1'700'000'000 * runtime::kNanosPerSecond;

/// What the window's source and pipeline declare outside the `window:` block.
struct WindowOptions {
  runtime::Nanos max_out_of_order = 0;  ///< the source's time.max_out_of_order
  runtime::Nanos idle_timeout = 0;      ///< the source's time.idle_timeout
  std::size_t max_keys = 64;            ///< limits.max_keys (also the key table's capacity)
  runtime::WatermarkScope watermark = runtime::WatermarkScope::per_key;
  std::string pipeline = "p";           ///< pipeline name in summaries
  std::int64_t sketch_bytes = 4096;     ///< limits.sketch_bytes
  std::uint32_t workers = 1;            ///< pipeline `workers:` (keys shared out over threads)
};

/// A copy of one emitted summary.
struct CapturedSummary {
  std::string key;
  std::uint64_t key_rank = 0;
  runtime::Nanos start = 0;
  runtime::Nanos end = 0;
  std::uint64_t count = 0;
  std::vector<double> values;  ///< one per schema column
  std::uint8_t flags = 0;
  std::string json;            ///< the line the console output would print
  bool partial() const noexcept { return (flags & runtime::kPartial) != 0; }
  bool late() const noexcept { return (flags & runtime::kLate) != 0; }
};

/// One value of a record: `{"temp", 21.5}`.
struct FieldValue {
  std::string_view field;
  double value = 0;
};

/// A SummarySink that copies every summary it receives.
class CaptureSink final : public runtime::SummarySink {
 public:
  void emit(const runtime::Summary& s) noexcept override;
  std::vector<CapturedSummary> summaries;
};

/// Builds and drives one window operator. Not thread-safe; one per test.
class WindowHarness {
 public:
  /// `window_yaml` is the `window:` block ("{type: tumbling, size: 10s}"), `aggregates_yaml` the
  /// `aggregates:` list ("[count, mean(temp)]"). On a config error ok() is false and errors()
  /// holds the messages the engine would print.
  WindowHarness(std::string_view window_yaml, std::string_view aggregates_yaml, WindowOptions options = {});
  ~WindowHarness();
  WindowHarness(const WindowHarness&) = delete;
  WindowHarness& operator=(const WindowHarness&) = delete;

  bool ok() const noexcept { return op_ != nullptr; }
  /// Every configuration message, one per line ("window.yaml:1:2: pipelines[0].window: ...").
  std::string errors() const;
  runtime::Operator& op();
  const runtime::SummarySchema& schema();
  const runtime::PipelineCounters& counters();
  /// Index of `name` in the schema's columns; -1 if there is no such column.
  int column(std::string_view name);
  /// Value of column `name` in `s` (fails the test if there is no such column).
  double value(const CapturedSummary& s, std::string_view name);

  /// Interned ids, as a source would make them.
  runtime::KeyId key(std::string_view name);
  runtime::FieldId field(std::string_view name);
  runtime::KeyTable& keys() noexcept { return *keys_; }
  runtime::FieldTable& fields() noexcept { return *fields_; }

  /// Appends the events of one record to `out`: one sample per value, the first flagged
  /// kRecordBegin, all with the same key, time and source.
  void append_record(std::vector<runtime::Event>& out, std::string_view key, runtime::Nanos t,
                     std::span<const FieldValue> values, runtime::SourceIndex source = 0);
  /// A processing-clock tick at `now`.
  static runtime::Event tick_event(runtime::Nanos now) noexcept;

  /// Feeds one record (one process() call).
  void record(std::string_view key, runtime::Nanos t, std::initializer_list<FieldValue> values);
  void record(std::string_view key, runtime::Nanos t, std::span<const FieldValue> values);
  /// Feeds one tick (one process() call).
  void tick(runtime::Nanos now);
  /// Feeds `events` in one process() call.
  void process(std::span<const runtime::Event> events);
  /// Flushes the operator (every open window, partial).
  void flush(runtime::FlushMode mode = runtime::FlushMode::end_of_input);

  /// Everything emitted so far, in order.
  const std::vector<CapturedSummary>& summaries() const noexcept { return sink_.summaries; }
  /// Returns what was emitted since the last take() and forgets it.
  std::vector<CapturedSummary> take();
  /// The JSON lines of everything emitted so far.
  std::vector<std::string> json() const;

 private:
  WindowOptions options_;
  std::unique_ptr<runtime::KeyTable> keys_;
  std::unique_ptr<runtime::FieldTable> fields_;
  runtime::Registry registry_;
  runtime::Diagnostics diag_;
  std::string load_errors_;
  std::unique_ptr<runtime::ConfigNode> window_node_;
  std::unique_ptr<runtime::ConfigNode> aggregates_node_;
  std::unique_ptr<runtime::Operator> op_;
  std::vector<runtime::Event> scratch_;
  CaptureSink sink_;
};

}  // namespace vigil::test
