#pragma once
// Interning of keys and field names at the edge of the system; the hot path sees only ids.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/runtime/event.hpp"

namespace vigil::runtime {

/// Fixed-capacity table of keys (machine names, units). All slots are allocated at construction;
/// a key beyond `capacity` is refused (intern returns nullopt) and never allocated.
/// Thread-safe: sources intern from their own threads; readers get stable string_views while a
/// slot is live.
class KeyTable {
 public:
  static constexpr std::size_t kMaxKeyLength = 128;

  explicit KeyTable(std::size_t capacity);
  ~KeyTable();
  KeyTable(const KeyTable&) = delete;
  KeyTable& operator=(const KeyTable&) = delete;

  /// Returns the id of `name`, interning it if new; nullopt when full or `name` is longer than
  /// kMaxKeyLength (the caller counts the drop). Allocation-free.
  std::optional<KeyId> intern(std::string_view name) noexcept;
  /// Looks a key up without interning it.
  std::optional<KeyId> find(std::string_view name) const noexcept;
  /// Name of a live key; empty if `id` is stale (evicted since).
  std::string_view name(KeyId id) const noexcept;
  /// Order in which the key was first seen (0, 1, 2, ...); never reused, even after eviction.
  std::uint64_t first_seen(KeyId id) const noexcept;
  /// Frees the slot of `id` and bumps its generation; a stale id is ignored.
  void evict(KeyId id) noexcept;
  /// Marks a key dormant (key_ttl): it keeps its id while it may still come back, but when the
  /// table is full a new key takes the slot of the longest-dormant key (evicting it).
  /// Interning a dormant key's name again wakes it with the same id.
  void retire(KeyId id) noexcept;
  /// Generation of the key now in slot `index` (lock-free): a KeyId whose generation differs
  /// belongs to a key that was evicted.
  std::uint32_t generation(std::uint32_t index) const noexcept;
  /// True if `id` names the key that occupies its slot now.
  bool live(KeyId id) const noexcept;

  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t size() const noexcept;

 private:
  struct Slot;
  std::size_t bucket_of(std::string_view name) const noexcept;
  std::size_t capacity_;
  std::size_t buckets_;
  std::unique_ptr<Slot[]> slots_;
  std::unique_ptr<std::int32_t[]> index_;  // open addressing: bucket -> slot, -1 empty
  std::vector<std::uint32_t> free_;         // reserved to capacity at construction
  std::unique_ptr<std::uint32_t[]> dormant_;  // ring of retired slots, oldest first (may hold woken ones)
  std::size_t dormant_head_ = 0;
  std::size_t dormant_count_ = 0;
  void evict_locked(std::uint32_t index) noexcept;
  std::uint64_t next_rank_ = 0;
  std::size_t size_ = 0;
  mutable std::mutex mutex_;
};

/// Field names ("temp", "vib"). Small and append-only; fields are interned at configuration time
/// and, for sources that discover fields, on first sight. Thread-safe.
class FieldTable {
 public:
  static constexpr std::size_t kMaxFields = 1024;
  FieldTable();
  /// Id of `name`, interned if new; kNoField when the table is full.
  FieldId intern(std::string_view name) noexcept;
  /// Id of `name` or kNoField.
  FieldId find(std::string_view name) const noexcept;
  std::string_view name(FieldId id) const noexcept;
  std::size_t size() const noexcept;

 private:
  std::vector<std::string> names_;  // reserved to kMaxFields; never reallocates
  mutable std::mutex mutex_;
};

}  // namespace vigil::runtime
