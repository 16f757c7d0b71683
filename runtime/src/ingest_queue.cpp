#include "vigil/runtime/ingest_queue.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <new>

namespace vigil::runtime {

Result<OverflowPolicy> parse_overflow_policy(std::string_view text) {
  if (text == "block") return OverflowPolicy::block;
  if (text == "drop_oldest") return OverflowPolicy::drop_oldest;
  if (text == "drop_newest") return OverflowPolicy::drop_newest;
  return Error{"\"" + std::string(text) + "\" is not an overflow policy; use block, drop_oldest or drop_newest"};
}

std::string_view to_string(OverflowPolicy policy) {
  switch (policy) {
    case OverflowPolicy::block: return "block";
    case OverflowPolicy::drop_oldest: return "drop_oldest";
    case OverflowPolicy::drop_newest: return "drop_newest";
  }
  return "?";
}

void Doorbell::ring() noexcept {
  {
    std::lock_guard lock(mutex_);
    if (rung_) return;
    rung_ = true;
  }
  cv_.notify_one();
}

void Doorbell::wait_for(Nanos timeout) noexcept {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, std::chrono::nanoseconds(timeout), [this] { return rung_; });
  rung_ = false;
}

void IngestQueue::FreeRing::operator()(Event* ring) const noexcept { std::free(ring); }

// Event is an implicit-lifetime aggregate, so calloc's storage holds Events; a slot is always
// written by push() before pop() reads it.
IngestQueue::IngestQueue(std::size_t capacity, OverflowPolicy policy, Doorbell* doorbell)
    : ring_(static_cast<Event*>(std::calloc(capacity, sizeof(Event)))),
      capacity_(capacity),
      policy_(policy),
      doorbell_(doorbell) {
  if (!ring_) throw std::bad_alloc();
}

namespace {
// A value that continues the record before it (not its first value).
bool continues(const Event& e) noexcept { return e.kind == EventKind::sample && !(e.flags & kRecordBegin); }
}  // namespace

bool IngestQueue::push(std::span<const Event> events) noexcept {
  bool all = true;
  std::size_t i = 0;
  while (i < events.size()) {
    std::unique_lock lock(mutex_);
    if (closed_) {
      dropped_.fetch_add(events.size() - i, std::memory_order_relaxed);
      return false;
    }
    const std::size_t left = events.size() - i;
    std::size_t room = capacity_ - count_;
    std::size_t n = std::min(room, left);
    if (policy_ != OverflowPolicy::block && n < left) {
      // The drop policies keep or drop whole records, never part of one: cut at a boundary.
      while (n > 0 && continues(events[i + n])) --n;
    }
    if (n == 0) {
      if (policy_ == OverflowPolicy::block) {
        lock.unlock();
        if (doorbell_) doorbell_->ring();
        lock.lock();
        room_.wait(lock, [this] { return closed_ || count_ < capacity_; });
        continue;
      }
      all = false;
      if (policy_ == OverflowPolicy::drop_newest) {
        dropped_.fetch_add(left, std::memory_order_relaxed);
        break;
      }
      // drop_oldest: drop whole records from the head until the next record fits (or the
      // queue is empty; a record larger than the whole queue is dropped).
      std::size_t want = 1;
      while (i + want < events.size() && continues(events[i + want])) ++want;
      if (want > capacity_) {
        dropped_.fetch_add(want, std::memory_order_relaxed);
        i += want;
        continue;
      }
      std::size_t freed = 0;
      while (count_ > 0 && (capacity_ - count_ < want || continues(ring_[head_]))) {
        head_ = (head_ + 1) % capacity_;
        --count_;
        ++freed;
      }
      dropped_.fetch_add(freed, std::memory_order_relaxed);
      continue;
    }
    std::size_t tail = (head_ + count_) % capacity_;
    std::size_t first = std::min(n, capacity_ - tail);
    std::copy_n(events.data() + i, first, ring_.get() + tail);
    std::copy_n(events.data() + i + first, n - first, ring_.get());
    count_ += n;
    i += n;
    pushed_.fetch_add(n, std::memory_order_relaxed);
    if (count_ > high_water_.load(std::memory_order_relaxed)) high_water_.store(count_, std::memory_order_relaxed);
  }
  if (doorbell_) doorbell_->ring();
  return all;
}

std::size_t IngestQueue::pop(std::span<Event> out) noexcept {
  std::size_t n;
  {
    std::lock_guard lock(mutex_);
    n = std::min(out.size(), count_);
    // Hand out whole records: stop before a record whose values would be split, unless the
    // batch holds nothing else.
    if (n < count_) {
      auto at = [this](std::size_t i) -> const Event& { return ring_[(head_ + i) % capacity_]; };
      std::size_t cut = n;
      while (cut > 0 && continues(at(cut))) --cut;
      if (cut > 0) n = cut;
    }
    std::size_t first = std::min(n, capacity_ - head_);
    std::copy_n(ring_.get() + head_, first, out.data());
    std::copy_n(ring_.get(), n - first, out.data() + first);
    head_ = (head_ + n) % capacity_;
    count_ -= n;
    // An empty ring starts again at slot 0, so only the first high_water() slots are ever
    // written and the rest of the calloc'd ring stays non-resident; without this the ring
    // would creep through all its pages (2 MiB by default) even at a trickle of records.
    if (count_ == 0) head_ = 0;
  }
  if (n > 0 && policy_ == OverflowPolicy::block) room_.notify_one();
  return n;
}

void IngestQueue::close() noexcept {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  room_.notify_all();
}

std::size_t IngestQueue::size() const noexcept {
  std::lock_guard lock(mutex_);
  return count_;
}

}  // namespace vigil::runtime
