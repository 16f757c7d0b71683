#pragma once
// The models of one pipeline, run in order on every summary before the forward policy: each
// model reads window columns and the outputs of the models before it and appends its own.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "vigil/runtime/counter.hpp"
#include "vigil/runtime/model.hpp"
#include "vigil/runtime/key_table.hpp"
#include "vigil/runtime/plugin.hpp"
#include "vigil/runtime/summary.hpp"

namespace vigil::runtime {

/// Summaries seen by a chain (pipeline thread writes, any thread reads).
struct ModelChainCounters {
  Counter scored;    ///< every model scored the summary
  Counter learning;  ///< a model put the summary's vector into its key's baseline (outputs NaN)
  Counter skipped;   ///< late, or a feature was NaN: not learned, not scored (outputs NaN)
  Counter unfit;     ///< a key's frozen baseline gave no model (e.g. every feature constant)
  Counter raw_truncated;  ///< a raw-sample model's window lost samples to its full ring (outputs NaN)
};

/// `vigil train`: the model whose input vectors a replay collects instead of scoring them. The
/// engine fills the fields below `stage` at load; the replay fills `data`.
struct TrainTarget {
  std::string pipeline;  ///< pipeline name; empty: the one pipeline with a `file:` model
  std::size_t stage = static_cast<std::size_t>(-1);  ///< index in the chain; -1: its one `file:` model
  std::string found_pipeline;  ///< the pipeline's name
  std::string path;            ///< "pipelines[0].model[1]"
  std::string file;            ///< its `file:`, resolved against the config's folder
  Model* model = nullptr;      ///< owned by the engine's chain
  TrainingData data;
};

/// A pipeline's `model:` block, built at load with per-key state for limits.max_keys slots.
/// apply() runs on the pipeline thread, is noexcept and allocates nothing once keys are fitted.
class ModelChain {
 public:
  /// Builds the chain of `node` (one map or a list of maps) for summaries of `schema`. Every
  /// problem goes into `diag` as file:line:column (unknown type, key or column, duplicate output
  /// names, state beyond limits.max_state together with the window's `window_state_bytes`);
  /// nullptr then.
  static std::unique_ptr<ModelChain> build(const ConfigNode& node, const SummarySchema& schema,
                                           const Registry& registry, const Limits& limits,
                                           std::size_t window_state_bytes, const std::string& path,
                                           Diagnostics& diag, const std::string& config_dir = {},
                                           TrainTarget* train = nullptr, const FieldTable* fields = nullptr);
  ~ModelChain();
  ModelChain(const ModelChain&) = delete;
  ModelChain& operator=(const ModelChain&) = delete;

  /// Copies the summary's values into the chain's buffer, runs every model for the summary's key
  /// and points `s.values` and `s.schema` at the buffer and the extended schema. Late summaries
  /// (kLate) and vectors with a NaN feature are neither learned nor scored: their outputs are NaN.
  /// A key slot taken by a new key (new generation) starts learning afresh.
  void apply(Summary& s) noexcept;
  /// Keeps the raw values of the fields raw-sample models read (call with every event batch of
  /// the pipeline, before the window sees it). Allocation-free.
  void observe(std::span<const Event> events) noexcept;

  /// The pipeline's columns followed by every model's outputs (with `as:` prefixes).
  const SummarySchema& schema() const noexcept { return schema_; }
  const ModelChainCounters& counters() const noexcept { return counters_; }
  /// Bytes of per-key state (every slot, fitted models at their fitted size).
  std::size_t state_bytes() const noexcept;
  /// Appends every live key's state (by key name) for a checkpoint.
  void snapshot(const KeyTable& keys, std::vector<std::byte>& out) const;
  /// Reads what snapshot() wrote, interning the keys. On an error the chain may be half
  /// restored: call clear().
  Result<void> restore(std::span<const std::byte> in, KeyTable& keys);
  /// Forgets every key: all learn again.
  void clear() noexcept;

 private:
  struct Stage;
  struct RawRing;
  ModelChain();
  void collect(const Summary& s, std::size_t cols) noexcept;
  SummarySchema schema_;
  std::size_t window_columns_ = 0;
  std::vector<Stage> stages_;
  std::vector<double> values_;  // the window's columns, then every output
  std::vector<double> x_;       // one stage's gathered features (raw stages: the window's samples)
  std::vector<std::unique_ptr<RawRing>> rings_;  // one per raw-sample stage
  std::vector<std::uint32_t> generation_;  // per key slot
  std::vector<unsigned char> seen_;        // per key slot: a summary of this generation was applied
  TrainTarget* train_ = nullptr;           // `vigil train`: stage train_stage_ collects, later ones idle
  std::size_t train_stage_ = 0;
  std::unordered_map<std::string, std::uint32_t> train_keys_;  // key name -> index in data.keys
  ModelChainCounters counters_;
};

}  // namespace vigil::runtime
