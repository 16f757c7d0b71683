#pragma once
// Builds the pipeline graph from a validated configuration and runs it: source threads feed
// bounded queues, one pipeline thread drains them in batches through the window operators,
// outputs receive the summaries.
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/runtime/config_node.hpp"
#include "vigil/runtime/plugin.hpp"

namespace vigil::runtime {

/// How the engine is used.
enum class EngineMode : std::uint8_t {
  validate,  ///< build everything, start nothing
  run,       ///< live: every source and output
  replay,    ///< one source fed from a file; console output; outbox only if asked
};

struct TrainTarget;

struct EngineOptions {
  EngineMode mode = EngineMode::run;
  bool replay_outbox = false;          ///< replay also writes the outbox
  std::FILE* console = stdout;         ///< where the console output writes
  EnvLookup env = process_env();
  const Clock* wall = nullptr;         ///< event-time clock for sources (default: WallClock)
  const Clock* monotonic = nullptr;    ///< timeouts, ticks, key_ttl, --for (default: MonotonicClock)
  /// `vigil train` (replay mode): the model whose input vectors the replay collects.
  TrainTarget* train = nullptr;
};

/// Markdown reference of the keys the engine itself reads: top level, limits, the keys every
/// source has (key, time, fields, queue), and pipelines. Plugins' keys come from the registry.
std::string describe_core_keys();

/// A built configuration: sources, pipelines, outputs, ready to start.
class Engine {
 public:
  /// Loads, validates and builds `config_path`. Every problem is reported, one
  /// "file:line:column: message" per line; nothing is started.
  static Result<std::unique_ptr<Engine>> load(const std::string& config_path, const Registry& registry,
                                              EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Index of the source called `name`; the first source when `name` is empty.
  Result<SourceIndex> find_source(std::string_view name) const;
  /// Setup of a source (its mapping, name, clock...), e.g. for building a replay reader.
  const SourceSetup& source_setup(SourceIndex index) const;
  /// Replaces the source at `index` (replay); only `index` is started in replay mode.
  void replace_source(SourceIndex index, std::unique_ptr<Source> source);

  /// Starts outputs and sources, then runs the pipeline loop on the calling thread until
  /// `stop` becomes true, `run_for` elapses (0: forever) or, in replay, every started source
  /// ended. Then flushes open windows, stops outputs (committing them) and returns.
  Result<void> run(const std::atomic<bool>& stop, Nanos run_for = 0);

  /// Turns of the pipeline loop so far (it turns at least every tick while live): a watchdog
  /// that sees it stand still knows the pipeline thread is stuck. Any thread may read it.
  std::uint64_t progress() const noexcept;

  /// Counters as one JSON object.
  std::string stats_json() const;
  /// Human summary of counters, one line per source/pipeline/output.
  std::string stats_text() const;

  /// The config's board: block (empty name and serial without one).
  const Board& board() const noexcept;
  const std::string& gateway() const noexcept;

  /// What left the gateway compared with what came in, over all pipelines and outputs.
  struct ForwardTotals {
    std::uint64_t forwarded = 0;        ///< summaries the forward policies sent upstream
    std::uint64_t held = 0;             ///< summaries they kept local
    std::uint64_t bytes_in = 0;         ///< raw payload bytes the started sources read
    std::uint64_t bytes_forwarded = 0;  ///< payload bytes published upstream
  };
  ForwardTotals forward_totals() const noexcept;

 private:
  Engine();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::runtime
