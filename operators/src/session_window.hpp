#pragma once
// Session windows (see session_window.cpp).
#include <vector>

#include "window_common.hpp"

namespace vigil::operators {

struct SessionWindowParams {
  Nanos gap = 0;
  Nanos max_duration = 0;  ///< 0: unlimited
  Nanos lateness = 0;
  bool late_emit = false;
  std::size_t max_open = 4;  ///< open sessions per key
};

/// Per-key sessions of activity: a session ends `gap` after its last record and never spans
/// more than `max_duration`. Pipeline thread only; process() allocates nothing.
class SessionWindow final : public runtime::Operator {
 public:
  SessionWindow(const runtime::PipelineSetup& setup, AggregatePlan plan, const SessionWindowParams& params);

  void process(std::span<const Event> events, runtime::SummarySink& out) noexcept override;
  void flush(runtime::FlushMode mode, runtime::SummarySink& out) noexcept override;
  void evict(KeyId key, runtime::SummarySink& out) noexcept override;
  void snapshot(std::vector<std::byte>& out) const override;
  runtime::Result<void> restore(std::span<const std::byte> in) override;
  const runtime::SummarySchema& schema() const noexcept override { return plan_.schema; }
  const runtime::PipelineCounters& counters() const noexcept override { return counters_; }
  std::size_t state_bytes() const noexcept override;

 private:
  struct Session {
    Nanos start = 0;  ///< earliest record
    Nanos last = 0;   ///< latest record
    std::uint64_t records = 0;
    bool open = false;
  };
  struct KeyState {
    Nanos max_ts = runtime::kMinTime;
    Nanos wm = runtime::kMinTime;
    Nanos last_active = 0;
    std::uint64_t rank = 0;
    std::uint32_t generation = 0;
    std::uint32_t open = 0;
    bool live = false;
  };

  Nanos end_of(const Session& s) const noexcept;
  void on_sample(const Event& ev) noexcept;
  void on_tick(Nanos now) noexcept;
  void finish_record() noexcept;
  std::size_t place(std::uint32_t index, Nanos t) noexcept;
  void merge_sessions(std::uint32_t index, std::size_t into, std::size_t from) noexcept;
  void fire_key(std::uint32_t index, Nanos wm, bool partial) noexcept;
  void fire_session(std::uint32_t index, std::size_t slot, bool partial) noexcept;
  void fire_many(bool idle_only, Nanos wm, bool partial) noexcept;
  Session& session(std::uint32_t index, std::size_t slot) noexcept { return sessions_[index * p_.max_open + slot]; }
  Moments* moments(std::uint32_t index, std::size_t slot) noexcept {
    return moments_.data() + ((index * p_.max_open + slot) * fields_);
  }

  AggregatePlan plan_;
  SessionWindowParams p_;
  WatermarkSources wms_;
  runtime::KeyTable* keys_;
  KeySlots slots_;
  Nanos source_wm_ = runtime::kMinTime;                 ///< per_source: the pipeline's watermark
  std::size_t fields_ = 0;
  std::size_t capacity_ = 0;
  std::vector<KeyState> state_;
  std::vector<Session> sessions_;
  runtime::ZeroedArray<Moments> moments_;  ///< resident only for keys seen
  std::vector<double> values_;
  std::vector<Moments> late_moments_;
  SketchSet sketches_;  ///< [key][session][sketched field], then the late record's
  std::size_t late_slot_ = 0;
  runtime::SummaryBuffer buffer_;
  runtime::SummarySink* out_ = nullptr;
  Nanos now_ = runtime::kMinTime;
  Nanos next_idle_check_ = runtime::kMinTime;
  std::uint32_t cur_key_ = UINT32_MAX;
  std::size_t cur_slot_ = SIZE_MAX;  ///< session receiving the current record; SIZE_MAX: late
  bool late_pending_ = false;
  KeyId late_key_{};
  Nanos late_time_ = 0;
  runtime::PipelineCounters counters_;
};

}  // namespace vigil::operators
