#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <thread>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "../../../sync/src/summary_ring.hpp"
#include "allocation_counter.hpp"
#include "sync_test_support.hpp"
#include "test_support.hpp"

using vigil::test::build_output;
using vigil::test::json_of;
using vigil::test::Sqlite;
using vigil::test::SummaryMaker;
using vigil::test::TempDir;

namespace {

std::unique_ptr<vigil::test::BuiltOutput> build_ok(const std::string& yaml, const std::string& dir) {
  auto built = build_output("outbox", yaml, dir);
  INFO(built->diag.str());
  REQUIRE(built->diag.empty());
  REQUIRE(built->output != nullptr);
  return built;
}

void start_ok(vigil::runtime::Output& output) {
  auto started = output.start();
  INFO((started ? std::string() : started.error().message));
  REQUIRE(started.ok());
}

// The "N dropped" figure of an outbox output's stats line.
std::uint64_t dropped(const vigil::runtime::Output& output) {
  std::string text = output.stats();
  auto end = text.find(" dropped");
  auto begin = text.rfind(' ', end - 1) + 1;
  return std::stoull(text.substr(begin, end - begin));
}

std::string config_error(const std::string& yaml) {
  TempDir dir;
  auto built = build_output("outbox", yaml, dir.path());
  CHECK(built->output == nullptr);
  return built->diag.str();
}

}  // namespace

TEST_CASE("the outbox output stores every summary with contiguous seqs and its JSON payload",
          "[sync][outbox_output]") {
  TempDir dir;
  auto built = build_ok("path: out.db\nbatch: 4", dir.path());
  auto& output = *built->output;
  start_ok(output);
  SummaryMaker maker;
  constexpr int kSummaries = 300;
  for (int i = 0; i < kSummaries; ++i) output.emit(maker.make(static_cast<std::uint64_t>(i)));
  output.stop();

  Sqlite db(dir.file("out.db"));
  CHECK(db.integer("SELECT count(*) FROM outbox") == kSummaries);
  CHECK(db.integer("SELECT min(seq) FROM outbox") == 1);
  CHECK(db.integer("SELECT max(seq) FROM outbox") == kSummaries);
  CHECK(db.integer("SELECT count(DISTINCT seq) FROM outbox") == kSummaries);
  // Row 42 (seq 43) holds summary 42: independent check of payload, topic and window columns.
  CHECK(db.text("SELECT payload FROM outbox WHERE seq = 43") == json_of(maker.make(42)));
  CHECK(db.text("SELECT topic FROM outbox WHERE seq = 43") == "vigil/gw1/line1/pump-0");
  CHECK(db.text("SELECT key FROM outbox WHERE seq = 43") == "pump-0");
  CHECK(db.text("SELECT pipeline FROM outbox WHERE seq = 43") == "line1");
  CHECK(db.integer("SELECT window_start_ms FROM outbox WHERE seq = 43") == 1'700'000'042'000);
  CHECK(db.integer("SELECT window_end_ms FROM outbox WHERE seq = 43") == 1'700'000'043'000);
  CHECK(db.text("SELECT format FROM outbox WHERE seq = 43") == "json");
  CHECK(db.integer("SELECT count(*) FROM outbox WHERE created_ns <= 0") == 0);
  // The last window of each of the three keys: summaries 297, 298, 299.
  CHECK(db.column("SELECT last_end_ms FROM window_marks ORDER BY key") ==
        std::vector<std::string>{"1700000298000", "1700000299000", "1700000300000"});
  CHECK(output.stats() == "outbox out.db: 300 rows written, 0 dropped, 0 write errors");
}

TEST_CASE("the outbox output stores forwarded summaries with their priority and counts the held ones",
          "[sync][outbox_output][forward]") {
  TempDir dir;
  auto built = build_ok("path: out.db", dir.path());
  auto& output = *built->output;
  start_ok(output);
  SummaryMaker maker;
  for (std::uint64_t i = 0; i < 6; ++i) {
    vigil::runtime::Summary s = maker.make(i);
    s.forward = i % 3 != 1;           // 1 and 4 held
    s.priority = i == 2 ? 5 : 0;      // 2 raised an alarm
    output.emit(s);
  }
  output.stop();
  Sqlite db(dir.file("out.db"));
  CHECK(db.column("SELECT payload FROM outbox ORDER BY seq") ==
        std::vector<std::string>{json_of(maker.make(0)), json_of(maker.make(2)), json_of(maker.make(3)),
                                 json_of(maker.make(5))});
  CHECK(db.column("SELECT priority FROM outbox ORDER BY seq") == std::vector<std::string>{"0", "5", "0", "0"});
  CHECK(output.stats() == "outbox out.db: 4 rows written, 0 dropped, 0 write errors, 2 not forwarded (not stored)");
}

TEST_CASE("keep_all stores held summaries as priority -1 rows", "[sync][outbox_output][forward]") {
  TempDir dir;
  auto built = build_ok("path: out.db\nkeep_all: true", dir.path());
  auto& output = *built->output;
  start_ok(output);
  SummaryMaker maker;
  for (std::uint64_t i = 0; i < 4; ++i) {
    vigil::runtime::Summary s = maker.make(i);
    s.forward = i != 1;
    s.priority = i == 3 ? 1 : 0;
    output.emit(s);
  }
  output.stop();
  Sqlite db(dir.file("out.db"));
  CHECK(db.column("SELECT priority FROM outbox ORDER BY seq") == std::vector<std::string>{"0", "-1", "0", "1"});
  CHECK(db.text("SELECT payload FROM outbox WHERE seq = 2") == json_of(maker.make(1)));
  CHECK(output.stats() == "outbox out.db: 4 rows written, 0 dropped, 0 write errors");
}

TEST_CASE("the outbox path resolves against the config folder and its folders are created",
          "[sync][outbox_output]") {
  TempDir dir;
  auto built = build_ok("path: var/lib/outbox.db\ndurability: full", dir.path());
  start_ok(*built->output);
  built->output->stop();
  CHECK(std::filesystem::exists(dir.file("var/lib/outbox.db")));
}

TEST_CASE("the outbox topic expands its placeholders and replaces MQTT wildcards in values",
          "[sync][outbox_output]") {
  TempDir dir;
  auto built = build_ok("path: out.db\ntopic: \"plant/{gateway}/x/{pipeline}-{key}\"", dir.path());
  start_ok(*built->output);
  vigil::runtime::SummarySchema schema{"line#1", 0, {}};
  vigil::runtime::Summary summary;
  summary.schema = &schema;
  summary.key_name = "a+b";
  built->output->emit(summary);
  built->output->stop();
  CHECK(Sqlite(dir.file("out.db")).text("SELECT topic FROM outbox") == "plant/gw1/x/line_1-a_b");
}

TEST_CASE("an unknown topic placeholder is a config error", "[sync][outbox_output][config]") {
  auto text = config_error("path: out.db\ntopic: \"vigil/{site}/{key}\"");
  CHECK_THAT(text, Catch::Contains("test.yaml:2:8: outputs.outbox.topic: unknown placeholder {site}") &&
                       Catch::Contains("use {gateway}, {pipeline} or {key}"));
}

TEST_CASE("a topic with an MQTT wildcard is a config error", "[sync][outbox_output][config]") {
  CHECK_THAT(config_error("path: out.db\ntopic: \"vigil/+/{key}\""),
             Catch::Contains("outputs.outbox.topic") && Catch::Contains("wildcard +"));
}

TEST_CASE("an outbox without a path is a config error", "[sync][outbox_output][config]") {
  CHECK_THAT(config_error("batch: 4"),
             Catch::Contains("test.yaml:1:1: outputs.outbox: missing key \"path\""));
}

TEST_CASE("an unknown outbox key is a config error listing the valid keys", "[sync][outbox_output][config]") {
  CHECK_THAT(config_error("path: out.db\npth: x"),
             Catch::Contains("test.yaml:2:1: outputs.outbox: unknown key \"pth\" (did you mean \"path\"?)") &&
                 Catch::Contains("valid keys: path, durability, batch, queue_depth, topic"));
}

TEST_CASE("an out-of-range outbox batch is a config error", "[sync][outbox_output][config]") {
  CHECK_THAT(config_error("path: out.db\nbatch: 0"),
             Catch::Contains("test.yaml:2:8: outputs.outbox.batch: 0 is out of range; use a value from 1 to 100000"));
  CHECK_THAT(config_error("path: out.db\nqueue_depth: 8"),
             Catch::Contains("outputs.outbox.queue_depth: 8 is out of range"));
}

TEST_CASE("an unknown durability is a config error", "[sync][outbox_output][config]") {
  CHECK_THAT(config_error("path: out.db\ndurability: paranoid"),
             Catch::Contains("outputs.outbox.durability: \"paranoid\" is not one of: normal, full"));
}

TEST_CASE("an outbox path that cannot be created fails start() with the path in the message",
          "[sync][outbox_output]") {
  TempDir dir;
  vigil::test::write_file(dir.file("plain-file"), "not a folder");
  auto built = build_ok("path: plain-file/out.db\ndurability: full", dir.path());
  auto started = built->output->start();
  REQUIRE_FALSE(started.ok());
  CHECK_THAT(started.error().message, Catch::Contains(dir.file("plain-file/out.db")));
  built->output->stop();
}

TEST_CASE("summaries emitted before start() are dropped and counted", "[sync][outbox_output]") {
  TempDir dir;
  auto built = build_ok("path: out.db", dir.path());
  SummaryMaker maker;
  for (int i = 0; i < 5; ++i) built->output->emit(maker.make(static_cast<std::uint64_t>(i)));
  start_ok(*built->output);
  built->output->emit(maker.make(5));
  built->output->stop();
  CHECK(built->output->stats() == "outbox out.db: 1 rows written, 5 dropped, 0 write errors");
}

TEST_CASE("a full queue drops new summaries and counts them while the writer is blocked",
          "[sync][outbox_output]") {
  TempDir dir;
  auto built = build_ok("path: out.db\nqueue_depth: 16\nbatch: 4", dir.path());
  auto& output = *built->output;
  start_ok(output);
  Sqlite lock(dir.file("out.db"));
  REQUIRE(lock.exec("BEGIN EXCLUSIVE") == SQLITE_OK);

  SummaryMaker maker;
  for (int i = 0; i < 100; ++i) output.emit(maker.make(static_cast<std::uint64_t>(i)));
  CHECK_THAT(output.stats(), Catch::Contains("0 rows written, 84 dropped"));

  REQUIRE(lock.exec("ROLLBACK") == SQLITE_OK);
  output.stop();
  CHECK_THAT(output.stats(), Catch::StartsWith("outbox out.db: 16 rows written, 84 dropped"));
  // The first 16 summaries were kept, in order.
  CHECK(lock.integer("SELECT count(*) FROM outbox") == 16);
  CHECK(lock.text("SELECT payload FROM outbox WHERE seq = 16") == json_of(maker.make(15)));
}

TEST_CASE("a failing write keeps the batch queued and stores it once the disk works again",
          "[sync][outbox_output]") {
  TempDir dir;
  auto built = build_ok("path: out.db\nbatch: 8", dir.path());
  auto& output = *built->output;
  start_ok(output);
  Sqlite db(dir.file("out.db"));
  REQUIRE(db.exec("CREATE TRIGGER refuse BEFORE INSERT ON outbox "
                  "BEGIN SELECT RAISE(ABORT, 'simulated disk error'); END") == SQLITE_OK);

  SummaryMaker maker;
  for (int i = 0; i < 20; ++i) output.emit(maker.make(static_cast<std::uint64_t>(i)));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (output.stats().find(" 0 write errors") != std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK_THAT(output.stats(), Catch::Contains("0 rows written, 0 dropped") && !Catch::Contains(" 0 write errors"));
  CHECK(db.integer("SELECT count(*) FROM outbox") == 0);

  REQUIRE(db.exec("DROP TRIGGER refuse") == SQLITE_OK);
  output.stop();
  CHECK_THAT(output.stats(), Catch::StartsWith("outbox out.db: 20 rows written, 0 dropped"));
  CHECK(db.column("SELECT seq FROM outbox ORDER BY seq").size() == 20);
  CHECK(db.text("SELECT payload FROM outbox WHERE seq = 1") == json_of(maker.make(0)));
  CHECK(db.integer("SELECT max(seq) FROM outbox") == 20);
}

TEST_CASE("emitting into the outbox output allocates nothing in the steady state",
          "[sync][outbox_output][alloc]") {
  TempDir dir;
  auto built = build_ok("path: out.db", dir.path());
  auto& output = *built->output;
  start_ok(output);
  SummaryMaker maker;
  for (int i = 0; i < 1000; ++i) output.emit(maker.make(static_cast<std::uint64_t>(i)));

  std::size_t allocations = 0;
  {
    vigil::test::AllocationCounter allocs;
    for (int i = 1000; i < 11'000; ++i) output.emit(maker.make(static_cast<std::uint64_t>(i)));
    allocations = allocs.count();
  }
  output.stop();
  CHECK(allocations == 0);
  CHECK(output.stats() == "outbox out.db: 11000 rows written, 0 dropped, 0 write errors");
}

TEST_CASE("the queue wraps around its ring many times without losing or reordering summaries",
          "[sync][outbox_output]") {
  TempDir dir;
  auto built = build_ok("path: out.db\nqueue_depth: 16\nbatch: 3", dir.path());
  auto& output = *built->output;
  start_ok(output);
  SummaryMaker maker(7);
  // 2000 summaries of ~200 bytes pass through a 64 KiB ring: it wraps several times. A summary
  // refused because the small queue is full is emitted again once the writer made room.
  constexpr std::uint64_t kSummaries = 2000;
  std::uint64_t next = 0;
  std::uint64_t refused = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (next < kSummaries && std::chrono::steady_clock::now() < deadline) {
    output.emit(maker.make(next));
    if (dropped(output) == refused) {
      ++next;
    } else {
      refused = dropped(output);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  output.stop();
  REQUIRE(next == kSummaries);
  Sqlite db(dir.file("out.db"));
  auto payloads = db.column("SELECT payload FROM outbox ORDER BY seq");
  REQUIRE(payloads.size() == kSummaries);
  for (std::uint64_t i = 0; i < kSummaries; ++i) {
    if (payloads[i] != json_of(maker.make(i))) FAIL("summary " << i << " differs: " << payloads[i]);
  }
}

TEST_CASE("a checkpoint is stored with every summary emitted before it and never before them",
          "[sync][outbox_output][checkpoint]") {
  TempDir dir;
  auto built = build_ok("path: out.db\nbatch: 4\ncheckpoint_interval: 1s", dir.path());
  auto& output = *built->output;
  start_ok(output);
  CHECK(output.checkpoint_interval() == vigil::runtime::kNanosPerSecond);
  CHECK_FALSE(output.take_saved_state().has_checkpoint);
  Sqlite db(dir.file("out.db"));
  // The writer fails every row insert, so the summaries stay queued: the checkpoint saved after
  // them must wait for them, not be written alone.
  REQUIRE(db.exec("CREATE TRIGGER refuse BEFORE INSERT ON outbox "
                  "BEGIN SELECT RAISE(ABORT, 'simulated disk error'); END") == SQLITE_OK);
  SummaryMaker maker;
  for (int i = 0; i < 10; ++i) output.emit(maker.make(static_cast<std::uint64_t>(i)));
  vigil::runtime::Checkpoint cp;
  cp.kind = vigil::runtime::CheckpointKind::periodic;
  cp.saved_ns = 5;
  cp.pipelines.push_back({"line1", "h", {std::byte{7}}});
  output.save_checkpoint(std::move(cp));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (output.stats().find(" 0 write errors") != std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(db.integer("SELECT count(*) FROM checkpoints") == 0);
  CHECK(db.integer("SELECT count(*) FROM outbox") == 0);
  REQUIRE(db.exec("DROP TRIGGER refuse") == SQLITE_OK);
  output.stop();
  CHECK(db.integer("SELECT count(*) FROM outbox") == 10);
  CHECK(db.integer("SELECT count(*) FROM checkpoints") == 1);
  CHECK(db.integer("SELECT saved_ns FROM checkpoints") == 5);
  CHECK_THAT(output.stats(), Catch::Contains("1 checkpoints (last 1 bytes)"));
}

TEST_CASE("with checkpoints, summaries kept local still move their window marks", "[sync][outbox_output][checkpoint]") {
  TempDir dir;
  auto built = build_ok("path: out.db\ncheckpoint_interval: 10s", dir.path());
  auto& output = *built->output;
  start_ok(output);
  (void)output.take_saved_state();  // the engine does this when it checkpoints into the output
  SummaryMaker maker;
  auto held = maker.make(5);
  held.forward = false;
  output.emit(maker.make(4));
  output.emit(held);
  output.stop();
  Sqlite db(dir.file("out.db"));
  CHECK(db.integer("SELECT count(*) FROM outbox") == 1);
  CHECK(db.integer("SELECT count(*) FROM window_marks") == 2);
  CHECK(db.integer("SELECT max(last_end_ms) FROM window_marks") == 1'700'000'006'000);
  CHECK_THAT(output.stats(), Catch::StartsWith("outbox out.db: 1 rows written, 0 dropped"));
}

TEST_CASE("the summary ring keeps only the pages of queued records resident", "[sync][outbox_output]") {
  vigil::sync::SummaryRing ring;
  constexpr std::size_t kBytes = 8 << 20;
  ring.allocate(kBytes, 1 << 20);
  const long page = ::sysconf(_SC_PAGESIZE);
  // Whole pages of the buffer that are resident now.
  auto resident_pages = [&] {
    const auto base = reinterpret_cast<std::uintptr_t>(ring.data());
    const std::uintptr_t first = (base + static_cast<std::uintptr_t>(page) - 1) & ~static_cast<std::uintptr_t>(page - 1);
    const std::uintptr_t last = (base + kBytes) & ~static_cast<std::uintptr_t>(page - 1);
    std::vector<unsigned char> in((last - first) / static_cast<std::uintptr_t>(page));
    REQUIRE(::mincore(reinterpret_cast<void*>(first), last - first, in.data()) == 0);
    std::size_t n = 0;
    for (unsigned char c : in) n += c & 1;
    return n;
  };
  const std::string payload(200, 'x');
  std::uint64_t position = ring.tail();
  std::size_t most = 0, mismatches = 0;
  // 400,000 records of about 256 bytes: twelve times round the ring, 2,000 (500 KiB) queued at a
  // time and released together.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 2000; ++i) REQUIRE(ring.try_push({}, "vigil/gw/p/k", "p", "k", payload));
    vigil::sync::OutboxRow row;
    std::size_t n = 0;
    while (ring.read(position, row)) {
      mismatches += row.payload == payload ? 0 : 1;
      ++n;
    }
    REQUIRE(n == 2000);
    most = std::max(most, resident_pages());
    ring.release(position, n);
  }
  CHECK(mismatches == 0);
  // Resident: the queued records (about 125 pages) and, of what was released, only the page at
  // each release boundary of the last lap round the ring (16 per lap here); the whole ring is
  // 2,048 pages, and without giving pages back all of them would be resident after one lap.
  INFO("most resident pages " << most);
  CHECK(most < 125 + 16 + 20);
  CHECK(resident_pages() <= 17);
}
