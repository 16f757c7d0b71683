// Bounded ingest queues: backpressure, counted drops by policy, and shutdown.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "allocation_counter.hpp"
#include "vigil/runtime/ingest_queue.hpp"

namespace vigil::test {
namespace {

using runtime::Event;
using runtime::IngestQueue;
using runtime::OverflowPolicy;
using Clock = std::chrono::steady_clock;

/// One-value records numbered first, first+1, ... in `value`, so order and loss are visible.
std::vector<Event> numbered(int first, int n) {
  std::vector<Event> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    out[static_cast<std::size_t>(i)].value = first + i;
    out[static_cast<std::size_t>(i)].time = first + i;
    out[static_cast<std::size_t>(i)].flags = runtime::kRecordBegin;
  }
  return out;
}

/// `records` records of `values` values each; value = record number * 10 + value index.
std::vector<Event> records_of(int first, int records, int values) {
  std::vector<Event> out;
  for (int r = first; r < first + records; ++r) {
    for (int v = 0; v < values; ++v) {
      Event e;
      e.value = r * 10 + v;
      e.flags = v == 0 ? runtime::kRecordBegin : 0;
      out.push_back(e);
    }
  }
  return out;
}

std::vector<int> pop_all(IngestQueue& q) {
  std::vector<int> out;
  Event buf[3];
  std::size_t n;
  while ((n = q.pop(buf)) > 0)
    for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<int>(buf[i].value));
  return out;
}

/// Polls `done` until it holds or five seconds pass.
template <class F>
bool eventually(F done) {
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

TEST_CASE("a queue hands events out in the order they were pushed", "[runtime][queue]") {
  IngestQueue q(8, OverflowPolicy::drop_newest, nullptr);
  auto events = numbered(0, 5);
  CHECK(q.push(events));
  CHECK(q.size() == 5);
  CHECK(pop_all(q) == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(q.size() == 0);
  CHECK(q.pushed() == 5);
  CHECK(q.dropped() == 0);
  CHECK(q.high_water() == 5);
}

TEST_CASE("a queue keeps order across the end of its ring", "[runtime][queue]") {
  IngestQueue q(4, OverflowPolicy::drop_newest, nullptr);
  std::vector<int> seen;
  for (int round = 0; round < 10; ++round) {
    auto events = numbered(round * 3, 3);
    REQUIRE(q.push(events));
    for (int v : pop_all(q)) seen.push_back(v);
  }
  std::vector<int> expected;
  for (int i = 0; i < 30; ++i) expected.push_back(i);
  CHECK(seen == expected);
}

TEST_CASE("a queue that never drains keeps order across the end of its ring", "[runtime][queue]") {
  IngestQueue q(4, OverflowPolicy::drop_newest, nullptr);
  std::vector<int> seen;
  Event buf[2];
  REQUIRE(q.push(numbered(0, 1)));
  for (int round = 0; round < 10; ++round) {
    REQUIRE(q.push(numbered(1 + round * 2, 2)));
    const std::size_t n = q.pop(buf);  // one stays behind: the ring never rewinds to slot 0
    for (std::size_t i = 0; i < n; ++i) seen.push_back(static_cast<int>(buf[i].value));
    REQUIRE(q.size() == 1);
  }
  for (int v : pop_all(q)) seen.push_back(v);
  std::vector<int> expected;
  for (int i = 0; i < 21; ++i) expected.push_back(i);
  CHECK(seen == expected);
}

TEST_CASE("a queue that drains between pushes writes only the slots below its high water",
          "[runtime][queue][memory]") {
  auto resident = [] {
    std::ifstream statm("/proc/self/statm");
    std::int64_t size = 0, pages = 0;
    statm >> size >> pages;
    return pages * ::sysconf(_SC_PAGESIZE);
  };
  IngestQueue q(std::size_t{1} << 20, OverflowPolicy::drop_newest, nullptr);  // 32 MiB of events
  const auto batch = numbered(0, 64);
  std::vector<Event> out(64);
  const std::int64_t before = resident();
  // 2 Mi events pass through: twice around the ring if it did not rewind when empty.
  for (int i = 0; i < (1 << 20) / 64 * 2; ++i) {
    REQUIRE(q.push(batch));
    REQUIRE(q.pop(out) == 64);
  }
  CHECK(q.high_water() == 64);
  CHECK(resident() - before < 4 * 1024 * 1024);
}

TEST_CASE("pop on an empty queue returns nothing", "[runtime][queue]") {
  IngestQueue q(4, OverflowPolicy::block, nullptr);
  Event buf[4];
  CHECK(q.pop(buf) == 0);
}

TEST_CASE("a blocking queue makes a fast producer wait and loses nothing", "[runtime][queue]") {
  constexpr int kTotal = 20'000;
  IngestQueue q(16, OverflowPolicy::block, nullptr);
  std::thread producer([&] {
    for (int i = 0; i < kTotal; i += 7) {
      auto events = numbered(i, std::min(7, kTotal - i));
      q.push(events);
    }
  });
  std::vector<int> seen;
  seen.reserve(kTotal);
  Event buf[5];
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (seen.size() < static_cast<std::size_t>(kTotal) && Clock::now() < deadline) {
    std::size_t n = q.pop(buf);
    for (std::size_t i = 0; i < n; ++i) seen.push_back(static_cast<int>(buf[i].value));
    if (n == 0) std::this_thread::yield();
  }
  producer.join();
  REQUIRE(seen.size() == static_cast<std::size_t>(kTotal));
  bool in_order = true;
  for (int i = 0; i < kTotal; ++i) in_order = in_order && seen[static_cast<std::size_t>(i)] == i;
  CHECK(in_order);
  CHECK(q.dropped() == 0);
  CHECK(q.pushed() == static_cast<std::uint64_t>(kTotal));
  CHECK(q.high_water() <= 16);
}

TEST_CASE("a blocking queue takes a batch larger than its capacity piece by piece", "[runtime][queue]") {
  IngestQueue q(4, OverflowPolicy::block, nullptr);
  std::atomic<bool> returned{false};
  bool all = false;
  std::thread producer([&] {
    auto events = numbered(0, 10);
    all = q.push(events);
    returned = true;
  });
  REQUIRE(eventually([&] { return q.size() == 4; }));
  CHECK_FALSE(returned.load());
  std::vector<int> seen;
  REQUIRE(eventually([&] {
    for (int v : pop_all(q)) seen.push_back(v);
    return seen.size() == 10;
  }));
  producer.join();
  CHECK(all);
  CHECK(seen == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("drop_newest refuses what does not fit and counts exactly that", "[runtime][queue]") {
  IngestQueue q(4, OverflowPolicy::drop_newest, nullptr);
  auto first = numbered(0, 3);
  CHECK(q.push(first));
  auto second = numbered(3, 3);
  CHECK_FALSE(q.push(second));  // 3 fits one, drops 4 and 5
  CHECK(q.dropped() == 2);
  CHECK(q.pushed() == 4);
  auto third = numbered(6, 5);
  CHECK_FALSE(q.push(third));
  CHECK(q.dropped() == 7);
  CHECK(pop_all(q) == std::vector<int>{0, 1, 2, 3});
}

TEST_CASE("drop_oldest makes room by dropping the oldest events and counts them", "[runtime][queue]") {
  IngestQueue q(4, OverflowPolicy::drop_oldest, nullptr);
  auto first = numbered(0, 3);
  CHECK(q.push(first));
  auto second = numbered(3, 3);
  CHECK_FALSE(q.push(second));
  CHECK(q.dropped() == 2);
  CHECK(pop_all(q) == std::vector<int>{2, 3, 4, 5});
}

TEST_CASE("drop_oldest with a batch larger than the ring keeps the newest capacity events", "[runtime][queue]") {
  IngestQueue q(4, OverflowPolicy::drop_oldest, nullptr);
  auto first = numbered(0, 2);
  CHECK(q.push(first));
  auto big = numbered(2, 10);  // 12 events in all, 4 fit
  CHECK_FALSE(q.push(big));
  CHECK(q.dropped() == 8);
  CHECK(q.size() == 4);
  CHECK(pop_all(q) == std::vector<int>{8, 9, 10, 11});
}

TEST_CASE("drop_newest never queues part of a record", "[runtime][queue]") {
  IngestQueue q(5, OverflowPolicy::drop_newest, nullptr);
  CHECK_FALSE(q.push(records_of(0, 3, 2)));  // 6 values, room for 5: the third record goes whole
  CHECK(q.dropped() == 2);
  CHECK(pop_all(q) == std::vector<int>{0, 1, 10, 11});
}

TEST_CASE("drop_oldest drops whole records from the head", "[runtime][queue]") {
  IngestQueue q(5, OverflowPolicy::drop_oldest, nullptr);
  CHECK(q.push(records_of(0, 2, 2)));        // 0 1 10 11
  CHECK_FALSE(q.push(records_of(2, 1, 3)));  // needs 3, room 1: record 0 goes (2 values)
  CHECK(q.dropped() == 2);
  CHECK(pop_all(q) == std::vector<int>{10, 11, 20, 21, 22});
}

TEST_CASE("pop never hands out part of a record when a whole one fits", "[runtime][queue]") {
  IngestQueue q(16, OverflowPolicy::block, nullptr);
  CHECK(q.push(records_of(0, 3, 3)));
  std::vector<Event> out(4);
  CHECK(q.pop(out) == 3);  // 4 would split record 1
  CHECK(q.pop(out) == 3);
  CHECK(q.pop(out) == 3);
}

TEST_CASE("drops are counted across many pushes and add up with what was delivered", "[runtime][queue]") {
  for (auto policy : {OverflowPolicy::drop_newest, OverflowPolicy::drop_oldest}) {
    IngestQueue q(5, policy, nullptr);
    std::size_t delivered = 0;
    for (int i = 0; i < 1000; i += 3) {
      auto events = numbered(i, 3);
      q.push(events);
      if (i % 4 == 0) {
        Event buf[2];
        delivered += q.pop(buf);
      }
    }
    delivered += pop_all(q).size();
    CHECK(delivered + q.dropped() == 1002);
  }
}

TEST_CASE("pushing and popping allocate nothing", "[runtime][queue][alloc]") {
  IngestQueue q(8, OverflowPolicy::drop_oldest, nullptr);
  auto events = numbered(0, 12);
  Event buf[8];
  AllocationCounter allocs;
  q.push(events);
  q.pop(buf);
  q.push(std::span<const Event>(events).first(3));
  CHECK(allocs.count() == 0);
}

TEST_CASE("close releases a producer blocked on a full queue and counts what it could not push",
          "[runtime][queue]") {
  IngestQueue q(2, OverflowPolicy::block, nullptr);
  std::atomic<bool> returned{false};
  bool all = true;
  std::thread producer([&] {
    auto events = numbered(0, 5);
    all = q.push(events);
    returned = true;
  });
  REQUIRE(eventually([&] { return q.size() == 2; }));
  CHECK_FALSE(returned.load());
  q.close();
  REQUIRE(eventually([&] { return returned.load(); }));
  producer.join();
  CHECK_FALSE(all);
  CHECK(q.dropped() == 3);
  CHECK(pop_all(q) == std::vector<int>{0, 1});  // what was queued before close is still there
}

TEST_CASE("a push after close is refused and counted", "[runtime][queue]") {
  IngestQueue q(8, OverflowPolicy::block, nullptr);
  q.close();
  auto events = numbered(0, 3);
  CHECK_FALSE(q.push(events));
  CHECK(q.dropped() == 3);
  CHECK(q.size() == 0);
}

TEST_CASE("a push rings the doorbell so a waiting consumer wakes at once", "[runtime][queue]") {
  runtime::Doorbell bell;
  IngestQueue q(8, OverflowPolicy::drop_newest, &bell);
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto events = numbered(0, 1);
    q.push(events);
  });
  auto start = Clock::now();
  bell.wait_for(30 * runtime::kNanosPerSecond);
  auto waited = Clock::now() - start;
  producer.join();
  CHECK(waited < std::chrono::seconds(10));
  CHECK(q.size() == 1);
}

TEST_CASE("a doorbell rung before the wait returns at once", "[runtime][queue]") {
  runtime::Doorbell bell;
  bell.ring();
  auto start = Clock::now();
  bell.wait_for(30 * runtime::kNanosPerSecond);
  CHECK(Clock::now() - start < std::chrono::seconds(10));
}

TEST_CASE("a doorbell that is not rung waits for its timeout", "[runtime][queue]") {
  runtime::Doorbell bell;
  auto start = Clock::now();
  bell.wait_for(20 * runtime::kNanosPerMilli);
  CHECK(Clock::now() - start >= std::chrono::milliseconds(20));
}

TEST_CASE("overflow policies parse from and print to their config names", "[runtime][queue]") {
  CHECK(runtime::parse_overflow_policy("block").value() == OverflowPolicy::block);
  CHECK(runtime::parse_overflow_policy("drop_oldest").value() == OverflowPolicy::drop_oldest);
  CHECK(runtime::parse_overflow_policy("drop_newest").value() == OverflowPolicy::drop_newest);
  CHECK(runtime::to_string(OverflowPolicy::drop_oldest) == "drop_oldest");
  auto r = runtime::parse_overflow_policy("drop");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "\"drop\" is not an overflow policy; use block, drop_oldest or drop_newest");
}

}  // namespace
}  // namespace vigil::test
