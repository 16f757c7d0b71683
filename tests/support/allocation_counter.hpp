#pragma once
// Counts operator new calls made on the current thread while an AllocationCounter lives.
#include <cstddef>

namespace vigil::test {

class AllocationCounter {
 public:
  AllocationCounter();
  ~AllocationCounter();
  AllocationCounter(const AllocationCounter&) = delete;
  AllocationCounter& operator=(const AllocationCounter&) = delete;
  /// Allocations on this thread since construction.
  std::size_t count() const noexcept;

 private:
  std::size_t start_;
};

}  // namespace vigil::test
