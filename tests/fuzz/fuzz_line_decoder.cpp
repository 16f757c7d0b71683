// Fuzzes the line decoder in every format. The first byte picks the layout (format, unit,
// fixed or discovered fields); every following line is decoded by the same decoder, so
// discovered names and state carry over from line to line as they do in a source.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "line_decoder.hpp"

namespace rt = vigil::runtime;
namespace sensors = vigil::sensors;

namespace {

sensors::LineLayout layout_for(std::uint8_t selector) {
  sensors::LineLayout layout;
  constexpr rt::TimeUnit kUnits[] = {rt::TimeUnit::ms, rt::TimeUnit::s, rt::TimeUnit::us,
                                     rt::TimeUnit::ns, rt::TimeUnit::rfc3339};
  layout.unit = kUnits[(selector >> 2) % 5];
  const bool fixed = (selector & 0x20) != 0;
  switch (selector % 3) {
    case 0:
      layout.format = sensors::LineFormat::csv;
      layout.key = "machine";
      layout.time = "ts";
      layout.fields = {"temp", "vib"};
      if (fixed) layout.columns = {"ts", "machine", "temp", "extra", "vib"};
      break;
    case 1:
      layout.format = sensors::LineFormat::json;
      layout.key = "machine";
      layout.time = "ts";
      if (fixed) layout.fields = {"temp", "a.b", "vib"};
      break;
    default:
      layout.format = sensors::LineFormat::kv;
      layout.key = "machine";
      layout.time = "ts";
      if (fixed) layout.fields = {"temp", "vib"};
      break;
  }
  if (selector & 0x40) layout.time.clear();
  if (selector & 0x80) layout.key.clear();
  return layout;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto made = sensors::LineDecoder::make(layout_for(data[0]));
  if (!made) __builtin_trap();  // every layout above is valid
  sensors::LineDecoder decoder = std::move(made.value());

  std::vector<char> bytes(data + 1, data + size);
  char* const end = bytes.data() + bytes.size();
  char* begin = bytes.data();
  while (true) {
    char* nl = begin;
    while (nl != end && *nl != '\n') ++nl;
    sensors::DecodedLine line;
    const auto status = decoder.decode(begin, nl, line);
    if (status == sensors::LineStatus::record) {
      if (line.present > decoder.field_count()) __builtin_trap();
      double sum = 0;
      for (std::size_t i = 0; i < decoder.field_count(); ++i)
        if (decoder.has_value(i)) sum += decoder.value(i);
      (void)sum;
    } else if (status == sensors::LineStatus::malformed) {
      (void)decoder.reason().size();
    }
    if (decoder.field_count() > sensors::LineDecoder::kMaxDiscoveredFields + 8) __builtin_trap();
    if (nl == end) break;
    begin = nl + 1;
  }
  return 0;
}
