// Hopping windows, worked out by hand. Windows start at offset + k * hop (epoch-aligned) and
// last `size`; kT0 (1700000000000 ms) is a multiple of every hop here.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "window_harness.hpp"

namespace vigil::test {
namespace {

using namespace literals;
using Lines = std::vector<std::string>;

constexpr const char* kAggs = "[count, mean(temp)]";

struct Span {
  runtime::Nanos start;
  runtime::Nanos end;
  std::uint64_t count;
  bool partial;
  friend bool operator==(const Span&, const Span&) = default;
};

std::vector<Span> spans(const std::vector<CapturedSummary>& s) {
  std::vector<Span> out;
  for (const auto& x : s) out.push_back(Span{x.start - kT0, x.end - kT0, x.count, x.partial()});
  return out;
}

}  // namespace
}  // namespace vigil::test

namespace Catch {
template <>
struct StringMaker<vigil::test::Span> {
  static std::string convert(const vigil::test::Span& s) {
    return "[" + std::to_string(s.start / 1'000'000) + "ms, " + std::to_string(s.end / 1'000'000) + "ms) count " +
           std::to_string(s.count) + (s.partial ? " partial" : "");
  }
};
}  // namespace Catch

namespace vigil::test {

TEST_CASE("a hopping record lands in every window that contains it", "[operators][hopping]") {
  WindowHarness h("{type: hopping, size: 10s, hop: 5s}", kAggs);
  h.record("a", kT0 + 7_s, {{"temp", 3}});
  h.flush();

  CHECK(h.json() ==
        Lines{R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":3,"partial":true})",
              R"({"pipeline":"p","key":"a","start":1700000005000,"end":1700000015000,"count":1,"temp_mean":3,"partial":true})"});
}

TEST_CASE("hopping windows whose size is not a multiple of the hop start at multiples of the hop",
          "[operators][hopping]") {
  // size 10s, hop 4s: windows [0, 10), [4, 14), [8, 18), [12, 22), ... (seconds after kT0).
  WindowHarness h("{type: hopping, size: 10s, hop: 4s}", kAggs);
  h.record("a", kT0 + 9_s, {{"temp", 1}});
  h.flush();

  CHECK(spans(h.summaries()) == std::vector<Span>{{0_s, 10_s, 1, true}, {4_s, 14_s, 1, true}, {8_s, 18_s, 1, true}});
}

TEST_CASE("hopping windows of size 10s every 4s fire one by one as the watermark passes their ends",
          "[operators][hopping]") {
  WindowHarness h("{type: hopping, size: 10s, hop: 4s}", kAggs);
  h.record("a", kT0 + 9_s, {{"temp", 1}});
  h.record("a", kT0 + 10_s, {{"temp", 2}});  // watermark 10s: [0, 10) fires
  CHECK(spans(h.take()) == std::vector<Span>{{0_s, 10_s, 1, false}});
  h.record("a", kT0 + 14_s, {{"temp", 3}});  // [4, 14) holds 9s and 10s
  CHECK(spans(h.take()) == std::vector<Span>{{4_s, 14_s, 2, false}});
  h.record("a", kT0 + 18_s, {{"temp", 4}});  // [8, 18) holds 9s, 10s, 14s
  auto third = h.take();
  CHECK(spans(third) == std::vector<Span>{{8_s, 18_s, 3, false}});
  h.flush();

  // [12, 22) holds 14s and 18s, [16, 26) holds 18s; [20, 30) is empty.
  CHECK(spans(h.summaries()) == std::vector<Span>{{12_s, 22_s, 2, true}, {16_s, 26_s, 1, true}});
  REQUIRE(third.size() == 1);
  CHECK(h.value(third[0], "temp_mean") == 2);
}

TEST_CASE("a late hopping record is emitted for its fired window and still counts in open ones",
          "[operators][hopping]") {
  WindowHarness h("{type: hopping, size: 10s, hop: 5s, late: emit}", kAggs);
  h.record("a", kT0 + 1_s, {{"temp", 1}});
  h.record("a", kT0 + 10_s, {{"temp", 2}});  // watermark 10s: [-5, 5) and [0, 10) fire
  h.record("a", kT0 + 7_s, {{"temp", 3}});   // [0, 10) fired: late; [5, 15) is open
  h.flush();

  CHECK(h.json() ==
        Lines{R"({"pipeline":"p","key":"a","start":1699999995000,"end":1700000005000,"count":1,"temp_mean":1})",
              R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":1})",
              R"({"pipeline":"p","key":"a","start":1700000000000,"end":1700000010000,"count":1,"temp_mean":3,"late":true})",
              R"({"pipeline":"p","key":"a","start":1700000005000,"end":1700000015000,"count":2,"temp_mean":2.5,"partial":true})",
              R"({"pipeline":"p","key":"a","start":1700000010000,"end":1700000020000,"count":1,"temp_mean":2,"partial":true})"});
  CHECK(h.counters().late.get() == 1);
  CHECK(h.counters().late_emitted.get() == 1);
}

TEST_CASE("a hopping late record is emitted for the latest fired window that holds it", "[operators][hopping]") {
  // size 10s, hop 2s, watermark 16s: windows ending at or before 16s fired. A record at 7s is in
  // [0, 10) ... [6, 16) (fired) and nothing open, so it is late for [6, 16).
  WindowHarness h("{type: hopping, size: 10s, hop: 2s, late: emit}", kAggs);
  h.record("a", kT0 + 3_s, {{"temp", 1}});
  h.record("a", kT0 + 16_s, {{"temp", 2}});
  h.take();
  h.record("a", kT0 + 7_s, {{"temp", 5}});
  h.flush();

  REQUIRE_FALSE(h.summaries().empty());
  CHECK(h.summaries()[0].json ==
        R"({"pipeline":"p","key":"a","start":1700000006000,"end":1700000016000,"count":1,"temp_mean":5,"late":true})");
  CHECK(h.counters().late_emitted.get() == 1);
}

TEST_CASE("hopping offset shifts every window start", "[operators][hopping]") {
  WindowHarness h("{type: hopping, size: 10s, hop: 5s, offset: 2s}", kAggs);
  h.record("a", kT0 + 3_s, {{"temp", 1}});
  h.flush();

  CHECK(spans(h.summaries()) == std::vector<Span>{{-3_s, 7_s, 1, true}, {2_s, 12_s, 1, true}});
}

TEST_CASE("a hopping window with hop equal to size behaves as a tumbling one", "[operators][hopping]") {
  WindowHarness hop("{type: hopping, size: 10s, hop: 10s, late: emit}", kAggs);
  WindowHarness tumble("{type: tumbling, size: 10s, late: emit}", kAggs);
  for (auto* h : {&hop, &tumble}) {
    h->record("a", kT0 + 1_s, {{"temp", 1}});
    h->record("b", kT0 + 12_s, {{"temp", 2}});
    h->record("a", kT0 + 10_s, {{"temp", 3}});
    h->record("a", kT0 + 9_s, {{"temp", 4}});
    h->record("a", kT0 + 25_s, {{"temp", 5}});
    h->flush();
  }
  CHECK(hop.json() == tumble.json());
  CHECK(hop.summaries().size() == 5);
}

TEST_CASE("an idle key's windows come out in (end, key first seen) order however many there are",
          "[operators][hopping]") {
  // Two keys, 30 records each, 10 windows per record: about 80 windows close at one tick.
  WindowOptions o;
  o.idle_timeout = 10_s;
  o.max_out_of_order = 3600_s;  // nothing closes by watermark
  o.max_keys = 2;
  WindowHarness h("{type: hopping, size: 10s, hop: 1s}", "[count]", o);
  h.tick(1'000_s);
  for (int i = 0; i < 30; ++i) {
    h.record("a", kT0 + i * 1_s, {{"temp", 1}});
    h.record("b", kT0 + i * 1_s, {{"temp", 1}});
  }
  h.tick(1'010_s);

  std::vector<std::string> expected, actual;
  for (int end = 1; end <= 39; ++end)  // ends 1s .. 39s for each key, a before b
    for (const char* key : {"a", "b"}) expected.push_back(std::string(key) + " end +" + std::to_string(end) + "s");
  for (const auto& s : h.summaries())
    actual.push_back(s.key + " end +" + std::to_string((s.end - kT0) / 1_s) + "s" + (s.partial() ? " partial" : ""));
  CHECK(actual == expected);
}

}  // namespace vigil::test
