#pragma once
// Pieces every window operator shares: the declared keys of the window block, the aggregate
// plan (which fields, which moments, which columns) and integer time helpers.
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "vigil/operators/aggregates.hpp"
#include "vigil/runtime/plugin.hpp"
#include "vigil/runtime/summary_buffer.hpp"

namespace vigil::operators {

using runtime::Event;
using runtime::EventKind;
using runtime::KeyId;

/// floor(a / b) for b > 0, correct for negative a.
inline std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/// The aggregates of one pipeline compiled for the hot path.
struct AggregatePlan {
  std::vector<AggregateSpec> specs;       ///< in config order
  std::vector<runtime::FieldId> fields;   ///< distinct aggregated fields, local order
  std::vector<std::uint8_t> needs;        ///< per local field
  std::vector<std::int16_t> local_of;     ///< global FieldId -> local index, -1 if unused
  std::vector<std::int16_t> spec_local;   ///< per spec: local field index (-1 for record count)
  std::vector<std::int16_t> column_of;    ///< per spec: column index, -1 for the built-in count
  runtime::SummarySchema schema;

  /// Builds the plan; reports problems into setup.diag. Returns false on error.
  bool build(const runtime::PipelineSetup& setup);
  std::size_t field_count() const noexcept { return fields.size(); }
  /// Fills `values` (one per column) from merged per-field moments and the record count.
  void finalize(const Moments* merged, std::uint64_t records, double* values) const noexcept;
};

/// Keys common to every window type: lateness and what to do with late records.
inline constexpr std::string_view kLateChoices[] = {"drop", "emit"};
inline constexpr runtime::ConfigKey kAllowedLatenessKey{
    "allowed_lateness", runtime::KeyType::duration, runtime::Required::no, "0s",
    "A window fires once, when the watermark passes end + allowed_lateness."};
inline constexpr runtime::ConfigKey kLateKey{
    "late", runtime::KeyType::choice, runtime::Required::no, "drop",
    "Records behind a fired window: drop (counted) or emit (sent as \"late\": true, counted).",
    runtime::kNoMin, runtime::kNoMax, kLateChoices};

}  // namespace vigil::operators

namespace vigil::operators {

/// Builds and sends one Summary from merged moments; shared by every window kind.
/// `values` must hold one double per schema column. Pipeline thread only.
void emit_summary(const AggregatePlan& plan, const runtime::KeyTable& keys, KeyId key, std::uint64_t rank,
                  Nanos start, Nanos end, std::uint64_t records, const Moments* merged, std::span<double> values,
                  std::uint8_t flags, runtime::PipelineCounters& counters, runtime::SummarySink& out) noexcept;

/// Where one pipeline's watermarks come from: each source's disorder bound, the shortest idle
/// timeout of its sources, and for `watermark: per_source` the newest event time per source.
struct WatermarkSources {
  explicit WatermarkSources(const runtime::PipelineSetup& setup);
  std::vector<Nanos> ooo;                     ///< per SourceIndex: max_out_of_order
  std::vector<Nanos> max_seen;                ///< per SourceIndex: newest event time (per_source)
  std::vector<runtime::SourceIndex> sources;  ///< the pipeline's sources
  Nanos idle_timeout = 0;                     ///< shortest non-zero idle_timeout; 0: never idle
  Nanos max_ooo = 0;                          ///< largest max_out_of_order of the pipeline's sources
  bool per_source = false;
  /// The per-source watermark: the lowest (newest - max_out_of_order) over the pipeline's
  /// sources that sent something; kMinTime before any did.
  Nanos watermark() const noexcept;
};

/// Checks, before anything is allocated, that `bytes` of window state fit limits.max_state;
/// reports the figure and how to shrink it otherwise.
bool check_state_budget(const runtime::PipelineSetup& setup, double bytes);

/// Writes a key's name (length-prefixed) into a window snapshot.
void put_key(std::vector<std::byte>& out, const runtime::KeyTable& keys, KeyId id);
/// Reads a name written by put_key and interns it; an error when the bytes are malformed, the
/// key table is full or the slot is beyond the operator's capacity.
runtime::Result<KeyId> get_key(std::span<const std::byte>& in, runtime::KeyTable& keys, std::size_t capacity);

/// Whether a record's key can be processed: its slot is within capacity and its KeyId is the
/// key now in that slot. Counts refusals (key_overflow, stale) on the record's first value.
inline bool admit_key(const Event& ev, std::size_t capacity, const runtime::KeyTable& keys,
                      runtime::PipelineCounters& counters) noexcept {
  const bool begin = ev.flags & runtime::kRecordBegin;
  if (ev.key.index >= capacity) {
    if (begin) counters.key_overflow.add();
    return false;
  }
  if (begin && ev.key.generation != keys.generation(ev.key.index)) {
    counters.stale.add();  // its key was evicted while the record waited in a queue
    return false;
  }
  return true;
}

/// Appends raw bytes of a trivially copyable value (window snapshots).
template <class T>
void put_bytes(std::vector<std::byte>& out, const T& v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

/// Reads what put_bytes wrote; false when `in` is too short.
template <class T>
bool get_bytes(std::span<const std::byte>& in, T& v) {
  if (in.size() < sizeof(T)) return false;
  std::memcpy(&v, in.data(), sizeof(T));
  in = in.subspan(sizeof(T));
  return true;
}

}  // namespace vigil::operators
