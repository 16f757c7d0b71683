#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "../../../sensors/src/line_decoder.hpp"
#include "allocation_counter.hpp"

namespace vigil::test {
namespace {

using sensors::DecodedLine;
using sensors::LineDecoder;
using sensors::LineFormat;
using sensors::LineLayout;
using sensors::LineStatus;
using Catch::Matchers::Contains;

LineDecoder make(LineFormat format, std::vector<std::string> fields, std::vector<std::string> columns = {},
                 std::string key = "key", std::string time = "ts",
                 runtime::TimeUnit unit = runtime::TimeUnit::ms) {
  LineLayout layout;
  layout.format = format;
  layout.fields = std::move(fields);
  layout.columns = std::move(columns);
  layout.key = std::move(key);
  layout.time = std::move(time);
  layout.unit = unit;
  auto d = LineDecoder::make(std::move(layout));
  REQUIRE(d);
  return std::move(d.value());
}

/// Decodes a copy of `line` (the decoder may rewrite CSV bytes in place).
struct Decoded {
  LineStatus status;
  DecodedLine line;
  std::string key;  // copied: the view points into the buffer
  std::string reason;
};

Decoded decode(LineDecoder& d, const std::string& text) {
  std::string buffer = text;
  Decoded out{};
  out.status = d.decode(buffer.data(), buffer.data() + buffer.size(), out.line);
  out.key = std::string(out.line.key);
  out.reason = std::string(d.reason());
  return out;
}

double value_of(const LineDecoder& d, const std::string& name) {
  for (std::size_t i = 0; i < d.field_count(); ++i)
    if (d.field_name(i) == name) {
      REQUIRE(d.has_value(i));
      return d.value(i);
    }
  FAIL("no field " << name);
  return 0;
}

bool has(const LineDecoder& d, const std::string& name) {
  for (std::size_t i = 0; i < d.field_count(); ++i)
    if (d.field_name(i) == name) return d.has_value(i);
  return false;
}

TEST_CASE("kv lines give name=value pairs with key and time by name", "[sensors][decoder]") {
  auto d = make(LineFormat::kv, {"temp", "vib"});
  const auto r = decode(d, "key=press-1 ts=1700000000123 temp=21.5 vib=0.02");
  REQUIRE(r.status == LineStatus::record);
  CHECK(r.key == "press-1");
  CHECK(r.line.has_time);
  CHECK(r.line.time == 1'700'000'000'123 * runtime::kNanosPerMilli);
  CHECK(r.line.present == 2);
  CHECK(value_of(d, "temp") == 21.5);
  CHECK(value_of(d, "vib") == 0.02);
}

TEST_CASE("kv lines without key or time leave them to the source", "[sensors][decoder]") {
  auto d = make(LineFormat::kv, {"temp", "vib"});
  const auto r = decode(d, "  temp=21.5\tother=7  ");
  REQUIRE(r.status == LineStatus::record);
  CHECK(r.key.empty());
  CHECK_FALSE(r.line.has_time);
  CHECK(r.line.present == 1);
  CHECK(value_of(d, "temp") == 21.5);
  CHECK_FALSE(has(d, "vib"));
}

TEST_CASE("kv hostile input is malformed with a reason", "[sensors][decoder]") {
  auto d = make(LineFormat::kv, {"temp"});
  auto r = decode(d, "=5 temp=1");
  CHECK(r.status == LineStatus::malformed);
  CHECK_THAT(r.reason, Contains("no name"));
  r = decode(d, "temp=1 garbage");
  CHECK(r.status == LineStatus::malformed);
  CHECK_THAT(r.reason, Contains("not name=value"));
  r = decode(d, "temp=warm");
  CHECK(r.status == LineStatus::malformed);
  CHECK_THAT(r.reason, Contains("\"warm\" in \"temp\" is not a number"));
  CHECK(decode(d, "temp=NaN").status == LineStatus::malformed);
  CHECK(decode(d, "temp=inf").status == LineStatus::malformed);
  CHECK(decode(d, "temp=1e999").status == LineStatus::malformed);
  CHECK(decode(d, "temp=0x10").status == LineStatus::malformed);
  CHECK(decode(d, "ts=yesterday temp=1").status == LineStatus::malformed);
  CHECK(decode(d, "key= temp=1").status == LineStatus::malformed);
  // A huge but finite number is a number.
  REQUIRE(decode(d, "temp=1e300").status == LineStatus::record);
  CHECK(value_of(d, "temp") == 1e300);
}

TEST_CASE("blank lines are neither records nor malformed", "[sensors][decoder]") {
  for (auto format : {LineFormat::kv, LineFormat::json, LineFormat::csv}) {
    auto d = make(format, {"temp"});
    CHECK(decode(d, "").status == LineStatus::blank);
    CHECK(decode(d, "  \t\r").status == LineStatus::blank);
  }
}

TEST_CASE("kv discovers fields when none are listed, up to a cap", "[sensors][decoder]") {
  auto d = make(LineFormat::kv, {});
  REQUIRE(decode(d, "temp=1 vib=2").status == LineStatus::record);
  CHECK(d.field_count() == 2);
  REQUIRE(decode(d, "vib=3 rpm=4").status == LineStatus::record);
  CHECK(d.field_count() == 3);
  CHECK_FALSE(has(d, "temp"));
  CHECK(value_of(d, "rpm") == 4);
  std::string many;
  for (std::size_t i = 0; i < LineDecoder::kMaxDiscoveredFields + 10; ++i) many += "f" + std::to_string(i) + "=1 ";
  REQUIRE(decode(d, many).status == LineStatus::record);
  CHECK(d.field_count() == LineDecoder::kMaxDiscoveredFields);
}

TEST_CASE("json objects give members by name, nested members as dotted paths", "[sensors][decoder]") {
  auto d = make(LineFormat::json, {"temp", "sensors.vib"}, {}, "machine", "ts", runtime::TimeUnit::s);
  const auto r = decode(
      d, R"( {"machine": "pump-1", "ts": 1700000000.5, "temp": -3.25e1, "note": "ok, fine", "flag": true,)"
         R"( "sensors": {"vib": 0.5, "deep": {"x": 1}}, "list": [1, [2, {"a": "]"}]], "gone": null} )");
  REQUIRE(r.status == LineStatus::record);
  CHECK(r.key == "pump-1");
  CHECK(r.line.time == 1'700'000'000'500'000'000);
  CHECK(r.line.present == 2);
  CHECK(value_of(d, "temp") == -32.5);
  CHECK(value_of(d, "sensors.vib") == 0.5);
}

TEST_CASE("json numeric keys and quoted numbers are accepted", "[sensors][decoder]") {
  auto d = make(LineFormat::json, {"temp"}, {}, "id", "ts", runtime::TimeUnit::rfc3339);
  const auto r = decode(d, R"({"id": 7, "ts": "2024-03-01T12:00:00Z", "temp": "21.5"})");
  REQUIRE(r.status == LineStatus::record);
  CHECK(r.key == "7");
  CHECK(r.line.time == 1'709'294'400 * runtime::kNanosPerSecond);
  CHECK(value_of(d, "temp") == 21.5);
}

TEST_CASE("json hostile input is malformed with a reason", "[sensors][decoder]") {
  auto d = make(LineFormat::json, {"temp"});
  CHECK(decode(d, R"({"temp": 1)").status == LineStatus::malformed);
  CHECK_THAT(decode(d, R"({"temp": 1)").reason, Contains("unterminated"));
  CHECK(decode(d, R"({"temp": "1)").status == LineStatus::malformed);
  CHECK(decode(d, R"({"temp)").status == LineStatus::malformed);
  CHECK(decode(d, R"({"temp" 1})").status == LineStatus::malformed);
  CHECK(decode(d, R"({"temp": })").status == LineStatus::malformed);
  CHECK(decode(d, R"({"temp": 1} trailing)").status == LineStatus::malformed);
  CHECK(decode(d, R"([1, 2])").status == LineStatus::malformed);
  CHECK(decode(d, R"(temp=1)").status == LineStatus::malformed);
  CHECK(decode(d, R"({"temp": NaN})").status == LineStatus::malformed);
  CHECK(decode(d, R"({"temp": 1e999})").status == LineStatus::malformed);
  CHECK(decode(d, R"({"temp": true})").status == LineStatus::malformed);
  CHECK(decode(d, R"({"temp": "warm"})").status == LineStatus::malformed);
  CHECK(decode(d, R"({"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{}}}}}}}}}})").status ==
        LineStatus::malformed);
  CHECK(decode(d, R"({"list": [[[[[[[[[[1]]]]]]]]]]})").status == LineStatus::malformed);
  CHECK(decode(d, R"({"list": [1, 2)").status == LineStatus::malformed);
  const auto empty = decode(d, "{}");
  CHECK(empty.status == LineStatus::record);
  CHECK(empty.line.present == 0);
}

TEST_CASE("json discovery takes numbers and skips text members", "[sensors][decoder]") {
  auto d = make(LineFormat::json, {});
  const auto r = decode(d, R"({"key": "a", "temp": 1, "status": "ok", "s": {"rpm": 2}})");
  REQUIRE(r.status == LineStatus::record);
  CHECK(d.field_count() == 2);
  CHECK(value_of(d, "temp") == 1);
  CHECK(value_of(d, "s.rpm") == 2);
}

TEST_CASE("csv cells are the fields in order when no columns are named", "[sensors][decoder]") {
  auto d = make(LineFormat::csv, {"temp", "vib"});
  auto r = decode(d, " 21.5 , 0.02");
  REQUIRE(r.status == LineStatus::record);
  CHECK(r.key.empty());
  CHECK_FALSE(r.line.has_time);
  CHECK(value_of(d, "temp") == 21.5);
  CHECK(value_of(d, "vib") == 0.02);
  r = decode(d, "21.5,");
  REQUIRE(r.status == LineStatus::record);
  CHECK(r.line.present == 1);
  CHECK_FALSE(has(d, "vib"));
  CHECK(decode(d, "1,2,3").status == LineStatus::malformed);
  CHECK_THAT(decode(d, "1").reason, Contains("1 cells, expected 2"));
  CHECK(decode(d, "1,nan").status == LineStatus::malformed);
  CHECK(decode(d, "1,\"2").status == LineStatus::malformed);
  CHECK(decode(d, ",,").status == LineStatus::malformed);
  CHECK(decode(d, ",").line.present == 0);
}

TEST_CASE("csv columns name the key, time and value cells", "[sensors][decoder]") {
  auto d = make(LineFormat::csv, {"vib"}, {"ts", "machine", "temp", "vib"}, "machine", "ts");
  const auto r = decode(d, "1700000000000,\"fan, left\",21.5,0.5");
  REQUIRE(r.status == LineStatus::record);
  CHECK(r.key == "fan, left");
  CHECK(r.line.time == 1'700'000'000'000 * runtime::kNanosPerMilli);
  CHECK(d.field_count() == 1);
  CHECK(value_of(d, "vib") == 0.5);
  CHECK(decode(d, "1700000000000,,21.5,0.5").status == LineStatus::malformed);
  CHECK(decode(d, "x,a,21.5,0.5").status == LineStatus::malformed);

  auto all = make(LineFormat::csv, {}, {"ts", "machine", "temp", "vib"}, "machine", "ts");
  CHECK(all.field_count() == 2);
}

TEST_CASE("csv layouts that cannot work are refused at setup", "[sensors][decoder][config]") {
  LineLayout layout;
  layout.format = LineFormat::csv;
  auto d = LineDecoder::make(layout);
  REQUIRE_FALSE(d);
  CHECK_THAT(d.error().message, Contains("csv lines need `fields:`"));
  layout.columns = {"ts", "temp"};
  layout.fields = {"vib"};
  d = LineDecoder::make(layout);
  REQUIRE_FALSE(d);
  CHECK_THAT(d.error().message, Contains("field \"vib\" is not in columns; columns are: ts, temp"));
  layout.fields = {};
  layout.time = "ts";
  layout.columns = {"ts"};
  d = LineDecoder::make(layout);
  REQUIRE_FALSE(d);
  CHECK_THAT(d.error().message, Contains("no value column"));
}

TEST_CASE("decoding lines allocates nothing once every field was seen", "[sensors][decoder][alloc]") {
  auto kv = make(LineFormat::kv, {});
  auto json = make(LineFormat::json, {"temp", "s.vib"}, {}, "machine");
  auto csv = make(LineFormat::csv, {}, {"ts", "key", "temp", "vib"});
  std::string kv_line = "key=press-1 ts=1700000000000 temp=21.5 vib=0.02 bad=";
  std::string json_line = R"({"machine": "pump-1", "ts": 1700000000000, "temp": 1, "s": {"vib": 2}, "x": [1]})";
  std::string csv_line = "1700000000000,\"fan, 1\",21.5,0.5";
  std::string broken = R"({"temp": 1)";
  DecodedLine out;
  REQUIRE(kv.decode(kv_line.data(), kv_line.data() + kv_line.size(), out) == LineStatus::record);  // discovers
  AllocationCounter allocs;
  for (int i = 0; i < 1000; ++i) {
    kv.decode(kv_line.data(), kv_line.data() + kv_line.size(), out);
    json.decode(json_line.data(), json_line.data() + json_line.size(), out);
    std::string_view unused = csv_line;  // csv unescapes in place: decode a fresh copy of the bytes
    char buffer[64];
    std::copy(unused.begin(), unused.end(), buffer);
    csv.decode(buffer, buffer + unused.size(), out);
    json.decode(broken.data(), broken.data() + broken.size(), out);
  }
  CHECK(allocs.count() == 0);
}

}  // namespace
}  // namespace vigil::test
