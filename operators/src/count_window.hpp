#pragma once
// Count windows (see count_window.cpp).
#include <vector>

#include "window_common.hpp"

namespace vigil::operators {

struct CountWindowParams {
  std::int64_t size = 0;   ///< records per window
  std::int64_t every = 0;  ///< fire after every `every` records (== size: tumbling)
};

/// Windows over the last `size` records of a key in arrival order, emitted after every
/// `every` records; watermarks are ignored. Pipeline thread only; process() allocates nothing.
class CountWindow final : public runtime::Operator {
 public:
  CountWindow(const runtime::PipelineSetup& setup, AggregatePlan plan, const CountWindowParams& params);

  void process(std::span<const Event> events, runtime::SummarySink& out) noexcept override;
  void flush(runtime::FlushMode mode, runtime::SummarySink& out) noexcept override;
  void evict(KeyId key, runtime::SummarySink& out) noexcept override;
  void snapshot(std::vector<std::byte>& out) const override;
  runtime::Result<void> restore(std::span<const std::byte> in) override;
  const runtime::SummarySchema& schema() const noexcept override { return plan_.schema; }
  const runtime::PipelineCounters& counters() const noexcept override { return counters_; }
  std::size_t state_bytes() const noexcept override;

 private:
  struct Pane {
    Nanos first_t = 0;
    Nanos last_t = 0;
  };
  struct KeyState {
    std::uint64_t records = 0;  ///< records seen, ever (pane index = records / pane size)
    std::uint64_t rank = 0;
    std::uint32_t generation = 0;
    bool live = false;
  };

  void on_record(const Event& ev) noexcept;
  void fire(std::uint32_t index) noexcept;
  std::size_t pane_slot(std::uint32_t index, std::uint64_t pane) const noexcept {
    return index * ring_ + static_cast<std::size_t>(pane % ring_);
  }

  AggregatePlan plan_;
  CountWindowParams p_;
  runtime::KeyTable* keys_;
  KeySlots slots_;
  std::int64_t pane_size_ = 1;
  std::size_t ring_ = 1;  ///< panes per key
  std::size_t fields_ = 0;
  std::size_t capacity_ = 0;
  std::vector<KeyState> state_;
  std::vector<Pane> panes_;
  std::vector<std::uint64_t> pane_records_;
  runtime::ZeroedArray<Moments> moments_;  ///< [key][pane][field]; resident only for keys seen
  std::vector<Moments> merged_;
  SketchSet sketches_;  ///< [key][pane][sketched field]
  std::vector<double> values_;
  runtime::SummarySink* out_ = nullptr;
  std::uint32_t cur_key_ = UINT32_MAX;
  std::size_t cur_slot_ = 0;
  runtime::PipelineCounters counters_;
};

}  // namespace vigil::operators
