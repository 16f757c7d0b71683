// Fuzzes the FlatBuffers Readings decoder: any bytes must verify or be rejected, and every
// reading of a verified message must decode or be refused, never read outside the buffer.
// The first byte picks discovered or fixed fields and an odd start address (the decoder then
// copies the message to an aligned buffer).
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "reading_codec.hpp"

namespace sensors = vigil::sensors;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  std::vector<std::string> fields;
  if (selector & 1) fields = {"temp", "vib", "sensors.temp"};
  auto made = sensors::ReadingDecoder::make(fields);
  if (!made) __builtin_trap();
  sensors::ReadingDecoder decoder = std::move(made.value());

  // A copy of the message at offset 0 or 1 of an 8-byte aligned buffer.
  const std::size_t shift = (selector & 2) ? 1 : 0;
  std::vector<std::uint64_t> storage((size + shift + 7) / 8 + 1);
  auto* bytes = reinterpret_cast<std::uint8_t*>(storage.data()) + shift;
  for (std::size_t i = 1; i < size; ++i) bytes[i - 1] = data[i];
  const std::span<const std::uint8_t> message(bytes, size - 1);

  for (int round = 0; round < 2; ++round) {
    if (!decoder.open(message)) {
      if (decoder.size() != 0 || decoder.reason().empty()) __builtin_trap();
      return 0;
    }
    for (std::size_t i = 0; i < decoder.size(); ++i) {
      sensors::DecodedLine line;
      if (decoder.decode(i, line) == sensors::LineStatus::record) {
        if (line.present > decoder.field_count()) __builtin_trap();
        double sum = 0;
        for (std::size_t f = 0; f < decoder.field_count(); ++f)
          if (decoder.has_value(f)) sum += decoder.value(f);
        (void)sum;
        (void)line.key.size();
      } else if (decoder.reason().empty()) {
        __builtin_trap();
      }
    }
    if (decoder.field_count() > sensors::ReadingDecoder::kMaxDiscoveredFields) __builtin_trap();
  }
  return 0;
}
