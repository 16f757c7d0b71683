#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "sync_test_support.hpp"
#include "test_support.hpp"
#include "vigil/sync/outbox.hpp"

using vigil::sync::Outbox;
using vigil::sync::OutboxOptions;
using vigil::sync::OutboxRow;

namespace {

std::unique_ptr<Outbox> open_ok(const std::string& path, OutboxOptions options = {.gateway = "gw1"}) {
  auto opened = Outbox::open(path, options);
  INFO((opened ? std::string() : opened.error().message));
  REQUIRE(opened.ok());
  return std::move(opened.value());
}

// Rows with payloads "p<first>".."p<first+n-1>", key k<i % 2>, window end (i+1)*1000 ms.
struct Rows {
  std::vector<std::string> payloads;
  std::vector<std::string> keys;
  std::vector<OutboxRow> rows;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;
  Rows(int first, int n, std::string_view poison_key = {}) {
    for (int i = first; i < first + n; ++i) {
      payloads.push_back("p" + std::to_string(i));
      keys.push_back("k" + std::to_string(i % 2));
    }
    if (!poison_key.empty()) keys[static_cast<std::size_t>(n / 2)] = std::string(poison_key);
    for (int j = 0; j < n; ++j) {
      int i = first + j;
      auto u = static_cast<std::size_t>(j);
      rows.push_back(OutboxRow{.topic = "vigil/gw1/line1",
                               .pipeline = "line1",
                               .key = keys[u],
                               .start_ms = i * 1000,
                               .end_ms = (i + 1) * 1000,
                               .priority = 0,
                               .format = "json",
                               .payload = payloads[u],
                               .created_ns = 1'000 + i,
                               .flags = 0});
    }
  }
};

}  // namespace

TEST_CASE("a new outbox has schema version 4 with WAL journal and its four tables and both indexes", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto path = dir.file("outbox.db");
  open_ok(path);

  vigil::test::Sqlite db(path);
  CHECK(db.integer("PRAGMA user_version") == 4);
  CHECK(db.text("PRAGMA journal_mode") == "wal");
  CHECK(db.integer("SELECT count(*) FROM sqlite_master WHERE type = 'table'") == 4);
  CHECK(db.text("SELECT sql FROM sqlite_master WHERE name = 'outbox_eviction'") ==
        "CREATE INDEX outbox_eviction ON outbox(priority, seq)");
  CHECK(db.integer("SELECT count(*) FROM pragma_table_info('outbox') WHERE name = 'created_clock_ns'") == 1);
  CHECK(db.column("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") ==
        std::vector<std::string>{"checkpoints", "meta", "outbox", "window_marks"});
  CHECK(db.text("SELECT sql FROM sqlite_master WHERE name = 'outbox_alerts'") ==
        "CREATE INDEX outbox_alerts ON outbox(seq) WHERE priority > 0");
  CHECK(db.text("SELECT value FROM meta WHERE key = 'gateway'") == "gw1");
  CHECK(db.text("SELECT value FROM meta WHERE key = 'created'").size() == 20);  // 2024-03-01T12:00:00Z
}

TEST_CASE("missing parent folders of the outbox are created", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto path = dir.file("var/lib/vigil/outbox.db");
  open_ok(path);
  CHECK(std::filesystem::exists(path));
}

TEST_CASE("the outbox epoch persists across reopen and differs between databases", "[sync][outbox]") {
  vigil::test::TempDir dir;
  std::string first_epoch;
  {
    auto outbox = open_ok(dir.file("a.db"));
    first_epoch = outbox->epoch();
  }
  CHECK(first_epoch.size() == 16);
  CHECK(first_epoch.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(open_ok(dir.file("a.db"))->epoch() == first_epoch);
  CHECK(open_ok(dir.file("b.db"))->epoch() != first_epoch);
  CHECK(vigil::test::Sqlite(dir.file("a.db")).text("SELECT value FROM meta WHERE key = 'epoch'") == first_epoch);
}

TEST_CASE("a later open with another gateway id updates the stored gateway", "[sync][outbox]") {
  vigil::test::TempDir dir;
  open_ok(dir.file("o.db"), {.gateway = "old"});
  CHECK(open_ok(dir.file("o.db"), {.gateway = ""})->gateway() == "old");
  CHECK(open_ok(dir.file("o.db"), {.gateway = "new"})->gateway() == "new");
  CHECK(open_ok(dir.file("o.db"), {.gateway = ""})->gateway() == "new");
}

TEST_CASE("seq numbers keep increasing across reopen, also after the newest rows were deleted",
          "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto path = dir.file("o.db");
  {
    auto outbox = open_ok(path);
    Rows batch(0, 3);
    auto range = outbox->append(batch.rows);
    REQUIRE(range.ok());
    CHECK(range->first == 1);
    CHECK(range->count == 3);
  }
  {
    auto outbox = open_ok(path);
    Rows batch(3, 2);
    auto range = outbox->append(batch.rows);
    REQUIRE(range.ok());
    CHECK(range->first == 4);
    CHECK(range->last() == 5);
  }
  vigil::test::Sqlite db(path);
  CHECK(db.column("SELECT seq FROM outbox ORDER BY seq") == std::vector<std::string>{"1", "2", "3", "4", "5"});
  CHECK(db.column("SELECT payload FROM outbox ORDER BY seq") ==
        std::vector<std::string>{"p0", "p1", "p2", "p3", "p4"});

  // The publisher deletes acknowledged rows, the newest included: their seqs stay used.
  REQUIRE(db.exec("DELETE FROM outbox") == SQLITE_OK);
  auto outbox = open_ok(path);
  Rows batch(5, 1);
  auto range = outbox->append(batch.rows);
  REQUIRE(range.ok());
  CHECK(range->first == 6);
  CHECK(db.column("SELECT seq FROM outbox") == std::vector<std::string>{"6"});
}

TEST_CASE("a row that fails mid-batch rolls back the whole batch and uses up no seq", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto path = dir.file("o.db");
  auto outbox = open_ok(path);
  vigil::test::Sqlite db(path);
  REQUIRE(db.exec("CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.key = 'poison' "
                  "BEGIN SELECT RAISE(ABORT, 'simulated disk error'); END") == SQLITE_OK);

  Rows bad(0, 6, "poison");
  auto failed = outbox->append(bad.rows);
  REQUIRE_FALSE(failed.ok());
  CHECK_THAT(failed.error().message, Catch::Contains("simulated disk error") && Catch::Contains(path));
  CHECK(db.integer("SELECT count(*) FROM outbox") == 0);
  CHECK(db.integer("SELECT count(*) FROM window_marks") == 0);
  CHECK(db.text("SELECT value FROM meta WHERE key = 'next_seq'") == "1");

  REQUIRE(db.exec("DROP TRIGGER refuse") == SQLITE_OK);
  auto retried = outbox->append(bad.rows);
  REQUIRE(retried.ok());
  CHECK(retried->first == 1);
  CHECK(db.integer("SELECT count(*) FROM outbox") == 6);
}

TEST_CASE("a write while another connection holds the lock fails cleanly and a retry succeeds",
          "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto path = dir.file("o.db");
  auto outbox = open_ok(path, {.gateway = "gw1", .busy_timeout_ms = 50});
  vigil::test::Sqlite db(path);
  REQUIRE(db.exec("BEGIN EXCLUSIVE") == SQLITE_OK);

  Rows batch(0, 10);
  auto failed = outbox->append(batch.rows);
  REQUIRE_FALSE(failed.ok());
  CHECK_THAT(failed.error().message, Catch::Contains("SQLITE_BUSY"));

  REQUIRE(db.exec("ROLLBACK") == SQLITE_OK);
  CHECK(db.integer("SELECT count(*) FROM outbox") == 0);
  auto retried = outbox->append(batch.rows);
  REQUIRE(retried.ok());
  CHECK(retried->first == 1);
  CHECK(db.integer("SELECT count(*) FROM outbox") == 10);
}

TEST_CASE("window marks keep the latest window end per pipeline and key", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto outbox = open_ok(dir.file("o.db"));
  Rows first(0, 4);   // k0 ends 1000, 3000; k1 ends 2000, 4000
  REQUIRE(outbox->append(first.rows).ok());
  Rows late(0, 1);    // an older window of k0 must not move its mark back
  REQUIRE(outbox->append(late.rows).ok());

  auto marks = outbox->window_marks();
  REQUIRE(marks.ok());
  REQUIRE(marks->size() == 2);
  CHECK((*marks)[0].pipeline == "line1");
  CHECK((*marks)[0].key == "k0");
  CHECK((*marks)[0].last_end_ms == 3000);
  CHECK((*marks)[1].key == "k1");
  CHECK((*marks)[1].last_end_ms == 4000);
}

TEST_CASE("stats count rows, payload bytes, the oldest row and the seq range", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto outbox = open_ok(dir.file("o.db"));
  auto empty = outbox->stats();
  REQUIRE(empty.ok());
  CHECK(empty->rows == 0);
  CHECK(empty->first_seq == 0);
  CHECK(empty->next_seq == 1);

  Rows batch(8, 5);  // payloads p8, p9, p10, p11, p12: 2+2+3+3+3 bytes
  REQUIRE(outbox->append(batch.rows).ok());
  auto s = outbox->stats();
  REQUIRE(s.ok());
  CHECK(s->rows == 5);
  CHECK(s->bytes == 13);
  CHECK(s->oldest_created_ns == 1'008);
  CHECK(s->first_seq == 1);
  CHECK(s->last_seq == 5);
  CHECK(s->next_seq == 6);
  CHECK(s->gateway == "gw1");
  CHECK(s->epoch == outbox->epoch());
}

TEST_CASE("tail returns the last rows oldest first with every column", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto outbox = open_ok(dir.file("o.db"));
  Rows batch(0, 5);
  REQUIRE(outbox->append(batch.rows).ok());

  auto tail = outbox->tail(2);
  REQUIRE(tail.ok());
  REQUIRE(tail->size() == 2);
  const auto& last = (*tail)[1];
  CHECK((*tail)[0].seq == 4);
  CHECK(last.seq == 5);
  CHECK(last.payload == "p4");
  CHECK(last.pipeline == "line1");
  CHECK(last.key == "k0");
  CHECK(last.start_ms == 4000);
  CHECK(last.end_ms == 5000);
  CHECK(last.format == "json");
  CHECK(last.created_ns == 1'004);
  CHECK(outbox->tail(100)->size() == 5);
}

TEST_CASE("an empty payload is stored as an empty blob", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto outbox = open_ok(dir.file("o.db"));
  OutboxRow row{.topic = "t", .pipeline = "p", .key = "k", .format = "json", .payload = {}};
  REQUIRE(outbox->append({&row, 1}).ok());
  CHECK(outbox->tail(1)->front().payload.empty());
}

TEST_CASE("an outbox with a newer schema version is refused", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto path = dir.file("o.db");
  open_ok(path);
  REQUIRE(vigil::test::Sqlite(path).exec("PRAGMA user_version = 7") == SQLITE_OK);

  auto opened = Outbox::open(path, {});
  REQUIRE_FALSE(opened.ok());
  CHECK_THAT(opened.error().message,
             Catch::Contains(path) && Catch::Contains("schema version 7 is newer") && Catch::Contains("(4)"));
}

TEST_CASE("a file that is not a database gives a clear error", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto path = dir.file("o.db");
  vigil::test::write_file(path, std::string(8192, 'x'));

  auto opened = Outbox::open(path, {});
  REQUIRE_FALSE(opened.ok());
  CHECK_THAT(opened.error().message, Catch::Contains(path) && Catch::Contains("SQLITE_NOTADB") &&
                                         Catch::Contains("move it away"));
}

TEST_CASE("an SQLite database of another program is not taken over", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto path = dir.file("other.db");
  {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
    REQUIRE(sqlite3_exec(raw, "CREATE TABLE recipes(name TEXT)", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  }
  auto opened = Outbox::open(path, {});
  REQUIRE_FALSE(opened.ok());
  CHECK_THAT(opened.error().message, Catch::Contains("not a Vigil outbox"));
  CHECK(vigil::test::Sqlite(path).integer("SELECT count(*) FROM sqlite_master WHERE name = 'outbox'") == 0);
}

TEST_CASE("a path whose folder cannot be created gives an error naming it", "[sync][outbox]") {
  vigil::test::TempDir dir;
  vigil::test::write_file(dir.file("plain-file"), "not a folder");
  auto path = dir.file("plain-file/sub/o.db");

  auto opened = Outbox::open(path, {});
  REQUIRE_FALSE(opened.ok());
  CHECK_THAT(opened.error().message, Catch::Contains(path) && Catch::Contains("cannot create folder"));
}

TEST_CASE("a read-only open never creates a file and refuses to append", "[sync][outbox]") {
  vigil::test::TempDir dir;
  OutboxOptions read_only;
  read_only.read_only = true;
  auto missing = Outbox::open(dir.file("missing.db"), read_only);
  REQUIRE_FALSE(missing.ok());
  CHECK_FALSE(std::filesystem::exists(dir.file("missing.db")));

  {
    auto outbox = open_ok(dir.file("o.db"));
    Rows batch(0, 2);
    REQUIRE(outbox->append(batch.rows).ok());
  }
  auto reader = open_ok(dir.file("o.db"), read_only);
  CHECK(reader->gateway() == "gw1");
  CHECK(reader->stats()->rows == 2);
  Rows more(2, 1);
  CHECK_FALSE(reader->append(more.rows).ok());
}

TEST_CASE("a read-only open of a missing file says so and names the path", "[sync][outbox]") {
  vigil::test::TempDir dir;
  OutboxOptions read_only;
  read_only.read_only = true;
  auto missing = Outbox::open(dir.file("nowhere/missing.db"), read_only);
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message, Catch::Matchers::Contains(dir.file("nowhere/missing.db")));
  CHECK_THAT(missing.error().message, Catch::Matchers::Contains("no such file"));
  CHECK_FALSE(std::filesystem::exists(dir.file("nowhere")));
}

TEST_CASE("stats report the schema version and the creation time of the database", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto outbox = open_ok(dir.file("o.db"));
  auto s = outbox->stats();
  REQUIRE(s.ok());
  CHECK(s->schema_version == 4);
  vigil::test::Sqlite db(dir.file("o.db"));
  CHECK(s->created == db.text("SELECT value FROM meta WHERE key = 'created'"));
  CHECK(s->created.size() == 20);  // 2024-01-02T03:04:05Z
  CHECK(s->created.back() == 'Z');
}

TEST_CASE("for_each visits every row from a seq on, in seq order, with every column", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto outbox = open_ok(dir.file("o.db"));
  Rows batch(0, 6);
  REQUIRE(outbox->append(batch.rows).ok());
  vigil::test::Sqlite(dir.file("o.db")).exec("DELETE FROM outbox WHERE seq = 4");

  std::vector<vigil::sync::OutboxRecord> seen;
  auto visited = outbox->for_each(3, [&](const vigil::sync::OutboxRecord& r) {
    seen.push_back(r);
    return true;
  });
  REQUIRE(visited.ok());
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].seq == 3);
  CHECK(seen[1].seq == 5);
  CHECK(seen[2].seq == 6);
  const auto& last = seen[2];
  CHECK(last.topic == "vigil/gw1/line1");
  CHECK(last.pipeline == "line1");
  CHECK(last.key == "k1");
  CHECK(last.start_ms == 5000);
  CHECK(last.end_ms == 6000);
  CHECK(last.priority == 0);
  CHECK(last.format == "json");
  CHECK(last.payload == "p5");
  CHECK(last.created_ns == 1'005);
  CHECK(last.flags == 0);

  std::size_t all = 0;
  REQUIRE(outbox->for_each(0, [&](const vigil::sync::OutboxRecord&) { return ++all, true; }).ok());
  CHECK(all == 5);
}

TEST_CASE("for_each stops without error when the visitor returns false", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto outbox = open_ok(dir.file("o.db"));
  Rows batch(0, 10);
  REQUIRE(outbox->append(batch.rows).ok());
  std::vector<std::int64_t> seqs;
  auto visited = outbox->for_each(0, [&](const vigil::sync::OutboxRecord& r) {
    seqs.push_back(r.seq);
    return seqs.size() < 3;
  });
  REQUIRE(visited.ok());
  CHECK(seqs == std::vector<std::int64_t>{1, 2, 3});
}

TEST_CASE("for_each on an empty outbox or past the last seq visits nothing", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto outbox = open_ok(dir.file("o.db"));
  int calls = 0;
  REQUIRE(outbox->for_each(0, [&](const vigil::sync::OutboxRecord&) { return ++calls, true; }).ok());
  Rows batch(0, 2);
  REQUIRE(outbox->append(batch.rows).ok());
  REQUIRE(outbox->for_each(3, [&](const vigil::sync::OutboxRecord&) { return ++calls, true; }).ok());
  CHECK(calls == 0);
}

TEST_CASE("for_each works on a read-only outbox while a writer appends", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto writer = open_ok(dir.file("o.db"));
  Rows first(0, 3);
  REQUIRE(writer->append(first.rows).ok());
  OutboxOptions read_only;
  read_only.read_only = true;
  auto reader = open_ok(dir.file("o.db"), read_only);

  std::vector<std::int64_t> seqs;
  Rows more(3, 2);
  auto visited = reader->for_each(0, [&](const vigil::sync::OutboxRecord& r) {
    if (seqs.empty()) REQUIRE(writer->append(more.rows).ok());  // WAL: the reader never blocks it
    seqs.push_back(r.seq);
    return true;
  });
  REQUIRE(visited.ok());
  CHECK(seqs == std::vector<std::int64_t>{1, 2, 3});  // one snapshot: the rows of the first batch
  std::size_t after = 0;
  REQUIRE(reader->for_each(0, [&](const vigil::sync::OutboxRecord&) { return ++after, true; }).ok());
  CHECK(after == 5);
}

TEST_CASE("tail_start gives the seq the last n rows begin at, counting rows across seq gaps",
          "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto outbox = open_ok(dir.file("o.db"));
  CHECK(outbox->tail_start(3).value() == 0);
  Rows batch(0, 6);
  REQUIRE(outbox->append(batch.rows).ok());
  vigil::test::Sqlite(dir.file("o.db")).exec("DELETE FROM outbox WHERE seq = 5");
  CHECK(outbox->tail_start(1).value() == 6);
  CHECK(outbox->tail_start(2).value() == 4);
  CHECK(outbox->tail_start(3).value() == 3);
  CHECK(outbox->tail_start(5).value() == 1);
  CHECK(outbox->tail_start(6).value() == 0);
  CHECK(outbox->tail_start(0).value() == 7);
}

TEST_CASE("a version 1 outbox is upgraded to version 4 on a writable open and keeps its rows",
          "[sync][outbox]") {
  vigil::test::TempDir dir;
  const auto path = dir.file("o.db");
  {
    // What a Vigil of schema 1 left (the schema of that version, written by hand).
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
    const char* v1 =
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
        "CREATE TABLE outbox(seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, pipeline TEXT NOT NULL, "
        "key TEXT NOT NULL, window_start_ms INTEGER, window_end_ms INTEGER, priority INTEGER NOT NULL DEFAULT 0, "
        "format TEXT NOT NULL, payload BLOB NOT NULL, created_ns INTEGER NOT NULL, flags INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE window_marks(pipeline TEXT NOT NULL, key TEXT NOT NULL, last_end_ms INTEGER NOT NULL, "
        "PRIMARY KEY(pipeline, key));"
        "INSERT INTO meta VALUES('gateway','gw1'),('epoch','0123456789abcdef'),('created','2024-01-01T00:00:00Z'),"
        "('next_seq','4');"
        "INSERT INTO outbox(seq, topic, pipeline, key, format, payload, created_ns) VALUES"
        "(1,'t','line1','k0','json','p0',1),(2,'t','line1','k1','json','p1',2),(3,'t','line1','k0','json','p2',3);"
        "PRAGMA user_version = 1;";
    REQUIRE(sqlite3_exec(raw, v1, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  }
  OutboxOptions read_only;
  read_only.read_only = true;
  {
    auto inspected = open_ok(path, read_only);
    CHECK(inspected->stats()->schema_version == 1);  // a read-only open changes nothing
  }
  auto outbox = open_ok(path);
  CHECK(outbox->stats()->schema_version == 4);
  vigil::test::Sqlite db(path);
  CHECK(db.integer("PRAGMA user_version") == 4);
  CHECK(db.integer("SELECT count(*) FROM sqlite_master WHERE name = 'checkpoints'") == 1);
  CHECK(db.integer("SELECT count(*) FROM sqlite_master WHERE name = 'outbox_alerts'") == 1);
  CHECK(db.integer("SELECT count(*) FROM sqlite_master WHERE name = 'outbox_eviction'") == 1);
  CHECK(db.column("SELECT created_clock_ns FROM outbox ORDER BY seq") == std::vector<std::string>{"0", "0", "0"});
  CHECK(db.column("SELECT payload FROM outbox ORDER BY seq") == std::vector<std::string>{"p0", "p1", "p2"});
  CHECK(db.text("PRAGMA integrity_check") == "ok");
}

TEST_CASE("next_rows reads routine rows and alerts as separate lanes in seq order", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto outbox = open_ok(dir.file("o.db"));
  Rows batch(0, 8);
  batch.rows[2].priority = 1;  // seq 3
  batch.rows[5].priority = 2;  // seq 6
  REQUIRE(outbox->append(batch.rows).ok());

  auto seqs = [&](Outbox::Lane lane, std::int64_t after, std::size_t limit) {
    std::vector<std::int64_t> out;
    auto n = outbox->next_rows(lane, after, limit, [&](const vigil::sync::OutboxRecord& r) { out.push_back(r.seq); });
    REQUIRE(n.ok());
    CHECK(*n == out.size());
    return out;
  };
  CHECK(seqs(Outbox::Lane::routine, 0, 100) == std::vector<std::int64_t>{1, 2, 4, 5, 7, 8});
  CHECK(seqs(Outbox::Lane::routine, 2, 3) == std::vector<std::int64_t>{4, 5, 7});
  CHECK(seqs(Outbox::Lane::alerts, 0, 100) == std::vector<std::int64_t>{3, 6});
  CHECK(seqs(Outbox::Lane::alerts, 3, 100) == std::vector<std::int64_t>{6});
  CHECK(seqs(Outbox::Lane::routine, 8, 100).empty());
  std::string payload;
  REQUIRE(outbox->next_rows(Outbox::Lane::alerts, 3, 1, [&](const vigil::sync::OutboxRecord& r) {
    payload = r.payload;
  }).ok());
  CHECK(payload == "p5");
}

TEST_CASE("rows kept local (priority -1) are in neither lane of the publisher", "[sync][outbox]") {
  vigil::test::TempDir dir;
  auto outbox = open_ok(dir.file("o.db"));
  Rows batch(0, 5);
  batch.rows[1].priority = -1;  // seq 2
  batch.rows[3].priority = 1;   // seq 4
  REQUIRE(outbox->append(batch.rows).ok());
  std::vector<std::int64_t> routine, alerts;
  REQUIRE(outbox->next_rows(Outbox::Lane::routine, 0, 100, [&](const vigil::sync::OutboxRecord& r) {
    routine.push_back(r.seq);
  }).ok());
  REQUIRE(outbox->next_rows(Outbox::Lane::alerts, 0, 100, [&](const vigil::sync::OutboxRecord& r) {
    alerts.push_back(r.seq);
  }).ok());
  CHECK(routine == std::vector<std::int64_t>{1, 3, 5});
  CHECK(alerts == std::vector<std::int64_t>{4});
  CHECK(vigil::test::Sqlite(dir.file("o.db")).integer("SELECT priority FROM outbox WHERE seq = 2") == -1);
}

TEST_CASE("remove deletes acknowledged rows in one transaction; seqs keep growing after it",
          "[sync][outbox]") {
  vigil::test::TempDir dir;
  const auto path = dir.file("o.db");
  auto outbox = open_ok(path);
  Rows batch(0, 5);
  REQUIRE(outbox->append(batch.rows).ok());
  const std::vector<std::int64_t> gone = {1, 3, 5, 99};
  REQUIRE(outbox->remove(gone).ok());
  vigil::test::Sqlite db(path);
  CHECK(db.column("SELECT seq FROM outbox ORDER BY seq") == std::vector<std::string>{"2", "4"});
  CHECK(outbox->last_seq().value() == 4);
  Rows more(5, 1);
  auto range = outbox->append(more.rows);
  REQUIRE(range.ok());
  CHECK(range->first == 6);
}

TEST_CASE("last_seq sees rows appended through another connection", "[sync][outbox]") {
  vigil::test::TempDir dir;
  const auto path = dir.file("o.db");
  auto writer = open_ok(path);
  auto reader = open_ok(path);
  CHECK(reader->last_seq().value() == 0);
  Rows batch(0, 4);
  REQUIRE(writer->append(batch.rows).ok());
  CHECK(reader->last_seq().value() == 4);
}

namespace {

vigil::runtime::Checkpoint checkpoint_of(vigil::runtime::CheckpointKind kind, std::int64_t saved,
                                         const std::vector<std::pair<std::string, std::string>>& states) {
  vigil::runtime::Checkpoint cp;
  cp.kind = kind;
  cp.saved_ns = saved;
  for (const auto& [pipeline, bytes] : states) {
    vigil::runtime::PipelineState p;
    p.pipeline = pipeline;
    p.config_hash = "hash-" + pipeline;
    for (char c : bytes) p.state.push_back(static_cast<std::byte>(c));
    cp.pipelines.push_back(std::move(p));
  }
  return cp;
}

std::string text_of(const std::vector<std::byte>& bytes) {
  std::string out;
  for (std::byte b : bytes) out += static_cast<char>(b);
  return out;
}

}  // namespace

TEST_CASE("a checkpoint stored with rows is read back whole and a newer one replaces it", "[sync][outbox][checkpoint]") {
  using vigil::runtime::CheckpointKind;
  vigil::test::TempDir dir;
  const auto path = dir.file("o.db");
  {
    auto outbox = open_ok(path);
    auto none = outbox->saved_state();
    REQUIRE(none.ok());
    CHECK_FALSE(none->has_checkpoint);
    Rows batch(0, 4);
    const auto first = checkpoint_of(CheckpointKind::periodic, 111, {{"line1", std::string("a\0b", 3)}, {"line2", "xyz"}});
    REQUIRE(outbox->append(batch.rows, &first).ok());
    const auto second = checkpoint_of(CheckpointKind::shutdown, 222, {{"line1", "new"}});
    REQUIRE(outbox->append({}, &second).ok());  // a checkpoint alone, with no rows
  }
  auto outbox = open_ok(path);
  auto saved = outbox->saved_state();
  REQUIRE(saved.ok());
  REQUIRE(saved->has_checkpoint);
  CHECK(saved->checkpoint.kind == CheckpointKind::shutdown);
  CHECK(saved->checkpoint.saved_ns == 222);
  REQUIRE(saved->checkpoint.pipelines.size() == 1);  // line2's state went with the old checkpoint
  CHECK(saved->checkpoint.pipelines[0].pipeline == "line1");
  CHECK(saved->checkpoint.pipelines[0].config_hash == "hash-line1");
  CHECK(text_of(saved->checkpoint.pipelines[0].state) == "new");
  // The window marks of the rows: k0 last ended with row 2 (end 3000), k1 with row 3 (4000).
  REQUIRE(saved->marks.size() == 2);
  CHECK(saved->marks[0].key == "k0");
  CHECK(saved->marks[0].last_end_ms == 3000);
  CHECK(saved->marks[1].last_end_ms == 4000);
  auto stats = outbox->stats();
  REQUIRE(stats.ok());
  CHECK(stats->checkpoint_kind == "shutdown");
  CHECK(stats->checkpoint_pipelines == 1);
  CHECK(stats->checkpoint_bytes == 3);
  CHECK(stats->checkpoint_saved_ns == 222);
  CHECK(stats->rows == 4);
}

TEST_CASE("a failed append stores neither its rows nor its checkpoint", "[sync][outbox][checkpoint]") {
  using vigil::runtime::CheckpointKind;
  vigil::test::TempDir dir;
  const auto path = dir.file("o.db");
  auto outbox = open_ok(path);
  const auto old = checkpoint_of(CheckpointKind::periodic, 1, {{"line1", "old"}});
  REQUIRE(outbox->append({}, &old).ok());
  vigil::test::Sqlite db(path);
  REQUIRE(db.exec("CREATE TRIGGER refuse BEFORE INSERT ON checkpoints "
                  "BEGIN SELECT RAISE(ABORT, 'simulated disk error'); END") == SQLITE_OK);
  Rows batch(0, 3);
  const auto fresh = checkpoint_of(CheckpointKind::periodic, 2, {{"line1", "fresh"}});
  auto failed = outbox->append(batch.rows, &fresh);
  REQUIRE_FALSE(failed.ok());
  CHECK_THAT(failed.error().message, Catch::Contains("checkpoint"));
  CHECK(db.integer("SELECT count(*) FROM outbox") == 0);
  CHECK(db.integer("SELECT count(*) FROM window_marks") == 0);
  CHECK(db.text("SELECT state FROM checkpoints") == "old");
  REQUIRE(db.exec("DROP TRIGGER refuse") == SQLITE_OK);
  auto retried = outbox->append(batch.rows, &fresh);
  REQUIRE(retried.ok());
  CHECK(retried->first == 1);  // the failed attempt used up no seq
  CHECK(db.text("SELECT state FROM checkpoints") == "fresh");
  CHECK(db.integer("SELECT count(*) FROM outbox") == 3);
}

TEST_CASE("a mark-only row moves its window mark and takes no seq", "[sync][outbox][checkpoint]") {
  vigil::test::TempDir dir;
  auto outbox = open_ok(dir.file("o.db"));
  Rows batch(0, 3);
  batch.rows[1].mark_only = true;  // k1, end 2000: emitted but kept local
  auto range = outbox->append(batch.rows);
  REQUIRE(range.ok());
  CHECK(range->count == 2);
  vigil::test::Sqlite db(dir.file("o.db"));
  CHECK(db.column("SELECT seq || ':' || key FROM outbox ORDER BY seq") == std::vector<std::string>{"1:k0", "2:k0"});
  CHECK(db.column("SELECT key || ':' || last_end_ms FROM window_marks ORDER BY key") ==
        std::vector<std::string>{"k0:3000", "k1:2000"});
}

namespace {

// Opens `path` as the summary writer on boot `boot`.
std::unique_ptr<Outbox> open_writer(const std::string& path, const std::string& boot, bool full = false) {
  return open_ok(path, {.gateway = "gw1", .durability_full = full, .boot_id = boot, .writer = true});
}

// The files of a WAL database as they are now (what a disk holds after a power cut that lost
// everything written later).
struct DiskImage {
  explicit DiskImage(const std::string& path) : path_(path) {
    for (const char* suffix : {"", "-wal"}) {
      const std::string from = path + suffix;
      if (std::filesystem::exists(from)) std::filesystem::copy_file(from, path + suffix + ".image",
                                                                    std::filesystem::copy_options::overwrite_existing);
    }
  }
  void restore() const {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
    for (const char* suffix : {"", "-wal"})
      if (std::filesystem::exists(path_ + suffix + ".image"))
        std::filesystem::copy_file(path_ + suffix + ".image", path_ + suffix);
  }
  std::string path_;
};

}  // namespace

TEST_CASE("after a power loss under durability normal a writer skips seqs so none is reused", "[sync][outbox][power]") {
  vigil::test::TempDir dir;
  const auto path = dir.file("o.db");
  std::unique_ptr<DiskImage> image;
  {
    auto outbox = open_writer(path, "boot-A");
    Rows first(0, 5);
    REQUIRE(outbox->append(first.rows).ok());
    image = std::make_unique<DiskImage>(path);  // seqs 1..5 reached the disk
    Rows lost(5, 5);
    auto range = outbox->append(lost.rows);  // 6..10: committed, maybe published, then lost
    REQUIRE(range.ok());
    CHECK(range->last() == 10);
  }
  image->restore();  // the power cut: the writer never closed, the last commits are gone
  auto outbox = open_writer(path, "boot-B");
  const auto skipped = outbox->skipped_after_power_loss();
  CHECK(skipped.first == 6);
  CHECK(skipped.count == 1'000'000);
  Rows next(10, 1);
  auto range = outbox->append(next.rows);
  REQUIRE(range.ok());
  CHECK(range->first > 10);
  CHECK(range->first == 1'000'007);  // after the skipped seqs and the gap record's own seq
  vigil::test::Sqlite db(path);
  CHECK(db.text("SELECT payload FROM outbox WHERE format = 'gap'") ==
        R"({"first":6,"last":1000005,"rows":0,"bytes":0,"reason":"power_loss"})");
  CHECK(db.integer("SELECT seq FROM outbox WHERE format = 'gap'") == 1'000'006);
  CHECK(db.integer("SELECT priority FROM outbox WHERE format = 'gap'") == vigil::sync::kGapPriority);
}

TEST_CASE("a writer skips no seq after a clean close or a kill within the same boot or under durability full",
          "[sync][outbox][power]") {
  vigil::test::TempDir dir;
  const auto path = dir.file("o.db");
  Rows rows(0, 3);
  SECTION("killed, same boot") {
    std::unique_ptr<DiskImage> image;
    {
      auto outbox = open_writer(path, "boot-A");
      REQUIRE(outbox->append(rows.rows).ok());
      image = std::make_unique<DiskImage>(path);
    }
    image->restore();  // as a kill -9 leaves it: "open", but the page cache kept every commit
    CHECK(open_writer(path, "boot-A")->skipped_after_power_loss().count == 0);
  }
  SECTION("closed cleanly, rebooted") {
    REQUIRE(open_writer(path, "boot-A")->append(rows.rows).ok());
    auto outbox = open_writer(path, "boot-B");
    CHECK(outbox->skipped_after_power_loss().count == 0);
    CHECK(outbox->append(rows.rows)->first == 4);
  }
  SECTION("durability full, rebooted") {
    std::unique_ptr<DiskImage> image;
    {
      auto outbox = open_writer(path, "boot-A", true);
      REQUIRE(outbox->append(rows.rows).ok());
      image = std::make_unique<DiskImage>(path);
    }
    image->restore();
    CHECK(open_writer(path, "boot-B", true)->skipped_after_power_loss().count == 0);
  }
  SECTION("a reader never claims the outbox") {
    { REQUIRE(open_ok(path)->append(rows.rows).ok()); }
    vigil::test::Sqlite db(path);
    CHECK(db.integer("SELECT count(*) FROM meta WHERE key = 'writer'") == 0);
  }
}
