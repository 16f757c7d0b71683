// Releasing start-up code: the process's resident code pages go, and the code keeps running
// (whatever runs faults back in from the page cache).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "vigil/runtime/code_pages.hpp"

namespace vigil::runtime {
namespace {

// RssFile of this process in kB (file-backed resident pages: code and read-only data).
long rss_file_kb() {
  std::FILE* f = std::fopen("/proc/self/status", "re");
  REQUIRE(f != nullptr);
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::strncmp(line, "RssFile:", 8) == 0) kb = std::strtol(line + 8, nullptr, 10);
  std::fclose(f);
  return kb;
}

TEST_CASE("releasing code pages drops resident code and the process runs on", "[runtime][memory]") {
  // Run a good deal of code first so that it is resident.
  std::vector<int> v(10000);
  std::iota(v.rbegin(), v.rend(), 0);
  std::sort(v.begin(), v.end());
  const std::string text = std::to_string(v.back()) + Catch::StringMaker<std::vector<int>>::convert({1, 2, 3});

  const long before = rss_file_kb();
  const std::size_t advised = release_code_pages();
  const long after = rss_file_kb();
  INFO("RssFile " << before << " kB before, " << after << " kB after; " << advised / 1024 << " kB of code advised");
  // The code runs on: the same work gives the same answer.
  std::vector<int> w(10000);
  std::iota(w.rbegin(), w.rend(), 0);
  std::sort(w.begin(), w.end());
  CHECK(w == v);
  CHECK(text == "9999{ 1, 2, 3 }");
#ifndef VIGIL_TESTS_EMULATED
  CHECK(advised > 64 * 1024);  // at least the test binary's own code
  REQUIRE(before > 0);
  CHECK(after < before - 256);  // at least 256 kB of code pages left the resident set
#else
  // qemu-user shows the guest its own host mappings in /proc/self/smaps and treats madvise as a
  // hint: what is checked under it is that the call leaves the program running correctly.
  WARN("under qemu-user the resident-memory effect is not observable; checked: the code runs on (advised "
       << advised << " bytes)");
#endif
}

}  // namespace
}  // namespace vigil::runtime
