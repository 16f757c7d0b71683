#include <memory>
#include <algorithm>
#include <numeric>

#include "count_window.hpp"
#include "session_window.hpp"
#include "sliced_window.hpp"
#include "sliding_window.hpp"
#include "vigil/operators/operators.hpp"

namespace vigil::operators {
namespace {

using runtime::ConfigKey;
using runtime::KeyType;
using runtime::Required;

constexpr double kMinDuration = 1e6;  // 1ms: slices are at least this wide

constexpr ConfigKey kTumblingKeys[] = {
    {"size", KeyType::duration, Required::yes, {}, "Window length; windows are [start, start + size), aligned to the epoch.", kMinDuration},
    {"offset", KeyType::duration, Required::no, "0s", "Shifts the alignment: windows start at offset + k * size."},
    kAllowedLatenessKey,
    kLateKey,
};

constexpr ConfigKey kHoppingKeys[] = {
    {"size", KeyType::duration, Required::yes, {}, "Window length.", kMinDuration},
    {"hop", KeyType::duration, Required::yes, {}, "A window starts every hop (hop <= size).", kMinDuration},
    {"offset", KeyType::duration, Required::no, "0s", "Shifts the alignment: windows start at offset + k * hop."},
    kAllowedLatenessKey,
    kLateKey,
};

constexpr ConfigKey kSessionKeys[] = {
    {"gap", KeyType::duration, Required::yes, {}, "A session ends this long after its last record.", kMinDuration},
    {"max_duration", KeyType::duration, Required::no, "0s", "A session never spans more than this (exact); 0: unlimited."},
    {"max_open", KeyType::integer, Required::no, "4", "Open sessions kept per key (more than one only while out-of-order records may still arrive); when full the oldest is emitted early, marked partial.", 1, 64},
    kAllowedLatenessKey,
    kLateKey,
};

constexpr ConfigKey kCountKeys[] = {
    {"size", KeyType::integer, Required::yes, {}, "Records per window (arrival order, per key).", 1, 1'000'000},
    {"every", KeyType::integer, Required::no, {}, "Emit after every this many records (default: size, i.e. tumbling).", 1, 1'000'000},
};

constexpr ConfigKey kSlidingKeys[] = {
    {"size", KeyType::duration, Required::yes, {}, "Window length; each record's result covers (t - size, t].", kMinDuration},
    {"max_samples", KeyType::integer, Required::no, "1023", "Raw samples kept per key; when full the oldest is dropped (counted as truncated) and the results that miss it are marked partial. The ring holds max_samples + 1 slots rounded up to a power of two: 2^n - 1 uses all of it.", 1, 1'000'000},
    kAllowedLatenessKey,
    kLateKey,
};

std::unique_ptr<runtime::Operator> make_sliding(const runtime::PipelineSetup& setup) {
  SlidingWindowParams p;
  p.size = setup.window.duration("size");
  p.max_samples = static_cast<std::size_t>(setup.window.integer("max_samples"));
  p.lateness = setup.window.duration("allowed_lateness");
  p.late_emit = setup.window.string("late") == "emit";
  AggregatePlan plan;
  if (!plan.build(setup)) return nullptr;
  if (plan.sketch_fields > 0) {
    setup.diag->error(setup.aggregates->mark, setup.path + ".aggregates",
                      "quantiles (p50, p99, ...) come from mergeable sketches, which cannot forget a sample; "
                      "a sliding window has none: use a tumbling or hopping window for quantiles");
    return nullptr;
  }
  bool minmax = false;
  for (auto n : plan.needs) minmax = minmax || (n & kNeedMinMax);
  const double per_key = SlidingWindow::bytes_per_key(p.max_samples, plan.field_count(), minmax);
  if (!check_state_budget(setup, per_key * static_cast<double>(setup.limits.max_keys))) return nullptr;
  return std::make_unique<SlidingWindow>(setup, std::move(plan), p);
}

std::unique_ptr<runtime::Operator> make_session(const runtime::PipelineSetup& setup) {
  SessionWindowParams p;
  p.gap = setup.window.duration("gap");
  p.max_duration = setup.window.duration("max_duration");
  p.max_open = static_cast<std::size_t>(setup.window.integer("max_open"));
  p.lateness = setup.window.duration("allowed_lateness");
  p.late_emit = setup.window.string("late") == "emit";
  AggregatePlan plan;
  if (!plan.build(setup)) return nullptr;
  const double per_key = 64.0 + static_cast<double>(p.max_open) * (32.0 + static_cast<double>(plan.field_count() * sizeof(Moments))) +
                         SketchSet::bytes_for(plan, static_cast<double>(p.max_open));
  if (!check_state_budget(setup, per_key * static_cast<double>(setup.limits.max_keys))) return nullptr;
  return std::make_unique<SessionWindow>(setup, std::move(plan), p);
}

std::unique_ptr<runtime::Operator> make_count(const runtime::PipelineSetup& setup) {
  CountWindowParams p;
  p.size = setup.window.integer("size");
  p.every = setup.window.has("every") ? setup.window.integer("every") : p.size;
  if (p.size / std::gcd(p.size, p.every) > 100'000) {
    setup.diag->error(setup.window.node("every")->mark, setup.path + ".window.every",
                      "size / gcd(size, every) exceeds 100000 panes; choose an `every` that divides size more evenly");
    return nullptr;
  }
  AggregatePlan plan;
  if (!plan.build(setup)) return nullptr;
  const double panes = static_cast<double>(p.size / std::gcd(p.size, p.every) + 1);
  const double per_key = 32.0 + panes * (24.0 + static_cast<double>(plan.field_count() * sizeof(Moments))) +
                         SketchSet::bytes_for(plan, panes);
  if (!check_state_budget(setup, per_key * static_cast<double>(setup.limits.max_keys))) return nullptr;
  return std::make_unique<CountWindow>(setup, std::move(plan), p);
}

std::unique_ptr<runtime::Operator> make_sliced(const runtime::PipelineSetup& setup, bool hopping) {
  SlicedWindowParams p;
  p.size = setup.window.duration("size");
  p.hop = hopping ? setup.window.duration("hop") : p.size;
  p.offset = setup.window.duration("offset");
  p.lateness = setup.window.duration("allowed_lateness");
  p.late_emit = setup.window.string("late") == "emit";
  std::string at = setup.path + ".window";
  if (hopping && p.hop > p.size) {
    setup.diag->error(setup.window.node("hop")->mark, at + ".hop",
                      "hop " + runtime::format_duration(p.hop) + " is longer than size " +
                          runtime::format_duration(p.size) + "; windows would leave gaps (use hop <= size)");
    return nullptr;
  }
  const Nanos width = std::gcd(p.size, p.hop);
  if (p.size / width > 100'000) {
    setup.diag->error(setup.window.node("hop")->mark, at + ".hop",
                      "size / gcd(size, hop) is " + std::to_string(p.size / width) +
                          " slices; choose a hop that divides the size more evenly (at most 100000 slices)");
    return nullptr;
  }
  p.offset %= p.hop;
  AggregatePlan plan;
  if (!plan.build(setup)) return nullptr;
  Nanos disorder = 0;
  for (auto s : setup.sources) disorder = std::max(disorder, setup.source_time[s].max_out_of_order);
  const double slices = static_cast<double>(p.size / width + (disorder + p.lateness + width - 1) / width);
  const double per_key = 64.0 + slices * (16.0 + static_cast<double>(plan.field_count() * sizeof(Moments))) +
                         SketchSet::bytes_for(plan, slices);
  if (!check_state_budget(setup, per_key * static_cast<double>(setup.limits.max_keys))) return nullptr;
  return std::make_unique<SlicedWindow>(setup, std::move(plan), p);
}

std::unique_ptr<runtime::Operator> make_tumbling(const runtime::PipelineSetup& setup) {
  return make_sliced(setup, false);
}
std::unique_ptr<runtime::Operator> make_hopping(const runtime::PipelineSetup& setup) {
  return make_sliced(setup, true);
}

}  // namespace

void register_windows(runtime::Registry& registry) {
  registry.add(runtime::WindowPlugin{"tumbling", "Fixed, non-overlapping event-time windows.", kTumblingKeys, &make_tumbling});
  registry.add(runtime::WindowPlugin{"session", "Per-key bursts of activity separated by a gap.", kSessionKeys, &make_session});
  registry.add(runtime::WindowPlugin{"count", "The last `size` records of a key, every `every` records (arrival order).", kCountKeys, &make_count});
  registry.add(runtime::WindowPlugin{"hopping", "Fixed windows of `size` starting every `hop` (overlapping).", kHoppingKeys, &make_hopping});
  registry.add(runtime::WindowPlugin{"sliding", "One result per record over (t - size, t] of event time, from the key's raw samples.", kSlidingKeys, &make_sliding});
}

}  // namespace vigil::operators
