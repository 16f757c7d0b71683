#pragma once
// Bounded queue between one source thread and the pipeline thread.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>

#include "vigil/runtime/event.hpp"
#include "vigil/runtime/result.hpp"

namespace vigil::runtime {

/// What a full queue does with new events.
enum class OverflowPolicy : std::uint8_t {
  block,        ///< the producer waits (simulator, replay: they can be paused)
  drop_oldest,  ///< the oldest queued events make room, counted
  drop_newest,  ///< the new events are refused, counted
};

Result<OverflowPolicy> parse_overflow_policy(std::string_view text);
std::string_view to_string(OverflowPolicy policy);

/// Wakes the pipeline thread when any of its queues received data. One per pipeline thread.
class Doorbell {
 public:
  /// Rings the bell; cheap when nobody waits.
  void ring() noexcept;
  /// Waits until rung or `timeout` passes; returns at once if rung since the last wait.
  void wait_for(Nanos timeout) noexcept;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool rung_ = false;
};

/// Fixed-capacity ring of Events, allocated once. One producer, one consumer; pushes and pops
/// whole batches under one short lock. Drops are counted by policy, never silent.
class IngestQueue {
 public:
  IngestQueue(std::size_t capacity, OverflowPolicy policy, Doorbell* doorbell);
  IngestQueue(const IngestQueue&) = delete;
  IngestQueue& operator=(const IngestQueue&) = delete;

  /// Enqueues `events`. With `block` waits for room (returns early, false, once closed);
  /// otherwise applies the policy to whole records (a kRecordBegin value and the values after
  /// it): drop_newest refuses the records that do not fit, drop_oldest drops the oldest whole
  /// records to make room. Returns true if every event was queued.
  /// Producer thread only.
  bool push(std::span<const Event> events) noexcept;
  /// Moves up to `out.size()` events into `out`; returns how many. Never splits a record (the
  /// values after a kRecordBegin event) across two pops unless one record is larger than `out`.
  /// Consumer thread only.
  std::size_t pop(std::span<Event> out) noexcept;
  /// Stops blocking producers; later pushes are refused (counted as dropped).
  void close() noexcept;

  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t size() const noexcept;
  OverflowPolicy policy() const noexcept { return policy_; }
  std::uint64_t pushed() const noexcept { return pushed_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  /// Largest fill level seen.
  std::size_t high_water() const noexcept { return high_water_.load(std::memory_order_relaxed); }

 private:
  struct FreeRing {
    void operator()(Event* ring) const noexcept;
  };
  // Zeroed pages from calloc: memory is resident only up to the fill level reached, not the
  // whole capacity from the start (65536 events are 2 MiB); pop() rewinds an empty ring to 0.
  std::unique_ptr<Event[], FreeRing> ring_;
  std::size_t capacity_;
  std::size_t head_ = 0;  // next to pop
  std::size_t count_ = 0;
  OverflowPolicy policy_;
  Doorbell* doorbell_;
  bool closed_ = false;
  mutable std::mutex mutex_;
  std::condition_variable room_;
  std::atomic<std::uint64_t> pushed_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::size_t> high_water_{0};
};

}  // namespace vigil::runtime
