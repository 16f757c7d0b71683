#pragma once
// Pieces every window operator shares: the declared keys of the window block, the aggregate
// plan (which fields, which moments, which columns) and integer time helpers.
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vigil/operators/aggregates.hpp"
#include "vigil/operators/quantile_sketch.hpp"
#include "vigil/runtime/plugin.hpp"
#include "vigil/runtime/summary_buffer.hpp"
#include "vigil/runtime/zeroed_array.hpp"

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
  std::vector<std::int16_t> sketch_of;    ///< per local field: its quantile sketch, -1 if none
  std::size_t sketch_fields = 0;          ///< fields with a quantile aggregate
  KllShape sketch;                        ///< shape of every sketch (from limits.sketch_bytes)
  runtime::SummarySchema schema;

  /// Builds the plan; reports problems into setup.diag. Returns false on error.
  bool build(const runtime::PipelineSetup& setup);
  std::size_t field_count() const noexcept { return fields.size(); }
  /// Fills `values` (one per column) from merged per-field moments, the record count and, for
  /// quantiles, the window's sketches (assembled in `sketches`).
  void finalize(const Moments* merged, std::uint64_t records, double* values, class SketchSet* sketches) const noexcept;
};

/// The quantile sketches of one window operator: one per (slot, sketched field) in a single
/// block allocated at construction, and the work area that assembles a window from several
/// slots. Inactive (no memory) when the pipeline asks for no quantile. Pipeline thread only.
class SketchSet {
 public:
  /// Allocates `slots` sketches per sketched field of `plan` (which must outlive this).
  void init(const AggregatePlan& plan, std::size_t slots);
  bool active() const noexcept { return fields_ > 0; }
  /// Bytes `slots` slots need for `plan` (the load-time state check).
  static double bytes_for(const AggregatePlan& plan, double slots) noexcept;
  std::size_t bytes() const noexcept { return memory_.size() * sizeof(double); }
  /// Bytes one slot's sketches take in a snapshot (0 when inactive): restore checks it.
  std::size_t bytes_per_slot() const noexcept { return fields_ * stride_ * sizeof(double); }

  void reset(std::size_t slot) noexcept;
  void add(std::size_t slot, std::size_t local_field, double x) noexcept {
    const std::int16_t sf = plan_->sketch_of[local_field];
    if (sf >= 0) at(slot, static_cast<std::size_t>(sf)).add(x);
  }
  /// Folds slot `from` into slot `into` (sessions that merge).
  void merge_slot(std::size_t into, std::size_t from) noexcept;
  void copy_slot(std::size_t into, std::size_t from) noexcept;

  /// Assembling one window: begin(), include() each slot in it, then quantile() (through
  /// AggregatePlan::finalize). A window of one slot is read in place, without a copy.
  void begin() noexcept {
    included_ = 0;
    prepared_ = -1;
  }
  void include(std::size_t slot) noexcept;
  double quantile(std::size_t sketch_field, double q) noexcept;

  /// Snapshot of one slot's sketches; load() checks what it reads.
  void save(std::size_t slot, std::vector<std::byte>& out) const;
  bool load(std::size_t slot, std::span<const std::byte>& in) noexcept;

 private:
  KllSketch at(std::size_t slot, std::size_t sf) noexcept {
    return KllSketch(memory_.data() + (slot * fields_ + sf) * stride_, plan_->sketch);
  }
  KllSketch window(std::size_t sf) noexcept { return KllSketch(window_.data() + sf * stride_, plan_->sketch); }

  const AggregatePlan* plan_ = nullptr;
  std::size_t fields_ = 0;
  std::size_t stride_ = 0;  ///< doubles per sketch
  runtime::ZeroedArray<double> memory_;  ///< resident only for keys seen
  std::vector<double> window_;  ///< one assembled sketch per field
  std::unique_ptr<KllScratch> scratch_;
  std::size_t included_ = 0;
  std::size_t first_ = 0;
  std::int64_t prepared_ = -1;
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
/// `sketches` holds the window's assembled sketches when the plan has quantiles (else null).
void emit_summary(const AggregatePlan& plan, const runtime::KeyTable& keys, KeyId key, std::uint64_t rank,
                  Nanos start, Nanos end, std::uint64_t records, const Moments* merged, std::span<double> values,
                  std::uint8_t flags, runtime::PipelineCounters& counters, runtime::SummarySink& out,
                  SketchSet* sketches = nullptr) noexcept;

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

struct KeySlots;

/// Writes a key's name (length-prefixed) into a window snapshot.
void put_key(std::vector<std::byte>& out, const runtime::KeyTable& keys, KeyId id);
/// Reads a name written by put_key and interns it; an error when the bytes are malformed, the
/// key table is full or the slot is not one of the operator's.
runtime::Result<KeyId> get_key(std::span<const std::byte>& in, runtime::KeyTable& keys, const KeySlots& slots);

/// The key slots an operator holds. With one worker, every slot of the key table, stored at its
/// own index; with `workers: N`, worker w holds the slots s with s % N == w, stored at s / N, so
/// N workers together hold exactly the state one would.
struct KeySlots {
  explicit KeySlots(const runtime::PipelineSetup& setup) noexcept
      : shards(setup.shards), shard(setup.shard),
        capacity((setup.limits.max_keys + setup.shards - 1 - setup.shard) / setup.shards) {
    if ((shards & (shards - 1)) == 0) {
      mask = shards - 1;
      while ((1u << shift) < shards) ++shift;
    }
  }
  std::uint32_t shards = 1;
  std::uint32_t shard = 0;
  std::size_t capacity = 0;  ///< slots held
  std::uint32_t mask = 0;    ///< shards - 1 when shards is a power of two (no division per record)
  std::uint32_t shift = 0;
  std::uint32_t local(std::uint32_t global) const noexcept {
    if (shards == 1) return global;
    return mask ? global >> shift : global / shards;
  }
  std::uint32_t global(std::uint32_t local) const noexcept { return shards == 1 ? local : local * shards + shard; }
  /// Whether the key-table slot `global` belongs to this worker (always, with one worker).
  bool mine(std::uint32_t global) const noexcept {
    if (shards == 1) return true;
    return (mask ? (global & mask) : (global % shards)) == shard;
  }
  /// Whether the slot is this worker's and within its capacity.
  bool owns(std::uint32_t global) const noexcept { return mine(global) && local(global) < capacity; }
};

/// Whether a record's key can be processed: its slot is one of the operator's and its KeyId is
/// the key now in that slot. Counts refusals (key_overflow, stale) on the record's first value;
/// records of another worker's keys are passed over without a count.
inline bool admit_key(const Event& ev, const KeySlots& slots, const runtime::KeyTable& keys,
                      runtime::PipelineCounters& counters) noexcept {
  const bool begin = ev.flags & runtime::kRecordBegin;
  if (!slots.mine(ev.key.index)) return false;  // another worker's key: it counts that record
  if (slots.local(ev.key.index) >= slots.capacity) {
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
