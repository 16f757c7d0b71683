// `vigil run` and `vigil replay` end to end: the real binary, real files, a real SQLite outbox.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <regex>
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

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using Clock = std::chrono::steady_clock;

std::string replay_data(const std::string& name) { return source_path("tests/e2e/data/replay/" + name); }

/// Copies the shipped example into `dir` (its outbox path, var/outbox.db, is relative to the
/// config's folder, so the database lands in `dir`), optionally with a different window size.
/// The example with windows of `window_size`; with `checkpoints` false, its outbox keeps no
/// window-state checkpoints (so stopping flushes open windows).
std::string copy_example(const TempDir& dir, const std::string& window_size = "10s", bool checkpoints = true) {
  std::string text = read_file(source_path("examples/factory-sim.yaml"));
  const std::string original = "size: 10s";
  auto at = text.find(original);
  REQUIRE(at != std::string::npos);
  text.replace(at, original.size(), "size: " + window_size);
  if (!checkpoints) {
    const std::string outbox = "outbox: { path: var/outbox.db }";
    at = text.find(outbox);
    REQUIRE(at != std::string::npos);
    text.replace(at, outbox.size(), "outbox: { path: var/outbox.db, checkpoint_interval: 0s }");
  }
  std::string config = dir.file("factory-sim.yaml");
  write_file(config, text);
  return config;
}

/// Every payload in the outbox, oldest first.
std::vector<std::string> outbox_payloads(const std::string& path) {
  REQUIRE(std::filesystem::exists(path));
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, "SELECT payload FROM outbox ORDER BY seq", -1, &stmt, nullptr);
  INFO(sqlite3_errmsg(db));
  std::vector<std::string> rows;
  if (rc == SQLITE_OK) {
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, 0));
      rows.emplace_back(data ? data : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt, 0)));
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
  return rows;
}

/// The fields of one summary line that the run tests look at.
struct Line {
  std::string pipeline, key;
  long long start = 0, end = 0, count = 0;
  bool partial = false;
};

Line parse_line(const std::string& text) {
  static const std::regex kHead(
      R"re(^\{"pipeline":"([^"]*)","key":"([^"]*)","start":(-?[0-9]+),"end":(-?[0-9]+),"count":([0-9]+),.*\}$)re");
  std::smatch m;
  INFO(text);
  REQUIRE(std::regex_match(text, m, kHead));
  Line l;
  l.pipeline = m[1];
  l.key = m[2];
  l.start = std::stoll(m[3]);
  l.end = std::stoll(m[4]);
  l.count = std::stoll(m[5]);
  l.partial = text.ends_with(",\"partial\":true}");
  return l;
}

/// `vigil args...`, started in the background with stdout and stderr going to files.
class Background : public BackgroundProcess {
 public:
  Background(std::vector<std::string> args, const std::string& out, const std::string& err)
      : BackgroundProcess(with_binary(std::move(args)), out, err) {}

 private:
  static std::vector<std::string> with_binary(std::vector<std::string> args) {
    args.insert(args.begin(), VIGIL_BINARY);
    return args;
  }
};

// ---------------------------------------------------------------------------------------------
// vigil run

TEST_CASE("run --for 2s without checkpoints prints partial summaries for every machine and stores them in the outbox",
          "[e2e][run][slow]") {
  TempDir dir;
  std::string config = copy_example(dir, "10s", false);
  auto r = run_process({VIGIL_BINARY, "run", config, "--for", "2s"}, 60'000);
  INFO("stderr: " << r.err);
  REQUIRE_FALSE(r.timed_out);
  CHECK(r.exit_code == 0);

  auto lines = split_lines(r.out);
  REQUIRE_FALSE(lines.empty());
  std::map<std::string, std::vector<Line>> by_key;
  for (const auto& text : lines) {
    Line l = parse_line(text);
    CHECK(l.pipeline == "machine-health");
    CHECK(l.count > 0);
    CHECK(l.end - l.start == 10'000);
    CHECK(l.start % 10'000 == 0);  // epoch-aligned
    CHECK_THAT(text, Contains("\"temp_mean\":"));
    CHECK_THAT(text, Contains("\"pressure_max\":"));
    by_key[l.key].push_back(l);
  }
  CHECK(by_key.size() == 3);
  for (const char* key : {"press-1", "pump-1", "fan-1"}) {
    INFO(key);
    REQUIRE(by_key.count(key) == 1);
    const auto& mine = by_key[key];
    // A 10 s window cannot complete in 2 s: the last window of each machine was flushed at the
    // end of the run. Only if the run crossed a 10 s boundary did an earlier window close on the
    // watermark, and that one ends where the flushed one starts.
    CHECK(mine.back().partial);
    CHECK(mine.size() <= 2);
    if (mine.size() == 2) {
      CHECK_FALSE(mine.front().partial);
      CHECK(mine.front().end == mine.back().start);
    }
  }
  CHECK_THAT(r.err, Contains("running " + config));

  auto rows = outbox_payloads(dir.file("var/outbox.db"));
  CHECK(rows.size() == lines.size());
  CHECK(rows == lines);
}

TEST_CASE("SIGTERM without checkpoints stops a run promptly with exit 0, flushing open windows to stdout and the outbox",
          "[e2e][run][slow]") {
  TempDir dir;
  std::string config = copy_example(dir, "1s", false);  // 1 s windows: summaries appear while it runs
  Background vigil({"run", config}, dir.file("stdout.txt"), dir.file("stderr.txt"));

  // Wait until at least one window per machine closed on the watermark: the run is under way.
  bool flowing = eventually(std::chrono::seconds(30), [&] { return split_lines(vigil.out()).size() >= 3; });
  INFO("stderr: " << vigil.err());
  REQUIRE(flowing);

  auto signalled = Clock::now();
  vigil.signal(SIGTERM);
  int code = vigil.wait(std::chrono::seconds(20));
  auto took = Clock::now() - signalled;
  REQUIRE(code != -1);
  CHECK(code == 0);
  CHECK(took < std::chrono::seconds(5));

  auto lines = split_lines(vigil.out());
  REQUIRE(lines.size() >= 6);
  // The windows open at the signal are flushed last, one per machine, marked partial; every
  // earlier line closed on the watermark.
  std::set<std::string> flushed;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    Line l = parse_line(lines[i]);
    bool in_tail = i + 3 >= lines.size();
    INFO(lines[i]);
    CHECK(l.partial == in_tail);
    if (in_tail) flushed.insert(l.key);
  }
  CHECK(flushed == std::set<std::string>{"press-1", "pump-1", "fan-1"});

  auto rows = outbox_payloads(dir.file("var/outbox.db"));
  CHECK(rows == lines);
}

TEST_CASE("run with an upstream output publishes what the outbox stores; every row is acknowledged or still stored",
          "[e2e][run][upstream][broker]") {
  MosquittoBroker broker;
  TempDir dir;
  std::string config = copy_example(dir, "200ms");
  write_file(config, read_file(config) + "  upstream: {broker: \"" + broker.uri() + "\", reconnect_min: 100ms}\n");
  auto r = run_process({VIGIL_BINARY, "run", config, "--for", "3s"}, 60'000);
  INFO("stderr: " << r.err);
  REQUIRE_FALSE(r.timed_out);
  CHECK(r.exit_code == 0);
  std::smatch written;
  std::smatch sent;
  REQUIRE(std::regex_search(r.err, written, std::regex(R"(outbox var/outbox.db: (\d+) rows written)")));
  REQUIRE(std::regex_search(r.err, sent, std::regex(R"(upstream tcp://\S+: (\d+) published, (\d+) acknowledged)")));
  const auto rows = std::stoull(written[1]);
  const auto acknowledged = std::stoull(sent[2]);
  CHECK(acknowledged > 0);
  CHECK(acknowledged + outbox_payloads(dir.file("var/outbox.db")).size() == rows);
  CHECK_THAT(r.err, Contains(": connected"));
}

TEST_CASE("SIGINT without checkpoints stops a run like SIGTERM", "[e2e][run][slow]") {
  TempDir dir;
  std::string config = copy_example(dir, "1s", false);
  Background vigil({"run", config}, dir.file("stdout.txt"), dir.file("stderr.txt"));
  REQUIRE(eventually(std::chrono::seconds(30), [&] { return !split_lines(vigil.out()).empty(); }));
  vigil.signal(SIGINT);
  int code = vigil.wait(std::chrono::seconds(20));
  CHECK(code == 0);
  auto lines = split_lines(vigil.out());
  REQUIRE_FALSE(lines.empty());
  CHECK(parse_line(lines.back()).partial);
}

// ---------------------------------------------------------------------------------------------
// vigil replay

TEST_CASE("replay of the hand-made CSV prints exactly the hand-worked summaries", "[e2e][replay]") {
  auto r = run_process({VIGIL_BINARY, "replay", replay_data("replay.yaml"), "--input", replay_data("input.csv")});
  INFO("stderr: " << r.err);
  REQUIRE_FALSE(r.timed_out);
  CHECK(r.exit_code == 0);
  CHECK(r.out == read_file(replay_data("expected.jsonl")));
}

TEST_CASE("replay reports its counters on stderr: records, late records and windows", "[e2e][replay]") {
  auto r = run_process({VIGIL_BINARY, "replay", replay_data("replay.yaml"), "--input", replay_data("input.csv")});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.err, Contains("22 records, 0 malformed"));
  CHECK_THAT(r.err, Contains("8 windows emitted (3 partial), 1 late"));
}

TEST_CASE("replay of the same input twice gives the same bytes", "[e2e][replay]") {
  auto first = run_process({VIGIL_BINARY, "replay", replay_data("replay.yaml"), "--input", replay_data("input.csv")});
  auto second = run_process({VIGIL_BINARY, "replay", replay_data("replay.yaml"), "--input", replay_data("input.csv")});
  CHECK(first.exit_code == 0);
  CHECK(second.exit_code == 0);
  REQUIRE_FALSE(first.out.empty());
  CHECK(first.out == second.out);
}

TEST_CASE("replay --output writes the summaries to the file and nothing to stdout", "[e2e][replay]") {
  TempDir dir;
  std::string out = dir.file("summaries.jsonl");
  auto r = run_process(
      {VIGIL_BINARY, "replay", replay_data("replay.yaml"), "--input", replay_data("input.csv"), "--output", out});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.empty());
  CHECK(read_file(out) == read_file(replay_data("expected.jsonl")));
}

TEST_CASE("replay skips and counts a malformed row and leaves the other rows unaffected", "[e2e][replay]") {
  auto r = run_process(
      {VIGIL_BINARY, "replay", replay_data("replay.yaml"), "--input", replay_data("input-malformed.csv")});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == read_file(replay_data("expected.jsonl")));
  CHECK_THAT(r.err, Contains("1 malformed"));
  CHECK_THAT(r.err, Contains("input-malformed.csv:7: \"hot\" in column \"temp\" is not a number"));
}

TEST_CASE("replay touches the outbox only when asked with --outbox", "[e2e][replay]") {
  TempDir dir;
  std::string config = dir.file("replay.yaml");
  write_file(config, read_file(replay_data("replay.yaml")) + "  outbox: {path: var/outbox.db}\n");
  std::string input = replay_data("input.csv");
  const std::string expected = read_file(replay_data("expected.jsonl"));

  auto plain = run_process({VIGIL_BINARY, "replay", config, "--input", input});
  INFO("stderr: " << plain.err);
  CHECK(plain.exit_code == 0);
  CHECK(plain.out == expected);
  CHECK_FALSE(std::filesystem::exists(dir.file("var/outbox.db")));

  auto with_outbox = run_process({VIGIL_BINARY, "replay", config, "--input", input, "--outbox"});
  INFO("stderr: " << with_outbox.err);
  CHECK(with_outbox.exit_code == 0);
  CHECK(with_outbox.out == expected);
  CHECK(outbox_payloads(dir.file("var/outbox.db")) == split_lines(expected));
}

TEST_CASE("replay feeds the first source by default and --source NAME feeds that one, each with its own columns",
          "[e2e][replay]") {
  TempDir dir;
  // Source `a` keeps the default mapping (key column `key`, time column `ts` in ms); `b` names
  // its key column `dev`. Each feeds its own pipeline.
  write_file(dir.file("two.yaml"),
             "vigil: 1\n"
             "sources:\n"
             "  - {name: a, type: simulator, machines: [x], signals: {temp: {}}}\n"
             "  - {name: b, type: simulator, machines: [x], signals: {temp: {}}, key: dev}\n"
             "pipelines:\n"
             "  - {name: pa, from: [a], window: {type: tumbling, size: 10s}, aggregates: [count, sum(temp)]}\n"
             "  - {name: pb, from: [b], window: {type: tumbling, size: 10s}, aggregates: [count, max(temp)]}\n");
  write_file(dir.file("a.csv"), "key,ts,temp\nm1,1000,1.5\nm1,2000,2.5\nm2,3000,4\n");
  write_file(dir.file("b.csv"), "dev,ts,temp\nm1,1000,1.5\nm1,2000,2.5\nm2,3000,4\n");

  auto a = run_process({VIGIL_BINARY, "replay", dir.file("two.yaml"), "--input", dir.file("a.csv")});
  INFO("stderr: " << a.err);
  CHECK(a.exit_code == 0);
  // m1: 1.5 + 2.5 = 4 over 2 records; m2: 4 over 1 record; all in [0, 10000), flushed at the end.
  CHECK(a.out ==
        "{\"pipeline\":\"pa\",\"key\":\"m1\",\"start\":0,\"end\":10000,\"count\":2,\"temp_sum\":4,\"partial\":true}\n"
        "{\"pipeline\":\"pa\",\"key\":\"m2\",\"start\":0,\"end\":10000,\"count\":1,\"temp_sum\":4,\"partial\":true}\n");

  auto b = run_process({VIGIL_BINARY, "replay", dir.file("two.yaml"), "--input", dir.file("b.csv"), "--source", "b"});
  INFO("stderr: " << b.err);
  CHECK(b.exit_code == 0);
  CHECK(b.out ==
        "{\"pipeline\":\"pb\",\"key\":\"m1\",\"start\":0,\"end\":10000,\"count\":2,\"temp_max\":2.5,\"partial\":true}\n"
        "{\"pipeline\":\"pb\",\"key\":\"m2\",\"start\":0,\"end\":10000,\"count\":1,\"temp_max\":4,\"partial\":true}\n");
}

TEST_CASE("replay --source with a name no source has exits 2 and lists the sources", "[e2e][replay]") {
  auto r = run_process({VIGIL_BINARY, "replay", replay_data("replay.yaml"), "--input", replay_data("input.csv"),
                        "--source", "nope"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("no source is named \"nope\"; sources are: line"));
  CHECK(r.out.empty());
}

TEST_CASE("replay of an input file that does not exist exits 2 and names the file", "[e2e][replay]") {
  TempDir dir;
  auto r = run_process({VIGIL_BINARY, "replay", replay_data("replay.yaml"), "--input", dir.file("missing.csv")});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains(dir.file("missing.csv")));
  CHECK_THAT(r.err, Contains("cannot open"));
  CHECK(r.out.empty());
}

TEST_CASE("replay of a CSV without the mapped time column exits 2 and lists the columns", "[e2e][replay]") {
  TempDir dir;
  write_file(dir.file("input.csv"), "time,machine,temp\n1700000000000,press-1,20\n");
  auto r = run_process({VIGIL_BINARY, "replay", replay_data("replay.yaml"), "--input", dir.file("input.csv")});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("column \"ts\""));
  CHECK_THAT(r.err, Contains("columns are: time, machine, temp"));
  CHECK(r.out.empty());
}

}  // namespace
}  // namespace vigil::test
