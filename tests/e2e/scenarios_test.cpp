// Data-driven end-to-end cases: every folder under tests/scenarios/ holds pipeline.yaml,
// input.csv and expected.jsonl. `vigil replay pipeline.yaml --input input.csv` must print exactly
// expected.jsonl on stdout. A new case is a new folder; no C++ needed.
#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "test_support.hpp"

namespace vigil::test {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> scenario_names() {
  std::vector<std::string> names;
  const fs::path root = source_path("tests/scenarios");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec))
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Lines of `text` split at '\n', keeping whether the text ended with a newline visible.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t nl = text.find('\n', at);
    if (nl == std::string::npos) {
      lines.push_back(text.substr(at) + "  (no newline at end)");
      break;
    }
    lines.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return lines;
}

// A line diff (longest common subsequence): " " kept, "-" expected only, "+" printed only.
std::string line_diff(const std::string& expected, const std::string& actual) {
  const auto a = lines_of(expected);
  const auto b = lines_of(actual);
  std::vector<std::vector<int>> lcs(a.size() + 1, std::vector<int>(b.size() + 1, 0));
  for (std::size_t i = a.size(); i-- > 0;)
    for (std::size_t j = b.size(); j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::ostringstream out;
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      out << "  " << a[i] << "\n";
      ++i, ++j;
    } else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out << "- " << a[i++] << "\n";
    } else {
      out << "+ " << b[j++] << "\n";
    }
  }
  return out.str();
}

}  // namespace

TEST_CASE("every scenario under tests/scenarios replays to its expected.jsonl, byte for byte", "[e2e][scenarios]") {
  const auto names = scenario_names();
  REQUIRE_FALSE(names.empty());
  for (const auto& name : names) {
    DYNAMIC_SECTION("scenario " << name) {
      const std::string dir = source_path("tests/scenarios/" + name);
      for (const char* file : {"pipeline.yaml", "input.csv", "expected.jsonl"}) {
        INFO("each scenario folder holds pipeline.yaml, input.csv and expected.jsonl");
        REQUIRE(fs::exists(dir + "/" + file));
      }
      const ProcessResult r =
          run_process({VIGIL_BINARY, "replay", dir + "/pipeline.yaml", "--input", dir + "/input.csv"}, 60'000);
      const std::string expected = read_file(dir + "/expected.jsonl");
      INFO("vigil replay " << dir << "/pipeline.yaml --input " << dir << "/input.csv");
      INFO("stderr:\n" << r.err);
      REQUIRE_FALSE(r.timed_out);
      CHECK(r.exit_code == 0);
      if (r.out != expected)
        FAIL_CHECK("stdout differs from expected.jsonl (- expected, + printed):\n" << line_diff(expected, r.out));
    }
  }
}

}  // namespace vigil::test
