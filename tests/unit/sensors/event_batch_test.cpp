// A source's batch never splits a record between two pushes: a pipeline that drains the queue
// between them would see a record without its last values (windows that keep no state between
// process() calls would lose them).
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "../../../sensors/src/event_batch.hpp"
#include "vigil/runtime/ingest_queue.hpp"

namespace vigil::sensors {
namespace {

runtime::Event value(std::uint32_t key, bool begin) {
  runtime::Event e{};
  e.kind = runtime::EventKind::sample;
  e.key = runtime::KeyId{key, 0};
  e.flags = begin ? runtime::kRecordBegin : 0;
  return e;
}

// Checks that what the queue holds right now is whole records (each push is drained at once,
// as a fast pipeline thread would).
void expect_whole_records(runtime::IngestQueue& q, std::size_t& records) {
  std::vector<runtime::Event> out(4096);
  const std::size_t n = q.pop(out);
  if (n == 0) return;
  REQUIRE(out[0].flags & runtime::kRecordBegin);
  for (std::size_t i = 0; i < n; ++i)
    if (out[i].flags & runtime::kRecordBegin) ++records;
  // The last record is complete: 3 values.
  std::size_t last = n - 1;
  while (!(out[last].flags & runtime::kRecordBegin)) --last;
  CHECK(n - last == 3);
}

TEST_CASE("a full batch pushes whole records and carries the started one over", "[sensors][batch]") {
  const auto policy = GENERATE(runtime::OverflowPolicy::block, runtime::OverflowPolicy::drop_newest);
  runtime::IngestQueue q(100'000, policy, nullptr);
  StopSignal stop;
  EventBatch batch(stop);
  batch.attach(q);
  std::size_t records = 0;
  for (std::uint32_t r = 0; r < 1000; ++r) {
    for (int v = 0; v < 3; ++v) REQUIRE(batch.add(value(r % 7, v == 0)));
    expect_whole_records(q, records);  // 256 is not a multiple of 3: fills mid-record
  }
  REQUIRE(batch.flush());
  expect_whole_records(q, records);
  CHECK(records == 1000);
}

TEST_CASE("a blocking queue with little room takes whole records only", "[sensors][batch]") {
  // Room for 10 events: 3 records at a time, never a record's first values alone.
  runtime::IngestQueue q(10, runtime::OverflowPolicy::block, nullptr);
  StopSignal stop;
  EventBatch batch(stop);
  batch.attach(q);
  std::size_t events = 0, splits = 0;
  std::thread consumer([&] {
    while (events < 600) {
      std::vector<runtime::Event> out(10);
      const std::size_t n = q.pop(out);
      if (n == 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        continue;
      }
      if (!(out[0].flags & runtime::kRecordBegin) || n % 3 != 0) ++splits;  // keeps draining
      events += n;
    }
  });
  for (std::uint32_t r = 0; r < 200; ++r)
    for (int v = 0; v < 3; ++v) REQUIRE(batch.add(value(r, v == 0)));
  REQUIRE(batch.flush());
  consumer.join();
  CHECK(events == 600);
  CHECK(splits == 0);
}

}  // namespace
}  // namespace vigil::sensors
