// Sliding windows: one result per record over (t - size, t] of event time.
//
// Each key keeps its raw samples in a ring sorted by (time, arrival). A record's result is due
// once the watermark passes t + allowed_lateness; every record that can still arrive on time is
// then later than t, so the results fire in time order and the window is a pair of cursors that
// only move forward: samples enter the aggregates at `end` and leave at `begin`. Records that are
// on time but out of order are inserted into the part of the ring that has not fired yet, which
// never holds more than the disorder allows.
//
// Aggregates are updated per sample, never by rescanning: compensated sums, Welford moments with
// removal, cursors for first/last, and min/max as two stacks: the window [begin, end) is a
// front [begin, mid), whose slots carry the min/max of the rest of the front (suffix
// aggregates), and a back [mid, end) with a running min/max. A sample enters the back in O(1);
// when the front is empty and a sample must leave, the front becomes [begin, end) with its
// suffix aggregates computed in one backward pass (O(1) amortized per sample, sequential
// memory). The suffix aggregates sit beside the values in the ring slot, so min/max touch no
// other memory. Removing values
// from Welford moments can cancel digits (a spike leaving a quiet window); a bound on the rounding
// error is carried along and the moments of a field are recomputed from the ring only when that
// bound reaches 1e-10 of m2.
#include "sliding_window.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace vigil::operators {
namespace {

constexpr std::uint32_t kSnapshotMagic = 0x56534C31;  // "VSL1"
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kEps = std::numeric_limits<double>::epsilon();
constexpr double kMaxRelativeError = 1e-10;

// Neumaier's compensated summation: the value is s + c.
inline void compensated_add(double& s, double& c, double x) noexcept {
  const double t = s + x;
  if (std::fabs(s) >= std::fabs(x)) {
    c += (s - t) + x;
  } else {
    c += (x - t) + s;
  }
  s = t;
}

}  // namespace

double SlidingWindow::bytes_per_key(std::size_t max_samples, std::size_t fields, bool minmax) noexcept {
  const double ring = static_cast<double>(std::bit_ceil(max_samples + 1));
  const double f = static_cast<double>(fields);
  return static_cast<double>(sizeof(KeyState)) + ring * sizeof(Nanos) + ring * f * sizeof(double) +
         f * static_cast<double>(sizeof(FieldState)) + (minmax ? f * 2 * ring * sizeof(double) : 0.0);
}

SlidingWindow::SlidingWindow(const runtime::PipelineSetup& setup, AggregatePlan plan, const SlidingWindowParams& p)
    : plan_(std::move(plan)), p_(p), wms_(setup), keys_(setup.keys), slots_(setup) {
  fields_ = plan_.field_count();
  for (auto n : plan_.needs) minmax_ = minmax_ || (n & kNeedMinMax);
  capacity_ = slots_.capacity;
  ring_ = std::bit_ceil(p_.max_samples + 1);
  mask_ = ring_ - 1;
  state_.resize(capacity_);
  times_.resize(capacity_ * ring_);
  vstride_ = fields_ * (minmax_ ? 3 : 1);
  values_.resize(capacity_ * ring_ * vstride_);
  field_states_.resize(capacity_ * fields_);
  flip_min_.resize(fields_);
  flip_max_.resize(fields_);
  merged_.resize(fields_);
  values_out_.resize(plan_.schema.columns.size());
  late_moments_.resize(fields_);
  candidates_.resize(capacity_);
}

std::size_t SlidingWindow::state_bytes() const noexcept {
  return state_.size() * sizeof(KeyState) + times_.size() * sizeof(Nanos) + values_.size() * sizeof(double) +
         field_states_.size() * sizeof(FieldState);
}

void SlidingWindow::reset_key(std::uint32_t index) noexcept {
  state_[index] = KeyState{};
  for (std::size_t f = 0; f < fields_; ++f) field_state(index, f) = FieldState{};
}

// Prefetching. With thousands of keys a key's state is out of cache by the time its next record
// comes, and a record touches a dozen scattered lines (key and field state, the ring at its tail
// and at its oldest sample). Looking ahead in the batch, the key and field state of record
// i + 2D are requested first, then, once they are in cache, the ring lines of record i + D, so
// the misses of several records overlap.
constexpr std::size_t kPrefetchDistance = 8;

void SlidingWindow::prefetch_key(const Event& ev) const noexcept {
  if (ev.kind != EventKind::sample || !slots_.owns(ev.key.index)) return;
  const std::uint32_t index = slots_.local(ev.key.index);
  const auto* k = reinterpret_cast<const char*>(&state_[index]);
  __builtin_prefetch(k);
  __builtin_prefetch(k + sizeof(KeyState) - 1);
  const auto* f = reinterpret_cast<const char*>(&field_states_[index * fields_]);
  for (std::size_t b = 0; b < fields_ * sizeof(FieldState); b += 64) __builtin_prefetch(f + b, 1);
  __builtin_prefetch(f + fields_ * sizeof(FieldState) - 1, 1);
}

void SlidingWindow::prefetch_ring(const Event& ev) const noexcept {
  if (ev.kind != EventKind::sample || !slots_.owns(ev.key.index)) return;
  const std::uint32_t index = slots_.local(ev.key.index);
  const KeyState& k = state_[index];
  const std::size_t base = index * ring_;
  __builtin_prefetch(&times_[base + slot(k.tail)], 1);
  __builtin_prefetch(&values_[(base + slot(k.tail)) * vstride_], 1);
  __builtin_prefetch(&times_[base + slot(k.begin)]);
  __builtin_prefetch(&values_[(base + slot(k.begin)) * vstride_], 1);
}

void SlidingWindow::process(std::span<const Event> events, runtime::SummarySink& out) noexcept {
  out_ = &out;
  const std::size_t n = events.size();
  for (std::size_t i = 0; i < n; ++i) {
    const Event& ev = events[i];
    if (i + 2 * kPrefetchDistance < n) prefetch_key(events[i + 2 * kPrefetchDistance]);
    if (i + kPrefetchDistance < n) prefetch_ring(events[i + kPrefetchDistance]);
    switch (ev.kind) {
      case EventKind::sample: on_sample(ev); break;
      case EventKind::watermark:
        finish_record();
        if (ev.flags & runtime::kAllKeys) {
          fire_many(ev.time, false, false);
        } else if (slots_.owns(ev.key.index) && state_[slots_.local(ev.key.index)].live &&
                   state_[slots_.local(ev.key.index)].generation == ev.key.generation) {
          advance_watermark(slots_.local(ev.key.index), ev.time);
        }
        break;
      case EventKind::tick: {
        finish_record();
        if (now_ == runtime::kMinTime)
          for (auto& k : state_)
            if (k.live) k.last_active = ev.time;
        now_ = std::max(now_, ev.time);
        if (wms_.idle_timeout > 0 && now_ >= next_idle_check_) {
          next_idle_check_ = now_ + std::max<Nanos>(wms_.idle_timeout / 8, 1);
          fire_many(0, true, false);
        }
        break;
      }
      case EventKind::end_of_stream: break;
    }
  }
  // process() receives whole records (queues never split one), so the last one is complete.
  finish_record();
}

void SlidingWindow::advance_watermark(std::uint32_t index, Nanos wm) noexcept {
  KeyState& k = state_[index];
  k.wm = std::max(k.wm, wm);
  fire_due(index, k.wm, false);
}

void SlidingWindow::on_sample(const Event& ev) noexcept {
  const bool begin = ev.flags & runtime::kRecordBegin;
  const std::uint32_t index = slots_.local(ev.key.index);
  if (begin) finish_record();
  if (!admit_key(ev, slots_, *keys_, counters_)) {
    if (begin) cur_key_ = UINT32_MAX;
    return;
  }
  if (begin) {
    counters_.records.add();
    if (!state_[index].live || state_[index].generation != ev.key.generation) {
      reset_key(index);
      KeyState& k = state_[index];
      k.live = true;
      k.generation = ev.key.generation;
      k.rank = keys_->first_seen(ev.key);
    }
    KeyState& k = state_[index];
    const Nanos t = ev.time;
    k.last_active = now_;
    if (t > k.max_ts) k.max_ts = t;
    // Results due before this record are complete without it (it is later than all of them
    // unless it is late), so they fire before it is stored.
    if (wms_.per_source) {
      if (k.wm < source_wm_) advance_watermark(index, source_wm_);
      if (t > wms_.max_seen[ev.source]) {
        wms_.max_seen[ev.source] = t;
        const Nanos wm = wms_.watermark();
        if (wm > source_wm_) {
          source_wm_ = wm;
          fire_many(wm, false, false);
        }
      }
    } else if (t - wms_.ooo[ev.source] > k.wm) {
      advance_watermark(index, t - wms_.ooo[ev.source]);
    }
    cur_key_ = index;
    cur_pos_ = UINT64_MAX;
    if (t + p_.lateness < k.wm || t <= k.fired_until) {
      // Its own result is already due, or a result at or after t went out early: late.
      counters_.late.add();
      if (p_.late_emit) {
        late_pending_ = true;
        late_key_ = ev.key;
        late_time_ = t;
        for (auto& m : late_moments_) m.reset();
      }
    } else {
      // Insert in (time, arrival) order; every sample before `end` is older than t.
      std::uint64_t pos = k.tail;
      while (pos > k.end && time_at(index, pos - 1) > t) {
        time_at(index, pos) = time_at(index, pos - 1);
        std::copy_n(values_at(index, pos - 1), fields_, values_at(index, pos));
        --pos;
      }
      time_at(index, pos) = t;
      std::fill_n(values_at(index, pos), fields_, kNaN);
      ++k.tail;
      cur_pos_ = pos;
    }
  } else if (index != cur_key_) {
    return;
  }
  if (ev.field >= plan_.local_of.size()) return;
  const std::int16_t local = plan_.local_of[ev.field];
  if (local < 0) return;
  const auto f = static_cast<std::size_t>(local);
  if (cur_pos_ != UINT64_MAX) {
    if (!std::isnan(ev.value)) values_at(index, cur_pos_)[f] = ev.value;
  } else if (late_pending_) {
    late_moments_[f].add(ev.value, ev.time, plan_.needs[f]);
  }
}

void SlidingWindow::finish_record() noexcept {
  if (cur_pos_ != UINT64_MAX) {
    const KeyState& k = state_[cur_key_];
    if (k.tail - k.begin > p_.max_samples) drop_oldest(cur_key_);
    cur_pos_ = UINT64_MAX;
  }
  if (!late_pending_) return;
  late_pending_ = false;
  emit_summary(plan_, *keys_, late_key_, keys_->first_seen(late_key_), late_time_ - p_.size, late_time_, 1,
               late_moments_.data(), values_out_, runtime::kLate, counters_, *out_);
}

void SlidingWindow::drop_oldest(std::uint32_t index) noexcept {
  KeyState& k = state_[index];
  // The oldest sample still owes its result: send it now, early and so partial.
  if (k.fire == k.begin) fire_one(index, true);
  const Nanos t = time_at(index, k.begin);
  remove_position(index, k.begin);
  ++k.begin;
  k.dropped_until = std::max(k.dropped_until, t);
  counters_.truncated.add();
}

void SlidingWindow::fire_due(std::uint32_t index, Nanos wm, bool partial) noexcept {
  KeyState& k = state_[index];
  while (k.fire < k.tail && time_at(index, k.fire) + p_.lateness < wm) fire_one(index, partial);
}

void SlidingWindow::fire_one(std::uint32_t index, bool partial) noexcept {
  KeyState& k = state_[index];
  const Nanos t = time_at(index, k.fire);
  const Nanos start = t - p_.size;
  while (k.end < k.tail && time_at(index, k.end) <= t) add_position(index, k.end++);
  while (k.begin < k.end && time_at(index, k.begin) <= start) remove_position(index, k.begin++);
  for (std::size_t f = 0; f < fields_; ++f) {
    FieldState& fs = field_state(index, f);
    const std::uint8_t needs = plan_.needs[f];
    Moments& m = merged_[f];
    m.reset();
    if (fs.n == 0) continue;
    if ((needs & kNeedM2) && fs.m2_err > kMaxRelativeError * fs.m2) rebuild_moments(index, f);
    m.n = fs.n;
    m.sum = fs.sum + fs.sum_c;
    m.sumsq = fs.sumsq + fs.sumsq_c;
    m.mean = fs.mean;
    m.m2 = fs.m2;
    m.m3 = fs.m3;
    m.m4 = fs.m4;
    if (needs & kNeedMinMax) {
      m.min = fs.back_min;
      m.max = fs.back_max;
      if (k.begin < k.mid) {
        const double* front = values_at(index, k.begin) + fields_ + 2 * f;
        m.min = std::min(m.min, front[0]);
        m.max = std::max(m.max, front[1]);
      }
    }
    m.first_t = time_at(index, fs.first);
    m.first_v = values_at(index, fs.first)[f];
    m.last_t = time_at(index, fs.last);
    m.last_v = values_at(index, fs.last)[f];
  }
  const bool missing = k.dropped_until > start;  // a dropped sample lies in (start, t]
  emit_summary(plan_, *keys_, KeyId{slots_.global(index), k.generation}, k.rank, start, t, k.end - k.begin, merged_.data(),
               values_out_, (partial || missing) ? runtime::kPartial : 0, counters_, *out_);
  ++k.fire;
  k.fired_until = t;
}

void SlidingWindow::add_position(std::uint32_t index, std::uint64_t pos) noexcept {
  const double* vals = values_at(index, pos);
  for (std::size_t f = 0; f < fields_; ++f) {
    const double x = vals[f];
    if (std::isnan(x)) continue;
    FieldState& fs = field_state(index, f);
    const std::uint8_t needs = plan_.needs[f];
    if (fs.n == 0) fs.first = pos;
    fs.last = pos;
    ++fs.n;
    if (needs & kNeedSum) compensated_add(fs.sum, fs.sum_c, x);
    if (needs & kNeedSumSq) compensated_add(fs.sumsq, fs.sumsq_c, x * x);
    if (needs & kNeedM2) {
      const double nn = static_cast<double>(fs.n);
      const double delta = x - fs.mean;
      const double delta_n = delta / nn;
      const double term1 = delta * delta_n * (nn - 1);
      if (needs & kNeedM3) {
        const double delta_n2 = delta_n * delta_n;
        if (needs & kNeedM4)
          fs.m4 += term1 * delta_n2 * (nn * nn - 3 * nn + 3) + 6 * delta_n2 * fs.m2 - 4 * delta_n * fs.m3;
        fs.m3 += term1 * delta_n * (nn - 2) - 3 * delta_n * fs.m2;
      }
      fs.m2_err += 4 * kEps * (std::fabs(term1) + std::fabs(fs.m2)) + 2 * std::fabs(delta) * fs.mean_err;
      fs.m2 += term1;
      fs.mean += delta_n;
      fs.mean_err = fs.mean_err * (nn - 1) / nn + kEps * (std::fabs(fs.mean) + std::fabs(delta_n));
    }
    if (needs & kNeedMinMax) {
      fs.back_min = std::min(fs.back_min, x);
      fs.back_max = std::max(fs.back_max, x);
    }
  }
}

// The front of the min/max stacks is empty: it becomes [from, end), each slot given the min and
// max of the values from it to the end, and the back starts empty.
void SlidingWindow::flip(std::uint32_t index, std::uint64_t from) noexcept {
  KeyState& k = state_[index];
  std::fill(flip_min_.begin(), flip_min_.end(), std::numeric_limits<double>::infinity());
  std::fill(flip_max_.begin(), flip_max_.end(), -std::numeric_limits<double>::infinity());
  for (std::uint64_t pos = k.end; pos-- > from;) {
    double* v = values_at(index, pos);
    for (std::size_t f = 0; f < fields_; ++f) {
      const double x = v[f];
      if (!std::isnan(x)) {
        flip_min_[f] = std::min(flip_min_[f], x);
        flip_max_[f] = std::max(flip_max_[f], x);
      }
      v[fields_ + 2 * f] = flip_min_[f];
      v[fields_ + 2 * f + 1] = flip_max_[f];
    }
  }
  k.mid = k.end;
  for (std::size_t f = 0; f < fields_; ++f) {
    FieldState& fs = field_state(index, f);
    fs.back_min = std::numeric_limits<double>::infinity();
    fs.back_max = -std::numeric_limits<double>::infinity();
  }
}

void SlidingWindow::remove_position(std::uint32_t index, std::uint64_t pos) noexcept {
  if (minmax_ && state_[index].mid <= pos) flip(index, pos);
  const double* vals = values_at(index, pos);
  const std::uint64_t end = state_[index].end;
  for (std::size_t f = 0; f < fields_; ++f) {
    const double x = vals[f];
    if (std::isnan(x)) continue;
    FieldState& fs = field_state(index, f);
    const std::uint8_t needs = plan_.needs[f];
    if (--fs.n == 0) {
      // Empty: start again from exact zeros, so no rounding error outlives the samples (the
      // window holds no value of this field, so its min/max stacks are empty too).
      fs = FieldState{};
      continue;
    }
    // The removed value was the earliest present one; the next present one is before `end`.
    fs.first = pos + 1;
    while (fs.first < end && std::isnan(values_at(index, fs.first)[f])) ++fs.first;
    if (needs & kNeedSum) compensated_add(fs.sum, fs.sum_c, -x);
    if (needs & kNeedSumSq) compensated_add(fs.sumsq, fs.sumsq_c, -(x * x));
    if (needs & kNeedM2) {
      // Welford's update run backwards: recover the moments before x was added.
      const double nb = static_cast<double>(fs.n + 1);
      const double na = static_cast<double>(fs.n);
      const double mean_a = fs.mean - (x - fs.mean) / na;
      const double delta = x - mean_a;
      const double delta_n = delta / nb;
      const double term1 = delta * delta_n * na;
      // An error in the mean enters m2 to first order here, and removal enlarges it by nb / na.
      fs.mean_err = fs.mean_err * nb / na + 2 * kEps * (std::fabs(mean_a) + std::fabs(x - fs.mean) / na);
      fs.m2_err += 4 * kEps * (std::fabs(term1) + std::fabs(fs.m2)) + 2 * std::fabs(delta) * fs.mean_err;
      const double m2_a = fs.m2 - term1;
      if (needs & kNeedM3) {
        const double delta_n2 = delta_n * delta_n;
        const double m3_a = fs.m3 - term1 * delta_n * (nb - 2) + 3 * delta_n * m2_a;
        if (needs & kNeedM4)
          fs.m4 = fs.m4 - term1 * delta_n2 * (nb * nb - 3 * nb + 3) - 6 * delta_n2 * m2_a + 4 * delta_n * m3_a;
        fs.m3 = m3_a;
      }
      fs.m2 = m2_a;
      fs.mean = mean_a;
      if (fs.n == 1) {
        fs.m2 = fs.m3 = fs.m4 = 0;
        fs.m2_err = 0;
        fs.mean_err = 0;
        fs.mean = values_at(index, fs.first)[f];
      }
    }
  }
}

void SlidingWindow::rebuild_moments(std::uint32_t index, std::size_t f) noexcept {
  FieldState& fs = field_state(index, f);
  const KeyState& k = state_[index];
  const std::uint8_t needs = plan_.needs[f] & (kNeedSum | kNeedM2 | kNeedM3 | kNeedM4);
  Moments m;
  double sum = 0, sum_c = 0;
  for (std::uint64_t pos = k.begin; pos < k.end; ++pos) {
    const double x = values_at(index, pos)[f];
    if (std::isnan(x)) continue;
    m.add(x, 0, needs);
    compensated_add(sum, sum_c, x);
  }
  fs.mean = m.mean;
  fs.m2 = m.m2;
  fs.m3 = m.m3;
  fs.m4 = m.m4;
  fs.m2_err = 0;
  fs.mean_err = kEps * std::fabs(m.mean);
  if (needs & kNeedSum) {
    fs.sum = sum;
    fs.sum_c = sum_c;
  }
}

void SlidingWindow::fire_many(Nanos wm, bool idle_only, bool partial) noexcept {
  // Results of several keys become final together: send them by (end, key first seen).
  std::size_t n = 0;
  for (std::uint32_t i = 0; i < capacity_; ++i) {
    KeyState& k = state_[i];
    if (!k.live) continue;
    if (idle_only) {
      if (now_ - k.last_active < wms_.idle_timeout) continue;
      // Idle: every result of the key fires complete, and a later record at or before the
      // newest time seen is late.
      k.wm = std::max(k.wm, k.max_ts + p_.lateness + 1);
    } else if (!partial) {
      k.wm = std::max(k.wm, wm);
    }
    if (k.fire < k.tail) candidates_[n++] = i;
  }
  auto limit = [&](const KeyState& k) { return partial ? runtime::kMaxTime : k.wm; };
  while (n > 0) {
    std::size_t best = SIZE_MAX;
    Nanos best_t = 0;
    for (std::size_t c = 0; c < n;) {
      const std::uint32_t i = candidates_[c];
      const KeyState& k = state_[i];
      if (k.fire == k.tail || time_at(i, k.fire) + p_.lateness >= limit(k)) {
        candidates_[c] = candidates_[--n];
        continue;
      }
      const Nanos t = time_at(i, k.fire);
      if (best == SIZE_MAX || t < best_t || (t == best_t && k.rank < state_[candidates_[best]].rank)) {
        best = c;
        best_t = t;
      }
      ++c;
    }
    if (best == SIZE_MAX) break;
    fire_one(candidates_[best], partial);
  }
}

void SlidingWindow::flush(runtime::FlushMode, runtime::SummarySink& out) noexcept {
  out_ = &out;
  finish_record();
  fire_many(runtime::kMaxTime, false, true);
  for (std::uint32_t i = 0; i < capacity_; ++i) reset_key(i);
}

void SlidingWindow::evict(KeyId key, runtime::SummarySink& out) noexcept {
  if (!slots_.owns(key.index)) return;
  const std::uint32_t index = slots_.local(key.index);
  KeyState& k = state_[index];
  if (!k.live || k.generation != key.generation) return;
  out_ = &out;
  finish_record();
  fire_due(index, runtime::kMaxTime, false);
  counters_.evicted_keys.add();
  reset_key(index);
}

std::size_t SlidingWindow::samples(KeyId key, runtime::FieldId field, std::span<Nanos> times,
                                   std::span<double> values) const noexcept {
  if (!slots_.owns(key.index) || field >= plan_.local_of.size() || plan_.local_of[field] < 0) return 0;
  const std::uint32_t index = slots_.local(key.index);
  const KeyState& k = state_[index];
  if (!k.live || k.generation != key.generation) return 0;
  const auto f = static_cast<std::size_t>(plan_.local_of[field]);
  const std::size_t room = std::min(times.size(), values.size());
  // Newest first from the tail, so the newest are kept when the room is short; then reversed.
  std::size_t n = 0;
  for (std::uint64_t pos = k.tail; pos > k.begin && n < room;) {
    --pos;
    const std::size_t at = index * ring_ + slot(pos);
    const double x = values_[at * vstride_ + f];
    if (std::isnan(x)) continue;
    times[n] = times_[at];
    values[n] = x;
    ++n;
  }
  std::reverse(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(n));
  std::reverse(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(n));
  return n;
}

void SlidingWindow::snapshot(std::vector<std::byte>& out) const {
  put_bytes(out, kSnapshotMagic);
  put_bytes(out, p_.size);
  put_bytes(out, static_cast<std::uint64_t>(p_.max_samples));
  put_bytes(out, static_cast<std::uint64_t>(fields_));
  put_bytes(out, static_cast<std::uint64_t>(wms_.max_seen.size()));
  for (Nanos m : wms_.max_seen) put_bytes(out, m);
  put_bytes(out, source_wm_);
  std::uint64_t live = 0;
  for (const auto& k : state_) live += k.live ? 1 : 0;
  put_bytes(out, live);
  for (std::uint32_t i = 0; i < capacity_; ++i) {
    const KeyState& k = state_[i];
    if (!k.live) continue;
    put_key(out, *keys_, KeyId{slots_.global(i), k.generation});
    put_bytes(out, k.max_ts);
    put_bytes(out, k.wm);
    put_bytes(out, k.fired_until);
    put_bytes(out, k.dropped_until);
    put_bytes(out, k.tail - k.begin);
    put_bytes(out, k.end - k.begin);
    put_bytes(out, k.fire - k.begin);
    // The raw samples; the aggregates are rebuilt from them on restore.
    for (std::uint64_t pos = k.begin; pos < k.tail; ++pos) {
      const std::size_t at = i * ring_ + slot(pos);
      put_bytes(out, times_[at]);
      for (std::size_t f = 0; f < fields_; ++f) put_bytes(out, values_[at * vstride_ + f]);
    }
  }
}

runtime::Result<void> SlidingWindow::restore(std::span<const std::byte> in) {
  auto bad = [] { return runtime::Error{"sliding window state does not match this window's configuration"}; };
  std::uint32_t magic = 0;
  Nanos size = 0;
  std::uint64_t max_samples = 0, fields = 0, sources = 0, live = 0;
  if (!get_bytes(in, magic) || magic != kSnapshotMagic || !get_bytes(in, size) || !get_bytes(in, max_samples) ||
      !get_bytes(in, fields) || size != p_.size || max_samples != p_.max_samples || fields != fields_)
    return bad();
  if (!get_bytes(in, sources) || sources != wms_.max_seen.size()) return bad();
  for (Nanos& m : wms_.max_seen)
    if (!get_bytes(in, m)) return bad();
  if (!get_bytes(in, source_wm_) || !get_bytes(in, live)) return bad();
  for (std::uint64_t n = 0; n < live; ++n) {
    auto id = get_key(in, *keys_, slots_);
    if (!id) return std::move(id).error();
    const std::uint32_t index = slots_.local(id->index);
    reset_key(index);
    KeyState& k = state_[index];
    k.live = true;
    k.generation = id->generation;
    k.rank = keys_->first_seen(*id);
    std::uint64_t stored = 0, aggregated = 0, fired = 0;
    if (!get_bytes(in, k.max_ts) || !get_bytes(in, k.wm) || !get_bytes(in, k.fired_until) ||
        !get_bytes(in, k.dropped_until) || !get_bytes(in, stored) || !get_bytes(in, aggregated) ||
        !get_bytes(in, fired) || stored > p_.max_samples || aggregated > stored || fired > aggregated)
      return bad();
    for (std::uint64_t pos = 0; pos < stored; ++pos) {
      if (!get_bytes(in, time_at(index, pos))) return bad();
      for (std::size_t f = 0; f < fields_; ++f)
        if (!get_bytes(in, values_at(index, pos)[f])) return bad();
    }
    k.tail = stored;
    k.fire = fired;
    while (k.end < aggregated) add_position(index, k.end++);
  }
  return runtime::ok();
}

}  // namespace vigil::operators
