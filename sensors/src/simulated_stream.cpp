#include "simulated_stream.hpp"

#include <algorithm>
#include <cmath>

namespace vigil::sensors {
namespace {

// Orders the held-back records as a min-heap on (release, order).
bool later(const auto& a, const auto& b) noexcept {
  return a.release != b.release ? a.release > b.release : a.order > b.order;
}

// Fault decisions draw from their own stream per machine, apart from the values' streams.
constexpr std::uint64_t kFaultDomain = 0x6661756c7473ULL;

}  // namespace

SimulatedStream::SimulatedStream(std::span<const SignalShape> shapes, std::size_t machines, std::uint64_t seed,
                                 double rate, const StreamFaults& faults, std::uint64_t count)
    : generator_(shapes, machines, seed),
      schedule_(rate),
      faults_(faults),
      count_(count),
      machines_(machines),
      gap_until_(machines, -1),
      current_(shapes.size()),
      popped_(shapes.size()) {
  random_.reserve(machines);
  for (std::size_t m = 0; m < machines; ++m) random_.emplace_back(seed ^ kFaultDomain, m, 0);
  // The chance that an outage starts between two records of a machine: 1 − e^{−rate·dt}.
  gap_chance_ = -std::expm1(-faults_.gap_rate / 3600.0 / rate);
  if (faults_.late > 0 || faults_.out_of_order > 0) {
    // Room for four times the records held back on average, within kMaxHeld.
    const double held = rate * static_cast<double>(machines) *
                        (faults_.late * static_cast<double>(faults_.late_by) +
                         faults_.out_of_order * static_cast<double>(faults_.max_delay)) /
                        1e9;
    const std::size_t capacity = static_cast<std::size_t>(std::clamp(4 * held + 256, 256.0, double(kMaxHeld)));
    held_.reserve(capacity);
    held_values_.assign(capacity * shapes.size(), 0.0);
    free_slots_.reserve(capacity);
    for (std::size_t i = capacity; i-- > 0;) free_slots_.push_back(static_cast<std::uint32_t>(i));
  }
}

bool SimulatedStream::finished() const noexcept {
  return count_ != 0 && index_ >= count_ && held_.empty() && !has_repeat_;
}

runtime::Nanos SimulatedStream::next_due() const noexcept {
  if (has_repeat_) return repeat_record_.offset;
  runtime::Nanos due = (count_ != 0 && index_ >= count_) ? runtime::kMaxTime : schedule_.offset(index_);
  if (!held_.empty()) due = std::min(due, held_.front().release);
  return due;
}

bool SimulatedStream::next(runtime::Nanos until, SimulatedRecord& out) noexcept {
  if (has_repeat_) {
    has_repeat_ = false;
    out = repeat_record_;
    return true;
  }
  for (;;) {
    const bool generating = count_ == 0 || index_ < count_;
    const runtime::Nanos generate_at = generating ? schedule_.offset(index_) : runtime::kMaxTime;
    if (!held_.empty() && held_.front().release <= until && held_.front().release <= generate_at) {
      pop_held(out);
      return true;
    }
    if (!generating || generate_at > until) return false;
    if (generate(out)) return true;
  }
}

bool SimulatedStream::generate(SimulatedRecord& out) noexcept {
  const std::size_t m = machine_;
  const runtime::Nanos offset = schedule_.offset(index_);
  // Values are made for every record, delivered or not, so faults never shift the signal.
  generator_.next(m, offset, current_);
  ++counts_.generated;
  if (++machine_ == machines_) {
    machine_ = 0;
    ++index_;
  }
  // A fixed number of draws per record: one fault's setting never changes another's decisions.
  Random& r = random_[m];
  const double u_gap = r.uniform(), u_malformed = r.uniform(), u_duplicate = r.uniform(), u_delay = r.uniform(),
               u_amount = r.uniform();
  if (offset < gap_until_[m]) {
    ++counts_.gapped;
    return false;
  }
  if (u_gap < gap_chance_) {
    gap_until_[m] = offset + faults_.gap_length;
    ++counts_.gapped;
    return false;
  }
  const bool malformed = u_malformed < faults_.malformed;
  runtime::Nanos delay = 0;
  if (u_delay < faults_.late) {
    delay = faults_.late_by;
  } else if (u_delay < faults_.late + faults_.out_of_order) {
    delay = std::max<runtime::Nanos>(1, static_cast<runtime::Nanos>(u_amount * static_cast<double>(faults_.max_delay)));
  }
  if (delay > 0 && !free_slots_.empty()) {
    const std::uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    std::copy(current_.begin(), current_.end(), held_values_.begin() + static_cast<std::ptrdiff_t>(slot * current_.size()));
    held_.push_back(Held{offset + delay, order_++, offset, static_cast<std::uint32_t>(m), slot, malformed});
    std::push_heap(held_.begin(), held_.end(), [](const Held& a, const Held& b) { return later(a, b); });
    ++counts_.delayed;
    if (malformed) ++counts_.malformed;
    return false;
  }
  out = SimulatedRecord{m, offset, current_, malformed, false};
  if (malformed) ++counts_.malformed;
  if (u_duplicate < faults_.duplicates) {
    // current_ is not touched again before the copy goes out: next() delivers it first.
    has_repeat_ = true;
    repeat_record_ = out;
    repeat_record_.duplicate = true;
    ++counts_.duplicated;
  }
  return true;
}

void SimulatedStream::pop_held(SimulatedRecord& out) noexcept {
  std::pop_heap(held_.begin(), held_.end(), [](const Held& a, const Held& b) { return later(a, b); });
  const Held h = held_.back();
  held_.pop_back();
  const auto first = held_values_.begin() + static_cast<std::ptrdiff_t>(h.slot * popped_.size());
  std::copy(first, first + static_cast<std::ptrdiff_t>(popped_.size()), popped_.begin());
  free_slots_.push_back(h.slot);
  out = SimulatedRecord{h.machine, h.offset, popped_, h.malformed, false};
}

}  // namespace vigil::sensors
