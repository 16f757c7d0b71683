#include "reading_codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include <flatbuffers/flatbuffers.h>

#include "reading_generated.h"

namespace vigil::sensors {
namespace {

int shown(std::string_view text) noexcept { return static_cast<int>(std::min<std::size_t>(text.size(), 48)); }

}  // namespace

struct ReadingEncoder::Impl {
  explicit Impl(std::size_t initial_bytes) : builder(initial_bytes) {
    // `version` is written even at its default, so a reader of a later schema never guesses.
    builder.ForceDefaults(true);
  }
  flatbuffers::FlatBufferBuilder builder;
  std::vector<flatbuffers::Offset<fb::Reading>> readings;
  std::vector<flatbuffers::Offset<flatbuffers::String>> name_offsets;
  // The names vector of the previous reading, shared while the names repeat.
  std::vector<std::string> last_names;
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> last_names_vector;
  bool has_last = false;
};

ReadingEncoder::ReadingEncoder(std::size_t initial_bytes) : impl_(std::make_unique<Impl>(initial_bytes)) {}
ReadingEncoder::~ReadingEncoder() = default;

void ReadingEncoder::clear() noexcept {
  impl_->builder.Clear();
  impl_->readings.clear();
  impl_->has_last = false;
}

std::size_t ReadingEncoder::size() const noexcept { return impl_->readings.size(); }

void ReadingEncoder::add(std::string_view key, bool has_time, runtime::Nanos time,
                         std::span<const std::string> names, std::span<const double> values) {
  auto& b = impl_->builder;
  const bool same_names = impl_->has_last && std::equal(names.begin(), names.end(), impl_->last_names.begin(),
                                                         impl_->last_names.end());
  if (!same_names) {
    impl_->name_offsets.clear();
    for (const std::string& name : names) impl_->name_offsets.push_back(b.CreateString(name.data(), name.size()));
    impl_->last_names_vector = b.CreateVector(impl_->name_offsets.data(), impl_->name_offsets.size());
    impl_->last_names.assign(names.begin(), names.end());
    impl_->has_last = true;
  }
  const auto values_vector = b.CreateVector(values.data(), values.size());
  flatbuffers::Offset<flatbuffers::String> key_offset;
  if (!key.empty()) key_offset = b.CreateString(key.data(), key.size());
  fb::ReadingBuilder reading(b);
  if (!key.empty()) reading.add_key(key_offset);
  if (has_time) reading.add_time_ns(time);
  reading.add_names(impl_->last_names_vector);
  reading.add_values(values_vector);
  impl_->readings.push_back(reading.Finish());
}

std::span<const std::uint8_t> ReadingEncoder::finish() {
  auto& b = impl_->builder;
  const auto readings = b.CreateVector(impl_->readings.data(), impl_->readings.size());
  fb::ReadingsBuilder root(b);
  root.add_version(kReadingsVersion);
  root.add_readings(readings);
  b.Finish(root.Finish(), fb::ReadingsIdentifier());
  impl_->has_last = false;
  return {b.GetBufferPointer(), b.GetSize()};
}

runtime::Result<ReadingDecoder> ReadingDecoder::make(std::vector<std::string> fields) {
  ReadingDecoder d;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].empty()) return runtime::Error{"fields[" + std::to_string(i) + "] is empty; name each field"};
    if (std::find(fields.begin(), fields.begin() + static_cast<std::ptrdiff_t>(i), fields[i]) !=
        fields.begin() + static_cast<std::ptrdiff_t>(i))
      return runtime::Error{"field \"" + fields[i] + "\" is listed twice in fields"};
  }
  d.discover_ = fields.empty();
  d.names_ = std::move(fields);
  if (d.discover_) d.names_.reserve(kMaxDiscoveredFields);
  const std::size_t slots = d.discover_ ? kMaxDiscoveredFields : d.names_.size();
  d.values_.assign(slots, 0.0);
  d.present_.assign(slots, 0);
  return d;
}

bool ReadingDecoder::fail(const char* format, ...) noexcept {
  va_list args;
  va_start(args, format);
  std::vsnprintf(reason_, sizeof reason_, format, args);
  va_end(args);
  return false;
}

std::size_t ReadingDecoder::slot_of(std::string_view name) noexcept {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return i;
  return static_cast<std::size_t>(-1);
}

bool ReadingDecoder::open(std::span<const std::uint8_t> bytes) noexcept {
  message_ = nullptr;
  size_ = 0;
  version_ = 0;
  reason_[0] = '\0';
  if (bytes.size() < 8) return fail("%zu bytes is too short for a FlatBuffers Readings message", bytes.size());
  if (bytes.size() > FLATBUFFERS_MAX_BUFFER_SIZE) return fail("the message is too large");
  const std::uint8_t* data = bytes.data();
  // Scalars are read in place, so the buffer must start 8-byte aligned (the verifier checks
  // alignment relative to the start). Payload buffers usually are; others are copied once.
  if (reinterpret_cast<std::uintptr_t>(data) % alignof(std::uint64_t) != 0) {
    const std::size_t words = (bytes.size() + 7) / 8;
    if (aligned_.size() < words) {
      try {
        aligned_.resize(words);
      } catch (const std::bad_alloc&) {
        return fail("the message is too large to copy (%zu bytes)", bytes.size());
      }
    }
    std::memcpy(aligned_.data(), data, bytes.size());
    data = reinterpret_cast<const std::uint8_t*>(aligned_.data());
  }
  if (!fb::ReadingsBufferHasIdentifier(data))
    return fail("not a FlatBuffers Readings message (file identifier is not \"VGR1\")");
  flatbuffers::Verifier verifier(data, bytes.size());
  if (!fb::VerifyReadingsBuffer(verifier))
    return fail("damaged FlatBuffers Readings message (%zu bytes): it fails verification", bytes.size());
  const fb::Readings* root = fb::GetReadings(data);
  message_ = data;
  version_ = root->version();
  size_ = root->readings() ? root->readings()->size() : 0;
  return true;
}

LineStatus ReadingDecoder::decode(std::size_t i, DecodedLine& out) noexcept {
  out = DecodedLine{};
  reason_[0] = '\0';
  std::fill(present_.begin(), present_.end(), 0);
  if (message_ == nullptr || i >= size_) {
    fail("no reading %zu in the message", i);
    return LineStatus::malformed;
  }
  const fb::Reading* r = fb::GetReadings(message_)->readings()->Get(static_cast<flatbuffers::uoffset_t>(i));
  if (r == nullptr) {
    fail("reading %zu is missing", i);
    return LineStatus::malformed;
  }
  if (const flatbuffers::String* key = r->key()) {
    if (key->size() == 0) {
      fail("reading %zu has an empty key", i);
      return LineStatus::malformed;
    }
    out.key = std::string_view(key->c_str(), key->size());
  }
  if (const auto t = r->time_ns(); t.has_value()) {
    out.has_time = true;
    out.time = *t;
  }
  const auto* names = r->names();
  const auto* values = r->values();
  const std::size_t n = names ? names->size() : 0;
  if (n != (values ? values->size() : 0)) {
    fail("reading %zu has %zu names but %zu values", i, n, values ? static_cast<std::size_t>(values->size()) : 0);
    return LineStatus::malformed;
  }
  // Doubles are copied byte-wise: the verifier checks only the 4-byte alignment of a vector,
  // so a hostile buffer may place them at an address no double can be loaded from.
  const std::uint8_t* raw = n > 0 ? values->Data() : nullptr;
  for (std::size_t j = 0; j < n; ++j) {
    const flatbuffers::String* name_string = names->Get(static_cast<flatbuffers::uoffset_t>(j));
    if (name_string == nullptr) continue;
    const std::string_view name(name_string->c_str(), name_string->size());
    double v = 0;
    std::memcpy(&v, raw + j * sizeof(double), sizeof v);
    if (std::isnan(v)) continue;  // no value
    std::size_t slot = slot_of(name);
    if (slot == static_cast<std::size_t>(-1)) {
      if (!discover_ || names_.size() >= kMaxDiscoveredFields || name.empty()) continue;
      names_.emplace_back(name);
      slot = names_.size() - 1;
    }
    if (!std::isfinite(v)) {
      fail("\"%.*s\" of reading %zu is infinite", shown(name), name.data(), i);
      return LineStatus::malformed;
    }
    values_[slot] = v;
    present_[slot] = 1;
  }
  out.present = static_cast<std::size_t>(std::count(present_.begin(), present_.end(), 1));
  return LineStatus::record;
}

}  // namespace vigil::sensors
