#include <algorithm>
#include <limits>

#include "window_common.hpp"

namespace vigil::operators {

bool AggregatePlan::build(const runtime::PipelineSetup& setup) {
  std::size_t before = setup.diag->lines().size();
  if (!setup.aggregates) return false;
  specs = parse_aggregates(*setup.aggregates, *setup.fields, setup.path + ".aggregates", *setup.diag);
  if (setup.diag->lines().size() != before) return false;
  local_of.assign(runtime::FieldTable::kMaxFields, -1);
  schema.pipeline = setup.name;
  schema.pipeline_index = setup.index;
  for (const auto& spec : specs) {
    std::int16_t local = -1;
    if (!spec.records) {
      if (local_of[spec.field_id] < 0) {
        local_of[spec.field_id] = static_cast<std::int16_t>(fields.size());
        fields.push_back(spec.field_id);
        needs.push_back(0);
      }
      local = local_of[spec.field_id];
      std::uint8_t n = needs_of(spec.kind);
      if (n & kNeedM4) n |= kNeedM3;
      if (n & kNeedM3) n |= kNeedM2;
      needs[static_cast<std::size_t>(local)] |= n;
    }
    spec_local.push_back(local);
    if (spec.records && spec.column == "count") {
      column_of.push_back(-1);
    } else {
      column_of.push_back(static_cast<std::int16_t>(schema.columns.size()));
      schema.columns.push_back(spec.column);
    }
  }
  sketch_of.assign(fields.size(), -1);
  for (std::size_t f = 0; f < fields.size(); ++f)
    if (needs[f] & kNeedSketch) sketch_of[f] = static_cast<std::int16_t>(sketch_fields++);
  if (sketch_fields > 0) {
    sketch = KllShape::from_budget(static_cast<std::size_t>(setup.limits.sketch_bytes));
    if (sketch.k == 0) {
      setup.diag->error(setup.aggregates->mark, setup.path + ".aggregates",
                        "limits.sketch_bytes (" + std::to_string(setup.limits.sketch_bytes) +
                            ") is too small for a quantile sketch; use at least " +
                            std::to_string(KllShape::min_budget()) + " bytes");
      return false;
    }
  }
  return true;
}

void AggregatePlan::finalize(const Moments* merged, std::uint64_t records, double* values,
                             SketchSet* sketches) const noexcept {
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (column_of[i] < 0) continue;
    double v;
    if (spec_local[i] < 0) {
      v = static_cast<double>(records);
    } else if (specs[i].kind == AggKind::quantile) {
      const std::int16_t sf = sketch_of[static_cast<std::size_t>(spec_local[i])];
      v = sketches ? sketches->quantile(static_cast<std::size_t>(sf), specs[i].q)
                   : std::numeric_limits<double>::quiet_NaN();
    } else {
      v = operators::finalize(specs[i].kind, merged[spec_local[i]]);
    }
    values[column_of[i]] = v;
  }
}

void SketchSet::init(const AggregatePlan& plan, std::size_t slots) {
  plan_ = &plan;
  fields_ = plan.sketch_fields;
  if (fields_ == 0) return;
  stride_ = plan.sketch.bytes / sizeof(double);
  memory_.reset(slots * fields_ * stride_);
  window_.assign(fields_ * stride_, 0.0);
  scratch_ = std::make_unique<KllScratch>(plan.sketch);
  for (std::size_t s = 0; s < slots; ++s) reset(s);
  for (std::size_t f = 0; f < fields_; ++f) window(f).reset();
}

double SketchSet::bytes_for(const AggregatePlan& plan, double slots) noexcept {
  return slots * static_cast<double>(plan.sketch_fields) * static_cast<double>(plan.sketch.bytes);
}

void SketchSet::reset(std::size_t slot) noexcept {
  for (std::size_t f = 0; f < fields_; ++f) at(slot, f).reset();
}

void SketchSet::merge_slot(std::size_t into, std::size_t from) noexcept {
  for (std::size_t f = 0; f < fields_; ++f) at(into, f).merge(at(from, f), *scratch_);
}

void SketchSet::copy_slot(std::size_t into, std::size_t from) noexcept {
  for (std::size_t f = 0; f < fields_; ++f) at(into, f).copy_from(at(from, f));
}

void SketchSet::include(std::size_t slot) noexcept {
  if (fields_ == 0) return;
  if (included_ == 0) {
    first_ = slot;
  } else {
    for (std::size_t f = 0; f < fields_; ++f) {
      KllSketch w = window(f);
      if (included_ == 1) w.copy_from(at(first_, f));
      w.merge(at(slot, f), *scratch_);
    }
  }
  ++included_;
  prepared_ = -1;
}

double SketchSet::quantile(std::size_t sf, double q) noexcept {
  if (included_ == 0) return std::numeric_limits<double>::quiet_NaN();
  if (prepared_ != static_cast<std::int64_t>(sf)) {
    (included_ == 1 ? at(first_, sf) : window(sf)).prepare(*scratch_);
    prepared_ = static_cast<std::int64_t>(sf);
  }
  return kll_quantile(*scratch_, q);
}

void SketchSet::save(std::size_t slot, std::vector<std::byte>& out) const {
  if (fields_ == 0) return;
  const auto* p = reinterpret_cast<const std::byte*>(memory_.data() + slot * fields_ * stride_);
  out.insert(out.end(), p, p + fields_ * stride_ * sizeof(double));
}

bool SketchSet::load(std::size_t slot, std::span<const std::byte>& in) noexcept {
  if (fields_ == 0) return true;
  const std::size_t n = fields_ * stride_ * sizeof(double);
  if (in.size() < n) return false;
  std::memcpy(memory_.data() + slot * fields_ * stride_, in.data(), n);
  in = in.subspan(n);
  for (std::size_t f = 0; f < fields_; ++f) {
    if (!at(slot, f).valid()) {
      reset(slot);
      return false;
    }
  }
  return true;
}

}  // namespace vigil::operators

namespace vigil::operators {

void emit_summary(const AggregatePlan& plan, const runtime::KeyTable& keys, KeyId key, std::uint64_t rank,
                  Nanos start, Nanos end, std::uint64_t records, const Moments* merged, std::span<double> values,
                  std::uint8_t flags, runtime::PipelineCounters& counters, runtime::SummarySink& out,
                  SketchSet* sketches) noexcept {
  plan.finalize(merged, records, values.data(), sketches);
  runtime::Summary s;
  s.schema = &plan.schema;
  s.key = key;
  s.key_name = keys.name(key);
  s.key_rank = rank;
  s.start = start;
  s.end = end;
  s.count = records;
  s.values = values;
  s.flags = flags;
  if (flags & runtime::kLate) {
    counters.late_emitted.add();
  } else {
    counters.windows.add();
    if (flags & runtime::kPartial) counters.partial.add();
  }
  out.emit(s);
}

}  // namespace vigil::operators

namespace vigil::operators {

WatermarkSources::WatermarkSources(const runtime::PipelineSetup& setup)
    : max_seen(setup.source_time.size(), runtime::kMinTime),
      sources(setup.sources),
      per_source(setup.watermark == runtime::WatermarkScope::per_source) {
  for (const auto& t : setup.source_time) ooo.push_back(t.max_out_of_order);
  for (auto s : setup.sources) {
    max_ooo = std::max(max_ooo, setup.source_time[s].max_out_of_order);
    const Nanos idle = setup.source_time[s].idle_timeout;
    if (idle > 0 && (idle_timeout == 0 || idle < idle_timeout)) idle_timeout = idle;
  }
}

Nanos WatermarkSources::watermark() const noexcept {
  Nanos wm = runtime::kMaxTime;
  bool any = false;
  for (auto s : sources) {
    if (max_seen[s] == runtime::kMinTime) continue;
    wm = std::min(wm, max_seen[s] - ooo[s]);
    any = true;
  }
  return any ? wm : runtime::kMinTime;
}

bool check_state_budget(const runtime::PipelineSetup& setup, double bytes) {
  if (bytes <= static_cast<double>(setup.limits.max_state)) return true;
  auto mib = [](double b) { return std::to_string(static_cast<long long>(b / (1024.0 * 1024.0) + 0.5)) + " MiB"; };
  setup.diag->error(setup.window.self() ? setup.window.self()->mark : runtime::Mark{}, setup.path + ".window",
                    "this window needs " + mib(bytes) + " of state for limits.max_keys = " +
                        std::to_string(setup.limits.max_keys) + ", more than limits.max_state (" +
                        mib(static_cast<double>(setup.limits.max_state)) +
                        "); lower max_keys, the window's size relative to its hop/every, or raise max_state");
  return false;
}

void put_key(std::vector<std::byte>& out, const runtime::KeyTable& keys, KeyId id) {
  auto name = keys.name(id);
  put_bytes(out, static_cast<std::uint32_t>(name.size()));
  const auto* p = reinterpret_cast<const std::byte*>(name.data());
  out.insert(out.end(), p, p + name.size());
}

runtime::Result<KeyId> get_key(std::span<const std::byte>& in, runtime::KeyTable& keys, const KeySlots& slots) {
  std::uint32_t len = 0;
  if (!get_bytes(in, len) || in.size() < len) return runtime::Error{"window state is truncated"};
  std::string name(reinterpret_cast<const char*>(in.data()), len);
  in = in.subspan(len);
  auto id = keys.intern(name);
  if (!id) return runtime::Error{"key table full while restoring \"" + name + "\""};
  if (!slots.owns(id->index))
    return runtime::Error{"key \"" + name + "\" is not in this worker's share of the key table"};
  return *id;
}

}  // namespace vigil::operators
