// Fuzzes model files (`model: {file: ...}`): any bytes must decode or be rejected, never read
// outside the buffer; a decoded rul model either loads with consistent shapes or is refused,
// and a loaded one predicts a finite estimate inside its band.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vigil/models/model_file.hpp"
#include "vigil/models/rul.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto decoded = vigil::models::decode_model_file(std::span<const std::uint8_t>(data, size));
  if (!decoded.ok()) return 0;
  // What decodes encodes again to the same contents.
  auto again = vigil::models::decode_model_file(vigil::models::encode_model_file(*decoded));
  if (!again.ok() || again->features != decoded->features || again->matrices.size() != decoded->matrices.size())
    __builtin_trap();
  auto rul = vigil::models::RulRegressor::from_file(*decoded);
  if (!rul.ok()) return 0;
  const std::vector<double> z(rul->dim(), 0.0);
  const auto e = rul->predict(z);
  if (!(e.lo <= e.rul && e.rul <= e.hi) && std::isfinite(e.rul)) __builtin_trap();
  return 0;
}
