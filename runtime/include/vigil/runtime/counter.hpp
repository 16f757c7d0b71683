#pragma once
#include <atomic>
#include <cstdint>

namespace vigil::runtime {

/// A counter written by one thread and read by any: add() is a plain load+store (no locked
/// instruction on the hot path), reads are relaxed.
class Counter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }
  void set(std::uint64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

}  // namespace vigil::runtime
