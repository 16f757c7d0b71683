// ZeroedArray: zeroed elements whose pages become resident only where they are written.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdint>
#include <fstream>

#include "vigil/runtime/zeroed_array.hpp"

namespace vigil::test {
namespace {

/// Resident bytes of this process (second field of /proc/self/statm, in pages).
std::int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t size = 0, resident = 0;
  statm >> size >> resident;
  REQUIRE(resident > 0);
  return resident * ::sysconf(_SC_PAGESIZE);
}

struct Pair {
  std::uint64_t n = 0;
  double sum = 0;
};

TEST_CASE("a zeroed array reads as zero and costs resident memory only for the pages written",
          "[runtime][zeroed_array]") {
  constexpr std::size_t kCount = std::size_t{8} << 20;  // 128 MiB of Pair
  const std::int64_t before = resident_bytes();
  runtime::ZeroedArray<Pair> a;
  a.reset(kCount);
  REQUIRE(a.size() == kCount);
  a[0].n = 1;
  a[kCount - 1].sum = 2.5;
  CHECK(a[kCount / 2].n == 0);
  CHECK(a[kCount / 2].sum == 0);
  CHECK(a[0].n == 1);
  CHECK(a[kCount - 1].sum == 2.5);
  // Three pages touched (two written, one read), not 128 MiB.
  CHECK(resident_bytes() - before < 4 * 1024 * 1024);
}

TEST_CASE("a zeroed array reset again starts from zero", "[runtime][zeroed_array]") {
  runtime::ZeroedArray<std::uint32_t> a;
  a.reset(16);
  for (auto& v : a) v = 7;
  a.reset(32);
  REQUIRE(a.size() == 32);
  for (auto v : a) CHECK(v == 0);
  a.reset(0);
  CHECK(a.empty());
}

}  // namespace
}  // namespace vigil::test
