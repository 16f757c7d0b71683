#pragma once
// Sliding windows (see sliding_window.cpp).
#include <limits>
#include <vector>

#include "vigil/operators/operators.hpp"
#include "window_common.hpp"

namespace vigil::operators {

struct SlidingWindowParams {
  Nanos size = 0;
  Nanos lateness = 0;
  bool late_emit = false;
  std::size_t max_samples = 1023;  ///< raw samples kept per key
};

/// One result per record over (t - size, t] of event time, per key, emitted once the key's
/// watermark passes t + allowed_lateness. Keeps each key's raw samples in a ring of
/// `max_samples`; when it is full the oldest sample is dropped (counted as truncated) and the
/// results that miss it are marked partial. Pipeline thread only; process() allocates nothing.
class SlidingWindow final : public runtime::Operator, public RawSamples {
 public:
  SlidingWindow(const runtime::PipelineSetup& setup, AggregatePlan plan, const SlidingWindowParams& params);

  void process(std::span<const Event> events, runtime::SummarySink& out) noexcept override;
  void flush(runtime::FlushMode mode, runtime::SummarySink& out) noexcept override;
  void evict(KeyId key, runtime::SummarySink& out) noexcept override;
  void snapshot(std::vector<std::byte>& out) const override;
  runtime::Result<void> restore(std::span<const std::byte> in) override;
  const runtime::SummarySchema& schema() const noexcept override { return plan_.schema; }
  const runtime::PipelineCounters& counters() const noexcept override { return counters_; }
  std::size_t state_bytes() const noexcept override;

  std::size_t samples(KeyId key, runtime::FieldId field, std::span<Nanos> times,
                      std::span<double> values) const noexcept override;
  std::size_t max_samples() const noexcept override { return p_.max_samples; }
  /// Bytes of state a window with these parameters preallocates per key (for the state budget).
  static double bytes_per_key(std::size_t max_samples, std::size_t fields, bool minmax) noexcept;

 private:
  // Positions count samples of a key since it was first seen; a sample's ring slot is
  // position % ring_. The ring holds [begin, tail), sorted by (time, arrival):
  // [begin, end) is aggregated, [fire, tail) still owes its result (fire <= end).
  struct KeyState {
    std::uint64_t begin = 0;
    std::uint64_t mid = 0;   ///< min/max stacks: front [begin, mid), back [mid, end)
    std::uint64_t end = 0;
    std::uint64_t fire = 0;
    std::uint64_t tail = 0;
    Nanos max_ts = runtime::kMinTime;
    Nanos wm = runtime::kMinTime;
    Nanos fired_until = runtime::kMinTime;    ///< time of the latest result emitted
    Nanos dropped_until = runtime::kMinTime;  ///< time of the latest sample dropped for max_samples
    Nanos last_active = 0;
    std::uint64_t rank = 0;
    std::uint32_t generation = 0;
    bool live = false;
  };
  // Running aggregates of one field over [begin, end) of one key.
  struct FieldState {
    std::uint64_t n = 0;
    double sum = 0, sum_c = 0;      ///< Neumaier-compensated sum: sum + sum_c
    double sumsq = 0, sumsq_c = 0;
    double mean = 0, m2 = 0, m3 = 0, m4 = 0;
    double m2_err = 0;              ///< bound on the rounding error accumulated in m2
    double mean_err = 0;            ///< bound on the rounding error of mean (removals enlarge it)
    std::uint64_t first = 0;        ///< earliest position in [begin, end) with a value (moves forward)
    std::uint64_t last = 0;         ///< latest position in [begin, end) with a value
    double back_min = std::numeric_limits<double>::infinity();   ///< over the back [mid, end)
    double back_max = -std::numeric_limits<double>::infinity();
  };

  void on_sample(const Event& ev) noexcept;
  void prefetch_key(const Event& ev) const noexcept;
  void prefetch_ring(const Event& ev) const noexcept;
  void finish_record() noexcept;
  void advance_watermark(std::uint32_t index, Nanos wm) noexcept;
  void fire_due(std::uint32_t index, Nanos wm, bool partial) noexcept;
  void fire_one(std::uint32_t index, bool partial) noexcept;
  void fire_many(Nanos wm, bool idle_only, bool partial) noexcept;
  void drop_oldest(std::uint32_t index) noexcept;
  void add_position(std::uint32_t index, std::uint64_t pos) noexcept;
  void remove_position(std::uint32_t index, std::uint64_t pos) noexcept;
  void flip(std::uint32_t index, std::uint64_t from) noexcept;
  void rebuild_moments(std::uint32_t index, std::size_t f) noexcept;
  void reset_key(std::uint32_t index) noexcept;

  std::size_t slot(std::uint64_t pos) const noexcept { return static_cast<std::size_t>(pos & mask_); }
  Nanos& time_at(std::uint32_t index, std::uint64_t pos) noexcept { return times_[index * ring_ + slot(pos)]; }
  double* values_at(std::uint32_t index, std::uint64_t pos) noexcept {
    return values_.data() + ((index * ring_ + slot(pos)) * vstride_);
  }
  FieldState& field_state(std::uint32_t index, std::size_t f) noexcept { return field_states_[index * fields_ + f]; }


  AggregatePlan plan_;
  SlidingWindowParams p_;
  WatermarkSources wms_;
  runtime::KeyTable* keys_;
  KeySlots slots_;
  Nanos source_wm_ = runtime::kMinTime;
  bool minmax_ = false;  ///< some field needs min/max: slots carry suffix min/max
  std::size_t vstride_ = 0;  ///< doubles per ring slot: the values, then (min, max) per field
  std::size_t fields_ = 0;
  std::size_t capacity_ = 0;
  std::size_t ring_ = 0;  ///< slots per key: max_samples + 1 (a record is inserted before the oldest goes),
                          ///< rounded up to a power of two so a slot is a mask, not a division
  std::size_t mask_ = 0;
  std::vector<KeyState> state_;
  std::vector<Nanos> times_;               ///< [key][slot]
  std::vector<double> values_;             ///< [key][slot][field, then suffix min/max]; NaN: no value
  std::vector<FieldState> field_states_;   ///< [key][field]
  std::vector<double> flip_min_, flip_max_;  ///< per field, while a front is rebuilt
  std::vector<Moments> merged_;
  std::vector<double> values_out_;
  std::vector<Moments> late_moments_;
  std::vector<std::uint32_t> candidates_;
  runtime::SummarySink* out_ = nullptr;
  Nanos now_ = runtime::kMinTime;
  Nanos next_idle_check_ = runtime::kMinTime;
  std::uint32_t cur_key_ = UINT32_MAX;
  std::uint64_t cur_pos_ = UINT64_MAX;  ///< ring position of the record being read; UINT64_MAX: none
  bool late_pending_ = false;
  KeyId late_key_{};
  Nanos late_time_ = 0;
  runtime::PipelineCounters counters_;
};

}  // namespace vigil::operators
