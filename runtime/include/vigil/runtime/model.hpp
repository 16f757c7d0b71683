#pragma once
// A pipeline's models (`model:`): what a model plugin declares and what the engine calls. A model
// scores the feature vector of one key's window and writes its outputs (anomaly, t2, score...)
// as extra summary columns. Implementations live in models/; the runtime knows only this interface.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/runtime/config_keys.hpp"
#include "vigil/runtime/event.hpp"
#include "vigil/runtime/result.hpp"

namespace vigil::runtime {

/// What one score() call did for its key.
enum class ModelStatus : std::uint8_t {
  scored,    ///< outputs written
  learning,  ///< the vector went into the key's baseline; outputs NaN
  unfit,     ///< the key's baseline is frozen but no model could be fitted from it; outputs NaN
};

/// What a model factory gets. The chain has resolved the feature columns already.
struct ModelSetup {
  Block block;                     ///< the model's validated map (common keys and the type's keys)
  std::size_t features = 0;        ///< length of every vector score() receives
  std::size_t learn = 0;           ///< baseline: learn the first N vectors of each key, then freeze
  std::size_t max_keys = 0;        ///< key slots to preallocate state for
  std::string path;                ///< "pipelines[0].model[1]" for messages
  Diagnostics* diag = nullptr;     ///< null when the chain is rebuilt (already validated)
  std::vector<std::string> feature_names;  ///< the columns the vector is made of, in order
  std::string file;                ///< `file:` resolved against the config's folder; empty: none
  bool train = false;              ///< built for `vigil train`: do not read `file`, expect train()
};

/// The vectors one model of a chain saw during a replay, for `vigil train`: row r is key
/// `keys[key_of_row[r]]`'s vector at window end `end[r]`; a key's rows are in arrival order.
struct TrainingData {
  std::vector<std::string> keys;
  std::vector<std::uint32_t> key_of_row;
  std::vector<Nanos> end;
  std::vector<double> values;  ///< rows * cols, row after row
  std::size_t cols = 0;
  std::string input;           ///< the replayed file, for the model file's metadata

  std::size_t rows() const noexcept { return key_of_row.size(); }
};

/// One configured model with per-key state for every key slot, allocated by the factory.
/// Pipeline thread only; score() is noexcept and allocation-free once a key's model is fitted.
class Model {
 public:
  virtual ~Model() = default;
  /// Learns or scores `x` (ModelSetup::features values, all finite) for key slot `slot` and
  /// writes one value per ModelPlugin::outputs into `out` (NaN unless scored).
  virtual ModelStatus score(std::uint32_t slot, std::span<const double> x, std::span<double> out) noexcept = 0;
  /// Forgets the state of `slot` (a new key took it): learning starts again.
  virtual void reset(std::uint32_t slot) noexcept = 0;
  /// Appends the state of `slot` (baseline, fitted flag, filters, charts) for a checkpoint.
  virtual void snapshot(std::uint32_t slot, std::vector<std::byte>& out) const = 0;
  /// Reads what snapshot() wrote into `slot` (refitting a frozen baseline); an error when the
  /// bytes do not fit this model.
  virtual Result<void> restore(std::uint32_t slot, std::span<const std::byte> in) = 0;
  /// Bytes of per-key state for every slot (fitted models counted at their fitted size).
  virtual std::size_t state_bytes() const noexcept = 0;
  /// Models of raw samples (ModelPlugin::raw_samples): scores the samples of the summary's
  /// field inside its window [start, end), oldest first, at most the block's `max_samples`.
  /// Allocation-free. The default refuses (unfit).
  virtual ModelStatus score_samples(std::uint32_t slot, std::span<const double> samples, std::span<double> out) noexcept;
  /// `vigil train`: fits the model to `data` and writes its model file to `out`; returns a
  /// report for the user (what was fitted, cross-validated figures). Only called on a model
  /// built with ModelSetup::train.
  virtual Result<std::string> train(const TrainingData& data, const std::string& out);
};

using ModelFactory = std::unique_ptr<Model> (*)(const ModelSetup&);
/// Bytes of state one key will need (checked against limits.max_state before the factory runs).
using ModelKeyBytes = std::size_t (*)(const ModelSetup&);

/// Where a model type's fitted state may come from (ModelPlugin::sources, a bit mask).
enum ModelSources : std::uint8_t {
  kLearnsOnDevice = 1,  ///< `baseline: {learn: N}`
  kFromFile = 2,        ///< `file:` written by `vigil train`
  kStateless = 0,       ///< neither: a feature extractor with nothing to learn
};

/// Output columns that depend on the block (a column per configured band), before `as:`.
using ModelOutputsOf = std::vector<std::string> (*)(const Block& block);

/// A registered model type (`model: {type: ...}`).
struct ModelPlugin {
  std::string_view name;
  std::string_view doc;
  std::span<const ConfigKey> keys;  ///< the type's keys; `feature` or `features` among them
  std::span<const std::string_view> outputs;  ///< output columns, in order, before the `as:` prefix
  ModelFactory make;
  ModelKeyBytes key_bytes;
  std::uint8_t sources = kLearnsOnDevice;  ///< ModelSources: exactly one of them per model block
  /// Reads the raw values of the source field named by its `field` key, kept per key in a ring
  /// of `max_samples` (both keys of the type), through score_samples() instead of score().
  bool raw_samples = false;
  ModelOutputsOf outputs_of = nullptr;  ///< set: the outputs, instead of `outputs` (which documents them)
};

/// Keys every model has (type, baseline, as), for validation and `vigil describe`.
std::span<const ConfigKey> model_common_keys() noexcept;

}  // namespace vigil::runtime
