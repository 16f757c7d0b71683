#pragma once
// Training data and its moments: the common input every model is fitted from.
#include <cstddef>
#include <span>
#include <vector>

#include "vigil/runtime/result.hpp"

namespace vigil::models {

using runtime::Error;
using runtime::Result;

/// A row-major view of training vectors: `rows` vectors of `cols` features each.
struct Samples {
  std::span<const double> values;  ///< rows * cols values, vector after vector
  std::size_t rows = 0;
  std::size_t cols = 0;

  std::span<const double> row(std::size_t i) const noexcept { return values.subspan(i * cols, cols); }
};

/// Mean and co-moments of a set of vectors, enough to fit every model: `comoment` is
/// sum_k (x_ki - mean_i)(x_kj - mean_j) and `fourth_comoment` is
/// sum_k (x_ki - mean_i)^2 (x_kj - mean_j)^2 (used by the Ledoit-Wolf shrinkage). Matrices are
/// dim x dim, row-major.
struct Baseline {
  std::size_t count = 0;
  std::size_t dim = 0;
  std::vector<double> mean;
  std::vector<double> comoment;
  std::vector<double> fourth_comoment;

  /// Two-pass moments of `samples`; an error when there are no rows, no columns, a value
  /// count that is not rows * cols, or a value that is not finite.
  static Result<Baseline> from_samples(const Samples& samples);
  /// Sample covariance (divisor count - 1) of features i and j.
  double covariance(std::size_t i, std::size_t j) const noexcept {
    return comoment[i * dim + j] / static_cast<double>(count - 1);
  }
};

/// Learns a Baseline from the first `capacity` vectors of a stream in fixed memory, then
/// freezes: add() updates the mean and the co-moment matrices by Welford-style shifts
/// (O(dim^2) per vector, no allocation), ignores vectors once full, and refuses non-finite ones.
/// One instance per key; not thread-safe.
class OnlineBaseline {
 public:
  /// `dim` features, learn `capacity` vectors (both >= 1). Allocates its matrices here.
  OnlineBaseline(std::size_t dim, std::size_t capacity);

  /// Adds one vector of dim() values; returns false (and changes nothing) when the baseline is
  /// already frozen, the size is wrong, or a value is not finite. Allocation-free.
  bool add(std::span<const double> x) noexcept;
  /// True once `capacity` vectors have been learned.
  bool frozen() const noexcept { return count_ >= capacity_; }
  std::size_t count() const noexcept { return count_; }
  std::size_t dim() const noexcept { return dim_; }
  /// A copy of the moments learned so far (allocates: call it once, at freeze time). An error
  /// when fewer than two vectors were learned.
  Result<Baseline> baseline() const;
  /// Forgets everything and learns again (keeps the memory).
  void reset() noexcept;
  /// Appends the learned state (count, mean, co-moments) for a checkpoint.
  void save(std::vector<double>& out) const;
  /// Reads what save() wrote for the same dim and capacity, advancing `in`; false (state
  /// unchanged) when it does not fit.
  bool load(std::span<const double>& in) noexcept;

 private:
  std::size_t dim_;
  std::size_t capacity_;
  std::size_t count_ = 0;
  std::vector<double> mean_;
  std::vector<double> shift_;  // scratch: mean change of the current add()
  std::vector<double> m11_;    // sum y_i y_j
  std::vector<double> m21_;    // sum y_i^2 y_j (not symmetric)
  std::vector<double> m22_;    // sum y_i^2 y_j^2
};

}  // namespace vigil::models
