#include "vigil/runtime/forward_policy.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace vigil::runtime {

ForwardPolicy::ForwardPolicy(const ForwardSettings& settings, std::size_t max_keys) : settings_(settings) {
  if (settings_.mode != ForwardMode::always) keys_.resize(max_keys);
}

double ForwardPolicy::value_of(const Summary& s) const noexcept {
  if (settings_.column == kCountColumn) return static_cast<double>(s.count);
  const auto i = static_cast<std::size_t>(settings_.column);
  return i < s.values.size() ? s.values[i] : std::numeric_limits<double>::quiet_NaN();
}

bool ForwardPolicy::heartbeat_due(const KeyState& k, const Summary& s) const noexcept {
  if (!k.seen) return true;
  if (settings_.windows > 0 && k.since + 1 >= static_cast<std::uint64_t>(settings_.windows)) return true;
  return settings_.interval > 0 && s.end - k.last_end >= settings_.interval;
}

// Raised above `above` (below `below`); cleared once the value is back by `hysteresis`. A jump
// from one side straight to the other is a change of alarm too. NaN (no value) changes nothing.
ForwardPolicy::Alarm ForwardPolicy::alarm_after(Alarm now, double v) const noexcept {
  if (std::isnan(v)) return now;
  const ForwardSettings& p = settings_;
  if (p.has_above && v > p.above) return Alarm::high;
  if (p.has_below && v < p.below) return Alarm::low;
  if (now == Alarm::high && v > p.above - p.hysteresis) return Alarm::high;
  if (now == Alarm::low && v < p.below + p.hysteresis) return Alarm::low;
  return Alarm::normal;
}

void ForwardPolicy::decide(Summary& s) noexcept {
  s.priority = 0;
  if (settings_.mode == ForwardMode::always) {
    s.forward = true;
    counters_.forwarded.add();
    return;
  }
  if ((s.flags & kLate) || s.key.index >= keys_.size()) {
    s.forward = false;
    counters_.held.add();
    return;
  }
  KeyState& k = keys_[s.key.index];
  if (k.generation != s.key.generation) k = KeyState{s.key.generation};

  bool forward = false;
  switch (settings_.mode) {
    case ForwardMode::always:
      forward = true;
      break;
    case ForwardMode::every:
      forward = heartbeat_due(k, s);
      break;
    case ForwardMode::deadband: {
      const double v = value_of(s);
      const double last = k.last_value;
      if (!k.seen || std::isnan(v) != std::isnan(last)) {
        forward = true;
      } else if (!std::isnan(v)) {
        const double moved = std::fabs(v - last);
        forward = settings_.band >= 0 ? moved > settings_.band : moved > settings_.percent / 100 * std::fabs(last);
      }
      if (!forward && (settings_.windows > 0 || settings_.interval > 0)) forward = heartbeat_due(k, s);
      if (forward) k.last_value = v;
      break;
    }
    case ForwardMode::on_alarm: {
      const Alarm next = alarm_after(k.alarm, value_of(s));
      if (next != k.alarm) {
        forward = true;
        s.priority = settings_.priority;
        (next == Alarm::normal ? counters_.alarms_cleared : counters_.alarms_raised).add();
        k.alarm = next;
      } else if (settings_.windows > 0 || settings_.interval > 0) {
        forward = heartbeat_due(k, s);
      }
      break;
    }
  }
  s.forward = forward;
  if (forward) {
    k.seen = true;
    k.since = 0;
    k.last_end = s.end;
    counters_.forwarded.add();
  } else {
    if (k.since < std::numeric_limits<std::uint32_t>::max()) ++k.since;
    counters_.held.add();
  }
}

namespace {

constexpr std::uint32_t kPolicyMagic = 0x56465031;  // "VFP1"

template <class T>
void put(std::vector<std::byte>& out, const T& v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

template <class T>
bool get(std::span<const std::byte>& in, T& v) {
  if (in.size() < sizeof(T)) return false;
  std::memcpy(&v, in.data(), sizeof(T));
  in = in.subspan(sizeof(T));
  return true;
}

}  // namespace

void ForwardPolicy::snapshot(const KeyTable& keys, std::vector<std::byte>& out) const {
  put(out, kPolicyMagic);
  put(out, static_cast<std::uint8_t>(settings_.mode));
  std::uint64_t live = 0;
  const auto current = [&](std::size_t i) {
    const KeyState& k = keys_[i];
    const KeyId id{static_cast<std::uint32_t>(i), k.generation};
    return (k.seen || k.since > 0) && keys.live(id);
  };
  for (std::size_t i = 0; i < keys_.size(); ++i) live += current(i) ? 1 : 0;
  put(out, live);
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    if (!current(i)) continue;
    const KeyState& k = keys_[i];
    const std::string_view name = keys.name(KeyId{static_cast<std::uint32_t>(i), k.generation});
    put(out, static_cast<std::uint16_t>(name.size()));
    const auto* p = reinterpret_cast<const std::byte*>(name.data());
    out.insert(out.end(), p, p + name.size());
    put(out, static_cast<std::uint8_t>(k.seen));
    put(out, static_cast<std::uint8_t>(k.alarm));
    put(out, k.since);
    put(out, k.last_end);
    put(out, k.last_value);
  }
}

Result<void> ForwardPolicy::restore(std::span<const std::byte> in, KeyTable& keys) {
  const Error bad{"forward policy state does not match this pipeline's forward: block"};
  std::uint32_t magic = 0;
  std::uint8_t mode = 0;
  std::uint64_t live = 0;
  if (!get(in, magic) || magic != kPolicyMagic || !get(in, mode) || mode != static_cast<std::uint8_t>(settings_.mode) ||
      !get(in, live))
    return bad;
  std::vector<std::pair<KeyId, KeyState>> read;
  for (std::uint64_t n = 0; n < live; ++n) {
    std::uint16_t size = 0;
    if (!get(in, size) || in.size() < size) return bad;
    const std::string_view name(reinterpret_cast<const char*>(in.data()), size);
    in = in.subspan(size);
    KeyState k;
    std::uint8_t seen = 0, alarm = 0;
    if (!get(in, seen) || !get(in, alarm) || alarm > 2 || !get(in, k.since) || !get(in, k.last_end) ||
        !get(in, k.last_value))
      return bad;
    k.seen = seen != 0;
    k.alarm = static_cast<Alarm>(alarm);
    auto id = keys.intern(name);
    if (!id) return Error{"forward policy state holds more keys than limits.max_keys"};
    if (id->index >= keys_.size()) return bad;
    k.generation = id->generation;
    read.emplace_back(*id, k);
  }
  if (!in.empty()) return bad;
  for (const auto& [id, k] : read) keys_[id.index] = k;
  return ok();
}

}  // namespace vigil::runtime
