#pragma once
// The FlatBuffers form of sensor readings (schema: sensors/schemas/reading.fbs, file identifier
// "VGR1"): an encoder for publishers (`vigil simulate`) and a verifying decoder for the mqtt
// source. No FlatBuffers types in this header.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "line_decoder.hpp"
#include "vigil/runtime/result.hpp"
#include "vigil/runtime/time.hpp"

namespace vigil::sensors {

/// Schema version written into every buffer (`Readings.version`).
inline constexpr std::uint16_t kReadingsVersion = 1;

/// Builds `vigil.fb.Readings` messages, one or more readings each, reusing one builder: once it
/// has grown to the largest message, encoding allocates nothing. Readings whose names equal the
/// previous reading's share one names vector, so a batch costs little more than its numbers.
/// One thread at a time.
class ReadingEncoder {
 public:
  explicit ReadingEncoder(std::size_t initial_bytes = 1024);
  ~ReadingEncoder();
  ReadingEncoder(const ReadingEncoder&) = delete;
  ReadingEncoder& operator=(const ReadingEncoder&) = delete;

  /// Starts a new message (forgets the readings added so far).
  void clear() noexcept;
  /// Adds one reading: `key` (empty: none), event time (`has_time` false: none), and one value
  /// per name (NaN: no value). `names` and `values` must have the same size.
  void add(std::string_view key, bool has_time, runtime::Nanos time, std::span<const std::string> names,
           std::span<const double> values);
  /// Readings added since clear().
  std::size_t size() const noexcept;
  /// Finishes the message; the bytes stay valid until the next clear() or add().
  std::span<const std::uint8_t> finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Verifies `vigil.fb.Readings` messages and decodes their readings into value slots, like a
/// LineDecoder: `fields` names the slots, or (empty) they are discovered from the data up to
/// kMaxDiscoveredFields names. open() and decode() never allocate (beyond a discovered name, once,
/// or a scratch copy for a message larger than any before at an address not 8-byte aligned)
/// and never read outside the message. One thread at a time.
class ReadingDecoder {
 public:
  static constexpr std::size_t kMaxDiscoveredFields = LineDecoder::kMaxDiscoveredFields;

  /// Checks `fields` (non-empty names, no duplicates). The error says what to change.
  static runtime::Result<ReadingDecoder> make(std::vector<std::string> fields);

  /// Verifies a message (identifier, structure, bounds). False with reason() when it is not a
  /// well-formed Readings buffer; the readings then number 0. The bytes must stay alive and
  /// unchanged while its readings are decoded.
  bool open(std::span<const std::uint8_t> bytes) noexcept;
  /// Readings in the opened message.
  std::size_t size() const noexcept { return size_; }
  /// Schema version of the opened message.
  std::uint16_t version() const noexcept { return version_; }
  /// Decodes reading `i` (< size()): key (empty: none), time, and values into the slots.
  /// `record`, or `malformed` (reason()) for an empty key, names and values of different
  /// lengths, or an infinite value. Views point into the message.
  LineStatus decode(std::size_t i, DecodedLine& out) noexcept;

  std::size_t field_count() const noexcept { return names_.size(); }
  const std::string& field_name(std::size_t i) const noexcept { return names_[i]; }
  bool has_value(std::size_t i) const noexcept { return present_[i] != 0; }
  double value(std::size_t i) const noexcept { return values_[i]; }
  std::string_view reason() const noexcept { return reason_; }

 private:
  ReadingDecoder() = default;
  std::size_t slot_of(std::string_view name) noexcept;
  bool fail(const char* format, ...) noexcept __attribute__((format(printf, 2, 3)));

  bool discover_ = false;
  std::vector<std::string> names_;
  std::vector<double> values_;
  std::vector<char> present_;
  std::vector<std::uint64_t> aligned_;  // scratch copy of a message not 8-byte aligned
  const std::uint8_t* message_ = nullptr;
  std::size_t size_ = 0;
  std::uint16_t version_ = 0;
  char reason_[192] = {};
};

}  // namespace vigil::sensors
