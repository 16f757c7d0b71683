#include "window_harness.hpp"

#include "vigil/runtime/sharded_operator.hpp"

#include <catch2/catch.hpp>

namespace vigil::operators {
// Declared in vigil/operators/operators.hpp. The support library depends on runtime only; the
// test binaries that use this harness link vigil::operators, which defines it.
void register_windows(runtime::Registry& registry);
}  // namespace vigil::operators

namespace vigil::test {

void CaptureSink::emit(const runtime::Summary& s) noexcept {
  CapturedSummary c;
  c.key = std::string(s.key_name);
  c.key_rank = s.key_rank;
  c.start = s.start;
  c.end = s.end;
  c.count = s.count;
  c.values.assign(s.values.begin(), s.values.end());
  c.flags = s.flags;
  runtime::append_json(s, c.json);
  summaries.push_back(std::move(c));
}

WindowHarness::WindowHarness(std::string_view window_yaml, std::string_view aggregates_yaml, WindowOptions options)
    : options_(std::move(options)),
      keys_(std::make_unique<runtime::KeyTable>(options_.max_keys)),
      fields_(std::make_unique<runtime::FieldTable>()) {
  operators::register_windows(registry_);
  auto window = runtime::load_config_text(window_yaml, "window.yaml", ".");
  if (!window) {
    load_errors_ = window.error().message;
    return;
  }
  window_node_ = std::make_unique<runtime::ConfigNode>(std::move(window).value());
  auto aggregates = runtime::load_config_text(aggregates_yaml, "aggregates.yaml", ".");
  if (!aggregates) {
    load_errors_ = aggregates.error().message;
    return;
  }
  aggregates_node_ = std::make_unique<runtime::ConfigNode>(std::move(aggregates).value());

  const std::string path = "pipelines[0]";
  const runtime::ConfigNode* type = window_node_->find("type");
  if (!type || !type->is_scalar()) {
    diag_.error(window_node_->mark, path + ".window", "missing key \"type\"; window types: " + registry_.window_names());
    return;
  }
  const runtime::WindowPlugin* plugin = registry_.window(type->scalar);
  if (!plugin) {
    diag_.error(type->mark, path + ".window.type",
                "unknown window type \"" + type->scalar + "\"; window types: " + registry_.window_names());
    return;
  }
  constexpr std::string_view kIgnore[] = {"type"};
  runtime::validate_block(*window_node_, plugin->keys, path + ".window", diag_, kIgnore);
  if (!diag_.empty()) return;

  runtime::SourceTime time;
  time.max_out_of_order = options_.max_out_of_order;
  time.idle_timeout = options_.idle_timeout;
  runtime::PipelineSetup setup;
  setup.name = options_.pipeline;
  setup.index = 0;
  setup.window = runtime::Block(window_node_.get(), plugin->keys);
  setup.aggregates = aggregates_node_.get();
  setup.sources = {0};
  setup.source_time = {time};
  setup.watermark = options_.watermark;
  setup.limits.max_keys = options_.max_keys;
  setup.limits.sketch_bytes = options_.sketch_bytes;
  setup.keys = keys_.get();
  setup.fields = fields_.get();
  setup.path = path;
  setup.diag = &diag_;
  setup.shards = options_.workers;
  op_ = plugin->make(setup);
  if (op_ && !diag_.empty()) op_.reset();
  if (op_ && options_.workers > 1) {
    // As the engine builds `workers: N`: one operator per share of the key slots.
    std::vector<std::unique_ptr<runtime::Operator>> shards;
    shards.push_back(std::move(op_));
    for (std::uint32_t w = 1; w < options_.workers; ++w) {
      setup.shard = w;
      shards.push_back(plugin->make(setup));
    }
    op_ = std::make_unique<runtime::ShardedOperator>(std::move(shards));
  }
}

WindowHarness::~WindowHarness() = default;

std::string WindowHarness::errors() const {
  if (!load_errors_.empty()) return load_errors_;
  return diag_.str();
}

runtime::Operator& WindowHarness::op() {
  if (!op_) FAIL("the window operator was not built: " << errors());
  return *op_;
}

const runtime::SummarySchema& WindowHarness::schema() { return op().schema(); }

const runtime::PipelineCounters& WindowHarness::counters() { return op().counters(); }

int WindowHarness::column(std::string_view name) {
  const auto& columns = schema().columns;
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return static_cast<int>(i);
  return -1;
}

double WindowHarness::value(const CapturedSummary& s, std::string_view name) {
  const int c = column(name);
  if (c < 0 || static_cast<std::size_t>(c) >= s.values.size()) FAIL("no column \"" << name << "\" in " << s.json);
  return s.values[static_cast<std::size_t>(c)];
}

runtime::KeyId WindowHarness::key(std::string_view name) {
  auto id = keys_->intern(name);
  if (!id) FAIL("the key table is full; cannot intern \"" << name << "\"");
  return *id;
}

runtime::FieldId WindowHarness::field(std::string_view name) {
  const runtime::FieldId id = fields_->intern(name);
  if (id == runtime::kNoField) FAIL("the field table is full; cannot intern \"" << name << "\"");
  return id;
}

void WindowHarness::append_record(std::vector<runtime::Event>& out, std::string_view key_name, runtime::Nanos t,
                                  std::span<const FieldValue> values, runtime::SourceIndex source) {
  const runtime::KeyId id = key(key_name);
  std::uint8_t flags = runtime::kRecordBegin;
  for (const auto& v : values) {
    runtime::Event e;
    e.time = t;
    e.value = v.value;
    e.key = id;
    e.field = field(v.field);
    e.source = source;
    e.kind = runtime::EventKind::sample;
    e.flags = flags;
    flags = 0;
    out.push_back(e);
  }
}

runtime::Event WindowHarness::tick_event(runtime::Nanos now) noexcept {
  runtime::Event e;
  e.time = now;
  e.kind = runtime::EventKind::tick;
  return e;
}

void WindowHarness::record(std::string_view key_name, runtime::Nanos t, std::initializer_list<FieldValue> values) {
  record(key_name, t, std::span<const FieldValue>(values.begin(), values.size()));
}

void WindowHarness::record(std::string_view key_name, runtime::Nanos t, std::span<const FieldValue> values) {
  scratch_.clear();
  append_record(scratch_, key_name, t, values);
  process(scratch_);
}

void WindowHarness::tick(runtime::Nanos now) {
  const runtime::Event e = tick_event(now);
  process({&e, 1});
}

void WindowHarness::process(std::span<const runtime::Event> events) { op().process(events, sink_); }

void WindowHarness::flush(runtime::FlushMode mode) { op().flush(mode, sink_); }

std::vector<CapturedSummary> WindowHarness::take() {
  std::vector<CapturedSummary> out;
  out.swap(sink_.summaries);
  return out;
}

std::vector<std::string> WindowHarness::json() const {
  std::vector<std::string> out;
  for (const auto& s : sink_.summaries) out.push_back(s.json);
  return out;
}

}  // namespace vigil::test
