// Durations, sizes, RFC 3339 and time cells: the text users write, turned into exact integers.
#include <catch2/catch.hpp>

#include <string>

#include "vigil/runtime/plugin.hpp"
#include "vigil/runtime/time.hpp"

namespace vigil::test {
namespace {

using Catch::Matchers::Contains;
using runtime::kNanosPerMilli;
using runtime::kNanosPerSecond;
using runtime::Nanos;
using runtime::TimeUnit;

// 2024-03-01T12:00:00Z, worked out by hand: 54 years from 1970 with 13 leap days is
// 19723 days to 2024-01-01, plus 31 + 29 days to March 1st = 19783 days;
// 19783 * 86400 + 12 * 3600 = 1709294400 s.
constexpr Nanos kMarchFirstNoon = 1'709'294'400LL * kNanosPerSecond;

TEST_CASE("parse_duration reads every documented unit", "[runtime][time]") {
  CHECK(runtime::parse_duration("100ns").value() == 100);
  CHECK(runtime::parse_duration("250us").value() == 250'000);
  CHECK(runtime::parse_duration("500ms").value() == 500 * kNanosPerMilli);
  CHECK(runtime::parse_duration("10s").value() == 10 * kNanosPerSecond);
  CHECK(runtime::parse_duration("2m").value() == 120 * kNanosPerSecond);
  CHECK(runtime::parse_duration("1h").value() == 3600 * kNanosPerSecond);
  CHECK(runtime::parse_duration("1d").value() == 86'400 * kNanosPerSecond);
}

TEST_CASE("parse_duration keeps fractions exact to the nanosecond", "[runtime][time]") {
  CHECK(runtime::parse_duration("1.5s").value() == 1'500'000'000);
  CHECK(runtime::parse_duration("0.1ms").value() == 100'000);
  CHECK(runtime::parse_duration("1.1s").value() == 1'100'000'000);
}

TEST_CASE("parse_duration accepts a bare 0 and surrounding blanks", "[runtime][time]") {
  CHECK(runtime::parse_duration("0").value() == 0);
  CHECK(runtime::parse_duration("0s").value() == 0);
  CHECK(runtime::parse_duration("  10s ").value() == 10 * kNanosPerSecond);
}

TEST_CASE("parse_duration refuses a unit it does not know and says which units work", "[runtime][time]") {
  auto r = runtime::parse_duration("10 parsecs");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "\"10 parsecs\" is not a duration; use a number and a unit: 10s, 500ms, 2m, 1h");
}

TEST_CASE("parse_duration refuses a number without a unit unless it is 0", "[runtime][time]") {
  auto r = runtime::parse_duration("10");
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Contains("is not a duration"));
}

TEST_CASE("parse_duration refuses empty text and a unit alone", "[runtime][time]") {
  CHECK_FALSE(runtime::parse_duration(""));
  CHECK_FALSE(runtime::parse_duration("s"));
  CHECK_FALSE(runtime::parse_duration("ms10"));
}

TEST_CASE("parse_duration refuses a negative duration and says so", "[runtime][time]") {
  auto r = runtime::parse_duration("-5s");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "\"-5s\" is negative; durations are 0 or more");
}

TEST_CASE("parse_duration refuses a duration that does not fit in int64 nanoseconds", "[runtime][time]") {
  auto r = runtime::parse_duration("200000d");
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Contains("too long"));
}

TEST_CASE("format_duration writes the largest unit that divides the duration", "[runtime][time]") {
  CHECK(runtime::format_duration(0) == "0s");
  CHECK(runtime::format_duration(10 * kNanosPerSecond) == "10s");
  CHECK(runtime::format_duration(1500 * kNanosPerMilli) == "1500ms");
  CHECK(runtime::format_duration(3600 * kNanosPerSecond) == "1h");
  CHECK(runtime::format_duration(90 * kNanosPerSecond) == "90s");
  CHECK(runtime::format_duration(1) == "1ns");
}

TEST_CASE("parse_size reads bytes, binary and decimal units", "[runtime][time]") {
  CHECK(runtime::parse_size("4096").value() == 4096);
  CHECK(runtime::parse_size("512B").value() == 512);
  CHECK(runtime::parse_size("64KiB").value() == 65'536);
  CHECK(runtime::parse_size("16MiB").value() == 16LL * 1024 * 1024);
  CHECK(runtime::parse_size("1GiB").value() == 1024LL * 1024 * 1024);
  CHECK(runtime::parse_size("10MB").value() == 10'000'000);
  CHECK(runtime::parse_size("1.5KiB").value() == 1536);
}

TEST_CASE("parse_size refuses fractions of a byte, negatives and unknown units", "[runtime][time]") {
  auto r = runtime::parse_size("10 parsecs");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "\"10 parsecs\" is not a size; use bytes or a unit: 4096, 64KiB, 16MiB, 1GiB");
  CHECK_FALSE(runtime::parse_size("0.5B"));
  CHECK_FALSE(runtime::parse_size("-1"));
  CHECK_FALSE(runtime::parse_size(""));
}

TEST_CASE("parse_rfc3339 reads a UTC time to epoch nanoseconds", "[runtime][time]") {
  CHECK(runtime::parse_rfc3339("2024-03-01T12:00:00Z").value() == kMarchFirstNoon);
  CHECK(runtime::parse_rfc3339("1970-01-01T00:00:00Z").value() == 0);
  CHECK(runtime::parse_rfc3339("1969-12-31T23:59:59Z").value() == -kNanosPerSecond);
  // 2000-02-29 (a leap day of a year divisible by 400): 951782400 s.
  CHECK(runtime::parse_rfc3339("2000-02-29T00:00:00Z").value() == 951'782'400LL * kNanosPerSecond);
}

TEST_CASE("parse_rfc3339 keeps fractional seconds to the nanosecond", "[runtime][time]") {
  CHECK(runtime::parse_rfc3339("2024-03-01T12:00:00.5Z").value() == kMarchFirstNoon + 500 * kNanosPerMilli);
  CHECK(runtime::parse_rfc3339("2024-03-01T12:00:00.123456789Z").value() == kMarchFirstNoon + 123'456'789);
  CHECK(runtime::parse_rfc3339("2024-03-01T12:00:00.000001Z").value() == kMarchFirstNoon + 1'000);
}

TEST_CASE("parse_rfc3339 applies positive and negative UTC offsets", "[runtime][time]") {
  CHECK(runtime::parse_rfc3339("2024-03-01T13:00:00+01:00").value() == kMarchFirstNoon);
  CHECK(runtime::parse_rfc3339("2024-03-01T06:30:00-05:30").value() == kMarchFirstNoon);
  CHECK(runtime::parse_rfc3339("2024-03-01T12:00:00.250+00:00").value() == kMarchFirstNoon + 250 * kNanosPerMilli);
}

TEST_CASE("parse_rfc3339 accepts a lowercase t and z and a space as separator", "[runtime][time]") {
  CHECK(runtime::parse_rfc3339("2024-03-01t12:00:00z").value() == kMarchFirstNoon);
  CHECK(runtime::parse_rfc3339("2024-03-01 12:00:00Z").value() == kMarchFirstNoon);
}

TEST_CASE("parse_rfc3339 refuses malformed times with an example of the right form", "[runtime][time]") {
  auto r = runtime::parse_rfc3339("2024-03-01T12:00:00");
  REQUIRE_FALSE(r);
  CHECK(r.error().message ==
        "\"2024-03-01T12:00:00\" is not an RFC 3339 time; use 2024-03-01T12:00:00Z or 2024-03-01T12:00:00.250+01:00");
  CHECK_FALSE(runtime::parse_rfc3339("2024-03-01"));
  CHECK_FALSE(runtime::parse_rfc3339(""));
  CHECK_FALSE(runtime::parse_rfc3339("2024-13-01T00:00:00Z"));
  CHECK_FALSE(runtime::parse_rfc3339("2024-03-01T24:00:00Z"));
  CHECK_FALSE(runtime::parse_rfc3339("2024-03-01T12:00:00+0100"));
  CHECK_FALSE(runtime::parse_rfc3339("2024-03-01T12:00:00.Z"));
  CHECK_FALSE(runtime::parse_rfc3339("2024-03-01T12:00:00Zjunk"));
  CHECK_FALSE(runtime::parse_rfc3339("2024/03/01T12:00:00Z"));
}

TEST_CASE("parse_rfc3339 refuses a day that its month does not have", "[runtime][time]") {
  CHECK_FALSE(runtime::parse_rfc3339("2024-02-30T00:00:00Z"));
  CHECK_FALSE(runtime::parse_rfc3339("2023-02-29T00:00:00Z"));
  CHECK_FALSE(runtime::parse_rfc3339("2024-04-31T00:00:00Z"));
  CHECK(runtime::parse_rfc3339("2024-02-29T00:00:00Z"));
  CHECK(runtime::parse_rfc3339("2024-12-31T00:00:00Z"));
}

TEST_CASE("parse_time_value converts a millisecond epoch integer to the exact nanosecond", "[runtime][time]") {
  // 1700000000123 ms * 1e6 does not fit a double's 53-bit mantissa exactly; the integer path must.
  CHECK(runtime::parse_time_value("1700000000123", TimeUnit::ms).value() == 1'700'000'000'123'000'000LL);
  CHECK(runtime::parse_time_value("1700000000999", TimeUnit::ms).value() == 1'700'000'000'999'000'000LL);
}

TEST_CASE("parse_time_value converts decimals digit by digit", "[runtime][time]") {
  CHECK(runtime::parse_time_value("1700000000.123456", TimeUnit::s).value() == 1'700'000'000'123'456'000LL);
  CHECK(runtime::parse_time_value("1700000000.123456789", TimeUnit::s).value() == 1'700'000'000'123'456'789LL);
  CHECK(runtime::parse_time_value("1700000000123.5", TimeUnit::ms).value() == 1'700'000'000'123'500'000LL);
  CHECK(runtime::parse_time_value("1500.25", TimeUnit::us).value() == 1'500'250);
  CHECK(runtime::parse_time_value("42", TimeUnit::ns).value() == 42);
}

TEST_CASE("parse_time_value cuts digits beyond one nanosecond", "[runtime][time]") {
  CHECK(runtime::parse_time_value("1.0000000019", TimeUnit::s).value() == 1'000'000'001);
}

TEST_CASE("parse_time_value reads negative times and a leading plus", "[runtime][time]") {
  CHECK(runtime::parse_time_value("-1500", TimeUnit::ms).value() == -1'500'000'000);
  CHECK(runtime::parse_time_value("-1.5", TimeUnit::s).value() == -1'500'000'000);
  CHECK(runtime::parse_time_value("+7", TimeUnit::s).value() == 7 * kNanosPerSecond);
}

TEST_CASE("parse_time_value reads exponent notation through a double", "[runtime][time]") {
  CHECK(runtime::parse_time_value("1.5e3", TimeUnit::ms).value() == 1'500'000'000);
  CHECK(runtime::parse_time_value("1e9", TimeUnit::s).value() == 1'000'000'000LL * kNanosPerSecond);
  CHECK(runtime::parse_time_value("-2E3", TimeUnit::us).value() == -2'000'000);
}

TEST_CASE("parse_time_value accepts a leading plus in exponent notation as in plain digits", "[runtime][time]") {
  CHECK(runtime::parse_time_value("+1.5e3", TimeUnit::ms).value() == 1'500'000'000);
}

TEST_CASE("parse_time_value refuses an exponent that overflows instead of clamping it", "[runtime][time]") {
  CHECK_FALSE(runtime::parse_time_value("1e300", TimeUnit::ms));
  CHECK_FALSE(runtime::parse_time_value("-1e19", TimeUnit::ns));
  CHECK_FALSE(runtime::parse_time_value("1e400", TimeUnit::s));
}

TEST_CASE("parse_time_value ignores blanks around the number", "[runtime][time]") {
  CHECK(runtime::parse_time_value(" 1700000000123\t", TimeUnit::ms).value() == 1'700'000'000'123'000'000LL);
  CHECK_FALSE(runtime::parse_time_value("17 00", TimeUnit::ms));
  CHECK_FALSE(runtime::parse_time_value("   ", TimeUnit::ms));
}

TEST_CASE("rfc3339_to_nanos agrees with parse_rfc3339 without building a message", "[runtime][time]") {
  CHECK(runtime::rfc3339_to_nanos("2024-03-01T13:00:00+01:00").value() == kMarchFirstNoon);
  CHECK_FALSE(runtime::rfc3339_to_nanos("2024-02-30T00:00:00Z"));
  CHECK_FALSE(runtime::rfc3339_to_nanos("yesterday"));
}

TEST_CASE("parse_time_value reads RFC 3339 text when the unit says so", "[runtime][time]") {
  CHECK(runtime::parse_time_value("2024-03-01T13:00:00+01:00", TimeUnit::rfc3339).value() == kMarchFirstNoon);
  CHECK_FALSE(runtime::parse_time_value("1700000000123", TimeUnit::rfc3339));
}

TEST_CASE("parse_time_value refuses text that is not a time", "[runtime][time]") {
  CHECK_FALSE(runtime::parse_time_value("abc", TimeUnit::ms));
  CHECK_FALSE(runtime::parse_time_value("", TimeUnit::ms));
  CHECK_FALSE(runtime::parse_time_value("-", TimeUnit::ms));
  CHECK_FALSE(runtime::parse_time_value(".", TimeUnit::ms));
  CHECK_FALSE(runtime::parse_time_value("12x", TimeUnit::ms));
  CHECK_FALSE(runtime::parse_time_value("1e", TimeUnit::ms));
  CHECK_FALSE(runtime::parse_time_value("1.2.3", TimeUnit::ms));
}

TEST_CASE("parse_time_value refuses a time that overflows int64 nanoseconds", "[runtime][time]") {
  CHECK_FALSE(runtime::parse_time_value("99999999999999999999", TimeUnit::ns));
  CHECK_FALSE(runtime::parse_time_value("9999999999999", TimeUnit::s));
}

TEST_CASE("parse_time_unit names the units it accepts", "[runtime][time]") {
  CHECK(runtime::parse_time_unit("ms").value() == TimeUnit::ms);
  CHECK(runtime::parse_time_unit("rfc3339").value() == TimeUnit::rfc3339);
  auto r = runtime::parse_time_unit("minutes");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "\"minutes\" is not a time unit; use s, ms, us, ns or rfc3339");
}

TEST_CASE("to_nanos converts a double in a unit and rounds to the nearest nanosecond", "[runtime][time]") {
  CHECK(runtime::to_nanos(1.5, TimeUnit::s) == 1'500'000'000);
  CHECK(runtime::to_nanos(2.0, TimeUnit::ms) == 2'000'000);
  CHECK(runtime::to_nanos(1e30, TimeUnit::s) == runtime::kMaxTime);
  CHECK(runtime::to_nanos(-1e30, TimeUnit::s) == runtime::kMinTime);
}

TEST_CASE("a virtual clock moves only forward with advance_to", "[runtime][time]") {
  runtime::VirtualClock clock(100);
  clock.advance_to(50);
  CHECK(clock.now() == 100);
  clock.advance_to(200);
  CHECK(clock.now() == 200);
  clock.set(10);
  CHECK(clock.now() == 10);
}

TEST_CASE("the monotonic clock never goes back", "[runtime][time]") {
  runtime::MonotonicClock clock;
  Nanos a = clock.now();
  Nanos b = clock.now();
  CHECK(b >= a);
}

}  // namespace
}  // namespace vigil::test

namespace vigil::test {

TEST_CASE("RFC 3339 years outside the int64 nanosecond range are refused, not overflowed", "[runtime][time]") {
  CHECK_FALSE(runtime::rfc3339_to_nanos("2263-01-01T00:00:00Z"));
  CHECK_FALSE(runtime::rfc3339_to_nanos("1600-01-01T00:00:00Z"));
  CHECK(runtime::rfc3339_to_nanos("2261-12-31T23:59:59Z"));
}

}  // namespace vigil::test
