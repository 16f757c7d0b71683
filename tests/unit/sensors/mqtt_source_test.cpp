#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../../../sensors/src/reading_codec.hpp"
#include "mosquitto_broker.hpp"
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

const runtime::SourcePlugin& mqtt() {
  static const runtime::Registry registry = [] {
    runtime::Registry r;
    sensors::register_sources(r);
    return r;
  }();
  const auto* p = registry.source("mqtt");
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

/// An mqtt source built from YAML the way the engine builds it (generic keys validated
/// elsewhere, handed over in the setup's mapping), reading into a drop_newest queue.
struct MqttFixture {
  MqttFixture() : queue(4096, runtime::OverflowPolicy::drop_newest, nullptr) {}
  ~MqttFixture() {
    if (source) source->stop();
  }

  bool make(const std::string& yaml) {
    auto root = runtime::load_config_text(yaml, "test.yaml", ".");
    REQUIRE(root);
    node = std::make_unique<runtime::ConfigNode>(std::move(root.value()));
    static constexpr std::string_view kGeneric[] = {"name", "type", "key", "time", "fields", "queue_depth", "overflow"};
    runtime::validate_block(*node, mqtt().keys, h.setup.path, h.diag, kGeneric);
    h.setup.block = runtime::Block(node.get(), mqtt().keys);
    if (!h.diag.empty()) return false;
    source = mqtt().make(h.setup);
    return source != nullptr;
  }

  void start() { REQUIRE(source->start(queue)); }

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

  bool wait(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      pump();
      if (done()) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(2ms);
    }
  }
  bool wait_records(std::size_t n) { return wait([&] { return records.size() >= n; }); }

  /// Publishes a probe until one arrives (the subscription is in place), then forgets the
  /// probe records. A probe published before the subscription existed is lost by the broker.
  void subscribed(const MosquittoBroker& broker, const std::string& topic, const std::string& payload,
                  std::chrono::seconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const std::size_t before = records.size();
    for (;;) {
      REQUIRE(broker.publish(topic, payload));
      if (wait([&] { return records.size() > before; }, 250ms)) break;
      INFO("no probe came through on " << topic << "; broker log:\n" << broker.log());
      REQUIRE(std::chrono::steady_clock::now() < deadline);
    }
    records.resize(before);
    probes = counters().records.get();
    probe_bytes = counters().bytes.get();
  }

  const runtime::SourceCounters& counters() const { return source->counters(); }

  SourceHarness h;
  std::unique_ptr<runtime::ConfigNode> node;
  runtime::IngestQueue queue;
  std::unique_ptr<runtime::Source> source;
  std::vector<Record> records;
  std::uint64_t probes = 0;
  std::uint64_t probe_bytes = 0;
};

std::string config(const MosquittoBroker& broker, const std::string& rest) {
  return "broker: " + broker.uri() + "\n" + rest;
}

TEST_CASE("mqtt json objects and arrays of objects become records keyed by a topic level",
          "[sensors][mqtt][integration][broker]") {
  MosquittoBroker broker;
  MqttFixture f;
  f.h.setup.mapping.key = "{topic[1]}";
  f.h.setup.mapping.time.field = "ts";
  f.h.setup.mapping.time.unit = runtime::TimeUnit::ms;
  REQUIRE(f.make(config(broker, "topics: [plant/+/telemetry]\nformat: json\n")));
  f.start();
  f.subscribed(broker, "plant/probe/telemetry", R"({"probe": 1})");
  REQUIRE(broker.publish("plant/press-1/telemetry", R"({"ts": 1700000000000, "temp": 21.5, "vib": 0.02})"));
  REQUIRE(broker.publish("plant/pump-1/telemetry",
                         R"([{"ts": 1700000001000, "temp": 30}, {"ts": 1700000002000, "temp": 31, "s": {"rpm": 1500}}])"));
  REQUIRE(f.wait_records(3));
  CHECK(f.records[0].key == "press-1");
  CHECK(f.records[0].time == 1'700'000'000'000 * runtime::kNanosPerMilli);
  CHECK(f.records[0].values == std::map<std::string, double>{{"temp", 21.5}, {"vib", 0.02}});
  CHECK(f.records[1].key == "pump-1");
  CHECK(f.records[1].time == 1'700'000'001'000 * runtime::kNanosPerMilli);
  CHECK(f.records[1].values == std::map<std::string, double>{{"temp", 30}});
  CHECK(f.records[2].values == std::map<std::string, double>{{"temp", 31}, {"s.rpm", 1500}});
  CHECK(f.counters().records.get() == f.probes + 3);
  CHECK(f.counters().malformed.get() == 0);
}

TEST_CASE("mqtt kv payloads carry their key, one record per line, and bytes are counted",
          "[sensors][mqtt][integration][broker]") {
  MosquittoBroker broker;
  MqttFixture f;
  f.h.setup.mapping.fields = {"temp", "vib"};
  REQUIRE(f.make(config(broker, "topics: [line/kv]\nformat: kv\nqos: 0\n")));
  f.start();
  f.subscribed(broker, "line/kv", "key=probe temp=0");
  const std::string payload = "key=fan-1 temp=3 vib=0.5\r\nkey=fan-2 temp=4\n";
  REQUIRE(broker.publish("line/kv", payload));
  REQUIRE(f.wait_records(2));
  CHECK(f.records[0].key == "fan-1");
  CHECK(f.records[0].values == std::map<std::string, double>{{"temp", 3}, {"vib", 0.5}});
  CHECK(f.records[0].time == f.h.clock.now());  // no time field: arrival time
  CHECK(f.records[1].key == "fan-2");
  CHECK(f.records[1].values == std::map<std::string, double>{{"temp", 4}});
  CHECK(f.wait([&] { return f.counters().bytes.get() == f.probe_bytes + payload.size(); }));
}

TEST_CASE("mqtt csv payloads with named columns", "[sensors][mqtt][integration][broker]") {
  MosquittoBroker broker;
  MqttFixture f;
  f.h.setup.mapping.key = "machine";
  REQUIRE(f.make(config(broker, "topics: [line/csv]\nformat: csv\ncolumns: [ts, machine, temp]\n")));
  f.start();
  f.subscribed(broker, "line/csv", "1700000000000,probe,0");
  REQUIRE(broker.publish("line/csv", "1700000000500,press-1,60.5"));
  REQUIRE(f.wait_records(1));
  CHECK(f.records[0].key == "press-1");
  CHECK(f.records[0].time == 1'700'000'000'500 * runtime::kNanosPerMilli);
  CHECK(f.records[0].values == std::map<std::string, double>{{"temp", 60.5}});
}

TEST_CASE("mqtt flatbuffers payloads: a batch of readings, each one record, a damaged message counted",
          "[sensors][mqtt][flatbuffers][integration][broker]") {
  MosquittoBroker broker;
  MqttFixture f;
  REQUIRE(f.make(config(broker, "topics: [\"fb/+\"]\nformat: flatbuffers\n")));
  f.start();
  sensors::ReadingEncoder enc;
  const std::vector<std::string> probe_names{"probe"};
  const double one[] = {1};
  enc.add("probe", false, 0, probe_names, one);
  const auto probe = enc.finish();
  const std::vector<std::uint8_t> probe_bytes(probe.begin(), probe.end());
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (f.records.empty()) {
    REQUIRE(broker.publish_bytes("fb/probe", probe_bytes));
    if (!f.wait([&] { return !f.records.empty(); }, 250ms)) REQUIRE(std::chrono::steady_clock::now() < deadline);
  }
  f.records.clear();

  enc.clear();
  const std::vector<std::string> names{"temp", "vib"};
  const double a[] = {60.5, 0.25};
  const double b[] = {61, std::nan("")};
  enc.add("press-1", true, 1'700'000'000'000'000'001, names, a);
  enc.add("pump-1", false, 0, names, b);
  const auto batch = enc.finish();
  const std::vector<std::uint8_t> bytes(batch.begin(), batch.end());
  REQUIRE(broker.publish_bytes("fb/line-1", bytes));
  REQUIRE(broker.publish_bytes("fb/line-1", std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 20)));
  REQUIRE(f.wait([&] { return f.records.size() == 2 && f.counters().malformed.get() == 1; }));
  CHECK(f.records[0].key == "press-1");
  CHECK(f.records[0].time == 1'700'000'000'000'000'001);
  CHECK(f.records[0].values == std::map<std::string, double>{{"temp", 60.5}, {"vib", 0.25}});
  CHECK(f.records[1].key == "pump-1");
  CHECK(f.records[1].time == f.h.clock.now());  // no time: arrival time
  CHECK(f.records[1].values == std::map<std::string, double>{{"temp", 61}});
}

TEST_CASE("mqtt flatbuffers config refuses csv columns", "[sensors][mqtt][flatbuffers][config]") {
  MqttFixture f;
  CHECK_FALSE(f.make("broker: tcp://localhost:1883\ntopics: [t]\nformat: flatbuffers\ncolumns: [a, b]\n"));
  CHECK_THAT(f.h.diag.str(), Contains("columns apply to format: csv only"));
}

TEST_CASE("mqtt value payloads under a # wildcard take their field from the last topic level",
          "[sensors][mqtt][integration][broker]") {
  MosquittoBroker broker;
  MqttFixture f;
  f.h.setup.mapping.key = "{topic[1]}";
  REQUIRE(f.make(config(broker, "topics: [\"plant/#\"]\nformat: value\n")));
  f.start();
  f.subscribed(broker, "plant/probe/x", "0");
  REQUIRE(broker.publish("plant/press-1/temp", "21.5"));
  REQUIRE(broker.publish("plant/press-1/vib", " 0.25 "));
  REQUIRE(broker.publish("plant/pump-1/sensors/temp", "-3"));
  REQUIRE(f.wait_records(3));
  CHECK(f.records[0].key == "press-1");
  CHECK(f.records[0].values == std::map<std::string, double>{{"temp", 21.5}});
  CHECK(f.records[0].time == f.h.clock.now());
  CHECK(f.records[1].values == std::map<std::string, double>{{"vib", 0.25}});
  CHECK(f.records[2].key == "pump-1");
  CHECK(f.records[2].values == std::map<std::string, double>{{"temp", -3}});
}

TEST_CASE("mqtt malformed payloads are counted, the first logged with its topic, the rest intact",
          "[sensors][mqtt][integration][broker]") {
  StderrCapture err;
  MosquittoBroker broker;
  MqttFixture f;
  REQUIRE(f.make(config(broker, "topics: [\"dev/+\"]\nformat: json\n")));
  f.start();
  f.subscribed(broker, "dev/probe", R"({"key": "probe", "x": 1})");
  REQUIRE(broker.publish("dev/a", R"({"key": "a", "temp": 1})"));
  REQUIRE(broker.publish("dev/bad", "\xff\xfe not json"));
  REQUIRE(broker.publish("dev/a", R"([{"key": "a", "temp": 2}, 7])"));
  REQUIRE(broker.publish("dev/a", R"({"key": "a", "temp": 3})"));
  REQUIRE(f.wait([&] { return f.records.size() == 3 && f.counters().malformed.get() == 2; }));
  CHECK(f.records[0].values.at("temp") == 1);
  CHECK(f.records[1].values.at("temp") == 2);
  CHECK(f.records[2].values.at("temp") == 3);
  CHECK_THAT(err.text(), Contains("vigil: mqtt " + broker.uri() + ": malformed message on dev/bad: ") &&
                             Contains("further malformed messages are counted"));
}

TEST_CASE("mqtt malformed messages go to the dead-letter file with their topic, once per message, counted",
          "[sensors][mqtt][dead_letter][integration][broker]") {
  MosquittoBroker broker;
  MqttFixture f;
  TempDir dir;
  const std::string path = dir.file("dead.jsonl");
  REQUIRE(f.make(config(broker, "topics: [\"dev/+\"]\nformat: json\ndead_letter: " + path + "\n")));
  f.start();
  f.subscribed(broker, "dev/probe", R"({"x": 1})");
  REQUIRE(broker.publish("dev/bad", R"({"temp": warm})"));
  REQUIRE(broker.publish("dev/a", R"([{"temp": 1}, 7, 8])"));
  REQUIRE(broker.publish("dev/a", R"({"temp": 3})"));
  REQUIRE(f.wait([&] { return f.records.size() == 2 && f.counters().malformed.get() == 3; }));
  CHECK(f.counters().dead_letters.get() == 2);
  const auto lines = split_lines(read_file(path));
  REQUIRE(lines.size() == 2);
  CHECK_THAT(lines[0], Contains(R"("source":"plant","topic":"dev/bad","reason":"\"warm\" in \"temp\" is not a number")") &&
                           Contains(R"("payload":"{\"temp\": warm}")"));
  CHECK_THAT(lines[1], Contains(R"("topic":"dev/a")") && Contains(R"("payload":"[{\"temp\": 1}, 7, 8]")"));
}

TEST_CASE("mqtt source with a dead-letter file it cannot open does not start", "[sensors][mqtt][dead_letter]") {
  MqttFixture f;
  REQUIRE(f.make("broker: tcp://127.0.0.1:1\ntopics: [t]\nformat: json\ndead_letter: /nonexistent-dir/dead.jsonl\n"));
  const auto started = f.source->start(f.queue);
  REQUIRE_FALSE(started);
  CHECK_THAT(started.error().message, Contains("cannot open the dead-letter file /nonexistent-dir/dead.jsonl"));
}

TEST_CASE("mqtt config with dead_letter_max below 4 KiB is refused", "[sensors][mqtt][dead_letter][config]") {
  MqttFixture f;
  CHECK_FALSE(f.make("broker: tcp://localhost:1883\ntopics: [t]\nformat: json\ndead_letter: d.jsonl\n"
                     "dead_letter_max: 100\n"));
  CHECK_THAT(f.h.diag.str(), Contains("dead_letter_max"));
}

TEST_CASE("mqtt records further ahead than max_future are counted and dropped",
          "[sensors][mqtt][integration][broker]") {
  MosquittoBroker broker;
  MqttFixture f;
  f.h.setup.mapping.time.unit = runtime::TimeUnit::s;
  f.h.setup.mapping.time.max_future = 60 * runtime::kNanosPerSecond;
  REQUIRE(f.make(config(broker, "topics: [t]\nformat: json\n")));
  f.start();
  f.subscribed(broker, "t", R"({"probe": 1})");
  REQUIRE(broker.publish("t", R"({"ts": 1700000090, "temp": 1})"));
  REQUIRE(broker.publish("t", R"({"ts": 1700000030, "temp": 2})"));
  REQUIRE(f.wait([&] { return f.records.size() == 1 && f.counters().future.get() == 1; }));
  CHECK(f.records[0].values.at("temp") == 2);
  CHECK(f.records[0].key == "plant");
}

TEST_CASE("mqtt source reconnects and resubscribes after the broker restarts, and logs each state change once",
          "[sensors][mqtt][integration][broker]") {
  StderrCapture err;
  MosquittoBroker broker;
  MqttFixture f;
  f.h.setup.mapping.key = "{topic[1]}";
  REQUIRE(f.make(config(broker, "topics: [r/+]\nformat: value\nreconnect_min: 1s\nreconnect_max: 2s\n")));
  f.start();
  f.subscribed(broker, "r/probe", "0");
  REQUIRE(broker.publish("r/before", "1"));
  REQUIRE(f.wait_records(1));

  broker.stop();
  REQUIRE(f.wait([&] { return err.text().find("connection lost") != std::string::npos; }));
  broker.start();
  f.subscribed(broker, "r/probe", "0");
  REQUIRE(broker.publish("r/after", "2"));
  REQUIRE(f.wait_records(2));
  CHECK(f.records[0].key == "before");
  CHECK(f.records[1].key == "after");
  CHECK(f.records[1].values == std::map<std::string, double>{{"after", 2}});
  const std::string log = err.text();
  CHECK_THAT(log, Contains("vigil: mqtt " + broker.uri() + ": connected") &&
                      Contains("vigil: mqtt " + broker.uri() + ": connection lost (") && Contains("; retrying"));
  std::size_t lost = 0;
  for (std::size_t at = 0; (at = log.find("connection lost", at)) != std::string::npos; ++at) ++lost;
  CHECK(lost == 1);
}

TEST_CASE("mqtt source waits for a broker that is down at start and subscribes once it is up",
          "[sensors][mqtt][integration][broker]") {
  StderrCapture err;
  MosquittoBroker broker;
  broker.stop();
  MqttFixture f;
  REQUIRE(f.make(config(broker, "topics: [up/+]\nformat: value\nreconnect_max: 1s\n")));
  f.start();
  REQUIRE(f.wait([&] { return err.text().find("cannot connect") != std::string::npos; }));
  broker.start();
  f.subscribed(broker, "up/probe", "0");
  REQUIRE(broker.publish("up/temp", "5"));
  REQUIRE(f.wait_records(1));
  CHECK(f.records[0].key == "plant");
  CHECK(f.records[0].values == std::map<std::string, double>{{"temp", 5}});
}

TEST_CASE("mqtt stop returns promptly while the broker is down", "[sensors][mqtt][integration][broker]") {
  StderrCapture err;
  MosquittoBroker broker;
  broker.stop();
  MqttFixture f;
  REQUIRE(f.make(config(broker, "topics: [x]\nformat: value\n")));
  f.start();
  REQUIRE(f.wait([&] { return err.text().find("cannot connect") != std::string::npos; }));
  const auto t0 = std::chrono::steady_clock::now();
  f.source->stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
}

TEST_CASE("mqtt stop returns promptly after the connection was lost", "[sensors][mqtt][integration][broker]") {
  StderrCapture err;
  MosquittoBroker broker;
  MqttFixture f;
  REQUIRE(f.make(config(broker, "topics: [x]\nformat: value\n")));
  f.start();
  f.subscribed(broker, "x", "1");
  broker.stop();
  REQUIRE(f.wait([&] { return err.text().find("connection lost") != std::string::npos; }));
  const auto t0 = std::chrono::steady_clock::now();
  f.source->stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
}

// Config tests: what the user must change, in the diagnostics.

std::string config_errors(const std::string& yaml, const std::string& key = "key") {
  MqttFixture f;
  f.h.setup.mapping.key = key;
  CHECK_FALSE(f.make(yaml));
  return f.h.diag.str();
}

TEST_CASE("mqtt config without a broker is refused", "[sensors][mqtt][config]") {
  CHECK_THAT(config_errors("topics: [a]\nformat: json\n"), Contains("broker"));
}

TEST_CASE("mqtt config with a broker scheme other than tcp or ssl is refused", "[sensors][mqtt][config]") {
  CHECK_THAT(config_errors("broker: mqtt://localhost:1883\ntopics: [a]\nformat: json\n"),
             Contains("sources[0].broker") &&
                 Contains("\"mqtt://localhost:1883\" is not a broker address; use tcp://host:1883 (plain) or "
                          "ssl://host:8883 (TLS)"));
}

TEST_CASE("mqtt config with qos out of range is refused", "[sensors][mqtt][config]") {
  CHECK_THAT(config_errors("broker: tcp://localhost:1883\ntopics: [a]\nformat: json\nqos: 2\n"),
             Contains("sources[0].qos") && Contains("2"));
}

TEST_CASE("mqtt config with an unknown key lists the valid ones", "[sensors][mqtt][config]") {
  CHECK_THAT(config_errors("broker: tcp://localhost:1883\ntopics: [a]\nformat: json\nqso: 1\n"),
             Contains("qso") && Contains("keep_alive"));
}

TEST_CASE("mqtt config with a malformed topic key or TLS keys on tcp is refused", "[sensors][mqtt][config]") {
  CHECK_THAT(config_errors("broker: tcp://localhost:1883\ntopics: [a]\nformat: json\n", "{topic[x]}"),
             Contains("\"{topic[x]}\" is not a topic key; use \"{topic[N]}\""));
  CHECK_THAT(config_errors("broker: tcp://localhost:1883\ntopics: [a]\nformat: json\nca_file: ca.pem\n"),
             Contains("ca_file applies to ssl:// brokers only"));
  CHECK_THAT(config_errors("broker: tcp://localhost:1883\ntopics: [\"a/#/b\"]\nformat: json\n"),
             Contains("\"a/#/b\" is not a topic filter"));
}

TEST_CASE("mqtt config accepts ssl brokers with TLS files", "[sensors][mqtt][config]") {
  MqttFixture f;
  CHECK(f.make("broker: ssl://localhost:8883\ntopics: [a]\nformat: json\nca_file: ca.pem\ncert_file: c.pem\n"
               "key_file: k.pem\nverify: false\n"));
  CHECK(f.h.diag.str().empty());
}

}  // namespace
}  // namespace vigil::test
