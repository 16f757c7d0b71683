// `vigil tail-upstream`: dedup and gap bookkeeping, and the command against a real broker.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <mqtt/async_client.h>

#include "mosquitto_broker.hpp"
#include "sync_test_support.hpp"
#include "test_support.hpp"
#include "vigil/sync/outbox.hpp"
#include "vigil/sync/summary_codec.hpp"
#include "vigil/sync/tail_upstream.hpp"

namespace vigil::test {
namespace {

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Gaps = std::vector<std::pair<std::int64_t, std::int64_t>>;

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return done();
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

/// Runs tail_upstream_command on its own thread, writing to files in a temporary folder.
class Tail {
 public:
  explicit Tail(std::vector<std::string> args) : args_(std::move(args)) {
    out_ = std::fopen(dir_.file("out.txt").c_str(), "w");
    err_ = std::fopen(dir_.file("err.txt").c_str(), "w");
    REQUIRE(out_ != nullptr);
    REQUIRE(err_ != nullptr);
    thread_ = std::thread([this] { rc_ = sync::tail_upstream_command(args_, stop_, out_, err_); });
  }
  ~Tail() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    std::fclose(out_);
    std::fclose(err_);
  }
  /// Waits until the command subscribed (it says so on its error stream).
  void wait_subscribed() {
    REQUIRE(eventually([&] { return err().find("subscribed to") != std::string::npos; }));
  }
  int join() {
    thread_.join();
    std::fflush(out_);
    std::fflush(err_);
    return rc_;
  }
  std::string out() const { return read_file(dir_.file("out.txt")); }
  std::string err() const { return read_file(dir_.file("err.txt")); }

 private:
  TempDir dir_;
  std::vector<std::string> args_;
  std::FILE* out_ = nullptr;
  std::FILE* err_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<int> rc_{-1};
  std::thread thread_;
};

/// A plain publisher for crafted messages.
class Publisher {
 public:
  explicit Publisher(const std::string& uri) : client_(uri, "test-publisher", mqtt::create_options(MQTTVERSION_3_1_1)) {
    REQUIRE(client_.connect()->wait_for(10s));
  }
  ~Publisher() {
    try {
      client_.disconnect(0)->wait_for(1s);
    } catch (...) {
    }
  }
  void send(const std::string& topic, const std::string& payload) {
    REQUIRE(client_.publish(topic, payload.data(), payload.size(), 1, false)->wait_for(10s));
  }

 private:
  mqtt::async_client client_;
};

/// Builds and starts the outputs of `yaml` (an `outputs:` block) for gateway gw1 in `dir`.
std::vector<std::unique_ptr<runtime::Output>> start_outputs(const std::string& yaml, const TempDir& dir) {
  auto parsed = runtime::load_config_text(yaml, "test.yaml", dir.path());
  REQUIRE(parsed.ok());
  std::vector<std::unique_ptr<runtime::Output>> outputs;
  runtime::Diagnostics diag;
  for (const auto& [name, node] : parsed->members) {
    const auto* plugin = sync_registry().output(name);
    runtime::OutputSetup setup{runtime::Block(&node, plugin->keys), "gw1", dir.path(), "outputs." + name, &diag,
                               &parsed.value()};
    outputs.push_back(plugin->make(setup));
    INFO(diag.str());
    REQUIRE(outputs.back() != nullptr);
    REQUIRE(outputs.back()->start().ok());
  }
  return outputs;
}

std::string flat(std::int64_t seq, const std::string& epoch = "00000000000000aa") {
  SummaryMaker maker;
  sync::FlatSummaryEncoder encoder;
  auto bytes = encoder.encode(maker.make(static_cast<std::uint64_t>(seq)), "gw1", epoch, seq);
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace

TEST_CASE("the seq tracker drops duplicates and reports the holes between lowest and highest",
          "[sync][tail_upstream]") {
  sync::SeqTracker t;
  for (std::int64_t s : {5, 6, 7, 9, 12, 8, 3}) CHECK(t.add(s));
  CHECK_FALSE(t.add(6));
  CHECK_FALSE(t.add(9));
  CHECK_FALSE(t.add(3));
  CHECK(t.lowest() == 3);
  CHECK(t.highest() == 12);
  CHECK(t.gaps() == Gaps{{4, 4}, {10, 11}});
  CHECK(t.add(4));
  CHECK(t.add(11));
  CHECK(t.add(10));
  CHECK(t.gaps().empty());
  CHECK_FALSE(t.add(10));
}

TEST_CASE("the seq tracker tells holes a gap record explains from holes nothing explains",
          "[sync][tail_upstream]") {
  sync::SeqTracker t;
  for (std::int64_t s : {1, 2, 6, 7, 12, 20}) CHECK(t.add(s));
  // Holes: 3..5, 8..11, 13..19. The gateway evicted 3..5 and 9..14 (9..14 partly received: 12).
  t.add_evicted(3, 5);
  t.add_evicted(9, 14);
  const auto holes = t.holes();
  CHECK(holes.evicted == Gaps{{3, 5}, {9, 11}, {13, 14}});
  CHECK(holes.lost == Gaps{{8, 8}, {15, 19}});
  CHECK(t.gaps() == Gaps{{3, 5}, {8, 11}, {13, 19}});
  // Evicted seqs below the lowest one received (a gap record about rows older than any sent).
  sync::SeqTracker late;
  CHECK(late.add(50));
  CHECK(late.add(52));
  late.add_evicted(1, 49);
  CHECK(late.holes().evicted == Gaps{{1, 49}});
  CHECK(late.holes().lost == Gaps{{51, 51}});
}

TEST_CASE("tail-upstream reports seqs the gateway evicted apart from gaps and exits 0 when nothing else is missing",
          "[sync][tail_upstream][upstream][broker][integration][bounds]") {
  MosquittoBroker broker;
  TempDir dir;
  SummaryMaker maker;
  std::int64_t kept = 0;
  {
    // An outage: the outbox fills past max_bytes and evicts the oldest summaries.
    auto outbox = sync::Outbox::open(dir.file("o.db"), sync::OutboxOptions{.gateway = "gw1", .max_bytes = 96 * 1024});
    REQUIRE(outbox.ok());
    std::vector<std::string> payloads;
    for (std::uint64_t i = 0; i < 1500; ++i) payloads.push_back(json_of(maker.make(i)));
    for (std::size_t i = 0; i < payloads.size(); i += 100) {
      std::vector<sync::OutboxRow> rows;
      for (std::size_t j = i; j < i + 100; ++j)
        rows.push_back(sync::OutboxRow{.topic = "t", .pipeline = "line1", .key = "pump-0", .start_ms = 0, .end_ms = 0,
                                       .priority = 0, .format = "json", .payload = payloads[j], .created_ns = 1,
                                       .flags = 0});
      REQUIRE((*outbox)->append(rows).ok());
    }
    REQUIRE((*outbox)->evictions().rows > 0);
    kept = 1500 - static_cast<std::int64_t>((*outbox)->evictions().rows);
  }
  Tail tail({"--broker", broker.uri(), "--count", std::to_string(kept)});
  tail.wait_subscribed();
  auto outputs = start_outputs("outbox: {path: o.db}\nupstream: {broker: \"" + broker.uri() + "\"}\n", dir);
  // The gap records take the alert lane, so they arrive before the last summary.
  CHECK(tail.join() == 0);
  for (auto& o : outputs) o->stop();
  CHECK(static_cast<std::int64_t>(split_lines(tail.out()).size()) == kept);
  const std::string err = tail.err();
  CHECK_THAT(err, Contains("the gateway evicted seq 1.."));
  CHECK_THAT(err, Contains("no gaps, evicted by the gateway: 1.."));
  CHECK_THAT(outputs[1]->stats(), Contains("gap records"));
}

TEST_CASE("tail-upstream decodes both formats, drops duplicates, reports gaps per stream and exits 1",
          "[sync][tail_upstream][broker][integration]") {
  MosquittoBroker broker;
  Tail tail({"--broker", broker.uri(), "--count", "6"});
  tail.wait_subscribed();
  Publisher pub(broker.uri());
  pub.send("vigil/gw1/status", "online");
  for (std::int64_t seq : {1, 2, 2, 4, 3, 6}) pub.send("vigil/gw1/line1/pump", flat(seq));
  pub.send("vigil/gw1/line1/pump", "garbage");
  // A second epoch of the same gateway (a reinstalled gateway), as JSON: its own stream.
  pub.send("vigil/gw1/line1/pump",
           "{\"gateway\":\"gw1\",\"epoch\":\"00000000000000bb\",\"seq\":1,\"pipeline\":\"line1\",\"key\":\"k\","
           "\"start\":0,\"end\":1000,\"count\":2,\"temp_mean\":1.5,\"resent\":true}");
  CHECK(tail.join() == 1);
  const auto lines = split_lines(tail.out());
  REQUIRE(lines.size() == 6);
  CHECK_THAT(lines[0], Contains("gw1/00000000000000aa #1 line1 pump-1 [1700000001000, 1700000002000) count=11"));
  CHECK_THAT(lines[3], Contains("#3 "));
  CHECK(lines[5] == "gw1/00000000000000bb #1 line1 k [0, 1000) count=2 temp_mean=1.5 resent");
  const std::string err = tail.err();
  CHECK_THAT(err, Contains("vigil/gw1/status: online"));
  CHECK_THAT(err, Contains("9 messages, 6 summaries, 1 duplicates, 1 undecodable"));
  CHECK_THAT(err, Contains("gw1/00000000000000aa: seq 1..6, 5 summaries, 1 duplicates, gaps: 5"));
  CHECK_THAT(err, Contains("gw1/00000000000000bb: seq 1..1, 1 summaries, 0 duplicates, no gaps"));
}

TEST_CASE("tail-upstream --json prints each new summary in the upstream JSON form", "[sync][tail_upstream][broker][integration]") {
  MosquittoBroker broker;
  Tail tail({"--broker=" + broker.uri(), "--topic", "vigil/+/line1/#", "--json", "--count", "1"});
  tail.wait_subscribed();
  Publisher pub(broker.uri());
  pub.send("vigil/gw1/line1/pump", flat(4));
  CHECK(tail.join() == 0);
  SummaryMaker maker;
  CHECK(tail.out() == "{\"gateway\":\"gw1\",\"epoch\":\"00000000000000aa\",\"seq\":4," + json_of(maker.make(4)).substr(1) + "\n");
}

TEST_CASE("tail-upstream receives what the upstream output sends: every seq once, no gaps",
          "[sync][tail_upstream][upstream][broker][integration]") {
  MosquittoBroker broker;
  TempDir dir;
  SummaryMaker maker;
  {
    auto outbox = sync::Outbox::open(dir.file("o.db"), sync::OutboxOptions{.gateway = "gw1"});
    REQUIRE(outbox.ok());
  }
  Tail tail({"--broker", broker.uri(), "--count", "300"});
  tail.wait_subscribed();
  auto outputs = start_outputs("outbox: {path: o.db}\nupstream: {broker: \"" + broker.uri() + "\"}\n", dir);
  for (std::uint64_t i = 0; i < 300; ++i) outputs[0]->emit(maker.make(i));
  CHECK(tail.join() == 0);
  for (auto& o : outputs) o->stop();
  CHECK(split_lines(tail.out()).size() == 300);
  CHECK_THAT(tail.err(), Contains(": seq 1..300, 300 summaries, 0 duplicates, no gaps"));
}

TEST_CASE("tail-upstream over TLS with a client certificate and a password receives every seq the upstream output sends",
          "[sync][tail_upstream][upstream][broker][integration][tls]") {
  TempDir certs;
  make_test_certificates(certs, "IP:127.0.0.1,DNS:localhost");
  MosquittoOptions options = tls_broker_options(certs);
  options.username = "hq";
  options.password = "hq pass";
  MosquittoBroker broker(options);
  REQUIRE(broker.uri().starts_with("ssl://"));
  REQUIRE(::setenv("VIGIL_TEST_TAIL_PASSWORD", "hq pass", 1) == 0);
  TempDir dir;
  {
    auto outbox = sync::Outbox::open(dir.file("o.db"), sync::OutboxOptions{.gateway = "gw1"});
    REQUIRE(outbox.ok());
  }
  Tail tail({"--broker", broker.uri(), "--count", "20", "--ca-file", certs.file("ca.pem"), "--cert-file",
             certs.file("client.pem"), "--key-file=" + certs.file("client.key"), "--username", "hq",
             "--password-env", "VIGIL_TEST_TAIL_PASSWORD"});
  tail.wait_subscribed();
  auto outputs = start_outputs("outbox: {path: o.db}\nupstream: {broker: \"" + broker.uri() + "\", ca_file: " +
                                   certs.file("ca.pem") + ", cert_file: " + certs.file("client.pem") +
                                   ", key_file: " + certs.file("client.key") + ", username: hq, password: hq pass}\n",
                               dir);
  SummaryMaker maker;
  for (std::uint64_t i = 0; i < 20; ++i) outputs[0]->emit(maker.make(i));
  CHECK(tail.join() == 0);
  for (auto& o : outputs) o->stop();
  CHECK(split_lines(tail.out()).size() == 20);
  CHECK_THAT(tail.err(), Contains(": seq 1..20, 20 summaries, 0 duplicates, no gaps"));
}

TEST_CASE("tail-upstream refuses a broker certificate for another host name unless --no-verify",
          "[sync][tail_upstream][broker][integration][tls]") {
  TempDir certs;
  make_test_certificates(certs, "DNS:wrong.example");
  MosquittoBroker broker(tls_broker_options(certs, false));
  {
    Tail rejected({"--broker", broker.uri(), "--ca-file", certs.file("ca.pem"), "--for", "1s"});
    CHECK(rejected.join() == 1);
    CHECK_THAT(rejected.err(), Contains("cannot connect") && Contains("name the host of --broker") && !Contains("subscribed to"));
  }
  Tail accepted({"--broker", broker.uri(), "--ca-file", certs.file("ca.pem"), "--no-verify", "--for", "1s"});
  CHECK(accepted.join() == 0);
  CHECK_THAT(accepted.err(), Contains("subscribed to vigil/#"));
}

TEST_CASE("tail-upstream TLS and credential options are checked before connecting", "[sync][tail_upstream]") {
  std::atomic<bool> stop{false};
  TempDir dir;
  std::FILE* err = std::fopen(dir.file("err.txt").c_str(), "w");
  REQUIRE(err != nullptr);
  const std::string file = dir.file("err.txt");
  const std::vector<std::string> tls_on_tcp = {"--broker", "tcp://127.0.0.1:1", "--cert-file", file, "--key-file", file};
  const std::vector<std::string> unset = {"--broker", "tcp://127.0.0.1:1", "--username", "u", "--password-env",
                                          "VIGIL_TEST_UNSET_PASSWORD"};
  const std::vector<std::string> no_user = {"--broker", "tcp://127.0.0.1:1", "--password-env", "HOME"};
  const std::vector<std::string> bad_scheme = {"--broker", "http://127.0.0.1:1"};
  CHECK(sync::tail_upstream_command(tls_on_tcp, stop, stdout, err) == 2);
  CHECK(sync::tail_upstream_command(unset, stop, stdout, err) == 2);
  CHECK(sync::tail_upstream_command(no_user, stop, stdout, err) == 2);
  CHECK(sync::tail_upstream_command(bad_scheme, stop, stdout, err) == 2);
  std::fclose(err);
  const std::string text = read_file(file);
  CHECK_THAT(text, Contains("--cert-file applies to ssl:// brokers only"));
  CHECK_THAT(text, Contains("VIGIL_TEST_UNSET_PASSWORD is not set"));
  CHECK_THAT(text, Contains("a password needs a user name"));
  CHECK_THAT(text, Contains("\"http://127.0.0.1:1\" is not a broker address"));
}

TEST_CASE("tail-upstream without --broker is a usage error", "[sync][tail_upstream]") {
  std::atomic<bool> stop{false};
  TempDir dir;
  std::FILE* err = std::fopen(dir.file("err.txt").c_str(), "w");
  REQUIRE(err != nullptr);
  const std::vector<std::string> none;
  const std::vector<std::string> bad_count = {"--broker", "tcp://127.0.0.1:1", "--count", "zero"};
  CHECK(sync::tail_upstream_command(none, stop, stdout, err) == 2);
  CHECK(sync::tail_upstream_command(bad_count, stop, stdout, err) == 2);
  std::fclose(err);
  CHECK_THAT(read_file(dir.file("err.txt")), Contains("needs --broker URI") && Contains("--count takes a whole number"));
}

}  // namespace vigil::test
