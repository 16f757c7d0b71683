#pragma once
// Fixed-memory, mergeable quantile sketch (KLL: a hierarchy of compactors; Karnin, Lang and
// Liberty, 2016) living in caller-owned storage, so a window can keep one per (key, slice,
// field) in one preallocated block. Signed and repeated values are fine; NaN is never added.
//
// Layout of one sketch: a Header, then `capacity` doubles. Level h holds items of weight 2^h
// in items[bounds[h], bounds[h+1]); level 0 is unsorted and grows downwards into the free
// space at the front, higher levels are sorted. When the buffer is full, the lowest level at
// or over its capacity is compacted: sorted, every other item (random offset) promoted to
// the level above with twice the weight. The retained items' weights always sum to n.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vigil::operators {

/// The fixed part of a sketch, followed in memory by its items.
struct KllHeader;

/// Sizes derived from a per-sketch byte budget; shared by every sketch of an operator.
struct KllShape {
  static constexpr std::size_t kMaxLevels = 32;  ///< n up to k * 2^31 items per sketch
  static constexpr std::uint32_t kMinWidth = 4;  ///< smallest capacity of a low level

  std::size_t bytes = 0;       ///< stride of one sketch (header + items), a multiple of 8
  std::uint32_t capacity = 0;  ///< items one sketch holds
  std::uint32_t k = 0;         ///< capacity of the top level
  std::uint32_t width[kMaxLevels] = {};  ///< capacity of a level by depth (0 = top)

  /// The largest sketch that fits `budget` bytes; k is the largest value whose capacities for
  /// kMaxLevels levels sum to at most `capacity`. Budgets below min_budget() give k = 0.
  static KllShape from_budget(std::size_t budget) noexcept;
  static std::size_t min_budget() noexcept;
  /// Stated normalized rank error of a quantile answer for this k: 3 / k. An empirical bound
  /// (KLL's guarantee is probabilistic): the tests hold every answer to it on random and
  /// adversarial inputs of up to a million values; the worst seen was 0.6 of it.
  double rank_error() const noexcept { return k ? 3.0 / static_cast<double>(k) : 1.0; }
  std::uint32_t level_capacity(std::size_t level, std::size_t levels) const noexcept {
    return width[levels - 1 - level];
  }
};

/// Scratch for merges and queries; one per operator (not per key).
struct KllScratch {
  explicit KllScratch(const KllShape& shape);
  std::vector<double> work;       ///< a double-size sketch for merges (header + 2 * capacity)
  std::vector<double> values;     ///< sorted retained values of the sketch being queried
  std::vector<std::uint64_t> cum; ///< cumulative weights, parallel to values
  std::vector<double> tmp_values;
  std::vector<std::uint64_t> tmp_weights;
  std::size_t size = 0;           ///< entries of values/cum in use
  std::uint64_t n = 0;
  double min = 0, max = 0;
};

struct KllHeader {
  std::uint64_t n;       ///< values added (merged in)
  double min;
  double max;
  std::uint32_t rng;     ///< xorshift state: a sketch's coins depend only on its own input
  std::uint32_t levels;
  std::uint32_t bounds[KllShape::kMaxLevels + 1];  ///< level h: items[bounds[h], bounds[h+1])
};

/// One sketch: a view of `shape.bytes` bytes of 8-byte-aligned storage.
class KllSketch {
 public:
  KllSketch(void* memory, const KllShape& shape) noexcept
      : h_(static_cast<KllHeader*>(memory)), shape_(&shape) {}

  void reset() noexcept;
  void add(double x) noexcept;
  /// Folds `other` (same shape) in; the result stays within the fixed capacity.
  void merge(const KllSketch& other, KllScratch& scratch) noexcept;
  void copy_from(const KllSketch& other) noexcept;
  std::uint64_t count() const noexcept;
  /// Sorts the retained items into scratch (values + cumulative weights) for quantile().
  void prepare(KllScratch& scratch) const noexcept;
  /// Items retained (for tests of the memory bound).
  std::uint32_t retained() const noexcept;
  std::uint32_t levels() const noexcept;

  /// Whether restored bytes describe a sketch of this shape (levels, bounds, weights).
  bool valid() const noexcept;

 private:
  double* items() const noexcept;
  KllHeader* h_;
  const KllShape* shape_;
};

/// ceil(q * n) clamped to [1, n], with q * n that lands within rounding of an integer taken as
/// that integer (0.29 * 100 is 29, not 30): the rank the nearest-rank quantile picks.
std::uint64_t nearest_rank(double q, std::uint64_t n) noexcept;

/// The q-quantile (0 <= q <= 1) of the sketch prepared into `scratch`: the retained value at
/// which the cumulative weight first reaches ceil(q * n) (nearest rank; exact while nothing has
/// been compacted). q = 0 and q = 1 give the exact min and max. NaN when the sketch is empty.
double kll_quantile(const KllScratch& scratch, double q) noexcept;

}  // namespace vigil::operators
