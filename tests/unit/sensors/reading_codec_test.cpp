#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "../../../sensors/src/reading_codec.hpp"
#include "allocation_counter.hpp"

namespace vigil::test {
namespace {

using sensors::DecodedLine;
using sensors::LineStatus;
using sensors::ReadingDecoder;
using sensors::ReadingEncoder;
using Catch::Matchers::Contains;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

ReadingDecoder decoder(std::vector<std::string> fields = {}) {
  auto made = ReadingDecoder::make(std::move(fields));
  REQUIRE(made);
  return std::move(made.value());
}

std::vector<std::uint8_t> copy(std::span<const std::uint8_t> bytes) { return {bytes.begin(), bytes.end()}; }

// A byte offset inside the buffer where `needle` (8 bytes of a double) starts; -1 if absent.
long find_double(const std::vector<std::uint8_t>& buf, double needle) {
  for (std::size_t i = 0; i + sizeof needle <= buf.size(); ++i)
    if (std::memcmp(buf.data() + i, &needle, sizeof needle) == 0) return static_cast<long>(i);
  return -1;
}

TEST_CASE("flatbuffers readings round-trip key, time and values, one record per reading",
          "[sensors][flatbuffers]") {
  ReadingEncoder enc;
  const std::vector<std::string> names{"temp", "sensors.vib"};
  const double first[] = {21.5, 0.02};
  const double second[] = {22.0, kNaN};  // NaN: no value for sensors.vib
  enc.add("press-1", true, 1'700'000'000'123'456'789, names, first);
  enc.add("", false, 0, names, second);
  const auto msg = copy(enc.finish());

  auto d = decoder();
  REQUIRE(d.open(msg));
  CHECK(d.version() == sensors::kReadingsVersion);
  REQUIRE(d.size() == 2);

  DecodedLine r;
  REQUIRE(d.decode(0, r) == LineStatus::record);
  CHECK(r.key == "press-1");
  CHECK(r.has_time);
  CHECK(r.time == 1'700'000'000'123'456'789);
  CHECK(r.present == 2);
  REQUIRE(d.field_count() == 2);
  CHECK(d.field_name(0) == "temp");
  CHECK(d.value(0) == 21.5);
  CHECK(d.field_name(1) == "sensors.vib");
  CHECK(d.value(1) == 0.02);

  REQUIRE(d.decode(1, r) == LineStatus::record);
  CHECK(r.key.empty());
  CHECK_FALSE(r.has_time);
  CHECK(r.present == 1);
  CHECK(d.has_value(0));
  CHECK(d.value(0) == 22.0);
  CHECK_FALSE(d.has_value(1));
}

TEST_CASE("flatbuffers decoder with fixed fields keeps their slots and ignores other names",
          "[sensors][flatbuffers]") {
  ReadingEncoder enc;
  const std::vector<std::string> names{"rpm", "vib", "temp"};
  const double values[] = {1500, 0.5, 40};
  enc.add("fan-1", false, 0, names, values);
  const auto msg = copy(enc.finish());
  auto d = decoder({"temp", "vib"});
  REQUIRE(d.open(msg));
  DecodedLine r;
  REQUIRE(d.decode(0, r) == LineStatus::record);
  CHECK(d.field_count() == 2);
  CHECK(r.present == 2);
  CHECK(d.value(0) == 40);
  CHECK(d.value(1) == 0.5);
}

TEST_CASE("flatbuffers encoder shares the names of a batch, so a batch costs little more than its numbers",
          "[sensors][flatbuffers]") {
  const std::vector<std::string> names{"temperature", "vibration", "pressure"};
  const double values[] = {1, 2, 3};
  ReadingEncoder enc;
  enc.add("machine-0001", true, 1, names, values);
  const std::size_t one = enc.finish().size();
  enc.clear();
  for (int i = 0; i < 100; ++i) enc.add("machine-0001", true, i, names, values);
  CHECK(enc.size() == 100);
  const std::size_t hundred = enc.finish().size();
  // Per extra reading: 3 doubles (24) + key (~20) + table and vector overhead; not the names.
  CHECK(hundred < one + 99 * 100);
}

TEST_CASE("flatbuffers decoder refuses garbage, a wrong identifier and truncated messages",
          "[sensors][flatbuffers]") {
  auto d = decoder();
  const std::vector<std::uint8_t> garbage{'{', '"', 't', '"', ':', '1', '}', 0, 0, 0};
  CHECK_FALSE(d.open(garbage));
  CHECK_THAT(std::string(d.reason()), Contains("VGR1"));
  CHECK(d.size() == 0);
  const std::vector<std::uint8_t> tiny{1, 2, 3};
  CHECK_FALSE(d.open(tiny));
  CHECK_THAT(std::string(d.reason()), Contains("too short"));

  ReadingEncoder enc;
  const std::vector<std::string> names{"temp"};
  const double v[] = {1};
  enc.add("k", true, 5, names, v);
  const auto msg = copy(enc.finish());
  REQUIRE(d.open(msg));
  // Cutting into referenced data fails verification; only trailing alignment padding (under
  // 8 bytes) may go, and then the reading must still decode to the same values.
  std::size_t verified = 0;
  for (std::size_t n = 8; n < msg.size(); ++n) {
    INFO("truncated to " << n << " bytes");
    if (!d.open(std::span<const std::uint8_t>(msg.data(), n))) continue;
    ++verified;
    CHECK(n + 8 > msg.size());
    DecodedLine r;
    REQUIRE(d.decode(0, r) == LineStatus::record);
    CHECK(r.time == 5);
    CHECK(d.value(0) == 1);
  }
  CHECK(verified < 8);
}

TEST_CASE("flatbuffers reading with more names than values or an infinite value is malformed alone",
          "[sensors][flatbuffers]") {
  ReadingEncoder enc;
  const std::vector<std::string> two{"a", "b"};
  const std::vector<std::string> one{"a"};
  const double inf[] = {std::numeric_limits<double>::infinity()};
  const double ok[] = {1, 2};
  const double short_values[] = {1};
  enc.add("k", false, 0, two, std::span<const double>(short_values));
  enc.add("k", false, 0, one, inf);
  enc.add("k", false, 0, two, ok);
  const auto msg = copy(enc.finish());
  auto d = decoder();
  REQUIRE(d.open(msg));
  REQUIRE(d.size() == 3);
  DecodedLine r;
  CHECK(d.decode(0, r) == LineStatus::malformed);
  CHECK_THAT(std::string(d.reason()), Contains("2 names but 1 values"));
  CHECK(d.decode(1, r) == LineStatus::malformed);
  CHECK_THAT(std::string(d.reason()), Contains("infinite"));
  CHECK(d.decode(2, r) == LineStatus::record);
  CHECK(r.present == 2);
}

TEST_CASE("flatbuffers decoder reads a message at an odd address and doubles that are not 8-byte aligned",
          "[sensors][flatbuffers]") {
  ReadingEncoder enc;
  const std::vector<std::string> names{"x"};
  const double v[] = {123.25};
  enc.add("k", true, 42, names, v);
  const auto msg = copy(enc.finish());
  std::vector<std::uint8_t> shifted(msg.size() + 1);
  std::memcpy(shifted.data() + 1, msg.data(), msg.size());
  auto d = decoder();
  REQUIRE(d.open(std::span<const std::uint8_t>(shifted.data() + 1, msg.size())));
  DecodedLine r;
  REQUIRE(d.decode(0, r) == LineStatus::record);
  CHECK(r.time == 42);
  CHECK(d.value(0) == 123.25);
  CHECK(find_double(msg, 123.25) >= 0);
}

TEST_CASE("flatbuffers decoding allocates nothing in the steady state", "[sensors][flatbuffers][alloc]") {
  ReadingEncoder enc;
  const std::vector<std::string> names{"temp", "vib"};
  const double v[] = {1, 2};
  for (int i = 0; i < 100; ++i) enc.add("press-1", true, i, names, v);
  const auto msg = copy(enc.finish());
  auto d = decoder();
  DecodedLine r;
  REQUIRE(d.open(msg));
  REQUIRE(d.decode(0, r) == LineStatus::record);  // warm-up: names discovered
  double sum = 0;
  AllocationCounter allocs;
  for (int round = 0; round < 10; ++round) {
    REQUIRE(d.open(msg));
    for (std::size_t i = 0; i < d.size(); ++i)
      if (d.decode(i, r) == LineStatus::record) sum += d.value(0) + d.value(1);
  }
  CHECK(allocs.count() == 0);
  CHECK(sum == 3000);
}

TEST_CASE("flatbuffers decoder config refuses empty and repeated field names", "[sensors][flatbuffers][config]") {
  auto empty = ReadingDecoder::make({"temp", ""});
  REQUIRE_FALSE(empty);
  CHECK_THAT(empty.error().message, Contains("fields[1] is empty"));
  auto twice = ReadingDecoder::make({"temp", "temp"});
  REQUIRE_FALSE(twice);
  CHECK_THAT(twice.error().message, Contains("listed twice"));
}

}  // namespace
}  // namespace vigil::test
