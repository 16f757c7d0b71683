#include "vigil/models/model_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>

#include "model_generated.h"

namespace vigil::models {
namespace {

namespace fb = vigil::model_file;

std::string joined(std::span<const std::string> names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(none)" : out;
}

// Text of a FlatBuffers string; empty when absent (required fields are checked by the verifier).
std::string text_of(const flatbuffers::String* s) { return s ? std::string(s->c_str(), s->size()) : std::string(); }

}  // namespace

void ModelFile::put(std::string name, std::size_t rows, std::size_t cols, std::vector<double> data) {
  matrices.push_back(NamedMatrix{std::move(name), rows, cols, std::move(data)});
}

Result<const NamedMatrix*> ModelFile::matrix(std::string_view name, std::size_t rows, std::size_t cols) const {
  for (const auto& m : matrices) {
    if (m.name != name) continue;
    if ((rows && m.rows != rows) || (cols && m.cols != cols) || m.data.size() != m.rows * m.cols)
      return Error{"matrix " + std::string(name) + " is " + std::to_string(m.rows) + " x " + std::to_string(m.cols) +
                   (rows || cols ? ", expected " + std::to_string(rows) + " x " + std::to_string(cols) : "")};
    return &m;
  }
  return Error{"has no matrix " + std::string(name)};
}

Result<double> ModelFile::scalar(std::string_view name) const {
  for (const auto& [n, v] : scalars)
    if (n == name) return v;
  return Error{"has no value " + std::string(name)};
}

std::string ModelFile::text(std::string_view name) const {
  for (const auto& [n, v] : metadata)
    if (n == name) return v;
  return {};
}

std::vector<std::uint8_t> encode_model_file(const ModelFile& m) {
  flatbuffers::FlatBufferBuilder b(1024);
  std::vector<flatbuffers::Offset<flatbuffers::String>> features;
  for (const auto& f : m.features) features.push_back(b.CreateString(f));
  std::vector<flatbuffers::Offset<fb::Matrix>> matrices;
  for (const auto& x : m.matrices)
    matrices.push_back(fb::CreateMatrix(b, b.CreateString(x.name), static_cast<std::uint32_t>(x.rows),
                                        static_cast<std::uint32_t>(x.cols), b.CreateVector(x.data)));
  std::vector<flatbuffers::Offset<fb::Scalar>> scalars;
  for (const auto& [n, v] : m.scalars) scalars.push_back(fb::CreateScalar(b, b.CreateString(n), v));
  std::vector<flatbuffers::Offset<fb::Text>> metadata;
  for (const auto& [n, v] : m.metadata) metadata.push_back(fb::CreateText(b, b.CreateString(n), b.CreateString(v)));
  const auto root = fb::CreateModel(b, m.format, b.CreateString(m.type), b.CreateVector(features),
                                    b.CreateVector(matrices), b.CreateVector(scalars), b.CreateVector(metadata));
  fb::FinishModelBuffer(b, root);
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

Result<ModelFile> decode_model_file(std::span<const std::uint8_t> bytes) {
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  if (bytes.size() < 8 || !fb::ModelBufferHasIdentifier(bytes.data()) || !fb::VerifyModelBuffer(verifier))
    return Error{"is not a Vigil model file (write one with vigil train)"};
  const fb::Model* root = fb::GetModel(bytes.data());
  ModelFile m;
  m.format = root->format();
  if (m.format != kModelFileFormat)
    return Error{"has model file format " + std::to_string(m.format) + "; this vigil reads format " +
                 std::to_string(kModelFileFormat) + " (train the model again with this version)"};
  m.type = text_of(root->type());
  if (root->features())
    for (const auto* f : *root->features()) m.features.push_back(text_of(f));
  if (root->matrices())
    for (const auto* x : *root->matrices()) {
      NamedMatrix nm{text_of(x->name()), x->rows(), x->cols(), {}};
      // The verifier checks the vector's length, not that its doubles are 8-byte aligned in a
      // hostile file: copy bytes, never load doubles from the buffer.
      if (const auto* v = x->data(); v && v->size() > 0) {
        nm.data.resize(v->size());
        std::memcpy(nm.data.data(), v->Data(), nm.data.size() * sizeof(double));
      }
      m.matrices.push_back(std::move(nm));
    }
  if (root->scalars())
    for (const auto* x : *root->scalars()) m.scalars.emplace_back(text_of(x->name()), x->value());
  if (root->metadata())
    for (const auto* x : *root->metadata()) m.metadata.emplace_back(text_of(x->name()), text_of(x->value()));
  return m;
}

Result<void> write_model_file(const ModelFile& m, const std::string& path) {
  const std::vector<std::uint8_t> bytes = encode_model_file(m);
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Error{"cannot write " + tmp + ": " + std::strerror(errno)};
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed) {
    const int e = errno;
    std::remove(tmp.c_str());
    return Error{"cannot write " + tmp + ": " + std::strerror(e)};
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    return Error{"cannot rename " + tmp + " to " + path + ": " + std::strerror(e)};
  }
  return runtime::ok();
}

Result<ModelFile> read_model_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"cannot read model file " + path + ": " + std::strerror(errno)};
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto m = decode_model_file(bytes);
  if (!m) return Error{"model file " + path + " " + m.error().message};
  return m;
}

Result<void> check_model_file(const ModelFile& m, std::string_view type, std::span<const std::string> features,
                              const std::string& path) {
  if (m.type != type)
    return Error{"model file " + path + " holds a " + m.type + " model, not " + std::string(type) +
                 "; give this block type: " + m.type + " or train a " + std::string(type) + " model"};
  if (!std::equal(m.features.begin(), m.features.end(), features.begin(), features.end()))
    return Error{"model file " + path + " was trained on the features [" + joined(m.features) +
                 "] but this model reads [" + joined(features) +
                 "]; list the same columns in the same order (features:) or train again with this config"};
  return runtime::ok();
}

void note_training(ModelFile& m, const std::string& input, std::size_t rows, std::size_t keys) {
  char when[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  m.note("trained_at", when);
#ifdef VIGIL_VERSION
  m.note("vigil_version", VIGIL_VERSION);
#endif
  m.note("input", input);
  m.note("rows", std::to_string(rows));
  m.note("keys", std::to_string(keys));
}

}  // namespace vigil::models
