#pragma once
// A fixed array of zeroed elements whose memory becomes resident only where it is written.
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>

namespace vigil::runtime {

/// `n` elements of T, all bytes zero, allocated once with calloc. Large blocks come straight
/// from mmap as untouched zero pages, so a table sized for the configured capacity (max_keys,
/// queue depth) costs resident memory only for the part actually used, where a std::vector
/// would write every element at construction. T must be trivially copyable and destructible,
/// and all-zero bytes must be its initial state (every member 0, null or false).
template <class T>
class ZeroedArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "ZeroedArray holds trivially copyable types whose initial state is all-zero bytes");

 public:
  ZeroedArray() = default;
  /// Replaces the contents with `n` zeroed elements; throws std::bad_alloc (setup only).
  void reset(std::size_t n) {
    data_.reset();
    size_ = 0;
    if (n == 0) return;
    // calloc of a trivially copyable type starts the elements' lifetimes implicitly.
    data_.reset(static_cast<T*>(std::calloc(n, sizeof(T))));
    if (!data_) throw std::bad_alloc();
    size_ = n;
  }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T* data() noexcept { return data_.get(); }
  const T* data() const noexcept { return data_.get(); }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  T* begin() noexcept { return data_.get(); }
  T* end() noexcept { return data_.get() + size_; }
  const T* begin() const noexcept { return data_.get(); }
  const T* end() const noexcept { return data_.get() + size_; }

 private:
  struct Free {
    void operator()(T* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<T[], Free> data_;
  std::size_t size_ = 0;
};

}  // namespace vigil::runtime
