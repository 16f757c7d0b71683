#pragma once
// `workers: N`: one window operator per worker, each holding the keys whose key-table slot is
// congruent to its number modulo N, run on N threads (the pipeline thread is worker 0). Every
// worker reads each batch whole and its operator passes over the other workers' keys (nothing
// is copied), the workers run at once, and their summaries are put back in the order one
// operator would have emitted them:
//  - a summary caused by a record goes where that record was in the batch (a record's
//    summaries come from its own key's worker, in that worker's order);
//  - summaries caused by a control event (clock tick, watermark) or a flush come from every
//    worker, and go out by (window end, key first seen): the order a single operator uses.
// The record that caused a summary is found from the worker's counters (records + stale +
// key_overflow counts every record start it has been given), so operators need no hook.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "vigil/runtime/plugin.hpp"

namespace vigil::runtime {

class ShardedOperator final : public Operator {
 public:
  /// `shards[w]` was built with PipelineSetup::shard = w and shards = shards.size().
  explicit ShardedOperator(std::vector<std::unique_ptr<Operator>> shards);
  ~ShardedOperator() override;
  ShardedOperator(const ShardedOperator&) = delete;
  ShardedOperator& operator=(const ShardedOperator&) = delete;

  void process(std::span<const Event> events, SummarySink& out) noexcept override;
  void flush(FlushMode mode, SummarySink& out) noexcept override;
  void evict(KeyId key, SummarySink& out) noexcept override;
  void snapshot(std::vector<std::byte>& out) const override;
  Result<void> restore(std::span<const std::byte> in) override;
  const SummarySchema& schema() const noexcept override { return shards_[0]->schema(); }
  const PipelineCounters& counters() const noexcept override { return counters_; }
  std::size_t state_bytes() const noexcept override;
  std::size_t workers() const noexcept { return shards_.size(); }

 private:
  // A summary copied out of a worker, with what the merge orders it by.
  struct Held {
    Summary summary;
    std::size_t values_at = 0;
    std::uint32_t cause = 0;  // batch position of the record or control event
    bool control = false;
  };
  struct Worker;
  class Collector;

  enum class Job : std::uint8_t { process, flush };
  void start_threads();
  void run(Job job) noexcept;
  void work(Worker& w) noexcept;
  void merge_into(SummarySink& out) noexcept;
  void sum_counters() noexcept;

  std::vector<std::unique_ptr<Operator>> shards_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::span<const Event> part_;
  std::atomic<std::uint64_t> generation_{0};  // bumped to hand out a part
  std::atomic<std::uint32_t> pending_{0};     // workers still busy with the part
  std::atomic<bool> quit_{false};
  Job job_ = Job::process;
  FlushMode flush_mode_ = FlushMode::end_of_input;
  PipelineCounters counters_;
};

}  // namespace vigil::runtime
