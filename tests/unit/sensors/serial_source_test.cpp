#include <catch2/catch.hpp>

#include <fcntl.h>
#include <pty.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "pty.hpp"
#include "source_harness.hpp"
#include "test_support.hpp"
#include "vigil/runtime/ingest_queue.hpp"
#include "vigil/sensors/sensors.hpp"

namespace vigil::test {
namespace {

using runtime::Event;
using runtime::EventKind;
using Catch::Matchers::Contains;
using namespace std::chrono_literals;

const runtime::SourcePlugin& serial() {
  static const runtime::Registry registry = [] {
    runtime::Registry r;
    sensors::register_sources(r);
    return r;
  }();
  const auto* p = registry.source("serial");
  REQUIRE(p != nullptr);
  return *p;
}

/// Sends stderr to a file while alive, so the source's state-change logs can be checked.
struct StderrCapture {
  StderrCapture() : path(dir.file("stderr.txt")) {
    std::fflush(stderr);
    saved = ::dup(2);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() {
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
  }
  std::string text() const { return read_file(path); }

  TempDir dir;
  std::string path;
  int saved = -1;
};

/// One decoded record as seen by a pipeline.
struct Record {
  std::string key;
  runtime::Nanos time = 0;
  std::map<std::string, double> values;
};

/// A serial source built from YAML the way the engine builds it (generic keys validated
/// elsewhere), reading into a drop_newest queue.
struct SerialFixture {
  explicit SerialFixture(std::size_t capacity = 4096)
      : queue(capacity, runtime::OverflowPolicy::drop_newest, nullptr) {}
  ~SerialFixture() {
    if (source) source->stop();
  }

  bool make(const std::string& yaml) {
    auto root = runtime::load_config_text(yaml, "test.yaml", ".");
    REQUIRE(root);
    node = std::make_unique<runtime::ConfigNode>(std::move(root.value()));
    static constexpr std::string_view kGeneric[] = {"name", "type", "key", "time", "fields", "queue_depth", "overflow"};
    runtime::validate_block(*node, serial().keys, h.setup.path, h.diag, kGeneric);
    h.setup.block = runtime::Block(node.get(), serial().keys);
    if (!h.diag.empty()) return false;
    source = serial().make(h.setup);
    return source != nullptr;
  }

  void start() { REQUIRE(source->start(queue)); }

  /// Pops what is queued into `records`.
  void pump() {
    Event buf[256];
    for (std::size_t n; (n = queue.pop(buf)) > 0;)
      for (std::size_t i = 0; i < n; ++i) {
        const Event& e = buf[i];
        if (e.kind != EventKind::sample) continue;
        if (e.flags & runtime::kRecordBegin) records.push_back({std::string(h.keys.name(e.key)), e.time, {}});
        REQUIRE(!records.empty());
        records.back().values[std::string(h.fields.name(e.field))] = e.value;
      }
  }

  /// Polls until `done` or the deadline; pumps the queue on every round.
  bool wait(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      pump();
      if (done()) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(2ms);
    }
  }
  bool wait_records(std::size_t n) { return wait([&] { return records.size() >= n; }); }

  const runtime::SourceCounters& counters() const { return source->counters(); }

  SourceHarness h;
  std::unique_ptr<runtime::ConfigNode> node;
  runtime::IngestQueue queue;
  std::unique_ptr<runtime::Source> source;
  std::vector<Record> records;
};

std::string config(const std::string& device, const std::string& rest) {
  return "device: " + device + "\n" + rest;
}

TEST_CASE("serial kv lines from a pty become records, and lines split across writes wait for their end",
          "[sensors][serial][integration]") {
  Pty pty;
  SerialFixture f;
  f.h.setup.mapping.fields = {"temp", "vib"};
  REQUIRE(f.make(config(pty.path, "format: kv\nbaud: 115200\n")));
  f.start();
  pty.write("key=press-1 temp=21.5 vib=0.02\nkey=pump-1 te");
  REQUIRE(f.wait_records(1));
  REQUIRE(f.wait([&] { return f.counters().bytes.get() == 44; }));
  f.pump();
  CHECK(f.records.size() == 1);
  pty.write("mp=60\ntemp=7\n");
  REQUIRE(f.wait_records(3));
  CHECK(f.records[0].key == "press-1");
  CHECK(f.records[0].values == std::map<std::string, double>{{"temp", 21.5}, {"vib", 0.02}});
  CHECK(f.records[0].time == f.h.clock.now());  // no time field: arrival time
  CHECK(f.records[1].key == "pump-1");
  CHECK(f.records[1].values == std::map<std::string, double>{{"temp", 60}});
  CHECK(f.records[2].key == "plant");  // no key field: the source's name
  CHECK(f.counters().records.get() == 3);
  CHECK(f.counters().malformed.get() == 0);
  CHECK(f.counters().bytes.get() == 57);
}

TEST_CASE("serial garbage bytes and non-numeric values are counted malformed, the rest intact",
          "[sensors][serial][integration]") {
  StderrCapture err;
  Pty pty;
  SerialFixture f;
  f.h.setup.mapping.fields = {"temp"};
  REQUIRE(f.make(config(pty.path, "format: kv\n")));
  f.start();
  pty.write(std::string("temp=1\n\xff\xfe\x01garbage\ntemp=warm\n\n\n") + "temp=2\n");
  REQUIRE(f.wait([&] { return f.records.size() == 2 && f.counters().malformed.get() == 2; }));
  CHECK(f.records[0].values.at("temp") == 1);
  CHECK(f.records[1].values.at("temp") == 2);
  CHECK_THAT(err.text(), Contains("vigil: serial " + pty.path + ": malformed line: ") &&
                             Contains("further malformed lines are counted"));
}

TEST_CASE("serial lines longer than max_line are counted and skipped to the next delimiter",
          "[sensors][serial][integration]") {
  Pty pty;
  SerialFixture f;
  f.h.setup.mapping.fields = {"temp"};
  REQUIRE(f.make(config(pty.path, "format: kv\nmax_line: 64\n")));
  f.start();
  pty.write("temp=1\ntemp=" + std::string(50, '9'));
  REQUIRE(f.wait_records(1));
  pty.write(std::string(5000, '9'));
  pty.write("\ntemp=2\n");
  REQUIRE(f.wait_records(2));
  CHECK(f.records[1].values.at("temp") == 2);
  CHECK(f.counters().malformed.get() == 1);
}

TEST_CASE("serial malformed lines go to the dead-letter file as the device sent them and are counted",
          "[sensors][serial][dead_letter][integration]") {
  Pty pty;
  TempDir dir;
  const std::string path = dir.file("dead.jsonl");
  SerialFixture f;
  f.h.setup.mapping.fields = {"temp", "vib"};
  REQUIRE(f.make(config(pty.path, "format: csv\nmax_line: 64\ndead_letter: " + path + "\n")));
  f.start();
  // A quoted cell that csv unescapes in place, binary garbage, a cell too many, an over-long
  // line, and good lines around them.
  pty.write("1.5,2\n\"1,5\",2\n\xff\xfe\x01garbage\n1,2,3\n" + std::string(100, '7') + "\n3,4\n");
  REQUIRE(f.wait([&] { return f.records.size() == 2 && f.counters().malformed.get() == 4; }));
  CHECK(f.records[1].values.at("temp") == 3);
  CHECK(f.counters().dead_letters.get() == 4);
  auto lines = split_lines(read_file(path));
  REQUIRE(lines.size() == 4);
  CHECK_THAT(lines[0], Contains(R"({"time":"2023-11-14T22:13:20)") &&
                           Contains(R"("source":"plant","topic":")" + pty.path + R"(","reason":")") &&
                           Contains(R"("size":7,"payload":"\"1,5\",2"})"));
  CHECK_THAT(lines[1], Contains(R"("size":10,"payload_base64":"//4BZ2FyYmFnZQ=="})"));
  CHECK_THAT(lines[2], Contains(R"("payload":"1,2,3"})"));
  CHECK_THAT(lines[3], Contains(R"x("reason":"a line is longer than max_line (64 bytes)")x") &&
                           Contains(R"("size":64,"payload":")" + std::string(64, '7') + "\"}"));

  // A line cut off by the device going away is kept too.
  pty.write("5,");
  REQUIRE(f.wait([&] { return f.counters().bytes.get() == 138; }));
  pty.close();
  REQUIRE(f.wait([&] { return f.counters().dead_letters.get() == 5; }));
  lines = split_lines(read_file(path));
  REQUIRE(lines.size() == 5);
  CHECK_THAT(lines[4], Contains(R"("reason":"the device was lost in the middle of a line")") &&
                           Contains(R"("payload":"5,"})"));
  CHECK(f.counters().malformed.get() == 5);
}

TEST_CASE("serial source with a dead-letter file it cannot open does not start", "[sensors][serial][dead_letter]") {
  Pty pty;
  SerialFixture f;
  REQUIRE(f.make(config(pty.path, "format: kv\ndead_letter: /nonexistent-dir/dead.jsonl\n")));
  const auto started = f.source->start(f.queue);
  REQUIRE_FALSE(started);
  CHECK_THAT(started.error().message, Contains("serial " + pty.path) &&
                                          Contains("cannot open the dead-letter file /nonexistent-dir/dead.jsonl"));
}

TEST_CASE("serial config: dead_letter_max below 4 KiB and an empty dead_letter are refused",
          "[sensors][serial][dead_letter][config]") {
  {
    SerialFixture f;
    CHECK_FALSE(f.make("device: /dev/null\nformat: kv\ndead_letter: d.jsonl\ndead_letter_max: 100\n"));
    CHECK_THAT(f.h.diag.str(), Contains("dead_letter_max"));
  }
  SerialFixture f;
  CHECK_FALSE(f.make("device: /dev/null\nformat: kv\ndead_letter: \"\"\n"));
  CHECK_THAT(f.h.diag.str(), Contains("dead_letter") && Contains("the dead-letter path is empty"));
}

TEST_CASE("serial json lines with event time from the payload, and max_future drops what is too far ahead",
          "[sensors][serial][integration]") {
  Pty pty;
  SerialFixture f;
  f.h.setup.mapping.key = "machine";
  f.h.setup.mapping.time.field = "ts";
  f.h.setup.mapping.time.unit = runtime::TimeUnit::s;
  f.h.setup.mapping.time.max_future = 60 * runtime::kNanosPerSecond;
  f.h.setup.mapping.fields = {"temp", "s.vib"};
  REQUIRE(f.make(config(pty.path, "format: json\n")));
  f.start();
  const runtime::Nanos now = f.h.clock.now();
  pty.write(R"({"machine": "fan-1", "ts": 1700000000, "temp": 20, "s": {"vib": 0.1}})" "\n"
            R"({"machine": "fan-1", "ts": 1700000030, "temp": 21})" "\n"
            R"({"machine": "fan-1", "ts": 1700000090, "temp": 22})" "\n"
            R"({"machine": "fan-1", "temp": 23})" "\n");
  REQUIRE(f.wait([&] { return f.records.size() == 3 && f.counters().future.get() == 1; }));
  CHECK(f.records[0].time == 1'700'000'000 * runtime::kNanosPerSecond);
  CHECK(f.records[0].values == std::map<std::string, double>{{"temp", 20}, {"s.vib", 0.1}});
  CHECK(f.records[1].time == 1'700'000'030 * runtime::kNanosPerSecond);
  CHECK(f.records[2].time == now);
  CHECK(f.records[2].values.at("temp") == 23);
}

TEST_CASE("serial csv lines with named columns and a CRLF delimiter", "[sensors][serial][integration]") {
  Pty pty;
  SerialFixture f;
  f.h.setup.mapping.key = "machine";
  REQUIRE(f.make(config(pty.path, "format: csv\ncolumns: [ts, machine, temp, vib]\ndelimiter: \"\\\\r\\\\n\"\n")));
  f.start();
  pty.write("1700000000000,press-1,60.5,0.02\r\n1700000000500,pump-1,61,\r\n");
  REQUIRE(f.wait_records(2));
  CHECK(f.records[0].key == "press-1");
  CHECK(f.records[0].time == 1'700'000'000'000 * runtime::kNanosPerMilli);
  CHECK(f.records[0].values == std::map<std::string, double>{{"temp", 60.5}, {"vib", 0.02}});
  CHECK(f.records[1].values == std::map<std::string, double>{{"temp", 61}});
  CHECK(f.counters().malformed.get() == 0);
}

TEST_CASE("serial csv cells by position with a one-character delimiter", "[sensors][serial][integration]") {
  Pty pty;
  SerialFixture f;
  f.h.setup.mapping.fields = {"temp", "vib"};
  REQUIRE(f.make(config(pty.path, "format: csv\ndelimiter: \";\"\n")));
  f.start();
  pty.write("1,2;3,4;");
  REQUIRE(f.wait_records(2));
  CHECK(f.records[1].values == std::map<std::string, double>{{"temp", 3}, {"vib", 4}});
  CHECK(f.records[1].key == "plant");
}

TEST_CASE("serial device vanishing mid-line is logged, the cut line counted, and the device reopened",
          "[sensors][serial][integration]") {
  StderrCapture err;
  TempDir dir;
  const std::string link = dir.file("ttyUSB0");
  auto pty = std::make_unique<Pty>();
  std::filesystem::create_symlink(pty->path, link);
  SerialFixture f;
  f.h.setup.mapping.fields = {"temp"};
  REQUIRE(f.make(config(link, "format: kv\nreopen_interval: 20ms\n")));
  f.start();
  pty->write("temp=1\ntemp=2");
  REQUIRE(f.wait_records(1));
  REQUIRE(f.wait([&] { return f.counters().bytes.get() == 13; }));
  pty->close();
  REQUIRE(f.wait([&] { return f.counters().malformed.get() == 1; }));
  REQUIRE(f.wait([&] { return err.text().find("lost (") != std::string::npos; }));

  pty = std::make_unique<Pty>();  // plugged back in, maybe under another pts number
  const std::string tmp = dir.file("ttyUSB0.new");
  std::filesystem::create_symlink(pty->path, tmp);
  std::filesystem::rename(tmp, link);
  pty->write("temp=3\n");
  REQUIRE(f.wait_records(2));
  CHECK(f.records[1].values.at("temp") == 3);
  CHECK(f.records.size() == 2);
  const std::string log = err.text();
  CHECK_THAT(log, Contains("vigil: serial " + link + ": lost (") && Contains("reopening every 20ms"));
  const auto lost_at = log.find("lost (");
  CHECK(log.find("vigil: serial " + link + ": open", lost_at) != std::string::npos);
  // One line per state change, not per retry.
  CHECK(log.find("lost (", lost_at + 1) == std::string::npos);
}

TEST_CASE("serial source starts while the device is missing and opens it when it appears",
          "[sensors][serial][integration]") {
  StderrCapture err;
  TempDir dir;
  const std::string link = dir.file("ttyACM0");
  SerialFixture f;
  f.h.setup.mapping.fields = {"temp"};
  REQUIRE(f.make(config(link, "format: kv\nreopen_interval: 20ms\n")));
  f.start();
  REQUIRE(f.wait([&] { return err.text().find("cannot open") != std::string::npos; }));
  Pty pty;
  std::filesystem::create_symlink(pty.path, link);
  pty.write("temp=5\n");
  REQUIRE(f.wait_records(1));
  const std::string log = err.text();
  CHECK(log.find("cannot open") == log.rfind("cannot open"));
}

TEST_CASE("serial reader keeps draining the tty when the queue is full, and drops are counted by the queue",
          "[sensors][serial][integration]") {
  Pty pty;
  SerialFixture f(16);
  f.h.setup.mapping.fields = {"temp", "vib"};
  REQUIRE(f.make(config(pty.path, "format: kv\n")));
  f.start();
  std::string lines;
  for (int i = 0; i < 200; ++i) lines += "temp=" + std::to_string(i) + " vib=1\n";
  pty.write(lines);
  // Bytes are counted as they are read, records as they are decoded and events when their
  // batch reaches the queue: wait for the last of these.
  REQUIRE(f.wait([&] { return f.queue.pushed() + f.queue.dropped() == 400; }, 10s) == true);
  CHECK(f.counters().bytes.get() == lines.size());
  CHECK(f.counters().records.get() == 200);  // every line was read and decoded...
  // ...and what did not fit was refused by the queue and counted there (the queue is not
  // popped until now, except by wait()'s pump, which may have made some room).
  CHECK(f.queue.dropped() > 0);
  f.pump();
  pty.write("temp=1000 vib=2\n");
  REQUIRE(f.wait([&] { return !f.records.empty() && f.records.back().values.at("temp") == 1000; }));
}

TEST_CASE("serial stop returns promptly while reading and while waiting to reopen", "[sensors][serial]") {
  Pty pty;
  for (const std::string& device : {pty.path, std::string("/nonexistent/tty")}) {
    StderrCapture err;
    SerialFixture f;
    f.h.setup.mapping.fields = {"temp"};
    REQUIRE(f.make(config(device, "format: kv\nreopen_interval: 1h\n")));
    f.start();
    std::this_thread::sleep_for(20ms);  // let it block in poll or in the reopen wait
    const auto t0 = std::chrono::steady_clock::now();
    f.source->stop();
    CHECK(std::chrono::steady_clock::now() - t0 < 300ms);
  }
}

TEST_CASE("serial config: bad baud lists the standard rates", "[sensors][serial][config]") {
  SerialFixture f;
  REQUIRE_FALSE(f.make("device: /dev/ttyUSB0\nformat: kv\nbaud: 12345\n"));
  CHECK_THAT(f.h.diag.str(), Contains("sources[0].baud") &&
                                 Contains("12345 is not a standard rate; use one of: 50, 75, 110") &&
                                 Contains("9600, 19200, 38400, 57600, 115200"));
}

TEST_CASE("serial config: format is required, and device when no board profile names one",
          "[sensors][serial][config]") {
  SerialFixture f;
  REQUIRE_FALSE(f.make("baud: 9600\n"));
  CHECK_THAT(f.h.diag.str(), Contains("missing key \"format\""));
  SerialFixture g;
  REQUIRE_FALSE(g.make("format: kv\n"));
  CHECK_THAT(g.h.diag.str(), Contains("sources[0].device") && Contains("no device"));
}

TEST_CASE("serial config: without a device the board profile's serial port is read", "[sensors][serial][config]") {
  Pty pty;
  SerialFixture f;
  f.h.setup.mapping.fields = {"temp"};
  f.h.setup.board.serial = pty.path;
  REQUIRE(f.make("format: kv\n"));
  f.start();
  pty.write("key=press-1 temp=21.5\n");
  REQUIRE(f.wait_records(1));
  CHECK(f.records[0].values == std::map<std::string, double>{{"temp", 21.5}});

  SerialFixture none;
  REQUIRE_FALSE(none.make("format: kv\n"));
  CHECK_THAT(none.h.diag.str(), Contains("sources[0].device") && Contains("board.serial"));
}

TEST_CASE("serial config: overflow block is refused", "[sensors][serial][config]") {
  SerialFixture f;
  REQUIRE_FALSE(f.make("device: /dev/ttyUSB0\nformat: kv\noverflow: block\n"));
  CHECK_THAT(f.h.diag.str(), Contains("sources[0].overflow") && Contains("cannot wait for the pipeline"));

  SerialFixture g;
  REQUIRE(g.make("device: /dev/ttyUSB0\nformat: kv\n"));
  runtime::IngestQueue blocking(16, runtime::OverflowPolicy::block, nullptr);
  const auto started = g.source->start(blocking);
  REQUIRE_FALSE(started);
  CHECK_THAT(started.error().message, Contains("overflow: drop_newest"));
}

TEST_CASE("serial config: unknown keys, bad delimiter, columns outside csv, csv without fields",
          "[sensors][serial][config]") {
  SerialFixture a;
  REQUIRE_FALSE(a.make("device: /dev/ttyUSB0\nformat: kv\nbaudrate: 9600\n"));
  CHECK_THAT(a.h.diag.str(), Contains("baudrate"));
  SerialFixture b;
  REQUIRE_FALSE(b.make("device: /dev/ttyUSB0\nformat: kv\ndelimiter: ab\n"));
  CHECK_THAT(b.h.diag.str(), Contains("sources[0].delimiter") && Contains("use \\n, \\r\\n, \\r or one character"));
  SerialFixture c;
  REQUIRE_FALSE(c.make("device: /dev/ttyUSB0\nformat: json\ncolumns: [a, b]\n"));
  CHECK_THAT(c.h.diag.str(), Contains("columns apply to format: csv only"));
  SerialFixture d;
  REQUIRE_FALSE(d.make("device: /dev/ttyUSB0\nformat: csv\n"));
  CHECK_THAT(d.h.diag.str(), Contains("csv lines need `fields:`"));
  SerialFixture e;
  REQUIRE_FALSE(e.make("device: /dev/ttyUSB0\nformat: kv\ndata_bits: 9\nparity: mark\n"));
  CHECK_THAT(e.h.diag.str(), Contains("data_bits") && Contains("parity"));
}

}  // namespace
}  // namespace vigil::test
