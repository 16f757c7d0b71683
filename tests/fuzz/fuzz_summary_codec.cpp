// Fuzzes the FlatBuffers summary decoder: any bytes must decode or be rejected, never read
// outside the buffer.
#include <cstddef>
#include <cstdint>
#include <span>

#include "vigil/sync/summary_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto decoded = vigil::sync::decode_flat_summary(std::span<const std::uint8_t>(data, size));
  if (decoded.ok() && decoded.value().names.size() != decoded.value().values.size()) __builtin_trap();
  return 0;
}
