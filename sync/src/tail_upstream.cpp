// `vigil tail-upstream`: subscribes, decodes FlatBuffers or JSON summaries, drops duplicates
// by (gateway, epoch, seq), reports gaps. Messages arrive on Paho's callback thread and are
// handed to the command's thread through a small queue, so all printing happens in one place.
#include "vigil/sync/tail_upstream.hpp"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>

#include <mqtt/async_client.h>

#include "vigil/runtime/broker_login.hpp"
#include "vigil/runtime/config_keys.hpp"
#include "vigil/runtime/summary.hpp"
#include "vigil/sync/summary_codec.hpp"

namespace vigil::sync {

bool SeqTracker::add(std::int64_t seq) {
  auto next = ranges_.upper_bound(seq);  // first range starting after seq
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (seq <= prev->second) return false;
    if (prev->second + 1 == seq) {
      prev->second = seq;
      if (next != ranges_.end() && next->first == seq + 1) {
        prev->second = next->second;
        ranges_.erase(next);
      }
      return true;
    }
  }
  if (next != ranges_.end() && next->first == seq + 1) {
    const std::int64_t last = next->second;
    ranges_.erase(next);
    ranges_.emplace(seq, last);
    return true;
  }
  ranges_.emplace(seq, seq);
  return true;
}

std::vector<std::pair<std::int64_t, std::int64_t>> SeqTracker::gaps() const {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  const std::pair<const std::int64_t, std::int64_t>* prev = nullptr;
  for (const auto& range : ranges_) {
    if (prev) out.emplace_back(prev->second + 1, range.first - 1);
    prev = &range;
  }
  return out;
}

void SeqTracker::add_evicted(std::int64_t first, std::int64_t last) {
  if (last < first) return;
  auto [it, inserted] = evicted_.emplace(first, last);
  if (!inserted) it->second = std::max(it->second, last);
}

SeqTracker::Holes SeqTracker::holes() const {
  Holes out;
  // Cuts [first, last] at the edges of the evicted ranges; the uncovered parts are lost only
  // when `count_lost` (below the lowest seq received they may just predate the subscription).
  auto split = [&](std::int64_t first, std::int64_t last, bool count_lost) {
    std::int64_t at = first;
    while (at <= last) {
      std::int64_t covered_to = at - 1;
      for (const auto& [ef, el] : evicted_)
        if (ef <= at && el >= at) covered_to = std::max(covered_to, el);
      if (covered_to >= at) {
        const std::int64_t end = std::min(last, covered_to);
        if (!out.evicted.empty() && out.evicted.back().second + 1 == at) out.evicted.back().second = end;
        else out.evicted.emplace_back(at, end);
        at = end + 1;
        continue;
      }
      std::int64_t next = last + 1;  // the next evicted range that starts inside [at, last]
      for (const auto& [ef, el] : evicted_)
        if (ef > at && ef <= last) next = std::min(next, ef);
      if (count_lost) out.lost.emplace_back(at, next - 1);
      at = next;
    }
  };
  if (!evicted_.empty() && !ranges_.empty() && evicted_.begin()->first < lowest())
    split(evicted_.begin()->first, lowest() - 1, false);
  for (auto [first, last] : gaps()) split(first, last, true);
  return out;
}

namespace {

const std::string kUsage = std::string("usage: vigil tail-upstream --broker URI [--topic T] [--count N] [--json] [--for D]\n"
                                       "                           ") +
                           runtime::kBrokerLoginUsage + "\n";

struct TailOptions {
  std::string broker;
  runtime::BrokerLogin login;
  std::string topic = "vigil/#";
  std::uint64_t count = 0;  // 0: until stopped
  bool json = false;
  runtime::Nanos run_for = 0;
};

struct Message {
  std::string topic;
  std::string payload;
};

/// What one (gateway, epoch) stream has shown so far.
struct Stream {
  SeqTracker seqs;
  std::uint64_t gap_records = 0;
  std::uint64_t summaries = 0;
  std::uint64_t duplicates = 0;
};

void append_human(const DecodedSummary& d, std::string& out) {
  out += d.gateway;
  out += '/';
  out += d.epoch;
  out += " #" + std::to_string(d.seq) + ' ' + d.pipeline + ' ' + d.key + " [" + std::to_string(d.start_ms) + ", " +
         std::to_string(d.end_ms) + ") count=" + std::to_string(d.count);
  for (std::size_t i = 0; i < d.names.size() && i < d.values.size(); ++i) {
    out += ' ';
    out += d.names[i];
    out += '=';
    runtime::append_json_number(d.values[i], out);
  }
  if (d.flags & runtime::kPartial) out += " partial";
  if (d.flags & runtime::kLate) out += " late";
  if (d.flags & runtime::kResent) out += " resent";
}

std::string ranges_text(const std::vector<std::pair<std::int64_t, std::int64_t>>& gaps) {
  std::string out;
  for (const auto& [first, last] : gaps) {
    if (!out.empty()) out += ", ";
    out += std::to_string(first);
    if (last != first) out += ".." + std::to_string(last);
  }
  return out;
}

// The integer after `"name":` in a flat JSON text; false when absent.
bool json_int(std::string_view text, std::string_view name, std::int64_t& out) {
  const std::string key = "\"" + std::string(name) + "\":";
  const auto at = text.find(key);
  if (at == std::string_view::npos) return false;
  const char* begin = text.data() + at + key.size();
  char* end = nullptr;
  out = std::strtoll(begin, &end, 10);
  return end != begin;
}

// The string after `"name":"` (no escapes: gateway ids and epochs of Vigil have none).
bool json_text(std::string_view text, std::string_view name, std::string& out) {
  const std::string key = "\"" + std::string(name) + "\":\"";
  const auto at = text.find(key);
  if (at == std::string_view::npos) return false;
  const auto end = text.find('"', at + key.size());
  if (end == std::string_view::npos) return false;
  out.assign(text.substr(at + key.size(), end - at - key.size()));
  return true;
}

}  // namespace

int tail_upstream_command(std::span<const std::string> args, const std::atomic<bool>& stop, std::FILE* out,
                          std::FILE* err) {
  TailOptions o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::string value;
    std::string login_error;
    const runtime::LoginOption login = runtime::take_broker_login_option(args, i, o.login, login_error);
    if (login == runtime::LoginOption::error) {
      std::fprintf(err, "vigil: %s\n%s", login_error.c_str(), kUsage.c_str());
      return 2;
    }
    if (login == runtime::LoginOption::taken) continue;
    auto take = [&](std::string_view flag) {
      if (arg.starts_with(std::string(flag) + "=")) {
        value = std::string(arg.substr(flag.size() + 1));
        return true;
      }
      if (arg != flag) return false;
      if (i + 1 >= args.size()) {
        value.clear();
        std::fprintf(err, "vigil: %s needs a value\n%s", std::string(flag).c_str(), kUsage.c_str());
        return true;
      }
      value = args[++i];
      return true;
    };
    if (take("--broker")) o.broker = value;
    else if (take("--topic")) o.topic = value;
    else if (take("--count")) {
      char* end = nullptr;
      const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n == 0) {
        std::fprintf(err, "vigil: --count takes a whole number above 0\n%s", kUsage.c_str());
        return 2;
      }
      o.count = n;
    } else if (take("--for")) {
      auto d = runtime::parse_duration(value);
      if (!d || *d <= 0) {
        std::fprintf(err, "vigil: --for takes a duration such as 30s\n%s", kUsage.c_str());
        return 2;
      }
      o.run_for = *d;
    } else if (arg == "--json") {
      o.json = true;
    } else {
      std::fprintf(err, "vigil: unexpected argument %s\n%s", std::string(arg).c_str(), kUsage.c_str());
      return 2;
    }
    if (value.empty() && arg.starts_with("--") && arg != "--json") return 2;
  }
  if (o.broker.empty()) {
    std::fprintf(err, "vigil: tail-upstream needs --broker URI (tcp://host:port or ssl://host:port)\n%s", kUsage.c_str());
    return 2;
  }
  if (!o.broker.starts_with("tcp://") && !o.broker.starts_with("ssl://")) {
    std::fprintf(err, "vigil: --broker: \"%s\" is not a broker address; use tcp://host:port or ssl://host:port\n%s",
                 o.broker.c_str(), kUsage.c_str());
    return 2;
  }
  if (const std::string problem = runtime::check_broker_login(o.broker, o.login); !problem.empty()) {
    std::fprintf(err, "vigil: %s\n%s", problem.c_str(), kUsage.c_str());
    return 2;
  }

  std::mutex mutex;
  std::condition_variable arrived;
  std::deque<Message> inbox;
  std::string lost;
  std::string tls_error;  // the first OpenSSL error of a connect attempt
  std::unique_ptr<mqtt::async_client> client;
  try {
    client = std::make_unique<mqtt::async_client>(o.broker, "vigil-tail-" + std::to_string(::getpid()),
                                                  mqtt::create_options(MQTTVERSION_3_1_1));
    client->set_message_callback([&](mqtt::const_message_ptr msg) {
      std::lock_guard lock(mutex);
      inbox.push_back({msg->get_topic(), msg->get_payload_str()});
      arrived.notify_one();
    });
    client->set_connected_handler([&, topic = o.topic](const std::string&) {
      // Also after an automatic reconnect: the session is clean, so subscribe again.
      try {
        client->subscribe(topic, 1);
      } catch (const std::exception&) {
      }
    });
    client->set_connection_lost_handler([&](const std::string& cause) {
      std::lock_guard lock(mutex);
      lost = cause.empty() ? "no reason given" : cause;
      arrived.notify_one();
    });
    mqtt::connect_options opts;
    opts.set_clean_session(true);
    opts.set_automatic_reconnect(1, 30);
    opts.set_connect_timeout(10);
    if (!o.login.username.empty()) opts.set_user_name(o.login.username);
    if (!o.login.password_env.empty()) opts.set_password(o.login.password);
    if (o.broker.starts_with("ssl://")) {
      mqtt::ssl_options ssl;
      if (!o.login.ca_file.empty()) ssl.set_trust_store(o.login.ca_file);
      if (!o.login.cert_file.empty()) ssl.set_key_store(o.login.cert_file);
      if (!o.login.key_file.empty()) ssl.set_private_key(o.login.key_file);
      ssl.set_enable_server_cert_auth(o.login.verify);
      // Paho's `verify` is the post-connect check that the certificate names the host.
      ssl.set_verify(o.login.verify);
      ssl.set_error_handler([&](const std::string& message) {
        std::lock_guard lock(mutex);
        if (tls_error.empty()) tls_error = message;
      });
      opts.set_ssl(std::move(ssl));
    }
    client->connect(opts)->wait_for(std::chrono::seconds(15));
    if (!client->is_connected()) throw mqtt::exception(-1, "no connection within 15 s");
    client->subscribe(o.topic, 1)->wait_for(std::chrono::seconds(10));
  } catch (const std::exception& e) {
    std::string why = e.what();
    if (const auto* mqtt_error = dynamic_cast<const mqtt::exception*>(&e)) {
      const std::string_view refusal = runtime::connack_refusal(mqtt_error->get_return_code());
      if (!refusal.empty()) why = refusal;
    }
    std::lock_guard lock(mutex);
    // Paho's own message says little ("Failure"); OpenSSL's, when there is one, says why.
    if (!tls_error.empty()) why += "; TLS: " + tls_error;
    else if (o.broker.starts_with("ssl://") && o.login.verify && why.find("refused") == std::string::npos)
      why += std::string(" (") + runtime::kTlsVerifyHint + ")";
    std::fprintf(err, "vigil: tail-upstream %s: cannot connect: %s\n", o.broker.c_str(), why.c_str());
    return 1;
  }
  std::fprintf(err, "vigil: tail-upstream %s: subscribed to %s\n", o.broker.c_str(), o.topic.c_str());
  std::fflush(err);

  std::map<std::pair<std::string, std::string>, Stream> streams;
  std::uint64_t messages = 0;
  std::uint64_t unique = 0;
  std::uint64_t undecodable = 0;
  DecodedSummary decoded;
  std::string line;
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + std::chrono::nanoseconds(o.run_for);
  while (!stop.load() && (o.count == 0 || unique < o.count)) {
    if (o.run_for > 0 && std::chrono::steady_clock::now() >= deadline) break;
    std::deque<Message> batch;
    {
      std::unique_lock lock(mutex);
      arrived.wait_for(lock, std::chrono::milliseconds(100), [&] { return !inbox.empty() || !lost.empty(); });
      batch.swap(inbox);
      if (!lost.empty()) {
        std::fprintf(err, "vigil: tail-upstream %s: connection lost (%s); reconnecting\n", o.broker.c_str(),
                     lost.c_str());
        lost.clear();
      }
    }
    for (Message& m : batch) {
      if (o.count != 0 && unique >= o.count) break;
      ++messages;
      if (m.topic.ends_with("/status") && (m.payload == "online" || m.payload == "offline")) {
        std::fprintf(err, "vigil: tail-upstream: %s: %s\n", m.topic.c_str(), m.payload.c_str());
        continue;
      }
      if (m.payload.find("\"evicted\":{") != std::string::npos) {
        // A gap record: the gateway's outbox evicted [first, last]; it has a seq of its own.
        std::string gateway, epoch;
        std::int64_t seq = 0, first = 0, last = 0;
        if (json_text(m.payload, "gateway", gateway) && json_text(m.payload, "epoch", epoch) &&
            json_int(m.payload, "seq", seq) && json_int(m.payload, "first", first) &&
            json_int(m.payload, "last", last)) {
          Stream& stream = streams[{gateway, epoch}];
          stream.seqs.add_evicted(first, last);
          if (stream.seqs.add(seq)) {
            ++stream.gap_records;
            std::string reason;
            json_text(m.payload, "reason", reason);
            std::fprintf(err, "vigil: tail-upstream: %s/%s: #%lld: the gateway %s seq %lld..%lld\n", gateway.c_str(),
                         epoch.c_str(), static_cast<long long>(seq),
                         reason == "power_loss" ? "skipped (after a power loss)" : "evicted",
                         static_cast<long long>(first), static_cast<long long>(last));
          } else {
            ++stream.duplicates;
          }
          continue;
        }
      }
      runtime::Result<void> parsed = runtime::ok();
      if (!m.payload.empty() && m.payload.front() == '{') {
        parsed = decode_json_summary(m.payload, decoded);
      } else {
        auto flat = decode_flat_summary({reinterpret_cast<const std::uint8_t*>(m.payload.data()), m.payload.size()});
        if (flat) decoded = std::move(flat.value());
        else parsed = std::move(flat).error();
      }
      if (!parsed) {
        if (undecodable++ == 0)
          std::fprintf(err, "vigil: tail-upstream: %s: cannot decode (%s); further ones are only counted\n",
                       m.topic.c_str(), parsed.error().message.c_str());
        continue;
      }
      Stream& stream = streams[{decoded.gateway, decoded.epoch}];
      if (!stream.seqs.add(decoded.seq)) {
        ++stream.duplicates;
        continue;
      }
      ++stream.summaries;
      ++unique;
      line.clear();
      if (o.json) append_upstream_json(decoded, line);
      else append_human(decoded, line);
      line += '\n';
      std::fwrite(line.data(), 1, line.size(), out);
    }
    std::fflush(out);
  }

  try {
    client->disable_callbacks();
    if (client->is_connected()) client->disconnect(0)->wait_for(std::chrono::seconds(1));
  } catch (const std::exception&) {
  }

  std::uint64_t duplicates = 0;
  bool any_gap = false;
  for (const auto& [id, stream] : streams) duplicates += stream.duplicates;
  std::fprintf(err, "vigil: tail-upstream: %llu messages, %llu summaries, %llu duplicates, %llu undecodable\n",
               static_cast<unsigned long long>(messages), static_cast<unsigned long long>(unique),
               static_cast<unsigned long long>(duplicates), static_cast<unsigned long long>(undecodable));
  for (const auto& [id, stream] : streams) {
    const auto holes = stream.seqs.holes();
    any_gap = any_gap || !holes.lost.empty();
    std::string evicted;
    if (!holes.evicted.empty()) evicted = ", evicted by the gateway: " + ranges_text(holes.evicted);
    std::fprintf(err, "vigil: tail-upstream: %s/%s: seq %lld..%lld, %llu summaries, %llu duplicates, %s%s%s\n",
                 id.first.c_str(), id.second.c_str(), static_cast<long long>(stream.seqs.lowest()),
                 static_cast<long long>(stream.seqs.highest()), static_cast<unsigned long long>(stream.summaries),
                 static_cast<unsigned long long>(stream.duplicates), holes.lost.empty() ? "no gaps" : "gaps: ",
                 ranges_text(holes.lost).c_str(), evicted.c_str());
  }
  std::fflush(out);
  return any_gap ? 1 : 0;
}

}  // namespace vigil::sync
