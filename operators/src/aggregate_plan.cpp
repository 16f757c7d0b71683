#include <algorithm>

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
  return true;
}

void AggregatePlan::finalize(const Moments* merged, std::uint64_t records, double* values) const noexcept {
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (column_of[i] < 0) continue;
    double v = spec_local[i] < 0 ? static_cast<double>(records)
                                 : operators::finalize(specs[i].kind, merged[spec_local[i]]);
    values[column_of[i]] = v;
  }
}

}  // namespace vigil::operators

namespace vigil::operators {

void emit_summary(const AggregatePlan& plan, const runtime::KeyTable& keys, KeyId key, std::uint64_t rank,
                  Nanos start, Nanos end, std::uint64_t records, const Moments* merged, std::span<double> values,
                  std::uint8_t flags, runtime::PipelineCounters& counters, runtime::SummarySink& out) noexcept {
  plan.finalize(merged, records, values.data());
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

runtime::Result<KeyId> get_key(std::span<const std::byte>& in, runtime::KeyTable& keys, std::size_t capacity) {
  std::uint32_t len = 0;
  if (!get_bytes(in, len) || in.size() < len) return runtime::Error{"window state is truncated"};
  std::string name(reinterpret_cast<const char*>(in.data()), len);
  in = in.subspan(len);
  auto id = keys.intern(name);
  if (!id || id->index >= capacity) return runtime::Error{"key table full while restoring \"" + name + "\""};
  return *id;
}

}  // namespace vigil::operators
