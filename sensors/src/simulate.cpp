// `vigil simulate`: publishes a scenario (the keys of a `simulator` source plus a `publish:` block)
// to an MQTT broker with Eclipse Paho, as JSON or FlatBuffers Readings, one or more readings per
// message, with the scenario's stream faults.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include <mqtt/async_client.h>

#include "reading_codec.hpp"
#include "scenario.hpp"
#include "simulated_stream.hpp"
#include "vigil/runtime/broker_login.hpp"
#include "vigil/runtime/config_keys.hpp"
#include "vigil/runtime/config_node.hpp"
#include "vigil/sensors/sensors.hpp"

namespace vigil::sensors {
namespace {

using runtime::ConfigKey;
using runtime::KeyType;
using runtime::Nanos;
using runtime::Required;

constexpr std::string_view kPublishFormats[] = {"json", "flatbuffers"};

constexpr ConfigKey kPublishKeys[] = {
    {"topic", KeyType::string, Required::no, "vigil/sim/{machine}",
     "Topic of a machine's messages; {machine} is replaced by the machine's name."},
    {"format", KeyType::choice, Required::no, "json",
     "Payload: json (an object; an array of objects when batch > 1) or flatbuffers (a Readings message).",
     runtime::kNoMin, runtime::kNoMax, kPublishFormats},
    {"batch", KeyType::integer, Required::no, "1", "Readings per message, all of one machine.", 1, 10000},
    {"qos", KeyType::integer, Required::no, "1", "Publish QoS: 0 (at most once) or 1 (at least once).", 0, 1},
    {"client_id", KeyType::string, Required::no, {}, "MQTT client id; default vigil-simulate-<process id>."},
    {"key_field", KeyType::string, Required::no, "key", "json: the member holding the machine's name."},
    {"time_field", KeyType::string, Required::no, "ts",
     "json: the member holding event time, in ms since the Unix epoch (with decimals below 1 ms)."},
};

constexpr std::string_view kTopLevel[] = {"publish"};

constexpr const char* kUsage =
    "usage: vigil simulate SCENARIO --broker URI [--rate N] [--duration D] [--format json|flatbuffers]\n"
    "                      ";

/// Command-line options of `vigil simulate`.
struct SimulateArgs {
  std::string scenario;
  std::string broker;
  std::string rate;
  std::string duration;
  std::string format;
  runtime::BrokerLogin login;
};

int usage(const std::string& message) {
  std::fprintf(stderr, "vigil: simulate: %s\n%s%s\n", message.c_str(), kUsage, runtime::kBrokerLoginUsage);
  return 2;
}

std::optional<SimulateArgs> parse_args(const std::vector<std::string>& args, std::string& error) {
  SimulateArgs a;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&](std::string& out) {
      if (const auto eq = arg.find('='); eq != std::string::npos) {
        out = arg.substr(eq + 1);
        return true;
      }
      if (i + 1 >= args.size()) {
        error = arg + " needs a value";
        return false;
      }
      out = args[++i];
      return true;
    };
    auto is = [&](std::string_view flag) { return arg == flag || arg.starts_with(std::string(flag) + "="); };
    const runtime::LoginOption login = runtime::take_broker_login_option(args, i, a.login, error);
    if (login == runtime::LoginOption::error) return std::nullopt;
    if (login == runtime::LoginOption::taken) continue;
    if (is("--broker")) {
      if (!value(a.broker)) return std::nullopt;
    } else if (is("--rate")) {
      if (!value(a.rate)) return std::nullopt;
    } else if (is("--duration")) {
      if (!value(a.duration)) return std::nullopt;
    } else if (is("--format")) {
      if (!value(a.format)) return std::nullopt;
    } else if (arg.starts_with("-")) {
      error = "unknown option " + arg;
      return std::nullopt;
    } else if (a.scenario.empty()) {
      a.scenario = arg;
    } else {
      error = "unexpected argument " + arg;
      return std::nullopt;
    }
  }
  if (a.scenario.empty()) error = "needs a SCENARIO file";
  else if (a.broker.empty()) error = "needs --broker URI (tcp://host:1883 or ssl://host:8883)";
  else if (!a.broker.starts_with("tcp://") && !a.broker.starts_with("ssl://"))
    error = "--broker: \"" + a.broker + "\" is not a broker address; use tcp://host:1883 or ssl://host:8883";
  else error = runtime::check_broker_login(a.broker, a.login);
  if (!error.empty()) return std::nullopt;
  return a;
}

/// How records are published, from the scenario's `publish:` block and the options.
struct PublishConfig {
  std::string topic = "vigil/sim/{machine}";
  bool flatbuffers = false;
  std::size_t batch = 1;
  int qos = 1;
  std::string client_id;
  std::string key_field = "key";
  std::string time_field = "ts";
};

// JSON text of a string member name or value (the names come from the scenario).
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += esc;
      continue;
    }
    out += c;
  }
  out += '"';
}

void append_number(std::string& out, double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc{} ? end : buf);
}

// Event time in ms: whole ms as an integer, finer times with up to 6 decimals (exact to 1 ns).
void append_ms(std::string& out, Nanos t) {
  Nanos ms = t / runtime::kNanosPerMilli;
  Nanos rest = t % runtime::kNanosPerMilli;
  if (rest < 0) {
    --ms;
    rest += runtime::kNanosPerMilli;
  }
  out += std::to_string(ms);
  if (rest == 0) return;
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(rest));
  std::string_view f(frac);
  while (f.back() == '0') f.remove_suffix(1);
  out += f;
}

/// Paho client that publishes with a bounded number of messages in flight.
class Publisher {
 public:
  static constexpr std::size_t kInFlight = 1000;

  Publisher(std::string broker, runtime::BrokerLogin login, int qos)
      : broker_(std::move(broker)), login_(std::move(login)), qos_(qos) {}

  bool connect(const std::string& client_id, std::string& error) {
    try {
      // Paho refuses a publish while more than max_buffered_messages wait in its queue (100 by
      // default), also when connected; the ring below keeps at most kInFlight outstanding.
      mqtt::create_options create(MQTTVERSION_3_1_1);
      create.set_max_buffered_messages(static_cast<int>(4 * kInFlight));
      client_ = std::make_unique<mqtt::async_client>(broker_, client_id, create);
      mqtt::connect_options opts;
      opts.set_mqtt_version(MQTTVERSION_3_1_1);
      opts.set_clean_session(true);
      opts.set_keep_alive_interval(30);
      opts.set_connect_timeout(10);
      opts.set_max_inflight(static_cast<int>(kInFlight) + 24);
      if (!login_.username.empty()) opts.set_user_name(login_.username);
      if (!login_.password_env.empty()) opts.set_password(login_.password);
      if (broker_.starts_with("ssl://")) {
        mqtt::ssl_options ssl;
        if (!login_.ca_file.empty()) ssl.set_trust_store(login_.ca_file);
        if (!login_.cert_file.empty()) ssl.set_key_store(login_.cert_file);
        if (!login_.key_file.empty()) ssl.set_private_key(login_.key_file);
        ssl.set_enable_server_cert_auth(login_.verify);
        // Paho's `verify` is the post-connect check that the certificate names the host.
        ssl.set_verify(login_.verify);
        ssl.set_error_handler([this](const std::string& message) {
          if (tls_error_.empty()) tls_error_ = message;
        });
        opts.set_ssl(std::move(ssl));
      }
      client_->connect(opts)->wait();
      return true;
    } catch (const mqtt::exception& e) {
      const std::string_view refusal = runtime::connack_refusal(e.get_return_code());
      error = !refusal.empty() ? std::string(refusal) : e.get_error_str().empty() ? e.what() : e.get_error_str();
      // Paho's own message says little ("Failure"); OpenSSL's, when there is one, says why.
      if (!tls_error_.empty()) error += "; TLS: " + tls_error_;
      else if (refusal.empty() && broker_.starts_with("ssl://") && login_.verify)
        error += std::string(" (") + runtime::kTlsVerifyHint + ")";
    } catch (const std::exception& e) {
      error = e.what();
    }
    return false;
  }

  /// Publishes, first waiting for the oldest message when kInFlight are outstanding.
  bool publish(const std::string& topic, const void* data, std::size_t size, std::string& error) {
    try {
      if (tokens_.size() == kInFlight) tokens_[next_]->wait();
      auto token = client_->publish(topic, data, size, qos_, false);
      if (tokens_.size() < kInFlight) tokens_.push_back(std::move(token));
      else tokens_[next_] = std::move(token);
      next_ = (next_ + 1) % kInFlight;
      ++messages_;
      return true;
    } catch (const std::exception& e) {
      error = e.what();
      return false;
    }
  }

  /// Waits for every message in flight, then disconnects.
  bool finish(std::string& error) {
    bool ok = true;
    try {
      for (auto& t : tokens_)
        if (t) t->wait();
    } catch (const std::exception& e) {
      error = e.what();
      ok = false;
    }
    tokens_.clear();
    try {
      if (client_ && client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(5));
    } catch (const std::exception&) {
      // Going away anyway; the messages were acknowledged above.
    }
    return ok;
  }

  std::uint64_t messages() const noexcept { return messages_; }

 private:
  std::string broker_;
  runtime::BrokerLogin login_;
  int qos_;
  std::string tls_error_;  // the first OpenSSL error of the connect, set on Paho's thread before it fails
  std::unique_ptr<mqtt::async_client> client_;
  std::vector<mqtt::delivery_token_ptr> tokens_;  // ring of the last kInFlight publishes
  std::size_t next_ = 0;
  std::uint64_t messages_ = 0;
};

/// Builds each machine's pending message and hands full ones to the publisher.
class Messages {
 public:
  Messages(const Scenario& scenario, const PublishConfig& config, Publisher& publisher, Nanos start)
      : scenario_(scenario), config_(config), publisher_(publisher), start_(start) {
    const std::size_t machines = scenario.machines.size();
    pending_.resize(machines);
    counts_.assign(machines, 0);
    for (const std::string& m : scenario.machines) {
      std::string topic = config.topic;
      for (std::size_t at; (at = topic.find("{machine}")) != std::string::npos;) topic.replace(at, 9, m);
      topics_.push_back(std::move(topic));
    }
    if (config.flatbuffers)
      for (std::size_t m = 0; m < machines; ++m) encoders_.push_back(std::make_unique<ReadingEncoder>());
  }

  bool add(const SimulatedRecord& r, std::string& error) {
    if (r.malformed) return publish_garbled(r, error);
    const std::size_t m = r.machine;
    const Nanos time = start_ + r.offset;
    if (config_.flatbuffers) {
      encoders_[m]->add(scenario_.machines[m], true, time, scenario_.fields, r.values);
    } else {
      std::string& text = pending_[m];
      text += counts_[m] == 0 ? (config_.batch > 1 ? "[" : "") : ",";
      json_object(text, m, time, r.values);
    }
    ++records_;
    if (++counts_[m] >= config_.batch) return flush(m, error);
    return true;
  }

  bool flush_all(std::string& error) {
    for (std::size_t m = 0; m < counts_.size(); ++m)
      if (!flush(m, error)) return false;
    return true;
  }

  std::uint64_t records() const noexcept { return records_; }

 private:
  void json_object(std::string& out, std::size_t m, Nanos time, std::span<const double> values) const {
    out += '{';
    append_json_string(out, config_.key_field);
    out += ':';
    append_json_string(out, scenario_.machines[m]);
    out += ',';
    append_json_string(out, config_.time_field);
    out += ':';
    append_ms(out, time);
    for (std::size_t f = 0; f < values.size(); ++f) {
      out += ',';
      append_json_string(out, scenario_.fields[f]);
      out += ':';
      append_number(out, values[f]);
    }
    out += '}';
  }

  bool flush(std::size_t m, std::string& error) {
    if (counts_[m] == 0) return true;
    counts_[m] = 0;
    if (config_.flatbuffers) {
      const auto bytes = encoders_[m]->finish();
      const bool ok = publisher_.publish(topics_[m], bytes.data(), bytes.size(), error);
      encoders_[m]->clear();
      return ok;
    }
    std::string& text = pending_[m];
    if (config_.batch > 1) text += ']';
    const bool ok = publisher_.publish(topics_[m], text.data(), text.size(), error);
    text.clear();
    return ok;
  }

  // What a consumer cannot decode: JSON cut off after the key, or a FlatBuffers message with a
  // wrong identifier and half its bytes missing. Sent on its own.
  bool publish_garbled(const SimulatedRecord& r, std::string& error) {
    const std::size_t m = r.machine;
    if (config_.flatbuffers) {
      ReadingEncoder enc;
      enc.add(scenario_.machines[m], true, start_ + r.offset, scenario_.fields, r.values);
      const auto bytes = enc.finish();
      std::vector<std::uint8_t> broken(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2));
      if (broken.size() >= 8) std::copy_n("XXXX", 4, broken.begin() + 4);
      return publisher_.publish(topics_[m], broken.data(), broken.size(), error);
    }
    std::string text = "{";  // `{"key":"m","ts":` and nothing more
    append_json_string(text, config_.key_field);
    text += ':';
    append_json_string(text, scenario_.machines[m]);
    text += ',';
    append_json_string(text, config_.time_field);
    text += ':';
    return publisher_.publish(topics_[m], text.data(), text.size(), error);
  }

  const Scenario& scenario_;
  const PublishConfig& config_;
  Publisher& publisher_;
  Nanos start_;
  std::vector<std::string> topics_;
  std::vector<std::string> pending_;  // json: text of each machine's pending message
  std::vector<std::unique_ptr<ReadingEncoder>> encoders_;  // flatbuffers: one per machine
  std::vector<std::size_t> counts_;   // readings pending per machine
  std::uint64_t records_ = 0;
};

}  // namespace

std::span<const runtime::ConfigKey> simulate_publish_keys() noexcept { return kPublishKeys; }

int simulate_command(const std::vector<std::string>& args, const std::atomic<bool>& stop) {
  std::string error;
  const auto a = parse_args(args, error);
  if (!a) return usage(error);

  auto loaded = runtime::load_config_file(a->scenario);
  if (!loaded) {
    std::fprintf(stderr, "%s\n", loaded.error().message.c_str());
    return 2;
  }
  const runtime::ConfigNode* root = &loaded.value();
  runtime::Diagnostics diag;
  if (!root->is_map()) {
    diag.error(root->mark, "", "a scenario is a map with the keys of a simulator source and publish:");
  } else {
    runtime::validate_block(*root, simulator_keys(), "", diag, kTopLevel);
    if (const runtime::ConfigNode* p = root->find("publish")) runtime::validate_block(*p, kPublishKeys, "publish", diag);
  }
  std::optional<Scenario> scenario;
  if (diag.empty()) scenario = read_scenario(runtime::Block(root, simulator_keys()), "", diag);
  PublishConfig config;
  if (diag.empty()) {
    const runtime::Block publish(root->find("publish"), kPublishKeys);
    config.topic = publish.string("topic");
    config.flatbuffers = publish.string("format") == "flatbuffers";
    config.batch = static_cast<std::size_t>(publish.integer("batch"));
    config.qos = static_cast<int>(publish.integer("qos"));
    config.client_id = publish.has("client_id") ? publish.string("client_id")
                                                : "vigil-simulate-" + std::to_string(::getpid());
    config.key_field = publish.string("key_field");
    config.time_field = publish.string("time_field");
    if (config.topic.empty() || config.topic.find_first_of("+#") != std::string::npos) {
      const runtime::ConfigNode* p = root->find("publish");
      const runtime::ConfigNode* t = p ? p->find("topic") : nullptr;
      diag.error(t ? t->mark : root->mark, "publish.topic",
                 "\"" + config.topic + "\" cannot be published to; use a topic without + or #, e.g. "
                 "plant/{machine}/telemetry");
    }
  }
  if (!diag.empty()) {
    std::fprintf(stderr, "%s", diag.str().c_str());
    return 2;
  }

  if (!a->format.empty()) {
    if (a->format != "json" && a->format != "flatbuffers")
      return usage("--format: \"" + a->format + "\" is not json or flatbuffers");
    config.flatbuffers = a->format == "flatbuffers";
  }
  if (!a->rate.empty()) {
    auto rate = runtime::parse_real(a->rate);
    if (!rate || *rate < 0.001 || *rate > 1e7)
      return usage("--rate: \"" + a->rate + "\" is not a rate from 0.001 to 10000000 records per second");
    scenario->rate = *rate;
  }
  if (!a->duration.empty()) {
    auto d = runtime::parse_duration(a->duration);
    if (!d || *d <= 0) return usage("--duration: \"" + a->duration + "\" is not a duration; use 30s, 5m, 1h");
    // Records whose event time falls within the duration.
    const std::uint64_t within = RecordSchedule(scenario->rate).due(*d - 1);
    scenario->count = scenario->count == 0 ? within : std::min(scenario->count, within);
  }

  Publisher publisher(a->broker, a->login, config.qos);
  if (!publisher.connect(config.client_id, error)) {
    std::fprintf(stderr, "vigil: simulate: cannot connect to %s: %s\n", a->broker.c_str(), error.c_str());
    return 1;
  }
  const Nanos start = scenario->has_start ? scenario->start : runtime::WallClock().now();
  SimulatedStream stream(scenario->shapes, scenario->machines.size(), scenario->seed, scenario->rate,
                         scenario->faults, scenario->count);
  Messages messages(*scenario, config, publisher, start);
  std::fprintf(stderr, "vigil: simulate: publishing %zu machines at %g records/s each to %s (%s)%s\n",
               scenario->machines.size(), scenario->rate, a->broker.c_str(), config.flatbuffers ? "flatbuffers" : "json",
               scenario->count ? "" : "; Ctrl-C to stop");

  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  SimulatedRecord r;
  bool ok = true;
  while (ok && !stop.load()) {
    const Nanos until = scenario->realtime
                            ? std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()
                            : runtime::kMaxTime;
    std::size_t n = 0;
    while (ok && stream.next(until, r)) {
      ok = messages.add(r, error);
      if (++n % 4096 == 0 && stop.load()) break;
    }
    if (!ok || stream.finished()) break;
    if (scenario->realtime) {
      // Sleep until the next record is due, in slices short enough to notice a stop.
      const auto due = t0 + std::chrono::nanoseconds(stream.next_due());
      const auto now = Clock::now();
      std::this_thread::sleep_until(std::clamp(due, now + std::chrono::milliseconds(1), now + std::chrono::milliseconds(50)));
    }
  }
  // Partial batches go out at the end; until then a message leaves when it holds `batch` readings.
  if (ok) ok = messages.flush_all(error);
  std::string finish_error;
  const bool delivered = publisher.finish(finish_error);
  const FaultCounts& c = stream.counts();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::fprintf(stderr,
               "vigil: simulate: %llu records in %llu messages in %.1f s (%llu garbled, %llu duplicates, %llu "
               "delayed, %llu lost to outages)\n",
               static_cast<unsigned long long>(messages.records()), static_cast<unsigned long long>(publisher.messages()),
               seconds, static_cast<unsigned long long>(c.malformed), static_cast<unsigned long long>(c.duplicated),
               static_cast<unsigned long long>(c.delayed), static_cast<unsigned long long>(c.gapped));
  if (!ok || !delivered) {
    std::fprintf(stderr, "vigil: simulate: publishing to %s failed: %s\n", a->broker.c_str(),
                 (!ok ? error : finish_error).c_str());
    return 1;
  }
  return 0;
}

}  // namespace vigil::sensors
