// The `simulator` source: seeded synthetic signals for a list of machines, paced to wall time
// or as fast as the queue takes them.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "event_batch.hpp"
#include "vigil/sensors/sensors.hpp"
#include "vigil/sensors/signal_generator.hpp"

namespace vigil::sensors {
namespace {

using runtime::ConfigKey;
using runtime::KeyType;
using runtime::Nanos;
using runtime::Required;

constexpr double kInfinity = std::numeric_limits<double>::infinity();

constexpr ConfigKey kSignalKeys[] = {
    {"mean", KeyType::real, Required::no, "0", "Average value."},
    {"noise", KeyType::real, Required::no, "0", "Standard deviation of the Gaussian noise.", 0},
    {"amplitude", KeyType::real, Required::no, "0", "Amplitude of a sine wave around the mean."},
    {"period", KeyType::duration, Required::no, "60s", "Period of the sine wave.",
     static_cast<double>(runtime::kNanosPerMilli)},
    {"drift", KeyType::real, Required::no, "0", "Linear drift in units per hour since the start."},
};

constexpr ConfigKey kSimulatorKeys[] = {
    {"machines", KeyType::string_list, Required::yes, {}, "Key names, one stream of records each."},
    {"rate", KeyType::real, Required::no, "100", "Records per second per machine.", 0.001, 1e7},
    {"seed", KeyType::integer, Required::no, "1", "Seed of the noise; the same seed gives the same values."},
    {"signals", KeyType::object_map, Required::yes, {},
     "Fields each record carries: field name -> signal shape.", -kInfinity, kInfinity, {}, kSignalKeys},
    {"start", KeyType::string, Required::no, {},
     "RFC 3339 event time of the first record; default: the clock's now at start."},
    {"realtime", KeyType::boolean, Required::no, "true",
     "Pace records to wall time; false: as fast as the queue takes them."},
    {"count", KeyType::integer, Required::no, "0",
     "Records per machine, then end of stream; 0: unlimited.", 0},
};

/// Everything the simulator needs, checked and typed at setup.
struct SimulatorConfig {
  std::vector<std::string> machines;
  std::vector<runtime::FieldId> fields;
  std::vector<SignalShape> shapes;
  double rate = 100;
  std::uint64_t seed = 1;
  bool has_start = false;
  Nanos start = 0;
  bool realtime = true;
  std::uint64_t count = 0;  // 0: unlimited
};

/// The `simulator` source: one thread generating records for every machine.
class Simulator final : public runtime::Source {
 public:
  Simulator(const runtime::SourceSetup& setup, SimulatorConfig config)
      : config_(std::move(config)),
        index_(setup.index),
        keys_(setup.keys),
        clock_(setup.clock ? setup.clock : &wall_clock_),
        generator_(config_.shapes, config_.machines.size(), config_.seed),
        schedule_(config_.rate),
        values_(config_.shapes.size()),
        batch_(reader_) {}

  ~Simulator() override { stop(); }

  runtime::Result<void> start(runtime::IngestQueue& queue) override {
    start_time_ = config_.has_start ? config_.start : clock_->now();
    batch_.attach(queue);
    return reader_.start("the simulator", [this] { run(); });
  }

  void stop() noexcept override {
    reader_.stop();
  }

  const runtime::SourceCounters& counters() const noexcept override { return counters_; }

 private:
  void run() noexcept {
    const bool finished = config_.realtime ? run_paced() : run_unpaced();
    if (!finished) return;
    runtime::Event end{};
    end.time = last_time_;
    end.source = index_;
    end.kind = runtime::EventKind::end_of_stream;
    if (batch_.add(end)) batch_.flush();
  }

  // As fast as the queue takes records; true when `count` records per machine were sent.
  bool run_unpaced() noexcept {
    for (std::uint64_t i = 0; config_.count == 0 || i < config_.count; ++i)
      if (!emit_record(i)) return false;
    return batch_.flush();
  }

  // Sleeps until records are due on the monotonic clock, then sends every record due so far.
  // No tick events: in live mode the engine owns the processing clock.
  bool run_paced() noexcept {
    using std::chrono::steady_clock;
    // Waking more often than this buys nothing but wakeups at high rates.
    constexpr auto kMinSleep = std::chrono::milliseconds(1);
    const auto mono_start = steady_clock::now();
    std::uint64_t next = 0;
    while (!reader_.requested()) {
      const auto now = steady_clock::now();
      const Nanos elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(now - mono_start).count();
      std::uint64_t due = schedule_.due(elapsed);
      if (config_.count != 0) due = std::min(due, config_.count);
      for (; next < due; ++next)
        if (!emit_record(next)) return false;
      if (!batch_.flush()) return false;
      if (config_.count != 0 && next >= config_.count) return true;
      const auto next_due = mono_start + std::chrono::nanoseconds(schedule_.offset(next));
      if (reader_.sleep_until(std::max(next_due, now + kMinSleep))) return false;
    }
    return false;
  }

  // Record i of every machine: one event per field, the first flagged as the record's start.
  bool emit_record(std::uint64_t i) noexcept {
    const Nanos offset = schedule_.offset(i);
    const Nanos time = start_time_ + offset;
    last_time_ = time;
    for (std::size_t m = 0; m < config_.machines.size(); ++m) {
      // Generate even when the key is refused so every stream stays in step with its seed.
      generator_.next(m, offset, values_);
      const auto key = keys_->intern(config_.machines[m]);
      if (!key) {
        counters_.unknown_key.add();
        continue;
      }
      for (std::size_t f = 0; f < values_.size(); ++f) {
        runtime::Event e{};
        e.time = time;
        e.value = values_[f];
        e.key = *key;
        e.field = config_.fields[f];
        e.source = index_;
        e.kind = runtime::EventKind::sample;
        e.flags = f == 0 ? runtime::kRecordBegin : 0;
        if (!batch_.add(e)) return false;
      }
      counters_.records.add();
    }
    return true;
  }

  SimulatorConfig config_;
  runtime::SourceIndex index_;
  runtime::KeyTable* keys_;
  runtime::WallClock wall_clock_;
  const runtime::Clock* clock_;
  SignalGenerator generator_;
  RecordSchedule schedule_;
  std::vector<double> values_;  // one record's values, reused
  runtime::SourceCounters counters_;
  EventBatch batch_;
  Nanos start_time_ = 0;
  Nanos last_time_ = 0;
  SourceThread reader_;  ///< declared last: it stops before the members its thread uses go
};

// Expects setup.block validated against kSimulatorKeys (the engine does that first); reports
// what the table cannot express (an empty list, duplicates, the start time) into setup.diag.
std::unique_ptr<runtime::Source> make_simulator(const runtime::SourceSetup& setup) {
  runtime::Diagnostics fallback;
  runtime::Diagnostics& diag = setup.diag ? *setup.diag : fallback;
  const runtime::Block& block = setup.block;
  bool ok = true;
  auto fail_at = [&](const runtime::ConfigNode* node, std::string_view key, std::string_view message) {
    const runtime::ConfigNode* where = node ? node : block.self();
    diag.error(where ? where->mark : runtime::Mark{}, setup.path + "." + std::string(key), message);
    ok = false;
  };
  auto fail = [&](std::string_view key, std::string_view message) { fail_at(block.node(key), key, message); };

  SimulatorConfig config;
  config.machines = block.strings("machines");
  if (config.machines.empty())
    fail("machines", "no machines listed; name the keys to simulate, e.g. machines: [press-1, pump-1]");
  const runtime::ConfigNode* machines = block.node("machines");
  for (std::size_t i = 0; i < config.machines.size(); ++i) {
    const std::string& name = config.machines[i];
    const runtime::ConfigNode* item =
        machines && machines->is_sequence() && i < machines->items.size() ? &machines->items[i] : machines;
    const std::string key = "machines[" + std::to_string(i) + "]";
    const auto earlier = config.machines.begin() + static_cast<std::ptrdiff_t>(i);
    if (name.empty() || name.size() > runtime::KeyTable::kMaxKeyLength) {
      fail_at(item, key,
              "\"" + name + "\" cannot be a key name; use 1 to " +
                  std::to_string(runtime::KeyTable::kMaxKeyLength) + " characters");
    } else if (std::find(config.machines.begin(), earlier, name) != earlier) {
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
      const runtime::FieldId id = setup.fields ? setup.fields->intern(name) : runtime::kNoField;
      if (id == runtime::kNoField) {
        fail("signals", "cannot add field \"" + name + "\": the field table is full (" +
                            std::to_string(runtime::FieldTable::kMaxFields) + " names)");
        continue;
      }
      config.fields.push_back(id);
      config.shapes.push_back(shape);
    }
  } else {
    fail("signals", "no signals; name at least one field, e.g. signals: {temp: {mean: 60, noise: 0.5}}");
  }

  config.rate = std::clamp(block.real("rate"), 0.001, 1e7);
  config.seed = static_cast<std::uint64_t>(block.integer("seed"));
  config.realtime = block.boolean("realtime");
  config.count = static_cast<std::uint64_t>(std::max<std::int64_t>(0, block.integer("count")));
  if (block.has("start")) {
    auto start = runtime::parse_rfc3339(block.string("start"));
    if (start) {
      config.has_start = true;
      config.start = *start;
    } else {
      fail("start", start.error().message);
    }
  }
  if (!ok || setup.keys == nullptr) return nullptr;
  return std::make_unique<Simulator>(setup, std::move(config));
}

constexpr runtime::SourcePlugin kSimulatorPlugin{
    "simulator",
    "Seeded synthetic signals (sine, drift, Gaussian noise) for a list of machines.",
    kSimulatorKeys,
    &make_simulator,
    runtime::OverflowPolicy::block,
};

}  // namespace

const runtime::SourcePlugin& simulator_plugin() { return kSimulatorPlugin; }

}  // namespace vigil::sensors
