// The upstream publisher against a real mosquitto broker and real SQLite files: what a
// subscriber receives, what is left in the outbox, outages, alerts, TLS.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <mqtt/async_client.h>

#include "mosquitto_broker.hpp"
#include "sync_test_support.hpp"
#include "test_support.hpp"
#include "vigil/sync/outbox.hpp"
#include "vigil/sync/summary_codec.hpp"

namespace vigil::test {
namespace {

using namespace std::chrono_literals;
using Catch::Matchers::Contains;

/// Polls `done` every 10 ms until it holds or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return done();
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

/// Sends stderr to a file while alive, so the publisher's state-change logs can be checked.
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
  std::size_t count(const std::string& needle) const {
    const std::string t = text();
    std::size_t n = 0;
    for (auto at = t.find(needle); at != std::string::npos; at = t.find(needle, at + 1)) ++n;
    return n;
  }

  TempDir dir;
  std::string path;
  int saved = -1;
};

/// One message as the subscriber got it.
struct Received {
  std::string topic;
  std::string payload;
  std::chrono::steady_clock::time_point at;
};

/// A real MQTT subscriber (Paho) with a persistent session, so it gets what was queued for it
/// while it was cut off (the broker must keep sessions across restarts for that).
class Subscriber {
 public:
  Subscriber(const std::string& uri, const std::string& filter)
      : client_(uri, "test-subscriber-" + std::to_string(::getpid()), mqtt::create_options(MQTTVERSION_3_1_1)) {
    client_.set_message_callback([this](mqtt::const_message_ptr msg) {
      std::lock_guard lock(mutex_);
      messages_.push_back({msg->get_topic(), msg->get_payload_str(), std::chrono::steady_clock::now()});
    });
    mqtt::connect_options opts;
    opts.set_clean_session(false);
    opts.set_automatic_reconnect(1, 1);
    opts.set_keep_alive_interval(5);
    REQUIRE(client_.connect(opts)->wait_for(10s));
    REQUIRE(client_.subscribe(filter, 1)->wait_for(10s));
  }
  ~Subscriber() {
    try {
      client_.disable_callbacks();
      if (client_.is_connected()) client_.disconnect(0)->wait_for(1s);
    } catch (...) {
    }
  }
  std::vector<Received> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  /// Messages whose topic does not end in "/status".
  std::vector<Received> summaries() const {
    std::vector<Received> out;
    for (auto& m : messages())
      if (!m.topic.ends_with("/status")) out.push_back(m);
    return out;
  }
  std::vector<std::string> statuses() const {
    std::vector<std::string> out;
    for (auto& m : messages())
      if (m.topic.ends_with("/status")) out.push_back(m.payload);
    return out;
  }
  bool connected() const { return client_.is_connected(); }

 private:
  mqtt::async_client client_;
  mutable std::mutex mutex_;
  std::vector<Received> messages_;
};

sync::DecodedSummary decode(const std::string& payload) {
  auto d = sync::decode_flat_summary({reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()});
  INFO((d ? std::string() : d.error().message));
  REQUIRE(d.ok());
  return std::move(d.value());
}

/// Distinct seqs of the received summaries, in order of first arrival.
std::vector<std::int64_t> first_seqs(const std::vector<Received>& received) {
  std::set<std::int64_t> seen;
  std::vector<std::int64_t> out;
  for (const auto& m : received) {
    const auto seq = decode(m.payload).seq;
    if (seen.insert(seq).second) out.push_back(seq);
  }
  return out;
}

std::vector<std::int64_t> one_to(std::int64_t n) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 1; i <= n; ++i) out.push_back(i);
  return out;
}

/// The outbox and upstream outputs built from one `outputs:` map, as the engine builds them.
struct Outputs {
  runtime::ConfigNode root;
  runtime::Diagnostics diag;
  std::unique_ptr<runtime::Output> outbox;
  std::unique_ptr<runtime::Output> upstream;

  ~Outputs() {
    if (upstream) upstream->stop();
    if (outbox) outbox->stop();
  }
};

std::unique_ptr<Outputs> build(const std::string& yaml, const std::string& dir) {
  auto out = std::make_unique<Outputs>();
  auto parsed = runtime::load_config_text(yaml, "test.yaml", dir);
  REQUIRE(parsed.ok());
  out->root = std::move(parsed.value());
  for (const auto& [name, node] : out->root.members) {
    const runtime::OutputPlugin* plugin = sync_registry().output(name);
    REQUIRE(plugin != nullptr);
    const std::size_t before = out->diag.lines().size();
    runtime::validate_block(node, plugin->keys, "outputs." + name, out->diag);
    if (out->diag.lines().size() != before) continue;
    runtime::OutputSetup setup{runtime::Block(&node, plugin->keys), "gw1", dir, "outputs." + name, &out->diag,
                               &out->root};
    auto made = plugin->make(setup);
    (name == "outbox" ? out->outbox : out->upstream) = std::move(made);
  }
  return out;
}

std::unique_ptr<Outputs> build_ok(const std::string& yaml, const std::string& dir) {
  auto out = build(yaml, dir);
  INFO(out->diag.str());
  REQUIRE(out->diag.empty());
  return out;
}

void start_ok(runtime::Output& output) {
  auto started = output.start();
  INFO((started ? std::string() : started.error().message));
  REQUIRE(started.ok());
}

std::string config_error(const std::string& yaml) {
  TempDir dir;
  auto out = build(yaml, dir.path());
  CHECK(out->upstream == nullptr);
  return out->diag.str();
}

/// Stores `n` summaries of `maker` (from index `first`) straight into the outbox file, with
/// `priority`, the way the outbox output stores them (JSON).
void append_rows(const std::string& path, SummaryMaker& maker, std::uint64_t first, std::uint64_t n,
                 int priority = 0) {
  auto outbox = sync::Outbox::open(path, sync::OutboxOptions{.gateway = "gw1"});
  REQUIRE(outbox.ok());
  std::vector<std::string> payloads;
  std::vector<std::string> keys;
  for (std::uint64_t i = first; i < first + n; ++i) {
    payloads.push_back(json_of(maker.make(i)));
    keys.emplace_back(maker.make(i).key_name);
  }
  std::vector<sync::OutboxRow> rows;
  for (std::size_t j = 0; j < payloads.size(); ++j)
    rows.push_back(sync::OutboxRow{.topic = "t", .pipeline = "line1", .key = keys[j], .start_ms = 0, .end_ms = 0,
                                   .priority = priority, .format = "json", .payload = payloads[j],
                                   .created_ns = 1, .flags = 0});
  REQUIRE((*outbox)->append(rows).ok());
}

std::int64_t rows_in(const std::string& path) {
  Sqlite db(path);
  return db.integer("SELECT count(*) FROM outbox");
}

std::string upstream_yaml(const std::string& broker, const std::string& extra = {}) {
  return "outbox: {path: o.db, batch: 64}\n"
         "upstream: {broker: \"" + broker + "\", reconnect_min: 100ms, reconnect_max: 400ms" + extra + "}\n";
}

}  // namespace

TEST_CASE("upstream publishes every summary once, in seq order, as FlatBuffers, and empties the outbox",
          "[sync][upstream][broker][integration]") {
  MosquittoBroker broker;
  Subscriber sub(broker.uri(), "vigil/#");
  TempDir dir;
  auto outputs = build_ok(upstream_yaml(broker.uri()), dir.path());
  start_ok(*outputs->outbox);
  start_ok(*outputs->upstream);
  SummaryMaker maker;
  constexpr std::int64_t kSummaries = 2000;
  for (std::int64_t i = 0; i < kSummaries; ++i) outputs->outbox->emit(maker.make(static_cast<std::uint64_t>(i)));

  REQUIRE(eventually([&] { return static_cast<std::int64_t>(sub.summaries().size()) >= kSummaries; }));
  REQUIRE(eventually([&] { return rows_in(dir.file("o.db")) == 0; }));
  const auto received = sub.summaries();
  CHECK(static_cast<std::int64_t>(received.size()) == kSummaries);  // no duplicate without an outage
  std::vector<std::int64_t> seqs;
  for (const auto& m : received) seqs.push_back(decode(m.payload).seq);
  CHECK(seqs == one_to(kSummaries));

  // Summary 1234 has seq 1235: every field checked against the summary that was emitted.
  const auto d = decode(received[1234].payload);
  const auto& s = maker.make(1234);
  CHECK(received[1234].topic == "vigil/gw1/line1/" + std::string(s.key_name));
  CHECK(d.gateway == "gw1");
  CHECK(d.epoch.size() == 16);
  CHECK(d.epoch == Sqlite(dir.file("o.db")).text("SELECT value FROM meta WHERE key = 'epoch'"));
  CHECK(d.key == s.key_name);
  CHECK(d.pipeline == "line1");
  CHECK(d.start_ms == 1'700'000'000'000 + 1234 * 1000);
  CHECK(d.count == s.count);
  CHECK(d.names == std::vector<std::string>{"temp_mean", "temp_max"});
  CHECK(d.values == std::vector<double>(s.values.begin(), s.values.end()));
  CHECK(d.flags == 0);  // published as it arrived: not a backlog row

  outputs->upstream->stop();
  CHECK(eventually([&] { return sub.statuses() == std::vector<std::string>{"online", "offline"}; }));
  CHECK_THAT(outputs->upstream->stats(), Contains("2000 published, 2000 acknowledged, 0 resent"));
}

TEST_CASE("upstream never publishes rows kept local and counts the payload bytes it published",
          "[sync][upstream][broker][integration][forward]") {
  MosquittoBroker broker;
  Subscriber sub(broker.uri(), "vigil/#");
  TempDir dir;
  auto outputs = build_ok("outbox: {path: o.db, batch: 64, keep_all: true}\n"
                          "upstream: {broker: \"" + broker.uri() + "\", reconnect_min: 100ms}\n",
                          dir.path());
  start_ok(*outputs->outbox);
  start_ok(*outputs->upstream);
  SummaryMaker maker;
  for (std::uint64_t i = 0; i < 30; ++i) {
    runtime::Summary s = maker.make(i);
    s.forward = i % 3 == 0;         // 10 forwarded: 0, 3, ..., 27
    s.priority = i == 9 ? 2 : 0;    // one of them an alert
    outputs->outbox->emit(s);
  }
  // The 20 local rows stay; the 10 forwarded ones leave. The routine lane goes in seq order, so
  // a local row published by mistake would be among the first 10 received.
  REQUIRE(eventually([&] {
    return sub.summaries().size() >= 10 &&
           Sqlite(dir.file("o.db")).integer("SELECT count(*) FROM outbox WHERE priority <> -1") == 0;
  }));
  CHECK(rows_in(dir.file("o.db")) == 20);
  const auto received = sub.summaries();
  CHECK(received.size() == 10);
  std::set<std::int64_t> seqs;
  std::uint64_t bytes = 0;
  for (const auto& m : received) {
    seqs.insert(decode(m.payload).seq);
    bytes += m.payload.size();
  }
  CHECK(seqs == std::set<std::int64_t>{1, 4, 7, 10, 13, 16, 19, 22, 25, 28});
  CHECK(outputs->upstream->bytes_forwarded() == bytes);
  CHECK_THAT(outputs->upstream->stats(), Contains("10 published, 10 acknowledged, 0 resent, 1 alerts"));
}

TEST_CASE("upstream format json publishes the summary object with gateway, epoch and seq first",
          "[sync][upstream][broker][integration]") {
  MosquittoBroker broker;
  Subscriber sub(broker.uri(), "plant/#");
  TempDir dir;
  auto outputs = build_ok(upstream_yaml(broker.uri(), ", format: json, topic: \"plant/{pipeline}/{key}\""), dir.path());
  start_ok(*outputs->outbox);
  start_ok(*outputs->upstream);
  SummaryMaker maker;
  for (std::uint64_t i = 0; i < 3; ++i) outputs->outbox->emit(maker.make(i));
  REQUIRE(eventually([&] { return sub.messages().size() >= 3; }));
  const std::string epoch = Sqlite(dir.file("o.db")).text("SELECT value FROM meta WHERE key = 'epoch'");
  const auto got = sub.messages();
  for (std::uint64_t i = 0; i < 3; ++i) {
    const std::string local = json_of(maker.make(i));
    CHECK(got[i].topic == "plant/line1/pump-" + std::to_string(i));
    CHECK(got[i].payload == "{\"gateway\":\"gw1\",\"epoch\":\"" + epoch + "\",\"seq\":" + std::to_string(i + 1) +
                                "," + local.substr(1));
  }
}

TEST_CASE("a backlog stored before the broker came up is sent oldest first, flagged resent, at the drain rate",
          "[sync][upstream][broker][integration]") {
  MosquittoBroker broker;
  Subscriber sub(broker.uri(), "vigil/+/line1/+");
  TempDir dir;
  SummaryMaker maker;
  constexpr std::int64_t kBacklog = 600;
  append_rows(dir.file("o.db"), maker, 0, kBacklog);
  auto outputs = build_ok(upstream_yaml(broker.uri(), ", drain_rate: 300"), dir.path());
  start_ok(*outputs->outbox);
  const auto started = std::chrono::steady_clock::now();
  start_ok(*outputs->upstream);
  REQUIRE(eventually([&] { return static_cast<std::int64_t>(sub.summaries().size()) >= kBacklog; }));
  const auto received = sub.summaries();
  const double seconds = std::chrono::duration<double>(received.back().at - started).count();
  // 600 rows at 300/s: about 2 s; at most 50 ms worth of tokens may pile up.
  CHECK(seconds >= 1.8);
  CHECK(seconds < 6.0);
  CHECK(first_seqs(received) == one_to(kBacklog));
  for (const auto& m : received) CHECK((decode(m.payload).flags & runtime::kResent) != 0);

  // Summaries arriving after the backlog was sent are live again: no flag.
  outputs->outbox->emit(maker.make(kBacklog));
  REQUIRE(eventually([&] { return static_cast<std::int64_t>(sub.summaries().size()) > kBacklog; }));
  const auto last = decode(sub.summaries().back().payload);
  CHECK(last.seq == kBacklog + 1);
  CHECK(last.flags == 0);
}

// Paho refuses a publish once 100 are queued for its own thread by default; a window wider than
// that used to be taken for a lost connection, so the backlog never drained (reconnect forever).
TEST_CASE("a wide max_inflight window drains a backlog on one connection without reconnecting",
          "[sync][upstream][broker][integration]") {
  MosquittoBroker broker;
  Subscriber sub(broker.uri(), "vigil/+/line1/+");
  TempDir dir;
  SummaryMaker maker;
  constexpr std::int64_t kBacklog = 5000;
  append_rows(dir.file("o.db"), maker, 0, kBacklog);
  StderrCapture logs;
  auto outputs = build_ok(upstream_yaml(broker.uri(), ", drain_rate: 1000000, max_inflight: 2000"), dir.path());
  start_ok(*outputs->outbox);
  start_ok(*outputs->upstream);
  const bool all = eventually([&] { return static_cast<std::int64_t>(sub.summaries().size()) >= kBacklog; });
  INFO(outputs->upstream->stats() << "\n" << logs.text());
  REQUIRE(all);
  CHECK(first_seqs(sub.summaries()) == one_to(kBacklog));
  REQUIRE(eventually([&] { return rows_in(dir.file("o.db")) == 0; }));
  CHECK(logs.count("connection lost") == 0);
  CHECK_THAT(outputs->upstream->stats(), Contains("5000 published, 5000 acknowledged, 5000 resent, 0 alerts, 0 reconnects"));
}

TEST_CASE("an alert goes out at once while a routine backlog drains", "[sync][upstream][broker][integration]") {
  MosquittoBroker broker;
  Subscriber sub(broker.uri(), "vigil/+/line1/+");
  TempDir dir;
  SummaryMaker maker;
  constexpr std::int64_t kBacklog = 800;
  append_rows(dir.file("o.db"), maker, 0, kBacklog);
  auto outputs = build_ok(upstream_yaml(broker.uri(), ", drain_rate: 200"), dir.path());
  start_ok(*outputs->outbox);
  start_ok(*outputs->upstream);
  REQUIRE(eventually([&] { return sub.summaries().size() >= 50; }));
  append_rows(dir.file("o.db"), maker, 5000, 1, /*priority=*/1);  // seq 801
  REQUIRE(eventually([&] {
    for (const auto& m : sub.summaries())
      if (decode(m.payload).seq == kBacklog + 1) return true;
    return false;
  }));
  std::size_t before_alert = 0;
  for (const auto& m : sub.summaries()) {
    if (decode(m.payload).seq == kBacklog + 1) break;
    ++before_alert;
  }
  // At 200/s the backlog takes 4 s; the alert overtook most of it.
  CHECK(before_alert < static_cast<std::size_t>(kBacklog) / 2);
  REQUIRE(eventually([&] { return rows_in(dir.file("o.db")) == 0; }));
  CHECK(first_seqs(sub.summaries()).size() == static_cast<std::size_t>(kBacklog) + 1);
  CHECK_THAT(outputs->upstream->stats(), Contains("1 alerts"));
}

TEST_CASE("a broker outage mid-drain loses nothing: after dedup every seq arrives exactly once",
          "[sync][upstream][broker][integration][slow]") {
  MosquittoOptions options;
  options.persistence = true;  // the subscriber's session and queue survive the restart
  MosquittoBroker broker(options);
  Subscriber sub(broker.uri(), "vigil/+/line1/+");
  TempDir dir;
  SummaryMaker maker;
  constexpr std::int64_t kBacklog = 3000;
  constexpr std::int64_t kDuringOutage = 500;
  append_rows(dir.file("o.db"), maker, 0, kBacklog);
  StderrCapture logs;
  auto outputs = build_ok(upstream_yaml(broker.uri(), ", drain_rate: 2000"), dir.path());
  start_ok(*outputs->outbox);
  start_ok(*outputs->upstream);
  REQUIRE(eventually([&] { return sub.summaries().size() >= 1000; }));
  broker.stop();
  for (std::int64_t i = 0; i < kDuringOutage; ++i)
    outputs->outbox->emit(maker.make(static_cast<std::uint64_t>(kBacklog + i)));
  // The writer keeps storing while the broker is away.
  REQUIRE(eventually([&] { return Sqlite(dir.file("o.db")).integer("SELECT max(seq) FROM outbox") == kBacklog + kDuringOutage; }));
  // Several failed reconnect attempts (100 ms .. 400 ms apart) before the broker returns.
  REQUIRE(eventually([&] { return logs.count("cannot connect") >= 1; }));
  std::this_thread::sleep_for(1500ms);
  broker.start();
  const bool drained = eventually([&] { return rows_in(dir.file("o.db")) == 0; }, 60s);
  INFO(outputs->upstream->stats() << "\n" << logs.text() << "rows left: " << rows_in(dir.file("o.db")));
  REQUIRE(drained);
  const bool complete = eventually([&] {
    return static_cast<std::int64_t>(first_seqs(sub.summaries()).size()) == kBacklog + kDuringOutage;
  }, 30s);
  if (!complete) {
    std::set<std::int64_t> got;
    for (auto s : first_seqs(sub.summaries())) got.insert(s);
    std::string missing;
    for (std::int64_t s = 1; s <= kBacklog + kDuringOutage; ++s)
      if (!got.count(s) && missing.size() < 400) missing += std::to_string(s) + " ";
    INFO("missing: " << missing << "\n" << outputs->upstream->stats() << "\n" << logs.text() << broker.log());
    REQUIRE(complete);
  }
  auto seqs = first_seqs(sub.summaries());
  // A row in flight when the broker went down is sent again after the restart, and may reach
  // the subscriber after rows the broker had already passed on: order is restored by seq, and
  // the disorder stays within the in-flight window (64).
  std::size_t behind = 0;
  std::int64_t highest = 0;
  for (auto seq : seqs) {
    if (seq < highest) {
      ++behind;
      CHECK(highest - seq <= 64);
    }
    highest = std::max(highest, seq);
  }
  CHECK(behind <= 64);
  std::sort(seqs.begin(), seqs.end());
  CHECK(seqs == one_to(kBacklog + kDuringOutage));
  // Logged on state changes only: one loss, one first failure, however many attempts.
  CHECK(logs.count("connection lost") == 1);
  CHECK(logs.count("cannot connect") == 1);
  CHECK(logs.count(": connected") == 2);
  CHECK_THAT(outputs->upstream->stats(), Contains("1 reconnects"));
}

TEST_CASE("an unreadable outbox row is skipped, counted and deleted; the rows around it arrive",
          "[sync][upstream][broker][integration]") {
  MosquittoBroker broker;
  Subscriber sub(broker.uri(), "vigil/+/line1/+");
  TempDir dir;
  SummaryMaker maker;
  append_rows(dir.file("o.db"), maker, 0, 3);
  REQUIRE(Sqlite(dir.file("o.db")).exec("UPDATE outbox SET payload = 'not json' WHERE seq = 2") == SQLITE_OK);
  StderrCapture logs;
  auto outputs = build_ok(upstream_yaml(broker.uri()), dir.path());
  start_ok(*outputs->outbox);
  start_ok(*outputs->upstream);
  REQUIRE(eventually([&] { return sub.summaries().size() >= 2 && rows_in(dir.file("o.db")) == 0; }));
  CHECK(first_seqs(sub.summaries()) == std::vector<std::int64_t>{1, 3});
  CHECK_THAT(outputs->upstream->stats(), Contains("1 unreadable rows skipped"));
  CHECK(logs.count("skipping an unreadable outbox row (seq 2: JSON summary:") == 1);
}

namespace {

std::string tls_yaml(const MosquittoBroker& broker, const TempDir& certs, const std::string& extra = {}) {
  return upstream_yaml(broker.uri(), ", ca_file: " + certs.file("ca.pem") + ", cert_file: " +
                                         certs.file("client.pem") + ", key_file: " + certs.file("client.key") + extra);
}

}  // namespace

TEST_CASE("upstream over TLS with a client certificate delivers and empties the outbox",
          "[sync][upstream][broker][integration][tls]") {
  TempDir certs;
  make_test_certificates(certs, "IP:127.0.0.1,DNS:localhost");
  MosquittoBroker broker(tls_broker_options(certs));
  REQUIRE(broker.uri().starts_with("ssl://"));
  TempDir dir;
  SummaryMaker maker;
  append_rows(dir.file("o.db"), maker, 0, 20);
  auto outputs = build_ok(tls_yaml(broker, certs), dir.path());
  start_ok(*outputs->outbox);
  start_ok(*outputs->upstream);
  // Rows are deleted only after the broker's PUBACK: an empty outbox proves delivery.
  REQUIRE(eventually([&] { return rows_in(dir.file("o.db")) == 0; }));
  CHECK_THAT(outputs->upstream->stats(), Contains("20 published, 20 acknowledged"));
}

TEST_CASE("a broker certificate for another host name is rejected unless verify is off",
          "[sync][upstream][broker][integration][tls]") {
  TempDir certs;
  make_test_certificates(certs, "DNS:wrong.example");
  MosquittoBroker broker(tls_broker_options(certs));
  TempDir dir;
  SummaryMaker maker;
  append_rows(dir.file("o.db"), maker, 0, 5);
  {
    StderrCapture logs;
    auto outputs = build_ok(tls_yaml(broker, certs), dir.path());
    start_ok(*outputs->outbox);
    start_ok(*outputs->upstream);
    REQUIRE(eventually([&] { return logs.count("cannot connect") == 1; }));
    outputs->upstream->stop();
    CHECK_THAT(outputs->upstream->stats(), Contains("0 published"));
    CHECK(rows_in(dir.file("o.db")) == 5);
  }
  // The same broker and files with verify: false connect: the host name was the only problem.
  auto outputs = build_ok(tls_yaml(broker, certs, ", verify: false"), dir.path());
  start_ok(*outputs->outbox);
  start_ok(*outputs->upstream);
  REQUIRE(eventually([&] { return rows_in(dir.file("o.db")) == 0; }));
}

TEST_CASE("upstream without outputs.outbox is a config error saying what to add", "[sync][upstream][config]") {
  CHECK_THAT(config_error("upstream: {broker: \"tcp://127.0.0.1:1883\"}\n"),
             Contains("outputs.upstream: needs outputs.outbox") && Contains("outbox: {path: var/outbox.db}"));
}

TEST_CASE("upstream config errors name the key and say how to fix it", "[sync][upstream][config]") {
  const std::string outbox = "outbox: {path: o.db}\n";
  CHECK_THAT(config_error(outbox + "upstream: {broker: \"http://x:1\"}\n"),
             Contains("outputs.upstream.broker") && Contains("use tcp://host:port or ssl://host:port"));
  CHECK_THAT(config_error(outbox + "upstream: {broker: \"tcp://x:1\", ca_file: ca.pem}\n"),
             Contains("outputs.upstream.ca_file") && Contains("applies to ssl:// brokers only"));
  CHECK_THAT(config_error(outbox + "upstream: {broker: \"ssl://x:1\", ca_file: missing.pem}\n"),
             Contains("outputs.upstream.ca_file") && Contains("cannot read"));
  CHECK_THAT(config_error(outbox + "upstream: {broker: \"tcp://x:1\", max_inflight: 0}\n"),
             Contains("outputs.upstream.max_inflight"));
  CHECK_THAT(config_error(outbox + "upstream: {broker: \"tcp://x:1\", qos: 2}\n"),
             Contains("unknown key") && Contains("drain_rate"));
  CHECK_THAT(config_error(outbox + "upstream: {}\n"), Contains("broker"));
  CHECK_THAT(config_error(outbox + "upstream: {broker: \"tcp://x:1\", status_topic: \"s/{key}\"}\n"),
             Contains("outputs.upstream.status_topic") && Contains("{gateway} only"));
  CHECK_THAT(config_error(outbox + "upstream: {broker: \"tcp://x:1\", format: xml}\n"),
             Contains("outputs.upstream.format"));
  CHECK_THAT(config_error(outbox + "upstream: {broker: \"tcp://x:1\", reconnect_min: 5s, reconnect_max: 1s}\n"),
             Contains("outputs.upstream.reconnect_max") && Contains("shorter than reconnect_min"));
}

}  // namespace vigil::test
