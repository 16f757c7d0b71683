#pragma once
// Holds summaries that become final at one point of the input, then releases them in the
// documented order: (window end, pipeline, key first seen). Storage is fixed at construction.
#include <cstdint>
#include <vector>

#include "vigil/runtime/summary.hpp"
#include "vigil/runtime/zeroed_array.hpp"

namespace vigil::runtime {

/// A SummarySink that sorts before forwarding. When full it releases what it holds early
/// (still sorted within that part). Pipeline thread only.
class SummaryBuffer final : public SummarySink {
 public:
  SummaryBuffer(std::size_t capacity, std::size_t max_columns, SummarySink* next);
  void set_next(SummarySink* next) noexcept { next_ = next; }
  void emit(const Summary& s) noexcept override;
  /// Sorts what is held and forwards it to `next`.
  void release() noexcept;
  std::size_t size() const noexcept { return size_; }

 private:
  // Each entry is written before it is read; zeroed arrays keep the unused capacity non-resident.
  ZeroedArray<Summary> entries_;
  ZeroedArray<double> values_;
  ZeroedArray<std::uint32_t> order_;
  std::size_t max_columns_;
  std::size_t size_ = 0;
  SummarySink* next_;
};

}  // namespace vigil::runtime
