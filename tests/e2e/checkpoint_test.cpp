// Window-state checkpoints with real processes: `vigil run` reads a real pseudo-terminal (so the
// test decides every record and its event time), keeps its outbox and checkpoints in a real
// SQLite file, and is stopped with SIGTERM or killed with SIGKILL between runs.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <chrono>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "background.hpp"
#include "pty.hpp"
#include "test_support.hpp"

namespace vigil::test {
namespace {

using namespace std::chrono_literals;
using Catch::Matchers::Contains;

/// One JSON summary line of the console, the members these tests look at.
struct Line {
  std::string pipeline;
  std::string key;
  long long start = 0;
  long long count = 0;
  bool partial = false;
};

std::vector<Line> parse_lines(const std::string& text) {
  static const std::regex kHead(R"re(^\{"pipeline":"([^"]*)","key":"([^"]*)","start":(-?[0-9]+),"end":(-?[0-9]+),"count":([0-9]+)(,.*)?\}$)re");
  std::vector<Line> out;
  for (const auto& l : split_lines(text)) {
    std::smatch m;
    INFO(l);
    REQUIRE(std::regex_match(l, m, kHead));
    out.push_back(Line{m[1], m[2], std::stoll(m[3]), std::stoll(m[5]), l.ends_with(",\"partial\":true}")});
  }
  return out;
}

/// The `temps` lines (10 s tumbling windows) of one run.
std::vector<Line> windows(const std::vector<Line>& lines) {
  std::vector<Line> out;
  for (const auto& l : lines)
    if (l.pipeline == "temps") out.push_back(l);
  return out;
}

/// A gateway reading `key=.. ts=.. temp=..` lines from `device`: pipeline `temps` aggregates
/// 10 s windows; pipeline `echo` (count windows of one record) prints every record as soon as
/// it was processed, which tells the test how far the run got.
std::string config_for(const std::string& device, const std::string& aggregates = "[count, mean(temp)]") {
  return "vigil: 1\n"
         "gateway: cp-gw\n"
         "sources:\n"
         "  - name: line\n"
         "    type: serial\n"
         "    device: " + device + "\n"
         "    format: kv\n"
         "    fields: [temp]\n"
         "    time: { unit: ms }\n"
         "pipelines:\n"
         "  - name: temps\n"
         "    from: [line]\n"
         "    window: { type: tumbling, size: 10s }\n"
         "    aggregates: " + aggregates + "\n"
         "  - name: echo\n"
         "    from: [line]\n"
         "    window: { type: count, size: 1 }\n"
         "    aggregates: [count]\n"
         "outputs:\n"
         "  console: { format: json }\n"
         // Only the checkpoints at start and at SIGTERM: which state a kill finds is then exact.
         "  outbox: { path: outbox.db, checkpoint_interval: 1h }\n";
}

/// `key=K ts=T temp=V` lines for each key and time.
std::string records(const std::vector<std::string>& keys, const std::vector<long long>& times, double temp = 20) {
  std::string out;
  for (long long t : times)
    for (const auto& k : keys) out += "key=" + k + " ts=" + std::to_string(t) + " temp=" + std::to_string(temp) + "\n";
  return out;
}

class Run {
 public:
  Run(const TempDir& dir, const std::string& config, int n)
      : process_({VIGIL_BINARY, "run", config}, dir.file("out" + std::to_string(n) + ".txt"),
                 dir.file("err" + std::to_string(n) + ".txt")) {}
  /// Waits until the echo pipeline printed the record of `key` at `ts`: every record written
  /// before it has been processed by every pipeline.
  void processed(const std::string& key, long long ts) {
    const std::string echo = "{\"pipeline\":\"echo\",\"key\":\"" + key + "\",\"start\":" + std::to_string(ts) + ",";
    const bool seen = eventually(30s, [&] { return out().find(echo) != std::string::npos; });
    INFO("stdout: " << out() << "\nstderr: " << err());
    REQUIRE(seen);
  }
  std::string out() const { return process_.out(); }
  std::string err() const { return process_.err(); }
  int stop(int sig) { return process_.stop(sig, 20s); }

 private:
  BackgroundProcess process_;
};

std::string sql_text(const std::string& db, const std::string& query) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  std::string value;
  if (sqlite3_prepare_v2(h, query.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(stmt, 0);
    value = text ? reinterpret_cast<const char*>(text) : "";
  }
  sqlite3_finalize(stmt);
  sqlite3_close(h);
  return value;
}

/// A gateway on a fresh pty and folder whose first run processed `times` of `keys` and stopped
/// with SIGTERM (saving its windows).
struct Stopped {
  Stopped(const std::vector<std::string>& keys, const std::vector<long long>& times) {
    write_file(config, config_for(pty.path));
    Run first(dir, config, 1);
    pty.write(records(keys, times));
    first.processed(keys.back(), times.back());
    REQUIRE(first.stop(SIGTERM) == 0);
    out = first.out();
    err = first.err();
  }
  Pty pty;
  TempDir dir;
  std::string config = dir.file("gw.yaml");
  std::string out, err;
};

}  // namespace

TEST_CASE("SIGTERM saves open windows instead of flushing them and the next run completes them whole",
          "[e2e][checkpoint]") {
  Stopped gw({"a", "b"}, {1000, 2000, 3000, 4000});
  auto& [pty, dir, config, first_out, first_err] = gw;
  INFO(first_err);
  CHECK(windows(parse_lines(first_out)).empty());  // nothing flushed as partial
  CHECK_THAT(first_err, !Contains("restoring"));
  CHECK(sql_text(dir.file("outbox.db"),
                 "SELECT group_concat(pipeline || ':' || kind, ' ') FROM (SELECT * FROM checkpoints ORDER BY pipeline)") ==
        "echo:shutdown temps:shutdown");
  auto stats = run_process({VIGIL_BINARY, "outbox", dir.file("outbox.db"), "stats"});
  CHECK_THAT(stats.out, Contains("checkpoint:     shutdown at "));
  CHECK_THAT(stats.out, Contains(", 2 pipelines, "));

  Run second(dir, config, 2);
  pty.write(records({"a", "b"}, {5000, 6000, 12000}));
  second.processed("b", 12000);
  INFO(second.err());
  CHECK_THAT(second.err(), Contains("restoring the shutdown checkpoint of "));
  CHECK_THAT(second.err(), Contains("pipelines[0] (temps): restored "));
  const auto got = windows(parse_lines(second.out()));
  REQUIRE(got.size() == 2);
  for (const auto& w : got) {
    INFO(w.key);
    CHECK(w.start == 0);
    CHECK(w.count == 6);  // 4 records from the first run, 2 from this one
    CHECK_FALSE(w.partial);
  }
  CHECK(second.stop(SIGTERM) == 0);
}

TEST_CASE("after kill -9 a restart restores the last checkpoint, marks what the crash cut partial and never emits a stored window again",
          "[e2e][checkpoint]") {
  // Windows [0, 10 s) of a and b hold 3 records each at the shutdown checkpoint.
  Stopped gw({"a", "b"}, {1000, 2000, 3000});
  auto& [pty, dir, config, first_out, first_err] = gw;
  const std::string db = dir.file("outbox.db");
  {
    // Restores them and checkpoints at once (as running: a crash from here on is one). Then a's
    // window fires and is stored; b gets a record the checkpoint does not hold; kill -9.
    Run second(dir, config, 2);
    pty.write(records({"a"}, {12000}) + records({"b"}, {4000}));
    second.processed("b", 4000);
    const bool stored = eventually(10s, [&] {
      return sql_text(db, "SELECT count(*) FROM outbox WHERE pipeline = 'temps' AND key = 'a'") == "1";
    });
    INFO(second.err());
    REQUIRE(stored);
    CHECK(sql_text(db, "SELECT min(kind) || max(kind) FROM checkpoints") == "periodicperiodic");
    REQUIRE(second.stop(SIGKILL) == 128 + SIGKILL);
    const auto got = windows(parse_lines(second.out()));
    REQUIRE(got.size() == 1);
    CHECK(got[0].key == "a");
    CHECK(got[0].count == 3);
  }
  CHECK(sql_text(db, "PRAGMA integrity_check") == "ok");
  CHECK(sql_text(db, "SELECT last_end_ms FROM window_marks WHERE pipeline = 'temps' AND key = 'a'") == "10000");

  Run third(dir, config, 3);
  pty.write(records({"a"}, {12500}) + records({"b"}, {11000}));
  third.processed("a", 12500);
  third.processed("b", 11000);
  INFO(third.err());
  CHECK_THAT(third.err(), Contains("restoring the periodic checkpoint of "));
  CHECK_THAT(third.err(), Contains("ended without saving"));
  const auto got = windows(parse_lines(third.out()));
  // a's [0, 10 s) was stored before the crash: its restored copy is held back. b's comes out
  // with the 3 records of the checkpoint (the 4th died with the crash), marked partial.
  REQUIRE(got.size() == 1);
  CHECK(got[0].key == "b");
  CHECK(got[0].start == 0);
  CHECK(got[0].count == 3);
  CHECK(got[0].partial);
  CHECK(sql_text(db, "SELECT count(*) FROM outbox WHERE pipeline = 'temps' AND key = 'a' AND window_start_ms = 0") == "1");
  REQUIRE(third.stop(SIGTERM) == 0);
  CHECK_THAT(third.err(), Contains("restart: 1 summaries already emitted before the restart not emitted again"));
}

TEST_CASE("a restart after a configuration change restores only the pipelines whose configuration still matches",
          "[e2e][checkpoint]") {
  Stopped gw({"a"}, {1000, 2000});
  auto& [pty, dir, config, first_out, first_err] = gw;
  write_file(config, config_for(pty.path, "[count, max(temp)]"));
  Run second(dir, config, 2);
  pty.write(records({"a"}, {3000, 11000}));
  second.processed("a", 11000);
  INFO(second.err());
  CHECK_THAT(second.err(), Contains("pipelines[0] (temps): the configuration changed since the checkpoint; its "
                                    "window state is not restored"));
  CHECK_THAT(second.err(), Contains("pipelines[1] (echo): restored "));
  const auto got = windows(parse_lines(second.out()));
  REQUIRE(got.size() == 1);
  CHECK(got[0].count == 1);  // only this run's record: the old state was set aside
  CHECK(second.stop(SIGTERM) == 0);
}

TEST_CASE("checkpoint_interval below 100ms is refused at load with its position", "[e2e][checkpoint]") {
  TempDir dir;
  const std::string config = dir.file("gw.yaml");
  std::string text = config_for("/dev/null");
  text.replace(text.find("checkpoint_interval: 1h"), 23, "checkpoint_interval: 10ms");
  write_file(config, text);
  auto r = run_process({VIGIL_BINARY, "validate", config});
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Contains("gw.yaml:"));
  CHECK_THAT(r.err, Contains("checkpoint_interval"));
  CHECK_THAT(r.err, Contains("at least 100ms"));
}

}  // namespace vigil::test
