// The `simulator` source: seeded synthetic signals for a list of machines, with optional stream
// faults, paced to wall time or as fast as the queue takes them.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "event_batch.hpp"
#include "scenario.hpp"
#include "simulated_stream.hpp"
#include "vigil/sensors/sensors.hpp"

namespace vigil::sensors {
namespace {

using runtime::Nanos;

/// The `simulator` source: one thread generating records for every machine.
class Simulator final : public runtime::Source {
 public:
  Simulator(const runtime::SourceSetup& setup, Scenario scenario, std::vector<runtime::FieldId> fields)
      : scenario_(std::move(scenario)),
        fields_(std::move(fields)),
        index_(setup.index),
        keys_(setup.keys),
        clock_(setup.clock ? setup.clock : &wall_clock_),
        stream_(scenario_.shapes, scenario_.machines.size(), scenario_.seed, scenario_.rate, scenario_.faults,
                scenario_.count),
        batch_(reader_) {}

  ~Simulator() override { stop(); }

  runtime::Result<void> start(runtime::IngestQueue& queue) override {
    start_time_ = scenario_.has_start ? scenario_.start : clock_->now();
    batch_.attach(queue);
    return reader_.start("the simulator", [this] { run(); });
  }

  void stop() noexcept override { reader_.stop(); }

  const runtime::SourceCounters& counters() const noexcept override { return counters_; }

 private:
  void run() noexcept {
    const bool finished = scenario_.realtime ? run_paced() : run_unpaced();
    if (!finished) return;
    runtime::Event end{};
    end.time = last_time_;
    end.source = index_;
    end.kind = runtime::EventKind::end_of_stream;
    if (batch_.add(end)) batch_.flush();
  }

  // As fast as the queue takes records; true when `count` records per machine were sent.
  bool run_unpaced() noexcept {
    SimulatedRecord r;
    while (stream_.next(runtime::kMaxTime, r))
      if (!emit(r)) return false;
    return batch_.flush() && stream_.finished();
  }

  // Sleeps until records are due on the monotonic clock, then sends every record due so far.
  // No tick events: in live mode the engine owns the processing clock.
  bool run_paced() noexcept {
    using std::chrono::steady_clock;
    // Waking more often than this buys nothing but wakeups at high rates.
    constexpr auto kMinSleep = std::chrono::milliseconds(1);
    const auto mono_start = steady_clock::now();
    SimulatedRecord r;
    while (!reader_.requested()) {
      const auto now = steady_clock::now();
      const Nanos elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(now - mono_start).count();
      while (stream_.next(elapsed, r))
        if (!emit(r)) return false;
      if (!batch_.flush()) return false;
      if (stream_.finished()) return true;
      const auto next_due = mono_start + std::chrono::nanoseconds(stream_.next_due());
      if (reader_.sleep_until(std::max(next_due, now + kMinSleep))) return false;
    }
    return false;
  }

  // One record: one event per field, the first flagged as the record's start. A record the
  // faults garbled is what a consumer could not decode: counted as malformed, not sent.
  bool emit(const SimulatedRecord& r) noexcept {
    const Nanos time = start_time_ + r.offset;
    last_time_ = std::max(last_time_, time);
    if (r.malformed) {
      counters_.malformed.add();
      return true;
    }
    const auto key = keys_->intern(scenario_.machines[r.machine]);
    if (!key) {
      counters_.unknown_key.add();
      return true;
    }
    for (std::size_t f = 0; f < r.values.size(); ++f) {
      runtime::Event e{};
      e.time = time;
      e.value = r.values[f];
      e.key = *key;
      e.field = fields_[f];
      e.source = index_;
      e.kind = runtime::EventKind::sample;
      e.flags = f == 0 ? runtime::kRecordBegin : 0;
      if (!batch_.add(e)) return false;
    }
    counters_.records.add();
    return true;
  }

  Scenario scenario_;
  std::vector<runtime::FieldId> fields_;
  runtime::SourceIndex index_;
  runtime::KeyTable* keys_;
  runtime::WallClock wall_clock_;
  const runtime::Clock* clock_;
  SimulatedStream stream_;
  runtime::SourceCounters counters_;
  EventBatch batch_;
  Nanos start_time_ = 0;
  Nanos last_time_ = 0;
  SourceThread reader_;  ///< declared last: it stops before the members its thread uses go
};

// Expects setup.block validated against simulator_keys() (the engine does that first).
std::unique_ptr<runtime::Source> make_simulator(const runtime::SourceSetup& setup) {
  runtime::Diagnostics fallback;
  runtime::Diagnostics& diag = setup.diag ? *setup.diag : fallback;
  auto scenario = read_scenario(setup.block, setup.path, diag);
  if (!scenario || setup.keys == nullptr) return nullptr;
  std::vector<runtime::FieldId> fields;
  for (const std::string& name : scenario->fields) {
    const runtime::FieldId id = setup.fields ? setup.fields->intern(name) : runtime::kNoField;
    if (id == runtime::kNoField) {
      const runtime::ConfigNode* where = setup.block.node("signals");
      diag.error(where ? where->mark : runtime::Mark{}, setup.path + ".signals",
                 "cannot add field \"" + name + "\": the field table is full (" +
                     std::to_string(runtime::FieldTable::kMaxFields) + " names)");
      return nullptr;
    }
    fields.push_back(id);
  }
  return std::make_unique<Simulator>(setup, std::move(*scenario), std::move(fields));
}

constexpr runtime::SourcePlugin kSimulatorPlugin{
    "simulator",
    "Seeded synthetic signals (noise, sine, drift, random walk, steps, spikes, a wearing bearing) for a list "
    "of machines, with optional stream faults.",
    {},
    &make_simulator,
    runtime::OverflowPolicy::block,
};

}  // namespace

const runtime::SourcePlugin& simulator_plugin() {
  static const runtime::SourcePlugin plugin = [] {
    runtime::SourcePlugin p = kSimulatorPlugin;
    p.keys = simulator_keys();
    return p;
  }();
  return plugin;
}

}  // namespace vigil::sensors
