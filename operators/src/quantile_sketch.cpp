#include "vigil/operators/quantile_sketch.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace vigil::operators {
namespace {

constexpr std::uint32_t kSeed = 0x9E3779B9u;

std::uint32_t next_coin(std::uint32_t& state) noexcept {
  std::uint32_t x = state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  state = x;
  return x >> 31;
}

std::size_t header_bytes() noexcept { return (sizeof(KllHeader) + 7) / 8 * 8; }

std::uint64_t width_sum(std::uint32_t k, std::uint32_t* width) noexcept {
  std::uint64_t sum = 0;
  double w = k;
  for (std::size_t d = 0; d < KllShape::kMaxLevels; ++d) {
    const auto c = std::max<std::uint32_t>(KllShape::kMinWidth, static_cast<std::uint32_t>(w));
    if (width) width[d] = c;
    sum += c;
    w *= 2.0 / 3.0;
  }
  return sum;
}

std::uint32_t size_of(const KllHeader& h, std::uint32_t level) noexcept {
  return h.bounds[level + 1] - h.bounds[level];
}

// Compacts level `lv` of the layout (h, items): sorts it (level 0 only; the others are kept
// sorted), keeps one item back when its size is odd, and promotes every other item (random
// offset) into level lv + 1, merged in sorted order. Frees half the level's items at the front.
void compact(KllHeader& h, double* items, std::uint32_t lv) noexcept {
  bool saturated = false;
  if (lv + 1 == h.levels) {
    if (h.levels < KllShape::kMaxLevels) {
      h.bounds[h.levels + 1] = h.bounds[h.levels];
      ++h.levels;
    } else {
      saturated = true;  // n beyond k * 2^31: the top level thins itself (weights then sum below n)
    }
  }
  const std::uint32_t raw_beg = h.bounds[lv], raw_end = h.bounds[lv + 1];
  const std::uint32_t pop = raw_end - raw_beg, odd = pop & 1u;
  const std::uint32_t adj_beg = raw_beg + odd, half = (pop - odd) / 2;
  if (lv == 0) std::sort(items + raw_beg, items + raw_end);
  if (half == 0) return;
  const std::uint32_t coin = next_coin(h.rng);
  for (std::uint32_t i = 0; i < half; ++i) items[adj_beg + i] = items[adj_beg + 2 * i + coin];
  std::uint32_t moved_end;  // the lower levels (and what stays of level lv) end here
  if (!saturated) {
    // Merge A = [adj_beg, adj_beg + half) and B = level lv + 1 = [raw_end, end) front to back
    // into [adj_beg + half, end): the write index never passes B's read index (it trails it by
    // what is left of A) and A lies wholly below the result, so nothing unread is overwritten.
    std::uint32_t a = adj_beg, b = raw_end, d = adj_beg + half;
    const std::uint32_t a_end = adj_beg + half, b_end = h.bounds[lv + 2];
    while (a < a_end) {
      if (b < b_end && items[b] < items[a]) items[d++] = items[b++];
      else items[d++] = items[a++];
    }
    h.bounds[lv + 1] = adj_beg + half;
    moved_end = adj_beg;
  } else {
    moved_end = adj_beg + half;  // the kept half stays in the top level, after the odd item
  }
  const std::uint32_t lo = h.bounds[0];
  std::memmove(items + lo + half, items + lo, (moved_end - lo) * sizeof(double));
  for (std::uint32_t j = 0; j <= lv; ++j) h.bounds[j] += half;
}

// Compacts the lowest level at or over its capacity; there is one whenever the layout holds
// more than the sum of the level capacities.
void compress_once(KllHeader& h, double* items, const KllShape& shape) noexcept {
  for (std::uint32_t lv = 0; lv < h.levels; ++lv) {
    if (size_of(h, lv) >= shape.level_capacity(lv, h.levels)) {
      compact(h, items, lv);
      return;
    }
  }
  compact(h, items, 0);  // unreachable while capacities sum to at most the buffer
}

}  // namespace

KllShape KllShape::from_budget(std::size_t budget) noexcept {
  KllShape s;
  if (budget < header_bytes() + 8) return s;
  const std::size_t cap = (budget - header_bytes()) / 8;
  s.capacity = static_cast<std::uint32_t>(std::min<std::size_t>(cap, std::numeric_limits<std::uint32_t>::max() / 4));
  s.bytes = header_bytes() + std::size_t{s.capacity} * 8;
  std::uint32_t lo = 0, hi = s.capacity;
  while (lo < hi) {  // largest k whose capacities fit
    const std::uint32_t mid = lo + (hi - lo + 1) / 2;
    if (width_sum(mid, nullptr) <= s.capacity) lo = mid;
    else hi = mid - 1;
  }
  if (lo < 2 * kMinWidth) return KllShape{};
  s.k = lo;
  width_sum(s.k, s.width);
  return s;
}

std::size_t KllShape::min_budget() noexcept {
  return header_bytes() + 8 * static_cast<std::size_t>(width_sum(2 * kMinWidth, nullptr));
}

KllScratch::KllScratch(const KllShape& shape)
    : work((header_bytes() + 16 * std::size_t{shape.capacity}) / 8),
      values(shape.capacity),
      cum(shape.capacity),
      tmp_values(shape.capacity),
      tmp_weights(shape.capacity) {}

double* KllSketch::items() const noexcept {
  // header_bytes() is a multiple of 8 and the state is 8-aligned, so the items are aligned for
  // double; through void* because -Wcast-align (strict on 32-bit ARM) cannot see that.
  return static_cast<double*>(static_cast<void*>(reinterpret_cast<std::byte*>(h_) + header_bytes()));
}
std::uint64_t KllSketch::count() const noexcept { return h_->n; }
std::uint32_t KllSketch::retained() const noexcept { return shape_->capacity - h_->bounds[0]; }
std::uint32_t KllSketch::levels() const noexcept { return h_->levels; }

void KllSketch::reset() noexcept {
  h_->n = 0;
  h_->min = h_->max = 0;
  h_->rng = kSeed;
  h_->levels = 1;
  h_->bounds[0] = h_->bounds[1] = shape_->capacity;
}

void KllSketch::add(double x) noexcept {
  KllHeader& h = *h_;
  if (h.n == 0) {
    h.min = h.max = x;
  } else {
    h.min = std::min(h.min, x);
    h.max = std::max(h.max, x);
  }
  ++h.n;
  double* it = items();
  if (h.bounds[0] == 0) compress_once(h, it, *shape_);
  it[--h.bounds[0]] = x;
}

void KllSketch::copy_from(const KllSketch& other) noexcept {
  if (other.h_ == h_) return;
  std::memcpy(h_, other.h_, header_bytes());
  const std::uint32_t lo = other.h_->bounds[0];
  std::memcpy(items() + lo, other.items() + lo, (shape_->capacity - lo) * sizeof(double));
}

void KllSketch::merge(const KllSketch& other, KllScratch& scratch) noexcept {
  const KllHeader& a = *h_;
  const KllHeader& b = *other.h_;
  if (b.n == 0) return;
  if (a.n == 0) {
    copy_from(other);
    return;
  }
  // Lay both out level by level in a double-size work buffer, ending at 2 * capacity.
  auto* w = reinterpret_cast<KllHeader*>(scratch.work.data());
  double* wi = scratch.work.data() + header_bytes() / 8;
  const std::uint32_t cap = shape_->capacity, wcap = 2 * cap;
  const double* ai = items();
  const double* bi = other.items();
  w->n = a.n + b.n;
  w->min = std::min(a.min, b.min);
  w->max = std::max(a.max, b.max);
  w->rng = a.rng ^ (b.rng * 0x85EBCA6Bu);
  if (w->rng == 0) w->rng = kSeed;
  w->levels = std::max(a.levels, b.levels);
  std::uint32_t end = wcap;
  w->bounds[w->levels] = wcap;
  for (std::uint32_t lv = w->levels; lv-- > 0;) {
    const std::uint32_t na = lv < a.levels ? size_of(a, lv) : 0;
    const std::uint32_t nb = lv < b.levels ? size_of(b, lv) : 0;
    const std::uint32_t beg = end - na - nb;
    const double* pa = ai + (lv < a.levels ? a.bounds[lv] : 0);
    const double* pb = bi + (lv < b.levels ? b.bounds[lv] : 0);
    if (lv == 0) {
      std::copy(pa, pa + na, wi + beg);
      std::copy(pb, pb + nb, wi + beg + na);
    } else {
      std::merge(pa, pa + na, pb, pb + nb, wi + beg);
    }
    w->bounds[lv] = beg;
    end = beg;
  }
  while (wcap - w->bounds[0] > cap) compress_once(*w, wi, *shape_);
  // Copy back, shifted so the layout ends at capacity.
  h_->n = w->n;
  h_->min = w->min;
  h_->max = w->max;
  h_->rng = w->rng;
  h_->levels = w->levels;
  for (std::uint32_t lv = 0; lv <= w->levels; ++lv) h_->bounds[lv] = w->bounds[lv] - cap;
  std::memcpy(items() + h_->bounds[0], wi + w->bounds[0], (wcap - w->bounds[0]) * sizeof(double));
}

bool KllSketch::valid() const noexcept {
  const KllHeader& h = *h_;
  if (h.levels < 1 || h.levels > KllShape::kMaxLevels) return false;
  if (h.bounds[h.levels] != shape_->capacity) return false;
  std::uint64_t weight = 0;
  for (std::uint32_t lv = 0; lv < h.levels; ++lv) {
    if (h.bounds[lv] > h.bounds[lv + 1]) return false;
    weight += std::uint64_t{size_of(h, lv)} << lv;
  }
  if (weight > h.n) return false;
  if (h.n > 0 && !(h.min <= h.max)) return false;
  const double* it = items();
  for (std::uint32_t i = h.bounds[0]; i < h.bounds[h.levels]; ++i)
    if (std::isnan(it[i])) return false;
  for (std::uint32_t lv = 1; lv < h.levels; ++lv)
    if (!std::is_sorted(it + h.bounds[lv], it + h.bounds[lv + 1])) return false;
  return true;
}

void KllSketch::prepare(KllScratch& s) const noexcept {
  const KllHeader& h = *h_;
  const double* it = items();
  s.n = h.n;
  s.min = h.min;
  s.max = h.max;
  // Sorted level 0 with weight 1, then fold in each sorted level above it.
  std::uint32_t size = size_of(h, 0);
  std::copy(it + h.bounds[0], it + h.bounds[1], s.values.begin());
  std::sort(s.values.begin(), s.values.begin() + size);
  std::fill(s.cum.begin(), s.cum.begin() + size, 1);
  for (std::uint32_t lv = 1; lv < h.levels; ++lv) {
    const std::uint32_t n = size_of(h, lv);
    if (n == 0) continue;
    const double* p = it + h.bounds[lv];
    const std::uint64_t weight = std::uint64_t{1} << lv;
    std::uint32_t i = 0, j = 0, o = 0;
    while (i < size || j < n) {
      if (j == n || (i < size && s.values[i] <= p[j])) {
        s.tmp_values[o] = s.values[i];
        s.tmp_weights[o++] = s.cum[i++];
      } else {
        s.tmp_values[o] = p[j++];
        s.tmp_weights[o++] = weight;
      }
    }
    size = o;
    std::copy(s.tmp_values.begin(), s.tmp_values.begin() + size, s.values.begin());
    std::copy(s.tmp_weights.begin(), s.tmp_weights.begin() + size, s.cum.begin());
  }
  for (std::uint32_t i = 1; i < size; ++i) s.cum[i] += s.cum[i - 1];
  s.size = size;
}

std::uint64_t nearest_rank(double q, std::uint64_t n) noexcept {
  if (n == 0) return 0;
  const double r = q * static_cast<double>(n);
  const double whole = std::round(r);
  const double rank = std::fabs(r - whole) <= 1e-9 * std::max(1.0, r) ? whole : std::ceil(r);
  if (!(rank >= 1)) return 1;
  if (rank >= static_cast<double>(n)) return n;
  return static_cast<std::uint64_t>(rank);
}

double kll_quantile(const KllScratch& s, double q) noexcept {
  if (s.size == 0 || s.n == 0) return std::numeric_limits<double>::quiet_NaN();
  if (q <= 0) return s.min;
  if (q >= 1) return s.max;
  const std::uint64_t target = nearest_rank(q, s.cum[s.size - 1]);
  const auto* pos = std::lower_bound(s.cum.data(), s.cum.data() + s.size, target);
  return s.values[static_cast<std::size_t>(pos - s.cum.data())];
}

}  // namespace vigil::operators
