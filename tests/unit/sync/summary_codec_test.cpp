#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "allocation_counter.hpp"
#include "sync_test_support.hpp"
#include "test_support.hpp"
#include "vigil/sync/summary_codec.hpp"

using vigil::sync::DecodedSummary;
using vigil::sync::FlatSummaryEncoder;
using vigil::sync::decode_flat_summary;

namespace {

std::vector<std::uint8_t> copy(std::span<const std::uint8_t> bytes) { return {bytes.begin(), bytes.end()}; }

DecodedSummary decode_ok(std::span<const std::uint8_t> bytes) {
  auto decoded = decode_flat_summary(bytes);
  INFO((decoded ? std::string() : decoded.error().message));
  REQUIRE(decoded.ok());
  return std::move(decoded.value());
}

}  // namespace

TEST_CASE("a flat summary round-trips every field, NaN included", "[sync][codec]") {
  vigil::runtime::SummarySchema schema;
  schema.pipeline = "vibration";
  schema.columns = {"rms_mean", "rms_max", "anomaly", "score"};
  const double values[] = {0.25, -1e300, std::numeric_limits<double>::quiet_NaN(), 7};
  vigil::runtime::Summary s;
  s.schema = &schema;
  s.key_name = "press-7";
  s.start = 1'700'000'000'123'456'789;  // ms are floored: 1700000000123
  s.end = 1'700'000'010'123'000'000;
  s.count = 4242;
  s.values = values;
  s.flags = vigil::runtime::kPartial | vigil::runtime::kResent;

  FlatSummaryEncoder encoder;
  auto bytes = copy(encoder.encode(s, "gw-north", "0123456789abcdef", 987654321012));
  DecodedSummary d = decode_ok(bytes);
  CHECK(d.version == 1);
  CHECK(d.gateway == "gw-north");
  CHECK(d.epoch == "0123456789abcdef");
  CHECK(d.seq == 987654321012);
  CHECK(d.pipeline == "vibration");
  CHECK(d.key == "press-7");
  CHECK(d.start_ms == 1'700'000'000'123);
  CHECK(d.end_ms == 1'700'000'010'123);
  CHECK(d.count == 4242);
  CHECK(d.names == schema.columns);
  REQUIRE(d.values.size() == 4);
  CHECK(d.values[0] == 0.25);
  CHECK(d.values[1] == -1e300);
  CHECK(std::isnan(d.values[2]));
  CHECK(d.values[3] == 7);
  CHECK(d.flags == 5);
  // The file identifier sits at bytes 4..7 of a finished buffer.
  CHECK(std::string(bytes.begin() + 4, bytes.begin() + 8) == "VGS1");
}

TEST_CASE("a flat summary with no columns and empty texts round-trips", "[sync][codec]") {
  vigil::runtime::SummarySchema schema;  // empty pipeline name, no columns
  vigil::runtime::Summary s;
  s.schema = &schema;
  s.start = -1;  // just before the epoch: floored to -1 ms
  s.end = 0;
  FlatSummaryEncoder encoder;
  DecodedSummary d = decode_ok(encoder.encode(s, "", "", 0));
  CHECK(d.version == 1);
  CHECK(d.gateway.empty());
  CHECK(d.epoch.empty());
  CHECK(d.seq == 0);
  CHECK(d.pipeline.empty());
  CHECK(d.key.empty());
  CHECK(d.start_ms == -1);
  CHECK(d.end_ms == 0);
  CHECK(d.count == 0);
  CHECK(d.names.empty());
  CHECK(d.values.empty());
  CHECK(d.flags == 0);
}

TEST_CASE("the encoder reuses its builder: each buffer decodes to its own summary", "[sync][codec]") {
  vigil::test::SummaryMaker maker;
  FlatSummaryEncoder encoder(64);  // small on purpose: the builder must grow
  for (std::uint64_t i = 0; i < 50; ++i) {
    const auto& s = maker.make(i);
    DecodedSummary d = decode_ok(encoder.encode(s, "gw1", "00000000000000ff", static_cast<std::int64_t>(i + 1)));
    CHECK(d.seq == static_cast<std::int64_t>(i + 1));
    CHECK(d.key == std::string(s.key_name));
    CHECK(d.count == s.count);
    CHECK(d.start_ms == s.start / 1'000'000);
    REQUIRE(d.values.size() == 2);
    CHECK(d.values[0] == s.values[0]);
    CHECK(d.values[1] == s.values[1]);
  }
}

TEST_CASE("garbage, truncated and foreign buffers are rejected with an error", "[sync][codec]") {
  vigil::test::SummaryMaker maker;
  FlatSummaryEncoder encoder;
  const auto good = copy(encoder.encode(maker.make(3), "gw1", "0123456789abcdef", 17));
  REQUIRE(decode_flat_summary(good).ok());

  SECTION("empty and too short") {
    CHECK_FALSE(decode_flat_summary({}).ok());
    const std::uint8_t four[] = {1, 2, 3, 4};
    auto r = decode_flat_summary(four);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Matchers::Contains("too short"));
  }
  SECTION("every truncation is rejected unless it only cut trailing padding") {
    const DecodedSummary full = decode_ok(good);
    std::size_t accepted = 0;
    for (std::size_t n = 0; n < good.size(); ++n) {
      INFO("first " << n << " of " << good.size() << " bytes");
      auto r = decode_flat_summary(std::span(good.data(), n));
      if (!r.ok()) continue;
      ++accepted;  // the cut bytes were alignment padding: the data must be intact
      CHECK(r->names == full.names);
      CHECK(r->values == full.values);
      CHECK(r->key == full.key);
    }
    CHECK(accepted < 8);  // padding is less than one 8-byte alignment unit
  }
  SECTION("another file identifier") {
    auto other = good;
    other[4] = 'X';
    auto r = decode_flat_summary(other);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Matchers::Contains("VGS1"));
  }
  SECTION("random bytes behind a valid identifier") {
    std::uint32_t state = 12345;
    for (int round = 0; round < 2000; ++round) {
      std::vector<std::uint8_t> junk(8 + static_cast<std::size_t>(round % 200));
      for (auto& b : junk) {
        state = state * 1'103'515'245u + 12'345u;
        b = static_cast<std::uint8_t>(state >> 16);
      }
      junk[4] = 'V', junk[5] = 'G', junk[6] = 'S', junk[7] = '1';
      (void)decode_flat_summary(junk);  // must not crash or read outside (ASan run)
    }
  }
  SECTION("single corrupted bytes never crash the decoder") {
    for (std::size_t i = 0; i < good.size(); ++i) {
      auto bad = good;
      bad[i] ^= 0xff;
      (void)decode_flat_summary(bad);
    }
  }
}

TEST_CASE("encoding in the steady state allocates nothing", "[sync][codec][alloc]") {
  vigil::test::SummaryMaker maker(5);
  FlatSummaryEncoder encoder;
  std::size_t total = 0;
  for (std::uint64_t i = 0; i < 10; ++i) total += encoder.encode(maker.make(i), "gw1", "0123456789abcdef", 1).size();
  vigil::test::AllocationCounter allocs;
  for (std::uint64_t i = 0; i < 100'000; ++i)
    total += encoder.encode(maker.make(i), "gw1", "0123456789abcdef", static_cast<std::int64_t>(i)).size();
  CHECK(allocs.count() == 0);
  CHECK(total > 0);
}

namespace vigil::test {

TEST_CASE("a verified buffer whose doubles are not 8-byte aligned decodes without an unaligned load", "[sync][codec]") {
  // Found by the fuzzer: passes the FlatBuffers verifier with the values vector at a 4-byte
  // aligned address. Under UBSan an unaligned double load aborts the test.
  const std::string bytes = read_file(source_path("tests/fuzz/corpus/fuzz_summary_codec/regression-unaligned-values"));
  REQUIRE(bytes.size() == 215);
  std::vector<std::uint8_t> buf(bytes.size() + 4);
  std::memcpy(buf.data() + 4, bytes.data(), bytes.size());  // keep the original misalignment pattern too
  auto a = sync::decode_flat_summary({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  auto b = sync::decode_flat_summary({buf.data() + 4, bytes.size()});
  CHECK(a.ok() == b.ok());
}

}  // namespace vigil::test

TEST_CASE("the JSON summary form reads back into the fields the encoders need", "[sync][codec]") {
  vigil::test::SummaryMaker maker;
  vigil::runtime::Summary s = maker.make(5);
  double values[2] = {21.25, std::numeric_limits<double>::quiet_NaN()};
  s.values = values;
  s.flags = vigil::runtime::kPartial | vigil::runtime::kLate;
  const std::string json = vigil::test::json_of(s);
  vigil::sync::DecodedSummary d;
  auto parsed = vigil::sync::decode_json_summary(json, d);
  INFO(json);
  REQUIRE(parsed.ok());
  CHECK(d.pipeline == "line1");
  CHECK(d.key == "pump-2");
  CHECK(d.start_ms == 1'700'000'005'000);
  CHECK(d.end_ms == 1'700'000'006'000);
  CHECK(d.count == 10);
  CHECK(d.names == std::vector<std::string>{"temp_mean", "temp_max"});
  REQUIRE(d.values.size() == 2);
  CHECK(d.values[0] == 21.25);
  CHECK(std::isnan(d.values[1]));
  CHECK(d.flags == (vigil::runtime::kPartial | vigil::runtime::kLate));
  CHECK(d.seq == 0);
}

TEST_CASE("the upstream JSON form adds gateway, epoch and seq and reads back", "[sync][codec]") {
  vigil::sync::DecodedSummary d;
  d.gateway = "gw \"1\"";
  d.epoch = "00112233aabbccdd";
  d.seq = 42;
  d.pipeline = "line1";
  d.key = "pump-1";
  d.start_ms = -1500;
  d.end_ms = 2500;
  d.count = 7;
  d.names = {"a", "b"};
  d.values = {0.1, 1e300};
  d.flags = vigil::runtime::kResent;
  std::string json;
  vigil::sync::append_upstream_json(d, json);
  CHECK(json ==
        "{\"gateway\":\"gw \\\"1\\\"\",\"epoch\":\"00112233aabbccdd\",\"seq\":42,\"pipeline\":\"line1\","
        "\"key\":\"pump-1\",\"start\":-1500,\"end\":2500,\"count\":7,\"a\":0.1,\"b\":1e+300,\"resent\":true}");
  vigil::sync::DecodedSummary back;
  REQUIRE(vigil::sync::decode_json_summary(json, back).ok());
  CHECK(back.gateway == d.gateway);
  CHECK(back.epoch == d.epoch);
  CHECK(back.seq == 42);
  CHECK(back.start_ms == -1500);
  CHECK(back.values == d.values);
  CHECK(back.flags == vigil::runtime::kResent);
}

TEST_CASE("malformed JSON summaries are rejected with the place of the problem", "[sync][codec]") {
  vigil::sync::DecodedSummary d;
  for (const char* bad : {"", "[]", "{\"pipeline\":\"p\",", "{\"pipeline\":1}", "{\"pipeline\":\"p\",\"x\":\"text\"}",
                          "{\"pipeline\":\"p\",\"count\":1.5}", "{\"pipeline\":\"p\"} x", "{\"key\":\"k\"}",
                          "{\"pipeline\":\"p\",\"odd\":true}"}) {
    INFO(bad);
    auto r = vigil::sync::decode_json_summary(bad, d);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("JSON summary:"));
  }
}

TEST_CASE("a decoded summary encodes to the same FlatBuffers summary as the original", "[sync][codec]") {
  vigil::test::SummaryMaker maker;
  const auto& s = maker.make(9);
  vigil::sync::DecodedSummary d;
  REQUIRE(vigil::sync::decode_json_summary(vigil::test::json_of(s), d).ok());
  d.gateway = "gw1";
  d.epoch = "0123456789abcdef";
  d.seq = 77;
  vigil::sync::FlatSummaryEncoder a;
  vigil::sync::FlatSummaryEncoder b;
  auto from_summary = a.encode(s, "gw1", "0123456789abcdef", 77);
  auto from_decoded = b.encode(d);
  CHECK(std::vector<std::uint8_t>(from_summary.begin(), from_summary.end()) ==
        std::vector<std::uint8_t>(from_decoded.begin(), from_decoded.end()));
}
