// Tumbling windows, worked out by hand. kT0 is 1700000000000 ms, a multiple of every size here.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "window_harness.hpp"

namespace vigil::test {
namespace {

using namespace literals;
using Lines = std::vector<std::string>;

constexpr const char* kWindow = "{type: tumbling, size: 10s}";
constexpr const char* kAggs = "[count, mean(temp), max(temp)]";
constexpr runtime::Nanos kP = 1'000_s;  // processing clock at the first tick

WindowOptions ooo(runtime::Nanos max_out_of_order) {
  WindowOptions o;
  o.max_out_of_order = max_out_of_order;
  return o;
}

}  // namespace

TEST_CASE("a single record makes one partial window at end of input", "[operators][tumbling]") {
  WindowHarness h(kWindow, kAggs, ooo(2_s));
  h.record("press-1", kT0 + 3_s, {{"temp", 21.5}});
  CHECK(h.summaries().empty());

  h.flush();

  CHECK(h.json() == Lines{R"({"pipeline":"p","key":"press-1","start":1700000000000,"end":1700000010000,"count":1,)"
                          R"("temp_mean":21.5,"temp_max":21.5,"partial":true})"});
  CHECK(h.counters().records.get() == 1);
  CHECK(h.counters().windows.get() == 1);
  CHECK(h.counters().partial.get() == 1);
  CHECK(h.counters().late.get() == 0);
}

TEST_CASE("a record at a window's end belongs to the next window", "[operators][tumbling]") {
  WindowHarness h(kWindow, kAggs);
  h.record("a", kT0, {{"temp", 1}});
  h.record("a", kT0 + 10_s - 1_ns, {{"temp", 2}});
  CHECK(h.summaries().empty());

  h.record("a", kT0 + 10_s, {{"temp", 4}});
  h.flush();

  CHECK(h.json() ==
        Lines{R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":2,"temp_mean":1.5,"temp_max":2})",
              R"({"pipeline":"p","key":"a","start":1700000010000,"end":1700000020000,"count":1,"temp_mean":4,"temp_max":4,"partial":true})"});
}

TEST_CASE("a window fires when the watermark (newest - max_out_of_order) reaches its end", "[operators][tumbling]") {
  WindowHarness h(kWindow, kAggs, ooo(2_s));
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.record("a", kT0 + 12_s - 1_ns, {{"temp", 2}});
  CHECK(h.summaries().empty());

  h.record("a", kT0 + 12_s, {{"temp", 3}});

  REQUIRE(h.summaries().size() == 1);
  CHECK(h.summaries()[0].start == kT0);
  CHECK(h.summaries()[0].end == kT0 + 10_s);
  CHECK(h.summaries()[0].count == 1);
  CHECK_FALSE(h.summaries()[0].partial());
}

TEST_CASE("a record exactly max_out_of_order behind the newest is on time", "[operators][tumbling]") {
  WindowHarness h(kWindow, kAggs, ooo(2_s));
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.record("a", kT0 + 11_s, {{"temp", 2}});  // watermark 9s
  h.record("a", kT0 + 9_s, {{"temp", 3}});   // 2s behind: on time

  h.record("a", kT0 + 12_s, {{"temp", 4}});  // watermark 10s fires [0s, 10s)

  CHECK(h.json() ==
        Lines{R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":2,"temp_mean":2,"temp_max":3})"});
  CHECK(h.counters().late.get() == 0);
}

TEST_CASE("a record one nanosecond beyond max_out_of_order into a fired window is late and dropped",
          "[operators][tumbling]") {
  WindowHarness h(kWindow, kAggs, ooo(2_s));
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.record("a", kT0 + 12_s, {{"temp", 2}});          // watermark 10s fires [0s, 10s)
  h.record("a", kT0 + 10_s - 1_ns, {{"temp", 100}});  // 2s + 1ns behind: late
  h.record("a", kT0 + 10_s, {{"temp", 4}});           // exactly 2s behind: on time

  h.flush();

  CHECK(h.json() ==
        Lines{R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":1,"temp_max":1})",
              R"({"pipeline":"p","key":"a","start":1700000010000,"end":1700000020000,"count":2,"temp_mean":3,"temp_max":4,"partial":true})"});
  CHECK(h.counters().late.get() == 1);
  CHECK(h.counters().late_emitted.get() == 0);
  CHECK(h.counters().records.get() == 4);
}

TEST_CASE("a record further behind than max_out_of_order is on time while its window is open",
          "[operators][tumbling]") {
  WindowHarness h(kWindow, kAggs, ooo(2_s));
  h.record("a", kT0 + 15_s, {{"temp", 1}});   // watermark 13s: [10s, 20s) open
  h.record("a", kT0 + 10500_ms, {{"temp", 3}});  // 4.5s behind, still in an open window

  h.flush();

  CHECK(h.json() == Lines{R"({"pipeline":"p","key":"a","start":1700000010000,"end":1700000020000,"count":2,)"
                          R"("temp_mean":2,"temp_max":3,"partial":true})"});
  CHECK(h.counters().late.get() == 0);
}

TEST_CASE("allowed_lateness keeps a window open until the watermark reaches end + lateness", "[operators][tumbling]") {
  WindowHarness h("{type: tumbling, size: 10s, allowed_lateness: 5s}", kAggs);
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.record("a", kT0 + 14_s, {{"temp", 2}});  // watermark 14s
  h.record("a", kT0 + 2_s, {{"temp", 3}});   // behind the watermark, but [0s, 10s) is open until 15s
  h.record("a", kT0 + 15_s - 1_ns, {{"temp", 4}});
  CHECK(h.summaries().empty());

  h.record("a", kT0 + 15_s, {{"temp", 6}});  // watermark 15s = end + lateness: fires
  REQUIRE(h.summaries().size() == 1);
  h.record("a", kT0 + 9_s, {{"temp", 7}});   // now late
  h.flush();

  CHECK(h.json() ==
        Lines{R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":2,"temp_mean":2,"temp_max":3})",
              R"({"pipeline":"p","key":"a","start":1700000010000,"end":1700000020000,"count":3,"temp_mean":4,"temp_max":6,"partial":true})"});
  CHECK(h.counters().late.get() == 1);
}

TEST_CASE("with late: emit a late record is sent as a late summary of its fired window", "[operators][tumbling]") {
  WindowHarness h("{type: tumbling, size: 10s, late: emit}", kAggs);
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.record("a", kT0 + 10_s, {{"temp", 2}});  // fires [0s, 10s)
  h.record("a", kT0 + 5_s, {{"temp", 7}, {"vib", 0.5}});
  h.flush();

  CHECK(h.json() ==
        Lines{R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":1,"temp_max":1})",
              R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":7,"temp_max":7,"late":true})",
              R"({"pipeline":"p","key":"a","start":1700000010000,"end":1700000020000,"count":1,"temp_mean":2,"temp_max":2,"partial":true})"});
  CHECK(h.counters().late.get() == 1);
  CHECK(h.counters().late_emitted.get() == 1);
  CHECK(h.counters().windows.get() == 2);
}

TEST_CASE("offset shifts the window alignment - an offset beyond the size wraps", "[operators][tumbling]") {
  const char* window = GENERATE("{type: tumbling, size: 10s, offset: 3s}", "{type: tumbling, size: 10s, offset: 13s}");
  WindowHarness h(window, kAggs);
  h.record("a", kT0 + 2_s, {{"temp", 1}});  // [kT0 - 7s, kT0 + 3s)
  h.record("a", kT0 + 3_s, {{"temp", 2}});  // [kT0 + 3s, kT0 + 13s); watermark 3s fires the first
  h.flush();

  CHECK(h.json() ==
        Lines{R"({"pipeline":"p","key":"a","start":1699999993000,"end":1700000003000,"count":1,"temp_mean":1,"temp_max":1})",
              R"({"pipeline":"p","key":"a","start":1700000003000,"end":1700000013000,"count":1,"temp_mean":2,"temp_max":2,"partial":true})"});
}

TEST_CASE("empty windows are never emitted", "[operators][tumbling]") {
  WindowHarness h(kWindow, kAggs);
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.record("a", kT0 + 35_s, {{"temp", 2}});  // passes [10s, 20s) and [20s, 30s) with nothing in them
  h.flush();

  REQUIRE(h.summaries().size() == 2);
  CHECK(h.summaries()[0].end == kT0 + 10_s);
  CHECK(h.summaries()[1].start == kT0 + 30_s);
  CHECK(h.counters().windows.get() == 2);
}

TEST_CASE("a record without any aggregated field still counts", "[operators][tumbling]") {
  WindowHarness h(kWindow, "[count, count(temp), sum(temp), mean(temp)]");
  h.record("a", kT0 + 1_s, {{"rpm", 1200}});
  h.flush();

  CHECK(h.json() == Lines{R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":1,)"
                          R"("temp_count":0,"temp_sum":0,"temp_mean":null,"partial":true})"});
}

TEST_CASE("flush emits open windows in order of end, then of key first seen", "[operators][tumbling]") {
  WindowHarness h(kWindow, kAggs, ooo(60_s));
  h.record("b", kT0 + 15_s, {{"temp", 1}});
  h.record("a", kT0 + 5_s, {{"temp", 2}});
  h.record("a", kT0 + 15_s, {{"temp", 3}});
  h.record("c", kT0 + 5_s, {{"temp", 4}});
  CHECK(h.summaries().empty());

  h.flush();

  REQUIRE(h.summaries().size() == 4);
  const auto& s = h.summaries();
  CHECK((s[0].key == "a" && s[0].end == kT0 + 10_s));
  CHECK((s[1].key == "c" && s[1].end == kT0 + 10_s));
  CHECK((s[2].key == "b" && s[2].end == kT0 + 20_s));
  CHECK((s[3].key == "a" && s[3].end == kT0 + 20_s));
  for (const auto& x : s) CHECK(x.partial());
}

TEST_CASE("a key's watermark is its own: a key far ahead does not close another key's windows",
          "[operators][tumbling]") {
  WindowHarness h(kWindow, kAggs);
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.record("b", kT0 + 100_s, {{"temp", 5}});
  h.record("a", kT0 + 2_s, {{"temp", 3}});
  CHECK(h.summaries().empty());
  h.flush();

  CHECK(h.json() ==
        Lines{R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":2,"temp_mean":2,"temp_max":3,"partial":true})",
              R"({"pipeline":"p","key":"b","start":1700000100000,"end":1700000110000,"count":1,"temp_mean":5,"temp_max":5,"partial":true})"});
  CHECK(h.counters().late.get() == 0);
}

TEST_CASE("keys sorted one after the other, each restarting its clock, lose nothing", "[operators][tumbling]") {
  // Recorded files (C-MAPSS) list every cycle of unit 1, then of unit 2, and so on.
  WindowHarness h(kWindow, "[count, max(s1)]");
  for (int unit = 1; unit <= 3; ++unit)
    for (int cycle = 1; cycle <= 25; ++cycle)
      h.record("unit-" + std::to_string(unit), kT0 + cycle * 1_s, {{"s1", static_cast<double>(cycle)}});
  h.flush();

  CHECK(h.counters().late.get() == 0);
  std::uint64_t records = 0;
  for (const auto& s : h.summaries()) records += s.count;
  CHECK(records == 75);
  // Per unit: [0s, 10s) and [10s, 20s) fire as the unit's own clock passes them, [20s, 30s) at the end.
  REQUIRE(h.summaries().size() == 9);
  CHECK(h.summaries()[0].key == "unit-1");
  CHECK(h.summaries()[0].count == 9);
  CHECK(h.summaries()[1].count == 10);
  CHECK(h.summaries()[2].key == "unit-2");
  for (std::size_t i = 6; i < 9; ++i) {
    CHECK(h.summaries()[i].partial());
    CHECK(h.summaries()[i].count == 6);
    CHECK(h.summaries()[i].key == "unit-" + std::to_string(i - 5));
  }
}

TEST_CASE("a per-source watermark closes every key's windows as the source's newest record passes them",
          "[operators][tumbling]") {
  WindowOptions o;
  o.watermark = runtime::WatermarkScope::per_source;
  WindowHarness h(kWindow, kAggs, o);
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.record("b", kT0 + 5_s, {{"temp", 2}});
  h.record("b", kT0 + 12_s, {{"temp", 3}});  // source watermark 12s: a's and b's [0s, 10s) fire
  h.record("a", kT0 + 9_s, {{"temp", 4}});   // behind the source watermark: late for a

  CHECK(h.json() ==
        Lines{R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":1,"temp_max":1})",
              R"({"pipeline":"p","key":"b","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":2,"temp_max":2})"});
  CHECK(h.counters().late.get() == 1);
}

TEST_CASE("with a per-source watermark, an idle check that finds no idle key leaves windows firing",
          "[operators][tumbling]") {
  WindowOptions o;
  o.watermark = runtime::WatermarkScope::per_source;
  o.idle_timeout = 30_s;
  o.max_out_of_order = 25_s;
  WindowHarness h(kWindow, kAggs, o);
  h.tick(kP);
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.tick(kP + 10_s);  // an idle check: a is not idle
  h.record("a", kT0 + 35_s, {{"temp", 2}});  // source watermark 10s

  CHECK(h.json() ==
        Lines{R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":1,"temp_max":1})"});
}

TEST_CASE("with a per-source watermark, a watermark for every key before any record leaves windows firing",
          "[operators][tumbling]") {
  WindowOptions o;
  o.watermark = runtime::WatermarkScope::per_source;
  o.max_out_of_order = 25_s;
  WindowHarness h(kWindow, kAggs, o);
  runtime::Event all_keys;
  all_keys.kind = runtime::EventKind::watermark;
  all_keys.flags = runtime::kAllKeys;
  all_keys.time = kT0 - 60_s;
  h.process({&all_keys, 1});
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.record("a", kT0 + 35_s, {{"temp", 2}});  // source watermark 10s

  CHECK(h.json() ==
        Lines{R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":1,"temp_max":1})"});
}

TEST_CASE("in-band watermarks close a key's windows, or every key's", "[operators][tumbling]") {
  WindowHarness h(kWindow, kAggs, ooo(60_s));
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.record("b", kT0 + 2_s, {{"temp", 2}});
  h.record("a", kT0 + 11_s, {{"temp", 3}});
  runtime::Event w;
  w.kind = runtime::EventKind::watermark;
  w.key = h.key("a");
  w.time = kT0 + 10_s;  // a's [0s, 10s) is complete
  h.process({&w, 1});
  CHECK(h.json() ==
        Lines{R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":1,"temp_max":1})"});
  h.take();

  w.key = {};
  w.flags = runtime::kAllKeys;
  w.time = kT0 + 20_s;  // everything before 20s is complete
  h.process({&w, 1});
  CHECK(h.json() ==
        Lines{R"({"pipeline":"p","key":"b","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":2,"temp_max":2})",
              R"({"pipeline":"p","key":"a","start":1700000010000,"end":1700000020000,"count":1,"temp_mean":3,"temp_max":3})"});
  h.record("b", kT0 + 15_s, {{"temp", 4}});
  CHECK(h.counters().late.get() == 1);
}

TEST_CASE("a key idle for idle_timeout of tick time fires its open windows, not partial", "[operators][tumbling]") {
  WindowOptions o;
  o.idle_timeout = 30_s;
  WindowHarness h(kWindow, kAggs, o);
  h.tick(kP);
  h.record("a", kT0 + 1_s, {{"temp", 1}});  // a is active at kP
  h.record("b", kT0 + 1_s, {{"temp", 2}});
  h.tick(kP + 10_s);
  h.record("b", kT0 + 2_s, {{"temp", 4}});  // b is active at kP + 10s

  SECTION("one nanosecond short of idle_timeout nothing fires") {
    h.tick(kP + 30_s - 1_ns);
    CHECK(h.summaries().empty());
  }
  SECTION("at idle_timeout the idle key's window fires and later records into it are late") {
    h.tick(kP + 30_s);
    CHECK(h.json() == Lines{R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":1,"temp_max":1})"});
    h.record("a", kT0 + 5_s, {{"temp", 9}});
    CHECK(h.counters().late.get() == 1);
    h.flush();
    REQUIRE(h.summaries().size() == 2);
    CHECK(h.summaries()[1].json ==
          R"({"pipeline":"p","key":"b","start":1700000000000,"end":1700000010000,"count":2,"temp_mean":3,"temp_max":4,"partial":true})");
  }
}

TEST_CASE("records before the first tick count as active at that tick", "[operators][tumbling]") {
  WindowOptions o;
  o.idle_timeout = 30_s;
  WindowHarness h(kWindow, kAggs, o);
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.tick(kP);
  CHECK(h.summaries().empty());
  h.tick(kP + 30_s);
  CHECK(h.summaries().size() == 1);
}

TEST_CASE("a late summary comes out before windows that a later tick closes in the same batch",
          "[operators][tumbling]") {
  WindowOptions o;
  o.idle_timeout = 10_s;
  WindowHarness h("{type: tumbling, size: 10s, late: emit}", kAggs, o);
  h.tick(kP);
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.record("b", kT0 + 1_s, {{"temp", 2}});
  h.tick(kP + 5_s);
  h.record("a", kT0 + 10_s, {{"temp", 3}});  // fires a's [0s, 10s)
  h.take();

  // One batch: a late record of a, then a tick at which b has been idle for 10s.
  std::vector<runtime::Event> batch;
  const FieldValue late[] = {{"temp", 7}};
  h.append_record(batch, "a", kT0 + 5_s, late);
  batch.push_back(WindowHarness::tick_event(kP + 10_s));
  h.process(batch);

  REQUIRE(h.summaries().size() == 2);
  CHECK(h.summaries()[0].json ==
        R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":7,"temp_max":7,"late":true})");
  CHECK(h.summaries()[1].json ==
        R"({"pipeline":"p","key":"b","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":2,"temp_max":2})");
}

}  // namespace vigil::test
