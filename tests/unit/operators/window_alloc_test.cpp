// The steady state of tumbling and hopping windows allocates nothing: after a warm-up that has
// seen every key, a million records (with windows firing, out-of-order and late records, clock
// ticks and idle keys) go through process() without one operator new.
#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

#include "allocation_counter.hpp"
#include "window_harness.hpp"

namespace vigil::test {
namespace {

using namespace literals;
using runtime::Event;

constexpr int kKeys = 100;

// Counts what it receives without keeping it (copying would allocate).
class CountingSink final : public runtime::SummarySink {
 public:
  void emit(const runtime::Summary& s) noexcept override {
    ++summaries;
    records += s.count;
    if (s.flags & runtime::kLate) ++late;
  }
  std::uint64_t summaries = 0;
  std::uint64_t records = 0;
  std::uint64_t late = 0;
};

// Feeds records [from, to) of a fixed schedule: record i belongs to key i % 100 at 1ms * i
// (every key every 100ms); every 7th arrives 300ms behind, every 1000th 5s behind (late), and a
// clock tick follows every 1000th record. Key 99 goes quiet now and then, so idle firing happens.
// Events are built in a buffer reserved by the caller: nothing here allocates.
void feed(WindowHarness& h, CountingSink& sink, std::vector<Event>& buffer, const std::vector<runtime::KeyId>& keys,
          runtime::FieldId temp, runtime::FieldId vib, std::int64_t from, std::int64_t to) {
  buffer.clear();
  for (std::int64_t i = from; i < to; ++i) {
    const auto k = static_cast<std::size_t>(i % kKeys);
    if (k == kKeys - 1 && (i / 20'000) % 2 == 1) continue;  // key 99 is quiet every other 20s
    runtime::Nanos t = kT0 + i * 1_ms;
    if (i % 7 == 0) t -= 300_ms;
    if (i % 1000 == 999) t -= 5_s;
    Event e;
    e.time = t;
    e.key = keys[k];
    e.kind = runtime::EventKind::sample;
    e.field = temp;
    e.value = 20.0 + static_cast<double>(i % 13) * 0.5;
    e.flags = runtime::kRecordBegin;
    buffer.push_back(e);
    e.field = vib;
    e.value = 0.01 * static_cast<double>(i % 5);
    e.flags = 0;
    buffer.push_back(e);
    if (i % 1000 == 0) buffer.push_back(WindowHarness::tick_event(1'000_s + i * 1_ms));
    if (buffer.size() + 3 > buffer.capacity()) {
      h.op().process(buffer, sink);
      buffer.clear();
    }
  }
  h.op().process(buffer, sink);
  buffer.clear();
}

void check_steady_state_allocates_nothing(const char* window,
                                          const char* aggregates = "[count, mean(temp), min(temp), max(temp), stddev(temp)]") {
  WindowOptions o;
  o.max_out_of_order = 500_ms;
  o.idle_timeout = 10_s;
  o.max_keys = 128;
  WindowHarness h(window, aggregates, o);
  REQUIRE(h.ok());
  std::vector<runtime::KeyId> keys;
  for (int k = 0; k < kKeys; ++k) keys.push_back(h.key("machine-" + std::to_string(k)));
  const runtime::FieldId temp = h.field("temp");
  const runtime::FieldId vib = h.field("vib");
  std::vector<Event> buffer;
  buffer.reserve(1024);
  CountingSink sink;

  feed(h, sink, buffer, keys, temp, vib, 0, 10'000);  // warm-up: every key seen, windows fired
  const std::uint64_t warm_summaries = sink.summaries;

  std::size_t allocations = 0;
  {
    AllocationCounter counter;
    feed(h, sink, buffer, keys, temp, vib, 10'000, 1'010'000);
    allocations = counter.count();
  }

  CHECK(allocations == 0);
  CHECK(sink.summaries - warm_summaries > 50'000);  // windows did fire in the measured part
  CHECK(h.counters().late.get() > 0);
  CHECK(h.counters().records.get() > 1'000'000);
}

}  // namespace

TEST_CASE("tumbling windows allocate nothing in the steady state", "[operators][tumbling][alloc]") {
  check_steady_state_allocates_nothing("{type: tumbling, size: 1s}");
}

TEST_CASE("tumbling windows with late: emit allocate nothing in the steady state", "[operators][tumbling][alloc]") {
  check_steady_state_allocates_nothing("{type: tumbling, size: 1s, allowed_lateness: 200ms, late: emit}");
}

TEST_CASE("hopping windows allocate nothing in the steady state", "[operators][hopping][alloc]") {
  check_steady_state_allocates_nothing("{type: hopping, size: 1s, hop: 250ms}");
}

TEST_CASE("hopping windows with late: emit allocate nothing in the steady state", "[operators][hopping][alloc]") {
  check_steady_state_allocates_nothing("{type: hopping, size: 2s, hop: 500ms, offset: 100ms, late: emit}");
}

TEST_CASE("tumbling windows with quantiles allocate nothing in the steady state", "[operators][tumbling][alloc]") {
  check_steady_state_allocates_nothing("{type: tumbling, size: 1s, allowed_lateness: 200ms, late: emit}",
                                       "[count, mean(temp), p50(temp), p99(temp), p90(vib)]");
}

TEST_CASE("hopping windows with quantiles allocate nothing in the steady state", "[operators][hopping][alloc]") {
  check_steady_state_allocates_nothing("{type: hopping, size: 2s, hop: 500ms, late: emit}",
                                       "[count, p50(temp), p999(temp), max(temp)]");
}

}  // namespace vigil::test
