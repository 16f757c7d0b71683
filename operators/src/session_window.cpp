// Session windows. Each key holds up to `max_open` open sessions (more than one only while
// out-of-order records are still possible); a record joins the session it falls within `gap`
// of, bridging two sessions merges them (aggregates are mergeable), and a session fires once
// when the key's watermark passes its end + allowed_lateness.
#include "session_window.hpp"

#include <algorithm>

namespace vigil::operators {
namespace {
constexpr std::uint32_t kSnapshotMagic = 0x56534531;  // "VSE1"
}

SessionWindow::SessionWindow(const runtime::PipelineSetup& setup, AggregatePlan plan, const SessionWindowParams& p)
    : plan_(std::move(plan)), p_(p), wms_(setup), keys_(setup.keys), slots_(setup),
      buffer_(setup.limits.max_keys * p.max_open + 64, plan_.schema.columns.size(), nullptr) {
  fields_ = plan_.field_count();
  capacity_ = slots_.capacity;
  state_.resize(capacity_);
  sessions_.resize(capacity_ * p_.max_open);
  moments_.reset(capacity_ * p_.max_open * fields_);
  values_.resize(plan_.schema.columns.size());
  late_moments_.resize(fields_);
  late_slot_ = capacity_ * p_.max_open;
  sketches_.init(plan_, late_slot_ + 1);
}

std::size_t SessionWindow::state_bytes() const noexcept {
  return state_.size() * sizeof(KeyState) + sessions_.size() * sizeof(Session) + moments_.size() * sizeof(Moments) +
         sketches_.bytes();
}

Nanos SessionWindow::end_of(const Session& s) const noexcept {
  Nanos end = s.last + p_.gap;
  if (p_.max_duration > 0) end = std::min(end, s.start + p_.max_duration);
  return end;
}

void SessionWindow::process(std::span<const Event> events, runtime::SummarySink& out) noexcept {
  out_ = &out;
  for (const Event& ev : events) {
    switch (ev.kind) {
      case EventKind::sample: on_sample(ev); break;
      case EventKind::watermark:
        finish_record();
        if (ev.flags & runtime::kAllKeys) {
          fire_many(false, ev.time, false);
        } else if (slots_.owns(ev.key.index) && state_[slots_.local(ev.key.index)].live &&
                   state_[slots_.local(ev.key.index)].generation == ev.key.generation) {
          KeyState& k = state_[slots_.local(ev.key.index)];
          k.wm = std::max(k.wm, ev.time);
          fire_key(slots_.local(ev.key.index), k.wm, false);
        }
        break;
      case EventKind::tick:
        finish_record();
        on_tick(ev.time);
        break;
      case EventKind::end_of_stream: break;
    }
  }
  // process() receives whole records (queues never split one), so a pending late record is
  // complete here.
  finish_record();
}

void SessionWindow::merge_sessions(std::uint32_t index, std::size_t into, std::size_t from) noexcept {
  Session& a = session(index, into);
  Session& b = session(index, from);
  // Merge in time order so first/last ties keep arrival semantics within each side.
  Moments* ma = moments(index, into);
  Moments* mb = moments(index, from);
  if (b.start < a.start) {
    for (std::size_t f = 0; f < fields_; ++f) {
      Moments merged = mb[f];
      merged.merge(ma[f], plan_.needs[f]);
      ma[f] = merged;
    }
  } else {
    for (std::size_t f = 0; f < fields_; ++f) ma[f].merge(mb[f], plan_.needs[f]);
  }
  if (sketches_.active()) sketches_.merge_slot(index * p_.max_open + into, index * p_.max_open + from);
  a.start = std::min(a.start, b.start);
  a.last = std::max(a.last, b.last);
  a.records += b.records;
  b.open = false;
  --state_[index].open;
}

// Finds or makes the session for a record at `t`; SIZE_MAX if none can take it.
std::size_t SessionWindow::place(std::uint32_t index, Nanos t) noexcept {
  KeyState& k = state_[index];
  // A record joins the earliest-starting session it falls within `gap` of (and that stays
  // within max_duration with it), then bridges into later ones in start order.
  auto fits = [&](const Session& s, Nanos start, Nanos last) {
    if (!s.open || last <= s.start - p_.gap || start >= s.last + p_.gap) return false;
    return p_.max_duration == 0 || std::max(s.last, last) - std::min(s.start, start) < p_.max_duration;
  };
  std::size_t joined = SIZE_MAX;
  for (std::size_t i = 0; i < p_.max_open; ++i)
    if (fits(session(index, i), t, t) && (joined == SIZE_MAX || session(index, i).start < session(index, joined).start))
      joined = i;
  if (joined != SIZE_MAX) {
    Session& j = session(index, joined);
    j.start = std::min(j.start, t);
    j.last = std::max(j.last, t);
    while (true) {
      std::size_t next = SIZE_MAX;
      for (std::size_t i = 0; i < p_.max_open; ++i) {
        if (i == joined || !fits(session(index, i), j.start, j.last)) continue;
        if (next == SIZE_MAX || session(index, i).start < session(index, next).start) next = i;
      }
      if (next == SIZE_MAX) break;
      merge_sessions(index, joined, next);
    }
  }
  if (joined != SIZE_MAX) return joined;
  if (t + p_.gap + p_.lateness <= k.wm) return SIZE_MAX;  // its own session would be closed: late
  if (k.open == p_.max_open) {
    // No room: the session that ends first goes out early, marked partial (counted).
    std::size_t oldest = 0;
    for (std::size_t i = 1; i < p_.max_open; ++i)
      if (end_of(session(index, i)) < end_of(session(index, oldest))) oldest = i;
    fire_session(index, oldest, true);
    counters_.truncated.add();
  }
  for (std::size_t i = 0; i < p_.max_open; ++i) {
    Session& s = session(index, i);
    if (s.open) continue;
    s = Session{t, t, 0, true};
    Moments* m = moments(index, i);
    for (std::size_t f = 0; f < fields_; ++f) m[f].reset();
    if (sketches_.active()) sketches_.reset(index * p_.max_open + i);
    ++k.open;
    return i;
  }
  return SIZE_MAX;
}

void SessionWindow::on_sample(const Event& ev) noexcept {
  const bool begin = ev.flags & runtime::kRecordBegin;
  const std::uint32_t index = slots_.local(ev.key.index);
  if (begin) finish_record();
  if (!admit_key(ev, slots_, *keys_, counters_)) {
    if (begin) cur_key_ = UINT32_MAX;
    return;
  }
  KeyState& k = state_[index];
  if (begin) {
    counters_.records.add();
    const Nanos t = ev.time;
    if (!k.live || k.generation != ev.key.generation) {
      k = KeyState{};
      k.live = true;
      k.generation = ev.key.generation;
      k.rank = keys_->first_seen(ev.key);
      for (std::size_t i = 0; i < p_.max_open; ++i) session(index, i).open = false;
    }
    k.last_active = now_;
    if (t > k.max_ts) k.max_ts = t;
    if (wms_.per_source) {
      if (k.wm < source_wm_) k.wm = source_wm_;
      if (t > wms_.max_seen[ev.source]) {
        wms_.max_seen[ev.source] = t;
        const Nanos wm = wms_.watermark();
        if (wm > source_wm_) {
          source_wm_ = wm;
          fire_many(false, wm, false);
        }
      }
    } else if (t - wms_.ooo[ev.source] > k.wm) {
      k.wm = t - wms_.ooo[ev.source];
      fire_key(index, k.wm, false);
    }
    cur_key_ = index;
    cur_slot_ = place(index, t);
    if (cur_slot_ == SIZE_MAX) {
      counters_.late.add();
      if (p_.late_emit) {
        late_pending_ = true;
        late_key_ = ev.key;
        late_time_ = t;
        for (auto& m : late_moments_) m.reset();
        if (sketches_.active()) sketches_.reset(late_slot_);
      }
    } else {
      ++session(index, cur_slot_).records;
    }
  } else if (index != cur_key_) {
    return;
  }
  if (ev.field >= plan_.local_of.size()) return;
  const std::int16_t local = plan_.local_of[ev.field];
  if (local < 0) return;
  const auto f = static_cast<std::size_t>(local);
  const bool sketch = plan_.needs[f] & kNeedSketch;
  if (cur_slot_ != SIZE_MAX) {
    moments(index, cur_slot_)[f].add(ev.value, ev.time, plan_.needs[f]);
    if (sketch) sketches_.add(index * p_.max_open + cur_slot_, f, ev.value);
  } else if (late_pending_) {
    late_moments_[f].add(ev.value, ev.time, plan_.needs[f]);
    if (sketch) sketches_.add(late_slot_, f, ev.value);
  }
}

void SessionWindow::finish_record() noexcept {
  // A record that joined a session can pull its end back (max_duration) behind the watermark:
  // the session is complete then, and fires now that the record is whole.
  if (cur_key_ != UINT32_MAX && cur_slot_ != SIZE_MAX) {
    const Session& s = session(cur_key_, cur_slot_);
    if (s.open && end_of(s) + p_.lateness <= state_[cur_key_].wm) fire_key(cur_key_, state_[cur_key_].wm, false);
    cur_slot_ = SIZE_MAX;
  }
  if (!late_pending_) return;
  late_pending_ = false;
  const Nanos span = p_.max_duration > 0 ? std::min(p_.gap, p_.max_duration) : p_.gap;
  sketches_.begin();
  sketches_.include(late_slot_);
  emit_summary(plan_, *keys_, late_key_, keys_->first_seen(late_key_), late_time_, late_time_ + span, 1,
               late_moments_.data(), values_, runtime::kLate, counters_, *out_, &sketches_);
}

void SessionWindow::fire_session(std::uint32_t index, std::size_t slot, bool partial) noexcept {
  KeyState& k = state_[index];
  Session& s = session(index, slot);
  if (!s.open) return;
  s.open = false;
  --k.open;
  sketches_.begin();
  sketches_.include(index * p_.max_open + slot);
  emit_summary(plan_, *keys_, KeyId{slots_.global(index), k.generation}, k.rank, s.start, end_of(s), s.records,
               moments(index, slot), values_, partial ? runtime::kPartial : 0, counters_, *out_, &sketches_);
}

void SessionWindow::fire_key(std::uint32_t index, Nanos wm, bool partial) noexcept {
  // Fire due sessions in end order.
  while (state_[index].open > 0) {
    std::size_t best = SIZE_MAX;
    for (std::size_t i = 0; i < p_.max_open; ++i) {
      const Session& s = session(index, i);
      if (!s.open || end_of(s) + p_.lateness > wm) continue;
      if (best == SIZE_MAX || end_of(s) < end_of(session(index, best))) best = i;
    }
    if (best == SIZE_MAX) return;
    fire_session(index, best, partial);
  }
}

void SessionWindow::fire_many(bool idle_only, Nanos wm, bool partial) noexcept {
  runtime::SummarySink* saved = out_;
  buffer_.set_next(saved);
  out_ = &buffer_;
  for (std::uint32_t i = 0; i < capacity_; ++i) {
    KeyState& k = state_[i];
    if (!k.live || k.open == 0) continue;
    if (idle_only) {
      if (now_ - k.last_active < wms_.idle_timeout) continue;
      fire_key(i, runtime::kMaxTime, false);
      // Later records of this key that would have joined these sessions (t < max_ts + gap)
      // are late: t + gap + allowed_lateness <= watermark.
      k.wm = std::max(k.wm, k.max_ts + 2 * p_.gap + p_.lateness - 1);
    } else {
      k.wm = std::max(k.wm, wm);
      fire_key(i, partial ? runtime::kMaxTime : k.wm, partial);
    }
  }
  out_ = saved;
  buffer_.release();
}

void SessionWindow::on_tick(Nanos now) noexcept {
  if (now_ == runtime::kMinTime)
    for (auto& k : state_)
      if (k.live) k.last_active = now;
  now_ = std::max(now_, now);
  if (wms_.idle_timeout <= 0 || now_ < next_idle_check_) return;
  next_idle_check_ = now_ + std::max<Nanos>(wms_.idle_timeout / 8, 1);
  fire_many(true, 0, false);
}

void SessionWindow::flush(runtime::FlushMode, runtime::SummarySink& out) noexcept {
  out_ = &out;
  finish_record();
  fire_many(false, runtime::kMaxTime, true);
  for (auto& k : state_) k = KeyState{};
  for (auto& s : sessions_) s.open = false;
}

void SessionWindow::evict(KeyId key, runtime::SummarySink& out) noexcept {
  if (!slots_.owns(key.index)) return;
  const std::uint32_t index = slots_.local(key.index);
  KeyState& k = state_[index];
  if (!k.live || k.generation != key.generation) return;
  out_ = &out;
  finish_record();
  fire_key(index, runtime::kMaxTime, false);
  counters_.evicted_keys.add();
  k = KeyState{};
}

void SessionWindow::snapshot(std::vector<std::byte>& out) const {
  put_bytes(out, kSnapshotMagic);
  put_bytes(out, p_.gap);
  put_bytes(out, p_.max_duration);
  put_bytes(out, static_cast<std::uint64_t>(fields_));
  put_bytes(out, static_cast<std::uint64_t>(sketches_.bytes_per_slot()));
  std::uint64_t live = 0;
  for (const auto& k : state_) live += k.live ? 1 : 0;
  put_bytes(out, live);
  for (std::uint32_t i = 0; i < capacity_; ++i) {
    const KeyState& k = state_[i];
    if (!k.live) continue;
    put_key(out, *keys_, KeyId{slots_.global(i), k.generation});
    put_bytes(out, k.max_ts);
    put_bytes(out, k.wm);
    put_bytes(out, k.open);
    for (std::size_t s = 0; s < p_.max_open; ++s) {
      const Session& ss = sessions_[i * p_.max_open + s];
      if (!ss.open) continue;
      put_bytes(out, ss);
      for (std::size_t f = 0; f < fields_; ++f) put_bytes(out, moments_[(i * p_.max_open + s) * fields_ + f]);
      sketches_.save(i * p_.max_open + s, out);
    }
  }
}

runtime::Result<void> SessionWindow::restore(std::span<const std::byte> in) {
  auto bad = [] { return runtime::Error{"session state does not match this window's configuration"}; };
  std::uint32_t magic = 0;
  Nanos gap = 0, max_duration = 0;
  std::uint64_t fields = 0, live = 0, sketch_bytes = 0;
  if (!get_bytes(in, magic) || magic != kSnapshotMagic || !get_bytes(in, gap) || !get_bytes(in, max_duration) ||
      !get_bytes(in, fields) || !get_bytes(in, sketch_bytes) || !get_bytes(in, live) || gap != p_.gap ||
      max_duration != p_.max_duration || fields != fields_ || sketch_bytes != sketches_.bytes_per_slot())
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
    std::uint32_t open = 0;
    if (!get_bytes(in, k.max_ts) || !get_bytes(in, k.wm) || !get_bytes(in, open) || open > p_.max_open) return bad();
    for (std::uint32_t s = 0; s < open; ++s) {
      Session& ss = session(at, s);
      if (!get_bytes(in, ss)) return bad();
      for (std::size_t f = 0; f < fields_; ++f)
        if (!get_bytes(in, moments(at, s)[f])) return bad();
      if (!sketches_.load(at * p_.max_open + s, in)) return bad();
    }
    k.open = open;
  }
  return runtime::ok();
}

}  // namespace vigil::operators
