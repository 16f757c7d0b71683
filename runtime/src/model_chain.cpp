#include "vigil/runtime/model_chain.hpp"

#include "vigil/runtime/zeroed_array.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>

namespace vigil::runtime {
namespace {

constexpr ConfigKey kBaselineKeys[] = {
    {"learn", KeyType::integer, Required::yes, {},
     "Learn each key's baseline from its first N feature vectors (windows), then freeze it and fit the model.",
     2, 1'000'000},
};
constexpr ConfigKey kModelCommonKeys[] = {
    {"type", KeyType::string, Required::yes, {}, "Model type: pca_anomaly, mahalanobis, ewma, cusum, rul or spectrum."},
    {"baseline", KeyType::object, Required::no, {},
     "`{learn: N}`: learn each key's in-control baseline on the device. A model has `baseline` or `file`: ewma and "
     "cusum only `baseline`, rul only `file`, spectrum neither.",
     kNoMin, kNoMax, {}, kBaselineKeys},
    {"file", KeyType::string, Required::no, {},
     "Model file written by `vigil train` (relative to the config file's folder): a baseline trained on a laptop, "
     "shared by every key, or a rul model. Loading checks its type and feature names against this block."},
    {"as", KeyType::string, Required::no, {},
     "Prefix of this model's output columns (`as: vib` gives vib_anomaly); needed when two models of the chain "
     "would write the same column."},
};

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::uint32_t kChainMagic = 0x564d4331;  // "VMC1"

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

std::string mib(double bytes) {
  if (bytes < 1024.0 * 1024.0) return std::to_string(static_cast<long long>(bytes / 1024.0 + 0.5)) + " KiB";
  return std::to_string(static_cast<long long>(bytes / (1024.0 * 1024.0) + 0.5)) + " MiB";
}

std::string column_list(const std::vector<std::string>& columns) {
  std::string out;
  for (const auto& c : columns) out += (out.empty() ? "" : ", ") + c;
  return out.empty() ? "(none)" : out;
}

bool declares(std::span<const ConfigKey> keys, std::string_view name) {
  return std::any_of(keys.begin(), keys.end(), [&](const ConfigKey& k) { return k.name == name; });
}

}  // namespace

std::span<const ConfigKey> model_common_keys() noexcept { return kModelCommonKeys; }

ModelStatus Model::score_samples(std::uint32_t, std::span<const double>, std::span<double>) noexcept {
  return ModelStatus::unfit;
}

Result<std::string> Model::train(const TrainingData&, const std::string&) {
  return Error{"this model type cannot be trained from a file"};
}

// The last `capacity` raw values of one field per key slot, in arrival order, for a raw-sample
// model. Fixed memory (max_keys x capacity samples, resident only where written).
struct ModelChain::RawRing {
  struct Sample {
    Nanos time;
    double value;
  };
  struct Slot {
    std::uint64_t head;        // samples ever pushed since the slot's key started
    std::uint32_t generation;  // of the key the samples belong to
    std::uint8_t used;
    std::uint8_t lost;         // lost_until is set: samples up to it may be missing
    Nanos lost_until;
  };
  FieldId field = kNoField;
  std::size_t capacity = 0;
  bool restored = false;  // after a restore: samples before each key's first new one are gone
  ZeroedArray<Sample> samples;
  ZeroedArray<Slot> slots;

  void push(KeyId key, Nanos t, double v) noexcept {
    if (key.index >= slots.size()) return;
    Slot& sl = slots[key.index];
    if (!sl.used || sl.generation != key.generation) {
      sl = Slot{0, key.generation, 1, static_cast<std::uint8_t>(restored ? 1 : 0), t - 1};
    }
    Sample& at = samples[key.index * capacity + sl.head % capacity];
    if (sl.head >= capacity && (!sl.lost || at.time > sl.lost_until)) {
      sl.lost = 1;
      sl.lost_until = at.time;
    }
    at = Sample{t, v};
    ++sl.head;
  }

  // Values of `key` with start <= t < end (then at t == end while fewer than `records`), oldest
  // first, into `out`; `truncated` when the ring may have dropped some of them.
  std::size_t gather(KeyId key, Nanos start, Nanos end, std::uint64_t records, std::span<double> out,
                     bool& truncated) const noexcept {
    truncated = false;
    if (key.index >= slots.size()) return 0;
    const Slot& sl = slots[key.index];
    if (!sl.used || sl.generation != key.generation) return 0;
    truncated = sl.lost && sl.lost_until >= start;
    const std::uint64_t n = std::min<std::uint64_t>(sl.head, capacity);
    const Sample* base = samples.data() + key.index * capacity;
    std::size_t got = 0;
    for (std::uint64_t i = sl.head - n; i < sl.head && got < out.size(); ++i) {
      const Sample& x = base[i % capacity];
      if (x.time >= start && x.time < end) out[got++] = x.value;
    }
    for (std::uint64_t i = sl.head - n; i < sl.head && got < out.size() && got < records; ++i) {
      const Sample& x = base[i % capacity];
      if (x.time == end && end > start) out[got++] = x.value;
    }
    return got;
  }
};

struct ModelChain::Stage {
  std::string type;
  std::unique_ptr<Model> model;
  RawRing* ring = nullptr;            // raw-sample models
  std::vector<std::uint16_t> inputs;  // column indices into values_
  std::size_t first_output = 0;       // index into values_
  std::size_t outputs = 0;
};

ModelChain::ModelChain() = default;
ModelChain::~ModelChain() = default;

namespace {

// One model block, checked and resolved into what its factory needs; nothing allocated yet.
struct PendingModel {
  const ModelPlugin* plugin = nullptr;
  std::vector<ConfigKey> keys;  // the common keys, then the type's; setup.block points into them
  ModelSetup setup;
  std::size_t outputs = 0;
  std::vector<std::uint16_t> inputs;
  std::size_t first_output = 0;
  FieldId raw_field = kNoField;
  std::size_t raw_capacity = 0;
};

// A checked chain: its models, every column (the window's, then each model's outputs) and the
// state the models take per key slot.
struct ChainPlan {
  std::vector<PendingModel> models;
  std::vector<std::string> columns;
  std::size_t key_bytes = 0;
};

// The model blocks of `node`: the map itself or the items of a non-empty list; none after an
// error otherwise.
std::vector<const ConfigNode*> model_blocks(const ConfigNode& node, const std::string& path, const Registry& registry,
                                            Diagnostics& diag) {
  std::vector<const ConfigNode*> items;
  if (node.is_map()) {
    items.push_back(&node);
  } else if (node.is_sequence() && !node.items.empty()) {
    for (const auto& item : node.items) items.push_back(&item);
  } else {
    diag.error(node.mark, path + ".model",
               "expected a model map such as {type: pca_anomaly, baseline: {learn: 400}} or a list of them "
               "(a chain); model types: " + registry.model_names());
  }
  return items;
}

// The plugin that the `type:` of model block `item` names; nullptr after an error.
const ModelPlugin* model_plugin(const ConfigNode& item, const std::string& where, const Registry& registry,
                                Diagnostics& diag) {
  if (!item.is_map()) {
    diag.error(item.mark, where, "expected a model map such as {type: pca_anomaly, baseline: {learn: 400}}");
    return nullptr;
  }
  const ConfigNode* type = item.find("type");
  if (!type || !type->is_scalar()) {
    diag.error(item.mark, where, "missing key \"type\"; model types: " + registry.model_names());
    return nullptr;
  }
  const ModelPlugin* plugin = registry.model(type->scalar);
  if (!plugin) {
    diag.error(type->mark, where + ".type",
               "unknown model type \"" + type->scalar + "\"; model types: " + registry.model_names());
  }
  return plugin;
}

// Whether block `b` takes its model from where its type allows (baseline, file or neither);
// reports the first rule it breaks otherwise.
bool check_model_source(const ModelPlugin& plugin, const Block& b, const ConfigNode& item, const std::string& where,
                        Diagnostics& diag) {
  const bool learns = b.has("baseline"), from_file = b.has("file");
  const std::string type_name(plugin.name);
  if (plugin.sources == kStateless && (learns || from_file)) {
    diag.error(b.node(learns ? "baseline" : "file")->mark, where + (learns ? ".baseline" : ".file"),
               "a " + type_name + " model has nothing to learn; remove " + (learns ? "baseline" : "file"));
    return false;
  }
  if (learns && from_file) {
    diag.error(b.node("file")->mark, where + ".file", "give baseline or file, not both");
    return false;
  }
  if (plugin.sources != kStateless && !learns && !from_file) {
    diag.error(item.mark, where,
               (plugin.sources & kLearnsOnDevice)
                   ? "missing key \"baseline\" (such as {learn: 400}: learn each key's baseline on the device)" +
                         std::string((plugin.sources & kFromFile) ? " or \"file\" (a model file from vigil train)"
                                                                   : "")
                   : "missing key \"file\": a " + type_name + " model is trained with vigil train and loaded from its file");
    return false;
  }
  if (learns && !(plugin.sources & kLearnsOnDevice)) {
    diag.error(b.node("baseline")->mark, where + ".baseline",
               "a " + type_name + " model does not learn on the device; train it with vigil train and give its file:");
    return false;
  }
  if (from_file && !(plugin.sources & kFromFile)) {
    diag.error(b.node("file")->mark, where + ".file",
               std::string(type_name.front() == 'e' ? "an " : "a ") + type_name +
                   " model learns on the device only; use baseline: {learn: N}");
    return false;
  }
  return true;
}

// What model `p` reads: a source field's raw values, or the columns before it (`columns`, the
// first `window_columns` of them the window's) that its `feature:` or `features:` name, by
// default every window column. Names that are not such columns are reported.
void resolve_inputs(PendingModel& p, const Block& b, const ConfigNode& item, const std::string& where,
                    const std::vector<std::string>& columns, std::size_t window_columns, const FieldTable* fields,
                    Diagnostics& diag) {
  const ModelPlugin& plugin = *p.plugin;
  std::vector<const ConfigNode*> names;
  if (plugin.raw_samples) {
    const std::string field = b.string("field");
    p.raw_field = fields ? fields->find(field) : kNoField;
    p.raw_capacity = static_cast<std::size_t>(b.integer("max_samples"));
    if (p.raw_field == kNoField)
      diag.error(b.node("field")->mark, where + ".field",
                 "\"" + field + "\" is not a field of any source; a " + std::string(plugin.name) +
                     " model reads a source field's raw values (such as vib), not a summary column");
  } else if (declares(plugin.keys, "feature")) {
    names.push_back(b.node("feature"));
  } else if (const ConfigNode* list = b.node("features")) {
    if (list->is_scalar()) names.push_back(list);
    for (const auto& f : list->items) names.push_back(&f);
    if (names.empty()) diag.error(list->mark, where + ".features", "lists no column; columns: " + column_list(columns));
  } else {
    // Default: every column of the window (count is not a column).
    for (std::size_t c = 0; c < window_columns; ++c) p.inputs.push_back(static_cast<std::uint16_t>(c));
    if (p.inputs.empty())
      diag.error(item.mark, where, "the window has no aggregate column to use as a feature; add aggregates such as mean(vib)");
  }
  for (const ConfigNode* n : names) {
    if (!n || !n->is_scalar()) continue;
    const auto it = std::find(columns.begin(), columns.end(), n->scalar);
    if (it == columns.end()) {
      diag.error(n->mark, where + (declares(plugin.keys, "feature") ? ".feature" : ".features"),
                 "\"" + n->scalar + "\" is not a column of this pipeline's summaries here; columns: " +
                     column_list(columns));
      continue;
    }
    const auto index = static_cast<std::uint16_t>(it - columns.begin());
    if (std::find(p.inputs.begin(), p.inputs.end(), index) != p.inputs.end()) {
      diag.error(n->mark, where + ".features", "\"" + n->scalar + "\" is listed twice");
      continue;
    }
    p.inputs.push_back(index);
  }
}

// Appends model `p`'s output columns, with the `as:` prefix, to `columns`. A column name may be
// written once: one already there is reported with what wrote it (`written_by`, per column;
// empty: the window).
void add_outputs(PendingModel& p, const Block& b, const ConfigNode& item, const std::string& where,
                 std::vector<std::string>& columns, std::vector<std::string>& written_by, Diagnostics& diag) {
  const std::string prefix = b.has("as") ? b.string("as") + "_" : "";
  if (b.has("as") && b.string("as").empty())
    diag.error(b.node("as")->mark, where + ".as", "must not be empty; use a short name such as vib");
  p.first_output = columns.size();
  std::vector<std::string> outputs(p.plugin->outputs.begin(), p.plugin->outputs.end());
  if (p.plugin->outputs_of) outputs = p.plugin->outputs_of(b);
  p.outputs = outputs.size();
  for (const std::string& out : outputs) {
    const std::string name = prefix + out;
    const auto it = std::find(columns.begin(), columns.end(), name);
    if (it != columns.end()) {
      const std::string& owner = written_by[static_cast<std::size_t>(it - columns.begin())];
      const ConfigNode* as = b.node("as");
      diag.error(as ? as->mark : item.mark, where,
                 "output column \"" + name + "\" is already a column of this pipeline (" +
                     (owner.empty() ? std::string("an aggregate") : "written by " + owner) +
                     "); give this model a different `as:` prefix");
      continue;
    }
    columns.push_back(name);
    written_by.push_back(where);
  }
}

// What the factory of model `p` (block `b`, inputs resolved) is given.
ModelSetup model_setup(const PendingModel& p, const Block& b, const std::string& where,
                       const std::vector<std::string>& columns, const Limits& limits, const std::string& config_dir,
                       Diagnostics& diag) {
  ModelSetup setup;
  setup.features = p.inputs.size();
  for (std::uint16_t c : p.inputs) setup.feature_names.push_back(columns[c]);
  setup.learn = b.has("baseline") ? static_cast<std::size_t>(b.child("baseline").integer("learn")) : 0;
  if (b.has("file")) {
    const std::filesystem::path f(b.string("file"));
    setup.file = (f.is_absolute() || config_dir.empty() ? f : std::filesystem::path(config_dir) / f)
                     .lexically_normal()
                     .string();
  }
  setup.max_keys = limits.max_keys;
  setup.path = where;
  setup.diag = &diag;
  setup.block = b;
  return setup;
}

// The validating step: each model block of `items` checked and resolved against the window's
// columns and the outputs of the models before it. Every problem goes into `diag`; the plan is
// usable only when none was added.
ChainPlan plan_chain(const ConfigNode& node, const std::vector<const ConfigNode*>& items,
                     const std::vector<std::string>& window_columns, const Registry& registry, const Limits& limits,
                     const std::string& path, Diagnostics& diag, const std::string& config_dir,
                     const FieldTable* fields) {
  ChainPlan plan;
  plan.columns = window_columns;
  // Column name -> which model wrote it (empty: the window), for duplicate messages.
  std::vector<std::string> written_by(window_columns.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const ConfigNode& item = *items[i];
    const std::string where = path + ".model" + (node.is_sequence() ? "[" + std::to_string(i) + "]" : "");
    const ModelPlugin* plugin = model_plugin(item, where, registry, diag);
    if (!plugin) continue;
    PendingModel p;
    p.plugin = plugin;
    p.keys.assign(std::begin(kModelCommonKeys), std::end(kModelCommonKeys));
    p.keys.insert(p.keys.end(), plugin->keys.begin(), plugin->keys.end());
    const std::size_t at = diag.lines().size();
    validate_block(item, p.keys, where, diag);
    if (diag.lines().size() != at) continue;
    Block b(&item, p.keys);
    if (!check_model_source(*plugin, b, item, where, diag)) continue;
    resolve_inputs(p, b, item, where, plan.columns, window_columns.size(), fields, diag);
    add_outputs(p, b, item, where, plan.columns, written_by, diag);
    p.setup = model_setup(p, b, where, plan.columns, limits, config_dir, diag);
    if (diag.lines().size() == at) plan.key_bytes += plugin->key_bytes(p.setup);
    plan.models.push_back(std::move(p));
  }
  return plan;
}

// Whether the models' state, `key_bytes` per key slot for limits.max_keys slots, fits in
// limits.max_state together with the window's `window_state_bytes`; reported otherwise.
bool fits_state_budget(std::size_t key_bytes, const Limits& limits, std::size_t window_state_bytes,
                       const ConfigNode& node, const std::string& path, Diagnostics& diag) {
  const double per_slot = static_cast<double>(key_bytes + sizeof(std::uint32_t) + 1);
  const double models = per_slot * static_cast<double>(limits.max_keys);
  const double total = models + static_cast<double>(window_state_bytes);
  if (total <= static_cast<double>(limits.max_state)) return true;
  diag.error(node.mark, path + ".model",
             "the models need " + mib(models) + " of state (" + std::to_string(key_bytes) +
                 " bytes per key) for limits.max_keys = " + std::to_string(limits.max_keys) +
                 "; with the window's " + mib(static_cast<double>(window_state_bytes)) +
                 " that is more than limits.max_state (" + mib(static_cast<double>(limits.max_state)) +
                 "); lower max_keys or the number of features, or raise max_state");
  return false;
}

// `vigil train`: the model to train, train.stage (when not given, the one model with a file),
// set up for training and described in `train`; false after an error.
bool choose_train_stage(std::vector<PendingModel>& models, TrainTarget& train, const ConfigNode& node,
                        const std::string& path, Diagnostics& diag) {
  if (train.stage == static_cast<std::size_t>(-1)) {
    for (std::size_t i = 0; i < models.size(); ++i)
      if (!models[i].setup.file.empty()) {
        if (train.stage != static_cast<std::size_t>(-1)) {
          diag.error(node.mark, path + ".model",
                     "more than one model has a file; name the one to train with --model INDEX");
          return false;
        }
        train.stage = i;
      }
  }
  if (train.stage >= models.size() || models[train.stage].setup.file.empty()) {
    const bool asked = train.stage != static_cast<std::size_t>(-1);
    diag.error(node.mark, path + ".model",
               !asked ? std::string("has no model with a file to train; add file: NAME.vgm to the model to train")
               : train.stage >= models.size()
                   ? "has no model " + std::to_string(train.stage) + " (--model counts from 0; the chain has " +
                         std::to_string(models.size()) + ")"
                   : "model " + std::to_string(train.stage) + " has no file to train; add file: NAME.vgm to it");
    return false;
  }
  ModelSetup& setup = models[train.stage].setup;
  setup.train = true;
  train.path = setup.path;
  train.file = setup.file;
  train.data.cols = setup.features;
  return true;
}

}  // namespace

std::unique_ptr<ModelChain> ModelChain::build(const ConfigNode& node, const SummarySchema& schema,
                                              const Registry& registry, const Limits& limits,
                                              std::size_t window_state_bytes, const std::string& path,
                                              Diagnostics& diag, const std::string& config_dir, TrainTarget* train,
                                              const FieldTable* fields) {
  const std::size_t before = diag.lines().size();
  const std::vector<const ConfigNode*> items = model_blocks(node, path, registry, diag);
  if (items.empty()) return nullptr;
  ChainPlan plan = plan_chain(node, items, schema.columns, registry, limits, path, diag, config_dir, fields);
  if (diag.lines().size() != before) return nullptr;
  // State budget, before anything is allocated: the window's and the models' together.
  if (!fits_state_budget(plan.key_bytes, limits, window_state_bytes, node, path, diag)) return nullptr;
  if (train && !choose_train_stage(plan.models, *train, node, path, diag)) return nullptr;

  // The building step: every model made and its raw ring allocated, then the chain's buffers.
  std::unique_ptr<ModelChain> chain(new ModelChain());
  chain->schema_ = schema;
  chain->schema_.columns = std::move(plan.columns);
  chain->window_columns_ = schema.columns.size();
  if (train) {
    chain->train_ = train;
    chain->train_stage_ = train->stage;
  }
  std::size_t widest = 0;
  for (auto& p : plan.models) {
    Stage st;
    st.type = std::string(p.plugin->name);
    st.inputs = std::move(p.inputs);
    st.first_output = p.first_output;
    st.outputs = p.outputs;
    if (p.raw_field != kNoField) {
      auto ring = std::make_unique<RawRing>();
      ring->field = p.raw_field;
      ring->capacity = p.raw_capacity;
      ring->samples.reset(limits.max_keys * p.raw_capacity);
      ring->slots.reset(limits.max_keys);
      st.ring = ring.get();
      widest = std::max(widest, p.raw_capacity);
      chain->rings_.push_back(std::move(ring));
    }
    // The Block points into `p.keys`, which lives until the factory returns.
    st.model = p.plugin->make(p.setup);
    if (!st.model) {
      if (diag.lines().size() == before) diag.error(node.mark, p.setup.path, "could not be set up");
      return nullptr;
    }
    widest = std::max(widest, st.inputs.size());
    chain->stages_.push_back(std::move(st));
  }
  if (train) train->model = chain->stages_[train->stage].model.get();
  chain->values_.assign(chain->schema_.columns.size(), kNaN);
  chain->x_.assign(std::max<std::size_t>(widest, 1), 0.0);
  chain->generation_.assign(limits.max_keys, 0);
  chain->seen_.assign(limits.max_keys, 0);
  return chain;
}

void ModelChain::apply(Summary& s) noexcept {
  const std::size_t n = std::min(s.values.size(), window_columns_);
  std::copy_n(s.values.data(), n, values_.data());
  std::fill(values_.begin() + static_cast<std::ptrdiff_t>(n), values_.end(), kNaN);
  s.values = values_;
  s.schema = &schema_;
  const std::uint32_t slot = s.key.index;
  if ((s.flags & kLate) || slot >= seen_.size()) {
    counters_.skipped.add();
    return;
  }
  if (!seen_[slot] || generation_[slot] != s.key.generation) {
    if (seen_[slot])
      for (auto& st : stages_) st.model->reset(slot);
    seen_[slot] = 1;
    generation_[slot] = s.key.generation;
  }
  bool learning = false, skipped = false, unfit = false;
  for (std::size_t k = 0; k < stages_.size(); ++k) {
    Stage& st = stages_[k];
    if (st.ring) {
      bool truncated = false;
      const std::size_t got = st.ring->gather(s.key, s.start, s.end, s.count, x_, truncated);
      if (truncated) counters_.raw_truncated.add();
      if (truncated || got < 2) {
        skipped = true;
        continue;
      }
      const ModelStatus status =
          st.model->score_samples(slot, {x_.data(), got}, {values_.data() + st.first_output, st.outputs});
      unfit = unfit || status == ModelStatus::unfit;
      continue;
    }
    bool finite = true;
    for (std::size_t i = 0; i < st.inputs.size(); ++i) {
      x_[i] = values_[st.inputs[i]];
      finite = finite && std::isfinite(x_[i]);
    }
    if (!finite) {
      skipped = true;  // outputs stay NaN; the key's state does not move
      continue;
    }
    if (train_ && k == train_stage_) {
      collect(s, st.inputs.size());
      learning = true;
      break;  // later models would read this one's outputs
    }
    const ModelStatus status = st.model->score(slot, {x_.data(), st.inputs.size()},
                                               {values_.data() + st.first_output, st.outputs});
    learning = learning || status == ModelStatus::learning;
    unfit = unfit || status == ModelStatus::unfit;
  }
  if (skipped) counters_.skipped.add();
  else if (learning) counters_.learning.add();
  else if (unfit) counters_.unfit.add();
  else counters_.scored.add();
}

void ModelChain::observe(std::span<const Event> events) noexcept {
  if (rings_.empty()) return;
  for (const Event& e : events) {
    if (e.kind != EventKind::sample) continue;
    for (auto& r : rings_)
      if (r->field == e.field) r->push(e.key, e.time, e.value);
  }
}

void ModelChain::collect(const Summary& s, std::size_t cols) noexcept {
  TrainingData& d = train_->data;
  try {
    const auto [it, added] = train_keys_.try_emplace(std::string(s.key_name), static_cast<std::uint32_t>(d.keys.size()));
    if (added) d.keys.emplace_back(s.key_name);
    d.key_of_row.push_back(it->second);
    d.end.push_back(s.end);
    d.values.insert(d.values.end(), x_.begin(), x_.begin() + static_cast<std::ptrdiff_t>(cols));
  } catch (...) {
    std::fprintf(stderr, "vigil: out of memory while collecting training vectors\n");
    std::abort();
  }
}

std::size_t ModelChain::state_bytes() const noexcept {
  std::size_t bytes = generation_.size() * sizeof(std::uint32_t) + seen_.size();
  for (const auto& st : stages_) bytes += st.model->state_bytes();
  for (const auto& r : rings_)
    bytes += r->samples.size() * sizeof(RawRing::Sample) + r->slots.size() * sizeof(RawRing::Slot);
  return bytes;
}

void ModelChain::snapshot(const KeyTable& keys, std::vector<std::byte>& out) const {
  put(out, kChainMagic);
  put(out, static_cast<std::uint16_t>(stages_.size()));
  for (const auto& st : stages_) {
    put(out, static_cast<std::uint16_t>(st.type.size()));
    const auto* p = reinterpret_cast<const std::byte*>(st.type.data());
    out.insert(out.end(), p, p + st.type.size());
  }
  const auto current = [&](std::size_t i) {
    return seen_[i] && keys.live(KeyId{static_cast<std::uint32_t>(i), generation_[i]});
  };
  std::uint64_t live = 0;
  for (std::size_t i = 0; i < seen_.size(); ++i) live += current(i) ? 1 : 0;
  put(out, live);
  std::vector<std::byte> part;
  for (std::size_t i = 0; i < seen_.size(); ++i) {
    if (!current(i)) continue;
    const std::string_view name = keys.name(KeyId{static_cast<std::uint32_t>(i), generation_[i]});
    put(out, static_cast<std::uint16_t>(name.size()));
    const auto* p = reinterpret_cast<const std::byte*>(name.data());
    out.insert(out.end(), p, p + name.size());
    for (const auto& st : stages_) {
      part.clear();
      st.model->snapshot(static_cast<std::uint32_t>(i), part);
      put(out, static_cast<std::uint64_t>(part.size()));
      out.insert(out.end(), part.begin(), part.end());
    }
  }
}

Result<void> ModelChain::restore(std::span<const std::byte> in, KeyTable& keys) {
  const Error bad{"model state does not match this pipeline's model: block"};
  // Raw samples are not in checkpoints: windows open at the restart lack their earlier samples.
  for (auto& r : rings_) {
    r->restored = true;
    for (auto& sl : r->slots) sl.used = 0;
  }
  std::uint32_t magic = 0;
  std::uint16_t stages = 0;
  if (!get(in, magic) || magic != kChainMagic || !get(in, stages) || stages != stages_.size()) return bad;
  for (const auto& st : stages_) {
    std::uint16_t size = 0;
    if (!get(in, size) || in.size() < size) return bad;
    if (std::string_view(reinterpret_cast<const char*>(in.data()), size) != st.type) return bad;
    in = in.subspan(size);
  }
  std::uint64_t live = 0;
  if (!get(in, live)) return bad;
  for (std::uint64_t k = 0; k < live; ++k) {
    std::uint16_t size = 0;
    if (!get(in, size) || in.size() < size) return bad;
    const std::string_view name(reinterpret_cast<const char*>(in.data()), size);
    in = in.subspan(size);
    auto id = keys.intern(name);
    if (!id) return Error{"model state holds more keys than limits.max_keys"};
    if (id->index >= seen_.size()) return bad;
    for (auto& st : stages_) {
      std::uint64_t part = 0;
      if (!get(in, part) || part > in.size()) return bad;
      if (auto r = st.model->restore(id->index, in.first(static_cast<std::size_t>(part))); !r) return r;
      in = in.subspan(static_cast<std::size_t>(part));
    }
    seen_[id->index] = 1;
    generation_[id->index] = id->generation;
  }
  if (!in.empty()) return bad;
  return ok();
}

void ModelChain::clear() noexcept {
  for (std::uint32_t slot = 0; slot < seen_.size(); ++slot) {
    if (!seen_[slot]) continue;
    for (auto& st : stages_) st.model->reset(slot);
    seen_[slot] = 0;
  }
}

}  // namespace vigil::runtime
