#include "vigil/runtime/key_table.hpp"

#include <atomic>
#include <cstring>

namespace vigil::runtime {

struct KeyTable::Slot {
  char name[kMaxKeyLength];
  std::uint8_t length = 0;
  bool live = false;
  bool dormant = false;
  std::size_t ring_pos = 0;  // where in dormant_ this key's current entry is, while dormant
  std::atomic<std::uint32_t> generation{0};
  std::uint64_t rank = 0;
  std::string_view view() const noexcept { return {name, length}; }
};

namespace {
constexpr std::int32_t kEmpty = -1;

std::uint64_t hash_name(std::string_view s) noexcept {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h ^ (h >> 29);
}
}  // namespace

KeyTable::KeyTable(std::size_t capacity)
    : capacity_(capacity), buckets_(16), slots_(std::make_unique<Slot[]>(capacity)) {
  while (buckets_ < capacity * 2) buckets_ *= 2;
  index_ = std::make_unique<std::int32_t[]>(buckets_);
  for (std::size_t i = 0; i < buckets_; ++i) index_[i] = kEmpty;
  free_.reserve(capacity);
  dormant_ = std::make_unique<std::uint32_t[]>(capacity);
  for (std::size_t i = capacity; i > 0; --i) free_.push_back(static_cast<std::uint32_t>(i - 1));
}

KeyTable::~KeyTable() = default;

std::size_t KeyTable::bucket_of(std::string_view name) const noexcept {
  std::size_t mask = buckets_ - 1;
  std::size_t b = hash_name(name) & mask;
  while (true) {
    std::int32_t s = index_[b];
    if (s == kEmpty) return b;
    if (s >= 0 && slots_[static_cast<std::size_t>(s)].view() == name) return b;
    b = (b + 1) & mask;
  }
}

std::optional<KeyId> KeyTable::intern(std::string_view name) noexcept {
  if (name.size() > kMaxKeyLength) return std::nullopt;
  std::lock_guard lock(mutex_);
  std::size_t b = bucket_of(name);
  if (index_[b] >= 0) {
    auto& slot = slots_[static_cast<std::size_t>(index_[b])];
    slot.dormant = false;
    return KeyId{static_cast<std::uint32_t>(index_[b]), slot.generation.load(std::memory_order_relaxed)};
  }
  // Full: take the slot of the longest-dormant key, if any.
  while (free_.empty() && dormant_count_ > 0) {
    const std::size_t p = dormant_head_;
    std::uint32_t d = dormant_[p];
    dormant_head_ = (dormant_head_ + 1) % capacity_;
    --dormant_count_;
    // An entry left by an earlier retirement of a key that woke since is stale.
    if (slots_[d].live && slots_[d].dormant && slots_[d].ring_pos == p) evict_locked(d);
  }
  if (free_.empty()) return std::nullopt;
  std::uint32_t i = free_.back();
  free_.pop_back();
  Slot& slot = slots_[i];
  std::memcpy(slot.name, name.data(), name.size());
  slot.length = static_cast<std::uint8_t>(name.size());
  slot.live = true;
  slot.rank = next_rank_++;
  std::size_t mask = buckets_ - 1;
  std::size_t p = hash_name(name) & mask;
  while (index_[p] >= 0) p = (p + 1) & mask;
  index_[p] = static_cast<std::int32_t>(i);
  ++size_;
  return KeyId{i, slot.generation.load(std::memory_order_relaxed)};
}

std::optional<KeyId> KeyTable::find(std::string_view name) const noexcept {
  if (name.size() > kMaxKeyLength) return std::nullopt;
  std::lock_guard lock(mutex_);
  std::size_t b = bucket_of(name);
  if (index_[b] < 0) return std::nullopt;
  auto i = static_cast<std::uint32_t>(index_[b]);
  return KeyId{i, slots_[i].generation.load(std::memory_order_relaxed)};
}

std::string_view KeyTable::name(KeyId id) const noexcept {
  if (id.index >= capacity_) return {};
  const Slot& slot = slots_[id.index];
  if (!slot.live || slot.generation.load(std::memory_order_relaxed) != id.generation) return {};
  return slot.view();
}

std::uint64_t KeyTable::first_seen(KeyId id) const noexcept {
  return id.index < capacity_ ? slots_[id.index].rank : 0;
}

bool KeyTable::live(KeyId id) const noexcept {
  if (id.index >= capacity_) return false;
  std::lock_guard lock(mutex_);
  return slots_[id.index].live && slots_[id.index].generation.load(std::memory_order_relaxed) == id.generation;
}

void KeyTable::evict(KeyId id) noexcept {
  std::lock_guard lock(mutex_);
  if (id.index >= capacity_) return;
  Slot& slot = slots_[id.index];
  if (!slot.live || slot.generation.load(std::memory_order_relaxed) != id.generation) return;
  evict_locked(id.index);
}

void KeyTable::evict_locked(std::uint32_t index) noexcept {
  Slot& slot = slots_[index];
  // Backward-shift deletion: later members of the probe run move up into the hole, so no
  // tombstones pile up. With tombstones, a long churn of keys left no empty bucket and a
  // lookup of a new name probed forever.
  const std::size_t mask = buckets_ - 1;
  std::size_t hole = bucket_of(slot.view());
  for (std::size_t next = (hole + 1) & mask; index_[next] != kEmpty; next = (next + 1) & mask) {
    const std::size_t home = hash_name(slots_[static_cast<std::size_t>(index_[next])].view()) & mask;
    // The entry at `next` must stay if its home lies cyclically in (hole, next].
    const bool stays = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
    if (stays) continue;
    index_[hole] = index_[next];
    hole = next;
  }
  index_[hole] = kEmpty;
  slot.live = false;
  slot.dormant = false;
  slot.generation.fetch_add(1, std::memory_order_release);
  free_.push_back(index);
  --size_;
}

void KeyTable::retire(KeyId id) noexcept {
  std::lock_guard lock(mutex_);
  if (id.index >= capacity_) return;
  Slot& slot = slots_[id.index];
  if (!slot.live || slot.dormant || slot.generation.load(std::memory_order_relaxed) != id.generation) return;
  if (dormant_count_ == capacity_) {
    // The ring holds stale entries too (keys woken, evicted, or woken and retired again since);
    // keep only each dormant key's current entry, in order. At most capacity - 1 remain, as
    // this key is not dormant.
    std::size_t kept = 0;
    for (std::size_t i = 0; i < dormant_count_; ++i) {
      const std::size_t p = (dormant_head_ + i) % capacity_;
      const std::uint32_t d = dormant_[p];
      if (!slots_[d].dormant || slots_[d].ring_pos != p) continue;
      const std::size_t q = (dormant_head_ + kept++) % capacity_;
      dormant_[q] = d;
      slots_[d].ring_pos = q;
    }
    dormant_count_ = kept;
  }
  slot.dormant = true;
  slot.ring_pos = (dormant_head_ + dormant_count_) % capacity_;
  dormant_[slot.ring_pos] = id.index;
  ++dormant_count_;
}

std::uint32_t KeyTable::generation(std::uint32_t index) const noexcept {
  return index < capacity_ ? slots_[index].generation.load(std::memory_order_acquire) : 0;
}



std::size_t KeyTable::size() const noexcept {
  std::lock_guard lock(mutex_);
  return size_;
}

FieldTable::FieldTable() { names_.reserve(kMaxFields); }

FieldId FieldTable::intern(std::string_view name) noexcept {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return static_cast<FieldId>(i);
  if (names_.size() >= kMaxFields) return kNoField;
  names_.emplace_back(name);
  return static_cast<FieldId>(names_.size() - 1);
}

FieldId FieldTable::find(std::string_view name) const noexcept {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return static_cast<FieldId>(i);
  return kNoField;
}

std::string_view FieldTable::name(FieldId id) const noexcept {
  std::lock_guard lock(mutex_);
  return id < names_.size() ? std::string_view(names_[id]) : std::string_view();
}

std::size_t FieldTable::size() const noexcept {
  std::lock_guard lock(mutex_);
  return names_.size();
}

}  // namespace vigil::runtime
