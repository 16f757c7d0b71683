// `vigil outbox DB stats|tail|export`: the real binary reads an outbox that `vigil replay
// --outbox` filled from tests/e2e/data/outbox/.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "vigil_process.hpp"

namespace vigil::test {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;


// Runs `sql` on the database with a connection of its own; returns the first column of the
// first row (empty when none).
std::string sql(const std::string& path, const std::string& statement) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, statement.c_str(), -1, &stmt, nullptr);
  INFO(statement << ": " << sqlite3_errmsg(db));
  std::string first;
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      first = text ? text : "";
      rc = SQLITE_DONE;
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_DONE);
  return first;
}

// An outbox filled by `vigil replay --outbox` (five summaries, see data/outbox/README.md),
// with its wall-clock columns pinned so the output can be compared byte for byte:
// created_ns = 1700000030000000000 + seq ms, created = 2023-11-14T22:13:20Z.
struct FilledOutbox {
  TempDir dir;
  std::string db;
  std::string epoch;
  std::string replay_out;

  FilledOutbox() {
    std::string config = dir.file("outbox.yaml");
    write_file(config, read_file(source_path("tests/e2e/data/outbox/outbox.yaml")));
    auto r = run_vigil({"replay", config, "--input", source_path("tests/e2e/data/outbox/input.csv"), "--outbox"});
    REQUIRE(r.exit_code == 0);
    replay_out = r.out;
    db = dir.file("var/outbox.db");
    sql(db, "UPDATE outbox SET created_ns = 1700000030000000000 + seq * 1000000");
    sql(db, "UPDATE meta SET value = '2023-11-14T22:13:20Z' WHERE key = 'created'");
    epoch = sql(db, "SELECT value FROM meta WHERE key = 'epoch'");
    REQUIRE(epoch.size() == 16);
  }
};

// The JSON line of row `seq` as tail and export print it (hand-written from the fixture).
std::string row_line(int seq) {
  struct Row {
    const char* key;
    long long start;
    const char* rest;  // count and columns of the payload
    int flags;
  };
  static const Row kRows[] = {
      {"press-1", 1700000000000, "\"count\":2,\"temp_mean\":21,\"temp_max\":22", 0},
      {"pump-1", 1700000000000, "\"count\":1,\"temp_mean\":3.5,\"temp_max\":3.5", 0},
      {"press-1", 1700000010000, "\"count\":1,\"temp_mean\":25.5,\"temp_max\":25.5", 0},
      {"pump-1", 1700000010000, "\"count\":1,\"temp_mean\":4.5,\"temp_max\":4.5", 1},
      {"press-1", 1700000020000, "\"count\":1,\"temp_mean\":30,\"temp_max\":30", 1},
  };
  const Row& r = kRows[seq - 1];
  std::string start = std::to_string(r.start);
  std::string end = std::to_string(r.start + 10000);
  std::string payload = std::string("{\"pipeline\":\"temps\",\"key\":\"") + r.key + "\",\"start\":" + start +
                        ",\"end\":" + end + "," + r.rest + (r.flags ? ",\"partial\":true}" : "}");
  return "{\"seq\":" + std::to_string(seq) + ",\"topic\":\"vigil/outbox-test/temps/" + r.key +
         "\",\"pipeline\":\"temps\",\"key\":\"" + r.key + "\",\"start\":" + start + ",\"end\":" + end +
         ",\"priority\":0,\"flags\":" + std::to_string(r.flags) +
         ",\"created_ns\":" + std::to_string(1700000030000000000LL + seq * 1000000LL) +
         ",\"format\":\"json\",\"payload\":" + payload + "}\n";
}

std::string rows(int first, int last) {
  std::string out;
  for (int seq = first; seq <= last; ++seq) out += row_line(seq);
  return out;
}

}  // namespace

TEST_CASE("outbox stats prints aligned name: value lines describing the database", "[e2e][outbox]") {
  FilledOutbox box;
  auto r = run_vigil({"outbox", box.db, "stats"});
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
  // The age depends on today's date; everything else is exact.
  std::regex age("oldest age:     [0-9]+d[0-9]+h[0-9]+m[0-9]+s\n");
  CHECK(std::regex_search(r.out, age));
  std::string out = std::regex_replace(r.out, age, "oldest age:     AGE\n");
  CHECK(out == "path:           " + box.db + "\n"
               "schema version: 4\n"
               "gateway:        outbox-test\n"
               "epoch:          " + box.epoch + "\n"
               "created:        2023-11-14T22:13:20Z\n"
               "rows:           5\n"
               "payload bytes:  " + sql(box.db, "SELECT sum(length(payload)) FROM outbox") + "\n"
               "oldest created: 2023-11-14T22:13:50.001Z\n"
               "oldest age:     AGE\n"
               "seq range:      1..5\n"
               "next seq:       6\n"
               "used bytes:     " + sql(box.db, "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()") + "\n"
               "evicted:        0 rows, 0 payload bytes, in 0 gap records\n"
               "checkpoint:     -\n");
}

TEST_CASE("outbox stats --json prints one JSON object with the same figures", "[e2e][outbox]") {
  FilledOutbox box;
  auto r = run_vigil({"outbox", box.db, "stats", "--json"});
  CHECK(r.exit_code == 0);
  std::regex age("\"oldest_age_s\":([0-9]+),");
  std::smatch m;
  REQUIRE(std::regex_search(r.out, m, age));
  CHECK(std::stoll(m[1]) > 86400LL * 365 * 2);  // written in Nov 2023
  std::string out = std::regex_replace(r.out, age, "\"oldest_age_s\":AGE,");
  CHECK(out == "{\"path\":\"" + box.db + "\",\"schema_version\":4,\"gateway\":\"outbox-test\",\"epoch\":\"" +
                   box.epoch + "\",\"created\":\"2023-11-14T22:13:20Z\",\"rows\":5,\"payload_bytes\":" +
                   sql(box.db, "SELECT sum(length(payload)) FROM outbox") +
                   ",\"oldest_created\":\"2023-11-14T22:13:50.001Z\",\"oldest_created_ns\":1700000030001000000,"
                   "\"oldest_age_s\":AGE,\"first_seq\":1,\"last_seq\":5,\"next_seq\":6,\"used_bytes\":" + sql(box.db, "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()") +
                   ",\"evicted_rows\":0,\"evicted_bytes\":0,\"gap_records\":0,\"checkpoint\":null}\n");
}

TEST_CASE("outbox stats of an emptied outbox shows no rows and keeps the next seq", "[e2e][outbox]") {
  FilledOutbox box;
  sql(box.db, "DELETE FROM outbox");
  auto text = run_vigil({"outbox", box.db, "stats"});
  CHECK(text.exit_code == 0);
  CHECK_THAT(text.out, Contains("rows:           0\n"
                                "payload bytes:  0\n"
                                "oldest created: -\n"
                                "oldest age:     -\n"
                                "seq range:      -\n"
                                "next seq:       6\n"));
  auto json = run_vigil({"outbox", box.db, "stats", "--json"});
  CHECK(json.exit_code == 0);
  CHECK_THAT(json.out, Contains(",\"rows\":0,\"payload_bytes\":0,\"oldest_created\":null,\"oldest_created_ns\":null,"
                                "\"oldest_age_s\":null,\"first_seq\":null,\"last_seq\":null,\"next_seq\":6,"));
}

TEST_CASE("outbox tail N prints the last N rows oldest first as JSON lines", "[e2e][outbox]") {
  FilledOutbox box;
  auto two = run_vigil({"outbox", box.db, "tail", "2"});
  CHECK(two.exit_code == 0);
  CHECK(two.err.empty());
  CHECK(two.out == rows(4, 5));

  auto all = run_vigil({"outbox", box.db, "tail"});  // default 10: all five
  CHECK(all.exit_code == 0);
  CHECK(all.out == rows(1, 5));

  auto none = run_vigil({"outbox", box.db, "tail", "0"});
  CHECK(none.exit_code == 0);
  CHECK(none.out.empty());
}

TEST_CASE("outbox tail counts rows, not seqs, when forwarded rows left gaps", "[e2e][outbox]") {
  FilledOutbox box;
  sql(box.db, "DELETE FROM outbox WHERE seq = 4");
  auto r = run_vigil({"outbox", box.db, "tail", "2"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == row_line(3) + row_line(5));
}

TEST_CASE("outbox export --json prints every row as a JSON line whose payload is the summary",
          "[e2e][outbox]") {
  FilledOutbox box;
  auto r = run_vigil({"outbox", box.db, "export", "--json"});
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
  CHECK(r.out == rows(1, 5));
  // The payloads are exactly the summaries replay printed.
  std::string payloads;
  for (const auto& line : split_lines(r.out)) {
    auto at = line.find(",\"payload\":");
    REQUIRE(at != std::string::npos);
    payloads += line.substr(at + 11, line.size() - at - 12) + "\n";
  }
  CHECK(payloads == box.replay_out);

  auto plain = run_vigil({"outbox", box.db, "export"});  // JSON lines are the default
  CHECK(plain.out == r.out);
}

TEST_CASE("outbox export shows a payload that is not JSON as a base64 string", "[e2e][outbox]") {
  FilledOutbox box;
  sql(box.db, "UPDATE outbox SET format = 'flatbuffers', payload = X'00FF10' WHERE seq = 1");
  sql(box.db, "UPDATE outbox SET payload = CAST('{\"broken\":' AS BLOB) WHERE seq = 2");
  auto r = run_vigil({"outbox", box.db, "export", "--json"});
  CHECK(r.exit_code == 0);
  auto lines = split_lines(r.out);
  REQUIRE(lines.size() == 5);
  CHECK_THAT(lines[0], Contains(",\"format\":\"flatbuffers\",\"payload\":\"AP8Q\"}"));
  CHECK_THAT(lines[1], Contains(",\"format\":\"json\",\"payload\":\"eyJicm9rZW4iOg==\"}"));
  CHECK(r.out.substr(lines[0].size() + lines[1].size() + 2) == rows(3, 5));
}

TEST_CASE("outbox never writes the database it reads", "[e2e][outbox]") {
  FilledOutbox box;
  std::string before = read_file(box.db);
  for (const char* sub : {"stats", "tail", "export"}) REQUIRE(run_vigil({"outbox", box.db, sub}).exit_code == 0);
  CHECK(read_file(box.db) == before);
}

TEST_CASE("outbox with a missing DB exits 1, names the path and creates nothing", "[e2e][outbox]") {
  TempDir dir;
  std::string missing = dir.file("var/none.db");
  for (const char* sub : {"stats", "tail", "export"}) {
    auto r = run_vigil({"outbox", missing, sub});
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Contains(missing));
    CHECK_THAT(r.err, Contains("no such file"));
  }
  CHECK_FALSE(std::filesystem::exists(dir.file("var")));
}

TEST_CASE("outbox on a file that is not an outbox exits 1 and names it", "[e2e][outbox]") {
  TempDir dir;
  std::string text = dir.file("notes.txt");
  write_file(text, "not a database, just some text that is long enough to fill a header page\n");
  auto r = run_vigil({"outbox", text, "stats"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains(text));
}

TEST_CASE("outbox usage errors exit 2 and print the outbox usage", "[e2e][outbox]") {
  FilledOutbox box;
  const std::vector<std::vector<std::string>> cases = {
      {"outbox"},
      {"outbox", box.db},
      {"outbox", box.db, "frob"},
      {"outbox", box.db, "tail", "ten"},
      {"outbox", box.db, "tail", "-3"},
      {"outbox", box.db, "tail", "2", "3"},
      {"outbox", box.db, "stats", "--yaml"},
      {"outbox", box.db, "export", "extra"},
  };
  for (const auto& args : cases) {
    auto r = run_vigil(args);
    const std::string what = args.size() > 2 ? args[2] : std::string("(no subcommand)");
    INFO(what);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, StartsWith("vigil outbox: "));
    CHECK_THAT(r.err, Contains("usage: vigil outbox DB stats"));
  }
  CHECK_THAT(run_vigil({"outbox", box.db, "frob"}).err, Contains("unknown subcommand \"frob\""));
  CHECK_THAT(run_vigil({"outbox", box.db, "tail", "ten"}).err, Contains("\"ten\" is not a whole number"));
}

TEST_CASE("vigil help lists the outbox command", "[e2e][outbox]") {
  auto r = run_vigil({"help"});
  CHECK_THAT(r.out, Contains("outbox DB stats [--json] | tail [N] | export [--json]"));
}

}  // namespace vigil::test
