#pragma once
// The store-and-forward database: summaries wait here (SQLite, WAL) until the upstream
// publisher has delivered them. No SQLite types in this header.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/runtime/result.hpp"

namespace vigil::sync {

/// How an outbox database is opened.
struct OutboxOptions {
  std::string gateway;           ///< gateway id stored in the database; empty: keep the stored one
  bool durability_full = false;  ///< fsync every commit (synchronous=FULL) instead of NORMAL
  bool read_only = false;        ///< inspect an existing outbox: never creates or writes anything
  int busy_timeout_ms = 5000;    ///< how long a write waits for another connection's lock
};

/// One summary to store. Views only: append() copies them into the database.
struct OutboxRow {
  std::string_view topic;
  std::string_view pipeline;
  std::string_view key;
  std::int64_t start_ms = 0;  ///< window start, ms since the epoch
  std::int64_t end_ms = 0;    ///< window end, ms since the epoch; feeds the window marks
  int priority = 0;           ///< higher is more important (alerts over routine summaries)
  std::string_view format;    ///< payload encoding: "json", later "flatbuffers"
  std::string_view payload;
  std::int64_t created_ns = 0;  ///< wall time the summary was emitted
  std::uint8_t flags = 0;       ///< runtime::SummaryFlags
};

/// A stored row, read back by tail().
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

/// The last window end stored for one (pipeline, key).
struct WindowMark {
  std::string pipeline;
  std::string key;
  std::int64_t last_end_ms = 0;
};

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
};

/// An open outbox database. Rows get a seq that only ever grows, also across restarts and
/// after rows were deleted; consumers deduplicate by (gateway, epoch, seq).
/// Not thread-safe: one thread at a time (the outbox output's writer thread).
class Outbox {
 public:
  /// Schema version written to `PRAGMA user_version`; newer databases are refused.
  static constexpr int kSchemaVersion = 1;

  /// Opens or creates the database at `path` (creating missing parent folders), in WAL mode.
  /// Errors name the path and say what to do: not a database, newer schema, cannot create.
  static runtime::Result<std::unique_ptr<Outbox>> open(const std::string& path,
                                                       const OutboxOptions& options);
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  /// Stores `rows` and their window marks in one transaction. On any error (disk full, I/O
  /// error, read-only, locked) the transaction is rolled back, nothing is stored and no seq
  /// is used up; the caller keeps the rows and retries later.
  runtime::Result<SeqRange> append(std::span<const OutboxRow> rows);

  /// Row count, payload bytes and seq range of what is stored.
  runtime::Result<OutboxStats> stats() const;
  /// The last `n` rows, oldest first.
  runtime::Result<std::vector<OutboxRecord>> tail(std::size_t n) const;
  /// Every stored window mark, ordered by pipeline and key.
  runtime::Result<std::vector<WindowMark>> window_marks() const;

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
