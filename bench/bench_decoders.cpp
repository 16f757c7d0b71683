// Payload decoder throughput on one core: JSON objects, CSV lines and FlatBuffers Readings
// messages (one reading and 100 readings per message), as the mqtt source decodes them.
// Prints MB/s, messages/s and readings/s per case. Usage: bench_decoders [SECONDS per case]
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "line_decoder.hpp"
#include "reading_codec.hpp"

namespace sensors = vigil::sensors;
namespace rt = vigil::runtime;

namespace {

using Clock = std::chrono::steady_clock;

struct Figures {
  double seconds = 0;
  std::uint64_t bytes = 0;
  std::uint64_t messages = 0;
  std::uint64_t readings = 0;
  double checksum = 0;
};

void print(const char* name, const Figures& f) {
  std::printf("%-34s %9.1f MB/s %12.0f messages/s %12.0f readings/s  (%.0f ns/reading, checksum %.6g)\n", name,
              static_cast<double>(f.bytes) / f.seconds / 1e6, static_cast<double>(f.messages) / f.seconds,
              static_cast<double>(f.readings) / f.seconds,
              f.seconds * 1e9 / static_cast<double>(std::max<std::uint64_t>(1, f.readings)), f.checksum);
}

// Deterministic sample values: a machine number and three plausible readings per i.
struct Sample {
  int machine;
  std::int64_t ts;
  double temp, vib, pressure;
};
Sample sample(std::uint64_t i) {
  const double x = static_cast<double>(i % 9973);
  return {static_cast<int>(i % 1000), 1'700'000'000'000 + static_cast<std::int64_t>(i),
          20.0 + std::fmod(x * 0.37, 15.0), 0.01 + std::fmod(x * 0.0007, 0.05), 4.0 + std::fmod(x * 0.003, 0.5)};
}

// Runs `decode_all` over the corpus until `seconds` have passed.
template <class Fn>
Figures run(double seconds, std::uint64_t corpus_bytes, std::uint64_t corpus_messages,
            std::uint64_t corpus_readings, Fn decode_all) {
  Figures f;
  decode_all(f.checksum);  // warm-up: caches, discovered names
  f.checksum = 0;
  const auto start = Clock::now();
  do {
    decode_all(f.checksum);
    f.bytes += corpus_bytes;
    f.messages += corpus_messages;
    f.readings += corpus_readings;
    f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  } while (f.seconds < seconds);
  return f;
}

sensors::LineDecoder line_decoder(sensors::LineFormat format, std::vector<std::string> columns) {
  sensors::LineLayout layout;
  layout.format = format;
  layout.key = "key";
  layout.time = "ts";
  layout.unit = rt::TimeUnit::ms;
  layout.columns = std::move(columns);
  auto made = sensors::LineDecoder::make(std::move(layout));
  if (!made) {
    std::fprintf(stderr, "bench_decoders: %s\n", made.error().message.c_str());
    std::exit(1);
  }
  return std::move(made.value());
}

// One payload per message; decodes each in place as the mqtt source does (JSON arrays split
// into their objects first).
Figures bench_lines(double seconds, sensors::LineFormat format, std::vector<std::string> columns,
                    const std::vector<std::string>& messages, std::size_t readings_per_message = 1) {
  auto decoder = line_decoder(format, std::move(columns));
  std::string buffer;
  std::uint64_t bytes = 0;
  for (const auto& m : messages) bytes += m.size();
  return run(seconds, bytes, messages.size(), messages.size() * readings_per_message, [&](double& checksum) {
    sensors::DecodedLine line;
    auto one = [&](char* begin, char* end) {
      if (decoder.decode(begin, end, line) != sensors::LineStatus::record) {
        std::fprintf(stderr, "bench_decoders: malformed: %s\n", std::string(decoder.reason()).c_str());
        std::exit(1);
      }
      for (std::size_t i = 0; i < decoder.field_count(); ++i)
        if (decoder.has_value(i)) checksum += decoder.value(i);
      checksum += static_cast<double>(line.time % 7) + static_cast<double>(line.key.size());
    };
    for (const auto& m : messages) {
      buffer.assign(m);  // the source copies each payload into its reusable buffer too
      char* begin = buffer.data();
      char* end = begin + buffer.size();
      if (format != sensors::LineFormat::json) one(begin, end);
      else if (sensors::for_each_json_record(begin, end, one) != nullptr) std::exit(1);
    }
  });
}

Figures bench_flatbuffers(double seconds, std::size_t per_message, std::size_t total_readings) {
  sensors::ReadingEncoder encoder;
  const std::vector<std::string> names{"temp", "vib", "pressure"};
  std::vector<std::vector<std::uint8_t>> messages;
  for (std::size_t i = 0; i < total_readings;) {
    encoder.clear();
    for (std::size_t j = 0; j < per_message; ++j, ++i) {
      const Sample s = sample(i);
      const double values[] = {s.temp, s.vib, s.pressure};
      const std::string key = "machine-" + std::to_string(s.machine);
      encoder.add(key, true, s.ts * 1'000'000, names, values);
    }
    const auto bytes = encoder.finish();
    messages.emplace_back(bytes.begin(), bytes.end());
  }
  auto made = sensors::ReadingDecoder::make({});
  if (!made) std::exit(1);
  sensors::ReadingDecoder decoder = std::move(made.value());
  std::uint64_t bytes = 0;
  for (const auto& m : messages) bytes += m.size();
  return run(seconds, bytes, messages.size(), total_readings, [&](double& checksum) {
    sensors::DecodedLine line;
    for (const auto& m : messages) {
      if (!decoder.open(m)) std::exit(1);
      for (std::size_t r = 0; r < decoder.size(); ++r) {
        if (decoder.decode(r, line) != sensors::LineStatus::record) std::exit(1);
        for (std::size_t i = 0; i < decoder.field_count(); ++i)
          if (decoder.has_value(i)) checksum += decoder.value(i);
        checksum += static_cast<double>(line.time % 7) + static_cast<double>(line.key.size());
      }
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  constexpr std::size_t kMessages = 20'000;

  std::vector<std::string> json_flat, json_nested, csv;
  char text[512];
  for (std::uint64_t i = 0; i < kMessages; ++i) {
    const Sample s = sample(i);
    std::snprintf(text, sizeof text,
                  R"({"key": "machine-%d", "ts": %lld, "temp": %.3f, "vib": %.5f, "pressure": %.4f})", s.machine,
                  static_cast<long long>(s.ts), s.temp, s.vib, s.pressure);
    json_flat.emplace_back(text);
    std::snprintf(text, sizeof text,
                  R"({"key": "machine-%d", "ts": %lld, "status": "running", "sensors": {"temp": %.3f, )"
                  R"("vib": {"rms": %.5f, "peak": %.5f}}, "pressure": %.4f, "tags": [1, 2, "x"]})",
                  s.machine, static_cast<long long>(s.ts), s.temp, s.vib, s.vib * 3, s.pressure);
    json_nested.emplace_back(text);
    std::snprintf(text, sizeof text, "%lld,machine-%d,%.3f,%.5f,%.4f", static_cast<long long>(s.ts), s.machine,
                  s.temp, s.vib, s.pressure);
    csv.emplace_back(text);
  }

  std::printf("decoder throughput, one core, %.1f s per case, %zu distinct messages\n", seconds, kMessages);
  print("json flat object", bench_lines(seconds, sensors::LineFormat::json, {}, json_flat));
  print("json nested object", bench_lines(seconds, sensors::LineFormat::json, {}, json_nested));
  std::vector<std::string> json_arrays;
  for (std::size_t i = 0; i < json_flat.size(); i += 100) {
    std::string array = "[";
    for (std::size_t j = i; j < i + 100 && j < json_flat.size(); ++j) array += (j == i ? "" : ", ") + json_flat[j];
    json_arrays.push_back(array + "]");
  }
  print("json array of 100 flat objects", bench_lines(seconds, sensors::LineFormat::json, {}, json_arrays, 100));
  print("csv line (named columns)",
        bench_lines(seconds, sensors::LineFormat::csv, {"ts", "key", "temp", "vib", "pressure"}, csv));
  print("flatbuffers, 1 reading/message", bench_flatbuffers(seconds, 1, kMessages));
  print("flatbuffers, 100 readings/message", bench_flatbuffers(seconds, 100, kMessages * 5));
  return 0;
}
