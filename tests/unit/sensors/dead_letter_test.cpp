#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../../../sensors/src/dead_letter.hpp"
#include "test_support.hpp"

namespace vigil::test {
namespace {

using sensors::DeadLetterFile;
using Catch::Matchers::Contains;

constexpr runtime::Nanos kTime = 1'700'000'000'123'000'000;  // 2023-11-14T22:13:20.123Z

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::int64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

TEST_CASE("dead letter keeps a text payload as an escaped JSON string with time, source, topic and reason",
          "[sensors][dead_letter]") {
  TempDir dir;
  const std::string path = dir.file("dead.jsonl");
  auto made = DeadLetterFile::open(path, 1 << 20);
  REQUIRE(made);
  REQUIRE(made.value()->write(kTime, "telemetry", "plant/a", "expected ':' after \"x\"",
                              bytes_of("{\"x\" 1}\n\ttab")));
  const auto lines = split_lines(read_file(path));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        R"({"time":"2023-11-14T22:13:20.123Z","source":"telemetry","topic":"plant/a","reason":"expected ':' after \"x\"",)"
        R"("size":12,"payload":"{\"x\" 1}\n\ttab"})");
}

TEST_CASE("dead letter keeps binary and invalid UTF-8 payloads as base64", "[sensors][dead_letter]") {
  TempDir dir;
  const std::string path = dir.file("dead.jsonl");
  auto made = DeadLetterFile::open(path, 1 << 20);
  REQUIRE(made);
  const std::vector<std::uint8_t> binary{0xff, 0xfe, 0x00};
  REQUIRE(made.value()->write(kTime, "s", "t", "r", binary));
  const std::string overlong = "\xc0\xaf";  // an overlong '/', not valid UTF-8
  REQUIRE(made.value()->write(kTime, "s", "t", "r", bytes_of(overlong)));
  const std::string utf8 = "temp \xc2\xb0" "C";  // valid UTF-8 stays text
  REQUIRE(made.value()->write(kTime, "s", "t", "r", bytes_of(utf8)));
  const auto lines = split_lines(read_file(path));
  REQUIRE(lines.size() == 3);
  CHECK_THAT(lines[0], Contains(R"("size":3,"payload_base64":"//4A"})"));
  CHECK_THAT(lines[1], Contains(R"("payload_base64":"wK8="})"));
  CHECK_THAT(lines[2], Contains("\"payload\":\"temp \xc2\xb0" "C\"}"));
}

TEST_CASE("dead letter cuts long payloads and rotates so two files stay under twice the bound",
          "[sensors][dead_letter]") {
  TempDir dir;
  const std::string path = dir.file("dead.jsonl");
  auto made = DeadLetterFile::open(path, 8192);
  REQUIRE(made);
  DeadLetterFile& d = *made.value();
  CHECK(d.max_payload() == 2048);
  const std::string big(10'000, 'x');
  for (int i = 0; i < 50; ++i) REQUIRE(d.write(kTime, "s", "t", "too big", bytes_of(big)));
  CHECK(file_size(path) > 0);
  CHECK(file_size(path) <= 8192);
  CHECK(file_size(path + ".1") > 0);
  CHECK(file_size(path + ".1") <= 8192);
  const auto lines = split_lines(read_file(path));
  REQUIRE_FALSE(lines.empty());
  CHECK_THAT(lines.back(), Contains(R"("size":10000,"payload":")" + std::string(2048, 'x') + R"(","truncated":true})"));
}

TEST_CASE("dead letter appends to an existing file and refuses a path it cannot open", "[sensors][dead_letter]") {
  TempDir dir;
  const std::string path = dir.file("dead.jsonl");
  write_file(path, "earlier\n");
  {
    auto made = DeadLetterFile::open(path, 1 << 20);
    REQUIRE(made);
    REQUIRE(made.value()->write(kTime, "s", "t", "r", bytes_of("x")));
  }
  const auto lines = split_lines(read_file(path));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "earlier");
  auto missing = DeadLetterFile::open(dir.file("no/such/dir/dead.jsonl"), 1 << 20);
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Contains("cannot open the dead-letter file") && Contains("no/such/dir"));
}

}  // namespace
}  // namespace vigil::test
