// `vigil simulate` end to end: a real mosquitto, the simulator publishing with Paho, and `vigil
// run` aggregating what arrives through an mqtt source.
#include <catch2/catch.hpp>

#include <map>
#include <regex>
#include <string>
#include <vector>

#include "mosquitto_broker.hpp"
#include "test_support.hpp"
#include "vigil_process.hpp"

namespace vigil::test {
namespace {

using Catch::Matchers::Contains;

constexpr long long kMarch1Noon = 1'709'294'400'000;  // 2024-03-01T12:00:00Z in ms

/// One summary line of the console output.
struct Window {
  long long start = 0;
  long long count = 0;
  double mean = 0, min = 0, max = 0;
};

/// Windows per key, from `vigil run`'s JSON lines.
std::map<std::string, std::vector<Window>> windows_by_key(const std::string& out) {
  static const std::regex kLine(
      R"re("key":"([^"]+)","start":(\d+),"end":\d+,"count":(\d+),"temp_mean":([-0-9.e]+),"temp_min":([-0-9.e]+),"temp_max":([-0-9.e]+))re");
  std::map<std::string, std::vector<Window>> by_key;
  for (const std::string& line : split_lines(out)) {
    std::smatch m;
    if (!std::regex_search(line, m, kLine)) continue;
    by_key[m[1]].push_back(
        {std::stoll(m[2]), std::stoll(m[3]), std::stod(m[4]), std::stod(m[5]), std::stod(m[6])});
  }
  return by_key;
}

/// A gateway config whose mqtt source keeps a session on the broker (clean_session: false, QoS 1),
/// so messages published while `vigil run` is away are queued for it.
/// `source_extra` holds more keys of the mqtt source, each on its own line indented by 4.
std::string run_config(const TempDir& dir, const MosquittoBroker& broker, const std::string& format,
                       const std::string& source_extra = {}) {
  const std::string path = dir.file("gateway.yaml");
  write_file(path, R"(vigil: 1
gateway: e2e
sources:
  - name: telemetry
    type: mqtt
    broker: )" + broker.uri() + R"(
    topics: [plant/+/telemetry]
    format: )" + format + R"(
    key: key
    time: { field: ts, unit: ms }
    client_id: vigil-e2e-gateway
    clean_session: false
    qos: 1
)" + source_extra + R"(pipelines:
  - name: health
    from: [telemetry]
    window: { type: tumbling, size: 1s }
    aggregates: [count, mean(temp), min(temp), max(temp)]
outputs:
  console: { format: json }
)");
  return path;
}

std::string scenario(const TempDir& dir, const std::string& extra) {
  const std::string path = dir.file("scenario.yaml");
  write_file(path, R"(machines: [press-1, pump-1]
start: "2024-03-01T12:00:00Z"
seed: 3
signals:
  temp: {mean: 60}
  vib: {bearing: {life: 1h, rms: 0.05, rms_end: 0.5}}
publish:
  topic: plant/{machine}/telemetry
)" + extra);
  return path;
}

// Every machine got `seconds` whole windows of 100 records starting at noon, and nothing else.
void check_windows(const std::string& out, int seconds) {
  const auto by_key = windows_by_key(out);
  REQUIRE(by_key.size() == 2);
  for (const char* machine : {"press-1", "pump-1"}) {
    INFO(machine);
    REQUIRE(by_key.count(machine) == 1);
    const auto& w = by_key.at(machine);
    REQUIRE(w.size() == static_cast<std::size_t>(seconds));
    for (int s = 0; s < seconds; ++s) {
      CHECK(w[s].start == kMarch1Noon + 1000LL * s);
      CHECK(w[s].count == 100);
      CHECK(w[s].mean == 60);
      CHECK(w[s].min == 60);
      CHECK(w[s].max == 60);
    }
  }
}

TEST_CASE("vigil simulate publishes json that vigil run aggregates end to end, every record counted",
          "[e2e][simulate][broker]") {
  MosquittoBroker broker;
  TempDir dir;
  const std::string config = run_config(dir, broker, "json");
  // First run: the gateway subscribes and leaves its session on the broker.
  const auto first = run_vigil({"run", config, "--for", "1s"});
  REQUIRE(first.exit_code == 0);
  REQUIRE_THAT(first.err, Contains("connected"));

  const auto sim = run_vigil({"simulate", scenario(dir, "count: 300\nrealtime: false\nrate: 100\n"), "--broker", broker.uri()});
  REQUIRE(sim.exit_code == 0);
  CHECK_THAT(sim.err, Contains("600 records in 600 messages"));

  // Second run: the broker delivers the 600 queued messages.
  const auto second = run_vigil({"run", config, "--for", "3s"});
  REQUIRE(second.exit_code == 0);
  CHECK_THAT(second.err, Contains("0 malformed"));
  check_windows(second.out, 3);
}

TEST_CASE("vigil simulate publishes batched flatbuffers for a duration and at a rate given on the command line",
          "[e2e][simulate][broker][flatbuffers]") {
  MosquittoBroker broker;
  TempDir dir;
  const std::string config = run_config(dir, broker, "flatbuffers");
  REQUIRE(run_vigil({"run", config, "--for", "1s"}).exit_code == 0);

  // 2 s at 100 records/s (the file says 10), 50 readings per message: 4 messages per machine.
  const auto sim = run_vigil({"simulate", scenario(dir, "  batch: 50\nrate: 10\n"), "--broker", broker.uri(),
                              "--format", "flatbuffers", "--rate", "100", "--duration", "2s"});
  REQUIRE(sim.exit_code == 0);
  CHECK_THAT(sim.err, Contains("400 records in 8 messages"));

  const auto second = run_vigil({"run", config, "--for", "2s"});
  REQUIRE(second.exit_code == 0);
  check_windows(second.out, 2);
}

TEST_CASE("vigil simulate garbles the configured share of messages and vigil run counts them as malformed",
          "[e2e][simulate][broker]") {
  MosquittoBroker broker;
  TempDir dir;
  const std::string config = run_config(dir, broker, "json");
  REQUIRE(run_vigil({"run", config, "--for", "1s"}).exit_code == 0);
  const auto sim = run_vigil({"simulate", scenario(dir, "count: 200\nrealtime: false\nrate: 100\nfaults: {malformed: 0.1}\n"),
                              "--broker", broker.uri()});
  REQUIRE(sim.exit_code == 0);
  const std::regex garbled(R"((\d+) records in (\d+) messages in [0-9.]+ s \((\d+) garbled)");
  std::smatch m;
  REQUIRE(std::regex_search(sim.err, m, garbled));
  const long long records = std::stoll(m[1]), messages = std::stoll(m[2]), bad = std::stoll(m[3]);
  CHECK(records + bad == 400);
  CHECK(messages == 400);
  CHECK(bad > 15);  // 10% of 400: 40 ± 6
  CHECK(bad < 70);

  const auto second = run_vigil({"run", config, "--for", "2s"});
  REQUIRE(second.exit_code == 0);
  CHECK_THAT(second.err, Contains(std::to_string(records) + " records, " + std::to_string(bad) + " malformed"));
}

TEST_CASE("the shipped plant scenario publishes what the shipped mqtt-plant config reads",
          "[e2e][simulate][broker][docs]") {
  MosquittoBroker broker;
  const auto sim = run_vigil({"simulate", source_path("examples/plant-scenario.yaml"), "--broker", broker.uri(),
                              "--rate", "100", "--duration", "1s"});
  REQUIRE(sim.exit_code == 0);
  // 3 machines x 100 records, less what the faults took; 10 readings per message.
  const std::regex summary(R"((\d+) records in (\d+) messages)");
  std::smatch m;
  REQUIRE(std::regex_search(sim.err, m, summary));
  CHECK(std::stoll(m[1]) > 250);
  CHECK(std::stoll(m[1]) <= 303);
  CHECK(std::stoll(m[2]) >= 30);
  CHECK(std::stoll(m[2]) < 60);
}

TEST_CASE("vigil simulate publishes over TLS with a client certificate and a password from the environment",
          "[e2e][simulate][broker][tls]") {
  TempDir certs;
  make_test_certificates(certs, "IP:127.0.0.1,DNS:localhost");
  MosquittoOptions options = tls_broker_options(certs);
  options.username = "press-line";
  options.password = "s3cret pass";
  MosquittoBroker broker(options);
  REQUIRE(broker.uri().starts_with("ssl://"));
  TempDir dir;
  const std::string config =
      run_config(dir, broker, "json",
                 "    ca_file: " + certs.file("ca.pem") + "\n    cert_file: " + certs.file("client.pem") +
                     "\n    key_file: " + certs.file("client.key") +
                     "\n    username: press-line\n    password: ${VIGIL_TEST_MQTT_PASSWORD}\n");
  const std::vector<std::string> good_env = {"VIGIL_TEST_MQTT_PASSWORD=s3cret pass"};
  const auto first = run_vigil({"run", config, "--for", "1s"}, 30'000, good_env);
  REQUIRE(first.exit_code == 0);
  REQUIRE_THAT(first.err, Contains("connected"));

  const std::vector<std::string> tls_args = {"--ca-file",  certs.file("ca.pem"),     "--cert-file",
                                             certs.file("client.pem"), "--key-file", certs.file("client.key"),
                                             "--username", "press-line",            "--password-env",
                                             "VIGIL_TEST_MQTT_PASSWORD"};
  std::vector<std::string> sim_args = {"simulate", scenario(dir, "count: 300\nrealtime: false\nrate: 100\n"),
                                       "--broker", broker.uri()};
  sim_args.insert(sim_args.end(), tls_args.begin(), tls_args.end());
  const auto sim = run_vigil(sim_args, 30'000, good_env);
  REQUIRE(sim.exit_code == 0);
  CHECK_THAT(sim.err, Contains("600 records in 600 messages"));

  const auto second = run_vigil({"run", config, "--for", "3s"}, 30'000, good_env);
  REQUIRE(second.exit_code == 0);
  check_windows(second.out, 3);

  // The broker checks the password: a wrong one is refused and nothing is published.
  const auto wrong = run_vigil(sim_args, 30'000, {"VIGIL_TEST_MQTT_PASSWORD=guess"});
  CHECK(wrong.exit_code == 1);
  CHECK_THAT(wrong.err, Contains("cannot connect to " + broker.uri()) && Contains("not authorized"));
  CHECK_THAT(wrong.err, !Contains("records in"));
}

TEST_CASE("vigil simulate rejects a broker certificate for another host name unless --no-verify",
          "[e2e][simulate][broker][tls]") {
  TempDir certs;
  make_test_certificates(certs, "DNS:wrong.example");
  MosquittoBroker broker(tls_broker_options(certs, false));
  TempDir dir;
  std::vector<std::string> args = {"simulate", scenario(dir, "count: 10\nrealtime: false\nrate: 100\n"),
                                   "--broker", broker.uri(), "--ca-file", certs.file("ca.pem")};
  const auto rejected = run_vigil(args);
  CHECK(rejected.exit_code == 1);
  CHECK_THAT(rejected.err, Contains("cannot connect to " + broker.uri()) && Contains("name the host of --broker"));

  // Same broker, same CA: only the host name was wrong.
  args.push_back("--no-verify");
  const auto accepted = run_vigil(args);
  CHECK(accepted.exit_code == 0);
  CHECK_THAT(accepted.err, Contains("20 records in 20 messages"));
}

TEST_CASE("vigil simulate refuses a missing broker and reports scenario errors at file:line:column",
          "[e2e][simulate]") {
  TempDir dir;
  const std::string good = scenario(dir, "");
  const auto no_broker = run_vigil({"simulate", good});
  CHECK(no_broker.exit_code == 2);
  CHECK_THAT(no_broker.err, Contains("needs --broker URI"));

  const std::string bad = dir.file("bad.yaml");
  write_file(bad, "machines: [m]\nsignals:\n  temp: {mean: 1, nosie: 2}\npublish: {format: xml}\n");
  const auto invalid = run_vigil({"simulate", bad, "--broker", "tcp://127.0.0.1:1"});
  CHECK(invalid.exit_code == 2);
  CHECK_THAT(invalid.err, Contains("bad.yaml:3:") && Contains("signals.temp: unknown key \"nosie\""));
  CHECK_THAT(invalid.err, Contains("bad.yaml:4:") && Contains("publish.format"));

  const auto tls_on_tcp = run_vigil({"simulate", good, "--broker", "tcp://127.0.0.1:1", "--ca-file", good});
  CHECK(tls_on_tcp.exit_code == 2);
  CHECK_THAT(tls_on_tcp.err, Contains("--ca-file applies to ssl:// brokers only"));
  const auto key_alone = run_vigil({"simulate", good, "--broker", "ssl://127.0.0.1:1", "--key-file", good});
  CHECK(key_alone.exit_code == 2);
  CHECK_THAT(key_alone.err, Contains("--key-file needs --cert-file"));
  const auto unset = run_vigil({"simulate", good, "--broker", "tcp://127.0.0.1:1", "--username", "u",
                                "--password-env", "VIGIL_TEST_UNSET_PASSWORD"});
  CHECK(unset.exit_code == 2);
  CHECK_THAT(unset.err, Contains("the environment variable VIGIL_TEST_UNSET_PASSWORD is not set"));
  const auto missing_ca = run_vigil({"simulate", good, "--broker", "ssl://127.0.0.1:1", "--ca-file", dir.file("no.pem")});
  CHECK(missing_ca.exit_code == 2);
  CHECK_THAT(missing_ca.err, Contains("--ca-file: cannot read"));

  const auto bad_rate = run_vigil({"simulate", good, "--broker", "tcp://127.0.0.1:1", "--rate", "0"});
  CHECK(bad_rate.exit_code == 2);
  CHECK_THAT(bad_rate.err, Contains("--rate"));

  const auto unreachable = run_vigil({"simulate", good, "--broker", "tcp://127.0.0.1:1"});
  CHECK(unreachable.exit_code == 1);
  CHECK_THAT(unreachable.err, Contains("cannot connect to tcp://127.0.0.1:1"));
}

}  // namespace
}  // namespace vigil::test
