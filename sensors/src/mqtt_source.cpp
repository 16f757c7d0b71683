// The `mqtt` source: subscribes to topics on an MQTT broker (Eclipse Paho MQTT C++) and decodes
// each message as JSON, CSV, name=value pairs, FlatBuffers readings or a bare number. Paho runs
// its own network and callback threads; messages are decoded on Paho's callback thread and
// pushed into the ingest queue, which never waits (a broker cannot be paused), so a slow
// pipeline costs counted drops.
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <mqtt/async_client.h>

#include "dead_letter.hpp"
#include "event_batch.hpp"
#include "line_decoder.hpp"
#include "reading_codec.hpp"
#include "vigil/sensors/sensors.hpp"

namespace vigil::sensors {
namespace {

using runtime::ConfigKey;
using runtime::KeyType;
using runtime::kNoMax;
using runtime::kNoMin;
using runtime::Nanos;
using runtime::Required;

constexpr std::string_view kFormats[] = {"json", "csv", "kv", "value", "flatbuffers"};
constexpr double kSecond = static_cast<double>(runtime::kNanosPerSecond);

constexpr ConfigKey kMqttKeys[] = {
    {"broker", KeyType::string, Required::yes, {},
     "Broker address: tcp://host:port (plain) or ssl://host:port (TLS, see ca_file)."},
    {"topics", KeyType::string_list, Required::yes, {},
     "Topic filters to subscribe to; + matches one level, # the rest (plant/+/telemetry, plant/#)."},
    {"format", KeyType::choice, Required::yes, {},
     "Payload: json (an object or an array of objects), csv or kv (one record per line), value (one "
     "number; the field is the last topic level), flatbuffers (a vigil.fb.Readings message of one or more "
     "readings).",
     kNoMin, kNoMax, kFormats},
    {"client_id", KeyType::string, Required::no, {},
     "MQTT client id; default vigil-<source name>. Must be unique on the broker."},
    {"qos", KeyType::integer, Required::no, "1", "Subscription QoS: 0 (at most once) or 1 (at least once).", 0, 1},
    {"clean_session", KeyType::boolean, Required::no, "true",
     "Start without broker-side session state; subscriptions are restored on every connect anyway."},
    {"keep_alive", KeyType::duration, Required::no, "30s",
     "Longest silence before the client pings the broker; a dead link is noticed after 1.5 times this.",
     kSecond, 3600 * kSecond},
    {"username", KeyType::string, Required::no, {}, "User name for the broker, if it asks for one."},
    {"password", KeyType::string, Required::no, {}, "Password for the broker; write it as ${ENV_VAR}, not inline."},
    {"reconnect_min", KeyType::duration, Required::no, "1s",
     "First wait before reconnecting after the broker is lost; doubles on each failure.", kSecond,
     3600 * kSecond},
    {"reconnect_max", KeyType::duration, Required::no, "30s", "Longest wait between reconnect attempts.", kSecond,
     3600 * kSecond},
    {"columns", KeyType::string_list, Required::no, {},
     "csv only: the name of every cell in order, so key and time columns can be named; default: the cells "
     "are the `fields`, in order."},
    {"ca_file", KeyType::string, Required::no, {},
     "ssl:// only: PEM file of the certificate authorities that sign the broker's certificate; default: "
     "the system's trust store."},
    {"cert_file", KeyType::string, Required::no, {}, "ssl:// only: PEM client certificate (mutual TLS)."},
    {"key_file", KeyType::string, Required::no, {}, "ssl:// only: PEM private key of cert_file."},
    {"verify", KeyType::boolean, Required::no, "true",
     "ssl:// only: check the broker's certificate and host name. Turn off only on a test bench."},
    {"dead_letter", KeyType::string, Required::no, {},
     "File that keeps malformed messages, one JSON line each with time, topic, reason and payload; "
     "default: none (malformed messages are only counted)."},
    {"dead_letter_max", KeyType::size, Required::no, "16MiB",
     "Size at which the dead-letter file is renamed to <file>.1 and a new one begun.", 4096,
     1024.0 * 1024 * 1024},
};

enum class PayloadFormat : std::uint8_t { json, csv, kv, value, flatbuffers };

/// Where a record's key comes from.
struct KeySource {
  enum Kind : std::uint8_t { payload, topic_level, topic, source_name } kind = payload;
  std::size_t level = 0;  // topic_level: 0 is the first level
};

/// Everything the client needs, checked and typed at setup.
struct MqttConfig {
  std::string broker;
  std::string client_id;
  std::vector<std::string> topics;
  int qos = 1;
  bool clean_session = true;
  Nanos keep_alive = 30 * runtime::kNanosPerSecond;
  std::string username;
  std::string password;
  PayloadFormat format = PayloadFormat::json;
  KeySource key;
  Nanos reconnect_min = runtime::kNanosPerSecond;
  Nanos reconnect_max = 30 * runtime::kNanosPerSecond;
  bool tls = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool verify = true;
  std::string dead_letter;  // empty: none
  std::int64_t dead_letter_max = 16 << 20;
};

int whole_seconds(Nanos d) noexcept {
  return static_cast<int>(std::max<Nanos>(1, (d + runtime::kNanosPerSecond - 1) / runtime::kNanosPerSecond));
}

// Level `n` (0-based) of `topic`; false if the topic has fewer levels.
bool topic_level(std::string_view topic, std::size_t n, std::string_view& out) noexcept {
  std::size_t begin = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t slash = topic.find('/', begin);
    if (slash == std::string_view::npos) return false;
    begin = slash + 1;
  }
  const std::size_t slash = topic.find('/', begin);
  out = topic.substr(begin, slash == std::string_view::npos ? std::string_view::npos : slash - begin);
  return true;
}

std::string_view last_level(std::string_view topic) noexcept {
  const std::size_t slash = topic.rfind('/');
  return slash == std::string_view::npos ? topic : topic.substr(slash + 1);
}

/// Topic -> (key, field) resolutions, fixed size, filled on first sight of a topic. A topic
/// longer than kMaxTopic, or one arriving when its probe run is full, is resolved every time
/// (interning is allocation-free, just slower). Callback thread only.
class TopicCache {
 public:
  static constexpr std::size_t kSlots = 256;  // power of two
  static constexpr std::size_t kMaxTopic = 120;
  static constexpr std::size_t kProbes = 8;

  struct Entry {
    std::array<char, kMaxTopic> topic{};
    std::uint8_t length = 0;
    bool used = false;
    bool has_key = false;
    runtime::KeyId key{};
    runtime::FieldId field = runtime::kNoField;
  };

  /// The entry of `topic`, or a fresh slot for it (used = false), or nullptr if none is free.
  Entry* find(std::string_view topic) noexcept {
    if (topic.size() > kMaxTopic) return nullptr;
    std::uint64_t h = 1469598103934665603ULL;
    for (const char c : topic) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    for (std::size_t i = 0; i < kProbes; ++i) {
      Entry& e = entries_[(h + i) & (kSlots - 1)];
      if (!e.used) {
        std::memcpy(e.topic.data(), topic.data(), topic.size());
        e.length = static_cast<std::uint8_t>(topic.size());
        return &e;
      }
      if (std::string_view(e.topic.data(), e.length) == topic) return &e;
    }
    return nullptr;
  }

 private:
  std::array<Entry, kSlots> entries_{};
};

/// One MQTT subscription set; see kMqttPlugin.
class MqttSource final : public runtime::Source {
 public:
  MqttSource(const runtime::SourceSetup& setup, MqttConfig config, std::unique_ptr<LineDecoder> decoder,
             std::unique_ptr<ReadingDecoder> readings, std::vector<runtime::FieldId> field_ids,
             std::vector<std::string> value_fields)
      : config_(std::move(config)),
        decoder_(std::move(decoder)),
        readings_(std::move(readings)),
        field_ids_(std::move(field_ids)),
        value_fields_(std::move(value_fields)),
        source_name_(setup.name),
        index_(setup.index),
        keys_(setup.keys),
        fields_table_(setup.fields),
        clock_(setup.clock ? setup.clock : &wall_clock_),
        max_future_(setup.mapping.time.max_future),
        batch_(std::max<std::size_t>(kBatchEvents, 2 * (field_ids_.size() + LineDecoder::kMaxDiscoveredFields))),
        cache_(std::make_unique<TopicCache>()) {
    field_ids_.reserve(field_ids_.size() + LineDecoder::kMaxDiscoveredFields);
    payload_.reserve(kInitialPayload);
  }

  ~MqttSource() override { stop(); }

  runtime::Result<void> start(runtime::IngestQueue& queue) override {
    if (queue.policy() == runtime::OverflowPolicy::block)
      return runtime::Error{"mqtt " + config_.broker +
                            ": the queue policy is block, but an MQTT subscriber must never wait (the broker "
                            "would back up); use overflow: drop_newest or drop_oldest"};
    try {
      client_ = std::make_unique<mqtt::async_client>(config_.broker, config_.client_id, mqtt::create_options(MQTTVERSION_3_1_1));
      client_->set_connected_handler([this](const std::string&) { on_connected(); });
      client_->set_connection_lost_handler([this](const std::string& cause) { on_lost(cause); });
      client_->set_message_callback([this](mqtt::const_message_ptr msg) { on_message(msg); });
    } catch (const std::exception& e) {
      client_.reset();
      return runtime::Error{"mqtt " + config_.broker + ": cannot create the client: " + e.what()};
    }
    if (!config_.dead_letter.empty() && !dead_letter_) {
      auto opened = DeadLetterFile::open(config_.dead_letter, config_.dead_letter_max);
      if (!opened) return runtime::Error{"mqtt " + config_.broker + ": " + opened.error().message};
      dead_letter_ = std::move(opened.value());
    }
    {
      std::lock_guard lock(queue_mutex_);
      queue_ = &queue;
    }
    return reader_.start("mqtt " + config_.broker, [this] { run(); });
  }

  void stop() noexcept override {
    reader_.stop();
    {
      // After this no callback touches the queue, even one already running elsewhere.
      std::lock_guard lock(queue_mutex_);
      flush();
      queue_ = nullptr;
    }
    if (!client_) return;
    try {
      client_->disable_callbacks();
      if (client_->is_connected()) client_->disconnect(0)->wait_for(std::chrono::milliseconds(500));
    } catch (const std::exception&) {
      // Already gone; nothing to tell the broker.
    }
    try {
      client_.reset();
    } catch (...) {
    }
  }

  const runtime::SourceCounters& counters() const noexcept override { return counters_; }

 private:
  static constexpr std::size_t kBatchEvents = 1024;
  static constexpr std::size_t kInitialPayload = 4096;
  static constexpr auto kSlice = std::chrono::milliseconds(50);

  // Paho's automatic reconnect only covers a connection that was up once; the first connect
  // is retried here with the same capped exponential backoff, so a broker that is down at boot
  // is waited for instead of failing the start.
  void run() noexcept {
    mqtt::connect_options opts;
    try {
      opts.set_mqtt_version(MQTTVERSION_3_1_1);
      opts.set_clean_session(config_.clean_session);
      opts.set_keep_alive_interval(whole_seconds(config_.keep_alive));
      opts.set_connect_timeout(std::min(10, whole_seconds(config_.keep_alive)));
      opts.set_automatic_reconnect(whole_seconds(config_.reconnect_min), whole_seconds(config_.reconnect_max));
      if (!config_.username.empty()) opts.set_user_name(config_.username);
      if (!config_.password.empty()) opts.set_password(config_.password);
      if (config_.tls) {
        mqtt::ssl_options ssl;
        if (!config_.ca_file.empty()) ssl.set_trust_store(config_.ca_file);
        if (!config_.cert_file.empty()) ssl.set_key_store(config_.cert_file);
        if (!config_.key_file.empty()) ssl.set_private_key(config_.key_file);
        ssl.set_enable_server_cert_auth(config_.verify);
        ssl.set_verify(config_.verify);
        opts.set_ssl(std::move(ssl));
      }
    } catch (const std::exception& e) {
      log("cannot set the connection options: %s", e.what());
      return;
    }
    Nanos backoff = config_.reconnect_min;
    bool down_reported = false;
    while (!reader_.requested()) {
      std::string error;
      try {
        mqtt::token_ptr token = client_->connect(opts);
        while (!token->wait_for(kSlice))
          if (reader_.requested()) return;
        if (token->get_return_code() == 0) return;  // connected; Paho keeps it up from here
        error = "return code " + std::to_string(token->get_return_code());
      } catch (const mqtt::exception& e) {
        error = e.get_error_str().empty() ? e.what() : e.get_error_str();
        if (e.get_reason_code() != 0) error += " (" + mqtt::exception::reason_code_str(e.get_reason_code()) + ")";
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (!down_reported) {
        log("cannot connect (%s); retrying", error.c_str());
        down_reported = true;
      }
      if (reader_.sleep_for(std::chrono::nanoseconds(backoff))) return;
      backoff = std::min(config_.reconnect_max, backoff * 2);
    }
  }

  // Paho thread: on the first connect and after every automatic reconnect. The session may be
  // clean, so subscriptions are made again every time.
  void on_connected() noexcept {
    log("connected");
    try {
      const std::vector<int> qos(config_.topics.size(), config_.qos);
      client_->subscribe(mqtt::string_collection::create(config_.topics), qos);
    } catch (const std::exception& e) {
      log("cannot subscribe: %s", e.what());
    }
  }

  void on_lost(const std::string& cause) noexcept {
    try {
      log("connection lost (%s); retrying", cause.empty() ? "no reason given" : cause.c_str());
    } catch (...) {
    }
  }

  // Paho's callback thread. Paho allocates the message object itself; from here on decoding
  // reuses the payload buffer and the topic cache.
  void on_message(const mqtt::const_message_ptr& msg) noexcept {
    if (!msg) return;
    std::lock_guard lock(queue_mutex_);
    if (queue_ == nullptr) return;
    const auto& topic_ref = msg->get_topic_ref();
    const auto& payload_ref = msg->get_payload_ref();
    const std::string_view topic = topic_ref ? std::string_view(topic_ref.data(), topic_ref.length()) : std::string_view();
    const std::string_view payload =
        payload_ref ? std::string_view(payload_ref.data(), payload_ref.length()) : std::string_view();
    counters_.bytes.add(payload.size());
    message_payload_ = payload;
    message_dead_lettered_ = false;
    try {
      // Grows only when a message is larger than every one before it.
      payload_.assign(payload.begin(), payload.end());
    } catch (const std::bad_alloc&) {
      malformed(topic, "the message is too large to buffer (%zu bytes)", payload.size());
      return;
    }
    char* begin = payload_.data();
    char* end = begin + payload_.size();
    switch (config_.format) {
      case PayloadFormat::value: decode_value(topic, payload); break;
      case PayloadFormat::json: decode_json(topic, begin, end); break;
      case PayloadFormat::csv:
      case PayloadFormat::kv: decode_lines(topic, begin, end); break;
      case PayloadFormat::flatbuffers: decode_readings(topic); break;
    }
    flush();
  }

  void decode_value(std::string_view topic, std::string_view payload) noexcept {
    double v = 0;
    if (!runtime::parse_number(payload, v)) {
      malformed(topic, "the payload is not a number");
      return;
    }
    runtime::KeyId key{};
    runtime::FieldId field = runtime::kNoField;
    if (!resolve_topic(topic, key, field)) return;
    if (field == runtime::kNoField) return;  // a level not in `fields`
    const Nanos now = clock_->now();
    runtime::Event& e = batch_[batch_size_++];
    e = runtime::Event{};
    e.time = now;
    e.value = v;
    e.key = key;
    e.field = field;
    e.source = index_;
    e.kind = runtime::EventKind::sample;
    e.flags = runtime::kRecordBegin;
    counters_.records.add();
    if (batch_size_ == batch_.size()) flush();
  }

  // One object, or an array of objects (each element one record).
  void decode_json(std::string_view topic, char* begin, char* end) noexcept {
    const char* problem = for_each_json_record(begin, end, [&](char* b, char* e) { record(topic, b, e); });
    if (problem != nullptr) malformed(topic, "%s", problem);
  }

  // csv and kv: one record per line.
  void decode_lines(std::string_view topic, char* begin, char* end) noexcept {
    while (begin < end) {
      char* nl = static_cast<char*>(std::memchr(begin, '\n', static_cast<std::size_t>(end - begin)));
      char* line_end = nl ? nl : end;
      char* stop = line_end;
      if (stop > begin && stop[-1] == '\r') --stop;
      record(topic, begin, stop);
      begin = nl ? nl + 1 : end;
    }
  }

  void record(std::string_view topic, char* begin, char* end) noexcept {
    emit(topic, decoder_->decode(begin, end, record_), *decoder_);
  }

  // A Readings message (decoded in place from the payload buffer, which is heap memory and so
  // 8-byte aligned): each reading one record; a bad reading loses only itself.
  void decode_readings(std::string_view topic) noexcept {
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(payload_.data()),
                                              payload_.size());
    if (!readings_->open(bytes)) {
      const std::string_view why = readings_->reason();
      malformed(topic, "%.*s", static_cast<int>(why.size()), why.data());
      return;
    }
    for (std::size_t i = 0; i < readings_->size(); ++i) emit(topic, readings_->decode(i, record_), *readings_);
  }

  // Queues the record `decoder` just decoded into record_ (LineDecoder or ReadingDecoder).
  template <class Decoder>
  void emit(std::string_view topic, LineStatus status, const Decoder& decoder) noexcept {
    switch (status) {
      case LineStatus::blank: return;
      case LineStatus::malformed: {
        const std::string_view why = decoder.reason();
        malformed(topic, "%.*s", static_cast<int>(why.size()), why.data());
        return;
      }
      case LineStatus::record: break;
    }
    if (record_.present == 0) return;
    const Nanos now = clock_->now();
    const Nanos time = record_.has_time ? record_.time : now;
    if (max_future_ > 0 && time > now + max_future_) {
      counters_.future.add();
      return;
    }
    runtime::KeyId key{};
    if (config_.key.kind == KeySource::payload) {
      const std::string_view name = record_.key.empty() ? std::string_view(source_name_) : record_.key;
      const auto id = keys_->intern(name);
      if (!id) {
        counters_.unknown_key.add();
        return;
      }
      key = *id;
    } else {
      runtime::FieldId unused = runtime::kNoField;
      if (!resolve_topic(topic, key, unused)) return;
    }
    if (batch_size_ + record_.present > batch_.size()) flush();
    const std::size_t n =
        append_decoded_record(decoder, *fields_table_, field_ids_, key, time, index_, batch_.data() + batch_size_);
    batch_size_ += n;
    if (n > 0) counters_.records.add();
  }

  // Key (unless it comes from the payload) and, for `value`, field of a topic; cached. False
  // when the record is dropped (counted).
  bool resolve_topic(std::string_view topic, runtime::KeyId& key, runtime::FieldId& field) noexcept {
    TopicCache::Entry* entry = cache_->find(topic);
    if (entry != nullptr && entry->used && (!entry->has_key || keys_->live(entry->key))) {
      key = entry->key;
      field = entry->field;
      return true;
    }
    std::string_view name = source_name_;
    switch (config_.key.kind) {
      case KeySource::topic_level:
        if (!topic_level(topic, config_.key.level, name) || name.empty()) {
          malformed(topic, "the topic has no level %zu for the key", config_.key.level);
          return false;
        }
        break;
      case KeySource::topic: name = topic; break;
      case KeySource::payload:
      case KeySource::source_name: break;
    }
    const bool has_key = config_.key.kind != KeySource::payload;
    if (has_key) {
      const auto id = keys_->intern(name);
      if (!id) {
        counters_.unknown_key.add();
        return false;
      }
      key = *id;
    }
    field = runtime::kNoField;
    if (config_.format == PayloadFormat::value) {
      const std::string_view level = last_level(topic);
      const bool wanted = value_fields_.empty() ||
                          std::find(value_fields_.begin(), value_fields_.end(), level) != value_fields_.end();
      if (wanted && !level.empty()) field = fields_table_->intern(level);
    }
    if (entry != nullptr) {
      entry->used = true;
      entry->has_key = has_key;
      entry->key = key;
      entry->field = field;
    }
    return true;
  }

  // Never waits: the queue applies its drop policy and counts what it refuses.
  void flush() noexcept {
    if (batch_size_ == 0 || queue_ == nullptr) return;
    queue_->push(std::span<const runtime::Event>(batch_.data(), batch_size_));
    batch_size_ = 0;
  }

  // Counts one malformed record; the first is logged, and each message that had one goes to the
  // dead-letter file once, whole, with the reason of its first bad record.
  __attribute__((format(printf, 3, 4))) void malformed(std::string_view topic, const char* format, ...) noexcept {
    counters_.malformed.add();
    const bool letter = dead_letter_ && !message_dead_lettered_;
    if (reported_malformed_ && !letter) return;
    char reason[256];
    va_list args;
    va_start(args, format);
    std::vsnprintf(reason, sizeof reason, format, args);
    va_end(args);
    if (letter) {
      message_dead_lettered_ = true;
      const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(message_payload_.data()),
                                                message_payload_.size());
      if (dead_letter_->write(clock_->now(), source_name_, topic, reason, bytes)) {
        counters_.dead_letters.add();
      } else if (!reported_dead_letter_error_) {
        reported_dead_letter_error_ = true;
        log("cannot write the dead-letter file %s (%s); malformed messages are only counted",
            dead_letter_->path().c_str(), std::strerror(errno));
      }
    }
    if (reported_malformed_) return;
    reported_malformed_ = true;
    std::fprintf(stderr, "vigil: mqtt %s: malformed message on %.*s: %s; further malformed messages are counted\n",
                 config_.broker.c_str(), static_cast<int>(topic.size()), topic.data(), reason);
  }

  __attribute__((format(printf, 2, 3))) void log(const char* format, ...) noexcept {
    char text[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    std::fprintf(stderr, "vigil: mqtt %s: %s\n", config_.broker.c_str(), text);
  }

  MqttConfig config_;
  std::unique_ptr<LineDecoder> decoder_;     // json, csv, kv
  std::unique_ptr<ReadingDecoder> readings_;  // flatbuffers
  std::vector<runtime::FieldId> field_ids_;  // parallel to the decoder's fields
  std::vector<std::string> value_fields_;    // format: value: the accepted last levels (empty: any)
  std::string source_name_;
  runtime::SourceIndex index_;
  runtime::KeyTable* keys_;
  runtime::FieldTable* fields_table_;
  runtime::WallClock wall_clock_;
  const runtime::Clock* clock_;
  Nanos max_future_;
  std::vector<runtime::Event> batch_;
  std::size_t batch_size_ = 0;
  std::unique_ptr<TopicCache> cache_;
  std::string payload_;
  DecodedLine record_;
  std::mutex queue_mutex_;  // guards queue_ and the decoding state against stop()
  runtime::IngestQueue* queue_ = nullptr;
  runtime::SourceCounters counters_;
  bool reported_malformed_ = false;
  std::unique_ptr<DeadLetterFile> dead_letter_;
  std::string_view message_payload_;  // the message being decoded, as Paho delivered it
  bool message_dead_lettered_ = false;
  bool reported_dead_letter_error_ = false;
  std::unique_ptr<mqtt::async_client> client_;
  SourceThread reader_;  ///< declared last: it stops before the members its thread uses go
};

// "{topic[N]}" or "{topic}" in the generic `key`: the key comes from the topic.
bool parse_topic_key(std::string_view text, KeySource& out, std::string& error) {
  if (text.empty() || text.front() != '{') return false;
  if (text == "{topic}") {
    out.kind = KeySource::topic;
    return true;
  }
  constexpr std::string_view kPrefix = "{topic[";
  constexpr std::string_view kSuffix = "]}";
  std::size_t level = 0;
  if (text.size() > kPrefix.size() + kSuffix.size() && text.starts_with(kPrefix) && text.ends_with(kSuffix)) {
    const char* first = text.data() + kPrefix.size();
    const char* last = text.data() + text.size() - kSuffix.size();
    const auto [ptr, ec] = std::from_chars(first, last, level);
    if (ec == std::errc{} && ptr == last && level < 64) {
      out.kind = KeySource::topic_level;
      out.level = level;
      return true;
    }
  }
  error = "\"" + std::string(text) +
          "\" is not a topic key; use \"{topic[N]}\" (level N of the topic, 0 is the first), \"{topic}\" "
          "(the whole topic) or the name of a payload field";
  return true;
}

// Expects setup.block validated against kMqttKeys and the generic source keys (the engine does
// that first); reports what the table cannot express into setup.diag.
std::unique_ptr<runtime::Source> make_mqtt(const runtime::SourceSetup& setup) {
  runtime::Diagnostics fallback;
  runtime::Diagnostics& diag = setup.diag ? *setup.diag : fallback;
  const runtime::Block& block = setup.block;
  const runtime::ConfigNode* self = block.self();
  bool ok = true;
  auto fail = [&](std::string_view key, std::string_view message) {
    report_source_key(setup, key, message);
    ok = false;
  };

  if (self) {
    if (const runtime::ConfigNode* overflow = self->find("overflow");
        overflow && overflow->is_scalar() && overflow->scalar == "block")
      fail("overflow",
           "an MQTT source cannot wait for the pipeline (the broker would back up); use overflow: drop_newest "
           "(the default) or drop_oldest");
  }

  MqttConfig config;
  config.broker = block.string("broker");
  if (config.broker.starts_with("ssl://")) {
    config.tls = true;
  } else if (!config.broker.starts_with("tcp://")) {
    fail("broker", "\"" + config.broker +
                       "\" is not a broker address; use tcp://host:1883 (plain) or ssl://host:8883 (TLS)");
  }
  if (ok && config.broker.find_first_not_of("/", config.broker.find("://") + 3) == std::string::npos)
    fail("broker", "\"" + config.broker + "\" names no host; e.g. tcp://localhost:1883");

  config.client_id = block.has("client_id") ? block.string("client_id") : "vigil-" + setup.name;
  if (config.client_id.empty()) fail("client_id", "the client id is empty; leave the key out for vigil-" + setup.name);
  config.topics = block.strings("topics");
  if (config.topics.empty()) fail("topics", "no topics; name at least one, e.g. topics: [plant/+/telemetry]");
  for (const auto& t : config.topics) {
    const std::size_t hash = t.find('#');
    if (t.empty() || (hash != std::string::npos && (hash + 1 != t.size() || (hash > 0 && t[hash - 1] != '/'))))
      fail("topics", "\"" + t + "\" is not a topic filter; # may only stand alone as the last level (plant/#)");
  }
  config.qos = static_cast<int>(block.integer("qos"));
  config.clean_session = block.boolean("clean_session");
  config.keep_alive = block.duration("keep_alive");
  config.username = block.string("username");
  config.password = block.string("password");
  if (!config.password.empty() && config.username.empty())
    fail("password", "a password needs a username; add username:");
  config.reconnect_min = block.duration("reconnect_min");
  config.reconnect_max = block.duration("reconnect_max");
  if (config.reconnect_max < config.reconnect_min)
    fail("reconnect_max", "reconnect_max is shorter than reconnect_min; make it at least as long");
  config.ca_file = config_relative_path(setup.config_dir, block.string("ca_file"));
  config.cert_file = config_relative_path(setup.config_dir, block.string("cert_file"));
  config.key_file = config_relative_path(setup.config_dir, block.string("key_file"));
  config.verify = block.boolean("verify");
  if (block.has("dead_letter")) {
    config.dead_letter = config_relative_path(setup.config_dir, block.string("dead_letter"));
    if (config.dead_letter.empty()) fail("dead_letter", "the dead-letter path is empty; name a file or leave the key out");
  }
  config.dead_letter_max = block.size("dead_letter_max");
  if (!config.tls)
    for (const std::string_view k : {"ca_file", "cert_file", "key_file", "verify"})
      if (block.has(k)) fail(k, std::string(k) + " applies to ssl:// brokers only; remove it or use ssl://");
  if (config.cert_file.empty() != config.key_file.empty())
    fail(config.cert_file.empty() ? "key_file" : "cert_file", "cert_file and key_file go together; give both");

  const std::string format = block.string("format");
  config.format = format == "csv"           ? PayloadFormat::csv
                  : format == "kv"          ? PayloadFormat::kv
                  : format == "value"       ? PayloadFormat::value
                  : format == "flatbuffers" ? PayloadFormat::flatbuffers
                                            : PayloadFormat::json;

  std::string key_error;
  const bool key_given = self && self->find("key") != nullptr;
  if (parse_topic_key(setup.mapping.key, config.key, key_error)) {
    if (!key_error.empty()) fail("key", key_error);
  } else if (config.format == PayloadFormat::value) {
    if (key_given && !setup.mapping.key.empty())
      fail("key", "format: value has no payload fields to take the key from; use key: \"{topic[N]}\" or leave "
                  "key out (the source's name)");
    config.key.kind = KeySource::source_name;
  } else {
    config.key.kind = KeySource::payload;
  }

  if (setup.keys == nullptr || setup.fields == nullptr) {
    diag.error(runtime::Mark{}, setup.path, "internal error: the mqtt source has no key or field table");
    return nullptr;
  }
  if (!ok) return nullptr;

  std::unique_ptr<LineDecoder> decoder;
  std::unique_ptr<ReadingDecoder> readings;
  std::vector<runtime::FieldId> field_ids;
  std::vector<std::string> value_fields;
  if (config.format == PayloadFormat::value) {
    value_fields = setup.mapping.fields;
  } else if (config.format == PayloadFormat::flatbuffers) {
    if (block.has("columns")) {
      fail("columns", "columns apply to format: csv only; remove it");
      return nullptr;
    }
    auto made = ReadingDecoder::make(setup.mapping.fields);
    if (!made) {
      fail("fields", made.error().message);
      return nullptr;
    }
    readings = std::make_unique<ReadingDecoder>(std::move(made.value()));
    for (std::size_t i = 0; i < readings->field_count(); ++i) {
      const runtime::FieldId id = setup.fields->intern(readings->field_name(i));
      if (id == runtime::kNoField) {
        fail("fields", "cannot add field \"" + readings->field_name(i) + "\": the field table is full");
        return nullptr;
      }
      field_ids.push_back(id);
    }
  } else {
    auto made = make_source_decoder(setup,
                                    config.format == PayloadFormat::csv  ? LineFormat::csv
                                    : config.format == PayloadFormat::kv ? LineFormat::kv
                                                                         : LineFormat::json,
                                    config.key.kind == KeySource::payload ? setup.mapping.key : std::string());
    if (!made) return nullptr;
    decoder = std::make_unique<LineDecoder>(std::move(*made));
    for (std::size_t i = 0; i < decoder->field_count(); ++i) {
      const runtime::FieldId id = setup.fields->intern(decoder->field_name(i));
      if (id == runtime::kNoField) {
        fail("fields", "cannot add field \"" + decoder->field_name(i) + "\": the field table is full");
        return nullptr;
      }
      field_ids.push_back(id);
    }
  }
  return std::make_unique<MqttSource>(setup, std::move(config), std::move(decoder), std::move(readings),
                                      std::move(field_ids), std::move(value_fields));
}

constexpr runtime::SourcePlugin kMqttPlugin{
    "mqtt",
    "Messages (json, csv, kv, flatbuffers, a bare value) from topics on an MQTT broker; reconnects and "
    "resubscribes on its own.",
    kMqttKeys,
    &make_mqtt,
    runtime::OverflowPolicy::drop_newest,
};

}  // namespace

const runtime::SourcePlugin& mqtt_plugin() { return kMqttPlugin; }

}  // namespace vigil::sensors
