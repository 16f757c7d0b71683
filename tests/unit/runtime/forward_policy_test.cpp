// ForwardPolicy: which summaries of a key go upstream, checked against hand-worked sequences.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "allocation_counter.hpp"
#include "vigil/runtime/forward_policy.hpp"

namespace vigil::test {
namespace {

using runtime::ForwardMode;
using runtime::ForwardPolicy;
using runtime::ForwardSettings;
using runtime::kNanosPerSecond;
using runtime::Nanos;
using runtime::Summary;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Feeds summaries of 10 s windows with one column "v" and records the decisions.
struct Feed {
  runtime::SummarySchema schema{"p", 0, {"v"}};
  double value = 0;

  /// Decides the summary of key slot `key` (generation `gen`) for window `index` with value `v`
  /// and returns "F" (forwarded), "F<priority>" (forwarded with that priority) or "-" (held).
  std::string decide(ForwardPolicy& policy, std::uint32_t key, double v, std::int64_t index,
                     std::uint32_t gen = 0, std::uint8_t flags = 0) {
    value = v;
    Summary s;
    s.schema = &schema;
    s.key = {key, gen};
    s.start = index * 10 * kNanosPerSecond;
    s.end = s.start + 10 * kNanosPerSecond;
    s.count = 7;
    s.values = {&value, 1};
    s.flags = flags;
    s.forward = false;  // the policy must set it either way
    s.priority = 9;
    policy.decide(s);
    if (!s.forward) return s.priority == 0 ? "-" : "bad priority on a held summary";
    return s.priority == 0 ? "F" : "F" + std::to_string(s.priority);
  }

  /// Decides one summary per value for key 0, windows 0, 1, 2...; the decisions in one string.
  std::string run(ForwardPolicy& policy, const std::vector<double>& values) {
    std::string out;
    for (std::size_t i = 0; i < values.size(); ++i)
      out += (i ? " " : "") + decide(policy, 0, values[i], static_cast<std::int64_t>(i));
    return out;
  }
};

ForwardSettings deadband(double band, double percent = -1) {
  ForwardSettings s;
  s.mode = ForwardMode::deadband;
  s.column = 0;
  s.band = band;
  s.percent = percent;
  return s;
}

ForwardSettings alarm_above(double above, double hysteresis = 0) {
  ForwardSettings s;
  s.mode = ForwardMode::on_alarm;
  s.column = 0;
  s.has_above = true;
  s.above = above;
  s.hysteresis = hysteresis;
  s.priority = 3;
  return s;
}

}  // namespace

TEST_CASE("policy always forwards every summary at priority 0 and keeps no per-key state",
          "[runtime][forward]") {
  ForwardPolicy policy(ForwardSettings{}, 1024);
  Feed feed;
  CHECK(feed.run(policy, {1, 1, 1, 50}) == "F F F F");
  CHECK(policy.state_bytes() == 0);
  CHECK(policy.counters().forwarded.get() == 4);
  CHECK(policy.counters().held.get() == 0);
}

TEST_CASE("policy every with windows forwards the first window of a key and then every N-th",
          "[runtime][forward]") {
  ForwardSettings s;
  s.mode = ForwardMode::every;
  s.windows = 3;
  ForwardPolicy policy(s, 4);
  Feed feed;
  CHECK(feed.run(policy, {0, 0, 0, 0, 0, 0, 0}) == "F - - F - - F");
  CHECK(policy.counters().forwarded.get() == 3);
  CHECK(policy.counters().held.get() == 4);
}

TEST_CASE("policy every counts windows per key", "[runtime][forward]") {
  ForwardSettings s;
  s.mode = ForwardMode::every;
  s.windows = 2;
  ForwardPolicy policy(s, 4);
  Feed feed;
  // Interleaved keys 0 and 1: each key's own first window goes, then every second of its own.
  std::string out;
  for (int i = 0; i < 4; ++i) {
    out += feed.decide(policy, 0, 0, i) + feed.decide(policy, 1, 0, i) + " ";
  }
  CHECK(out == "FF -- FF -- ");
}

TEST_CASE("policy every with an interval forwards once the window end moved that far in event time",
          "[runtime][forward]") {
  ForwardSettings s;
  s.mode = ForwardMode::every;
  s.interval = 25 * kNanosPerSecond;
  ForwardPolicy policy(s, 4);
  Feed feed;
  // Window ends 10, 20, 30, 40, 50, 60, 70 s: forwarded at 10, then 40 (30 s later >= 25), then 70.
  CHECK(feed.run(policy, {0, 0, 0, 0, 0, 0, 0}) == "F - - F - - F");
  // A gap in the key's windows: the next window after a long silence goes at once.
  CHECK(feed.decide(policy, 0, 0, 100) == "F");
}

TEST_CASE("policy deadband forwards the first window and then moves of more than the band",
          "[runtime][forward]") {
  ForwardPolicy policy(deadband(0.5), 4);
  Feed feed;
  // Reference 20 (first). 20.4: |0.4| <= 0.5 held; 20.5: exactly the band, held; 20.6 > 0.5: goes
  // (reference 20.6); 20.2: 0.4 held; 21.2: 0.6 goes; creep of 0.3 per window: 21.5 held, 21.8 goes.
  CHECK(feed.run(policy, {20, 20.4, 20.5, 20.6, 20.2, 21.2, 21.5, 21.8}) == "F - - F - F - F");
}

TEST_CASE("policy deadband measures from the last forwarded value and not from the last seen one",
          "[runtime][forward]") {
  ForwardPolicy policy(deadband(1.0), 4);
  Feed feed;
  // A slow drift of 0.4 per window: 10, 10.4, 10.8, 11.2 (1.2 from 10: goes), 11.6, 12.0, 12.4 (1.2).
  CHECK(feed.run(policy, {10, 10.4, 10.8, 11.2, 11.6, 12.0, 12.4}) == "F - - F - - F");
}

TEST_CASE("policy deadband in percent compares with a share of the last forwarded value",
          "[runtime][forward]") {
  ForwardPolicy policy(deadband(-1, 10), 4);
  Feed feed;
  // Reference 200: band 20. 215 held, 221 goes (reference 221, band 22.1); 200 held (21 <= 22.1);
  // 198 goes (23 > 22.1); negative values use the magnitude: -10 goes, -10.5 held, -11.5 goes.
  CHECK(feed.run(policy, {200, 215, 221, 200, 198, -10, -10.5, -11.5}) == "F - F - F F - F");
}

TEST_CASE("policy deadband forwards when the value appears or disappears but not while it stays missing",
          "[runtime][forward]") {
  ForwardPolicy policy(deadband(1.0), 4);
  Feed feed;
  CHECK(feed.run(policy, {5, kNaN, kNaN, 5.5, 5.6, 7}) == "F F - F - F");
}

TEST_CASE("policy deadband with a heartbeat also forwards a steady key every N windows",
          "[runtime][forward]") {
  ForwardSettings s = deadband(1.0);
  s.windows = 3;
  ForwardPolicy policy(s, 4);
  Feed feed;
  CHECK(feed.run(policy, {1, 1, 1, 1, 5, 5, 5, 5}) == "F - - F F - - F");
}

TEST_CASE("policy on_alarm forwards the raise and the clear at their priority and nothing between",
          "[runtime][forward]") {
  ForwardPolicy policy(alarm_above(80), 4);
  Feed feed;
  // 80 is not above 80; 81 raises; 95 and 82 stay raised; 80 clears (not above, no hysteresis).
  CHECK(feed.run(policy, {70, 80, 81, 95, 82, 80, 60}) == "- - F3 - - F3 -");
  CHECK(policy.counters().alarms_raised.get() == 1);
  CHECK(policy.counters().alarms_cleared.get() == 1);
}

TEST_CASE("policy on_alarm hysteresis keeps a raised alarm until the value is that far back",
          "[runtime][forward]") {
  ForwardPolicy policy(alarm_above(80, 5), 4);
  Feed feed;
  // Raised at 81; 78 and 75.5 are within 5 of the limit: still raised; 75 clears; 79 is not above
  // 80: no new alarm; 80.5 raises again.
  CHECK(feed.run(policy, {81, 78, 75.5, 75, 79, 80.5}) == "F3 - - F3 - F3");
}

TEST_CASE("policy on_alarm with both limits reports a jump from high to low as a change",
          "[runtime][forward]") {
  ForwardSettings s = alarm_above(100);
  s.has_below = true;
  s.below = 10;
  s.hysteresis = 2;
  ForwardPolicy policy(s, 4);
  Feed feed;
  // 101 high; 5 low (a change: forwarded); 11 still low (within 2); 12 clears; 50 normal.
  CHECK(feed.run(policy, {50, 101, 5, 11, 12, 50}) == "- F3 F3 - F3 -");
  CHECK(policy.counters().alarms_raised.get() == 2);
  CHECK(policy.counters().alarms_cleared.get() == 1);
}

TEST_CASE("policy on_alarm ignores a missing value and can watch the record count", "[runtime][forward]") {
  ForwardSettings s = alarm_above(5);
  s.column = runtime::kCountColumn;  // Feed's count is 7: above 5 from the first window
  ForwardPolicy by_count(s, 4);
  Feed feed;
  CHECK(feed.run(by_count, {0, 0}) == "F3 -");

  ForwardPolicy by_value(alarm_above(80), 4);
  CHECK(feed.run(by_value, {90, kNaN, 90, 10}) == "F3 - - F3");
}

TEST_CASE("policy on_alarm with a heartbeat forwards routine summaries at priority 0", "[runtime][forward]") {
  ForwardSettings s = alarm_above(80);
  s.windows = 2;
  ForwardPolicy policy(s, 4);
  Feed feed;
  CHECK(feed.run(policy, {10, 10, 10, 90, 90, 90, 10}) == "F - F F3 - F F3");
}

TEST_CASE("a late summary is held and changes no state unless the policy is always", "[runtime][forward]") {
  ForwardPolicy policy(deadband(1.0), 4);
  Feed feed;
  CHECK(feed.decide(policy, 0, 10, 0) == "F");
  CHECK(feed.decide(policy, 0, 50, 0, 0, runtime::kLate) == "-");
  // The reference is still 10: 10.5 is held, 11.5 goes.
  CHECK(feed.decide(policy, 0, 10.5, 1) == "-");
  CHECK(feed.decide(policy, 0, 11.5, 2) == "F");

  ForwardPolicy always(ForwardSettings{}, 4);
  CHECK(feed.decide(always, 0, 50, 0, 0, runtime::kLate) == "F");
}

TEST_CASE("a key slot reused by a new key starts with a fresh state", "[runtime][forward]") {
  ForwardPolicy policy(alarm_above(80), 4);
  Feed feed;
  CHECK(feed.decide(policy, 2, 90, 0, /*gen=*/0) == "F3");
  // The old key was raised; the new key of the slot is not: 90 raises for it too, 10 then clears.
  CHECK(feed.decide(policy, 2, 90, 1, /*gen=*/1) == "F3");
  CHECK(feed.decide(policy, 2, 10, 2, /*gen=*/1) == "F3");
}

TEST_CASE("forward decisions allocate nothing and their state is sized from max_keys up front",
          "[runtime][forward][alloc]") {
  constexpr std::size_t kKeys = 500;
  ForwardSettings s = deadband(0.5);
  s.interval = 5000 * kNanosPerSecond;  // a key's windows are 500 s apart here: every 10th
  ForwardPolicy policy(s, kKeys);
  ForwardPolicy alarm(alarm_above(0.9, 0.1), kKeys);
  CHECK(policy.state_bytes() >= kKeys * sizeof(double));
  Feed feed;
  AllocationCounter allocs;
  std::uint64_t forwarded = 0;
  for (std::int64_t i = 0; i < 20'000; ++i) {
    const auto key = static_cast<std::uint32_t>(i % kKeys);
    const double v = std::sin(static_cast<double>(i) * 0.001);
    Summary sm;
    double value = v;
    sm.schema = &feed.schema;
    sm.key = {key, 0};
    sm.end = i * kNanosPerSecond;
    sm.values = {&value, 1};
    policy.decide(sm);
    forwarded += sm.forward ? 1 : 0;
    alarm.decide(sm);
  }
  CHECK(allocs.count() == 0);
  CHECK(forwarded > 0);
  CHECK(forwarded < 20'000);
}

}  // namespace vigil::test

namespace vigil::test {

TEST_CASE("a forward policy restored from its snapshot goes on where it was, by key name", "[runtime][forward][checkpoint]") {
  runtime::KeyTable keys(8);
  const auto a = *keys.intern("a");
  const auto b = *keys.intern("b");
  Feed feed;
  ForwardPolicy before(deadband(1.0), 8);
  CHECK(feed.decide(before, a.index, 10, 0, a.generation) == "F");
  CHECK(feed.decide(before, b.index, 50, 0, b.generation) == "F");
  CHECK(feed.decide(before, a.index, 10.5, 1, a.generation) == "-");
  std::vector<std::byte> bytes;
  before.snapshot(keys, bytes);

  // A new process: other keys came first, so a and b get other slots.
  runtime::KeyTable fresh(8);
  (void)fresh.intern("z");
  ForwardPolicy after(deadband(1.0), 8);
  REQUIRE(after.restore(bytes, fresh).ok());
  const auto a2 = *fresh.find("a");
  const auto b2 = *fresh.find("b");
  CHECK(a2.index != a.index);
  // a's last forwarded value is 10: 10.9 is inside the band, 11.5 outside; b's is 50.
  CHECK(feed.decide(after, a2.index, 10.9, 2, a2.generation) == "-");
  CHECK(feed.decide(after, a2.index, 11.5, 3, a2.generation) == "F");
  CHECK(feed.decide(after, b2.index, 50.5, 1, b2.generation) == "-");

  ForwardPolicy other(alarm_above(5), 8);
  CHECK_FALSE(other.restore(bytes, fresh).ok());  // another policy's state is refused
  bytes.pop_back();
  ForwardPolicy truncated(deadband(1.0), 8);
  CHECK_FALSE(truncated.restore(bytes, fresh).ok());
}

}  // namespace vigil::test
