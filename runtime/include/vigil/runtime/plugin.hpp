#pragma once
// The kinds of plugin (source, window operator, model, output), what each factory receives,
// and the registry that names them. Built-ins register in one explicit function per module.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/runtime/checkpoint.hpp"
#include "vigil/runtime/config_keys.hpp"
#include "vigil/runtime/counter.hpp"
#include "vigil/runtime/ingest_queue.hpp"
#include "vigil/runtime/key_table.hpp"
#include "vigil/runtime/model.hpp"
#include "vigil/runtime/summary.hpp"

namespace vigil::runtime {

/// Sizes every preallocated structure; from the config's `limits:` block.
struct Limits {
  std::size_t max_keys = 1024;
  std::size_t queue_depth = 65536;
  std::size_t batch_size = 1024;
  Nanos key_ttl = 0;  ///< evict a key silent this long (processing time); 0: never
  std::int64_t max_state = std::int64_t{1} << 30;  ///< bytes of window state one pipeline may preallocate
  std::int64_t sketch_bytes = 4096;  ///< bytes of one quantile sketch
  std::int64_t outbox_bytes = std::int64_t{1} << 30;  ///< default of outputs.outbox.max_bytes
  std::size_t outbox_queue_depth = 16384;              ///< default of outputs.outbox.queue_depth
};

/// The config's `board:` block: what a board profile (boards/*.yaml) says about the hardware.
struct Board {
  std::string name;    ///< e.g. "rpi4"; empty when no profile names one
  std::string serial;  ///< default device of serial sources that name none; empty: none
};

/// Unit of a time column.
enum class TimeUnit : std::uint8_t { s, ms, us, ns, rfc3339 };
Result<TimeUnit> parse_time_unit(std::string_view text);
/// Converts a numeric time value in `unit` to ns (fractions kept to the ns). Doubles lose
/// precision past 2^53 ns: prefer parse_time_value for text.
Nanos to_nanos(double value, TimeUnit unit) noexcept;
/// Parses a time cell exactly: integers and decimals ("1700000000123", "1700000000.123456")
/// are converted digit by digit, so ms-epoch values land on the exact ns (digits below 1 ns are
/// cut); exponents fall back to double; TimeUnit::rfc3339 parses RFC 3339 text. Surrounding
/// blanks are allowed. nullopt for anything else. Allocation-free (decoders call it per record).
std::optional<Nanos> parse_time_value(std::string_view text, TimeUnit unit) noexcept;
/// Parses a value cell: a finite decimal number, surrounding blanks and a leading '+' allowed;
/// false for text, inf, nan or out of range. Allocation-free (decoders call it per value).
bool parse_number(std::string_view text, double& out) noexcept;
/// "s", "ms", "us", "ns" or "rfc3339".
std::string_view to_string(TimeUnit unit) noexcept;

/// A source's `time:` block: where event time comes from and how disordered it may be.
struct SourceTime {
  std::string field = "ts";      ///< column/field holding event time; empty: arrival time
  TimeUnit unit = TimeUnit::ms;
  Nanos max_out_of_order = 0;
  Nanos idle_timeout = 0;        ///< 0: never idle
  Nanos max_future = 0;          ///< 0: unchecked
};

/// How a source turns its input into records: key column, time, value columns.
struct RecordMapping {
  std::string key = "key";           ///< column/field with the key
  SourceTime time;
  std::vector<std::string> fields;   ///< value columns; empty: every other numeric column
};

/// Counters every source keeps; read from any thread.
struct SourceCounters {
  Counter records;      ///< records decoded and queued
  Counter bytes;        ///< raw input bytes
  Counter malformed;    ///< inputs that could not be decoded (counted, skipped)
  Counter unknown_key;  ///< records refused because the key table is full
  Counter future;       ///< records dropped for being more than max_future ahead
  Counter dead_letters; ///< malformed inputs written to the source's dead-letter file
};

/// What a source factory gets. Pointers outlive the source.
struct SourceSetup {
  std::string name;
  SourceIndex index = 0;
  Block block;  ///< the source's validated block
  RecordMapping mapping;
  KeyTable* keys = nullptr;
  FieldTable* fields = nullptr;
  const Clock* clock = nullptr;   ///< wall clock for arrival times (virtual in tests)
  std::string config_dir;         ///< folder of the config file, for relative paths
  std::string path;               ///< "sources[0]" for messages
  Diagnostics* diag = nullptr;
  Board board{};                  ///< the config's board: block (defaults such as the serial device)
};

/// A producer of events. start() launches its own thread, which pushes into `queue`;
/// stop() asks it to finish and joins. A finite source ends with an end_of_stream event.
class Source {
 public:
  virtual ~Source() = default;
  virtual Result<void> start(IngestQueue& queue) = 0;
  virtual void stop() noexcept = 0;
  virtual const SourceCounters& counters() const noexcept = 0;
};

/// Counters every pipeline keeps (pipeline thread writes, any thread reads).
struct PipelineCounters {
  Counter records;         ///< records processed
  Counter late;            ///< records behind a window that already fired
  Counter late_emitted;    ///< of those, sent out as "late": true
  Counter windows;         ///< summaries emitted
  Counter partial;         ///< of those, flushed before the watermark closed them
  Counter key_overflow;    ///< records of keys beyond the pipeline's state capacity
  Counter evicted_keys;    ///< keys whose state was freed after key_ttl
  Counter stale;           ///< records of a key evicted while they were queued
  Counter incomplete;      ///< count windows not emitted at end of input (incomplete)
  Counter truncated;       ///< windows emitted early (partial) because per-key state was full
};

/// How a flush was asked for.
enum class FlushMode : std::uint8_t {
  end_of_input,  ///< replay finished: emit every open window (marked partial)
  shutdown,      ///< SIGINT/SIGTERM: emit every open window (marked partial)
};

/// A stateful stage of a pipeline: windows and aggregates. Runs on the pipeline thread only.
/// process() is noexcept and allocation-free in the steady state.
class Operator {
 public:
  virtual ~Operator() = default;
  /// Handles samples, watermarks, ticks and end_of_stream, emitting summaries into `out`.
  /// `events` holds whole records: the values of one record never span two calls.
  virtual void process(std::span<const Event> events, SummarySink& out) noexcept = 0;
  /// Emits every open window (partial) and clears state.
  virtual void flush(FlushMode mode, SummarySink& out) noexcept = 0;
  /// Fires the open windows of `key` as complete and forgets its state (key_ttl eviction).
  /// Records that still carry this KeyId afterwards are stale: counted and dropped.
  virtual void evict(KeyId key, SummarySink& out) noexcept = 0;
  /// Serializes the open state (checkpoints); restore() accepts what snapshot() wrote.
  virtual void snapshot(std::vector<std::byte>& out) const = 0;
  virtual Result<void> restore(std::span<const std::byte> in) = 0;
  virtual const SummarySchema& schema() const noexcept = 0;
  virtual const PipelineCounters& counters() const noexcept = 0;
  /// Bytes of state preallocated at construction.
  virtual std::size_t state_bytes() const noexcept = 0;
};

/// Watermark scope.
enum class WatermarkScope : std::uint8_t { per_key, per_source };

/// What an operator factory gets.
struct PipelineSetup {
  std::string name;
  std::uint16_t index = 0;
  Block window;                      ///< the validated `window:` block
  const ConfigNode* aggregates = nullptr;  ///< the `aggregates:` list
  std::vector<SourceIndex> sources;  ///< the sources in `from:`
  std::vector<SourceTime> source_time;  ///< indexed by SourceIndex, every source
  WatermarkScope watermark = WatermarkScope::per_key;
  Limits limits;
  KeyTable* keys = nullptr;
  FieldTable* fields = nullptr;
  std::string path;                  ///< "pipelines[0]"
  Diagnostics* diag = nullptr;
  /// `workers: N`: this operator is worker `shard` of `shards` and holds only the key-table
  /// slots s with s % shards == shard (it sees no other key's records).
  std::uint32_t shards = 1;
  std::uint32_t shard = 0;
};

/// What an output factory gets.
struct OutputSetup {
  Block block;
  std::string gateway;
  std::string config_dir;
  std::string path;  ///< "outputs.console"
  Diagnostics* diag = nullptr;
  /// The whole `outputs:` map, for an output that works with another (upstream reads the
  /// outbox's database); may be null.
  const ConfigNode* outputs = nullptr;
  Limits limits{};  ///< the config's limits: (defaults of outputs' capacities)
};

/// A consumer of summaries (console, outbox, later upstream). emit() runs on the pipeline
/// thread and must only enqueue; I/O runs on the output's own thread when it is slow.
class Output : public SummarySink {
 public:
  virtual Result<void> start() = 0;
  /// Drains and commits everything emitted so far; joins its thread.
  virtual void stop() noexcept = 0;
  /// One line of counters for logs, e.g. "outbox: 120 rows, 0 dropped".
  virtual std::string stats() const = 0;
  /// Payload bytes this output has sent upstream (published to a broker); 0 for local outputs.
  /// Any thread.
  virtual std::uint64_t bytes_forwarded() const noexcept { return 0; }

  /// Window-state checkpoints (the outbox keeps them). How often the engine should take one;
  /// 0: this output keeps none.
  virtual Nanos checkpoint_interval() const noexcept { return 0; }
  /// After start(): the checkpoint and window marks the previous run left (once; later calls
  /// return nothing).
  virtual SavedState take_saved_state() { return {}; }
  /// Stores `checkpoint` in the same transaction as every summary emitted before this call.
  /// A newer checkpoint replaces one not yet written. Pipeline thread.
  virtual void save_checkpoint(Checkpoint&& checkpoint) noexcept { (void)checkpoint; }
};

using SourceFactory = std::unique_ptr<Source> (*)(const SourceSetup&);
using OperatorFactory = std::unique_ptr<Operator> (*)(const PipelineSetup&);
using OutputFactory = std::unique_ptr<Output> (*)(const OutputSetup&);

/// A registered source type. Factories report problems into setup.diag and return nullptr.
struct SourcePlugin {
  std::string_view name;
  std::string_view doc;
  std::span<const ConfigKey> keys;
  SourceFactory make;
  OverflowPolicy default_overflow = OverflowPolicy::drop_newest;
};

/// A registered window type (`window: {type: ...}`).
struct WindowPlugin {
  std::string_view name;
  std::string_view doc;
  std::span<const ConfigKey> keys;
  OperatorFactory make;
};

/// A registered output (`outputs: {<name>: ...}`).
struct OutputPlugin {
  std::string_view name;
  std::string_view doc;
  std::span<const ConfigKey> keys;
  OutputFactory make;
};

/// Names every plugin. Filled once at start by the explicit registration functions.
class Registry {
 public:
  void add(const SourcePlugin& p) { sources_.push_back(p); }
  void add(const WindowPlugin& p) { windows_.push_back(p); }
  void add(const OutputPlugin& p) { outputs_.push_back(p); }
  void add(const ModelPlugin& p) { models_.push_back(p); }
  const SourcePlugin* source(std::string_view name) const noexcept;
  const WindowPlugin* window(std::string_view name) const noexcept;
  const OutputPlugin* output(std::string_view name) const noexcept;
  const ModelPlugin* model(std::string_view name) const noexcept;
  std::span<const SourcePlugin> sources() const noexcept { return sources_; }
  std::span<const WindowPlugin> windows() const noexcept { return windows_; }
  std::span<const OutputPlugin> outputs() const noexcept { return outputs_; }
  std::span<const ModelPlugin> models() const noexcept { return models_; }
  /// "a, b, c" for "did you mean" messages.
  std::string source_names() const;
  std::string window_names() const;
  std::string output_names() const;
  std::string model_names() const;

 private:
  std::vector<SourcePlugin> sources_;
  std::vector<WindowPlugin> windows_;
  std::vector<OutputPlugin> outputs_;
  std::vector<ModelPlugin> models_;
};

}  // namespace vigil::runtime
