// The `upstream` output: publishes what the outbox stores to an MQTT broker (Eclipse Paho MQTT
// C++, QoS 1) from its own thread. It does not take summaries from the pipeline at all: emit()
// is empty. The outbox output writes every summary into the SQLite file; this publisher opens
// the same file with its own connection, reads the rows oldest first, and deletes a row only
// once the broker acknowledged it (PUBACK). So a crash, an outage or a restart at any moment
// can cost a duplicate (sent, acknowledged, not yet deleted), never a loss; consumers drop
// duplicates by (gateway, epoch, seq).
//
// Two lanes share one connection: alerts (rows with priority > 0) go out as soon as they are
// committed; routine rows go oldest first. Rows that were already stored when the connection
// came up (the backlog after an outage or a restart) are flagged `resent` and sent at most
// `drain_rate` per second; routine rows committed later queue behind them.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <mqtt/async_client.h>

#include "commit_signal.hpp"
#include "outputs.hpp"
#include "topic_template.hpp"
#include "vigil/sync/outbox.hpp"
#include "vigil/sync/summary_codec.hpp"

namespace vigil::sync {
namespace {

using runtime::ConfigKey;
using runtime::KeyType;
using runtime::kNoMax;
using runtime::kNoMin;
using runtime::Nanos;
using runtime::Required;
using runtime::Result;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kFormats[] = {"flatbuffers", "json"};
constexpr double kSecond = static_cast<double>(runtime::kNanosPerSecond);
constexpr double kMilli = static_cast<double>(runtime::kNanosPerMilli);

constexpr ConfigKey kUpstreamKeys[] = {
    {"broker", KeyType::string, Required::yes, {},
     "Broker address: tcp://host:port (plain) or ssl://host:port (TLS)."},
    {"client_id", KeyType::string, Required::no, {},
     "MQTT client id; default vigil-<gateway>. Must be unique on the broker."},
    {"username", KeyType::string, Required::no, {}, "User name for the broker, if it asks for one."},
    {"password", KeyType::string, Required::no, {}, "Password for the broker; write it as ${ENV_VAR}, not inline."},
    {"ca_file", KeyType::string, Required::no, {},
     "ssl:// only: PEM file of the certificate authorities that sign the broker's certificate; default: "
     "the system's trust store."},
    {"cert_file", KeyType::string, Required::no, {}, "ssl:// only: PEM client certificate (mutual TLS)."},
    {"key_file", KeyType::string, Required::no, {}, "ssl:// only: PEM private key of cert_file."},
    {"verify", KeyType::boolean, Required::no, "true",
     "ssl:// only: check the broker's certificate chain and that it names the host of `broker`. Turn off "
     "only on a test bench."},
    {"topic", KeyType::string, Required::no, "vigil/{gateway}/{pipeline}/{key}",
     "Topic of each summary; {gateway}, {pipeline} and {key} are replaced."},
    {"status_topic", KeyType::string, Required::no, "vigil/{gateway}/status",
     "Retained status topic: \"online\" once connected, \"offline\" on stop and as the last will."},
    {"evicted_topic", KeyType::string, Required::no, "vigil/{gateway}/evicted",
     "Topic of the outbox's gap records (JSON: gateway, epoch, seq and the evicted seq range), so "
     "consumers can tell evicted summaries from lost ones; {gateway} only."},
    {"format", KeyType::choice, Required::no, "flatbuffers",
     "Payload: flatbuffers (the versioned Summary schema) or json (the summary object with gateway, "
     "epoch and seq).",
     kNoMin, kNoMax, kFormats},
    {"max_inflight", KeyType::integer, Required::no, "64",
     "Summaries per lane published and not yet acknowledged by the broker.", 1, 10'000},
    {"drain_rate", KeyType::integer, Required::no, "1000",
     "Most backlog summaries (stored before the connection came up) sent per second.", 1, 10'000'000},
    {"keep_alive", KeyType::duration, Required::no, "30s",
     "Longest silence before the client pings the broker; a dead link is noticed after 1.5 times this.",
     kSecond, 3600 * kSecond},
    {"reconnect_min", KeyType::duration, Required::no, "1s",
     "First wait before reconnecting; doubles on each failure, with random jitter.", 100 * kMilli,
     3600 * kSecond},
    {"reconnect_max", KeyType::duration, Required::no, "60s", "Longest wait between reconnect attempts.",
     100 * kMilli, 3600 * kSecond},
};

// Rows read from the outbox per query, at most; a lane asks for what its window has room for.
constexpr std::size_t kMaxFetch = 1024;
// Without a commit signal (rows written by another process) the publisher looks this often.
constexpr std::chrono::milliseconds kIdlePoll{250};
// Paho refusing every publish with nothing of ours in flight for this long means its state is stuck.
constexpr std::chrono::seconds kStuckWindow{5};
// How long a connect attempt may take, and the slices in which it checks for stop().
constexpr int kConnectTimeoutSeconds = 10;
constexpr std::chrono::milliseconds kSlice{20};
// stop() waits this long for the broker to acknowledge what is in flight.
constexpr std::chrono::seconds kStopAckWait{2};
constexpr std::chrono::milliseconds kStopStatusWait{1000};

int whole_seconds(Nanos d) noexcept {
  return static_cast<int>(std::max<Nanos>(1, (d + runtime::kNanosPerSecond - 1) / runtime::kNanosPerSecond));
}

/// What the factory decided from the config.
struct UpstreamSettings {
  std::string broker;
  bool tls = false;
  std::string client_id;
  std::string username;
  std::string password;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool verify = true;
  std::vector<TopicPart> topic;
  std::string status_topic;  // empty: no status messages
  std::string evicted_topic;
  bool json = false;
  std::size_t max_inflight = 64;
  double drain_rate = 1000;
  Nanos keep_alive = 30 * runtime::kNanosPerSecond;
  Nanos reconnect_min = runtime::kNanosPerSecond;
  Nanos reconnect_max = 60 * runtime::kNanosPerSecond;
  std::string outbox_path;   // resolved database file
  std::string shown_outbox;  // as written in outputs.outbox.path
  std::string gateway;
};

/// Wakes the publisher thread when Paho completes a publish (PUBACK or failure). The thread
/// then looks at the tokens itself, so a callback never touches the publisher's state.
class AckListener final : public mqtt::iaction_listener {
 public:
  explicit AckListener(std::function<void()> wake) : wake_(std::move(wake)) {}
  void on_success(const mqtt::token&) override { wake_(); }
  void on_failure(const mqtt::token&) override { wake_(); }

 private:
  std::function<void()> wake_;
};

class UpstreamOutput final : public runtime::Output {
 public:
  explicit UpstreamOutput(UpstreamSettings settings)
      : settings_(std::move(settings)), listener_([this] { wake(); }), jitter_(std::random_device{}()) {}
  ~UpstreamOutput() override { stop(); }
  UpstreamOutput(const UpstreamOutput&) = delete;
  UpstreamOutput& operator=(const UpstreamOutput&) = delete;

  Result<void> start() override {
    if (thread_.joinable()) return runtime::Error{"upstream " + settings_.broker + ": started twice"};
    auto opened = Outbox::open(settings_.outbox_path, OutboxOptions{.gateway = settings_.gateway});
    if (!opened) return runtime::Error{"upstream: " + opened.error().message};
    outbox_ = std::move(opened.value());
    // Rows left by an earlier run are backlog even if the first connect succeeds at once.
    auto stored = outbox_->last_seq();
    if (!stored) return runtime::Error{"upstream: " + stored.error().message};
    left_over_end_ = *stored + 1;
    try {
      make_client();
      build_connect_options();
      inflight_.reserve(2 * settings_.max_inflight);
      acked_.reserve(2 * settings_.max_inflight);
    } catch (const std::exception& e) {
      client_.reset();
      outbox_.reset();
      return runtime::Error{"upstream " + settings_.broker + ": cannot create the MQTT client: " + e.what()};
    }
    commits_ = CommitSignal::of(settings_.outbox_path);
    commit_listener_ = commits_->subscribe([this] { wake(); });
    stopping_.store(false);
    try {
      thread_ = std::thread(&UpstreamOutput::run, this);
    } catch (const std::exception& e) {
      commits_->unsubscribe(commit_listener_);
      client_.reset();
      outbox_.reset();
      return runtime::Error{"upstream " + settings_.broker + ": cannot start the publisher thread: " + e.what()};
    }
    return runtime::ok();
  }

  void stop() noexcept override {
    {
      std::lock_guard lock(mutex_);
      stopping_.store(true);
    }
    wake_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (commits_) {
      commits_->unsubscribe(commit_listener_);
      commits_.reset();
    }
    drop_client();
    outbox_.reset();
  }

  // Summaries reach the broker through the outbox file, not through here.
  void emit(const runtime::Summary&) noexcept override {}

  // Payload bytes handed to the broker (a row sent again after a reconnect counts again: it
  // left the gateway twice).
  std::uint64_t bytes_forwarded() const noexcept override { return bytes_published_.get(); }

  std::string stats() const override {
    std::string out = "upstream " + settings_.broker + ": " + std::to_string(published_.get()) + " published, " +
                      std::to_string(acknowledged_.get()) + " acknowledged, " + std::to_string(resent_.get()) +
                      " resent, " + std::to_string(alerts_.get()) + " alerts, " +
                      std::to_string(reconnects_.get()) + " reconnects";
    if (gap_records_.get() > 0) out += ", " + std::to_string(gap_records_.get()) + " gap records";
    if (unencodable_.get() > 0) out += ", " + std::to_string(unencodable_.get()) + " unreadable rows skipped";
    if (db_errors_.get() > 0) out += ", " + std::to_string(db_errors_.get()) + " outbox errors";
    return out;
  }

 private:
  struct InFlight {
    std::int64_t seq = 0;
    Outbox::Lane lane = Outbox::Lane::routine;
    mqtt::delivery_token_ptr token;
  };

  void log(const char* format, const std::string& detail = {}) const noexcept {
    std::fprintf(stderr, "vigil: upstream %s: ", settings_.broker.c_str());
    std::fprintf(stderr, format, detail.c_str());
    std::fputc('\n', stderr);
  }

  void wake() noexcept {
    {
      std::lock_guard lock(mutex_);
      woken_ = true;
    }
    wake_cv_.notify_all();
  }

  // Waits until woken (ack, commit, connection lost, stop) or `timeout`.
  // A new Paho client, with nothing queued or in flight. Made at start and again after every
  // lost connection: the rows it had taken are still in the outbox, and a client that kept
  // state from the old connection once refused every publish after a broker restart.
  void make_client() {
    // Paho queues each publish as a command until its own thread writes it, and refuses a
    // publish once more than max_buffered_messages (100 by default) are queued. Both lanes
    // may have a full window queued at once, so the queue must hold as much as the window.
    client_ = std::make_unique<mqtt::async_client>(settings_.broker, settings_.client_id,
                                                   mqtt::create_options(MQTTVERSION_3_1_1, paho_window()));
    client_->set_connection_lost_handler([this](const std::string& cause) {
      {
        std::lock_guard lock(mutex_);
        lost_cause_ = cause;
        lost_ = true;
      }
      wake_cv_.notify_all();
    });
  }

  void drop_client() noexcept {
    if (!client_) return;
    try {
      client_->disable_callbacks();
    } catch (...) {
    }
    client_.reset();
  }

  // After a lost connection: forgets the old client (and its tokens) and makes a new one.
  // False when it cannot be made; the connect loop tries again after its backoff.
  bool renew_client(std::string& error) noexcept {
    inflight_.clear();
    drop_client();
    try {
      make_client();
      return true;
    } catch (const std::exception& e) {
      client_.reset();
      error = std::string("cannot create the MQTT client: ") + e.what();
      return false;
    }
  }

  void wait(Clock::duration timeout) noexcept {
    std::unique_lock lock(mutex_);
    wake_cv_.wait_for(lock, timeout, [this] { return woken_ || lost_ || stopping_.load(); });
    woken_ = false;
  }

  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }

  // Publishes Paho may hold unacknowledged: both lanes' windows plus status and gap records.
  int paho_window() const noexcept { return static_cast<int>(2 * settings_.max_inflight + 8); }

  void build_connect_options() {
    opts_.set_mqtt_version(MQTTVERSION_3_1_1);
    // Delivery is tracked in the outbox, not in a broker session: after a reconnect every
    // unacknowledged row is simply published again.
    opts_.set_clean_session(true);
    opts_.set_keep_alive_interval(whole_seconds(settings_.keep_alive));
    opts_.set_connect_timeout(std::min(kConnectTimeoutSeconds, whole_seconds(settings_.keep_alive)));
    opts_.set_automatic_reconnect(false);
    opts_.set_max_inflight(paho_window());
    if (!settings_.username.empty()) opts_.set_user_name(settings_.username);
    if (!settings_.password.empty()) opts_.set_password(settings_.password);
    if (!settings_.status_topic.empty())
      opts_.set_will(mqtt::will_options(settings_.status_topic, std::string("offline"), 1, true));
    if (settings_.tls) {
      mqtt::ssl_options ssl;
      if (!settings_.ca_file.empty()) ssl.set_trust_store(settings_.ca_file);
      if (!settings_.cert_file.empty()) ssl.set_key_store(settings_.cert_file);
      if (!settings_.key_file.empty()) ssl.set_private_key(settings_.key_file);
      ssl.set_enable_server_cert_auth(settings_.verify);
      // Paho's `verify` is the post-connect check that the certificate names the host.
      ssl.set_verify(settings_.verify);
      ssl.set_error_handler([this](const std::string& message) {
        std::lock_guard lock(mutex_);
        tls_error_ = message;
      });
      opts_.set_ssl(std::move(ssl));
    }
  }

  // One connect attempt; true once connected. `error` says why not.
  bool connect_once(std::string& error) noexcept {
    try {
      mqtt::token_ptr token = client_->connect(opts_);
      while (!token->wait_for(kSlice))
        if (stopping()) return false;
      if (token->get_return_code() == 0) return true;
      error = "return code " + std::to_string(token->get_return_code());
    } catch (const mqtt::exception& e) {
      error = e.get_error_str().empty() ? e.what() : e.get_error_str();
      if (e.get_reason_code() != 0) error += " (" + mqtt::exception::reason_code_str(e.get_reason_code()) + ")";
    } catch (const std::exception& e) {
      error = e.what();
    }
    std::lock_guard lock(mutex_);
    if (!tls_error_.empty()) {
      error += "; TLS: " + tls_error_;
      tls_error_.clear();
    }
    return false;
  }

  // Capped exponential backoff with jitter: the wait is drawn from [d/2, d], d doubling from
  // reconnect_min up to reconnect_max, so many gateways losing one broker do not all return
  // at the same instant.
  Clock::duration next_backoff(Nanos& base) noexcept {
    const Nanos d = base;
    base = std::min(settings_.reconnect_max, base * 2);
    std::uniform_int_distribution<Nanos> pick(d / 2, d);
    return std::chrono::nanoseconds(pick(jitter_));
  }

  // Connects, retrying with backoff until connected or stopped. Logs the first failure only.
  // `at_once` tells whether the first attempt succeeded.
  bool connect(bool& at_once) noexcept {
    Nanos base = settings_.reconnect_min;
    bool reported = false;
    at_once = true;
    while (!stopping()) {
      std::string error;
      if ((client_ || renew_client(error)) && connect_once(error)) {
        {
          std::lock_guard lock(mutex_);
          lost_ = false;
        }
        return true;
      }
      if (stopping()) return false;
      at_once = false;
      if (!reported) {
        log("cannot connect (%s); retrying", error);
        reported = true;
      }
      const auto pause = next_backoff(base);
      std::unique_lock lock(mutex_);
      wake_cv_.wait_for(lock, pause, [this] { return stopping_.load(); });
    }
    return false;
  }

  // `outage`: the connection was down for a while (lost, or the first attempts failed); the
  // rows stored meanwhile are backlog. Otherwise only the rows of an earlier run are.
  void on_connected(bool outage) noexcept {
    if (!settings_.status_topic.empty()) {
      try {
        client_->publish(settings_.status_topic, "online", 6, 1, true);
      } catch (const std::exception&) {
        // The connection dropped again; the loop notices it.
      }
    }
    // Forget what was in flight on the old connection: those rows are still in the outbox
    // (a row leaves only after its PUBACK) and are read again from the start.
    inflight_.clear();
    flush_acked();
    cursor_[0] = cursor_[1] = 0;
    if (outage) {
      auto last = outbox_->last_seq();
      backlog_end_ = last ? *last + 1 : left_over_end_;
      if (!last) note_db_error(last.error().message);
    } else {
      backlog_end_ = left_over_end_;
    }
    tokens_ = 1;
    last_refill_ = Clock::now();
    draining_ = backlog_end_ > 1;
    std::int64_t backlog = 0;
    if (draining_) {
      auto s = outbox_->stats();
      if (s) backlog = static_cast<std::int64_t>(s->rows);
      draining_ = backlog > 0;
    }
    if (backlog > 0)
      log("connected; %s stored summaries to send (backlog)", std::to_string(backlog));
    else
      log("connected%s");
  }

  void note_db_error(const std::string& message) noexcept {
    db_errors_.add();
    if (!db_failing_) log("%s; retrying", message);
    db_failing_ = true;
  }

  void note_db_ok() noexcept {
    if (db_failing_) log("outbox readable again%s");
    db_failing_ = false;
  }

  // Deletes the acknowledged rows; on failure they stay in acked_ and are tried again.
  void flush_acked() noexcept {
    if (acked_.empty()) return;
    auto removed = outbox_->remove(acked_);
    if (!removed) {
      note_db_error(removed.error().message);
      return;
    }
    note_db_ok();
    acked_.clear();
  }

  // Looks at every token in flight; returns false when a publish failed (connection trouble).
  bool collect_acks() noexcept {
    bool ok = true;
    std::erase_if(inflight_, [&](const InFlight& f) {
      if (!f.token->is_complete()) return false;
      if (f.token->get_return_code() != 0) {
        ok = false;
        return false;
      }
      acked_.push_back(f.seq);
      acknowledged_.add();
      return true;
    });
    return ok;
  }

  std::size_t inflight_in(Outbox::Lane lane) const noexcept {
    return static_cast<std::size_t>(
        std::count_if(inflight_.begin(), inflight_.end(), [lane](const InFlight& f) { return f.lane == lane; }));
  }

  bool pending_delete(std::int64_t seq) const noexcept {
    return std::find(acked_.begin(), acked_.end(), seq) != acked_.end();
  }

  // Encodes and publishes one row; false when the connection failed (the row stays unsent).
  bool publish(const OutboxRecord& row, Outbox::Lane lane) noexcept {
    try {
      if (row.format == kGapFormat) return publish_gap(row, lane);
      if (row.format == "json") {
        auto parsed = decode_json_summary(row.payload, decoded_);
        if (!parsed) return skip_unreadable(row, parsed.error().message);
      } else if (row.format == "flatbuffers") {
        auto parsed = decode_flat_summary(
            {reinterpret_cast<const std::uint8_t*>(row.payload.data()), row.payload.size()});
        if (!parsed) return skip_unreadable(row, parsed.error().message);
        decoded_ = std::move(parsed.value());
      } else {
        return skip_unreadable(row, "unknown payload format \"" + row.format + "\"");
      }
      decoded_.gateway = outbox_->gateway();
      decoded_.epoch = outbox_->epoch();
      decoded_.seq = row.seq;
      const bool backlog = row.seq < backlog_end_;
      if (backlog) decoded_.flags |= runtime::kResent;
      expand_topic(settings_.topic, row.pipeline, row.key, topic_);
      const void* data = nullptr;
      std::size_t size = 0;
      if (settings_.json) {
        json_.clear();
        append_upstream_json(decoded_, json_);
        data = json_.data();
        size = json_.size();
      } else {
        auto bytes = encoder_.encode(decoded_);
        data = bytes.data();
        size = bytes.size();
      }
      mqtt::delivery_token_ptr token = client_->publish(topic_, data, size, 1, false, nullptr, listener_);
      inflight_.push_back(InFlight{row.seq, lane, std::move(token)});
      stuck_since_.reset();
      published_.add();
      bytes_published_.add(size);
      if (backlog) resent_.add();
      if (lane == Outbox::Lane::alerts) alerts_.add();
      return true;
    } catch (const mqtt::exception& e) {
      // Paho's queue or window is full: back-pressure, not a broken connection. The row stays
      // unsent and goes out once acknowledgements made room.
      if (e.get_return_code() == MQTTASYNC_MAX_BUFFERED_MESSAGES ||
          e.get_return_code() == MQTTASYNC_MAX_MESSAGES_INFLIGHT) {
        client_full_ = true;
        return false;
      }
      note_lost(e.get_error_str().empty() ? e.what() : e.get_error_str());
      return false;
    } catch (const std::exception& e) {
      note_lost(e.what());
      return false;
    }
  }

  // A gap record: the outbox evicted the seqs it names. Always JSON, on its own topic.
  bool publish_gap(const OutboxRecord& row, Outbox::Lane lane) {
    json_.clear();
    json_ += "{\"gateway\":";
    runtime::append_json_string(outbox_->gateway(), json_);
    json_ += ",\"epoch\":";
    runtime::append_json_string(outbox_->epoch(), json_);
    json_ += ",\"seq\":" + std::to_string(row.seq) + ",\"evicted\":";
    json_ += row.payload;
    json_ += '}';
    mqtt::delivery_token_ptr token =
        client_->publish(settings_.evicted_topic, json_.data(), json_.size(), 1, false, nullptr, listener_);
    inflight_.push_back(InFlight{row.seq, lane, std::move(token)});
    stuck_since_.reset();
    published_.add();
    gap_records_.add();
    bytes_published_.add(json_.size());
    return true;
  }

  // A row this Vigil cannot read (damaged, or written by something else) would block its lane
  // forever; it is deleted, counted and logged once.
  bool skip_unreadable(const OutboxRecord& row, const std::string& why) noexcept {
    if (unencodable_.get() == 0)
      log("skipping an unreadable outbox row (%s); further ones are only counted",
          "seq " + std::to_string(row.seq) + ": " + why);
    unencodable_.add();
    acked_.push_back(row.seq);
    return true;
  }

  void note_lost(const std::string& cause) noexcept {
    std::lock_guard lock(mutex_);
    if (!lost_) lost_cause_ = cause;
    lost_ = true;
  }

  // Publishes what the lane's window has room for. Returns false on connection trouble.
  bool fill(Outbox::Lane lane) noexcept {
    const std::size_t index = lane == Outbox::Lane::alerts ? 1 : 0;
    std::size_t room = settings_.max_inflight - std::min(settings_.max_inflight, inflight_in(lane));
    if (lane == Outbox::Lane::routine && draining_) {
      refill_tokens();
      room = std::min(room, static_cast<std::size_t>(tokens_));
    }
    room = std::min(room, kMaxFetch);
    if (room == 0) return true;
    bool ok = true;
    bool full = false;
    std::size_t sent_backlog = 0;
    auto visited = outbox_->next_rows(lane, cursor_[index], room, [&](const OutboxRecord& row) {
      if (!ok || full) return;
      if (!acked_.empty() && pending_delete(row.seq)) {
        cursor_[index] = row.seq;
        return;
      }
      if (!publish(row, lane)) {
        if (client_full_) {
          client_full_ = false;
          full = true;
        } else {
          ok = false;
        }
        return;
      }
      cursor_[index] = row.seq;
      if (row.seq < backlog_end_) ++sent_backlog;
    });
    if (!visited) {
      note_db_error(visited.error().message);
      return true;
    }
    note_db_ok();
    // Paho refusing every publish while none of ours is in flight cannot be back-pressure (its
    // window is larger than both lanes' together): its state from the last connection is stuck.
    // After kStuckWindow of that, reconnect, which starts a clean session.
    if (full && inflight_.empty()) {
      const auto now = Clock::now();
      if (!stuck_since_) stuck_since_ = now;
      if (now - *stuck_since_ >= kStuckWindow) {
        stuck_since_.reset();
        note_lost("the MQTT client refused every publish for 5 s with nothing in flight");
        return false;
      }
    }
    if (lane == Outbox::Lane::routine && draining_) {
      tokens_ -= static_cast<double>(sent_backlog);
      if (full) return ok;
      // Every backlog row is out (acknowledged or in flight) once the cursor passed the end of
      // the backlog, or once the lane had fewer rows than it asked for.
      if (ok && (cursor_[0] + 1 >= backlog_end_ || *visited < room)) {
        draining_ = false;
        log("backlog sent%s");
      }
    }
    return ok;
  }

  void refill_tokens() noexcept {
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - last_refill_).count();
    last_refill_ = now;
    // At most 50 ms worth of tokens pile up, so the rate holds over any 50 ms stretch.
    const double burst = std::max(1.0, settings_.drain_rate / 20);
    tokens_ = std::min(burst, tokens_ + elapsed * settings_.drain_rate);
  }

  // When the drain is held back by the rate limit, the time until the next token.
  Clock::duration next_wake() const noexcept {
    if (draining_ && tokens_ < 1) {
      const double seconds = (1 - tokens_) / settings_.drain_rate;
      return std::min<Clock::duration>(kIdlePoll, std::chrono::duration_cast<Clock::duration>(
                                                      std::chrono::duration<double>(seconds)));
    }
    return kIdlePoll;
  }

  bool connection_lost(std::string& cause) noexcept {
    std::lock_guard lock(mutex_);
    if (!lost_) return false;
    cause = lost_cause_;
    return true;
  }

  void disconnect() noexcept {
    if (!client_) return;
    try {
      if (!settings_.status_topic.empty() && client_->is_connected())
        client_->publish(settings_.status_topic, "offline", 7, 1, true)->wait_for(kStopStatusWait);
      if (client_->is_connected()) client_->disconnect(0)->wait_for(std::chrono::milliseconds(500));
    } catch (const std::exception&) {
      // Gone already; the broker publishes the last will.
    }
  }

  void run() noexcept {
    bool first = true;
    while (!stopping()) {
      if (!first) reconnects_.add();
      bool at_once = true;
      if (!connect(at_once)) break;
      on_connected(!first || !at_once);
      first = false;
      std::string cause;
      while (!stopping()) {
        const bool acks_ok = collect_acks();
        flush_acked();
        if (!acks_ok) note_lost("a publish was not acknowledged");
        if (connection_lost(cause)) break;
        bool ok = fill(Outbox::Lane::alerts);
        if (ok) ok = fill(Outbox::Lane::routine);
        // connection_lost first: it fills in the cause also when the publish found the loss.
        if (connection_lost(cause) || !ok) break;
        wait(next_wake());
      }
      if (stopping()) break;
      log("connection lost (%s); reconnecting", cause.empty() ? std::string("no reason given") : cause);
      try {
        if (client_->is_connected()) client_->disconnect(0)->wait_for(std::chrono::milliseconds(200));
      } catch (const std::exception&) {
      }
      std::string error;
      if (!renew_client(error)) log("%s; retrying", error);
    }
    // Stopping: give what is in flight a moment to be acknowledged, so it is not sent again
    // on the next start, then say goodbye.
    const auto deadline = Clock::now() + kStopAckWait;
    while (!inflight_.empty() && Clock::now() < deadline && !connection_lost_now()) {
      collect_acks();
      if (inflight_.empty()) break;
      std::unique_lock lock(mutex_);
      wake_cv_.wait_for(lock, kSlice);
    }
    collect_acks();
    flush_acked();
    inflight_.clear();
    disconnect();
  }

  bool connection_lost_now() noexcept {
    std::lock_guard lock(mutex_);
    return lost_;
  }

  UpstreamSettings settings_;
  mqtt::connect_options opts_;
  std::unique_ptr<Outbox> outbox_;  // the publisher thread's own connection to the file
  std::shared_ptr<CommitSignal> commits_;
  std::uint64_t commit_listener_ = 0;
  AckListener listener_;  // declared before client_: outlives it
  std::unique_ptr<mqtt::async_client> client_;

  // Publisher thread only.
  std::vector<InFlight> inflight_;
  std::vector<std::int64_t> acked_;  // acknowledged (or skipped), not yet deleted
  std::int64_t cursor_[2] = {0, 0};  // last seq published per lane: routine, alerts
  std::int64_t backlog_end_ = 1;     // rows below this were stored before the connection came up
  std::int64_t left_over_end_ = 1;   // rows below this were stored before start()
  bool draining_ = false;
  bool client_full_ = false;  // the last publish found Paho's queue full (set by publish())
  std::optional<Clock::time_point> stuck_since_;  // Paho full with nothing of ours in flight since
  double tokens_ = 1;
  Clock::time_point last_refill_{};
  bool db_failing_ = false;
  DecodedSummary decoded_;
  FlatSummaryEncoder encoder_;
  std::string json_;
  std::string topic_;
  std::mt19937_64 jitter_;

  // Shared with Paho's callbacks and stop().
  std::mutex mutex_;
  std::condition_variable wake_cv_;
  bool woken_ = false;
  bool lost_ = false;
  std::string lost_cause_;
  std::string tls_error_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;

  runtime::Counter published_;
  runtime::Counter bytes_published_;
  runtime::Counter gap_records_;
  runtime::Counter acknowledged_;
  runtime::Counter resent_;
  runtime::Counter alerts_;
  runtime::Counter reconnects_;
  runtime::Counter unencodable_;
  runtime::Counter db_errors_;
};

bool readable(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::unique_ptr<runtime::Output> make_upstream(const runtime::OutputSetup& setup) {
  const runtime::Block& block = setup.block;
  UpstreamSettings s;
  bool ok = true;
  auto fail = [&](std::string_view key, const std::string& message) {
    report_key_error(setup, key, message);
    ok = false;
  };
  s.broker = block.string("broker");
  s.tls = s.broker.starts_with("ssl://");
  if (!s.tls && !s.broker.starts_with("tcp://"))
    fail("broker", "\"" + s.broker + "\" is not a broker address; use tcp://host:port or ssl://host:port");
  s.gateway = setup.gateway;
  s.client_id = block.has("client_id") ? block.string("client_id") : "vigil-" + setup.gateway;
  s.username = block.string("username");
  s.password = block.string("password");
  s.verify = block.boolean("verify");
  for (std::string_view key : {"ca_file", "cert_file", "key_file"}) {
    if (!block.has(key)) continue;
    const std::string path = resolve_path(block.string(key), setup.config_dir);
    if (!s.tls) fail(key, "applies to ssl:// brokers only; use an ssl:// broker address or remove it");
    else if (!readable(path)) fail(key, "cannot read " + path + "; give a PEM file");
    if (key == "ca_file") s.ca_file = path;
    else if (key == "cert_file") s.cert_file = path;
    else s.key_file = path;
  }
  if (!s.key_file.empty() && s.cert_file.empty()) fail("key_file", "needs cert_file (the certificate of this key)");
  auto topic = parse_topic(block.string("topic"), setup.gateway);
  if (!topic) fail("topic", topic.error().message);
  else s.topic = std::move(topic.value());
  const std::string status = block.string("status_topic");
  if (!status.empty()) {
    auto parts = parse_topic(status, setup.gateway);
    if (!parts) {
      fail("status_topic", parts.error().message);
    } else if (parts->size() != 1 || parts->front().kind != TopicPart::Kind::text) {
      fail("status_topic", "may use {gateway} only");
    } else {
      s.status_topic = parts->front().text;
    }
  }
  {
    auto parts = parse_topic(block.string("evicted_topic"), setup.gateway);
    if (!parts) fail("evicted_topic", parts.error().message);
    else if (parts->size() != 1 || parts->front().kind != TopicPart::Kind::text)
      fail("evicted_topic", "may use {gateway} only");
    else s.evicted_topic = parts->front().text;
  }
  s.json = block.string("format") == "json";
  s.max_inflight = static_cast<std::size_t>(block.integer("max_inflight"));
  s.drain_rate = static_cast<double>(block.integer("drain_rate"));
  s.keep_alive = block.duration("keep_alive");
  s.reconnect_min = block.duration("reconnect_min");
  s.reconnect_max = block.duration("reconnect_max");
  if (s.reconnect_max < s.reconnect_min) fail("reconnect_max", "is shorter than reconnect_min");

  // The publisher sends what the outbox stores: it needs outputs.outbox and reads its file.
  const runtime::ConfigNode* outbox = setup.outputs ? setup.outputs->find("outbox") : nullptr;
  const runtime::ConfigNode* path = outbox && outbox->is_map() ? outbox->find("path") : nullptr;
  if (path == nullptr || !path->is_scalar() || path->scalar.empty()) {
    if (setup.diag != nullptr) {
      const runtime::ConfigNode* self = setup.block.self();
      setup.diag->error(self ? self->mark : runtime::Mark{}, setup.path,
                        "needs outputs.outbox: the upstream publisher sends what the outbox stores, "
                        "and deletes it once the broker has it; add `outbox: {path: var/outbox.db}` "
                        "under outputs");
    }
    return nullptr;
  }
  s.shown_outbox = path->scalar;
  s.outbox_path = resolve_path(path->scalar, setup.config_dir);
  if (!ok) return nullptr;
  return std::make_unique<UpstreamOutput>(std::move(s));
}

constexpr runtime::OutputPlugin kUpstreamPlugin{
    "upstream",
    "Publishes the summaries stored in the outbox to an MQTT broker (QoS 1), oldest first; a row "
    "leaves the outbox once the broker acknowledged it. Needs outputs.outbox.",
    kUpstreamKeys, &make_upstream};

}  // namespace

const runtime::OutputPlugin& upstream_output_plugin() noexcept { return kUpstreamPlugin; }

}  // namespace vigil::sync
