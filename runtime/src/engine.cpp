#include "vigil/runtime/engine.hpp"
#include "vigil/runtime/forward_policy.hpp"
#include "vigil/runtime/model_chain.hpp"
#include "vigil/runtime/summary_buffer.hpp"
#include "vigil/runtime/sharded_operator.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <filesystem>
#include <unistd.h>

namespace vigil::runtime {
namespace {

constexpr std::string_view kTopKeysIgnore[] = {"sources", "pipelines", "outputs"};
constexpr ConfigKey kLimitKeys[] = {
    {"max_keys", KeyType::integer, Required::no, "1024", "Keys (machines, units) tracked at once; state is preallocated for this many.", 1, 10'000'000},
    {"queue_depth", KeyType::integer, Required::no, "65536", "Events each source queue holds before its overflow policy applies.", 16, 100'000'000},
    {"batch_size", KeyType::integer, Required::no, "1024", "Events the pipeline thread takes from a queue at a time.", 1, 1'000'000},
    {"max_state", KeyType::size, Required::no, "1GiB", "Window state one pipeline may preallocate (checked at load, before anything is allocated).", 4096},
    {"sketch_bytes", KeyType::size, Required::no, "4KiB", "Memory of one quantile sketch (p50, p99, ...): one per key, open slice and field; a bigger sketch is more accurate (rank error 3/k, see docs/windows.md).", 2048, 1 << 20},
    {"key_ttl", KeyType::duration, Required::no, "0s", "A key that sends nothing for this long (processing time) has its windows fired and its slot freed for new keys; 0: never."},
    {"outbox_bytes", KeyType::size, Required::no, "1GiB", "Default of outputs.outbox.max_bytes: the outbox database's bound on disk (board profiles set it to fit the storage).", 64 * 1024},
    {"outbox_queue_depth", KeyType::integer, Required::no, "16384", "Default of outputs.outbox.queue_depth: summaries held in memory for the outbox writer.", 16, 10'000'000},
};
constexpr ConfigKey kBoardKeys[] = {
    {"name", KeyType::string, Required::no, {}, "Board the config runs on (rpi3, rpi4, rpi5, jetson-orin-nano, x86_64); printed at start."},
    {"serial", KeyType::string, Required::no, {}, "The board's serial port: the device of every serial source that names none (e.g. /dev/serial0)."},
};
constexpr ConfigKey kTopKeys[] = {
    {"vigil", KeyType::integer, Required::yes, {}, "Config format version; write 1.", 1, 1},
    {"gateway", KeyType::string, Required::no, {}, "Gateway id used in outbox rows and upstream topics; default: the host name."},
    {"limits", KeyType::object, Required::no, {}, "Capacities that size every preallocated structure.", kNoMin, kNoMax, {}, kLimitKeys},
    {"board", KeyType::object, Required::no, {}, "The hardware, usually from a board profile (`include: boards/rpi4.yaml`).", kNoMin, kNoMax, {}, kBoardKeys},
    {"include", KeyType::string_list, Required::no, {}, "Files merged under this one, in order (this file's keys win): board profiles, shared blocks; relative to this file. A missing file or a cycle is an error."},
};

constexpr std::string_view kUnits[] = {"s", "ms", "us", "ns", "rfc3339"};
constexpr std::string_view kOverflow[] = {"block", "drop_oldest", "drop_newest"};
constexpr ConfigKey kTimeKeys[] = {
    {"field", KeyType::string, Required::no, "ts", "Column or payload field with the event time; empty: arrival time."},
    {"unit", KeyType::choice, Required::no, "ms", "Unit of the time field.", kNoMin, kNoMax, kUnits},
    {"max_out_of_order", KeyType::duration, Required::no, "0s", "How far behind the newest record of its key a record may arrive and still be on time (watermark = newest - this)."},
    {"idle_timeout", KeyType::duration, Required::no, "0s", "A key that sends nothing for this long (processing time) stops holding its windows open; 0: never."},
    {"max_future", KeyType::duration, Required::no, "0s", "Records more than this ahead of the gateway clock are counted and dropped; 0: unchecked."},
};
constexpr ConfigKey kTransformKeys[] = {
    {"scale", KeyType::real, Required::no, "1", "Multiplies the value (a unit or ADC conversion)."},
    {"offset", KeyType::real, Required::no, "0", "Added after scaling: value * scale + offset."},
    {"as", KeyType::string, Required::no, {}, "Name the value goes on under (aggregates use it); default: the field's own name."},
};
constexpr ConfigKey kSourceCommonKeys[] = {
    {"name", KeyType::string, Required::yes, {}, "Name pipelines use in `from:`."},
    {"type", KeyType::string, Required::yes, {}, "Source type."},
    {"key", KeyType::string, Required::no, "key", "Column or payload field holding the key (machine, unit)."},
    {"time", KeyType::object, Required::no, {}, "Where event time comes from and how disordered it may be.", kNoMin, kNoMax, {}, kTimeKeys},
    {"fields", KeyType::string_list, Required::no, {}, "Value columns to read; default: every other column (each must then hold numbers or be empty)."},
    {"queue_depth", KeyType::integer, Required::no, {}, "Events this source's queue holds; default: limits.queue_depth.", 16, 100'000'000},
    {"overflow", KeyType::choice, Required::no, {}, "What a full queue does: block (default for simulator/replay), drop_oldest, drop_newest (default for live inputs).", kNoMin, kNoMax, kOverflow},
    {"transform", KeyType::object_map, Required::no, {}, "Per field: `{t_raw: {scale: 0.1, offset: -40, as: temp}}` turns each value into value * scale + offset under the name `as`.", kNoMin, kNoMax, {}, kTransformKeys},
};
constexpr std::string_view kWatermarkScopes[] = {"per_key", "per_source"};
constexpr std::string_view kForwardModes[] = {"always", "every", "deadband", "on_alarm"};
constexpr ConfigKey kForwardKeys[] = {
    {"policy", KeyType::choice, Required::no, "always",
     "Which summaries go upstream: always; every (a heartbeat per key); deadband (a key's column moved "
     "more than a band); on_alarm (a threshold alarm on a column was raised or cleared).",
     kNoMin, kNoMax, kForwardModes},
    {"windows", KeyType::integer, Required::no, {},
     "every: forward one window in N per key (the first one, then every N-th); deadband, on_alarm: "
     "also forward a key's window after N - 1 held ones (heartbeat).",
     1, 1'000'000'000},
    {"interval", KeyType::duration, Required::no, {},
     "every: forward a key's window once its end is this much event time after the last forwarded "
     "one's; deadband, on_alarm: the same as a heartbeat.",
     static_cast<double>(kNanosPerMilli)},
    {"column", KeyType::string, Required::no, {},
     "deadband, on_alarm: the summary column watched (e.g. temp_mean, anomaly, or count)."},
    {"band", KeyType::real, Required::no, {},
     "deadband: forward when the column moved more than this (absolute) since the key's last "
     "forwarded value.",
     0},
    {"percent", KeyType::real, Required::no, {},
     "deadband: forward when the column moved more than this percentage of the key's last forwarded "
     "value.",
     0, 1e9},
    {"above", KeyType::real, Required::no, {}, "on_alarm: the alarm is raised while the column is above this."},
    {"below", KeyType::real, Required::no, {}, "on_alarm: the alarm is raised while the column is below this."},
    {"hysteresis", KeyType::real, Required::no, "0",
     "on_alarm: a raised alarm clears only once the column is this far back inside the limit.", 0},
    {"priority", KeyType::integer, Required::no, "1",
     "on_alarm: priority of a summary that raises or clears the alarm (above 0: the upstream alert "
     "lane; evicted last from a full outbox).",
     1, 100},
};
constexpr ConfigKey kPipelineKeys[] = {
    {"name", KeyType::string, Required::yes, {}, "Name shown in every summary."},
    {"from", KeyType::string_list, Required::yes, {}, "Sources this pipeline reads."},
    {"window", KeyType::any, Required::yes, {}, "Window block: `type:` plus that window's keys."},
    {"aggregates", KeyType::any, Required::yes, {}, "List of aggregates: count, mean(temp), max(vib) as vib_peak, ..."},
    {"watermark", KeyType::choice, Required::no, "per_key", "Watermark scope: per_key (each key its own clock) or per_source.", kNoMin, kNoMax, kWatermarkScopes},
    {"workers", KeyType::integer, Required::no, "1", "Threads this pipeline's windows run on; keys are shared out by key-table slot (slot mod workers) and the output is identical to one worker. Needs watermark: per_key.", 1, 64},
    {"model", KeyType::any, Required::no, {}, "A model map, or a list of them run in order (a chain), scoring each window's feature vector per key; outputs (anomaly, t2, q, score...) are appended to the summary's columns. See docs/models.md."},
    {"forward", KeyType::object, Required::no, {}, "Which summaries go upstream (default: all); the others stay local. See docs/outputs.md.", kNoMin, kNoMax, {}, kForwardKeys},
};

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "vigil";
  return buf;
}

// Reads the `forward:` block of a pipeline whose summaries have `schema`. Reports every problem
// into `diag`; true when `out` is usable.
bool read_forward(const ConfigNode& pipeline, const SummarySchema& schema, const std::string& path,
                  Diagnostics& diag, ForwardSettings& out) {
  const ConfigNode* node = pipeline.find("forward");
  if (node == nullptr) return true;
  const std::size_t before = diag.lines().size();
  Block b(node, kForwardKeys);
  const std::string where = path + ".forward";
  auto fail = [&](std::string_view key, const std::string& message) {
    const ConfigNode* at = node->find(key);
    diag.error(at ? at->mark : node->mark, key.empty() ? where : where + "." + std::string(key), message);
  };
  const std::string policy = b.string("policy");
  out.mode = policy == "every" ? ForwardMode::every
             : policy == "deadband" ? ForwardMode::deadband
             : policy == "on_alarm" ? ForwardMode::on_alarm
                                    : ForwardMode::always;
  // Each key means something for some policies only; a key the policy ignores is a mistake.
  struct Use {
    std::string_view key;
    std::string_view policies;
    bool fits;
  };
  const bool every = out.mode == ForwardMode::every, deadband = out.mode == ForwardMode::deadband,
             alarm = out.mode == ForwardMode::on_alarm;
  const Use uses[] = {{"windows", "every, deadband and on_alarm", !(out.mode == ForwardMode::always)},
                      {"interval", "every, deadband and on_alarm", !(out.mode == ForwardMode::always)},
                      {"column", "deadband and on_alarm", deadband || alarm},
                      {"band", "deadband", deadband},
                      {"percent", "deadband", deadband},
                      {"above", "on_alarm", alarm},
                      {"below", "on_alarm", alarm},
                      {"hysteresis", "on_alarm", alarm},
                      {"priority", "on_alarm", alarm}};
  for (const Use& u : uses)
    if (b.has(u.key) && !u.fits)
      fail(u.key, "applies to policy " + std::string(u.policies) + " only, not " + policy + "; remove it");
  if (b.has("windows")) out.windows = b.integer("windows");
  if (b.has("interval")) out.interval = b.duration("interval");
  if (every && b.has("windows") == b.has("interval"))
    fail("", "policy every needs one of windows (forward one window in N) or interval (e.g. 5m)");
  if (deadband || alarm) {
    if (!b.has("column")) {
      fail("", "policy " + policy + " needs column: the summary column to watch (" +
                   [&] {
                     std::string names = "count";
                     for (const auto& c : schema.columns) names += ", " + c;
                     return names;
                   }() +
                   ")");
    } else {
      const std::string column = b.string("column");
      const auto it = std::find(schema.columns.begin(), schema.columns.end(), column);
      if (it != schema.columns.end()) {
        out.column = static_cast<int>(it - schema.columns.begin());
      } else if (column == "count") {
        out.column = kCountColumn;
      } else {
        std::string names = "count";
        for (const auto& c : schema.columns) names += ", " + c;
        fail("column", "\"" + column + "\" is not a column of this pipeline's summaries; columns: " + names);
      }
    }
  }
  if (deadband) {
    if (b.has("band") == b.has("percent"))
      fail("", "policy deadband needs one of band (absolute, e.g. 0.5) or percent (e.g. 2)");
    if (b.has("band")) out.band = b.real("band");
    if (b.has("percent")) out.percent = b.real("percent");
  }
  if (alarm) {
    out.has_above = b.has("above");
    out.has_below = b.has("below");
    if (out.has_above) out.above = b.real("above");
    if (out.has_below) out.below = b.real("below");
    out.hysteresis = b.real("hysteresis");
    out.priority = static_cast<std::uint8_t>(b.integer("priority"));
    if (!out.has_above && !out.has_below)
      fail("", "policy on_alarm needs above, below or both: the limits of the column");
    if (out.has_above && out.has_below && out.below + out.hysteresis >= out.above - out.hysteresis)
      fail("below", "must be below above by more than twice the hysteresis, so a value can be normal");
  }
  return diag.lines().size() == before;
}

std::int64_t floor_ms(Nanos t) noexcept {
  const std::int64_t q = t / kNanosPerMilli;
  return t % kNanosPerMilli < 0 ? q - 1 : q;
}

// What a restart from a checkpoint changes about one pipeline's summaries.
struct Restart {
  // Per key slot: summaries of that key ending at or before `until_ms` were emitted before the
  // restart (the outbox's window marks); empty when no mark applies.
  struct Sent {
    std::uint32_t generation = 0;
    std::int64_t until_ms = INT64_MIN;
  };
  std::vector<Sent> sent;
  // The run before ended without a shutdown checkpoint: records after its last checkpoint
  // were lost, so a window that began before its key's first record since the restart is
  // partial.
  bool mark_lost = false;
};

// Hands every summary to every output, after the pipeline's models added their outputs and its
// forward policy marked it. After a restart it holds back summaries already emitted before it
// (the models and the policy still see them, to stay in step) and marks windows that may miss
// records the crash lost.
class FanOut final : public SummarySink {
 public:
  void emit(const Summary& s) noexcept override {
    Summary marked = s;
    const std::size_t p = s.schema ? s.schema->pipeline_index : 0;
    if (p < chains.size() && chains[p]) chains[p]->apply(marked);
    ForwardPolicy* policy = p < policies.size() ? policies[p].get() : nullptr;
    if (p < restarts.size()) {
      const Restart& r = restarts[p];
      const std::uint32_t slot = s.key.index;
      if (slot < r.sent.size() && !(s.flags & kLate) && r.sent[slot].generation == s.key.generation &&
          floor_ms(s.end) <= r.sent[slot].until_ms) {
        if (policy) policy->decide(marked);  // keeps the policy's state in step with what was sent
        suppressed.add();
        return;
      }
      if (r.mark_lost && slot < first_record.size() && s.start < first_record[slot] && !(s.flags & kPartial)) {
        marked.flags |= kPartial;
        restored_partial.add();
      }
    }
    if (policy) policy->decide(marked);
    for (auto* o : outputs) o->emit(marked);
    emitted.add();
  }
  std::vector<Output*> outputs;
  std::vector<std::unique_ptr<ForwardPolicy>> policies;  // by pipeline index; set at load
  std::vector<std::unique_ptr<ModelChain>> chains;       // by pipeline index; null: no `model:`
  std::vector<Restart> restarts;       // by pipeline index; empty unless restored
  std::vector<Nanos> first_record;     // per key slot: event time of its first record since start
  Counter emitted;
  Counter suppressed;        // emitted before the restart: not emitted again
  Counter restored_partial;  // marked partial because the crash before the restart lost records
};

// Canonical text of a config subtree (map members sorted, lengths before strings), for hashing.
void canonical(const ConfigNode& n, std::string& out) {
  switch (n.kind) {
    case ConfigNode::Kind::null:
      out += '~';
      break;
    case ConfigNode::Kind::scalar:
      out += 's' + std::to_string(n.scalar.size()) + ':' + n.scalar;
      break;
    case ConfigNode::Kind::sequence:
      out += '[';
      for (const auto& item : n.items) canonical(item, out);
      out += ']';
      break;
    case ConfigNode::Kind::map: {
      std::vector<const ConfigNode::Member*> sorted;
      for (const auto& m : n.members) sorted.push_back(&m);
      std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
      out += '{';
      for (const auto* m : sorted) {
        out += 'k' + std::to_string(m->first.size()) + ':' + m->first;
        canonical(m->second, out);
      }
      out += '}';
      break;
    }
  }
}

// 64-bit FNV-1a as 16 hex digits.
std::string fnv1a_hex(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// A pipeline's state in a checkpoint: the window operator's snapshot, the forward policy's, then
// the model chain's (an empty section without `model:`; checkpoints written before models had
// two sections and restore into a pipeline without one).
constexpr std::uint32_t kPipelineStateMagic = 0x56435031;  // "VCP1"

void put_section(std::vector<std::byte>& out, const std::vector<std::byte>& part) {
  const std::uint64_t size = part.size();
  const auto* p = reinterpret_cast<const std::byte*>(&size);
  out.insert(out.end(), p, p + sizeof size);
  out.insert(out.end(), part.begin(), part.end());
}

bool get_section(std::span<const std::byte>& in, std::span<const std::byte>& part) {
  std::uint64_t size = 0;
  if (in.size() < sizeof size) return false;
  std::memcpy(&size, in.data(), sizeof size);
  in = in.subspan(sizeof size);
  if (size > in.size()) return false;
  part = in.first(static_cast<std::size_t>(size));
  in = in.subspan(static_cast<std::size_t>(size));
  return true;
}

std::string wall_text(Nanos t) {
  const std::time_t secs = static_cast<std::time_t>(t / kNanosPerSecond);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// True when a `model:` block (one map or a list) has a model with `file:`.
bool has_model_file(const ConfigNode& model) {
  if (model.is_map()) return model.find("file") != nullptr;
  return std::any_of(model.items.begin(), model.items.end(),
                     [](const ConfigNode& m) { return m.is_map() && m.find("file") != nullptr; });
}

}  // namespace

struct Engine::Impl {
  std::atomic<std::uint64_t> loop_turns{0};
  const Registry* registry = nullptr;
  EngineOptions options;
  std::string config_path;
  std::string config_dir;
  std::unique_ptr<ConfigNode> root;
  std::string gateway;
  Limits limits;
  Board board;
  std::unique_ptr<KeyTable> keys;
  FieldTable fields;
  WallClock default_wall;
  MonotonicClock default_mono;
  const Clock* wall = &default_wall;
  const Clock* mono = &default_mono;

  std::vector<SourceSetup> source_setups;
  std::vector<const ConfigNode*> source_nodes;  // each source's block in `root`
  std::vector<OverflowPolicy> source_overflow;
  std::vector<std::size_t> source_depth;
  std::vector<std::unique_ptr<Source>> sources;
  std::vector<bool> source_selected;  // started by run()
  std::vector<std::unique_ptr<IngestQueue>> queues;
  // Per source, indexed by FieldId: what `transform:` does to a value (empty: nothing).
  struct FieldTransform {
    double scale = 1;
    double offset = 0;
    FieldId to = kNoField;  // kNoField: this field is not transformed
  };
  std::vector<std::vector<FieldTransform>> transforms;
  void apply_transforms(std::size_t s, Event* events, std::size_t n) const noexcept {
    const auto& table = transforms[s];
    if (table.empty()) return;
    for (std::size_t i = 0; i < n; ++i) {
      Event& e = events[i];
      if (e.kind != EventKind::sample || e.field >= table.size() || table[e.field].to == kNoField) continue;
      const FieldTransform& t = table[e.field];
      e.value = e.value * t.scale + t.offset;
      e.field = t.to;
    }
  }

  std::vector<std::unique_ptr<Operator>> pipelines;
  std::vector<std::vector<SourceIndex>> pipeline_sources;
  // What built each pipeline, to build it afresh when a checkpoint cannot be restored into it.
  struct PipelineRecipe {
    PipelineSetup setup;
    const WindowPlugin* plugin = nullptr;
    ForwardSettings forward;
    std::string config_hash;  // of the config parts that give its state a meaning
  };
  std::vector<PipelineRecipe> recipes;
  Output* checkpointer = nullptr;  // the output that keeps checkpoints (run mode only)
  Nanos checkpoint_interval = 0;
  bool track_first_records = false;  // fanout.first_record is being filled
  std::vector<std::vector<std::size_t>> subscribers;  // per source: pipeline indices

  std::vector<std::unique_ptr<Output>> outputs;
  std::vector<std::string> output_names;
  FanOut fanout;
  std::unique_ptr<SummaryBuffer> stage;
  Doorbell doorbell;
  Nanos now = kMinTime;           // processing clock: monotonic live, max event time in replay
  Nanos next_ttl_check = kMinTime;
  std::vector<Nanos> key_last_seen;        // per key slot, processing time of its last record
  std::vector<std::uint32_t> key_generation;
  Counter evicted;

  void build(Diagnostics& diag);
  void build_sources(const ConfigNode& list, Diagnostics& diag);
  void build_pipelines(const ConfigNode& list, Diagnostics& diag);
  void build_outputs(const ConfigNode* map, Diagnostics& diag);
  void dispatch(SourceIndex s, std::span<const Event> events, std::vector<bool>& ended);
  // Hands a pipeline's events to its raw-sample models before its window sees them.
  void observe(std::size_t pipeline, std::span<const Event> part) noexcept {
    if (pipeline < fanout.chains.size() && fanout.chains[pipeline]) fanout.chains[pipeline]->observe(part);
  }
  void flush_pipelines(const std::vector<std::size_t>& which, FlushMode mode);
  void evict_idle_keys();
  std::unique_ptr<Operator> make_operator(PipelineSetup setup, const WindowPlugin& plugin, Diagnostics& diag) const;
  Checkpoint take_checkpoint(CheckpointKind kind) const;
  void restore(SavedState saved);
  const ForwardPolicy* policy_of(const Operator& op) const noexcept {
    const std::size_t p = op.schema().pipeline_index;
    return p < fanout.policies.size() ? fanout.policies[p].get() : nullptr;
  }
  const ModelChain* chain_of(const Operator& op) const noexcept {
    const std::size_t p = op.schema().pipeline_index;
    return p < fanout.chains.size() ? fanout.chains[p].get() : nullptr;
  }
  ForwardTotals forward_totals() const noexcept;
};

Engine::ForwardTotals Engine::Impl::forward_totals() const noexcept {
  ForwardTotals t;
  for (std::size_t i = 0; i < sources.size(); ++i)
    if (sources[i] && (source_selected.empty() || source_selected[i])) t.bytes_in += sources[i]->counters().bytes.get();
  for (const auto& p : fanout.policies) {
    if (!p) continue;
    t.forwarded += p->counters().forwarded.get();
    t.held += p->counters().held.get();
  }
  for (const auto& o : outputs) t.bytes_forwarded += o->bytes_forwarded();
  return t;
}

std::string describe_core_keys() {
  std::string out;
  out += "### Top level\n\n" + describe_keys(kTopKeys) +
         "- `sources` (list of maps, required): The inputs; each has the keys below plus its type's keys.\n"
         "- `pipelines` (list of maps, required): Windowed aggregations over sources.\n"
         "- `outputs` (map): Where summaries go: `console`, `outbox`.\n"
         "- `include` (file name or list): Merged into the map it appears in; relative to the including file; "
         "the including map's own keys win.\n\n";
  out += "### Every source\n\n" + describe_keys(kSourceCommonKeys) + "\n";
  out += "### Every pipeline\n\n" + describe_keys(kPipelineKeys) + "\n";
  out += "### Every model (`model:` of a pipeline)\n\n" + describe_keys(model_common_keys()) +
         "Plus the keys of its type (see Models below).\n\n";
  return out;
}

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;

void Engine::Impl::build(Diagnostics& diag) {
  const ConfigNode& top = *root;
  if (!top.is_map()) {
    diag.error(top.mark, "", "a Vigil config is a map with keys vigil, gateway, limits, sources, pipelines, outputs");
    return;
  }
  const std::size_t before = diag.lines().size();
  validate_block(top, kTopKeys, "", diag, kTopKeysIgnore);
  Block b(&top, kTopKeys);
  gateway = b.has("gateway") ? b.string("gateway") : host_name();
  // With an error up here, keep the default limits and go on: every problem gets reported.
  if (diag.lines().size() == before) {
    Block lim = b.child("limits");
    if (lim.has("max_keys")) limits.max_keys = static_cast<std::size_t>(lim.integer("max_keys"));
    if (lim.has("queue_depth")) limits.queue_depth = static_cast<std::size_t>(lim.integer("queue_depth"));
    if (lim.has("batch_size")) limits.batch_size = static_cast<std::size_t>(lim.integer("batch_size"));
    limits.key_ttl = lim.duration("key_ttl");
    if (lim.has("max_state")) limits.max_state = lim.size("max_state");
    if (lim.has("sketch_bytes")) limits.sketch_bytes = lim.size("sketch_bytes");
    if (lim.has("outbox_bytes")) limits.outbox_bytes = lim.size("outbox_bytes");
    if (lim.has("outbox_queue_depth")) limits.outbox_queue_depth = static_cast<std::size_t>(lim.integer("outbox_queue_depth"));
    Block brd = b.child("board");
    if (brd.has("name")) board.name = brd.string("name");
    if (brd.has("serial")) board.serial = brd.string("serial");
  }
  keys = std::make_unique<KeyTable>(limits.max_keys);

  const ConfigNode* src = top.find("sources");
  if (!src) diag.error(top.mark, "", "missing key \"sources\" (the list of inputs: simulator, mqtt, serial)");
  else if (!src->is_sequence() || src->items.empty())
    diag.error(src->mark, "sources", "expected a list with at least one source");
  else build_sources(*src, diag);

  const ConfigNode* pipes = top.find("pipelines");
  if (!pipes) diag.error(top.mark, "", "missing key \"pipelines\" (the list of windowed aggregations)");
  else if (!pipes->is_sequence() || pipes->items.empty())
    diag.error(pipes->mark, "pipelines", "expected a list with at least one pipeline");
  else if (src && src->is_sequence()) build_pipelines(*pipes, diag);

  build_outputs(top.find("outputs"), diag);
}

void Engine::Impl::build_sources(const ConfigNode& list, Diagnostics& diag) {
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    const ConfigNode& node = list.items[i];
    std::string path = "sources[" + std::to_string(i) + "]";
    if (!node.is_map()) {
      diag.error(node.mark, path, "expected a map with name, type and that type's keys");
      continue;
    }
    const ConfigNode* type = node.find("type");
    const SourcePlugin* plugin = nullptr;
    if (type && type->is_scalar()) {
      plugin = registry->source(type->scalar);
      if (!plugin)
        diag.error(type->mark, path + ".type",
                   "unknown source type \"" + type->scalar + "\"; known types: " + registry->source_names());
    }
    // One key table: the common keys plus the plugin's.
    std::vector<ConfigKey> all(std::begin(kSourceCommonKeys), std::end(kSourceCommonKeys));
    if (plugin) all.insert(all.end(), plugin->keys.begin(), plugin->keys.end());
    std::size_t before = diag.lines().size();
    if (plugin || !type) validate_block(node, all, path, diag);
    const ConfigNode* name = node.find("name");
    if (name && name->is_scalar()) {
      for (std::size_t j = 0; j < source_setups.size(); ++j)
        if (source_setups[j].name == name->scalar)
          diag.error(name->mark, path + ".name",
                     "source name \"" + name->scalar + "\" is already used by sources[" + std::to_string(j) + "]; names must be unique");
    }
    SourceSetup setup;
    setup.name = name && name->is_scalar() ? name->scalar : "";
    setup.index = static_cast<SourceIndex>(i);
    setup.path = path;
    setup.keys = keys.get();
    setup.fields = &fields;
    setup.clock = wall;
    setup.config_dir = config_dir;
    setup.board = board;
    setup.diag = &diag;
    Block common(&node, kSourceCommonKeys);
    setup.mapping.key = common.string("key");
    Block time = common.child("time");
    setup.mapping.time.field = time.string("field");
    if (auto u = parse_time_unit(time.string("unit"))) setup.mapping.time.unit = *u;
    setup.mapping.time.max_out_of_order = time.duration("max_out_of_order");
    setup.mapping.time.idle_timeout = time.duration("idle_timeout");
    setup.mapping.time.max_future = time.duration("max_future");
    setup.mapping.fields = common.strings("fields");
    OverflowPolicy policy = plugin ? plugin->default_overflow : OverflowPolicy::drop_newest;
    if (common.has("overflow"))
      if (auto p = parse_overflow_policy(common.string("overflow"))) policy = *p;
    std::size_t depth = common.has("queue_depth") ? static_cast<std::size_t>(common.integer("queue_depth")) : limits.queue_depth;
    std::unique_ptr<Source> source;
    if (plugin && diag.lines().size() == before) {
      setup.block = Block(&node, plugin->keys);
      source = plugin->make(setup);
      if (!source && diag.lines().size() == before)
        diag.error(node.mark, path, "could not be set up");
    }
    std::vector<FieldTransform> table;
    if (const ConfigNode* tr = node.find("transform"); tr && tr->is_map() && diag.lines().size() == before) {
      table.resize(FieldTable::kMaxFields);
      for (const auto& [field, spec] : tr->members) {
        Block t(&spec, kTransformKeys);
        const FieldId from = fields.intern(field);
        const FieldId to = fields.intern(t.has("as") ? t.string("as") : field);
        if (from == kNoField || to == kNoField) {
          diag.error(spec.mark, path + ".transform." + field, "too many field names (at most " +
                                                                 std::to_string(FieldTable::kMaxFields) + ")");
          continue;
        }
        table[from] = FieldTransform{t.has("scale") ? t.real("scale") : 1.0, t.has("offset") ? t.real("offset") : 0.0, to};
      }
    }
    transforms.push_back(std::move(table));
    source_nodes.push_back(&node);
    source_setups.push_back(std::move(setup));
    source_setups.back().block = Block(&node, plugin ? plugin->keys : std::span<const ConfigKey>{});
    source_overflow.push_back(policy);
    source_depth.push_back(depth);
    sources.push_back(std::move(source));
  }
  subscribers.resize(source_setups.size());
}

void Engine::Impl::build_pipelines(const ConfigNode& list, Diagnostics& diag) {
  std::vector<SourceTime> times;
  for (const auto& s : source_setups) times.push_back(s.mapping.time);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    const ConfigNode& node = list.items[i];
    std::string path = "pipelines[" + std::to_string(i) + "]";
    std::size_t before = diag.lines().size();
    validate_block(node, kPipelineKeys, path, diag);
    if (diag.lines().size() != before) continue;
    // Problems that stop the window from being built; others (e.g. `from:`) are reported
    // alongside whatever the window factory finds in the aggregates.
    std::size_t blocking = 0;
    Block b(&node, kPipelineKeys);
    PipelineSetup setup;
    setup.name = b.string("name");
    setup.index = static_cast<std::uint16_t>(i);
    setup.path = path;
    setup.limits = limits;
    setup.keys = keys.get();
    setup.fields = &fields;
    setup.diag = &diag;
    setup.source_time = times;
    setup.watermark = b.string("watermark") == "per_source" ? WatermarkScope::per_source : WatermarkScope::per_key;
    const auto workers = static_cast<std::uint32_t>(b.integer("workers"));
    if (workers > 1 && setup.watermark == WatermarkScope::per_source)
      diag.error(node.find("workers")->mark, path + ".workers",
                 "workers: " + std::to_string(workers) +
                     " needs watermark: per_key (a per-source watermark ties every key to every other, so keys "
                     "cannot be split across threads)");
    if (std::find(names.begin(), names.end(), setup.name) != names.end())
      diag.error(node.find("name")->mark, path + ".name",
                 "pipeline name \"" + setup.name + "\" is already used; names must be unique");
    names.push_back(setup.name);
    const ConfigNode* from = node.find("from");
    std::vector<const ConfigNode*> from_items;
    if (from->is_scalar()) from_items.push_back(from);
    for (const auto& item : from->items) from_items.push_back(&item);
    for (const ConfigNode* f : from_items) {
      bool found = false;
      for (const auto& s : source_setups) {
        if (s.name == f->scalar) {
          if (std::find(setup.sources.begin(), setup.sources.end(), s.index) == setup.sources.end())
            setup.sources.push_back(s.index);
          found = true;
        }
      }
      if (!found) {
        std::string known;
        for (const auto& s : source_setups) known += (known.empty() ? "" : ", ") + s.name;
        diag.error(f->mark, path + ".from",
                   "no source is named \"" + f->scalar + "\"; sources are: " + known);
      }
    }
    const ConfigNode* window = node.find("window");
    const WindowPlugin* plugin = nullptr;
    if (!window->is_map()) {
      diag.error(window->mark, path + ".window", "expected a map such as {type: tumbling, size: 10s}");
    } else if (const ConfigNode* type = window->find("type"); !type || !type->is_scalar()) {
      diag.error(window->mark, path + ".window", "missing key \"type\"; window types: " + registry->window_names());
    } else if (plugin = registry->window(type->scalar); !plugin) {
      diag.error(type->mark, path + ".window.type",
                 "unknown window type \"" + type->scalar + "\"; window types: " + registry->window_names());
    } else {
      constexpr std::string_view kIgnore[] = {"type"};
      std::size_t at = diag.lines().size();
      validate_block(*window, plugin->keys, path + ".window", diag, kIgnore);
      blocking += diag.lines().size() - at;
    }
    if (blocking > 0 || !plugin) continue;
    setup.window = Block(window, plugin->keys);
    setup.aggregates = node.find("aggregates");
    setup.shards = workers;
    auto op = make_operator(setup, *plugin, diag);
    if (!op) {
      if (diag.lines().size() == before) diag.error(node.mark, path, "could not be set up");
      continue;
    }
    if (diag.lines().size() != before) continue;
    std::unique_ptr<ModelChain> chain;
    if (const ConfigNode* model = node.find("model")) {
      TrainTarget* train = nullptr;
      if (TrainTarget* t = options.train; t && (t->pipeline.empty() ? has_model_file(*model) : t->pipeline == setup.name)) {
        if (!t->found_pipeline.empty())
          diag.error(node.mark, path, "pipelines " + t->found_pipeline + " and " + setup.name +
                                          " both have a model file; name the one to train with --pipeline NAME");
        t->found_pipeline = setup.name;
        train = t;
      }
      chain = ModelChain::build(*model, op->schema(), *registry, limits, op->state_bytes(), path, diag, config_dir,
                                train, &fields);
      if (!chain) continue;
    }
    ForwardSettings forward;
    if (!read_forward(node, chain ? chain->schema() : op->schema(), path, diag, forward)) continue;
    if (fanout.chains.size() <= i) fanout.chains.resize(i + 1);
    fanout.chains[i] = std::move(chain);
    if (fanout.policies.size() <= i) fanout.policies.resize(i + 1);
    fanout.policies[i] = std::make_unique<ForwardPolicy>(forward, limits.max_keys);
    // A checkpoint of this pipeline is restored only into the same pipeline reading the same
    // kind of records: its own block and, of each source it reads, what makes a record.
    std::string text;
    canonical(node, text);
    for (SourceIndex s : setup.sources)
      for (std::string_view part : {"key", "time", "fields", "transform"})
        if (const ConfigNode* n = source_nodes[s]->find(part)) {
          text += part;
          canonical(*n, text);
        }
    setup.diag = nullptr;
    recipes.push_back(PipelineRecipe{setup, plugin, forward, fnv1a_hex(text)});
    for (SourceIndex s : setup.sources) subscribers[s].push_back(pipelines.size());
    pipeline_sources.push_back(setup.sources);
    pipelines.push_back(std::move(op));
  }
}

void Engine::Impl::build_outputs(const ConfigNode* map, Diagnostics& diag) {
  bool replay = options.mode == EngineMode::replay;
  auto add = [&](const OutputPlugin& plugin, const ConfigNode* node, const std::string& path) {
    OutputSetup setup;
    setup.block = Block(node, plugin.keys);
    setup.gateway = gateway;
    setup.config_dir = config_dir;
    setup.path = path;
    setup.limits = limits;
    setup.diag = &diag;
    setup.outputs = map;
    std::size_t before = diag.lines().size();
    if (node) validate_block(*node, plugin.keys, path, diag);
    if (diag.lines().size() != before) return;
    auto out = plugin.make(setup);
    if (!out) {
      if (diag.lines().size() == before) diag.error(node ? node->mark : root->mark, path, "could not be set up");
      return;
    }
    outputs.push_back(std::move(out));
    output_names.emplace_back(plugin.name);
  };
  if (map && !map->is_map()) {
    diag.error(map->mark, "outputs", "expected a map of outputs: " + registry->output_names());
    return;
  }
  if (map) {
    for (const auto& [name, node] : map->members) {
      const OutputPlugin* plugin = registry->output(name);
      if (!plugin) {
        diag.error(node.key_mark, "outputs",
                   "unknown output \"" + name + "\"; outputs: " + registry->output_names());
        continue;
      }
      // Replay prints to the console and touches the outbox only when asked.
      if (replay && name != "console" && !(name == "outbox" && options.replay_outbox)) {
        Diagnostics unused;
        validate_block(node, plugin->keys, "outputs." + name, diag);
        continue;
      }
      add(*plugin, &node, "outputs." + name);
    }
  }
  if (replay && std::find(output_names.begin(), output_names.end(), "console") == output_names.end()) {
    if (const OutputPlugin* console = registry->output("console")) add(*console, nullptr, "outputs.console");
  }
  if (replay && options.replay_outbox &&
      std::find(output_names.begin(), output_names.end(), "outbox") == output_names.end())
    diag.error(root->mark, "outputs", "--outbox asks for the outbox, but the config has no outputs.outbox block");
}

Result<std::unique_ptr<Engine>> Engine::load(const std::string& config_path, const Registry& registry,
                                             EngineOptions options) {
  auto node = load_config_file(config_path, options.env);
  if (!node) return std::move(node).error();
  std::unique_ptr<Engine> engine(new Engine());
  Impl& impl = *engine->impl_;
  impl.registry = &registry;
  impl.options = std::move(options);
  impl.config_path = config_path;
  auto dir = std::filesystem::path(config_path).parent_path();
  impl.config_dir = dir.empty() ? "." : dir.string();
  impl.root = std::make_unique<ConfigNode>(std::move(node).value());
  if (impl.options.wall) impl.wall = impl.options.wall;
  if (impl.options.monotonic) impl.mono = impl.options.monotonic;
  Diagnostics diag;
  if (TrainTarget* t = impl.options.train; t && !t->pipeline.empty()) {
    // --pipeline names one that exists, before the others' problems (their model files) hide it.
    std::string names;
    bool found = false;
    if (const ConfigNode* list = impl.root->find("pipelines"); list && list->is_sequence())
      for (const auto& p : list->items)
        if (const ConfigNode* n = p.is_map() ? p.find("name") : nullptr; n && n->is_scalar()) {
          found = found || n->scalar == t->pipeline;
          names += (names.empty() ? "" : ", ") + n->scalar;
        }
    if (!found) return Error{"vigil: --pipeline: no pipeline is named \"" + t->pipeline + "\"; pipelines: " + names};
  }
  impl.build(diag);
  if (TrainTarget* t = impl.options.train; t && diag.empty() && !t->model)
    diag.error(impl.root->mark, config_path,
               t->pipeline.empty() ? "no pipeline has a model with file: to train; add file: NAME.vgm to the model block"
                                   : "no pipeline named \"" + t->pipeline + "\" has a model:");
  if (!diag.empty()) return Error{diag.str()};
  return engine;
}

Result<SourceIndex> Engine::find_source(std::string_view name) const {
  if (name.empty()) return SourceIndex{0};
  std::string known;
  for (const auto& s : impl_->source_setups) {
    if (s.name == name) return s.index;
    known += (known.empty() ? "" : ", ") + s.name;
  }
  return Error{"no source is named \"" + std::string(name) + "\"; sources are: " + known};
}

const SourceSetup& Engine::source_setup(SourceIndex index) const { return impl_->source_setups.at(index); }

void Engine::replace_source(SourceIndex index, std::unique_ptr<Source> source) {
  impl_->sources.at(index) = std::move(source);
  impl_->source_selected.assign(impl_->sources.size(), false);
  impl_->source_selected[index] = true;
}

const std::string& Engine::gateway() const noexcept { return impl_->gateway; }

std::uint64_t Engine::progress() const noexcept { return impl_->loop_turns.load(std::memory_order_relaxed); }

const Board& Engine::board() const noexcept { return impl_->board; }

Engine::ForwardTotals Engine::forward_totals() const noexcept { return impl_->forward_totals(); }

std::unique_ptr<Operator> Engine::Impl::make_operator(PipelineSetup setup, const WindowPlugin& plugin,
                                                      Diagnostics& diag) const {
  setup.diag = &diag;
  setup.shard = 0;
  auto op = plugin.make(setup);
  if (!op || setup.shards <= 1) return op;
  // One operator per worker, each over its share of the key slots; the first one's problems
  // (if any) are reported, the others are built from the same config.
  std::vector<std::unique_ptr<Operator>> shards;
  shards.push_back(std::move(op));
  for (std::uint32_t w = 1; w < setup.shards; ++w) {
    setup.shard = w;
    shards.push_back(plugin.make(setup));
    if (!shards.back()) return nullptr;
  }
  return std::make_unique<ShardedOperator>(std::move(shards));
}

Checkpoint Engine::Impl::take_checkpoint(CheckpointKind kind) const {
  Checkpoint cp;
  cp.kind = kind;
  cp.saved_ns = wall->now();
  std::vector<std::byte> part;
  for (std::size_t p = 0; p < pipelines.size(); ++p) {
    PipelineState state;
    state.pipeline = pipelines[p]->schema().pipeline;
    state.config_hash = recipes[p].config_hash;
    const auto* magic = reinterpret_cast<const std::byte*>(&kPipelineStateMagic);
    state.state.insert(state.state.end(), magic, magic + sizeof kPipelineStateMagic);
    part.clear();
    pipelines[p]->snapshot(part);
    put_section(state.state, part);
    part.clear();
    if (const ForwardPolicy* f = policy_of(*pipelines[p])) f->snapshot(*keys, part);
    put_section(state.state, part);
    part.clear();
    if (const ModelChain* c = chain_of(*pipelines[p])) c->snapshot(*keys, part);
    put_section(state.state, part);
    cp.pipelines.push_back(std::move(state));
  }
  return cp;
}

void Engine::Impl::restore(SavedState saved) {
  const bool crashed = saved.has_checkpoint && saved.checkpoint.kind == CheckpointKind::periodic;
  if (saved.has_checkpoint)
    std::fprintf(stderr, "vigil: restoring the %s checkpoint of %s%s\n", to_string(saved.checkpoint.kind),
                 wall_text(saved.checkpoint.saved_ns).c_str(),
                 crashed ? " (the previous run ended without saving: windows that may miss records it lost are "
                           "marked partial)"
                         : "");
  fanout.restarts.assign(pipelines.size(), Restart{});
  for (std::size_t p = 0; p < pipelines.size(); ++p) {
    const std::string& name = pipelines[p]->schema().pipeline;
    const PipelineState* found = nullptr;
    for (const auto& st : saved.checkpoint.pipelines)
      if (st.pipeline == name) found = &st;
    fanout.restarts[p].mark_lost = crashed;
    if (found == nullptr) continue;
    const std::string& where = recipes[p].setup.path;
    if (found->config_hash != recipes[p].config_hash) {
      std::fprintf(stderr, "vigil: %s (%s): the configuration changed since the checkpoint; its window state is "
                   "not restored\n", where.c_str(), name.c_str());
      continue;
    }
    std::span<const std::byte> in(found->state);
    std::span<const std::byte> op_part, policy_part, model_part;
    std::uint32_t magic = 0;
    Result<void> restored = Error{"the saved state is damaged"};
    if (in.size() >= sizeof magic) {
      std::memcpy(&magic, in.data(), sizeof magic);
      in = in.subspan(sizeof magic);
      ModelChain* chain = p < fanout.chains.size() ? fanout.chains[p].get() : nullptr;
      if (magic == kPipelineStateMagic && get_section(in, op_part) && get_section(in, policy_part) &&
          (in.empty() || get_section(in, model_part)) && in.empty() && (chain != nullptr) == !model_part.empty()) {
        restored = pipelines[p]->restore(op_part);
        if (restored && fanout.policies[p]) restored = fanout.policies[p]->restore(policy_part, *keys);
        if (restored && chain) restored = chain->restore(model_part, *keys);
      }
    }
    if (restored) {
      std::fprintf(stderr, "vigil: %s (%s): restored %zu bytes of window state\n", where.c_str(), name.c_str(),
                   found->state.size());
      continue;
    }
    // Half-restored state is worse than none: build the pipeline afresh.
    std::fprintf(stderr, "vigil: %s (%s): cannot restore the checkpoint (%s); starting with empty windows\n",
                 where.c_str(), name.c_str(), restored.error().message.c_str());
    Diagnostics diag;
    if (auto fresh = make_operator(recipes[p].setup, *recipes[p].plugin, diag)) pipelines[p] = std::move(fresh);
    fanout.policies[p] = std::make_unique<ForwardPolicy>(recipes[p].forward, limits.max_keys);
    if (p < fanout.chains.size() && fanout.chains[p]) fanout.chains[p]->clear();
  }
  // Window marks of the keys now known (restored): what was already emitted is not emitted again.
  for (const WindowMark& mark : saved.marks) {
    for (std::size_t p = 0; p < pipelines.size(); ++p) {
      if (pipelines[p]->schema().pipeline != mark.pipeline) continue;
      const auto id = keys->find(mark.key);
      if (!id) continue;
      auto& sent = fanout.restarts[p].sent;
      if (sent.empty()) sent.resize(limits.max_keys);
      sent[id->index] = Restart::Sent{id->generation, mark.last_end_ms};
    }
  }
  if (crashed) {
    fanout.first_record.assign(limits.max_keys, kMaxTime);
    track_first_records = true;
  }
  // Restored keys start their key_ttl clock now.
  for (std::uint32_t i = 0; i < limits.max_keys; ++i) {
    const KeyId id{i, keys->generation(i)};
    if (!keys->live(id)) continue;
    key_last_seen[i] = now;
    key_generation[i] = id.generation;
  }
}

void Engine::Impl::flush_pipelines(const std::vector<std::size_t>& which, FlushMode mode) {
  for (std::size_t p : which) pipelines[p]->flush(mode, *stage);
  stage->release();
}

void Engine::Impl::evict_idle_keys() {
  if (limits.key_ttl <= 0 || now < next_ttl_check) return;
  next_ttl_check = now + std::max<Nanos>(limits.key_ttl / 8, 1);
  for (std::size_t i = 0; i < key_last_seen.size(); ++i) {
    if (key_last_seen[i] == kMinTime || now - key_last_seen[i] < limits.key_ttl) continue;
    const KeyId id{static_cast<std::uint32_t>(i), key_generation[i]};
    for (auto& p : pipelines) p->evict(id, *stage);
    stage->release();
    keys->retire(id);  // the slot goes to a new key only when the table is full
    key_last_seen[i] = kMinTime;
    evicted.add();
  }
}

void Engine::Impl::dispatch(SourceIndex s, std::span<const Event> events, std::vector<bool>& ended) {
  const auto& subs = subscribers[s];
  auto forward = [&](std::span<const Event> part) {
    if (part.empty() || subs.empty()) return;
    if (subs.size() == 1) {
      observe(subs[0], part);
      pipelines[subs[0]]->process(part, fanout);
      return;
    }
    // Several pipelines read this source: go record by record so the output order does not
    // depend on how the queue happened to batch the input.
    std::size_t i = 0;
    while (i < part.size()) {
      std::size_t j = i + 1;
      if (part[i].kind == EventKind::sample)
        while (j < part.size() && part[j].kind == EventKind::sample && !(part[j].flags & kRecordBegin)) ++j;
      for (std::size_t p : subs) {
        observe(p, part.subspan(i, j - i));
        pipelines[p]->process(part.subspan(i, j - i), *stage);
      }
      stage->release();
      i = j;
    }
  };
  const bool ttl = limits.key_ttl > 0;
  const bool replay = options.mode == EngineMode::replay;
  std::size_t begin = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (e.kind == EventKind::end_of_stream) {
      forward(events.subspan(begin, i - begin));
      begin = i + 1;
      ended[s] = true;
      std::vector<std::size_t> done;
      for (std::size_t p : subs) {
        bool all = true;
        for (SourceIndex other : pipeline_sources[p]) all = all && ended[other];
        if (all) done.push_back(p);
      }
      flush_pipelines(done, FlushMode::end_of_input);
      continue;
    }
    if ((!ttl && !track_first_records) || e.kind != EventKind::sample || !(e.flags & kRecordBegin) ||
        e.key.index >= key_last_seen.size())
      continue;
    if (track_first_records && fanout.first_record[e.key.index] == kMaxTime) fanout.first_record[e.key.index] = e.time;
    if (!ttl) continue;
    if (replay && e.time > now) now = e.time;  // replay's processing clock is event time
    key_generation[e.key.index] = e.key.generation;
    key_last_seen[e.key.index] = now;
    if (replay && now >= next_ttl_check) {
      // Evict at the same record every run, whatever the batching.
      forward(events.subspan(begin, i - begin));
      begin = i;
      evict_idle_keys();
    }
  }
  forward(events.subspan(begin));
}

namespace {

// Wake-ups of the pipeline thread are coalesced to at most one per kWakeInterval: a live source
// rings the doorbell after every push, and waking a sleeping thread per MQTT message (a futex
// wake and two context switches) cost more CPU than decoding and aggregating the message. Once
// woken, the thread sleeps out the rest of the interval since the previous wake-up, so it finds
// everything that arrived meanwhile in one pop and producers ring a bell nobody waits on (no
// system call). It adds at most 1 ms of latency. It does not linger while a queue is at least
// half full, so a small queue under a blocking producer is not throttled. Steady clock, not the
// engine's clock: this is about CPU, not about the meaning of time.
constexpr auto kWakeInterval = std::chrono::milliseconds(1);

void linger_after_wake(const std::vector<std::unique_ptr<IngestQueue>>& queues,
                       std::chrono::steady_clock::time_point& last_wake) noexcept {
  const auto woke = std::chrono::steady_clock::now();
  const auto due = last_wake + kWakeInterval;
  last_wake = woke;
  if (woke >= due) return;
  for (const auto& q : queues)
    if (q->size() >= q->capacity() / 2) return;
  std::this_thread::sleep_for(due - woke);
  last_wake = due;
}

}  // namespace

Result<void> Engine::run(const std::atomic<bool>& stop, Nanos run_for) {
  Impl& m = *impl_;
  if (m.source_selected.empty()) m.source_selected.assign(m.sources.size(), true);
  std::size_t max_columns = 1;
  for (const auto& p : m.pipelines) max_columns = std::max(max_columns, p->schema().columns.size());
  m.stage = std::make_unique<SummaryBuffer>(std::max<std::size_t>(4096, m.limits.max_keys * 4), max_columns, &m.fanout);
  for (const auto& o : m.outputs) m.fanout.outputs.push_back(o.get());
  m.key_last_seen.assign(m.limits.max_keys, kMinTime);
  m.key_generation.assign(m.limits.max_keys, 0);

  for (std::size_t i = 0; i < m.outputs.size(); ++i) {
    if (auto r = m.outputs[i]->start(); !r) {
      for (std::size_t j = 0; j < i; ++j) m.outputs[j]->stop();
      return Error{"outputs." + m.output_names[i] + ": " + r.error().message};
    }
  }
  // Checkpoints (live runs only: a replay starts from its file again): restore what the last
  // run saved before any source interns a key, then save at once, so a crash from here on is
  // recognised as one.
  m.checkpointer = nullptr;
  if (m.options.mode == EngineMode::run) {
    for (const auto& o : m.outputs) {
      if (o->checkpoint_interval() <= 0) continue;
      m.checkpointer = o.get();
      m.checkpoint_interval = o->checkpoint_interval();
      break;
    }
  }
  if (m.checkpointer) {
    m.now = m.mono->now();
    m.restore(m.checkpointer->take_saved_state());
    m.checkpointer->save_checkpoint(m.take_checkpoint(CheckpointKind::periodic));
  }
  m.queues.clear();
  for (std::size_t i = 0; i < m.sources.size(); ++i)
    m.queues.push_back(std::make_unique<IngestQueue>(m.source_depth[i], m.source_overflow[i], &m.doorbell));
  std::vector<std::size_t> started;
  Result<void> failure;
  for (std::size_t i = 0; i < m.sources.size(); ++i) {
    if (!m.source_selected[i] || !m.sources[i]) continue;
    if (auto r = m.sources[i]->start(*m.queues[i]); !r) {
      failure = Error{m.source_setups[i].path + " (" + m.source_setups[i].name + "): " + r.error().message};
      break;
    }
    started.push_back(i);
  }

  const bool live = m.options.mode != EngineMode::replay;
  const Nanos tick_interval = 100 * kNanosPerMilli;
  const Nanos start = m.mono->now();
  Nanos last_tick = start;
  Nanos last_checkpoint = start;
  auto last_wake = std::chrono::steady_clock::now();
  std::vector<Event> buffer(m.limits.batch_size);
  std::vector<bool> ended(m.sources.size(), false);
  std::vector<std::size_t> all_pipelines;
  for (std::size_t p = 0; p < m.pipelines.size(); ++p) all_pipelines.push_back(p);

  while (failure.ok() && !stop.load(std::memory_order_relaxed)) {
    m.loop_turns.fetch_add(1, std::memory_order_relaxed);
    if (run_for > 0 && m.mono->now() - start >= run_for) break;
    bool any = false;
    if (live) m.now = m.mono->now();
    for (std::size_t s : started) {
      std::size_t n = m.queues[s]->pop(buffer);
      if (n == 0) continue;
      any = true;
      m.apply_transforms(s, buffer.data(), n);
      m.dispatch(static_cast<SourceIndex>(s), {buffer.data(), n}, ended);
    }
    if (!any) {
      bool all_ended = true;
      for (std::size_t s : started) all_ended = all_ended && ended[s];
      if (all_ended && (!live || started.empty())) break;
    }
    if (live) {
      Nanos now = m.mono->now();
      if (now - last_tick >= tick_interval) {
        Event tick;
        tick.kind = EventKind::tick;
        tick.time = now;
        for (auto& p : m.pipelines) p->process({&tick, 1}, *m.stage);
        m.stage->release();
        last_tick = now;
      }
      if (m.checkpointer && now - last_checkpoint >= m.checkpoint_interval) {
        m.checkpointer->save_checkpoint(m.take_checkpoint(CheckpointKind::periodic));
        last_checkpoint = now;
      }
    }
    if (live) m.evict_idle_keys();
    if (!any) {
      m.doorbell.wait_for(live ? tick_interval : kNanosPerMilli);
      if (live) linger_after_wake(m.queues, last_wake);
    }
  }

  // Stop the producers first so nothing new arrives, then drain what they queued.
  for (auto& q : m.queues) q->close();
  for (std::size_t s : started) m.sources[s]->stop();
  for (std::size_t s : started) {
    std::size_t n;
    while ((n = m.queues[s]->pop(buffer)) > 0) {
      m.apply_transforms(s, buffer.data(), n);
      m.dispatch(static_cast<SourceIndex>(s), {buffer.data(), n}, ended);
    }
  }
  std::vector<std::size_t> open;
  for (std::size_t p = 0; p < m.pipelines.size(); ++p) {
    bool all = true;
    for (SourceIndex s : m.pipeline_sources[p]) all = all && ended[s];
    if (!all) open.push_back(p);
  }
  if (m.checkpointer) {
    // Open windows are saved, not flushed: the next start goes on with them.
    m.checkpointer->save_checkpoint(m.take_checkpoint(CheckpointKind::shutdown));
  } else {
    m.flush_pipelines(open, FlushMode::shutdown);
  }
  for (auto& o : m.outputs) o->stop();
  return failure;
}

std::string Engine::stats_json() const {
  const Impl& m = *impl_;
  std::string out = "{\"gateway\":";
  append_json_string(m.gateway, out);
  out += ",\"sources\":[";
  for (std::size_t i = 0; i < m.sources.size(); ++i) {
    if (i) out += ',';
    out += "{\"name\":";
    append_json_string(m.source_setups[i].name, out);
    if (m.sources[i]) {
      const auto& c = m.sources[i]->counters();
      out += ",\"records\":" + std::to_string(c.records.get());
      out += ",\"bytes\":" + std::to_string(c.bytes.get());
      out += ",\"malformed\":" + std::to_string(c.malformed.get());
      out += ",\"unknown_key\":" + std::to_string(c.unknown_key.get());
      out += ",\"future\":" + std::to_string(c.future.get());
      out += ",\"dead_letters\":" + std::to_string(c.dead_letters.get());
    }
    if (i < m.queues.size()) {
      out += ",\"queue_dropped\":" + std::to_string(m.queues[i]->dropped());
      out += ",\"queue_high_water\":" + std::to_string(m.queues[i]->high_water());
    }
    out += '}';
  }
  out += "],\"pipelines\":[";
  for (std::size_t i = 0; i < m.pipelines.size(); ++i) {
    if (i) out += ',';
    const auto& c = m.pipelines[i]->counters();
    out += "{\"name\":";
    append_json_string(m.pipelines[i]->schema().pipeline, out);
    out += ",\"records\":" + std::to_string(c.records.get());
    out += ",\"late\":" + std::to_string(c.late.get());
    out += ",\"late_emitted\":" + std::to_string(c.late_emitted.get());
    out += ",\"windows\":" + std::to_string(c.windows.get());
    out += ",\"partial\":" + std::to_string(c.partial.get());
    out += ",\"key_overflow\":" + std::to_string(c.key_overflow.get());
    out += ",\"stale\":" + std::to_string(c.stale.get());
    out += ",\"incomplete\":" + std::to_string(c.incomplete.get());
    out += ",\"truncated\":" + std::to_string(c.truncated.get());
    out += ",\"state_bytes\":" + std::to_string(m.pipelines[i]->state_bytes());
    if (const ForwardPolicy* f = m.policy_of(*m.pipelines[i])) {
      out += ",\"forwarded\":" + std::to_string(f->counters().forwarded.get());
      out += ",\"held\":" + std::to_string(f->counters().held.get());
      out += ",\"alarms_raised\":" + std::to_string(f->counters().alarms_raised.get());
      out += ",\"alarms_cleared\":" + std::to_string(f->counters().alarms_cleared.get());
    }
    if (const ModelChain* chain = m.chain_of(*m.pipelines[i])) {
      out += ",\"model_scored\":" + std::to_string(chain->counters().scored.get());
      out += ",\"model_learning\":" + std::to_string(chain->counters().learning.get());
      out += ",\"model_skipped\":" + std::to_string(chain->counters().skipped.get());
      out += ",\"model_unfit\":" + std::to_string(chain->counters().unfit.get());
      out += ",\"model_raw_truncated\":" + std::to_string(chain->counters().raw_truncated.get());
      out += ",\"model_state_bytes\":" + std::to_string(chain->state_bytes());
    }
    out += '}';
  }
  const ForwardTotals t = m.forward_totals();
  out += "],\"evicted_keys\":" + std::to_string(m.evicted.get());
  out += ",\"summaries\":" + std::to_string(m.fanout.emitted.get());
  out += ",\"not_emitted_again\":" + std::to_string(m.fanout.suppressed.get());
  out += ",\"partial_after_crash\":" + std::to_string(m.fanout.restored_partial.get());
  out += ",\"forwarded\":" + std::to_string(t.forwarded);
  out += ",\"held\":" + std::to_string(t.held);
  out += ",\"bytes_in\":" + std::to_string(t.bytes_in);
  out += ",\"bytes_forwarded\":" + std::to_string(t.bytes_forwarded) + "}";
  return out;
}

std::string Engine::stats_text() const {
  const Impl& m = *impl_;
  std::string out;
  for (std::size_t i = 0; i < m.sources.size(); ++i) {
    if (!m.sources[i] || (!m.source_selected.empty() && !m.source_selected[i])) continue;
    const auto& c = m.sources[i]->counters();
    out += "source " + m.source_setups[i].name + ": " + std::to_string(c.records.get()) + " records, " +
           std::to_string(c.malformed.get()) + " malformed (" + std::to_string(c.dead_letters.get()) +
           " kept as dead letters), " + std::to_string(c.unknown_key.get()) +
           " over max_keys, " + std::to_string(c.future.get()) + " too far in the future, " +
           std::to_string(i < m.queues.size() ? m.queues[i]->dropped() : 0) + " dropped (queue full)\n";
  }
  for (const auto& p : m.pipelines) {
    const auto& c = p->counters();
    out += "pipeline " + p->schema().pipeline + ": " + std::to_string(c.records.get()) + " records, " +
           std::to_string(c.windows.get()) + " windows emitted (" + std::to_string(c.partial.get()) +
           " partial), " + std::to_string(c.late.get()) + " late, " + std::to_string(c.key_overflow.get()) +
           " over key capacity\n";
    if (const ModelChain* ch = m.chain_of(*p))
      out += "models " + p->schema().pipeline + ": " + std::to_string(ch->counters().scored.get()) + " scored, " +
             std::to_string(ch->counters().learning.get()) + " learning, " +
             std::to_string(ch->counters().skipped.get()) + " skipped (late or a NaN feature), " +
             std::to_string(ch->counters().unfit.get()) + " unfit, " +
             std::to_string(ch->counters().raw_truncated.get()) + " with raw samples lost to a full ring; " +
             std::to_string(ch->state_bytes()) +
             " bytes of model state\n";
  }
  for (const auto& o : m.outputs) out += o->stats() + "\n";
  if (m.fanout.suppressed.get() > 0 || m.fanout.restored_partial.get() > 0)
    out += "restart: " + std::to_string(m.fanout.suppressed.get()) +
           " summaries already emitted before the restart not emitted again, " +
           std::to_string(m.fanout.restored_partial.get()) + " marked partial (records lost in a crash)\n";
  const ForwardTotals t = m.forward_totals();
  out += "forward: " + std::to_string(t.forwarded) + " summaries selected for upstream, " + std::to_string(t.held) +
         " kept local only; " + std::to_string(t.bytes_in) + " bytes in (raw source payloads), " +
         std::to_string(t.bytes_forwarded) + " bytes forwarded (payloads published upstream)";
  if (t.bytes_in > 0 && t.bytes_forwarded > 0) {
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.1f", static_cast<double>(t.bytes_in) / static_cast<double>(t.bytes_forwarded));
    out += std::string(" (") + ratio + ":1)";
  }
  out += "\n";
  return out;
}

}  // namespace vigil::runtime
