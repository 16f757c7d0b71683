#pragma once
// The in-memory queue between the outbox output's producers (pipeline threads) and its writer
// thread: variable-length summary records in one buffer allocated once.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "vigil/sync/outbox.hpp"

namespace vigil::sync {

/// Priority stored in a ring record that only moves a window mark (a summary kept local).
inline constexpr std::int8_t kMarkOnly = INT8_MIN;

constexpr std::size_t round_up8(std::size_t n) noexcept { return (n + 7) & ~std::size_t{7}; }

/// One queued summary as stored in the ring, followed by its topic, pipeline, key and payload
/// bytes and padding to a multiple of 8. Copied in and out with memcpy (no alignment needs).
struct RecordHeader {
  std::uint32_t size = 0;  // bytes of the whole record; 0 marks "continue at the ring start"
  std::uint32_t payload_size = 0;
  std::uint16_t topic_size = 0;
  std::uint16_t pipeline_size = 0;
  std::uint16_t key_size = 0;
  std::uint8_t flags = 0;
  std::int8_t priority = 0;  // -1 kept local (keep_all), 0 routine, > 0 alert
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;
  std::int64_t created_ns = 0;
};
static_assert(sizeof(RecordHeader) == 40);

/// Summaries waiting for the writer thread: variable-length records back to back in one buffer
/// allocated once. Positions are byte offsets that only grow (offset in the buffer: position
/// modulo capacity), so full and empty never look alike. One producer at a time (the caller
/// serializes producers), one consumer. The consumer reads records in place and releases them
/// only after they were committed, so a failed batch stays queued without a copy.
class SummaryRing {
 public:
  /// Allocates the buffer; throws std::bad_alloc (setup only).
  void allocate(std::size_t bytes, std::size_t max_records) {
    capacity_ = round_up8(bytes);
    bytes_ = std::make_unique_for_overwrite<char[]>(capacity_);
    max_records_ = max_records;
  }

  /// Copies one record in; false (nothing written) when the ring is full or the record too big.
  bool try_push(RecordHeader header, std::string_view topic, std::string_view pipeline,
                std::string_view key, std::string_view payload) noexcept {
    const std::size_t need =
        round_up8(sizeof(RecordHeader) + topic.size() + pipeline.size() + key.size() + payload.size());
    if (capacity_ == 0 || need > capacity_ || need > UINT32_MAX || topic.size() > UINT16_MAX ||
        pipeline.size() > UINT16_MAX || key.size() > UINT16_MAX || payload.size() > UINT32_MAX)
      return false;
    const std::uint64_t pushed = pushed_.load(std::memory_order_relaxed);
    if (pushed - released_.load(std::memory_order_acquire) >= max_records_) return false;
    std::uint64_t head = head_.load(std::memory_order_relaxed);
    const std::uint64_t tail = tail_.load(std::memory_order_acquire);
    std::size_t offset = static_cast<std::size_t>(head % capacity_);
    const std::size_t to_end = capacity_ - offset;
    const std::size_t skip = need > to_end ? to_end : 0;
    if (head + skip + need - tail > capacity_) return false;
    if (skip != 0) {
      const std::uint32_t marker = 0;
      std::memcpy(bytes_.get() + offset, &marker, sizeof marker);
      head += skip;
      offset = 0;
    }
    header.size = static_cast<std::uint32_t>(need);
    header.topic_size = static_cast<std::uint16_t>(topic.size());
    header.pipeline_size = static_cast<std::uint16_t>(pipeline.size());
    header.key_size = static_cast<std::uint16_t>(key.size());
    header.payload_size = static_cast<std::uint32_t>(payload.size());
    char* out = bytes_.get() + offset;
    std::memcpy(out, &header, sizeof header);
    out += sizeof header;
    for (std::string_view part : {topic, pipeline, key, payload}) {
      if (!part.empty()) std::memcpy(out, part.data(), part.size());
      out += part.size();
    }
    head_.store(head + need, std::memory_order_release);
    pushed_.store(pushed + 1, std::memory_order_release);
    return true;
  }

  /// Consumer: reads the record at `position` (advancing it past the record) into `row`,
  /// whose views stay valid until the record is released. False when nothing more is queued.
  bool read(std::uint64_t& position, OutboxRow& row) const noexcept {
    const std::uint64_t head = head_.load(std::memory_order_acquire);
    while (position < head) {
      const std::size_t offset = static_cast<std::size_t>(position % capacity_);
      const char* in = bytes_.get() + offset;
      std::uint32_t size = 0;
      std::memcpy(&size, in, sizeof size);
      if (size == 0) {
        position += capacity_ - offset;
        continue;
      }
      RecordHeader h;
      std::memcpy(&h, in, sizeof h);
      in += sizeof h;
      row.topic = {in, h.topic_size};
      in += h.topic_size;
      row.pipeline = {in, h.pipeline_size};
      in += h.pipeline_size;
      row.key = {in, h.key_size};
      in += h.key_size;
      row.payload = {in, h.payload_size};
      row.start_ms = h.start_ms;
      row.end_ms = h.end_ms;
      row.created_ns = h.created_ns;
      row.flags = h.flags;
      row.priority = h.priority;
      row.mark_only = h.priority == kMarkOnly;
      row.format = "json";
      position += h.size;
      return true;
    }
    return false;
  }

  /// Consumer: frees everything before `position`, which held `records` records. The whole
  /// memory pages of the freed bytes go back to the kernel first (the producer cannot write
  /// there before the release), so a ring whose positions only grow does not become resident
  /// page by page over a long run: only what is queued stays in memory.
  void release(std::uint64_t position, std::size_t records) noexcept {
    discard(tail_.load(std::memory_order_relaxed), position);
    tail_.store(position, std::memory_order_release);
    released_.store(released_.load(std::memory_order_relaxed) + records, std::memory_order_release);
  }

  std::uint64_t tail() const noexcept { return tail_.load(std::memory_order_acquire); }
  std::uint64_t head() const noexcept { return head_.load(std::memory_order_acquire); }
  /// Records pushed and not yet released.
  std::size_t queued() const noexcept {
    return static_cast<std::size_t>(pushed_.load(std::memory_order_acquire) -
                                    released_.load(std::memory_order_acquire));
  }
  std::size_t capacity() const noexcept { return capacity_; }
  /// The buffer (tests look at which of its pages are resident).
  const char* data() const noexcept { return bytes_.get(); }

 private:
  void discard(std::uint64_t from, std::uint64_t to) noexcept {
    static const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    if (to <= from || page == 0) return;
    if (to - from >= capacity_) {
      from = 0;
      to = capacity_;
    }
    const auto drop = [this](std::size_t begin, std::size_t end) noexcept {
      const auto base = reinterpret_cast<std::uintptr_t>(bytes_.get());
      const std::uintptr_t first = (base + begin + page - 1) & ~(page - 1);
      const std::uintptr_t last = (base + end) & ~(page - 1);
      if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
    };
    const std::size_t a = static_cast<std::size_t>(from % capacity_);
    const std::size_t b = static_cast<std::size_t>(to % capacity_);
    if (a < b || (b == 0 && to > from)) {
      drop(a, b == 0 ? capacity_ : b);
    } else {
      drop(a, capacity_);
      drop(0, b);
    }
  }

  std::unique_ptr<char[]> bytes_;
  std::size_t capacity_ = 0;
  std::size_t max_records_ = 0;
  std::atomic<std::uint64_t> head_{0};
  std::atomic<std::uint64_t> tail_{0};
  std::atomic<std::uint64_t> pushed_{0};
  std::atomic<std::uint64_t> released_{0};
};


}  // namespace vigil::sync
