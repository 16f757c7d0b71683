#include "vigil/runtime/summary_buffer.hpp"

#include <algorithm>

namespace vigil::runtime {

SummaryBuffer::SummaryBuffer(std::size_t capacity, std::size_t max_columns, SummarySink* next)
    : max_columns_(std::max<std::size_t>(max_columns, 1)), next_(next) {
  entries_.reset(std::max<std::size_t>(capacity, 1));
  values_.reset(entries_.size() * max_columns_);
  order_.reset(entries_.size());
}

void SummaryBuffer::emit(const Summary& s) noexcept {
  if (size_ == entries_.size()) release();
  Summary& e = entries_[size_];
  e = s;
  double* slot = values_.data() + size_ * max_columns_;
  std::size_t n = std::min(s.values.size(), max_columns_);
  std::copy_n(s.values.data(), n, slot);
  e.values = {slot, n};
  order_[size_] = static_cast<std::uint32_t>(size_);
  ++size_;
}

void SummaryBuffer::release() noexcept {
  if (size_ == 0) return;
  auto less = [this](std::uint32_t a, std::uint32_t b) {
    const Summary& x = entries_[a];
    const Summary& y = entries_[b];
    if (x.end != y.end) return x.end < y.end;
    std::uint16_t px = x.schema ? x.schema->pipeline_index : 0, py = y.schema ? y.schema->pipeline_index : 0;
    if (px != py) return px < py;
    if (x.key_rank != y.key_rank) return x.key_rank < y.key_rank;
    return a < b;
  };
  // std::sort on indices with a total order: no allocation (stable_sort may allocate).
  std::sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(size_), less);
  std::size_t n = size_;
  size_ = 0;
  if (next_)
    for (std::size_t i = 0; i < n; ++i) next_->emit(entries_[order_[i]]);
}

}  // namespace vigil::runtime
