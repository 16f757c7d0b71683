#include "vigil/sync/outbox.hpp"

#include <sqlite3.h>
#include <time.h>

#include <algorithm>
#include <fstream>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <utility>

namespace vigil::sync {
namespace {

using runtime::Error;
using runtime::Result;
using runtime::ok;

constexpr const char* kCreateSchema = R"sql(
CREATE TABLE meta(
  key TEXT PRIMARY KEY,
  value TEXT
);
CREATE TABLE outbox(
  seq INTEGER PRIMARY KEY,
  topic TEXT NOT NULL,
  pipeline TEXT NOT NULL,
  key TEXT NOT NULL,
  window_start_ms INTEGER,
  window_end_ms INTEGER,
  priority INTEGER NOT NULL DEFAULT 0,
  format TEXT NOT NULL,
  payload BLOB NOT NULL,
  created_ns INTEGER NOT NULL,
  flags INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE window_marks(
  pipeline TEXT NOT NULL,
  key TEXT NOT NULL,
  last_end_ms INTEGER NOT NULL,
  PRIMARY KEY(pipeline, key)
);
)sql";

// Schema 2: the alert lane of the upstream publisher reads the rows with priority > 0 in seq
// order; this partial index holds only those, so finding the next alert never walks the
// routine backlog (which may be millions of rows after a long outage).
constexpr const char* kSchema2 =
    "CREATE INDEX IF NOT EXISTS outbox_alerts ON outbox(seq) WHERE priority > 0";

// Schema 3: the outbox clock of each row (for max_age; rows of older versions read 0, as old
// as the clock itself) and the eviction order (priority, then seq) as an index, so evicting
// never sorts the table.
constexpr const char* kSchema3Column =
    "ALTER TABLE outbox ADD COLUMN created_clock_ns INTEGER NOT NULL DEFAULT 0";
constexpr const char* kSchema3Index = "CREATE INDEX IF NOT EXISTS outbox_eviction ON outbox(priority, seq)";

// Schema 4: window-state checkpoints, one row per pipeline, all replaced together in the
// transaction that stores the rows emitted before them.
constexpr const char* kSchema4 = R"sql(
CREATE TABLE IF NOT EXISTS checkpoints(
  pipeline TEXT PRIMARY KEY,
  config_hash TEXT NOT NULL,
  kind TEXT NOT NULL,
  saved_ns INTEGER NOT NULL,
  state BLOB NOT NULL
)
)sql";

// An eviction pass frees pages down to this share of max_bytes, so the next one comes only
// after the outbox grew by a tenth of its bound again, not at every append.
constexpr std::int64_t kLowWaterPercent = 90;
// What a row costs besides its texts (record header, integers, two index entries), for the
// estimate of how many rows free enough pages; the pages are measured again after each pass.
constexpr std::int64_t kRowOverhead = 64;
constexpr int kMaxEvictionRounds = 16;
// Seqs skipped when the last writer may have lost commits to a power cut (see claim_writer):
// far more rows than one WAL's worth of transactions between syncs can hold.
constexpr std::int64_t kPowerLossSeqSkip = 1'000'000;

// CLOCK_BOOTTIME: monotonic, unaffected by NTP steps, and it keeps counting while the board
// is suspended.
class BootClock final : public runtime::Clock {
 public:
  runtime::Nanos now() const noexcept override {
    timespec ts{};
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return static_cast<runtime::Nanos>(ts.tv_sec) * runtime::kNanosPerSecond + ts.tv_nsec;
  }
};

std::string read_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

// The WAL file is truncated back to this size after a checkpoint, so a burst of writes
// during an uplink outage does not leave a large file behind on a small SD card.
constexpr const char* kJournalSizeLimit = "PRAGMA journal_size_limit=4194304";

std::string_view code_name(int rc) noexcept {
  switch (rc & 0xff) {
    case SQLITE_ERROR: return "SQLITE_ERROR";
    case SQLITE_PERM: return "SQLITE_PERM";
    case SQLITE_ABORT: return "SQLITE_ABORT";
    case SQLITE_BUSY: return "SQLITE_BUSY";
    case SQLITE_LOCKED: return "SQLITE_LOCKED";
    case SQLITE_NOMEM: return "SQLITE_NOMEM";
    case SQLITE_READONLY: return "SQLITE_READONLY";
    case SQLITE_IOERR: return "SQLITE_IOERR";
    case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
    case SQLITE_FULL: return "SQLITE_FULL";
    case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
    case SQLITE_PROTOCOL: return "SQLITE_PROTOCOL";
    case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
    case SQLITE_NOTADB: return "SQLITE_NOTADB";
    default: return "SQLITE_ERROR";
  }
}

// What the user can do about a failure, by primary result code.
std::string_view hint(int rc) noexcept {
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return "; the file is not a Vigil outbox or is damaged: move it away (a new outbox is "
             "created) or set `path` to another file";
    case SQLITE_CANTOPEN:
      return "; check that the folder exists and is writable";
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return "; check the permissions of the file and its folder";
    case SQLITE_FULL:
      return "; free some disk space";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "; another process holds the outbox locked";
    default:
      return "";
  }
}

// Owns one prepared statement.
class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }
  sqlite3_stmt* get() const noexcept { return stmt_; }
  sqlite3_stmt** out() noexcept { return &stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Steps a statement that returns no rows and resets it for the next use.
int run(sqlite3_stmt* stmt) noexcept {
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

// Text and blob binds never copy: the views outlive the step. A null data pointer would bind
// SQL NULL, so empty views bind an empty literal instead.
int bind_text(sqlite3_stmt* stmt, int index, std::string_view text) noexcept {
  return sqlite3_bind_text64(stmt, index, text.empty() ? "" : text.data(), text.size(),
                             SQLITE_STATIC, SQLITE_UTF8);
}

int bind_blob(sqlite3_stmt* stmt, int index, std::string_view bytes) noexcept {
  return sqlite3_bind_blob64(stmt, index, bytes.empty() ? "" : bytes.data(), bytes.size(),
                             SQLITE_STATIC);
}

std::string column_text(sqlite3_stmt* stmt, int column) {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, column));
  int size = sqlite3_column_bytes(stmt, column);
  return data ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::string utc_now_rfc3339() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

std::string random_epoch() {
  // SQLite's generator is seeded from the operating system's entropy source.
  std::uint64_t bits = 0;
  sqlite3_randomness(sizeof bits, &bits);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, bits);
  return std::string(buf, 16);
}

}  // namespace

struct Outbox::Impl {
  sqlite3* db = nullptr;
  std::string path;
  std::string gateway;
  std::string epoch;
  bool read_only = false;
  int schema_version = 0;
  std::string created;
  std::int64_t next_seq = 1;
  std::int64_t max_bytes = 0;
  runtime::Nanos max_age = 0;
  BootClock boot_clock;
  const runtime::Clock* clock = &boot_clock;
  std::string boot_id;
  bool writer = false;       // this connection appends summaries (OutboxOptions::writer)
  bool durability_full = false;
  SeqRange skipped;          // seqs skipped at open after a suspected power loss
  std::string writer_text(const char* state) const {
    return (boot_id.empty() ? std::string("-") : boot_id) + (durability_full ? " full " : " normal ") + state;
  }
  runtime::Nanos clock_base = 0;    // outbox clock when the database was opened
  runtime::Nanos clock_origin = 0;  // clock->now() when it was opened
  std::int64_t page_size = 4096;
  EvictionStats evicted;            // since creation; in meta "evicted"
  std::vector<std::int64_t> victims;  // seqs chosen by one eviction pass (writer thread)
  std::string gap_payload;
  OutboxRecord scratch;  // reused by next_rows(), keeps its strings' capacity
  // Prepared once and reset after each use (declared after db: finalized before it closes).
  Statement begin;
  Statement commit;
  Statement rollback;
  Statement insert_row;
  Statement upsert_mark;
  Statement store_next_seq;
  Statement select_routine;
  Statement select_alerts;
  Statement delete_row;
  Statement select_max_seq;
  Statement eviction_order;
  Statement oldest_rows;
  Statement store_meta;
  Statement clear_checkpoints;
  Statement insert_checkpoint;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  // close_v2 waits for the statements, which are finalized right after this body runs.
  ~Impl() {
    // A clean close: the next writer need not suspect lost commits (see claim_writer).
    if (writer && db != nullptr && sqlite3_get_autocommit(db)) put_meta("writer", writer_text("closed"));
    sqlite3_close_v2(db);
  }

  // "outbox PATH: WHAT: sqlite message (SQLITE_X); hint", with the message read before any
  // later call overwrites it.
  Error error(std::string_view what, int rc) const {
    std::string message = "outbox " + path + ": ";
    message += what;
    message += ": ";
    message += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    message += " (";
    message += code_name(rc);
    message += ")";
    message += hint(rc);
    return Error{std::move(message)};
  }

  Error error(std::string_view what) const { return Error{"outbox " + path + ": " + std::string(what)}; }

  int exec(const char* sql) noexcept { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); }

  int prepare(Statement& stmt, const char* sql) noexcept {
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt.out(), nullptr);
  }

  // Runs a query expected to return one integer (0 when it returns no row or NULL).
  int query_int(const char* sql, std::int64_t& out) noexcept {
    Statement stmt;
    int rc = sqlite3_prepare_v2(db, sql, -1, stmt.out(), nullptr);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_step(stmt.get());
    out = rc == SQLITE_ROW ? sqlite3_column_int64(stmt.get(), 0) : 0;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  // Reads one meta value; `found` is false when the key is absent.
  int read_meta(std::string_view key, std::string& value, bool& found) {
    Statement stmt;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, stmt.out(),
                                nullptr);
    if (rc != SQLITE_OK) return rc;
    bind_text(stmt.get(), 1, key);
    rc = sqlite3_step(stmt.get());
    found = rc == SQLITE_ROW;
    if (found) value = column_text(stmt.get(), 0);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  int write_meta(std::string_view key, std::string_view value) noexcept {
    Statement stmt;
    int rc = sqlite3_prepare_v2(
        db, "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        -1, stmt.out(), nullptr);
    if (rc != SQLITE_OK) return rc;
    bind_text(stmt.get(), 1, key);
    bind_text(stmt.get(), 2, value);
    rc = run(stmt.get());
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  // Rolls back whatever is open (SQLite may already have rolled back after FULL or IOERR),
  // and forgets the bound views so no statement points at the caller's memory.
  void abandon_transaction() noexcept {
    if (!sqlite3_get_autocommit(db) && rollback.get() != nullptr) run(rollback.get());
    if (!sqlite3_get_autocommit(db)) exec("ROLLBACK");
    for (auto* stmt : {insert_row.get(), upsert_mark.get(), store_next_seq.get(), delete_row.get(),
                       eviction_order.get(), oldest_rows.get(), store_meta.get(), clear_checkpoints.get(),
                       insert_checkpoint.get()}) {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
    }
  }

  runtime::Nanos clock_now() const noexcept { return clock_base + (clock->now() - clock_origin); }

  // Bytes of pages in use (the file keeps freed pages for reuse; they do not count).
  int used_bytes(std::int64_t& out) noexcept {
    std::int64_t pages = 0, free_pages = 0;
    int rc = query_int("PRAGMA page_count", pages);
    if (rc == SQLITE_OK) rc = query_int("PRAGMA freelist_count", free_pages);
    out = (pages - free_pages) * page_size;
    return rc;
  }

  int put_meta(std::string_view key, std::string_view value) noexcept {
    sqlite3_stmt* stmt = store_meta.get();
    bind_text(stmt, 1, key);
    bind_text(stmt, 2, value);
    int rc = run(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  // What one eviction (one reason, one transaction) removed, for its gap record.
  struct Evicted {
    std::int64_t first = 0;
    std::int64_t last = 0;
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;
  };
  int delete_victims(Evicted& gone) noexcept;
  int write_gap(std::string_view reason, const Evicted& gone, std::int64_t& seq, EvictionStats& pass_total,
                bool always = false) noexcept;
  Result<void> claim_writer();
  int enforce_locked(std::int64_t& seq, EvictionStats& pass_total) noexcept;
  int store_clock() noexcept;
  int write_checkpoint(const runtime::Checkpoint& checkpoint) noexcept;
  Result<void> create_schema(const OutboxOptions& options);
  Result<void> migrate(std::int64_t from_version);
  Result<void> load_meta(const OutboxOptions& options);
  Result<void> prepare_writes();
};

Result<void> Outbox::Impl::create_schema(const OutboxOptions& options) {
  int rc = exec("BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) return error("cannot create the outbox", rc);
  // Another process may have created it while this one waited for the lock.
  std::int64_t version = 0;
  std::int64_t objects = 0;
  rc = query_int("PRAGMA user_version", version);
  if (rc == SQLITE_OK) rc = query_int("SELECT count(*) FROM sqlite_master", objects);
  if (rc != SQLITE_OK) {
    Error e = error("cannot create the outbox", rc);
    exec("ROLLBACK");
    return e;
  }
  if (version != 0) {
    exec("ROLLBACK");
    return ok();
  }
  if (objects != 0) {
    exec("ROLLBACK");
    return error(
        "the file is an SQLite database but not a Vigil outbox (it has tables and no outbox "
        "schema version); move it away or set `path` to another file");
  }
  rc = exec(kCreateSchema);
  if (rc == SQLITE_OK) rc = exec(kSchema2);
  if (rc == SQLITE_OK) rc = exec(kSchema3Column);
  if (rc == SQLITE_OK) rc = exec(kSchema3Index);
  if (rc == SQLITE_OK) rc = exec(kSchema4);
  if (rc == SQLITE_OK) rc = write_meta("gateway", options.gateway);
  if (rc == SQLITE_OK) rc = write_meta("epoch", random_epoch());
  if (rc == SQLITE_OK) rc = write_meta("created", utc_now_rfc3339());
  if (rc == SQLITE_OK) rc = write_meta("next_seq", "1");
  if (rc == SQLITE_OK) rc = exec("PRAGMA user_version = 4");
  if (rc == SQLITE_OK) rc = exec("COMMIT");
  if (rc != SQLITE_OK) {
    Error e = error("cannot create the outbox", rc);
    if (!sqlite3_get_autocommit(db)) exec("ROLLBACK");
    return e;
  }
  return ok();
}

// Brings an older outbox up to kSchemaVersion in one transaction: either the whole migration
// is committed or the file stays as it was (a crash mid-way leaves version 1 intact).
Result<void> Outbox::Impl::migrate(std::int64_t from_version) {
  int rc = exec("BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) return error("cannot upgrade the outbox schema", rc);
  // Another process may have migrated it while this one waited for the lock.
  std::int64_t version = from_version;
  rc = query_int("PRAGMA user_version", version);
  if (rc == SQLITE_OK && version < 2) rc = exec(kSchema2);
  if (rc == SQLITE_OK && version < 3) {
    std::int64_t has_column = 0;
    rc = query_int("SELECT count(*) FROM pragma_table_info('outbox') WHERE name = 'created_clock_ns'", has_column);
    if (rc == SQLITE_OK && has_column == 0) rc = exec(kSchema3Column);
    if (rc == SQLITE_OK) rc = exec(kSchema3Index);
  }
  if (rc == SQLITE_OK && version < 4) rc = exec(kSchema4);
  if (rc == SQLITE_OK && version < kSchemaVersion) {
    const std::string set = "PRAGMA user_version = " + std::to_string(kSchemaVersion);
    rc = exec(set.c_str());
  }
  if (rc == SQLITE_OK) rc = exec("COMMIT");
  if (rc != SQLITE_OK) {
    Error e = error("cannot upgrade the outbox schema from version " + std::to_string(from_version), rc);
    if (!sqlite3_get_autocommit(db)) exec("ROLLBACK");
    return e;
  }
  return ok();
}

Result<void> Outbox::Impl::load_meta(const OutboxOptions& options) {
  bool found = false;
  int rc = read_meta("epoch", epoch, found);
  if (rc != SQLITE_OK) return error("cannot read the outbox", rc);
  if (!found || epoch.empty())
    return error("the outbox is damaged (no epoch in table meta); move it away or set `path` to another file");
  rc = read_meta("gateway", gateway, found);
  if (rc != SQLITE_OK) return error("cannot read the outbox", rc);
  rc = read_meta("created", created, found);
  if (rc != SQLITE_OK) return error("cannot read the outbox", rc);

  // The next seq is kept in meta rather than derived from max(seq) alone (or left to
  // AUTOINCREMENT): once the publisher deletes acknowledged rows, including the newest,
  // max(seq)+1 would hand out a seq that consumers have already seen. Keeping it ourselves
  // also lets append() know the seqs it assigns without a per-row lookup, at the cost of one
  // meta write per transaction. max(seq)+1 is still taken into account in case meta lags.
  std::string next_text;
  rc = read_meta("next_seq", next_text, found);
  std::int64_t stored_next = 1;
  if (rc == SQLITE_OK && found) {
    if (std::sscanf(next_text.c_str(), "%" SCNd64, &stored_next) != 1) stored_next = 1;
  }
  std::int64_t max_seq = 0;
  if (rc == SQLITE_OK) rc = query_int("SELECT max(seq) FROM outbox", max_seq);
  if (rc != SQLITE_OK) return error("cannot read the outbox", rc);
  next_seq = std::max({stored_next, max_seq + 1, std::int64_t{1}});

  std::string evicted_text;
  rc = read_meta("evicted", evicted_text, found);
  if (rc != SQLITE_OK) return error("cannot read the outbox", rc);
  unsigned long long rows = 0, bytes = 0, gaps = 0;
  if (found && std::sscanf(evicted_text.c_str(), "%llu %llu %llu", &rows, &bytes, &gaps) == 3)
    evicted = EvictionStats{rows, bytes, gaps};

  // The outbox clock goes on from where the last writer left it; within the same boot it also
  // counts the time no Vigil had the outbox open (the boot clock kept running). After a reboot
  // that time is unknown (no RTC, NTP not yet synced): it is not counted, so rows are never
  // expired early.
  std::string clock_text;
  rc = read_meta("clock", clock_text, found);
  if (rc != SQLITE_OK) return error("cannot read the outbox", rc);
  clock_origin = clock->now();
  long long stored_clock = 0, stored_boot_ns = 0;
  char stored_boot[64] = {};
  if (found && std::sscanf(clock_text.c_str(), "%lld %63s %lld", &stored_clock, stored_boot, &stored_boot_ns) == 3) {
    clock_base = stored_clock;
    if (!boot_id.empty() && boot_id == stored_boot && clock_origin >= stored_boot_ns)
      clock_base += clock_origin - stored_boot_ns;
  }
  rc = query_int("PRAGMA page_size", page_size);
  if (rc != SQLITE_OK) return error("cannot read the outbox", rc);

  if (!read_only && !options.gateway.empty() && options.gateway != gateway) {
    rc = write_meta("gateway", options.gateway);
    if (rc != SQLITE_OK) return error("cannot store the gateway id", rc);
    gateway = options.gateway;
  }
  return ok();
}

Result<void> Outbox::Impl::prepare_writes() {
  int rc = prepare(begin, "BEGIN IMMEDIATE");
  if (rc == SQLITE_OK) rc = prepare(commit, "COMMIT");
  if (rc == SQLITE_OK) rc = prepare(rollback, "ROLLBACK");
  if (rc == SQLITE_OK)
    rc = prepare(insert_row,
                 "INSERT INTO outbox(seq, topic, pipeline, key, window_start_ms, window_end_ms, "
                 "priority, format, payload, created_ns, flags, created_clock_ns) "
                 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  if (rc == SQLITE_OK)
    rc = prepare(upsert_mark,
                 "INSERT INTO window_marks(pipeline, key, last_end_ms) VALUES(?1, ?2, ?3) "
                 "ON CONFLICT(pipeline, key) DO UPDATE "
                 "SET last_end_ms = max(last_end_ms, excluded.last_end_ms)");
  if (rc == SQLITE_OK) rc = prepare(clear_checkpoints, "DELETE FROM checkpoints");
  if (rc == SQLITE_OK)
    rc = prepare(insert_checkpoint,
                 "INSERT INTO checkpoints(pipeline, config_hash, kind, saved_ns, state) VALUES(?1, ?2, ?3, ?4, ?5)");
  if (rc == SQLITE_OK)
    rc = prepare(select_routine,
                 "SELECT seq, topic, pipeline, key, window_start_ms, window_end_ms, "
                 "priority, format, payload, created_ns, flags "
                 "FROM outbox WHERE seq > ?1 AND priority = 0 ORDER BY seq LIMIT ?2");
  if (rc == SQLITE_OK)
    rc = prepare(select_alerts,
                 "SELECT seq, topic, pipeline, key, window_start_ms, window_end_ms, "
                 "priority, format, payload, created_ns, flags "
                 "FROM outbox WHERE seq > ?1 AND priority > 0 ORDER BY seq LIMIT ?2");
  if (rc == SQLITE_OK) rc = prepare(delete_row, "DELETE FROM outbox WHERE seq = ?1");
  if (rc == SQLITE_OK) rc = prepare(select_max_seq, "SELECT coalesce(max(seq), 0) FROM outbox");
  if (rc == SQLITE_OK)
    rc = prepare(store_next_seq,
                 "INSERT INTO meta(key, value) VALUES('next_seq', ?1) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (rc == SQLITE_OK)
    rc = prepare(eviction_order,
                 "SELECT seq, length(payload), length(payload) + length(topic) + length(pipeline) + length(key) "
                 "FROM outbox WHERE priority < ?1 ORDER BY priority, seq");
  if (rc == SQLITE_OK)
    rc = prepare(oldest_rows,
                 "SELECT seq, length(payload), created_clock_ns FROM outbox WHERE priority < ?1 ORDER BY seq");
  if (rc == SQLITE_OK)
    rc = prepare(store_meta,
                 "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (rc != SQLITE_OK) return error("cannot prepare statements", rc);
  return ok();
}

int Outbox::Impl::store_clock() noexcept {
  char text[160];
  std::snprintf(text, sizeof text, "%lld %s %lld", static_cast<long long>(clock_now()),
                boot_id.empty() ? "-" : boot_id.c_str(), static_cast<long long>(clock->now()));
  return put_meta("clock", text);
}

// Deletes the rows in `victims` (pairs of seq and payload bytes) and adds them to `gone`.
int Outbox::Impl::delete_victims(Evicted& gone) noexcept {
  sqlite3_stmt* del = delete_row.get();
  for (std::size_t i = 0; i + 1 < victims.size(); i += 2) {
    gone.first = gone.rows == 0 ? victims[i] : std::min(gone.first, victims[i]);
    gone.last = gone.rows == 0 ? victims[i] : std::max(gone.last, victims[i]);
    ++gone.rows;
    gone.bytes += static_cast<std::uint64_t>(victims[i + 1]);
    sqlite3_bind_int64(del, 1, victims[i]);
    const int rc = run(del);
    if (rc != SQLITE_DONE) return rc;
  }
  victims.clear();
  return SQLITE_OK;
}

// Writes the gap record of `gone` with seq `seq` (then advanced): the seqs in [first, last]
// that a consumer did not receive were evicted, not lost. Inside the caller's transaction.
int Outbox::Impl::write_gap(std::string_view reason, const Evicted& gone, std::int64_t& seq,
                            EvictionStats& pass_total, bool always) noexcept {
  if (gone.rows == 0 && !always) return SQLITE_OK;
  char payload[200];
  std::snprintf(payload, sizeof payload,
                "{\"first\":%lld,\"last\":%lld,\"rows\":%llu,\"bytes\":%llu,\"reason\":\"%.*s\"}",
                static_cast<long long>(gone.first), static_cast<long long>(gone.last),
                static_cast<unsigned long long>(gone.rows), static_cast<unsigned long long>(gone.bytes),
                static_cast<int>(reason.size()), reason.data());
  gap_payload = payload;
  sqlite3_stmt* insert = insert_row.get();
  sqlite3_bind_int64(insert, 1, seq);
  bind_text(insert, 2, "");
  bind_text(insert, 3, "");
  bind_text(insert, 4, "");
  sqlite3_bind_int64(insert, 5, 0);
  sqlite3_bind_int64(insert, 6, 0);
  sqlite3_bind_int(insert, 7, kGapPriority);
  bind_text(insert, 8, kGapFormat);
  bind_blob(insert, 9, gap_payload);
  sqlite3_bind_int64(insert, 10, runtime::WallClock().now());
  sqlite3_bind_int(insert, 11, 0);
  sqlite3_bind_int64(insert, 12, clock_now());
  const int rc = run(insert);
  if (rc != SQLITE_DONE) return rc;
  ++seq;
  pass_total.rows += gone.rows;
  pass_total.bytes += gone.bytes;
  pass_total.gap_records += 1;
  return SQLITE_OK;
}

// Age first (expired rows of any priority, oldest first: seq order is clock order), then size
// (local rows, then routine, then alerts, oldest first within each), inside the caller's
// transaction. Gap records are never evicted.
int Outbox::Impl::enforce_locked(std::int64_t& seq, EvictionStats& pass_total) noexcept {
  victims.clear();
  if (max_age > 0) {
    const runtime::Nanos limit = clock_now() - max_age;
    sqlite3_stmt* walk = oldest_rows.get();
    sqlite3_bind_int(walk, 1, kGapPriority);
    int rc;
    while ((rc = sqlite3_step(walk)) == SQLITE_ROW && sqlite3_column_int64(walk, 2) < limit) {
      victims.push_back(sqlite3_column_int64(walk, 0));
      victims.push_back(sqlite3_column_int64(walk, 1));
    }
    sqlite3_reset(walk);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
    Evicted gone;
    rc = delete_victims(gone);
    if (rc == SQLITE_OK) rc = write_gap("max_age", gone, seq, pass_total);
    if (rc != SQLITE_OK) return rc;
  }
  if (max_bytes <= 0) return SQLITE_OK;
  std::int64_t used = 0;
  int rc = used_bytes(used);
  if (rc != SQLITE_OK || used <= max_bytes) return rc;
  const std::int64_t low_water = max_bytes / 100 * kLowWaterPercent;
  Evicted gone;
  for (int round = 0; round < kMaxEvictionRounds && used > low_water; ++round) {
    // Pages are freed only when all their rows are gone, so ask for what the estimate says
    // and measure again.
    std::int64_t want = used - low_water;
    sqlite3_stmt* walk = eviction_order.get();
    sqlite3_bind_int(walk, 1, kGapPriority);
    while (want > 0 && (rc = sqlite3_step(walk)) == SQLITE_ROW) {
      victims.push_back(sqlite3_column_int64(walk, 0));
      victims.push_back(sqlite3_column_int64(walk, 1));
      want -= sqlite3_column_int64(walk, 2) + kRowOverhead;
    }
    sqlite3_reset(walk);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
    if (victims.empty()) break;  // nothing left to evict but gap records and window marks
    rc = delete_victims(gone);
    if (rc == SQLITE_OK) rc = used_bytes(used);
    if (rc != SQLITE_OK) return rc;
  }
  return write_gap("max_bytes", gone, seq, pass_total);
}

Outbox::Outbox(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Outbox::~Outbox() = default;

Result<std::unique_ptr<Outbox>> Outbox::open(const std::string& path, const OutboxOptions& options) {
  if (path.empty()) return Error{"outbox: the path is empty; set `path` to a file such as var/outbox.db"};
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->read_only = options.read_only;
  impl->max_bytes = options.max_bytes;
  impl->max_age = options.max_age;
  if (options.clock != nullptr) impl->clock = options.clock;
  impl->boot_id = options.boot_id.empty() ? read_boot_id() : options.boot_id;

  if (!options.read_only) {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
      std::filesystem::create_directories(parent, ec);
      if (ec)
        return impl->error("cannot create folder " + parent.string() + ": " + ec.message() +
                           "; check that the path names a folder you may write to");
    }
  }

  if (options.read_only) {
    // SQLite would report a missing file as "unable to open database file"; say it plainly.
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      return impl->error("no such file; check the path (an outbox is created only by `vigil run` "
                         "or `vigil replay --outbox`)");
  }
  int flags = options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &impl->db, flags, nullptr);
  if (rc != SQLITE_OK) return impl->error("cannot open", rc);
  sqlite3_extended_result_codes(impl->db, 1);
  sqlite3_busy_timeout(impl->db, options.busy_timeout_ms);

  // The first read of the file: where a file that is not a database shows up.
  std::int64_t version = 0;
  rc = impl->query_int("PRAGMA user_version", version);
  if (rc != SQLITE_OK) return impl->error("cannot read", rc);
  if (version > kSchemaVersion)
    return impl->error("schema version " + std::to_string(version) +
                       " is newer than this Vigil understands (" + std::to_string(kSchemaVersion) +
                       "); run a newer Vigil or move the file away");

  if (!options.read_only) {
    // WAL: readers (the publisher, `vigil outbox`) never block the writer, and a crash at any
    // instant leaves the last committed state.
    Statement mode;
    rc = sqlite3_prepare_v2(impl->db, "PRAGMA journal_mode=WAL", -1, mode.out(), nullptr);
    std::string journal;
    if (rc == SQLITE_OK && sqlite3_step(mode.get()) == SQLITE_ROW) journal = column_text(mode.get(), 0);
    else if (rc == SQLITE_OK) rc = sqlite3_errcode(impl->db);
    if (rc != SQLITE_OK) return impl->error("cannot switch to WAL journal mode", rc);
    if (journal != "wal")
      return impl->error("cannot switch to WAL journal mode (got \"" + journal +
                         "\"); put the outbox on a local filesystem");
    rc = impl->exec(options.durability_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    if (rc == SQLITE_OK) rc = impl->exec(kJournalSizeLimit);
    if (rc == SQLITE_OK && options.max_bytes > 0) {
      // The WAL sits beside the database and is not part of its pages: with SQLite's defaults
      // it grows to 1000 pages before a checkpoint. A small outbox checkpoints after a quarter
      // of max_bytes instead (and truncates the WAL to that), so database and WAL together stay
      // near 1.25 x max_bytes plus one batch, rather than filling a small file system.
      std::int64_t page_size = 4096;
      rc = impl->query_int("PRAGMA page_size", page_size);
      const std::int64_t quarter = options.max_bytes / 4;
      const std::int64_t pages = std::clamp<std::int64_t>(quarter / std::max<std::int64_t>(page_size, 512), 16, 1000);
      const std::string tune = "PRAGMA wal_autocheckpoint=" + std::to_string(pages) +
                               "; PRAGMA journal_size_limit=" + std::to_string(std::min<std::int64_t>(quarter, 4194304));
      if (rc == SQLITE_OK) rc = impl->exec(tune.c_str());
    }
    if (rc != SQLITE_OK) return impl->error("cannot configure", rc);
  }

  if (version == 0) {
    if (options.read_only)
      return impl->error("not a Vigil outbox (no outbox schema); check the path");
    auto created = impl->create_schema(options);
    if (!created) return std::move(created).error();
  } else if (version < kSchemaVersion && !options.read_only) {
    auto migrated = impl->migrate(version);
    if (!migrated) return std::move(migrated).error();
  }
  impl->schema_version = static_cast<int>(version);
  if (version == 0 || !options.read_only) impl->schema_version = kSchemaVersion;
  auto loaded = impl->load_meta(options);
  if (!loaded) return std::move(loaded).error();
  if (!options.read_only) {
    auto prepared = impl->prepare_writes();
    if (!prepared) return std::move(prepared).error();
    if (options.writer) {
      impl->durability_full = options.durability_full;
      auto claimed = impl->claim_writer();
      if (!claimed) return std::move(claimed).error();
      impl->writer = true;
    }
  }
  return std::unique_ptr<Outbox>(new Outbox(std::move(impl)));
}

// With durability normal, a power cut can roll back the last commits, and the publisher may
// already have sent rows of those: their seqs would be handed out again to other summaries, which
// a consumer deduplicating by seq would drop. So a writer records in meta, synced, that it has
// the outbox open, on which boot, with which durability; a clean close records "closed". A
// writer that finds "open" from another boot under durability normal skips kPowerLossSeqSkip
// seqs and leaves a gap record for them (reason power_loss). A kill -9 within one boot loses no
// commit (the page cache survives), so it skips nothing.
Result<void> Outbox::Impl::claim_writer() {
  std::string text;
  bool found = false;
  int rc = read_meta("writer", text, found);
  if (rc != SQLITE_OK) return error("cannot read the outbox", rc);
  char stored_boot[64] = {}, stored_durability[16] = {}, state[16] = {};
  const bool parsed = found && std::sscanf(text.c_str(), "%63s %15s %15s", stored_boot, stored_durability, state) == 3;
  const bool suspect = parsed && std::string_view(state) == "open" && std::string_view(stored_durability) == "normal" &&
                       (boot_id.empty() || boot_id != stored_boot);
  // This transaction is synced whatever the durability: "open" must be on disk before any row
  // of this run can be published.
  rc = exec("PRAGMA synchronous=FULL");
  if (rc == SQLITE_OK) rc = run(begin.get()) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
  if (rc != SQLITE_OK) {
    exec(durability_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    return error("cannot start a transaction", rc);
  }
  std::int64_t seq = next_seq;
  EvictionStats pass;
  if (suspect) {
    const Evicted skip{next_seq, next_seq + kPowerLossSeqSkip - 1, 0, 0};
    seq = skip.last + 1;
    rc = write_gap("power_loss", skip, seq, pass, true);
    if (rc == SQLITE_OK) {
      char totals[80];
      std::snprintf(totals, sizeof totals, "%llu %llu %llu", static_cast<unsigned long long>(evicted.rows),
                    static_cast<unsigned long long>(evicted.bytes),
                    static_cast<unsigned long long>(evicted.gap_records + pass.gap_records));
      rc = put_meta("evicted", totals);
    }
    if (rc == SQLITE_OK) rc = put_meta("next_seq", std::to_string(seq));
  }
  if (rc == SQLITE_OK) rc = put_meta("writer", writer_text("open"));
  if (rc == SQLITE_OK) rc = run(commit.get()) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
  if (rc != SQLITE_OK) {
    Error e = error("cannot record the writer", rc);
    abandon_transaction();
    exec(durability_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    return e;
  }
  exec(durability_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  if (suspect) {
    skipped = SeqRange{next_seq, kPowerLossSeqSkip};
    evicted.gap_records += pass.gap_records;
    next_seq = seq;
  }
  return ok();
}

SeqRange Outbox::skipped_after_power_loss() const noexcept { return impl_->skipped; }

Result<SeqRange> Outbox::append(std::span<const OutboxRow> rows, const runtime::Checkpoint* checkpoint) {
  Impl& m = *impl_;
  if (rows.empty() && checkpoint == nullptr) return SeqRange{m.next_seq, 0};
  if (m.read_only) return m.error("opened read-only; cannot append");

  int rc = run(m.begin.get());
  if (rc != SQLITE_DONE) {
    Error e = m.error("cannot start a transaction", rc);
    m.abandon_transaction();
    return e;
  }
  std::int64_t seq = m.next_seq;
  const runtime::Nanos now_clock = m.clock_now();
  sqlite3_stmt* insert = m.insert_row.get();
  sqlite3_stmt* mark = m.upsert_mark.get();
  for (const OutboxRow& row : rows) {
    if (row.mark_only) {
      bind_text(mark, 1, row.pipeline);
      bind_text(mark, 2, row.key);
      sqlite3_bind_int64(mark, 3, row.end_ms);
      rc = sqlite3_step(mark);
      if (rc != SQLITE_DONE) {
        Error e = m.error("cannot store a window mark", rc);
        m.abandon_transaction();
        return e;
      }
      sqlite3_reset(mark);
      continue;
    }
    sqlite3_bind_int64(insert, 1, seq);
    bind_text(insert, 2, row.topic);
    bind_text(insert, 3, row.pipeline);
    bind_text(insert, 4, row.key);
    sqlite3_bind_int64(insert, 5, row.start_ms);
    sqlite3_bind_int64(insert, 6, row.end_ms);
    sqlite3_bind_int(insert, 7, row.priority);
    bind_text(insert, 8, row.format);
    bind_blob(insert, 9, row.payload);
    sqlite3_bind_int64(insert, 10, row.created_ns);
    sqlite3_bind_int(insert, 11, row.flags);
    sqlite3_bind_int64(insert, 12, now_clock);
    rc = sqlite3_step(insert);
    if (rc == SQLITE_DONE) {
      sqlite3_reset(insert);
      bind_text(mark, 1, row.pipeline);
      bind_text(mark, 2, row.key);
      sqlite3_bind_int64(mark, 3, row.end_ms);
      rc = sqlite3_step(mark);
    }
    if (rc != SQLITE_DONE) {
      Error e = m.error("cannot store a row", rc);
      m.abandon_transaction();
      return e;
    }
    sqlite3_reset(mark);
    ++seq;
  }
  const std::int64_t appended_end = seq;
  if (checkpoint != nullptr) {
    rc = m.write_checkpoint(*checkpoint);
    if (rc != SQLITE_OK) {
      Error e = m.error("cannot store the window-state checkpoint", rc);
      m.abandon_transaction();
      return e;
    }
  }
  EvictionStats pass;
  rc = m.enforce_locked(seq, pass);
  if (rc == SQLITE_OK) rc = m.store_clock();
  if (rc == SQLITE_OK && pass.rows > 0) {
    const EvictionStats total{m.evicted.rows + pass.rows, m.evicted.bytes + pass.bytes,
                              m.evicted.gap_records + pass.gap_records};
    char text[80];
    std::snprintf(text, sizeof text, "%llu %llu %llu", static_cast<unsigned long long>(total.rows),
                  static_cast<unsigned long long>(total.bytes), static_cast<unsigned long long>(total.gap_records));
    rc = m.put_meta("evicted", text);
  }
  if (rc != SQLITE_OK) {
    Error e = m.error("cannot keep the outbox within its bounds", rc);
    m.abandon_transaction();
    return e;
  }
  sqlite3_bind_int64(m.store_next_seq.get(), 1, seq);
  rc = run(m.store_next_seq.get());
  if (rc != SQLITE_DONE) {
    Error e = m.error("cannot store the next seq", rc);
    m.abandon_transaction();
    return e;
  }
  rc = run(m.commit.get());
  if (rc != SQLITE_DONE) {
    Error e = m.error("cannot commit", rc);
    m.abandon_transaction();
    return e;
  }
  for (auto* stmt : {insert, mark}) sqlite3_clear_bindings(stmt);
  SeqRange range{m.next_seq, appended_end - m.next_seq};
  m.next_seq = seq;
  m.evicted.rows += pass.rows;
  m.evicted.bytes += pass.bytes;
  m.evicted.gap_records += pass.gap_records;
  return range;
}

int Outbox::Impl::write_checkpoint(const runtime::Checkpoint& checkpoint) noexcept {
  int rc = run(clear_checkpoints.get());
  if (rc != SQLITE_DONE) return rc;
  sqlite3_stmt* stmt = insert_checkpoint.get();
  for (const runtime::PipelineState& p : checkpoint.pipelines) {
    bind_text(stmt, 1, p.pipeline);
    bind_text(stmt, 2, p.config_hash);
    bind_text(stmt, 3, runtime::to_string(checkpoint.kind));
    sqlite3_bind_int64(stmt, 4, checkpoint.saved_ns);
    if (p.state.empty())
      sqlite3_bind_zeroblob(stmt, 5, 0);
    else
      sqlite3_bind_blob64(stmt, 5, p.state.data(), p.state.size(), SQLITE_STATIC);
    rc = run(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc != SQLITE_DONE) return rc;
  }
  return SQLITE_OK;
}

Result<EvictionStats> Outbox::enforce_bounds() {
  Impl& m = *impl_;
  if (m.read_only) return m.error("opened read-only; cannot evict");
  if (m.max_bytes <= 0 && m.max_age <= 0) return EvictionStats{};
  int rc = run(m.begin.get());
  if (rc != SQLITE_DONE) {
    Error e = m.error("cannot start a transaction", rc);
    m.abandon_transaction();
    return e;
  }
  std::int64_t seq = m.next_seq;
  EvictionStats pass;
  rc = m.enforce_locked(seq, pass);
  if (rc == SQLITE_OK && pass.rows > 0) {
    char text[80];
    std::snprintf(text, sizeof text, "%llu %llu %llu", static_cast<unsigned long long>(m.evicted.rows + pass.rows),
                  static_cast<unsigned long long>(m.evicted.bytes + pass.bytes),
                  static_cast<unsigned long long>(m.evicted.gap_records + pass.gap_records));
    rc = m.put_meta("evicted", text);
    if (rc == SQLITE_OK) {
      sqlite3_bind_int64(m.store_next_seq.get(), 1, seq);
      rc = run(m.store_next_seq.get());
      rc = rc == SQLITE_DONE ? m.store_clock() : rc;
    }
  }
  if (rc == SQLITE_OK) rc = run(m.commit.get()) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(m.db);
  if (rc != SQLITE_OK) {
    Error e = m.error("cannot keep the outbox within its bounds", rc);
    m.abandon_transaction();
    return e;
  }
  m.next_seq = seq;
  m.evicted.rows += pass.rows;
  m.evicted.bytes += pass.bytes;
  m.evicted.gap_records += pass.gap_records;
  return pass;
}

const EvictionStats& Outbox::evictions() const noexcept { return impl_->evicted; }

Result<std::uint64_t> Outbox::used_bytes() {
  std::int64_t used = 0;
  const int rc = impl_->used_bytes(used);
  if (rc != SQLITE_OK) return impl_->error("cannot read the page count", rc);
  return static_cast<std::uint64_t>(used);
}
runtime::Nanos Outbox::clock_now() const noexcept { return impl_->clock_now(); }

Result<OutboxStats> Outbox::stats() const {
  Impl& m = *impl_;
  Statement stmt;
  int rc = sqlite3_prepare_v2(m.db,
                              "SELECT count(*), coalesce(sum(length(payload)), 0), "
                              "coalesce(min(created_ns), 0), coalesce(min(seq), 0), "
                              "coalesce(max(seq), 0) FROM outbox",
                              -1, stmt.out(), nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_ROW) return m.error("cannot read statistics", rc);
  OutboxStats s;
  s.rows = static_cast<std::uint64_t>(sqlite3_column_int64(stmt.get(), 0));
  s.bytes = static_cast<std::uint64_t>(sqlite3_column_int64(stmt.get(), 1));
  s.oldest_created_ns = sqlite3_column_int64(stmt.get(), 2);
  s.first_seq = sqlite3_column_int64(stmt.get(), 3);
  s.last_seq = sqlite3_column_int64(stmt.get(), 4);
  s.next_seq = m.next_seq;
  s.gateway = m.gateway;
  s.epoch = m.epoch;
  s.created = m.created;
  s.schema_version = m.schema_version;
  s.evicted = m.evicted;
  std::int64_t used = 0;
  if (m.used_bytes(used) == SQLITE_OK) s.used_bytes = static_cast<std::uint64_t>(used);
  if (m.schema_version >= 4) {
    Statement cp;
    rc = sqlite3_prepare_v2(m.db,
                            "SELECT count(*), coalesce(sum(length(state)), 0), coalesce(max(saved_ns), 0), "
                            "coalesce(max(kind), '') FROM checkpoints",
                            -1, cp.out(), nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_step(cp.get());
    if (rc != SQLITE_ROW) return m.error("cannot read the checkpoint", rc);
    s.checkpoint_pipelines = static_cast<std::uint64_t>(sqlite3_column_int64(cp.get(), 0));
    s.checkpoint_bytes = static_cast<std::uint64_t>(sqlite3_column_int64(cp.get(), 1));
    s.checkpoint_saved_ns = sqlite3_column_int64(cp.get(), 2);
    s.checkpoint_kind = column_text(cp.get(), 3);
  }
  return s;
}

Result<runtime::SavedState> Outbox::saved_state() const {
  Impl& m = *impl_;
  runtime::SavedState saved;
  auto marks = window_marks();
  if (!marks) return std::move(marks).error();
  saved.marks = std::move(marks.value());
  if (m.schema_version < 4) return saved;
  Statement stmt;
  int rc = sqlite3_prepare_v2(m.db, "SELECT pipeline, config_hash, kind, saved_ns, state FROM checkpoints ORDER BY pipeline",
                              -1, stmt.out(), nullptr);
  if (rc != SQLITE_OK) return m.error("cannot read the checkpoint", rc);
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    sqlite3_stmt* st = stmt.get();
    runtime::PipelineState p;
    p.pipeline = column_text(st, 0);
    p.config_hash = column_text(st, 1);
    // Rows of one checkpoint share kind and time (written in one transaction).
    saved.checkpoint.kind = column_text(st, 2) == "shutdown" ? runtime::CheckpointKind::shutdown
                                                              : runtime::CheckpointKind::periodic;
    saved.checkpoint.saved_ns = sqlite3_column_int64(st, 3);
    const auto* blob = static_cast<const std::byte*>(sqlite3_column_blob(st, 4));
    const int size = sqlite3_column_bytes(st, 4);
    if (blob != nullptr && size > 0) p.state.assign(blob, blob + size);
    saved.checkpoint.pipelines.push_back(std::move(p));
    saved.has_checkpoint = true;
  }
  if (rc != SQLITE_DONE) return m.error("cannot read the checkpoint", rc);
  return saved;
}

Result<std::vector<OutboxRecord>> Outbox::tail(std::size_t n) const {
  Impl& m = *impl_;
  Statement stmt;
  int rc = sqlite3_prepare_v2(m.db,
                              "SELECT seq, topic, pipeline, key, window_start_ms, window_end_ms, "
                              "priority, format, payload, created_ns, flags "
                              "FROM outbox ORDER BY seq DESC LIMIT ?1",
                              -1, stmt.out(), nullptr);
  if (rc != SQLITE_OK) return m.error("cannot read rows", rc);
  std::uint64_t limit = std::min<std::uint64_t>(n, INT64_MAX);
  sqlite3_bind_int64(stmt.get(), 1, static_cast<std::int64_t>(limit));
  std::vector<OutboxRecord> rows;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    sqlite3_stmt* s = stmt.get();
    OutboxRecord r;
    r.seq = sqlite3_column_int64(s, 0);
    r.topic = column_text(s, 1);
    r.pipeline = column_text(s, 2);
    r.key = column_text(s, 3);
    r.start_ms = sqlite3_column_int64(s, 4);
    r.end_ms = sqlite3_column_int64(s, 5);
    r.priority = sqlite3_column_int(s, 6);
    r.format = column_text(s, 7);
    r.payload = column_text(s, 8);
    r.created_ns = sqlite3_column_int64(s, 9);
    r.flags = static_cast<std::uint8_t>(sqlite3_column_int(s, 10));
    rows.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return m.error("cannot read rows", rc);
  std::reverse(rows.begin(), rows.end());
  return rows;
}

namespace {

void read_record(sqlite3_stmt* s, OutboxRecord& r) {
  // assign() into the same record keeps the strings' capacity from row to row.
  auto text = [s](int column, std::string& out) {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(s, column));
    int size = sqlite3_column_bytes(s, column);
    if (data) out.assign(data, static_cast<std::size_t>(size));
    else out.clear();
  };
  r.seq = sqlite3_column_int64(s, 0);
  text(1, r.topic);
  text(2, r.pipeline);
  text(3, r.key);
  r.start_ms = sqlite3_column_int64(s, 4);
  r.end_ms = sqlite3_column_int64(s, 5);
  r.priority = sqlite3_column_int(s, 6);
  text(7, r.format);
  text(8, r.payload);
  r.created_ns = sqlite3_column_int64(s, 9);
  r.flags = static_cast<std::uint8_t>(sqlite3_column_int(s, 10));
}

}  // namespace

Result<void> Outbox::for_each(std::int64_t from_seq,
                              const std::function<bool(const OutboxRecord&)>& visit) const {
  Impl& m = *impl_;
  Statement stmt;
  // One SELECT is one read transaction: a concurrent writer (WAL) never changes what it sees.
  int rc = sqlite3_prepare_v2(m.db,
                              "SELECT seq, topic, pipeline, key, window_start_ms, window_end_ms, "
                              "priority, format, payload, created_ns, flags "
                              "FROM outbox WHERE seq >= ?1 ORDER BY seq",
                              -1, stmt.out(), nullptr);
  if (rc != SQLITE_OK) return m.error("cannot read rows", rc);
  sqlite3_bind_int64(stmt.get(), 1, from_seq);
  OutboxRecord record;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    read_record(stmt.get(), record);
    if (!visit(record)) return ok();
  }
  if (rc != SQLITE_DONE) return m.error("cannot read rows", rc);
  return ok();
}

Result<std::size_t> Outbox::next_rows(Lane lane, std::int64_t after_seq, std::size_t limit,
                                      const std::function<void(const OutboxRecord&)>& visit) {
  Impl& m = *impl_;
  if (m.read_only) return m.error("opened read-only; the publisher needs a writable outbox");
  if (limit == 0) return std::size_t{0};
  sqlite3_stmt* stmt = lane == Lane::alerts ? m.select_alerts.get() : m.select_routine.get();
  sqlite3_bind_int64(stmt, 1, after_seq);
  sqlite3_bind_int64(stmt, 2, static_cast<std::int64_t>(std::min<std::uint64_t>(limit, INT64_MAX)));
  std::size_t visited = 0;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    read_record(stmt, m.scratch);
    ++visited;
    visit(m.scratch);
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return m.error("cannot read rows", rc);
  return visited;
}

Result<void> Outbox::remove(std::span<const std::int64_t> seqs) {
  Impl& m = *impl_;
  if (seqs.empty()) return ok();
  if (m.read_only) return m.error("opened read-only; cannot remove rows");
  int rc = run(m.begin.get());
  if (rc != SQLITE_DONE) {
    Error e = m.error("cannot start a transaction", rc);
    m.abandon_transaction();
    return e;
  }
  sqlite3_stmt* del = m.delete_row.get();
  for (std::int64_t seq : seqs) {
    sqlite3_bind_int64(del, 1, seq);
    rc = run(del);
    if (rc != SQLITE_DONE) {
      Error e = m.error("cannot remove a forwarded row", rc);
      m.abandon_transaction();
      return e;
    }
  }
  rc = run(m.commit.get());
  if (rc != SQLITE_DONE) {
    Error e = m.error("cannot commit", rc);
    m.abandon_transaction();
    return e;
  }
  return ok();
}

Result<std::int64_t> Outbox::last_seq() {
  Impl& m = *impl_;
  if (m.read_only) {
    auto s = stats();
    if (!s) return std::move(s).error();
    return s->last_seq;
  }
  sqlite3_stmt* stmt = m.select_max_seq.get();
  int rc = sqlite3_step(stmt);
  std::int64_t seq = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
  sqlite3_reset(stmt);
  if (rc != SQLITE_ROW) return m.error("cannot read the last seq", rc);
  return seq;
}

Result<std::int64_t> Outbox::tail_start(std::size_t n) const {
  Impl& m = *impl_;
  if (n == 0) return m.next_seq;
  Statement stmt;
  // Seqs have gaps (forwarded rows are deleted), so count rows rather than subtract seqs; the
  // primary key index makes this a walk over n keys, not over payloads.
  int rc = sqlite3_prepare_v2(m.db, "SELECT seq FROM outbox ORDER BY seq DESC LIMIT 1 OFFSET ?1", -1,
                              stmt.out(), nullptr);
  if (rc != SQLITE_OK) return m.error("cannot read rows", rc);
  std::uint64_t offset = std::min<std::uint64_t>(n - 1, INT64_MAX);
  sqlite3_bind_int64(stmt.get(), 1, static_cast<std::int64_t>(offset));
  rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_ROW) return sqlite3_column_int64(stmt.get(), 0);
  if (rc != SQLITE_DONE) return m.error("cannot read rows", rc);
  return std::int64_t{0};
}

Result<std::vector<WindowMark>> Outbox::window_marks() const {
  Impl& m = *impl_;
  Statement stmt;
  int rc = sqlite3_prepare_v2(
      m.db, "SELECT pipeline, key, last_end_ms FROM window_marks ORDER BY pipeline, key", -1,
      stmt.out(), nullptr);
  if (rc != SQLITE_OK) return m.error("cannot read window marks", rc);
  std::vector<WindowMark> marks;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    marks.push_back(WindowMark{column_text(stmt.get(), 0), column_text(stmt.get(), 1),
                               sqlite3_column_int64(stmt.get(), 2)});
  }
  if (rc != SQLITE_DONE) return m.error("cannot read window marks", rc);
  return marks;
}

const std::string& Outbox::epoch() const noexcept { return impl_->epoch; }
const std::string& Outbox::gateway() const noexcept { return impl_->gateway; }
const std::string& Outbox::path() const noexcept { return impl_->path; }

}  // namespace vigil::sync
