#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "allocation_counter.hpp"
#include "sync_test_support.hpp"
#include "test_support.hpp"

using vigil::test::build_output;
using vigil::test::json_of;
using vigil::test::SummaryMaker;
using vigil::test::TempDir;

namespace {

// Points new console outputs at a file for the test's lifetime, then back at stdout.
class RedirectedConsole {
 public:
  explicit RedirectedConsole(const std::string& path) : file_(std::fopen(path.c_str(), "w")) {
    REQUIRE(file_ != nullptr);
    vigil::sync::set_console_stream(file_);
  }
  ~RedirectedConsole() {
    vigil::sync::set_console_stream(nullptr);
    std::fclose(file_);
  }
  RedirectedConsole(const RedirectedConsole&) = delete;
  RedirectedConsole& operator=(const RedirectedConsole&) = delete;

 private:
  std::FILE* file_;
};

std::unique_ptr<vigil::test::BuiltOutput> build_ok(const std::string& yaml, const std::string& dir) {
  auto built = build_output("console", yaml, dir);
  INFO(built->diag.str());
  REQUIRE(built->diag.empty());
  REQUIRE(built->output != nullptr);
  auto started = built->output->start();
  INFO((started ? std::string() : started.error().message));
  REQUIRE(started.ok());
  return built;
}

std::vector<std::string> expected_lines(SummaryMaker& maker, std::uint64_t first, std::uint64_t n) {
  std::vector<std::string> lines;
  for (std::uint64_t i = first; i < first + n; ++i) lines.push_back(json_of(maker.make(i)));
  return lines;
}

}  // namespace

TEST_CASE("the console output writes one JSON line per summary to the console stream",
          "[sync][console]") {
  TempDir dir;
  RedirectedConsole console(dir.file("stdout.jsonl"));
  auto built = build_ok("{}", dir.path());
  SummaryMaker maker;
  for (std::uint64_t i = 0; i < 1000; ++i) built->output->emit(maker.make(i));
  built->output->stop();

  CHECK(vigil::test::split_lines(vigil::test::read_file(dir.file("stdout.jsonl"))) ==
        expected_lines(maker, 0, 1000));
  CHECK(built->output->stats() == "console: 1000 lines written");
}

TEST_CASE("the console output appends to its path, relative to the config folder", "[sync][console]") {
  TempDir dir;
  SummaryMaker maker;
  for (std::uint64_t run = 0; run < 2; ++run) {
    auto built = build_ok("path: logs/summaries.jsonl\nformat: json", dir.path());
    for (std::uint64_t i = 0; i < 3; ++i) built->output->emit(maker.make(run * 3 + i));
    built->output->stop();
    CHECK(built->output->stats() == "console logs/summaries.jsonl: 3 lines written");
  }
  CHECK(vigil::test::split_lines(vigil::test::read_file(dir.file("logs/summaries.jsonl"))) ==
        expected_lines(maker, 0, 6));
}

TEST_CASE("console lines appear shortly after they are emitted, without waiting for stop",
          "[sync][console]") {
  TempDir dir;
  auto built = build_ok("path: live.jsonl", dir.path());
  SummaryMaker maker;
  for (std::uint64_t i = 0; i < 3; ++i) built->output->emit(maker.make(i));

  std::vector<std::string> lines;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (lines.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    lines = vigil::test::split_lines(vigil::test::read_file(dir.file("live.jsonl")));
  }
  CHECK(lines == expected_lines(maker, 0, 3));
  built->output->stop();
}

TEST_CASE("a console path that cannot be opened fails start() with the path", "[sync][console]") {
  TempDir dir;
  vigil::test::write_file(dir.file("plain-file"), "not a folder");
  auto built = build_output("console", "path: plain-file/out.jsonl", dir.path());
  REQUIRE(built->output != nullptr);
  auto started = built->output->start();
  REQUIRE_FALSE(started.ok());
  CHECK_THAT(started.error().message, Catch::Contains(dir.file("plain-file/out.jsonl")));
}

TEST_CASE("an unknown console format is a config error", "[sync][console][config]") {
  TempDir dir;
  auto built = build_output("console", "format: text", dir.path());
  CHECK(built->output == nullptr);
  CHECK_THAT(built->diag.str(),
             Catch::Contains("test.yaml:1:9: outputs.console.format: \"text\" is not one of: json"));
}

TEST_CASE("an unknown console key is a config error listing the valid keys", "[sync][console][config]") {
  TempDir dir;
  auto built = build_output("console", "colour: true", dir.path());
  CHECK(built->output == nullptr);
  CHECK_THAT(built->diag.str(), Catch::Contains("outputs.console: unknown key \"colour\"") &&
                                    Catch::Contains("valid keys: format, path"));
}

TEST_CASE("emitting into the console output allocates nothing in the steady state",
          "[sync][console][alloc]") {
  TempDir dir;
  auto built = build_ok("path: out.jsonl", dir.path());
  SummaryMaker maker;
  for (std::uint64_t i = 0; i < 1000; ++i) built->output->emit(maker.make(i));

  std::size_t allocations = 0;
  {
    vigil::test::AllocationCounter allocs;
    for (std::uint64_t i = 1000; i < 11'000; ++i) built->output->emit(maker.make(i));
    allocations = allocs.count();
  }
  built->output->stop();
  CHECK(allocations == 0);
  CHECK(vigil::test::split_lines(vigil::test::read_file(dir.file("out.jsonl"))).size() == 11'000);
}

TEST_CASE("register_outputs registers console, outbox and upstream with their documented keys", "[sync]") {
  vigil::runtime::Registry registry;
  vigil::sync::register_outputs(registry);
  CHECK(registry.output_names() == "console, outbox, upstream");
  for (const auto& plugin : registry.outputs()) {
    CHECK_FALSE(plugin.doc.empty());
    CHECK(plugin.make != nullptr);
    for (const auto& key : plugin.keys) CHECK_FALSE(key.doc.empty());
  }
  CHECK_THAT(vigil::runtime::describe_keys(registry.output("outbox")->keys),
             Catch::Contains("`queue_depth`") && Catch::Contains("Default: limits.outbox_queue_depth (16384)"));
}
