// Outbox bounds: max_bytes and max_age eviction (order, gap records, counters), the monotonic
// outbox clock, and a disk that refuses writes (RLIMIT_FSIZE), checked with a direct SQLite
// connection and PRAGMA integrity_check.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sync_test_support.hpp"
#include "test_support.hpp"
#include "vigil/sync/outbox.hpp"

namespace vigil::test {
namespace {

using sync::Outbox;
using sync::OutboxOptions;
using sync::OutboxRow;
using namespace std::chrono_literals;

constexpr runtime::Nanos kSecond = runtime::kNanosPerSecond;

/// Polls `done` every 10 ms until it holds or `timeout` passes; returns its last value.
template <class F>
bool eventually_true(F done, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return done();
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::unique_ptr<Outbox> open_ok(const std::string& path, const OutboxOptions& options) {
  auto opened = Outbox::open(path, options);
  INFO((opened ? std::string() : opened.error().message));
  REQUIRE(opened.ok());
  return std::move(opened.value());
}

/// Appends `n` rows of `priority` with `size`-byte payloads; returns their seqs.
std::vector<std::int64_t> append(Outbox& outbox, int n, int priority, std::size_t size = 1000) {
  const std::string payload(size, 'x');
  std::vector<OutboxRow> rows(static_cast<std::size_t>(n),
                              OutboxRow{.topic = "t", .pipeline = "line1", .key = "k", .start_ms = 0, .end_ms = 1000,
                                        .priority = priority, .format = "json", .payload = payload,
                                        .created_ns = 1, .flags = 0});
  auto r = outbox.append(rows);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  std::vector<std::int64_t> seqs;
  for (std::int64_t s = r->first; s < r->first + r->count; ++s) seqs.push_back(s);
  return seqs;
}

struct Gap {
  std::int64_t seq = 0, first = 0, last = 0, rows = 0, bytes = 0;
  std::string reason;
};

/// Every gap record in the file, read with SQLite's own JSON functions.
std::vector<Gap> gap_records(Sqlite& db) {
  std::vector<Gap> out;
  for (const auto& seq : db.column("SELECT seq FROM outbox WHERE format = 'gap' ORDER BY seq")) {
    const std::string where = " FROM outbox WHERE seq = " + seq;
    out.push_back(Gap{std::stoll(seq), db.integer("SELECT json_extract(payload, '$.first')" + where),
                      db.integer("SELECT json_extract(payload, '$.last')" + where),
                      db.integer("SELECT json_extract(payload, '$.rows')" + where),
                      db.integer("SELECT json_extract(payload, '$.bytes')" + where),
                      db.text("SELECT json_extract(payload, '$.reason')" + where)});
  }
  return out;
}

std::set<std::int64_t> stored(Sqlite& db, const std::string& where) {
  std::set<std::int64_t> out;
  for (const auto& s : db.column("SELECT seq FROM outbox WHERE " + where)) out.insert(std::stoll(s));
  return out;
}

std::int64_t used_bytes(Sqlite& db) {
  return db.integer(
      "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count(), pragma_freelist_count(), "
      "pragma_page_size()");
}

/// Lowers RLIMIT_FSIZE for the whole process while alive (SIGXFSZ ignored, so writes past the
/// limit fail with EFBIG, as on a full disk); restores it on destruction.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    rlimit lower = saved_;
    lower.rlim_cur = bytes;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lower) == 0);
  }
  ~FileSizeLimit() { lift(); }
  void lift() {
    if (lifted_) return;
    setrlimit(RLIMIT_FSIZE, &saved_);
    signal(SIGXFSZ, old_handler_);
    lifted_ = true;
  }

 private:
  rlimit saved_{};
  void (*old_handler_)(int) = nullptr;
  bool lifted_ = false;
};

}  // namespace

TEST_CASE("max_bytes evicts local rows then routine rows then alerts oldest first with gap records",
          "[sync][outbox][bounds]") {
  TempDir dir;
  const std::int64_t kMax = 256 * 1024;
  auto outbox = open_ok(dir.file("o.db"), {.gateway = "gw1", .max_bytes = kMax});
  const auto alerts = append(*outbox, 40, 2);
  const auto routine = append(*outbox, 60, 0);
  const auto local = append(*outbox, 60, -1);
  Sqlite db(dir.file("o.db"));
  REQUIRE(outbox->evictions().rows == 0);  // ~160 KB of payloads: within the bound

  // Routine rows keep coming (an outage): each append stays within max_bytes.
  std::vector<std::int64_t> late;
  for (int i = 0; i < 10; ++i) {
    auto more = append(*outbox, 20, 0);
    late.insert(late.end(), more.begin(), more.end());
    CHECK(used_bytes(db) <= kMax);
  }
  const auto evicted = outbox->evictions();
  REQUIRE(evicted.rows > 60);  // more than the local rows were needed

  // Every local row went first; then the oldest routine rows; no alert while routine ones remain.
  CHECK(stored(db, "priority = -1").empty());
  CHECK(stored(db, "priority = 2") == std::set<std::int64_t>(alerts.begin(), alerts.end()));
  const auto routine_left = stored(db, "priority = 0");
  REQUIRE_FALSE(routine_left.empty());
  std::vector<std::int64_t> all_routine = routine;
  all_routine.insert(all_routine.end(), late.begin(), late.end());
  const std::int64_t first_kept = *routine_left.begin();
  for (std::int64_t s : all_routine) CHECK((routine_left.count(s) == 1) == (s >= first_kept));

  // The gap records account for exactly the rows that are gone, and for nothing else.
  const auto gaps = gap_records(db);
  REQUIRE(gaps.size() == evicted.gap_records);
  std::int64_t rows = 0, bytes = 0;
  for (const Gap& g : gaps) {
    CHECK(g.reason == "max_bytes");
    rows += g.rows;
    bytes += g.bytes;
    CHECK(db.integer("SELECT priority FROM outbox WHERE seq = " + std::to_string(g.seq)) == sync::kGapPriority);
  }
  const std::int64_t appended = static_cast<std::int64_t>(alerts.size() + routine.size() + local.size() + late.size());
  const std::int64_t summaries_left = db.integer("SELECT count(*) FROM outbox WHERE format <> 'gap'");
  CHECK(rows == appended - summaries_left);
  CHECK(rows == static_cast<std::int64_t>(evicted.rows));
  CHECK(bytes == rows * 1000);
  CHECK(static_cast<std::int64_t>(evicted.bytes) == bytes);
  // Every missing seq lies inside a gap record's range.
  const auto present = stored(db, "1");
  for (std::int64_t s = 1; s < outbox->stats()->next_seq; ++s) {
    if (present.count(s)) continue;
    const bool explained = std::any_of(gaps.begin(), gaps.end(), [&](const Gap& g) { return g.first <= s && s <= g.last; });
    CHECK(explained);
  }
  // The counters survive a reopen; the figures `vigil outbox stats` shows come from them.
  outbox.reset();
  auto reopened = open_ok(dir.file("o.db"), {.gateway = "gw1"});
  CHECK(reopened->stats()->evicted.rows == evicted.rows);
  CHECK(reopened->stats()->evicted.gap_records == evicted.gap_records);
  CHECK(db.text("PRAGMA integrity_check") == "ok");
}

TEST_CASE("with max_bytes the WAL beside the database is checkpointed and truncated at a quarter of the bound",
          "[sync][outbox][bounds]") {
  TempDir dir;
  auto outbox = open_ok(dir.file("o.db"), {.gateway = "gw1", .max_bytes = 256 * 1024});
  // 400 KB of rows in 20 KB transactions: SQLite's default would keep all of it in the WAL
  // (no checkpoint before 1000 pages).
  for (int i = 0; i < 20; ++i) append(*outbox, 20, 0);
  const auto wal = std::filesystem::file_size(dir.file("o.db-wal"));
  CHECK(wal <= 128 * 1024);
  CHECK(std::filesystem::file_size(dir.file("o.db")) + wal <= 256 * 1024 * 5 / 4 + 32 * 1024);
  Sqlite db(dir.file("o.db"));
  CHECK(db.text("PRAGMA integrity_check") == "ok");
}

TEST_CASE("max_bytes evicts alerts of the lowest priority first and oldest first and never gap records",
          "[sync][outbox][bounds]") {
  TempDir dir;
  auto outbox = open_ok(dir.file("o.db"), {.gateway = "gw1", .max_bytes = 200 * 1024});
  std::vector<std::int64_t> low, high;
  for (int i = 0; i < 10; ++i) {
    auto more = append(*outbox, 10, 1);
    low.insert(low.end(), more.begin(), more.end());
  }
  REQUIRE(outbox->evictions().rows == 0);
  for (int i = 0; i < 10; ++i) {
    auto more = append(*outbox, 10, 3);
    high.insert(high.end(), more.begin(), more.end());
  }
  Sqlite db(dir.file("o.db"));
  CHECK(used_bytes(db) <= 200 * 1024);
  REQUIRE(outbox->evictions().rows > 0);
  CHECK(stored(db, "priority = 3") == std::set<std::int64_t>(high.begin(), high.end()));
  const auto low_left = stored(db, "priority = 1");
  REQUIRE_FALSE(low_left.empty());
  for (std::int64_t s : low) CHECK((low_left.count(s) == 1) == (s >= *low_left.begin()));
  CHECK(static_cast<std::int64_t>(low_left.size() + outbox->evictions().rows) == 100);
  CHECK(db.integer("SELECT count(*) FROM outbox WHERE format = 'gap'") ==
        static_cast<std::int64_t>(outbox->evictions().gap_records));
}

TEST_CASE("max_age evicts rows older than the outbox clock allows whatever their priority or wall time",
          "[sync][outbox][bounds]") {
  TempDir dir;
  runtime::VirtualClock clock(1000 * kSecond);
  OutboxOptions options{.gateway = "gw1", .max_age = 60 * kSecond, .clock = &clock, .boot_id = "boot-a"};
  auto outbox = open_ok(dir.file("o.db"), options);
  const auto old_alert = append(*outbox, 1, 3);
  const auto old_routine = append(*outbox, 2, 0);
  clock.set(1030 * kSecond);
  const auto newer = append(*outbox, 2, 0);
  // 59 s later nothing is old enough; rows carry created_ns = 1 (1970): the wall clock does not count.
  clock.set(1059 * kSecond);
  REQUIRE(outbox->enforce_bounds().ok());
  CHECK(outbox->evictions().rows == 0);
  clock.set(1061 * kSecond);
  auto expired = outbox->enforce_bounds();
  REQUIRE(expired.ok());
  CHECK(expired->rows == 3);
  CHECK(expired->gap_records == 1);
  Sqlite db(dir.file("o.db"));
  CHECK(stored(db, "format <> 'gap'") == std::set<std::int64_t>(newer.begin(), newer.end()));
  const auto gaps = gap_records(db);
  REQUIRE(gaps.size() == 1);
  CHECK(gaps[0].reason == "max_age");
  CHECK(gaps[0].first == old_alert[0]);
  CHECK(gaps[0].last == old_routine[1]);
  CHECK(gaps[0].rows == 3);
  CHECK(gaps[0].seq == newer[1] + 1);  // the gap record takes the next seq
  CHECK(outbox->stats()->next_seq == gaps[0].seq + 1);
}

TEST_CASE("the outbox clock counts downtime within one boot and resumes after a reboot",
          "[sync][outbox][bounds]") {
  TempDir dir;
  runtime::VirtualClock boot_a(500 * kSecond);
  {
    auto outbox = open_ok(dir.file("o.db"), {.gateway = "gw1", .clock = &boot_a, .boot_id = "boot-a"});
    CHECK(outbox->clock_now() == 0);
    boot_a.set(510 * kSecond);
    append(*outbox, 1, 0);  // stores the clock: 10 s
  }
  boot_a.set(600 * kSecond);  // Vigil was stopped for 90 s, same boot
  {
    auto outbox = open_ok(dir.file("o.db"), {.gateway = "gw1", .clock = &boot_a, .boot_id = "boot-a"});
    CHECK(outbox->clock_now() == 100 * kSecond);
    append(*outbox, 1, 0);
  }
  runtime::VirtualClock boot_b(3 * kSecond);  // rebooted: the boot clock starts again
  auto outbox = open_ok(dir.file("o.db"), {.gateway = "gw1", .clock = &boot_b, .boot_id = "boot-b"});
  CHECK(outbox->clock_now() == 100 * kSecond);
  boot_b.set(8 * kSecond);
  CHECK(outbox->clock_now() == 105 * kSecond);
  Sqlite db(dir.file("o.db"));
  CHECK(db.column("SELECT created_clock_ns FROM outbox ORDER BY seq") ==
        std::vector<std::string>{std::to_string(10 * kSecond), std::to_string(100 * kSecond)});
}

TEST_CASE("a write beyond the file size limit fails cleanly and uses up no seq and writing resumes after",
          "[sync][outbox][bounds][disk]") {
  TempDir dir;
  auto outbox = open_ok(dir.file("o.db"), {.gateway = "gw1"});
  append(*outbox, 10, 0);
  int failures = 0;
  {
    FileSizeLimit limit(64 * 1024);  // the WAL cannot grow past 64 KiB: a "full disk"
    for (int i = 0; i < 20; ++i) {
      const std::string payload(8000, 'y');
      std::vector<OutboxRow> rows(4, OutboxRow{.topic = "t", .pipeline = "line1", .key = "k", .start_ms = 0,
                                               .end_ms = 1000, .priority = 0, .format = "json", .payload = payload,
                                               .created_ns = 1, .flags = 0});
      if (!outbox->append(rows).ok()) ++failures;
    }
  }
  CHECK(failures > 0);
  const auto after = append(*outbox, 5, 0);
  Sqlite db(dir.file("o.db"));
  CHECK(db.text("PRAGMA integrity_check") == "ok");
  // Seqs stay contiguous: failed appends took none.
  const std::int64_t rows = db.integer("SELECT count(*) FROM outbox");
  CHECK(db.integer("SELECT max(seq) FROM outbox") == rows);
  CHECK(after.back() == rows);
}

TEST_CASE("the outbox output keeps running on a full disk and counts failed writes and stores everything once "
          "there is room",
          "[sync][outbox_output][bounds][disk]") {
  TempDir dir;
  auto built = build_output("outbox", "path: out.db\nbatch: 16", dir.path());
  REQUIRE(built->output != nullptr);
  auto& output = *built->output;
  REQUIRE(output.start().ok());
  SummaryMaker maker;
  for (std::uint64_t i = 0; i < 20; ++i) output.emit(maker.make(i));
  REQUIRE(eventually_true([&] { return output.stats().starts_with("outbox out.db: 20 rows written"); }));
  {
    FileSizeLimit limit(16 * 1024);
    for (std::uint64_t i = 20; i < 400; ++i) output.emit(maker.make(i));
    REQUIRE(eventually_true([&] { return output.stats().find(" 0 write errors") == std::string::npos; }));
  }
  output.stop();
  CHECK_THAT(output.stats(), Catch::StartsWith("outbox out.db: 400 rows written, 0 dropped, "));
  Sqlite db(dir.file("out.db"));
  CHECK(db.text("PRAGMA integrity_check") == "ok");
  CHECK(db.integer("SELECT count(*) FROM outbox") == 400);
  CHECK(db.integer("SELECT max(seq) FROM outbox") == 400);
  CHECK(db.text("SELECT payload FROM outbox WHERE seq = 400") == json_of(maker.make(399)));
}

TEST_CASE("the outbox output counts evictions in its stats line and keeps the file within max_bytes",
          "[sync][outbox_output][bounds]") {
  TempDir dir;
  auto built = build_output("outbox", "path: out.db\nbatch: 50\nmax_bytes: 64KiB", dir.path());
  REQUIRE(built->output != nullptr);
  auto& output = *built->output;
  REQUIRE(output.start().ok());
  SummaryMaker maker;
  for (std::uint64_t i = 0; i < 2000; ++i) output.emit(maker.make(i));
  output.stop();
  Sqlite db(dir.file("out.db"));
  const std::int64_t summaries = db.integer("SELECT count(*) FROM outbox WHERE format <> 'gap'");
  const std::int64_t evicted = db.integer("SELECT sum(json_extract(payload, '$.rows')) FROM outbox WHERE format = 'gap'");
  CHECK(summaries + evicted == 2000);
  CHECK(evicted > 0);
  CHECK(used_bytes(db) <= 64 * 1024);
  CHECK_THAT(output.stats(), Catch::Contains("2000 rows written") &&
                                 Catch::Contains(", " + std::to_string(evicted) + " evicted"));
  // The newest summary is kept: eviction takes the oldest.
  CHECK(db.text("SELECT payload FROM outbox WHERE format = 'json' ORDER BY seq DESC LIMIT 1") == json_of(maker.make(1999)));
}

TEST_CASE("the outbox output takes max_bytes from limits.outbox_bytes when its block has none",
          "[sync][outbox_output][bounds][config]") {
  TempDir dir;
  runtime::Limits limits;
  limits.outbox_bytes = 64 * 1024;  // what a small board's profile sets
  auto built = build_output("outbox", "path: out.db\nbatch: 50", dir.path(), "gw1", limits);
  REQUIRE(built->output != nullptr);
  REQUIRE(built->output->start().ok());
  SummaryMaker maker;
  for (std::uint64_t i = 0; i < 2000; ++i) built->output->emit(maker.make(i));
  built->output->stop();
  Sqlite db(dir.file("out.db"));
  CHECK(db.integer("SELECT count(*) FROM outbox WHERE format = 'gap'") > 0);
  CHECK(used_bytes(db) <= 64 * 1024);
}

}  // namespace vigil::test
