// Tumbling and hopping windows over event time, by stream slicing: each key keeps a ring of
// slices of width gcd(size, hop); a window is the merge of its size/width slices, so the cost
// per record does not grow with size/hop. State for every key is allocated at construction.
#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include "sliced_window.hpp"

namespace vigil::operators {
namespace {

constexpr std::int64_t kNoSlice = std::numeric_limits<std::int64_t>::min();
constexpr std::uint32_t kSnapshotMagic = 0x56534C31;  // "VSL1"

}  // namespace

SlicedWindow::SlicedWindow(const runtime::PipelineSetup& setup, AggregatePlan plan, const SlicedWindowParams& p)
    : plan_(std::move(plan)), p_(p), wms_(setup), keys_(setup.keys), late_emit_(p.late_emit),
      slots_(setup), capacity_(slots_.capacity) {
  width_ = std::gcd(p_.size, p_.hop);
  slices_per_window_ = p_.size / width_;
  slices_per_hop_ = p_.hop / width_;
  end_phase_ = slices_per_window_ % slices_per_hop_;
  // Live slices run from the first slice of the oldest unfired window to the newest record.
  // The watermark trails the newest record by max_out_of_order, and windows stay open
  // allowed_lateness past their end, so that span is at most one window plus
  // ceil((max_out_of_order + allowed_lateness) / width) slices (a watermark advance fires and
  // frees slices before the new record's slice is taken).
  ring_ = static_cast<std::size_t>(slices_per_window_ + (wms_.max_ooo + p_.lateness + width_ - 1) / width_);
  fields_ = plan_.field_count();
  state_.resize(capacity_);
  stop_end_.resize(capacity_);
  slice_no_.assign(capacity_ * ring_, kNoSlice);
  records_.reset(capacity_ * ring_);
  moments_.reset(capacity_ * ring_ * fields_);
  merged_.resize(fields_);
  late_moments_.resize(fields_);
  late_slot_ = capacity_ * ring_;
  sketches_.init(plan_, late_slot_ + 1);
  values_.resize(plan_.schema.columns.size());
  rank_order_.reserve(capacity_);
}

std::size_t SlicedWindow::state_bytes() const noexcept {
  return state_.size() * sizeof(KeyState) + slice_no_.size() * sizeof(std::int64_t) +
         records_.size() * sizeof(std::uint64_t) + moments_.size() * sizeof(Moments) + sketches_.bytes();
}

// Windows start at multiples of the hop, so (in slices) their ends are the numbers
// congruent to size modulo hop.
std::int64_t SlicedWindow::round_up_end(std::int64_t x) const noexcept {
  std::int64_t r = (end_phase_ - x) % slices_per_hop_;
  if (r < 0) r += slices_per_hop_;
  return x + r;
}

std::int64_t SlicedWindow::round_down_end(std::int64_t x) const noexcept {
  std::int64_t r = (x - end_phase_) % slices_per_hop_;
  if (r < 0) r += slices_per_hop_;
  return x - r;
}

std::int64_t SlicedWindow::first_open_end(Nanos wm) const noexcept {
  // Smallest window end index e with end_time(e) + lateness > wm.
  std::int64_t e = floor_div(wm - p_.lateness - p_.offset, width_) + 1;
  return round_up_end(e);
}

void SlicedWindow::reset_key(std::uint32_t index, KeyId key, Nanos t, Nanos wm) noexcept {
  KeyState& k = state_[index];
  k = KeyState{};
  k.generation = key.generation;
  k.live = true;
  k.max_ts = t;
  k.wm = wm;
  k.next_end = first_open_end(wm);
  k.last_active = now_;
  k.rank = keys_->first_seen(key);
  std::int64_t* nos = &slice_no_[index * ring_];
  std::fill(nos, nos + ring_, kNoSlice);
}

std::size_t SlicedWindow::slot_of(std::uint32_t index, std::int64_t slice) const noexcept {
  auto r = static_cast<std::int64_t>(ring_);
  std::int64_t m = slice % r;
  if (m < 0) m += r;
  return index * ring_ + static_cast<std::size_t>(m);
}

void SlicedWindow::process(std::span<const Event> events, runtime::SummarySink& out) noexcept {
  out_ = &out;
  for (const Event& ev : events) {
    switch (ev.kind) {
      case EventKind::sample: on_sample(ev); break;
      case EventKind::watermark: on_watermark(ev); break;
      case EventKind::tick:
        finish_late();
        on_tick(ev.time);
        break;
      case EventKind::end_of_stream: break;  // the engine flushes when every source ended
    }
  }
  // process() receives whole records (queues never split one), so a pending late record is
  // complete here.
  finish_late();
}

void SlicedWindow::on_sample(const Event& ev) noexcept {
  const bool begin = ev.flags & runtime::kRecordBegin;
  const std::uint32_t index = slots_.local(ev.key.index);
  if (begin) finish_late();
  if (!admit_key(ev, slots_, *keys_, counters_)) {
    if (begin) cur_key_ = UINT32_MAX;
    return;
  }
  KeyState& k = state_[index];
  if (begin) {
    counters_.records.add();
    const Nanos t = ev.time;
    const Nanos own_wm = t - wms_.ooo[ev.source];
    if (!k.live || k.generation != ev.key.generation) {
      Nanos wm = own_wm;
      if (wms_.per_source) wm = wms_.watermark();
      reset_key(index, ev.key, t, wm);
    }
    k.last_active = now_;
    if (wms_.per_source) {
      if (t > wms_.max_seen[ev.source]) {
        wms_.max_seen[ev.source] = t;
        advance_source_watermark();
      }
    } else if (t > k.max_ts) {
      k.max_ts = t;
      if (own_wm > k.wm) {
        k.wm = own_wm;
        fire_key(index, k.wm, false);
      }
    }
    cur_slice_ = floor_div(t - p_.offset, width_);
    cur_key_ = index;
    // The earliest window holding this slice already fired: the record is late (for that window).
    const std::int64_t earliest_end = round_up_end(cur_slice_ + 1);
    cur_late_ = earliest_end < k.next_end;
    cur_insert_ = cur_slice_ >= k.next_end - slices_per_window_;
    if (cur_late_) {
      counters_.late.add();
      if (late_emit_) {
        late_pending_ = true;
        late_key_ = ev.key;
        late_records_ = 1;
        // The latest fired window that holds the record: ends are multiples of the hop in
        // [slice + 1, slice + size], fired ones are below next_end.
        late_end_ = round_down_end(std::min(cur_slice_ + slices_per_window_, k.next_end - slices_per_hop_));
        for (auto& m : late_moments_) m.reset();
        if (sketches_.active()) sketches_.reset(late_slot_);
      }
    }
    if (cur_insert_) {
      const std::size_t slot = slot_of(index, cur_slice_);
      if (slice_no_[slot] != cur_slice_) {
        // Only when a per-source watermark lags far behind this key (another source is slow):
        // the oldest windows go out early, marked partial, to make room.
        if (slice_no_[slot] != kNoSlice && !make_room(index, cur_slice_)) {
          cur_insert_ = false;
          counters_.late.add();
        } else {
          slice_no_[slot] = cur_slice_;
          records_[slot] = 0;
          Moments* m = moments_.data() + (slot * fields_);
          for (std::size_t f = 0; f < fields_; ++f) m[f].reset();
          if (sketches_.active()) sketches_.reset(slot);
          ++k.live_slices;
        }
      }
      if (cur_insert_) ++records_[slot];
    }
  } else if (index != cur_key_) {
    return;  // a value whose record's first value was refused
  }
  if (ev.field >= plan_.local_of.size()) return;
  const std::int16_t local = plan_.local_of[ev.field];
  if (local < 0) return;
  const auto f = static_cast<std::size_t>(local);
  const bool sketch = plan_.needs[f] & kNeedSketch;
  if (cur_insert_) {
    const std::size_t slot = slot_of(index, cur_slice_);
    moments_[slot * fields_ + f].add(ev.value, ev.time, plan_.needs[f]);
    if (sketch) sketches_.add(slot, f, ev.value);
  }
  if (late_pending_) {
    late_moments_[f].add(ev.value, ev.time, plan_.needs[f]);
    if (sketch) sketches_.add(late_slot_, f, ev.value);
  }
}

void SlicedWindow::finish_late() noexcept {
  if (!late_pending_) return;
  late_pending_ = false;
  sketches_.begin();
  sketches_.include(late_slot_);
  emit_summary(plan_, *keys_, late_key_, keys_->first_seen(late_key_),
               (late_end_ - slices_per_window_) * width_ + p_.offset, late_end_ * width_ + p_.offset,
               late_records_, late_moments_.data(), values_, runtime::kLate, counters_, *out_, &sketches_);
}


void SlicedWindow::advance_source_watermark() noexcept {
  const Nanos wm = wms_.watermark();
  if (wm <= source_wm_) return;
  source_wm_ = wm;
  if (wm < next_source_fire_) return;
  fire_all(wm, false);
}

void SlicedWindow::fire_all(Nanos wm, bool idle_only) noexcept {
  rank_order_.clear();
  for (std::uint32_t i = 0; i < capacity_; ++i) {
    KeyState& k = state_[i];
    if (!k.live) continue;
    if (idle_only) {
      if (k.live_slices == 0 || now_ - k.last_active < wms_.idle_timeout) continue;
      stop_end_[i] = std::numeric_limits<std::int64_t>::max();
    } else {
      if (wm > k.wm) k.wm = wm;
      stop_end_[i] = first_open_end(k.wm);
    }
    rank_order_.push_back(i);
  }
  fire_ordered(false);
  if (idle_only) return;  // next_source_fire_ stays a lower bound: at worst one extra scan
  // The next per-source watermark worth a scan: the earliest pending window end of any key
  // (none yet: the next advance scans).
  next_source_fire_ = rank_order_.empty() ? runtime::kMinTime : runtime::kMaxTime;
  for (std::uint32_t i : rank_order_) {
    KeyState& k = state_[i];
    k.next_end = std::max(k.next_end, stop_end_[i]);
    next_source_fire_ = std::min(next_source_fire_, k.next_end * width_ + p_.offset + p_.lateness);
  }
}

// Fires, for the keys in rank_order_, every window with data that ends before the key's
// stop_end_, window end by window end and within one end by key first seen: the documented
// output order, with no buffer however many windows close at once.
void SlicedWindow::fire_ordered(bool partial) noexcept {
  std::sort(rank_order_.begin(), rank_order_.end(),
            [this](std::uint32_t a, std::uint32_t b) { return state_[a].rank < state_[b].rank; });
  constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::max();
  while (true) {
    std::int64_t min_end = kNone;
    for (std::uint32_t i : rank_order_) {
      KeyState& k = state_[i];
      if (k.live_slices == 0) continue;
      const std::int64_t first_with_data = round_up_end(lowest_slice(i) + 1);
      if (first_with_data > k.next_end) k.next_end = std::min(first_with_data, stop_end_[i]);
      if (k.next_end < stop_end_[i]) min_end = std::min(min_end, k.next_end);
    }
    if (min_end == kNone) return;
    for (std::uint32_t i : rank_order_) {
      KeyState& k = state_[i];
      if (k.live_slices == 0 || k.next_end != min_end || k.next_end >= stop_end_[i]) continue;
      emit_window(i, k.next_end, partial);
      k.next_end += slices_per_hop_;
      expire_before(i, k.next_end - slices_per_window_);
    }
  }
}

void SlicedWindow::on_watermark(const Event& ev) noexcept {
  finish_late();
  if (ev.flags & runtime::kAllKeys) {
    fire_all(ev.time, false);
    return;
  }
  if (!slots_.owns(ev.key.index)) return;
  const std::uint32_t index = slots_.local(ev.key.index);
  KeyState& k = state_[index];
  if (!k.live || k.generation != ev.key.generation || ev.time <= k.wm) return;
  k.wm = ev.time;
  fire_key(index, k.wm, false);
}

void SlicedWindow::on_tick(Nanos now) noexcept {
  if (now_ == runtime::kMinTime) {
    // First tick: keys seen before it count as active now.
    for (auto& k : state_)
      if (k.live) k.last_active = now;
  }
  now_ = std::max(now_, now);
  if (wms_.idle_timeout <= 0 || now_ < next_idle_check_) return;
  next_idle_check_ = now_ + std::max<Nanos>(wms_.idle_timeout / 8, 1);
  fire_all(0, true);
}

void SlicedWindow::emit_window(std::uint32_t index, std::int64_t end, bool partial) noexcept {
  KeyState& k = state_[index];
  for (auto& m : merged_) m.reset();
  std::uint64_t records = 0;
  sketches_.begin();
  for (std::int64_t s = end - slices_per_window_; s < end; ++s) {
    const std::size_t slot = slot_of(index, s);
    if (slice_no_[slot] != s) continue;
    records += records_[slot];
    const Moments* m = moments_.data() + (slot * fields_);
    for (std::size_t f = 0; f < fields_; ++f) merged_[f].merge(m[f], plan_.needs[f]);
    if (sketches_.active() && records_[slot] > 0) sketches_.include(slot);
  }
  if (records == 0) return;
  emit_summary(plan_, *keys_, KeyId{slots_.global(index), k.generation}, k.rank, (end - slices_per_window_) * width_ + p_.offset,
               end * width_ + p_.offset, records, merged_.data(), values_, partial ? runtime::kPartial : 0,
               counters_, *out_, &sketches_);
}

void SlicedWindow::expire_before(std::uint32_t index, std::int64_t first_kept) noexcept {
  KeyState& k = state_[index];
  for (std::size_t i = 0; i < ring_ && k.live_slices > 0; ++i) {
    const std::size_t slot = index * ring_ + i;
    if (slice_no_[slot] != kNoSlice && slice_no_[slot] < first_kept) {
      slice_no_[slot] = kNoSlice;
      --k.live_slices;
    }
  }
}

std::int64_t SlicedWindow::lowest_slice(std::uint32_t index) const noexcept {
  std::int64_t low = std::numeric_limits<std::int64_t>::max();
  for (std::size_t i = 0; i < ring_; ++i) {
    const std::int64_t s = slice_no_[index * ring_ + i];
    if (s != kNoSlice) low = std::min(low, s);
  }
  return low;
}

std::int64_t SlicedWindow::highest_slice(std::uint32_t index) const noexcept {
  std::int64_t high = kNoSlice;
  for (std::size_t i = 0; i < ring_; ++i) high = std::max(high, slice_no_[index * ring_ + i]);
  return high;
}

bool SlicedWindow::make_room(std::uint32_t index, std::int64_t slice) noexcept {
  KeyState& k = state_[index];
  const std::size_t slot = slot_of(index, slice);
  if (slice_no_[slot] > slice) return false;  // the slot holds newer data: this record is too old
  while (slice_no_[slot] != kNoSlice) {
    emit_window(index, k.next_end, true);
    k.next_end += slices_per_hop_;
    expire_before(index, k.next_end - slices_per_window_);
    counters_.truncated.add();
  }
  return true;
}

void SlicedWindow::fire_key(std::uint32_t index, Nanos wm, bool partial) noexcept {
  KeyState& k = state_[index];
  const bool everything = wm == runtime::kMaxTime;
  const std::int64_t stop_end = everything ? runtime::kMaxTime : first_open_end(wm);
  while (k.next_end < stop_end) {
    if (k.live_slices == 0) {
      if (!everything) k.next_end = stop_end;
      break;
    }
    // Skip windows that hold no slice: jump to the first window holding the lowest slice.
    const std::int64_t low = lowest_slice(index);
    const std::int64_t first_with_data = round_up_end(low + 1);
    if (first_with_data > k.next_end) {
      k.next_end = std::min(first_with_data, stop_end);
      continue;
    }
    emit_window(index, k.next_end, partial);
    k.next_end += slices_per_hop_;
    expire_before(index, k.next_end - slices_per_window_);
  }
}

void SlicedWindow::flush(runtime::FlushMode, runtime::SummarySink& out) noexcept {
  // Emit every open window of every key, in (end, key first seen) order.
  out_ = &out;
  finish_late();
  rank_order_.clear();
  for (std::uint32_t i = 0; i < capacity_; ++i) {
    if (!state_[i].live || state_[i].live_slices == 0) continue;
    stop_end_[i] = std::numeric_limits<std::int64_t>::max();
    rank_order_.push_back(i);
  }
  fire_ordered(true);
  for (auto& k : state_) k = KeyState{};
  std::fill(slice_no_.begin(), slice_no_.end(), kNoSlice);
}

void SlicedWindow::evict(KeyId key, runtime::SummarySink& out) noexcept {
  if (!slots_.owns(key.index)) return;
  const std::uint32_t index = slots_.local(key.index);
  KeyState& k = state_[index];
  if (!k.live || k.generation != key.generation) return;
  out_ = &out;
  finish_late();
  rank_order_.clear();
  rank_order_.push_back(index);
  stop_end_[index] = std::numeric_limits<std::int64_t>::max();
  fire_ordered(false);
  counters_.evicted_keys.add();
  k = KeyState{};
  std::int64_t* nos = &slice_no_[index * ring_];
  std::fill(nos, nos + ring_, kNoSlice);
}

void SlicedWindow::snapshot(std::vector<std::byte>& out) const {
  put_bytes(out, kSnapshotMagic);
  put_bytes(out, p_.size);
  put_bytes(out, p_.hop);
  put_bytes(out, p_.offset);
  put_bytes(out, static_cast<std::uint64_t>(fields_));
  put_bytes(out, static_cast<std::uint64_t>(sketches_.bytes_per_slot()));
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
    put_bytes(out, k.next_end);
    put_bytes(out, static_cast<std::uint32_t>(k.live_slices));
    for (std::size_t r = 0; r < ring_; ++r) {
      const std::size_t slot = i * ring_ + r;
      if (slice_no_[slot] == kNoSlice) continue;
      put_bytes(out, slice_no_[slot]);
      put_bytes(out, records_[slot]);
      for (std::size_t f = 0; f < fields_; ++f) put_bytes(out, moments_[slot * fields_ + f]);
      sketches_.save(slot, out);
    }
  }
}

runtime::Result<void> SlicedWindow::restore(std::span<const std::byte> in) {
  auto bad = [] { return runtime::Error{"window state does not match this window's configuration"}; };
  std::uint32_t magic = 0;
  Nanos size = 0, hop = 0, offset = 0;
  std::uint64_t fields = 0, live = 0;
  if (!get_bytes(in, magic) || magic != kSnapshotMagic || !get_bytes(in, size) || !get_bytes(in, hop) || !get_bytes(in, offset) ||
      !get_bytes(in, fields))
    return bad();
  if (size != p_.size || hop != p_.hop || offset != p_.offset || fields != fields_) return bad();
  std::uint64_t sketch_bytes = 0;
  if (!get_bytes(in, sketch_bytes) || sketch_bytes != sketches_.bytes_per_slot()) return bad();
  std::uint64_t sources = 0;
  if (!get_bytes(in, sources) || sources != wms_.max_seen.size()) return bad();
  for (Nanos& m : wms_.max_seen)
    if (!get_bytes(in, m)) return bad();
  if (!get_bytes(in, source_wm_) || !get_bytes(in, live)) return bad();
  next_source_fire_ = runtime::kMinTime;
  for (std::uint64_t n = 0; n < live; ++n) {
    auto id = get_key(in, *keys_, slots_);
    if (!id) return std::move(id).error();
    const std::uint32_t at = slots_.local(id->index);
    KeyState k;
    std::uint32_t slices = 0;
    if (!get_bytes(in, k.max_ts) || !get_bytes(in, k.wm) || !get_bytes(in, k.next_end) || !get_bytes(in, slices)) return bad();
    reset_key(at, *id, k.max_ts, k.wm);
    KeyState& dst = state_[at];
    dst.next_end = k.next_end;
    for (std::uint32_t s = 0; s < slices; ++s) {
      std::int64_t no = 0;
      std::uint64_t recs = 0;
      if (!get_bytes(in, no) || !get_bytes(in, recs)) return bad();
      const std::size_t slot = slot_of(at, no);
      slice_no_[slot] = no;
      records_[slot] = recs;
      for (std::size_t f = 0; f < fields_; ++f)
        if (!get_bytes(in, moments_[slot * fields_ + f])) return bad();
      if (!sketches_.load(slot, in)) return bad();
      ++dst.live_slices;
    }
  }
  return runtime::ok();
}

}  // namespace vigil::operators
