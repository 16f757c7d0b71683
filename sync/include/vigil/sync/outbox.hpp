#pragma once
// The store-and-forward database: summaries wait here (SQLite, WAL) until the upstream
// publisher has delivered them. No SQLite types in this header.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/runtime/checkpoint.hpp"
#include "vigil/runtime/result.hpp"
#include "vigil/runtime/time.hpp"

namespace vigil::sync {

/// How an outbox database is opened.
struct OutboxOptions {
  std::string gateway;           ///< gateway id stored in the database; empty: keep the stored one
  bool durability_full = false;  ///< fsync every commit (synchronous=FULL) instead of NORMAL
  bool read_only = false;        ///< inspect an existing outbox: never creates or writes anything
  int busy_timeout_ms = 5000;    ///< how long a write waits for another connection's lock
  /// Bound on the bytes of database pages in use; beyond it the oldest rows are evicted, local
  /// (priority -1) first, then routine, then alerts. 0: unbounded.
  std::int64_t max_bytes = 0;
  /// Rows older than this on the outbox clock are evicted, whatever their priority. 0: never.
  runtime::Nanos max_age = 0;
  /// Boot-relative monotonic clock behind the outbox clock (default: CLOCK_BOOTTIME); tests
  /// pass a virtual one. Must outlive the outbox.
  const runtime::Clock* clock = nullptr;
  /// Id of the running boot (default: the kernel's boot_id); with it, the outbox clock also
  /// counts the time Vigil was stopped within one boot.
  std::string boot_id = {};
  /// This connection appends summaries (the outbox output; not the publisher or `vigil
  /// outbox`): it records, synced, that it has the file open and on which boot, and a clean
  /// close records that it closed. Opening after a writer of another boot that did not close,
  /// under durability normal (a power cut may have rolled back commits whose rows were already
  /// published), skips a million seqs, so none is ever reused, with a gap record
  /// (reason "power_loss").
  bool writer = false;
};

/// Priority of gap records: rows the outbox writes itself to say which seqs it evicted. Above
/// every summary's priority, so they take the alert lane and are never evicted.
inline constexpr int kGapPriority = 101;
/// `format` of a gap record; its payload is {"first","last","rows","bytes","reason"}.
inline constexpr std::string_view kGapFormat = "gap";

/// Rows evicted to keep the outbox within max_bytes and max_age.
struct EvictionStats {
  std::uint64_t rows = 0;
  std::uint64_t bytes = 0;         ///< payload bytes of the evicted rows
  std::uint64_t gap_records = 0;   ///< gap records written (one per eviction pass and reason)
};

/// One summary to store. Views only: append() copies them into the database.
struct OutboxRow {
  std::string_view topic;
  std::string_view pipeline;
  std::string_view key;
  std::int64_t start_ms = 0;  ///< window start, ms since the epoch
  std::int64_t end_ms = 0;    ///< window end, ms since the epoch; feeds the window marks
  int priority = 0;           ///< -1 kept local (never published), 0 routine, > 0 alert
  std::string_view format;    ///< payload encoding: "json", later "flatbuffers"
  std::string_view payload;
  std::int64_t created_ns = 0;  ///< wall time the summary was emitted
  std::uint8_t flags = 0;       ///< runtime::SummaryFlags
  /// Only moves the (pipeline, key) window mark to end_ms: a summary that was emitted but not
  /// stored (its pipeline's forward policy kept it local). Gets no seq.
  bool mark_only = false;
};

/// A stored row, read back by tail() and for_each().
struct OutboxRecord {
  std::int64_t seq = 0;
  std::string topic;
  std::string pipeline;
  std::string key;
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;
  int priority = 0;
  std::string format;
  std::string payload;
  std::int64_t created_ns = 0;
  std::uint8_t flags = 0;
};

using runtime::WindowMark;

/// Seqs given to the rows of one append(); empty (count 0) when nothing was appended.
struct SeqRange {
  std::int64_t first = 0;
  std::int64_t count = 0;
  std::int64_t last() const noexcept { return first + count - 1; }
};

/// What the outbox holds right now.
struct OutboxStats {
  std::uint64_t rows = 0;
  std::uint64_t bytes = 0;             ///< sum of payload lengths
  std::int64_t oldest_created_ns = 0;  ///< 0 when empty
  std::int64_t first_seq = 0;          ///< 0 when empty
  std::int64_t last_seq = 0;           ///< 0 when empty
  std::int64_t next_seq = 1;           ///< seq the next appended row gets
  std::string gateway;
  std::string epoch;
  std::string created;     ///< when the database was created (RFC 3339 UTC); empty if unknown
  int schema_version = 0;  ///< `PRAGMA user_version` of the file
  EvictionStats evicted;   ///< every eviction since the database was created
  std::uint64_t used_bytes = 0;  ///< bytes of the database's pages in use (what max_bytes bounds)
  std::uint64_t checkpoint_pipelines = 0;  ///< pipelines in the stored window-state checkpoint
  std::uint64_t checkpoint_bytes = 0;      ///< bytes of their state
  std::int64_t checkpoint_saved_ns = 0;    ///< wall clock when it was taken; 0: none stored
  std::string checkpoint_kind;             ///< "periodic" or "shutdown"; empty: none stored
};

/// An open outbox database. Rows get a seq that only ever grows, also across restarts and
/// after rows were deleted; consumers deduplicate by (gateway, epoch, seq).
/// Not thread-safe: one thread at a time (the outbox output's writer thread).
class Outbox {
 public:
  /// Schema version written to `PRAGMA user_version`; newer databases are refused, older ones
  /// are upgraded in one transaction when opened writable (1 -> 2: index of the alert lane).
  /// 2 -> 3: created_clock_ns (the outbox clock, for max_age) and an eviction-order index.
  /// 3 -> 4: table checkpoints (window state saved with the rows).
  static constexpr int kSchemaVersion = 4;

  /// Which rows the upstream publisher reads: routine summaries (priority 0) or alerts
  /// (priority > 0), each in seq order. Rows of priority -1 (kept local) are in neither.
  enum class Lane : std::uint8_t { routine, alerts };

  /// Opens or creates the database at `path` (creating missing parent folders), in WAL mode.
  /// Errors name the path and say what to do: not a database, newer schema, cannot create.
  /// With `read_only` a missing file is an error and nothing is ever created.
  static runtime::Result<std::unique_ptr<Outbox>> open(const std::string& path,
                                                       const OutboxOptions& options);
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  /// Stores `rows` and their window marks in one transaction, evicting (in the same
  /// transaction) what max_bytes and max_age require, with a gap record per eviction pass. With
  /// `checkpoint`, it replaces the stored checkpoint in the same transaction. On any error
  /// (disk full, I/O error, read-only, locked) the transaction is rolled back, nothing is stored
  /// or evicted and no seq is used up; the caller keeps the rows and retries later.
  runtime::Result<SeqRange> append(std::span<const OutboxRow> rows,
                                   const runtime::Checkpoint* checkpoint = nullptr);
  /// Evicts what max_bytes and max_age require now, in one transaction (nothing when within
  /// bounds); for a writer with nothing to append. Returns what this call evicted.
  runtime::Result<EvictionStats> enforce_bounds();
  /// Bytes of the database's pages in use now (what max_bytes bounds); cheap (two pragmas).
  runtime::Result<std::uint64_t> used_bytes();
  /// Every eviction since the database was created (kept in the database).
  const EvictionStats& evictions() const noexcept;
  /// The outbox clock: monotonic ns that never go back, also across restarts (see OutboxOptions).
  runtime::Nanos clock_now() const noexcept;

  /// Row count, payload bytes and seq range of what is stored.
  runtime::Result<OutboxStats> stats() const;
  /// The last `n` rows, oldest first.
  runtime::Result<std::vector<OutboxRecord>> tail(std::size_t n) const;
  /// Calls `visit` for every stored row with seq >= `from_seq`, in seq order, one row at a
  /// time (one cursor; the record is reused, so the table is never held in memory). Stops
  /// early, without error, when `visit` returns false. The rows seen are one consistent
  /// snapshot even while a writer appends. Errors name the path.
  runtime::Result<void> for_each(std::int64_t from_seq,
                                 const std::function<bool(const OutboxRecord&)>& visit) const;
  /// The seq of the first of the last `n` rows (what tail(n) would return first), for
  /// for_each(); 0 when the outbox holds `n` rows or fewer, next_seq when `n` is 0.
  runtime::Result<std::int64_t> tail_start(std::size_t n) const;
  /// Calls `visit` for at most `limit` rows of `lane` with seq > `after_seq`, in seq order; the
  /// record is reused between calls. Returns how many rows were visited. Uses prepared
  /// statements (the publisher calls it in a loop). Errors name the path.
  runtime::Result<std::size_t> next_rows(Lane lane, std::int64_t after_seq, std::size_t limit,
                                         const std::function<void(const OutboxRecord&)>& visit);
  /// Deletes the rows `seqs` (forwarded and acknowledged) in one transaction; seqs that are
  /// not stored are ignored. On error nothing is deleted and the caller may retry.
  runtime::Result<void> remove(std::span<const std::int64_t> seqs);
  /// The highest seq stored right now, read from the file (another connection may have
  /// appended since this one was opened); 0 when the outbox is empty.
  runtime::Result<std::int64_t> last_seq();
  /// Every stored window mark, ordered by pipeline and key.
  runtime::Result<std::vector<WindowMark>> window_marks() const;
  /// The stored checkpoint (if any) and every window mark, for a restart.
  runtime::Result<runtime::SavedState> saved_state() const;

  /// The seqs skipped when this writer opened the outbox after a suspected power loss (count 0:
  /// none).
  SeqRange skipped_after_power_loss() const noexcept;

  /// Random 64-bit id (16 hex digits) made when the database was created.
  const std::string& epoch() const noexcept;
  const std::string& gateway() const noexcept;
  const std::string& path() const noexcept;

 private:
  struct Impl;
  explicit Outbox(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::sync
