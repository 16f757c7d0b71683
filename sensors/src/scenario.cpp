#include "scenario.hpp"

#include <algorithm>
#include <limits>

#include "vigil/runtime/key_table.hpp"

namespace vigil::sensors {
namespace {

using runtime::ConfigKey;
using runtime::KeyType;
using runtime::Nanos;
using runtime::Required;

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kMilli = static_cast<double>(runtime::kNanosPerMilli);

constexpr ConfigKey kBearingKeys[] = {
    {"life", KeyType::duration, Required::yes, {}, "Time from new to failed (e.g. 30d, 2000h, 10m for a demo).",
     kMilli},
    {"rms", KeyType::real, Required::no, "1", "RMS of the healthy vibration.", 0},
    {"rms_end", KeyType::real, Required::no, "10", "RMS at the end of life.", 0},
    {"age", KeyType::duration, Required::no, "0s", "How far into its life the bearing is at the start.", 0},
};

constexpr ConfigKey kSignalKeys[] = {
    {"mean", KeyType::real, Required::no, "0", "Average value."},
    {"noise", KeyType::real, Required::no, "0", "Standard deviation of the Gaussian noise.", 0},
    {"amplitude", KeyType::real, Required::no, "0", "Amplitude of a sine wave around the mean."},
    {"period", KeyType::duration, Required::no, "60s", "Period of the sine wave.", kMilli},
    {"drift", KeyType::real, Required::no, "0", "Linear drift in units per hour since the start."},
    {"walk", KeyType::real, Required::no, "0",
     "Random walk: standard deviation of the level's change over one second.", 0},
    {"step_rate", KeyType::real, Required::no, "0", "Level steps per hour, at random times.", 0},
    {"step_size", KeyType::real, Required::no, "0", "Standard deviation of a step's height; steps persist.", 0},
    {"spike_rate", KeyType::real, Required::no, "0", "Spikes per hour, at random times; a spike lasts one record.",
     0},
    {"spike_size", KeyType::real, Required::no, "0", "Height of a spike, up or down at random."},
    {"bearing", KeyType::object, Required::no, {},
     "A wearing bearing's vibration: RMS and kurtosis rise toward failure over `life`.", -kInfinity, kInfinity, {},
     kBearingKeys},
};

constexpr ConfigKey kFaultKeys[] = {
    {"gap_rate", KeyType::real, Required::no, "0", "Outages per hour per machine, at random times.", 0},
    {"gap_length", KeyType::duration, Required::no, "10s", "Length of an outage: no records meanwhile.", kMilli},
    {"out_of_order", KeyType::real, Required::no, "0",
     "Fraction of records delivered up to max_delay after their time.", 0, 1},
    {"max_delay", KeyType::duration, Required::no, "1s", "Longest delay of an out-of-order record.", 1},
    {"late", KeyType::real, Required::no, "0", "Fraction of records delivered late_by after their time.",
     0, 1},
    {"late_by", KeyType::duration, Required::no, "60s", "Delay of a late record.", 1},
    {"duplicates", KeyType::real, Required::no, "0", "Fraction of records delivered twice.", 0, 1},
    {"malformed", KeyType::real, Required::no, "0",
     "Fraction of records sent as garbled messages; the simulator source counts them as malformed.", 0,
     1},
};

constexpr ConfigKey kSimulatorKeys[] = {
    {"machines", KeyType::string_list, Required::yes, {}, "Key names, one stream of records each."},
    {"rate", KeyType::real, Required::no, "100", "Records per second per machine.", 0.001, 1e7},
    {"seed", KeyType::integer, Required::no, "1", "Seed of the noise; the same seed gives the same values."},
    {"signals", KeyType::object_map, Required::yes, {},
     "Fields each record carries: field name -> signal shape.", -kInfinity, kInfinity, {}, kSignalKeys},
    {"faults", KeyType::object, Required::no, {},
     "Stream faults: outages, out-of-order, late, duplicate and malformed records.", -kInfinity, kInfinity, {},
     kFaultKeys},
    {"start", KeyType::string, Required::no, {},
     "RFC 3339 event time of the first record; default: the clock's now at start."},
    {"realtime", KeyType::boolean, Required::no, "true",
     "Pace records to wall time; false: as fast as the queue takes them."},
    {"count", KeyType::integer, Required::no, "0",
     "Records per machine, then end of stream; 0: unlimited.", 0},
};

}  // namespace

std::span<const runtime::ConfigKey> simulator_keys() noexcept { return kSimulatorKeys; }

std::optional<Scenario> read_scenario(const runtime::Block& block, const std::string& path,
                                      runtime::Diagnostics& diag) {
  bool ok = true;
  auto fail_at = [&](const runtime::ConfigNode* node, std::string_view key, std::string_view message) {
    const runtime::ConfigNode* where = node ? node : block.self();
    diag.error(where ? where->mark : runtime::Mark{}, path.empty() ? std::string(key) : path + "." + std::string(key),
               message);
    ok = false;
  };
  auto fail = [&](std::string_view key, std::string_view message) { fail_at(block.node(key), key, message); };

  Scenario s;
  s.machines = block.strings("machines");
  if (s.machines.empty())
    fail("machines", "no machines listed; name the keys to simulate, e.g. machines: [press-1, pump-1]");
  const runtime::ConfigNode* machines = block.node("machines");
  for (std::size_t i = 0; i < s.machines.size(); ++i) {
    const std::string& name = s.machines[i];
    const runtime::ConfigNode* item =
        machines && machines->is_sequence() && i < machines->items.size() ? &machines->items[i] : machines;
    const std::string key = "machines[" + std::to_string(i) + "]";
    const auto earlier = s.machines.begin() + static_cast<std::ptrdiff_t>(i);
    if (name.empty() || name.size() > runtime::KeyTable::kMaxKeyLength) {
      fail_at(item, key,
              "\"" + name + "\" cannot be a key name; use 1 to " +
                  std::to_string(runtime::KeyTable::kMaxKeyLength) + " characters");
    } else if (std::find(s.machines.begin(), earlier, name) != earlier) {
      fail_at(item, key, "\"" + name + "\" is listed twice; machine names must be unique");
    }
  }

  const runtime::ConfigNode* signals = block.node("signals");
  if (signals && signals->is_map() && !signals->members.empty()) {
    for (const auto& [name, node] : signals->members) {
      const runtime::Block signal(&node, kSignalKeys);
      SignalShape shape;
      shape.mean = signal.real("mean");
      shape.noise = std::max(0.0, signal.real("noise"));
      shape.amplitude = signal.real("amplitude");
      shape.period = std::max<Nanos>(runtime::kNanosPerMilli, signal.duration("period"));
      shape.drift = signal.real("drift");
      shape.walk = std::max(0.0, signal.real("walk"));
      shape.step_rate = std::max(0.0, signal.real("step_rate"));
      shape.step_size = std::max(0.0, signal.real("step_size"));
      shape.spike_rate = std::max(0.0, signal.real("spike_rate"));
      shape.spike_size = signal.real("spike_size");
      if (signal.has("bearing")) {
        const runtime::Block bearing = signal.child("bearing");
        shape.bearing.life = std::max<Nanos>(runtime::kNanosPerMilli, bearing.duration("life"));
        shape.bearing.rms = std::max(0.0, bearing.real("rms"));
        shape.bearing.rms_end = std::max(0.0, bearing.real("rms_end"));
        shape.bearing.age = std::max<Nanos>(0, bearing.duration("age"));
      }
      s.fields.push_back(name);
      s.shapes.push_back(shape);
    }
  } else {
    fail("signals", "no signals; name at least one field, e.g. signals: {temp: {mean: 60, noise: 0.5}}");
  }

  if (block.has("faults")) {
    const runtime::Block f = block.child("faults");
    s.faults.gap_rate = std::max(0.0, f.real("gap_rate"));
    s.faults.gap_length = f.duration("gap_length");
    s.faults.out_of_order = std::clamp(f.real("out_of_order"), 0.0, 1.0);
    s.faults.max_delay = std::max<Nanos>(1, f.duration("max_delay"));
    s.faults.late = std::clamp(f.real("late"), 0.0, 1.0);
    s.faults.late_by = std::max<Nanos>(1, f.duration("late_by"));
    s.faults.duplicates = std::clamp(f.real("duplicates"), 0.0, 1.0);
    s.faults.malformed = std::clamp(f.real("malformed"), 0.0, 1.0);
    if (s.faults.late + s.faults.out_of_order > 1)
      fail("faults", "late and out_of_order add up to more than 1; a record is delayed one way at most");
  }

  s.rate = std::clamp(block.real("rate"), 0.001, 1e7);
  s.seed = static_cast<std::uint64_t>(block.integer("seed"));
  s.realtime = block.boolean("realtime");
  s.count = static_cast<std::uint64_t>(std::max<std::int64_t>(0, block.integer("count")));
  if (block.has("start")) {
    auto start = runtime::parse_rfc3339(block.string("start"));
    if (start) {
      s.has_start = true;
      s.start = *start;
    } else {
      fail("start", start.error().message);
    }
  }
  if (!ok) return std::nullopt;
  return s;
}

}  // namespace vigil::sensors
