#pragma once
// Shared by the source threads: a stop request that also wakes sleepers, and a fixed batch of
// events handed to an IngestQueue without ever blocking where stop() could not reach it.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <system_error>
#include <string>
#include <span>

#include "vigil/runtime/event.hpp"
#include "vigil/runtime/ingest_queue.hpp"

namespace vigil::sensors {

/// A stop request from any thread; the source thread checks it and sleeps on it.
class StopSignal {
 public:
  /// Asks the source thread to finish and wakes it if it sleeps here.
  void request() noexcept {
    {
      std::lock_guard lock(mutex_);
      stop_.store(true, std::memory_order_release);
    }
    cv_.notify_all();
  }
  /// Clears a previous request (before a thread starts).
  void reset() noexcept { stop_.store(false, std::memory_order_release); }
  bool requested() const noexcept { return stop_.load(std::memory_order_acquire); }
  /// Sleeps until `deadline` on the monotonic clock or a stop request; true if stopped.
  bool sleep_until(std::chrono::steady_clock::time_point deadline) noexcept {
    std::unique_lock lock(mutex_);
    return cv_.wait_until(lock, deadline, [this] { return requested(); });
  }
  bool sleep_for(std::chrono::nanoseconds d) noexcept {
    return sleep_until(std::chrono::steady_clock::now() + d);
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
};

/// The thread a source reads on, with its stop signal (a source thread polls `requested()` or
/// sleeps on it). start() refuses a second start; stop() signals and joins, and is idempotent.
class SourceThread : public StopSignal {
 public:
  SourceThread() = default;
  SourceThread(const SourceThread&) = delete;
  SourceThread& operator=(const SourceThread&) = delete;
  ~SourceThread() { stop(); }

  bool running() const noexcept { return thread_.joinable(); }

  /// Runs `body` on a new thread. Errors name `what` ("the simulator", "serial /dev/ttyUSB0").
  template <class Body>
  runtime::Result<void> start(const std::string& what, Body body) {
    if (thread_.joinable()) return runtime::Error{what + " is already running"};
    reset();
    try {
      thread_ = std::thread(std::move(body));
    } catch (const std::system_error& e) {
      return runtime::Error{"cannot start the thread of " + what + ": " + e.what()};
    }
    return runtime::ok();
  }

  void stop() noexcept {
    request();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread thread_;
};

/// Up to kCapacity events collected on the source thread and pushed as one batch.
/// With a blocking queue it pushes only what fits and otherwise sleeps in short slices on
/// `stop`, so a stop request is seen within a millisecond even when the consumer is stalled.
class EventBatch {
 public:
  static constexpr std::size_t kCapacity = 256;

  explicit EventBatch(StopSignal& stop) noexcept : stop_(stop) {}

  /// Must be called before add(); the queue outlives the batch's use.
  void attach(runtime::IngestQueue& queue) noexcept {
    queue_ = &queue;
    size_ = 0;
    closed_ = false;
  }

  /// Adds one event, flushing first when full. False once stopped or the queue was closed.
  /// A record is never split between two pushes (a pipeline may read between them): when the
  /// batch fills up in the middle of a record, only the records before it are pushed and its
  /// first values move to the front. (A record of more than kCapacity values is the exception.)
  bool add(const runtime::Event& event) noexcept {
    if (starts_record(event)) record_start_ = size_;
    if (size_ == kCapacity) {
      const std::size_t keep = size_ - record_start_;
      if (record_start_ == 0 || keep == 0) {
        if (!flush()) return false;
      } else {
        size_ = record_start_;
        const bool ok = flush();
        std::copy_n(events_.data() + kCapacity - keep, keep, events_.data());
        size_ = keep;
        if (!ok) return false;
      }
      record_start_ = starts_record(event) ? size_ : 0;
    }
    events_[size_++] = event;
    return true;
  }

  /// Pushes everything collected. False once stopped or the queue was closed (the rest is
  /// discarded: the source is finishing).
  bool flush() noexcept {
    if (size_ == 0) return !closed_ && !stop_.requested();
    const std::span<const runtime::Event> all(events_.data(), size_);
    size_ = 0;
    record_start_ = 0;
    if (closed_) return false;
    if (queue_->policy() != runtime::OverflowPolicy::block) {
      // drop_oldest / drop_newest never wait; what they drop is counted by the queue.
      queue_->push(all);
      return !stop_.requested();
    }
    std::size_t done = 0;
    auto pause = std::chrono::microseconds(20);
    while (done < all.size()) {
      if (stop_.requested()) return false;
      // One producer: the room seen here can only grow until we push, so push never waits.
      const std::size_t used = queue_->size();
      const std::size_t room = queue_->capacity() > used ? queue_->capacity() - used : 0;
      if (room == 0) {
        if (stop_.sleep_for(pause)) return false;
        pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(1));
        continue;
      }
      pause = std::chrono::microseconds(20);
      std::size_t n = std::min(room, all.size() - done);
      if (done + n < all.size()) {
        // Only whole records: stop before the record the room would cut (unless it is all
        // that fits, for a record bigger than the queue).
        std::size_t cut = n;
        while (cut > 0 && !starts_record(all[done + cut])) --cut;
        if (cut > 0) {
          n = cut;
        } else if (room < queue_->capacity()) {  // wait for room for the whole record
          if (stop_.sleep_for(pause)) return false;
          continue;
        }
      }
      if (!queue_->push(all.subspan(done, n))) {
        closed_ = true;
        return false;
      }
      done += n;
    }
    return true;
  }

 private:
  static bool starts_record(const runtime::Event& e) noexcept {
    return e.kind != runtime::EventKind::sample || (e.flags & runtime::kRecordBegin);
  }

  StopSignal& stop_;
  runtime::IngestQueue* queue_ = nullptr;
  std::array<runtime::Event, kCapacity> events_{};
  std::size_t size_ = 0;
  std::size_t record_start_ = 0;  ///< where the record being added began
  bool closed_ = false;
};

}  // namespace vigil::sensors
