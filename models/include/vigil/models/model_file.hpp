#pragma once
// Model files (`vigil train --out`, `model: {file: ...}`): a fitted model's type, the feature
// columns it reads, named matrices and scalars, and training metadata, stored as FlatBuffers
// (models/schemas/model.fbs, file identifier "VGMF").
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/runtime/result.hpp"

namespace vigil::models {

using runtime::Error;
using runtime::Result;

inline constexpr std::uint32_t kModelFileFormat = 1;

/// A named row-major matrix (a vector is one row).
struct NamedMatrix {
  std::string name;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<double> data;
};

/// The contents of one model file.
struct ModelFile {
  std::uint32_t format = kModelFileFormat;
  std::string type;
  std::vector<std::string> features;
  std::vector<NamedMatrix> matrices;
  std::vector<std::pair<std::string, double>> scalars;
  std::vector<std::pair<std::string, std::string>> metadata;

  void put(std::string name, std::size_t rows, std::size_t cols, std::vector<double> data);
  void put(std::string name, double value) { scalars.emplace_back(std::move(name), value); }
  void note(std::string name, std::string value) { metadata.emplace_back(std::move(name), std::move(value)); }

  /// The matrix called `name` with exactly rows x cols values (0: any); an error naming the
  /// file's problem otherwise.
  Result<const NamedMatrix*> matrix(std::string_view name, std::size_t rows = 0, std::size_t cols = 0) const;
  Result<double> scalar(std::string_view name) const;
  /// Metadata value, empty when absent.
  std::string text(std::string_view name) const;
};

/// Serializes `m` (FlatBuffers bytes).
std::vector<std::uint8_t> encode_model_file(const ModelFile& m);
/// Reads FlatBuffers bytes: an error when they are not a verified model file of a known format.
Result<ModelFile> decode_model_file(std::span<const std::uint8_t> bytes);

/// Writes `m` to `path` through a temporary file renamed into place (never half written).
Result<void> write_model_file(const ModelFile& m, const std::string& path);
/// Reads and decodes `path`; errors name the path.
Result<ModelFile> read_model_file(const std::string& path);

/// Checks that a file made for `type` over `features` is loaded by the same type over the same
/// columns in the same order; the error says what differs and how to fix it.
Result<void> check_model_file(const ModelFile& m, std::string_view type, std::span<const std::string> features,
                              const std::string& path);

/// Metadata every trained file carries: vigil version, UTC time, input file, rows, keys.
void note_training(ModelFile& m, const std::string& input, std::size_t rows, std::size_t keys);

}  // namespace vigil::models
