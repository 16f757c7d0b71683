// Count windows in panes of gcd(size, every) records: each key keeps size/pane + 1 panes, and a
// window is the merge of its last min(n, size)/pane panes.
#include "count_window.hpp"

#include <algorithm>
#include <numeric>

namespace vigil::operators {
namespace {
constexpr std::uint32_t kSnapshotMagic = 0x56434E31;  // "VCN1"
}

CountWindow::CountWindow(const runtime::PipelineSetup& setup, AggregatePlan plan, const CountWindowParams& p)
    : plan_(std::move(plan)), p_(p), keys_(setup.keys), slots_(setup) {
  pane_size_ = std::gcd(p_.size, p_.every);
  ring_ = static_cast<std::size_t>(p_.size / pane_size_ + 1);
  fields_ = plan_.field_count();
  capacity_ = slots_.capacity;
  state_.resize(capacity_);
  panes_.resize(capacity_ * ring_);
  pane_records_.resize(capacity_ * ring_);
  moments_.reset(capacity_ * ring_ * fields_);
  merged_.resize(fields_);
  values_.resize(plan_.schema.columns.size());
  sketches_.init(plan_, capacity_ * ring_);
}

std::size_t CountWindow::state_bytes() const noexcept {
  return state_.size() * sizeof(KeyState) + panes_.size() * (sizeof(Pane) + sizeof(std::uint64_t)) +
         moments_.size() * sizeof(Moments) + sketches_.bytes();
}

void CountWindow::process(std::span<const Event> events, runtime::SummarySink& out) noexcept {
  out_ = &out;
  for (const Event& ev : events) {
    if (ev.kind != EventKind::sample) {
      // Arrival order only: watermarks do not matter, but any control event shows the record
      // before it is complete.
      if (cur_key_ != UINT32_MAX) fire(cur_key_);
      cur_key_ = UINT32_MAX;
      continue;
    }
    const std::uint32_t index = slots_.local(ev.key.index);
    if (ev.flags & runtime::kRecordBegin) {
      // The previous record is complete now (queues hand out whole records).
      if (cur_key_ != UINT32_MAX) fire(cur_key_);
      cur_key_ = UINT32_MAX;
      if (!admit_key(ev, slots_, *keys_, counters_)) continue;
      on_record(ev);
    } else if (index != cur_key_) {
      continue;
    }
    if (ev.field >= plan_.local_of.size()) continue;
    const std::int16_t local = plan_.local_of[ev.field];
    if (local < 0) continue;
    const auto f = static_cast<std::size_t>(local);
    moments_[cur_slot_ * fields_ + f].add(ev.value, ev.time, plan_.needs[f]);
    if (plan_.needs[f] & kNeedSketch) sketches_.add(cur_slot_, f, ev.value);
  }
  // process() receives whole records (queues never split one), so the last one is complete.
  if (cur_key_ != UINT32_MAX) fire(cur_key_);
  cur_key_ = UINT32_MAX;
}

void CountWindow::on_record(const Event& ev) noexcept {
  const std::uint32_t index = slots_.local(ev.key.index);
  KeyState& k = state_[index];
  if (!k.live || k.generation != ev.key.generation) {
    k = KeyState{};
    k.live = true;
    k.generation = ev.key.generation;
    k.rank = keys_->first_seen(ev.key);
  }
  counters_.records.add();
  const std::uint64_t pane = k.records / static_cast<std::uint64_t>(pane_size_);
  cur_slot_ = pane_slot(index, pane);
  if (k.records % static_cast<std::uint64_t>(pane_size_) == 0) {
    panes_[cur_slot_] = Pane{ev.time, ev.time};
    pane_records_[cur_slot_] = 0;
    Moments* m = moments_.data() + (cur_slot_ * fields_);
    for (std::size_t f = 0; f < fields_; ++f) m[f].reset();
    if (sketches_.active()) sketches_.reset(cur_slot_);
  }
  Pane& p = panes_[cur_slot_];
  p.first_t = std::min(p.first_t, ev.time);
  p.last_t = std::max(p.last_t, ev.time);
  ++pane_records_[cur_slot_];
  ++k.records;
  cur_key_ = index;
}

void CountWindow::fire(std::uint32_t index) noexcept {
  KeyState& k = state_[index];
  const auto every = static_cast<std::uint64_t>(p_.every);
  if (k.records == 0 || k.records % every != 0 || pane_records_[cur_slot_] == 0) return;
  const std::uint64_t n = std::min<std::uint64_t>(k.records, static_cast<std::uint64_t>(p_.size));
  const std::uint64_t panes = n / static_cast<std::uint64_t>(pane_size_);
  const std::uint64_t last_pane = (k.records - 1) / static_cast<std::uint64_t>(pane_size_);
  for (auto& m : merged_) m.reset();
  Nanos start = runtime::kMaxTime, end = runtime::kMinTime;
  std::uint64_t records = 0;
  sketches_.begin();
  for (std::uint64_t i = 0; i < panes; ++i) {
    const std::size_t slot = pane_slot(index, last_pane + 1 - panes + i);
    records += pane_records_[slot];
    start = std::min(start, panes_[slot].first_t);
    end = std::max(end, panes_[slot].last_t);
    const Moments* m = moments_.data() + (slot * fields_);
    for (std::size_t f = 0; f < fields_; ++f) merged_[f].merge(m[f], plan_.needs[f]);
    if (sketches_.active()) sketches_.include(slot);
  }
  emit_summary(plan_, *keys_, KeyId{slots_.global(index), k.generation}, k.rank, start, end, records, merged_.data(), values_, 0,
               counters_, *out_, &sketches_);
  cur_key_ = UINT32_MAX;  // this record has fired; it cannot fire again
}

void CountWindow::flush(runtime::FlushMode, runtime::SummarySink& out) noexcept {
  out_ = &out;
  if (cur_key_ != UINT32_MAX) fire(cur_key_);
  cur_key_ = UINT32_MAX;
  // Records since the last firing make an incomplete window: counted, not emitted.
  for (auto& k : state_) {
    if (k.live && k.records % static_cast<std::uint64_t>(p_.every) != 0) counters_.incomplete.add();
    k = KeyState{};
  }
}

void CountWindow::evict(KeyId key, runtime::SummarySink& out) noexcept {
  if (!slots_.owns(key.index)) return;
  const std::uint32_t index = slots_.local(key.index);
  out_ = &out;
  if (cur_key_ == index) fire(cur_key_);
  cur_key_ = UINT32_MAX;
  KeyState& k = state_[index];
  if (!k.live || k.generation != key.generation) return;
  if (k.records % static_cast<std::uint64_t>(p_.every) != 0) counters_.incomplete.add();
  counters_.evicted_keys.add();
  k = KeyState{};
}

void CountWindow::snapshot(std::vector<std::byte>& out) const {
  put_bytes(out, kSnapshotMagic);
  put_bytes(out, p_.size);
  put_bytes(out, p_.every);
  put_bytes(out, static_cast<std::uint64_t>(fields_));
  put_bytes(out, static_cast<std::uint64_t>(sketches_.bytes_per_slot()));
  std::uint64_t live = 0;
  for (const auto& k : state_) live += k.live ? 1 : 0;
  put_bytes(out, live);
  for (std::uint32_t i = 0; i < capacity_; ++i) {
    const KeyState& k = state_[i];
    if (!k.live) continue;
    put_key(out, *keys_, KeyId{slots_.global(i), k.generation});
    put_bytes(out, k.records);
    for (std::size_t r = 0; r < ring_; ++r) {
      put_bytes(out, panes_[i * ring_ + r]);
      put_bytes(out, pane_records_[i * ring_ + r]);
      for (std::size_t f = 0; f < fields_; ++f) put_bytes(out, moments_[(i * ring_ + r) * fields_ + f]);
      sketches_.save(i * ring_ + r, out);
    }
  }
}

runtime::Result<void> CountWindow::restore(std::span<const std::byte> in) {
  auto bad = [] { return runtime::Error{"count window state does not match this window's configuration"}; };
  std::uint32_t magic = 0;
  std::int64_t size = 0, every = 0;
  std::uint64_t fields = 0, live = 0, sketch_bytes = 0;
  if (!get_bytes(in, magic) || magic != kSnapshotMagic || !get_bytes(in, size) || !get_bytes(in, every) ||
      !get_bytes(in, fields) || !get_bytes(in, sketch_bytes) || !get_bytes(in, live) || size != p_.size ||
      every != p_.every || fields != fields_ || sketch_bytes != sketches_.bytes_per_slot())
    return bad();
  for (std::uint64_t n = 0; n < live; ++n) {
    auto id = get_key(in, *keys_, slots_);
    if (!id) return std::move(id).error();
    const std::uint32_t at = slots_.local(id->index);
    KeyState& k = state_[at];
    k = KeyState{};
    k.live = true;
    k.generation = id->generation;
    k.rank = keys_->first_seen(*id);
    if (!get_bytes(in, k.records)) return bad();
    for (std::size_t r = 0; r < ring_; ++r) {
      const std::size_t slot = at * ring_ + r;
      if (!get_bytes(in, panes_[slot]) || !get_bytes(in, pane_records_[slot])) return bad();
      for (std::size_t f = 0; f < fields_; ++f)
        if (!get_bytes(in, moments_[slot * fields_ + f])) return bad();
      if (!sketches_.load(slot, in)) return bad();
    }
  }
  return runtime::ok();
}

}  // namespace vigil::operators
