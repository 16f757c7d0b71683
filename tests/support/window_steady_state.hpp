#pragma once
// A fixed, allocation-free feeding schedule for steady-state allocation tests of window operators.
#include <cstdint>
#include <string>
#include <vector>

#include "allocation_counter.hpp"
#include "window_harness.hpp"

namespace vigil::test {

using namespace literals;
using runtime::Nanos;

// Counts what it receives without keeping it (copying would allocate).
class CountingSink final : public runtime::SummarySink {
 public:
  void emit(const runtime::Summary& s) noexcept override {
    ++summaries;
    if (s.flags & runtime::kLate) ++late;
    if (s.flags & runtime::kPartial) ++partial;
  }
  std::uint64_t summaries = 0;
  std::uint64_t late = 0;
  std::uint64_t partial = 0;
};

// Records [from, to) of a fixed schedule: record i belongs to key i % 100 at 1ms * i (every key
// every 100ms); every 7th arrives 300ms behind, every 1000th 5s behind; keys 0, 10, 20, ... fall
// silent for 5s out of every 15s; a clock tick follows every 1000th record. Events go through a
// buffer reserved by the caller, so the feeding itself allocates nothing.
inline void feed_steady(runtime::Operator& op, CountingSink& sink, std::vector<runtime::Event>& buffer,
          const std::vector<runtime::KeyId>& keys, runtime::FieldId temp, runtime::FieldId vib, std::int64_t from,
          std::int64_t to) {
  buffer.clear();
  for (std::int64_t i = from; i < to; ++i) {
    const auto k = static_cast<std::size_t>(i % 100);
    if (k % 10 == 0 && (i / 5000) % 3 == 1) continue;
    Nanos t = kT0 + i * 1_ms;
    if (i % 7 == 0) t -= 300_ms;
    if (i % 1000 == 999) t -= 5_s;
    runtime::Event e;
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
    if (i % 1000 == 0) buffer.push_back(WindowHarness::tick_event(kT0 + i * 1_ms));
    if (buffer.size() + 3 > buffer.capacity()) {
      op.process(buffer, sink);
      buffer.clear();
    }
  }
  op.process(buffer, sink);
  buffer.clear();
}

struct SteadyState {
  std::size_t allocations = 0;
  std::uint64_t summaries = 0;  // emitted while counting
};

inline SteadyState run_steady_state(WindowHarness& h) {
  std::vector<runtime::KeyId> keys;
  for (int k = 0; k < 100; ++k) keys.push_back(h.key("machine-" + std::to_string(k)));
  const runtime::FieldId temp = h.field("temp");
  const runtime::FieldId vib = h.field("vib");
  std::vector<runtime::Event> buffer;
  buffer.reserve(1024);
  CountingSink sink;
  feed_steady(h.op(), sink, buffer, keys, temp, vib, 0, 50'000);  // warm-up: every key seen, windows fired
  const std::uint64_t warm = sink.summaries;
  SteadyState r;
  {
    AllocationCounter counter;
    feed_steady(h.op(), sink, buffer, keys, temp, vib, 50'000, 550'000);
    r.allocations = counter.count();
  }
  r.summaries = sink.summaries - warm;
  return r;
}


}  // namespace vigil::test
