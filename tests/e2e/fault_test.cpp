// Fault tests of the outbox and the upstream publisher with real processes: `vigil run` killed
// with SIGKILL at random moments while a real mosquitto goes up and down, and a long broker
// outage whose backlog must arrive complete. A Paho subscriber with a persistent session records
// every (epoch, seq) the broker delivers.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <mqtt/async_client.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "background.hpp"
#include "mosquitto_broker.hpp"
#include "test_support.hpp"

extern char** environ;

namespace vigil::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// A whole number from the environment, or `fallback` when unset (the soak script sets them).
long env_number(const char* name, long fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtol(text, nullptr, 10);
}

/// `vigil args...` in the background, stderr appended to `log` (a restarted run adds to the same
/// file, so a failure shows every run's log).
class VigilProcess : public BackgroundProcess {
 public:
  VigilProcess(const std::vector<std::string>& args, const std::string& log)
      : BackgroundProcess(with_binary(args), "", log, true) {}

 private:
  static std::vector<std::string> with_binary(std::vector<std::string> args) {
    args.insert(args.begin(), VIGIL_BINARY);
    return args;
  }
};

/// One summary as the subscriber got it: the outbox identity and the payload without the
/// `resent` flag (a resent copy must otherwise be byte for byte the same summary).
struct Delivery {
  std::string epoch;
  std::int64_t seq = 0;
  std::string payload;
};

/// Parses the upstream JSON form `{"gateway":..,"epoch":"..","seq":N,...}`; false when the
/// message is not a summary of that form.
bool parse_delivery(const std::string& text, Delivery& d) {
  const auto epoch_at = text.find("\"epoch\":\"");
  const auto seq_at = text.find(",\"seq\":");
  if (epoch_at == std::string::npos || seq_at == std::string::npos) return false;
  const auto epoch_end = text.find('"', epoch_at + 9);
  d.epoch = text.substr(epoch_at + 9, epoch_end - epoch_at - 9);
  d.seq = std::strtoll(text.c_str() + seq_at + 7, nullptr, 10);
  d.payload = text;
  const std::string resent = ",\"resent\":true";
  if (auto at = d.payload.find(resent); at != std::string::npos) d.payload.erase(at, resent.size());
  return d.seq > 0;
}

/// A Paho subscriber to vigil/# with a persistent session (the broker keeps it across restarts
/// with persistence on), so nothing acknowledged to the gateway is lost while it reconnects.
class Subscriber {
 public:
  explicit Subscriber(const std::string& uri)
      : client_(uri, "fault-subscriber-" + std::to_string(::getpid()), mqtt::create_options(MQTTVERSION_3_1_1)) {
    client_.set_message_callback([this](mqtt::const_message_ptr msg) {
      const std::string& topic = msg->get_topic();
      std::lock_guard lock(mutex_);
      if (topic.ends_with("/status")) return;
      if (topic.ends_with("/evicted")) {
        evicted_.push_back(msg->get_payload_str());
        return;
      }
      Delivery d;
      if (!parse_delivery(msg->get_payload_str(), d)) {
        undecodable_.push_back(msg->get_payload_str());
        return;
      }
      ++messages_;
      if (!payloads_.empty() && d.seq < payloads_.rbegin()->first && !payloads_.contains(d.seq)) ++late_;
      auto [at, fresh] = payloads_.try_emplace(d.seq, d.payload);
      if (!fresh && at->second != d.payload) conflicts_.push_back(d.seq);
      epochs_.insert(d.epoch);
      if (fresh) last_new_ = Clock::now();
    });
    mqtt::connect_options opts;
    opts.set_clean_session(false);
    opts.set_automatic_reconnect(1, 1);
    opts.set_keep_alive_interval(5);
    opts.set_max_inflight(1000);
    REQUIRE(client_.connect(opts)->wait_for(10s));
    REQUIRE(client_.subscribe("vigil/#", 1)->wait_for(10s));
  }
  ~Subscriber() {
    try {
      client_.disable_callbacks();
      if (client_.is_connected()) client_.disconnect(0)->wait_for(1s);
    } catch (...) {
    }
  }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  /// Distinct seqs received so far.
  std::size_t distinct() const {
    std::lock_guard lock(mutex_);
    return payloads_.size();
  }
  /// True when every seq in [1, last] was received or is in `pending`.
  bool complete(std::int64_t last, const std::set<std::int64_t>& pending = {}) const {
    std::lock_guard lock(mutex_);
    for (std::int64_t s = 1; s <= last; ++s)
      if (!payloads_.contains(s) && !pending.contains(s)) return false;
    return true;
  }
  /// The seqs in [1, last] neither received nor in `pending`, as "a..b" ranges.
  std::string missing(std::int64_t last, const std::set<std::int64_t>& pending = {}) const {
    std::lock_guard lock(mutex_);
    std::string out;
    std::int64_t from = 0;
    for (std::int64_t s = 1; s <= last + 1; ++s) {
      const bool have = s > last || payloads_.contains(s) || pending.contains(s);
      if (!have && from == 0) from = s;
      if (have && from != 0) {
        out += std::to_string(from) + ".." + std::to_string(s - 1) + " ";
        from = 0;
      }
    }
    return out;
  }
  std::int64_t highest() const {
    std::lock_guard lock(mutex_);
    return payloads_.empty() ? 0 : payloads_.rbegin()->first;
  }
  std::size_t messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  /// New seqs that arrived after a higher one.
  std::size_t out_of_order() const {
    std::lock_guard lock(mutex_);
    return late_;
  }
  std::vector<std::int64_t> conflicts() const {
    std::lock_guard lock(mutex_);
    return conflicts_;
  }
  std::set<std::string> epochs() const {
    std::lock_guard lock(mutex_);
    return epochs_;
  }
  std::vector<std::string> evicted() const {
    std::lock_guard lock(mutex_);
    return evicted_;
  }
  std::vector<std::string> undecodable() const {
    std::lock_guard lock(mutex_);
    return undecodable_;
  }
  Clock::time_point last_new() const {
    std::lock_guard lock(mutex_);
    return last_new_;
  }
  /// Windows (key and start) that came under two or more distinct seqs: emitted again after a
  /// restart. Late summaries (one record behind a fired window) are not windows and are left out.
  std::vector<std::string> windows_sent_twice() const {
    std::lock_guard lock(mutex_);
    std::map<std::string, std::int64_t> first;
    std::vector<std::string> twice;
    for (const auto& [seq, payload] : payloads_) {
      if (payload.find("\"late\":true") != std::string::npos) continue;
      const auto key_at = payload.find("\"key\":");
      const auto end_at = payload.find(",\"end\":");
      if (key_at == std::string::npos || end_at == std::string::npos) continue;
      const std::string window = payload.substr(key_at, end_at - key_at);
      auto [at, fresh] = first.try_emplace(window, seq);
      if (!fresh) twice.push_back(window + " (seqs " + std::to_string(at->second) + " and " + std::to_string(seq) + ")");
    }
    return twice;
  }

 private:
  mqtt::async_client client_;
  mutable std::mutex mutex_;
  std::map<std::int64_t, std::string> payloads_;  // seq -> first payload (epoch checked apart)
  std::set<std::string> epochs_;
  std::vector<std::int64_t> conflicts_;
  std::vector<std::string> evicted_;
  std::vector<std::string> undecodable_;
  std::size_t messages_ = 0;
  std::size_t late_ = 0;
  Clock::time_point last_new_ = Clock::now();
};

/// A read-only look at the outbox file with a connection of its own (WAL: readers never block
/// the writer of a running gateway).
class OutboxFile {
 public:
  explicit OutboxFile(const std::string& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~OutboxFile() { sqlite3_close(db_); }
  OutboxFile(const OutboxFile&) = delete;
  OutboxFile& operator=(const OutboxFile&) = delete;

  /// The first column of each row of `statement`, as text.
  std::vector<std::string> column(const std::string& statement) {
    sqlite3_stmt* stmt = nullptr;
    INFO(statement << ": " << sqlite3_errmsg(db_));
    REQUIRE(sqlite3_prepare_v2(db_, statement.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    std::vector<std::string> out;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      out.emplace_back(text ? text : "");
    }
    sqlite3_finalize(stmt);
    REQUIRE(rc == SQLITE_DONE);
    return out;
  }
  std::string value(const std::string& statement) {
    auto rows = column(statement);
    return rows.empty() ? std::string() : rows.front();
  }
  long long number(const std::string& statement) { return std::atoll(value(statement).c_str()); }

 private:
  sqlite3* db_ = nullptr;
};

/// Rows in the outbox, or -1 while the file or its schema does not exist yet.
long long outbox_rows(const std::string& path) {
  sqlite3* db = nullptr;
  long long n = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 2000);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM outbox", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
      n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return n;
}


std::string machine_list(int machines) {
  std::string out = "[";
  for (int i = 0; i < machines; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "m%04d", i);
    out += (i ? ", " : "") + std::string(name);
  }
  return out + "]";
}

/// A gateway config: `machines` simulated machines, 100 ms tumbling windows (one summary per
/// machine per window), an outbox and an upstream output with JSON payloads to `broker`.
std::string gateway_config(const std::string& broker, int machines, const std::string& simulator_extra,
                           const std::string& outbox_extra) {
  return "vigil: 1\n"
         "gateway: fault-gw\n"
         "limits: { max_keys: " + std::to_string(machines + 64) + ", queue_depth: 65536 }\n"
         "sources:\n"
         "  - name: sim\n"
         "    type: simulator\n"
         "    machines: " + machine_list(machines) + "\n"
         "    seed: 7\n" + simulator_extra +
         "    signals:\n"
         "      temp: { mean: 60, noise: 0.5 }\n"
         "    time: { max_out_of_order: 0s }\n"
         "pipelines:\n"
         "  - name: health\n"
         "    from: [sim]\n"
         "    window: { type: tumbling, size: 100ms }\n"
         "    aggregates: [count, mean(temp), max(temp)]\n"
         "outputs:\n"
         "  outbox: { path: outbox.db" + outbox_extra + " }\n"
         "  upstream: { broker: " + broker + ", format: json, drain_rate: 10000000, max_inflight: 1000,\n"
         "              keep_alive: 1s, reconnect_min: 100ms, reconnect_max: 500ms }\n";
}

}  // namespace

// The loop: start `vigil run`, let it run a random time (seeded), SIGKILL it; every few rounds
// the broker goes down and comes back a few rounds later. Then a last run with the broker up
// drains the outbox and stops cleanly. Every seq up to the highest committed one must have
// reached the subscriber or still be in the outbox, no seq may come with two different
// payloads, and the file must pass `PRAGMA integrity_check`. VIGIL_KILL9_ROUNDS and
// VIGIL_KILL9_SEED override the round count (20) and the seed (bench/soak_kill9.sh uses them).
TEST_CASE("kill -9 at random moments with the broker going up and down loses no committed summary",
          "[e2e][faults][broker][slow]") {
  const long rounds = env_number("VIGIL_KILL9_ROUNDS", 20);
  const auto seed = static_cast<std::uint32_t>(env_number("VIGIL_KILL9_SEED", 20261121));
  MosquittoOptions options;
  options.persistence = true;
  MosquittoBroker broker(options);
  Subscriber subscriber(broker.uri());
  TempDir dir;
  const std::string config = dir.file("gateway.yaml");
  const std::string db = dir.file("outbox.db");
  const std::string log = dir.file("vigil.log");
  // Checkpoints every 200 ms, so kills land between checkpoints with windows fired after the last one.
  write_file(config, gateway_config(broker.uri(), 100, "    rate: 20\n", ", checkpoint_interval: 200ms"));
  const auto started = Clock::now();

  std::mt19937 random(seed);
  std::uniform_int_distribution<int> run_ms(50, 1500);
  int broker_outages = 0;
  for (long round = 0; round < rounds; ++round) {
    // Down in rounds 3, 9, 15 ... (for two rounds each), up again after.
    if (round % 6 == 3 && broker.running()) {
      broker.stop();
      ++broker_outages;
    } else if (round % 6 == 5 && !broker.running()) {
      broker.start();
    }
    VigilProcess vigil({"run", config}, log);
    std::this_thread::sleep_for(std::chrono::milliseconds(run_ms(random)));
    const int code = vigil.stop(SIGKILL, 10s);
    INFO("round " << round << "\n" << read_file(log));
    REQUIRE(code == 128 + SIGKILL);
  }
  if (!broker.running()) broker.start();
  const auto killed = Clock::now();

  // The last run, broker up: wait until the backlog is out (only the rows of the last moments
  // are left), then stop it cleanly.
  {
    VigilProcess vigil({"run", config}, log);
    const bool drained = eventually(60s, [&] {
      const long long n = outbox_rows(db);
      return n >= 0 && n < 300 && subscriber.highest() > 0;
    }, 100ms);
    INFO(read_file(log));
    CHECK(drained);
    std::this_thread::sleep_for(300ms);
    REQUIRE(vigil.stop(SIGTERM, 20s) == 0);
  }

  OutboxFile box(db);
  CHECK(box.value("PRAGMA integrity_check") == "ok");
  const std::string epoch = box.value("SELECT value FROM meta WHERE key = 'epoch'");
  const long long next_seq = box.number("SELECT value FROM meta WHERE key = 'next_seq'");
  const long long last = std::max(next_seq - 1, box.number("SELECT coalesce(max(seq), 0) FROM outbox"));
  std::set<std::int64_t> left;
  for (const auto& s : box.column("SELECT seq FROM outbox")) left.insert(std::atoll(s.c_str()));
  const long long gap_records = box.number("SELECT count(*) FROM outbox WHERE format = 'gap'");

  // Every committed seq reached the subscriber or is still stored (it goes out at the next start).
  const bool complete = eventually(20s, [&] { return subscriber.complete(last, left); }, 100ms);
  INFO("missing seqs: " << subscriber.missing(last, left));
  CHECK(complete);
  CHECK(last > 1000);
  CHECK(subscriber.highest() <= last);  // nothing was sent that is not committed
  CHECK(subscriber.conflicts().empty());
  // Restarts restore the window state and hold back the windows already stored: none twice.
  INFO("windows sent twice: " << [&] {
    std::string all;
    for (const auto& w : subscriber.windows_sent_twice()) all += w + "; ";
    return all;
  }());
  CHECK(subscriber.windows_sent_twice().empty());
  CHECK(subscriber.epochs() == std::set<std::string>{epoch});
  CHECK(subscriber.evicted().empty());
  CHECK(gap_records == 0);
  CHECK(subscriber.undecodable().empty());
  CHECK(left.size() < 2000);  // what the clean stop left: the last moments' rows, not a backlog
  CHECK(broker_outages >= 3);

  std::printf("kill -9 loop: %ld kills (seed %u), %d broker outages, %lld seqs committed, %zu distinct "
              "received (%zu messages, %zu duplicates dropped, %zu out of order), %zu left in the outbox, "
              "%zu conflicts, %.1f s killing + %.1f s drain\n",
              rounds, seed, broker_outages, last, subscriber.distinct(), subscriber.messages(),
              subscriber.messages() - subscriber.distinct(), subscriber.out_of_order(), left.size(),
              subscriber.conflicts().size(),
              std::chrono::duration<double>(killed - started).count(),
              std::chrono::duration<double>(Clock::now() - killed).count());
}

// A backlog of VIGIL_OUTAGE_SUMMARIES (default 100,000) summaries stored while the broker is
// down: once it is up, the subscriber gets every seq, exactly once after dedup, in order, no gap. The
// simulator runs unpaced (realtime: false) so the backlog builds in seconds.
TEST_CASE("a broker outage backlog of 100000 summaries arrives complete once the broker is up",
          "[e2e][faults][broker][slow]") {
  const long summaries = env_number("VIGIL_OUTAGE_SUMMARIES", 100'000);
  const int machines = 2000;
  const long per_machine = (summaries + machines - 1) / machines;  // one record per 100 ms window
  const long expected = per_machine * machines;
  MosquittoOptions options;
  options.persistence = true;
  MosquittoBroker broker(options);
  Subscriber subscriber(broker.uri());  // its session is kept while the broker is down
  broker.stop();

  TempDir dir;
  const std::string config = dir.file("gateway.yaml");
  const std::string db = dir.file("outbox.db");
  const std::string log = dir.file("vigil.log");
  write_file(config, gateway_config(broker.uri(), machines,
                                    "    rate: 10\n    realtime: false\n    start: 2026-01-01T00:00:00Z\n"
                                    "    count: " + std::to_string(per_machine) + "\n",
                                    ", batch: 4096, queue_depth: " + std::to_string(expected + 1024)));
  VigilProcess vigil({"run", config}, log);
  const auto run_start = Clock::now();
  // Stored: every summary; the count stays put once the stream ended (no drop, no more rows).
  const bool stored = eventually(120s, [&] { return outbox_rows(db) >= expected; }, 100ms);
  INFO(read_file(log));
  REQUIRE(stored);
  const double store_s = std::chrono::duration<double>(Clock::now() - run_start).count();
  std::this_thread::sleep_for(500ms);
  REQUIRE(outbox_rows(db) == expected);

  broker.start();
  const auto up = Clock::now();
  const bool all = eventually(120s, [&] { return subscriber.distinct() >= static_cast<std::size_t>(expected); }, 50ms);
  const double drain_s = std::chrono::duration<double>(subscriber.last_new() - up).count();
  INFO("missing seqs: " << subscriber.missing(expected));
  CHECK(all);
  CHECK(subscriber.complete(expected));
  CHECK(subscriber.highest() == expected);
  CHECK(subscriber.out_of_order() == 0);  // one connection, one broker session: in seq order
  CHECK(subscriber.conflicts().empty());
  CHECK(subscriber.evicted().empty());
  CHECK(subscriber.undecodable().empty());
  CHECK(subscriber.epochs().size() == 1);
  CHECK(eventually(10s, [&] { return outbox_rows(db) == 0; }, 50ms));
  CHECK(vigil.stop(SIGTERM, 20s) == 0);
  {
    OutboxFile box(db);
    CHECK(box.value("PRAGMA integrity_check") == "ok");
  }
  std::printf("broker outage: %ld summaries stored in %.1f s with the broker down; drained %zu distinct "
              "(%zu messages) in %.1f s after the broker came up (%.0f summaries/s)\n",
              expected, store_s, subscriber.distinct(), subscriber.messages(), drain_s,
              drain_s > 0 ? static_cast<double>(expected) / drain_s : 0.0);
}

}  // namespace vigil::test
