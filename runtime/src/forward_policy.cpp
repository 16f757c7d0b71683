#include "vigil/runtime/forward_policy.hpp"

#include <cmath>
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

}  // namespace vigil::runtime
