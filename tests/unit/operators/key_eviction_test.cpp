// Evicting a key (key_ttl) from every window kind, and records that were still queued under a
// KeyId whose slot has since gone to another key.
//
// Operator::evict(key) fires the key's open windows as complete (not partial) and forgets its
// state, so a later record of the key starts afresh. Count windows only ever emit full windows:
// an evicted key's records since its last emission are an incomplete window, counted, not
// emitted (as at the end of input). A record whose KeyId generation is not the generation of
// its slot in the KeyTable belongs to a key that was evicted: counted as stale and dropped.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "window_harness.hpp"

namespace vigil::test {
namespace {

using namespace literals;
using runtime::Nanos;

Nanos at(Nanos offset) { return kT0 + offset; }

constexpr const char* kAggs = "[count, sum(temp), count(vib)]";

// The events of one record under an explicit KeyId, as a source queued them before the key went.
std::vector<runtime::Event> queued_record(WindowHarness& h, runtime::KeyId id, Nanos t, double temp, double vib) {
  std::vector<runtime::Event> out;
  runtime::Event e;
  e.time = t;
  e.key = id;
  e.kind = runtime::EventKind::sample;
  e.field = h.field("temp");
  e.value = temp;
  e.flags = runtime::kRecordBegin;
  out.push_back(e);
  e.field = h.field("vib");
  e.value = vib;
  e.flags = 0;
  out.push_back(e);
  return out;
}

TEST_CASE("evicting a key fires its open tumbling window as complete and forgets its watermark",
          "[operators][tumbling][evict]") {
  WindowHarness h("{type: tumbling, size: 10s}", kAggs);
  REQUIRE(h.ok());
  const runtime::KeyId a = h.key("a");
  h.record("a", at(1_s), {{"temp", 1}});
  h.record("a", at(25_s), {{"temp", 2}});  // [0s, 10s) fires; [20s, 30s) stays open
  h.record("b", at(2_s), {{"temp", 10}});
  REQUIRE(h.summaries().size() == 1);

  CaptureSink evicted;
  h.op().evict(a, evicted);
  REQUIRE(evicted.summaries.size() == 1);
  CHECK(evicted.summaries[0].key == "a");
  CHECK(evicted.summaries[0].start == at(20_s));
  CHECK(evicted.summaries[0].end == at(30_s));
  CHECK(evicted.summaries[0].count == 1);
  CHECK_FALSE(evicted.summaries[0].partial());
  CHECK(h.counters().evicted_keys.get() == 1);

  // With the old watermark (25s) this record would be late for [0s, 10s).
  h.record("a", at(3_s), {{"temp", 7}});
  CHECK(h.counters().late.get() == 0);
  h.flush();
  REQUIRE(h.summaries().size() == 3);
  CHECK(h.summaries()[1].key == "a");
  CHECK(h.summaries()[1].start == at(0_s));
  CHECK(h.summaries()[1].count == 1);
  CHECK(h.value(h.summaries()[1], "temp_sum") == 7);
  CHECK(h.summaries()[2].key == "b");
  CHECK(h.value(h.summaries()[2], "temp_sum") == 10);
}

TEST_CASE("evicting a key fires every open hopping window it has, complete, in end order",
          "[operators][hopping][evict]") {
  WindowHarness h("{type: hopping, size: 10s, hop: 5s}", kAggs);
  REQUIRE(h.ok());
  const runtime::KeyId a = h.key("a");
  h.record("a", at(1_s), {{"temp", 1}});
  h.record("a", at(6_s), {{"temp", 2}});  // watermark 6s: [-5s, 5s) fires
  REQUIRE(h.summaries().size() == 1);

  CaptureSink evicted;
  h.op().evict(a, evicted);
  REQUIRE(evicted.summaries.size() == 2);
  CHECK(evicted.summaries[0].start == at(0_s));
  CHECK(evicted.summaries[0].end == at(10_s));
  CHECK(evicted.summaries[0].count == 2);
  CHECK(evicted.summaries[1].start == at(5_s));
  CHECK(evicted.summaries[1].end == at(15_s));
  CHECK(evicted.summaries[1].count == 1);
  for (const auto& s : evicted.summaries) CHECK_FALSE(s.partial());

  h.record("a", at(2_s), {{"temp", 5}});  // [-5s, 5s) fired before, but the key starts afresh
  CHECK(h.counters().late.get() == 0);
  h.flush();
  REQUIRE(h.summaries().size() == 3);
  CHECK(h.summaries()[1].start == at(-5_s));
  CHECK(h.value(h.summaries()[1], "temp_sum") == 5);
  CHECK(h.summaries()[2].start == at(0_s));
  CHECK(h.value(h.summaries()[2], "temp_sum") == 5);
}

TEST_CASE("evicting a key fires its open session as complete and forgets its watermark",
          "[operators][session][evict]") {
  WindowHarness h("{type: session, gap: 10s}", kAggs);
  REQUIRE(h.ok());
  const runtime::KeyId a = h.key("a");
  h.record("a", at(1_s), {{"temp", 1}});
  h.record("a", at(40_s), {{"temp", 2}});  // [1s, 11s) fires; [40s, 50s) stays open
  h.record("a", at(45_s), {{"temp", 3}});
  REQUIRE(h.summaries().size() == 1);

  CaptureSink evicted;
  h.op().evict(a, evicted);
  REQUIRE(evicted.summaries.size() == 1);
  CHECK(evicted.summaries[0].start == at(40_s));
  CHECK(evicted.summaries[0].end == at(55_s));
  CHECK(evicted.summaries[0].count == 2);
  CHECK(h.value(evicted.summaries[0], "temp_sum") == 5);
  CHECK_FALSE(evicted.summaries[0].partial());
  CHECK(h.counters().evicted_keys.get() == 1);

  h.record("a", at(2_s), {{"temp", 9}});  // 2s + 10s <= 45s would be late with the old watermark
  CHECK(h.counters().late.get() == 0);
  h.flush();
  REQUIRE(h.summaries().size() == 2);
  CHECK(h.summaries()[1].start == at(2_s));
  CHECK(h.summaries()[1].count == 1);
  CHECK(h.value(h.summaries()[1], "temp_sum") == 9);
}

TEST_CASE("evicting a key of a tumbling count window counts its unfinished window and forgets its records",
          "[operators][count][evict]") {
  WindowHarness h("{type: count, size: 3}", kAggs);
  REQUIRE(h.ok());
  const runtime::KeyId a = h.key("a");
  h.record("a", at(1_s), {{"temp", 1}});
  h.record("a", at(2_s), {{"temp", 2}});

  CaptureSink evicted;
  h.op().evict(a, evicted);
  CHECK(evicted.summaries.empty());  // count windows never emit fewer than their records
  CHECK(h.counters().incomplete.get() == 1);
  CHECK(h.counters().evicted_keys.get() == 1);

  for (double v : {10.0, 20.0, 30.0}) h.record("a", at(3_s), {{"temp", v}});
  REQUIRE(h.summaries().size() == 1);
  CHECK(h.summaries()[0].count == 3);
  CHECK(h.value(h.summaries()[0], "temp_sum") == 60);
  h.flush();
  CHECK(h.counters().incomplete.get() == 1);
}

TEST_CASE("evicting a key of a sliding count window forgets its records", "[operators][count][evict]") {
  WindowHarness h("{type: count, size: 3, every: 1}", kAggs);
  REQUIRE(h.ok());
  const runtime::KeyId a = h.key("a");
  h.record("a", at(1_s), {{"temp", 1}});
  h.record("a", at(2_s), {{"temp", 2}});
  REQUIRE(h.summaries().size() == 2);

  CaptureSink evicted;
  h.op().evict(a, evicted);
  CHECK(evicted.summaries.empty());
  CHECK(h.counters().incomplete.get() == 0);  // every record had been emitted

  h.record("a", at(3_s), {{"temp", 10}});
  REQUIRE(h.summaries().size() == 3);
  CHECK(h.summaries()[2].count == 1);
  CHECK(h.value(h.summaries()[2], "temp_sum") == 10);
  CHECK(h.summaries()[2].start == at(3_s));
}

TEST_CASE("evicting a key that holds nothing emits nothing - evicting a stale id changes nothing", "[operators][evict]") {
  const char* window = GENERATE("{type: tumbling, size: 10s}", "{type: hopping, size: 10s, hop: 5s}",
                                "{type: session, gap: 10s}", "{type: count, size: 2}");
  INFO(window);
  WindowHarness h(window, kAggs);
  REQUIRE(h.ok());
  const runtime::KeyId a = h.key("a");
  CaptureSink evicted;
  h.op().evict(a, evicted);  // interned, never seen by the window
  CHECK(evicted.summaries.empty());
  h.record("b", at(1_s), {{"temp", 1}});
  const runtime::KeyId b = h.key("b");
  h.op().evict(runtime::KeyId{b.index, b.generation + 1}, evicted);  // not b's generation
  CHECK(evicted.summaries.empty());
  CHECK(h.counters().evicted_keys.get() == 0);
  h.record("b", at(2_s), {{"temp", 2}});
  h.flush();
  std::uint64_t records = 0;
  for (const auto& s : h.summaries()) records += s.key == "b" ? 1 : 0;
  CHECK(records >= 1);  // b's state survived
}

TEST_CASE("a record queued before its key was evicted and its slot reused is counted stale and dropped",
          "[operators][evict]") {
  const char* window = GENERATE("{type: tumbling, size: 10s, late: emit}", "{type: hopping, size: 10s, hop: 5s}",
                                "{type: session, gap: 10s, late: emit}", "{type: count, size: 3}",
                                "{type: count, size: 2, every: 1}");
  INFO(window);
  WindowOptions o;
  o.max_keys = 1;
  WindowHarness h(window, kAggs, o);
  REQUIRE(h.ok());
  const runtime::KeyId a = h.key("a");
  h.record("a", at(1_s), {{"temp", 1}});
  const auto queued = queued_record(h, a, at(2_s), 100, 5);

  // What key_ttl does: the window lets the key go, the key table retires it; a new key then
  // takes the slot of the dormant one because the table is full.
  CaptureSink evicted;
  h.op().evict(a, evicted);
  h.keys().retire(a);
  const runtime::KeyId b = h.key("b");
  REQUIRE(b.index == a.index);
  REQUIRE(b.generation != a.generation);
  REQUIRE(h.keys().generation(a.index) == b.generation);
  const std::size_t before = h.summaries().size();

  h.process(queued);
  CHECK(h.counters().stale.get() == 1);
  CHECK(h.counters().records.get() == 1);
  CHECK(h.summaries().size() == before);

  // The stale record again, right behind one of b's in the same batch: neither of its values
  // may reach b's window.
  std::vector<runtime::Event> batch;
  const FieldValue b_values[] = {{"temp", 7}};
  h.append_record(batch, "b", at(3_s), b_values);
  batch.insert(batch.end(), queued.begin(), queued.end());
  h.append_record(batch, "b", at(4_s), b_values);
  h.append_record(batch, "b", at(5_s), b_values);
  h.process(batch);
  CHECK(h.counters().stale.get() == 2);
  CHECK(h.counters().records.get() == 4);
  h.flush();
  REQUIRE(h.summaries().size() > before);
  for (std::size_t i = before; i < h.summaries().size(); ++i) {
    const auto& s = h.summaries()[i];
    INFO(s.json);
    CHECK(s.key == "b");
    CHECK_FALSE(s.late());
    CHECK(h.value(s, "vib_count") == 0);
    CHECK(h.value(s, "temp_sum") == 7.0 * static_cast<double>(s.count));
  }
  CHECK(h.counters().late.get() == 0);
}

TEST_CASE("a record queued under a key the table evicted outright is stale for the key now in its slot",
          "[operators][evict]") {
  const char* window = GENERATE("{type: tumbling, size: 10s}", "{type: hopping, size: 10s, hop: 5s}",
                                "{type: session, gap: 10s}", "{type: count, size: 1}");
  INFO(window);
  WindowOptions o;
  o.max_keys = 2;
  WindowHarness h(window, kAggs, o);
  REQUIRE(h.ok());
  const runtime::KeyId a = h.key("a");
  const auto queued = queued_record(h, a, at(2_s), 100, 5);  // a's only record, never processed
  h.keys().evict(a);
  const runtime::KeyId c = h.key("c");
  h.record("c", at(1_s), {{"temp", 3}});
  REQUIRE(c.index == a.index);
  h.process(queued);
  CHECK(h.counters().stale.get() == 1);
  h.flush();
  REQUIRE_FALSE(h.summaries().empty());
  for (const auto& s : h.summaries()) {
    INFO(s.json);
    CHECK(s.key == "c");
    CHECK(h.value(s, "temp_sum") == 3);
    CHECK(h.value(s, "vib_count") == 0);
  }
}

}  // namespace
}  // namespace vigil::test
