// Fuzzes the line decoder in every format. The first byte picks the layout (format, unit,
// fixed or discovered fields); every following line is decoded by the same decoder, so
// discovered names and state carry over from line to line as they do in a source. JSON inputs
// are also split as one MQTT payload (an object or an array of objects) first.
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

bool decoder_is_json(std::uint8_t selector) { return selector % 3 == 1; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto made = sensors::LineDecoder::make(layout_for(data[0]));
  if (!made) __builtin_trap();  // every layout above is valid
  sensors::LineDecoder decoder = std::move(made.value());

  std::vector<char> bytes(data + 1, data + size);
  if (decoder_is_json(data[0])) {
    // The whole input as one MQTT payload: an object or an array of objects.
    std::vector<char> payload = bytes;
    const char* problem = sensors::for_each_json_record(
        payload.data(), payload.data() + payload.size(), [&](char* b, char* e) {
          if (b < payload.data() || e > payload.data() + payload.size() || b > e) __builtin_trap();
          sensors::DecodedLine line;
          (void)decoder.decode(b, e, line);
        });
    (void)problem;
  }
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
