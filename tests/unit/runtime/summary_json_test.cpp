// The JSON form of a summary: fixed member order, shortest round-trip numbers, escaping, flags.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "vigil/runtime/summary.hpp"

namespace vigil::test {
namespace {

using runtime::kNanosPerMilli;
using runtime::Summary;
using runtime::SummarySchema;

std::string number(double v) {
  std::string out;
  runtime::append_json_number(v, out);
  return out;
}

std::string string_literal(std::string_view text) {
  std::string out;
  runtime::append_json_string(text, out);
  return out;
}

struct Fixture {
  SummarySchema schema{"machine-health", 0, {"temp_mean", "temp_max"}};
  std::vector<double> values{60.25, 61};
  Summary make() const {
    Summary s;
    s.schema = &schema;
    s.key_name = "press-1";
    s.start = 1'700'000'000'000 * kNanosPerMilli;
    s.end = 1'700'000'010'000 * kNanosPerMilli;
    s.count = 1000;
    s.values = values;
    return s;
  }
  std::string json(const Summary& s) const {
    std::string out;
    runtime::append_json(s, out);
    return out;
  }
};

TEST_CASE("a summary prints pipeline, key, start, end, count, then columns in schema order", "[runtime][json]") {
  Fixture f;
  CHECK(f.json(f.make()) ==
        "{\"pipeline\":\"machine-health\",\"key\":\"press-1\",\"start\":1700000000000,\"end\":1700000010000,"
        "\"count\":1000,\"temp_mean\":60.25,\"temp_max\":61}");
}

TEST_CASE("a partial summary ends with \"partial\":true", "[runtime][json]") {
  Fixture f;
  auto s = f.make();
  s.flags = runtime::kPartial;
  CHECK(f.json(s) ==
        "{\"pipeline\":\"machine-health\",\"key\":\"press-1\",\"start\":1700000000000,\"end\":1700000010000,"
        "\"count\":1000,\"temp_mean\":60.25,\"temp_max\":61,\"partial\":true}");
}

TEST_CASE("flags print in the order partial, late, resent", "[runtime][json]") {
  Fixture f;
  auto s = f.make();
  s.flags = runtime::kLate;
  CHECK(f.json(s).ends_with(",\"temp_max\":61,\"late\":true}"));
  s.flags = runtime::kPartial | runtime::kLate | runtime::kResent;
  CHECK(f.json(s).ends_with(",\"temp_max\":61,\"partial\":true,\"late\":true,\"resent\":true}"));
}

TEST_CASE("start and end print as whole milliseconds, rounded down", "[runtime][json]") {
  Fixture f;
  auto s = f.make();
  s.start = 1'999'999;  // 1.999999 ms
  s.end = -1;           // just before the epoch: the millisecond -1
  auto text = f.json(s);
  CHECK(text.find("\"start\":1,\"end\":-1,") != std::string::npos);
}

TEST_CASE("a summary without columns prints only the fixed members", "[runtime][json]") {
  SummarySchema schema{"p", 3, {}};
  Summary s;
  s.schema = &schema;
  s.key_name = "k";
  s.start = 0;
  s.end = 10 * kNanosPerMilli;
  s.count = 2;
  std::string out;
  runtime::append_json(s, out);
  CHECK(out == "{\"pipeline\":\"p\",\"key\":\"k\",\"start\":0,\"end\":10,\"count\":2}");
}

TEST_CASE("append_json appends to what the string already holds", "[runtime][json]") {
  Fixture f;
  std::string out = "prefix ";
  runtime::append_json(f.make(), out);
  CHECK(out.starts_with("prefix {\"pipeline\""));
}

TEST_CASE("integral numbers print without a fraction", "[runtime][json]") {
  CHECK(number(60) == "60");
  CHECK(number(0) == "0");
  CHECK(number(-3) == "-3");
  CHECK(number(1000) == "1000");
}

TEST_CASE("numbers print in shortest round-trip form", "[runtime][json]") {
  CHECK(number(0.1) == "0.1");
  CHECK(number(60.25) == "60.25");
  CHECK(number(1.0 / 3.0) == "0.3333333333333333");
  CHECK(number(1e21) == "1e+21");
  CHECK(number(5e-324) == "5e-324");
  CHECK(number(0.1 + 0.2) == "0.30000000000000004");
}

TEST_CASE("every printed number parses back to the same double", "[runtime][json]") {
  const double samples[] = {0.1,   1e21,   123456.789, -2.5e-7, 1.7976931348623157e308, 2.2250738585072014e-308,
                            60.02, 4.0001, 1e15 + 0.5,  12345678901234567.0};
  for (double v : samples) {
    std::string text = number(v);
    INFO(text);
    CHECK(std::strtod(text.c_str(), nullptr) == v);
  }
}

TEST_CASE("negative zero prints as 0", "[runtime][json]") { CHECK(number(-0.0) == "0"); }

TEST_CASE("NaN and infinities print as null", "[runtime][json]") {
  CHECK(number(std::numeric_limits<double>::quiet_NaN()) == "null");
  CHECK(number(std::numeric_limits<double>::infinity()) == "null");
  CHECK(number(-std::numeric_limits<double>::infinity()) == "null");
}

TEST_CASE("a NaN column prints as null inside a summary", "[runtime][json]") {
  Fixture f;
  f.values = {std::nan(""), 61};
  CHECK(f.json(f.make()).find("\"temp_mean\":null,\"temp_max\":61") != std::string::npos);
}

TEST_CASE("strings escape quotes, backslashes and control characters", "[runtime][json]") {
  CHECK(string_literal("plain") == "\"plain\"");
  CHECK(string_literal("say \"hi\"") == "\"say \\\"hi\\\"\"");
  CHECK(string_literal("C:\\data") == "\"C:\\\\data\"");
  CHECK(string_literal("a\nb\rc\td") == "\"a\\nb\\rc\\td\"");
  CHECK(string_literal(std::string_view("\x01\x1f", 2)) == "\"\\u0001\\u001f\"");
  CHECK(string_literal(std::string_view("nul\0!", 5)) == "\"nul\\u0000!\"");
}

TEST_CASE("strings pass UTF-8 and DEL through unchanged", "[runtime][json]") {
  CHECK(string_literal("Pumpe-Süd °C") == "\"Pumpe-Süd °C\"");
  CHECK(string_literal("\x7f") == "\"\x7f\"");
}

TEST_CASE("a key with a quote is escaped inside a summary", "[runtime][json]") {
  Fixture f;
  auto s = f.make();
  s.key_name = "line \"A\"";
  CHECK(f.json(s).find("\"key\":\"line \\\"A\\\"\"") != std::string::npos);
}

}  // namespace
}  // namespace vigil::test
