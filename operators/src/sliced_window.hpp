#pragma once
// Tumbling and hopping windows (see sliced_window.cpp).
#include <vector>

#include "window_common.hpp"

namespace vigil::operators {

struct SlicedWindowParams {
  Nanos size = 0;
  Nanos hop = 0;      ///< == size for tumbling
  Nanos offset = 0;   ///< shifts the epoch alignment
  Nanos lateness = 0;
  bool late_emit = false;
};

/// Epoch-aligned [start, end) windows of `size` every `hop`, per key, on event time.
/// Pipeline thread only; process() allocates nothing.
class SlicedWindow final : public runtime::Operator {
 public:
  SlicedWindow(const runtime::PipelineSetup& setup, AggregatePlan plan, const SlicedWindowParams& params);

  void process(std::span<const Event> events, runtime::SummarySink& out) noexcept override;
  void flush(runtime::FlushMode mode, runtime::SummarySink& out) noexcept override;
  void evict(KeyId key, runtime::SummarySink& out) noexcept override;
  void snapshot(std::vector<std::byte>& out) const override;
  runtime::Result<void> restore(std::span<const std::byte> in) override;
  const runtime::SummarySchema& schema() const noexcept override { return plan_.schema; }
  const runtime::PipelineCounters& counters() const noexcept override { return counters_; }
  std::size_t state_bytes() const noexcept override;
  /// Slices kept per key (ring length), for the state-size figure.
  std::size_t ring_slices() const noexcept { return ring_; }

 private:
  struct KeyState {
    Nanos max_ts = runtime::kMinTime;  ///< highest event time seen
    Nanos wm = runtime::kMinTime;      ///< this key's watermark
    Nanos last_active = 0;             ///< processing time (tick clock) of the last record
    std::int64_t next_end = 0;         ///< end (in slices) of the next window to fire
    std::uint64_t rank = 0;
    std::uint32_t generation = 0;
    std::uint32_t live_slices = 0;
    bool live = false;
  };

  void on_sample(const Event& ev) noexcept;
  void on_watermark(const Event& ev) noexcept;
  void on_tick(Nanos now) noexcept;
  void finish_late() noexcept;
  void reset_key(std::uint32_t index, KeyId key, Nanos t, Nanos wm) noexcept;
  void fire_key(std::uint32_t index, Nanos wm, bool partial) noexcept;
  void fire_all(Nanos wm, bool idle_only) noexcept;
  void fire_ordered(bool partial) noexcept;
  bool make_room(std::uint32_t index, std::int64_t slice) noexcept;
  void emit_window(std::uint32_t index, std::int64_t end, bool partial) noexcept;
  void expire_before(std::uint32_t index, std::int64_t first_kept) noexcept;
  std::int64_t lowest_slice(std::uint32_t index) const noexcept;
  std::int64_t highest_slice(std::uint32_t index) const noexcept;
  std::int64_t first_open_end(Nanos wm) const noexcept;
  std::int64_t round_up_end(std::int64_t x) const noexcept;
  std::int64_t round_down_end(std::int64_t x) const noexcept;
  std::size_t slot_of(std::uint32_t index, std::int64_t slice) const noexcept;
  void advance_source_watermark() noexcept;

  AggregatePlan plan_;
  SlicedWindowParams p_;
  WatermarkSources wms_;
  runtime::KeyTable* keys_;
  bool late_emit_;
  KeySlots slots_;
  std::size_t capacity_ = 0;
  Nanos width_ = 0;
  std::int64_t slices_per_window_ = 1;
  std::int64_t slices_per_hop_ = 1;
  std::int64_t end_phase_ = 0;  ///< window ends (in slices) are congruent to this modulo the hop
  Nanos source_wm_ = runtime::kMinTime;
  Nanos next_source_fire_ = runtime::kMinTime;
  std::size_t ring_ = 0;
  std::size_t fields_ = 0;

  std::vector<KeyState> state_;
  std::vector<std::int64_t> slice_no_;   ///< [key][ring] slice number held by a slot
  runtime::ZeroedArray<std::uint64_t> records_;  ///< [key][ring] records in a slot
  runtime::ZeroedArray<Moments> moments_;  ///< [key][ring][field]; resident only for keys seen
  std::vector<Moments> merged_;
  std::vector<Moments> late_moments_;
  SketchSet sketches_;         ///< [key][ring][sketched field], then the late record's
  std::size_t late_slot_ = 0;
  std::vector<double> values_;
  std::vector<std::uint32_t> rank_order_;  ///< keys taking part in a multi-key firing
  std::vector<std::int64_t> stop_end_;     ///< per key: fire windows ending before this

  runtime::SummarySink* out_ = nullptr;
  Nanos now_ = runtime::kMinTime;
  Nanos next_idle_check_ = runtime::kMinTime;
  std::int64_t cur_slice_ = 0;
  std::uint32_t cur_key_ = UINT32_MAX;
  bool cur_late_ = false;
  bool cur_insert_ = false;
  bool late_pending_ = false;
  KeyId late_key_{};
  std::uint64_t late_records_ = 0;
  std::int64_t late_end_ = 0;
  runtime::PipelineCounters counters_;
};

}  // namespace vigil::operators
