#include <catch2/catch.hpp>

#include <charconv>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "source_harness.hpp"
#include "test_support.hpp"
#include "vigil/runtime/ingest_queue.hpp"
#include "vigil/sensors/sensors.hpp"

namespace vigil::test {
namespace {

using runtime::Event;
using runtime::EventKind;
using runtime::TimeUnit;
using Catch::Matchers::Contains;

constexpr runtime::Nanos kMs = runtime::kNanosPerMilli;
constexpr runtime::Nanos kSec = runtime::kNanosPerSecond;

/// One replay: a CSV file in a temp folder, a source over it and a queue it feeds.
struct CsvFixture {
  explicit CsvFixture(std::size_t max_keys = 64) : h(max_keys) {
    h.setup.mapping.key = "machine";
    h.setup.mapping.time.field = "ts";
    h.setup.mapping.time.unit = TimeUnit::ms;
  }

  bool open(const std::string& csv) {
    path = dir.file("input.csv");
    write_file(path, csv);
    source = sensors::make_csv_replay(h.setup, path);
    return source != nullptr;
  }

  std::vector<Event> run(std::size_t queue_capacity = 4096) {
    queue = std::make_unique<runtime::IngestQueue>(queue_capacity, runtime::OverflowPolicy::block, nullptr);
    REQUIRE(source->start(*queue));
    auto events = drain(*queue);
    source->stop();
    return events;
  }

  /// "kind key field time value [begin]", for readable comparisons.
  std::string describe(const Event& e) const {
    switch (e.kind) {
      case EventKind::tick: return "tick " + std::to_string(e.time);
      case EventKind::end_of_stream: return "end " + std::to_string(e.time);
      case EventKind::watermark: return "watermark " + std::to_string(e.time);
      case EventKind::sample: break;
    }
    char value[64];
    auto r = std::to_chars(value, value + sizeof value, e.value);
    std::string out = std::string(h.keys.name(e.key)) + " " + std::string(h.fields.name(e.field)) + " " +
                      std::to_string(e.time) + " " + std::string(value, r.ptr);
    if (e.flags & runtime::kRecordBegin) out += " begin";
    if (e.source != h.setup.index) out += " wrong-source";
    return out;
  }

  std::vector<std::string> describe(const std::vector<Event>& events) const {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(describe(e));
    return out;
  }

  SourceHarness h;
  TempDir dir;
  std::string path;
  std::unique_ptr<runtime::Source> source;
  std::unique_ptr<runtime::IngestQueue> queue;
};

TEST_CASE("csv replay turns each row into one record of key, time and values", "[sensors][replay]") {
  CsvFixture f;
  const std::string csv =
      "ts,machine,temp,vib\n"
      "1000,press-1,60.5,0.02\n"
      "1500,pump-1,61,0.03\n"
      "2000,press-1,-1.25,1e-3\n";
  REQUIRE(f.open(csv));
  auto events = f.run();

  CHECK(f.describe(events) == std::vector<std::string>{
                                  "press-1 temp 1000000000 60.5 begin",
                                  "press-1 vib 1000000000 0.02",
                                  "pump-1 temp 1500000000 61 begin",
                                  "pump-1 vib 1500000000 0.03",
                                  "press-1 temp 2000000000 -1.25 begin",
                                  "press-1 vib 2000000000 0.001",
                                  "end 2000000000",
                              });
  CHECK(f.source->counters().records.get() == 3);
  CHECK(f.source->counters().bytes.get() == csv.size());
  CHECK(f.source->counters().malformed.get() == 0);
  CHECK(f.source->counters().unknown_key.get() == 0);
}

TEST_CASE("csv replay reads only the mapped value columns when fields are listed", "[sensors][replay]") {
  CsvFixture f;
  f.h.setup.mapping.fields = {"vib"};
  REQUIRE(f.open("ts,machine,temp,vib,status\n5,m,1,2,running\n"));
  CHECK(f.describe(f.run()) == std::vector<std::string>{"m vib 5000000 2 begin", "end 5000000"});
}

TEST_CASE("csv replay converts every time unit to nanoseconds exactly", "[sensors][replay]") {
  struct Case {
    TimeUnit unit;
    std::string cell;
    runtime::Nanos expected;
  };
  // Expected values worked out by hand; 2024-03-01T12:00:00Z is 1709294400 s after the epoch.
  const Case c = GENERATE(Case{TimeUnit::s, "1709294400", 1'709'294'400 * kSec},
                          Case{TimeUnit::s, "1709294400.123456789", 1'709'294'400'123'456'789},
                          Case{TimeUnit::s, "0.5", 500 * kMs},
                          Case{TimeUnit::s, "1.7e3", 1'700 * kSec},
                          Case{TimeUnit::ms, "1709294400123", 1'709'294'400'123 * kMs},
                          Case{TimeUnit::ms, "1709294400123.456", 1'709'294'400'123'456'000},
                          Case{TimeUnit::ms, "-1.5", -1'500'000},
                          Case{TimeUnit::us, "1709294400123456", 1'709'294'400'123'456'000},
                          Case{TimeUnit::us, "2.5", 2'500},
                          Case{TimeUnit::ns, "1709294400123456789", 1'709'294'400'123'456'789},
                          Case{TimeUnit::rfc3339, "2024-03-01T12:00:00Z", 1'709'294'400 * kSec},
                          Case{TimeUnit::rfc3339, "2024-03-01T12:00:00.25Z", 1'709'294'400'250'000'000},
                          Case{TimeUnit::rfc3339, "2024-03-01T13:00:00+01:00", 1'709'294'400 * kSec});
  CAPTURE(c.cell);
  CsvFixture f;
  f.h.setup.mapping.time.unit = c.unit;
  REQUIRE(f.open("ts,machine,v\n" + c.cell + ",m,1\n"));
  auto samples = only(f.run(), EventKind::sample);
  REQUIRE(samples.size() == 1);
  CHECK(samples[0].time == c.expected);
}

TEST_CASE("csv replay reads quoted cells, CRLF line ends and a byte order mark", "[sensors][replay]") {
  CsvFixture f;
  f.h.setup.mapping.fields = {"temp"};
  const std::string csv =
      "\xEF\xBB\xBF"
      "ts,\"machine\",temp,note\r\n"
      "1,\"press \"\"A\"\", bay 2\",\" 1.5\",\"a, b\"\r\n"
      "2,pump-1,  2.5 ,\"two\r\nlines\"\r\n"
      "3,\"fan\",3.5,\"\"";  // no line break at the end
  REQUIRE(f.open(csv));
  auto events = f.run();
  CHECK(f.describe(events) == std::vector<std::string>{
                                  "press \"A\", bay 2 temp 1000000 1.5 begin",
                                  "pump-1 temp 2000000 2.5 begin",
                                  "fan temp 3000000 3.5 begin",
                                  "end 3000000",
                              });
  CHECK(f.source->counters().malformed.get() == 0);
}

TEST_CASE("csv replay treats an empty cell as an absent value, not zero", "[sensors][replay]") {
  CsvFixture f;
  REQUIRE(f.open("ts,machine,temp,vib\n1,m,,0.5\n2,m,7,\n3,m,,\n4,m,8,9\n"));
  auto events = f.run();
  CHECK(f.describe(events) == std::vector<std::string>{
                                  "m vib 1000000 0.5 begin",
                                  "m temp 2000000 7 begin",
                                  "m temp 4000000 8 begin",
                                  "m vib 4000000 9",
                                  "end 4000000",
                              });
  // The row without any value is no record, but it is not malformed either.
  CHECK(f.source->counters().records.get() == 3);
  CHECK(f.source->counters().malformed.get() == 0);
}

TEST_CASE("csv replay counts and skips malformed rows and keeps the rest", "[sensors][replay]") {
  CsvFixture f;
  REQUIRE(f.open("ts,machine,temp\n"
                 "1,m,1\n"
                 "2,m\n"                // too few cells
                 "3,m,3,extra\n"        // too many cells
                 "four,m,4\n"           // time is not a number
                 "5,m,warm\n"           // value is not a number
                 "6,,6\n"               // empty key
                 "7,m,nan\n"            // not a finite number
                 "8,m,8\n"
                 "\n"                   // blank lines are not rows
                 "9,\"m\"x,9\n"         // text after a closing quote
                 "10,m,10\n"
                 "11,\"m,11\n"));       // unterminated quote at the end of the file
  auto events = f.run();
  CHECK(f.describe(events) == std::vector<std::string>{
                                  "m temp 1000000 1 begin",
                                  "m temp 8000000 8 begin",
                                  "m temp 10000000 10 begin",
                                  "end 10000000",
                              });
  CHECK(f.source->counters().malformed.get() == 8);
  CHECK(f.source->counters().records.get() == 3);
}

TEST_CASE("csv replay skips a row longer than its read buffer as malformed", "[sensors][replay][slow]") {
  CsvFixture f;
  std::string csv = "ts,machine,temp\n1,m,1\n2,m,\"";
  csv += std::string(3 << 20, 'x');
  csv += "\"\n3,m,3\n";
  REQUIRE(f.open(csv));
  auto events = f.run();
  CHECK(f.describe(events) ==
        std::vector<std::string>{"m temp 1000000 1 begin", "m temp 3000000 3 begin", "end 3000000"});
  CHECK(f.source->counters().malformed.get() == 1);
}

TEST_CASE("csv replay rejects a header without a mapped column and lists the header", "[sensors][replay]") {
  SECTION("the key column") {
    CsvFixture f;
    CHECK_FALSE(f.open("ts,device,temp\n1,a,2\n"));
    CHECK(f.h.diag.lines().size() == 1);
    CHECK(f.h.diag.str() == "<config>: sources[0]: " + f.path +
                                ": column \"machine\" (the key of source \"plant\") is not in the header; "
                                "columns are: ts, device, temp");
  }
  SECTION("the time column and a field column") {
    CsvFixture f;
    f.h.setup.mapping.time.field = "time";
    f.h.setup.mapping.fields = {"temp", "rpm"};
    CHECK_FALSE(f.open("ts,machine,temp\n1,a,2\n"));
    REQUIRE(f.h.diag.lines().size() == 2);
    CHECK_THAT(f.h.diag.lines()[0],
               Contains("column \"time\" (the time of source \"plant\") is not in the header; "
                        "columns are: ts, machine, temp"));
    CHECK_THAT(f.h.diag.lines()[1], Contains("column \"rpm\" (a field of source \"plant\") is not in the header"));
  }
  SECTION("an empty file") {
    CsvFixture f;
    CHECK_FALSE(f.open(""));
    CHECK_THAT(f.h.diag.str(), Contains("the file is empty; expected a header line"));
  }
}

TEST_CASE("csv replay reports a file that cannot be opened", "[sensors][replay]") {
  SourceHarness h;
  h.setup.mapping.key = "machine";
  CHECK(sensors::make_csv_replay(h.setup, "/nonexistent/input.csv") == nullptr);
  CHECK(h.diag.str() ==
        "<config>: sources[0]: /nonexistent/input.csv: cannot open: No such file or directory");
}

TEST_CASE("csv replay sends ticks on the virtual clock when idle_timeout is set", "[sensors][replay]") {
  std::string csv = "ts,machine,v\n";
  for (int s = 0; s < 45; ++s) csv += std::to_string(s * 1000) + ",m,1\n";
  csv += "3000,m,1\n";  // out of order: does not move the clock back
  csv += "45000,m,1\n";

  SECTION("idle_timeout 160s: a tick every 10 s of event time, after the record that reached it") {
    CsvFixture f;
    f.h.setup.mapping.time.idle_timeout = 160 * kSec;
    REQUIRE(f.open(csv));
    auto events = f.run();
    std::vector<runtime::Nanos> ticks;
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (events[i].kind != EventKind::tick) continue;
      ticks.push_back(events[i].time);
      REQUIRE(i > 0);
      CHECK(events[i - 1].time == events[i].time);  // the record that advanced the clock
      CHECK(events[i].source == f.h.setup.index);
    }
    CHECK(ticks == std::vector<runtime::Nanos>{10 * kSec, 20 * kSec, 30 * kSec, 40 * kSec});
    CHECK(events.back().kind == EventKind::end_of_stream);
    CHECK(events.back().time == 45 * kSec);
  }
  SECTION("no idle_timeout: no ticks") {
    CsvFixture f;
    REQUIRE(f.open(csv));
    CHECK(only(f.run(), EventKind::tick).empty());
  }
}

TEST_CASE("csv replay waits for a slow consumer and drops nothing", "[sensors][replay]") {
  CsvFixture f;
  std::string csv = "ts,machine,a,b\n";
  for (int i = 0; i < 10'000; ++i) csv += std::to_string(i) + ",k" + std::to_string(i % 7) + "," + std::to_string(i) + ",1\n";
  REQUIRE(f.open(csv));
  runtime::IngestQueue queue(64, runtime::OverflowPolicy::block, nullptr);
  REQUIRE(f.source->start(queue));
  auto events = drain(queue, std::chrono::seconds(60), 7, std::chrono::microseconds(20));
  f.source->stop();

  auto samples = only(events, EventKind::sample);
  REQUIRE(samples.size() == 20'000);
  for (int i = 0; i < 10'000; ++i) {
    const Event& a = samples[static_cast<std::size_t>(2 * i)];
    REQUIRE(a.time == i * kMs);
    REQUIRE(a.value == static_cast<double>(i));
    REQUIRE((a.flags & runtime::kRecordBegin) != 0);
  }
  CHECK(events.back().kind == EventKind::end_of_stream);
  CHECK(queue.dropped() == 0);
  CHECK(f.source->counters().records.get() == 10'000);
}

TEST_CASE("csv replay stops promptly while blocked on a full queue", "[sensors][replay]") {
  CsvFixture f;
  std::string csv = "ts,machine,v\n";
  for (int i = 0; i < 100'000; ++i) csv += std::to_string(i) + ",m,1\n";
  REQUIRE(f.open(csv));
  runtime::IngestQueue queue(64, runtime::OverflowPolicy::block, nullptr);
  REQUIRE(f.source->start(queue));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(queue.size() == 64);
  const auto before = std::chrono::steady_clock::now();
  f.source->stop();
  CHECK(std::chrono::steady_clock::now() - before < std::chrono::milliseconds(200));
}

TEST_CASE("csv replay counts records of keys beyond the key table's capacity", "[sensors][replay]") {
  CsvFixture f(2);
  REQUIRE(f.open("ts,machine,v\n1,a,1\n2,b,2\n3,c,3\n4,a,4\n"));
  auto events = f.run();
  CHECK(f.describe(events) == std::vector<std::string>{"a v 1000000 1 begin", "b v 2000000 2 begin",
                                                       "a v 4000000 4 begin", "end 4000000"});
  CHECK(f.source->counters().unknown_key.get() == 1);
  CHECK(f.source->counters().records.get() == 3);
}

}  // namespace
}  // namespace vigil::test
