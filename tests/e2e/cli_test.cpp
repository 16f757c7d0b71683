// The `vigil` command line: version, help, usage errors and `describe`.
#include <catch2/catch.hpp>

#include <regex>
#include <string>

#include "test_support.hpp"
#include "vigil_process.hpp"

namespace vigil::test {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;


std::string valid_config() { return source_path("tests/e2e/data/valid.yaml"); }

TEST_CASE("vigil --version prints the version and exits 0", "[e2e][cli]") {
  auto r = run_vigil({"--version"});
  CHECK(r.exit_code == 0);
  CHECK(std::regex_match(r.out, std::regex("vigil [0-9]+\\.[0-9]+\\.[0-9]+\n")));
  CHECK(r.err.empty());
}

TEST_CASE("vigil help prints the usage with every command on stdout and exits 0", "[e2e][cli]") {
  for (const char* flag : {"help", "--help", "-h"}) {
    auto r = run_vigil({flag});
    INFO(flag);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, StartsWith("usage: vigil <command>"));
    CHECK_THAT(r.out, Contains("run CONFIG"));
    CHECK_THAT(r.out, Contains("validate CONFIG"));
    CHECK_THAT(r.out, Contains("replay CONFIG --input FILE"));
    CHECK_THAT(r.out, Contains("describe"));
    CHECK_THAT(r.out, Contains("exit codes"));
    CHECK(r.err.empty());
  }
}

TEST_CASE("vigil with an unknown command exits 2 with the usage on stderr", "[e2e][cli]") {
  auto r = run_vigil({"frobnicate"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, StartsWith("vigil: unknown command \"frobnicate\""));
  CHECK_THAT(r.err, Contains("usage: vigil <command>"));
  CHECK(r.out.empty());
}

TEST_CASE("vigil without a command exits 2 with the usage on stderr", "[e2e][cli]") {
  auto r = run_vigil({});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("missing command"));
  CHECK_THAT(r.err, Contains("usage: vigil <command>"));
  CHECK(r.out.empty());
}

TEST_CASE("run, validate and replay without CONFIG exit 2 and say CONFIG is missing", "[e2e][cli]") {
  for (const char* command : {"run", "validate", "replay"}) {
    auto r = run_vigil({command});
    INFO(command);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, StartsWith(std::string("vigil: ") + command + " needs a CONFIG file"));
    CHECK_THAT(r.err, Contains("usage: vigil <command>"));
    CHECK(r.out.empty());
  }
}

TEST_CASE("a CONFIG that does not exist exits 2 and names the file", "[e2e][cli]") {
  TempDir dir;
  std::string missing = dir.file("no-such-config.yaml");
  for (const char* command : {"validate", "run"}) {
    auto r = run_vigil({command, missing});
    INFO(command);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Contains("cannot read " + missing));
    CHECK_THAT(r.err, Contains("No such file or directory"));
    CHECK(r.out.empty());
  }
}

TEST_CASE("an unknown option exits 2 and names the option", "[e2e][cli]") {
  auto r = run_vigil({"run", valid_config(), "--fast"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, StartsWith("vigil: unknown option --fast"));
  CHECK(r.out.empty());
}

TEST_CASE("an option without its value exits 2 and says it needs a value", "[e2e][cli]") {
  auto r = run_vigil({"run", valid_config(), "--for"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, StartsWith("vigil: --for needs a value"));
}

TEST_CASE("run --for with a bad duration exits 2 and says how to write one", "[e2e][cli]") {
  auto r = run_vigil({"run", valid_config(), "--for", "10 parsecs"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, StartsWith("vigil: --for: \"10 parsecs\" is not a duration; use a number and a unit"));
  CHECK(r.out.empty());
}

TEST_CASE("replay without --input exits 2 and asks for the input file", "[e2e][cli]") {
  auto r = run_vigil({"replay", valid_config()});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, StartsWith("vigil: replay needs --input FILE"));
  CHECK(r.out.empty());
}

TEST_CASE("a second CONFIG argument exits 2 as unexpected", "[e2e][cli]") {
  auto r = run_vigil({"validate", valid_config(), valid_config()});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, StartsWith("vigil: unexpected argument"));
}

TEST_CASE("describe lists the tumbling and hopping windows and the simulator source with their keys",
          "[e2e][cli]") {
  auto r = run_vigil({"describe"});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("`tumbling`"));
  CHECK_THAT(r.out, Contains("`hopping`"));
  CHECK_THAT(r.out, Contains("`simulator`"));
  CHECK_THAT(r.out, Contains("`size` (duration, required"));
  CHECK_THAT(r.out, Contains("`hop` (duration, required"));
  CHECK_THAT(r.out, Contains("`machines` (list of names, required"));
  CHECK_THAT(r.out, Contains("`console`"));
  CHECK_THAT(r.out, Contains("`outbox`"));
  CHECK(r.err.empty());
}

TEST_CASE("describe windows lists the windows only", "[e2e][cli]") {
  auto r = run_vigil({"describe", "windows"});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("`tumbling`"));
  CHECK_THAT(r.out, Contains("`hopping`"));
  CHECK_THAT(r.out, !Contains("`simulator`"));
}

TEST_CASE("describe sources lists the simulator source and no window", "[e2e][cli]") {
  auto r = run_vigil({"describe", "sources"});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("`simulator`"));
  CHECK_THAT(r.out, !Contains("`tumbling`"));
}

TEST_CASE("describe with an unknown section exits 2", "[e2e][cli]") {
  auto r = run_vigil({"describe", "gadgets"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("describe takes"));
  CHECK(r.out.empty());
}

}  // namespace
}  // namespace vigil::test

TEST_CASE("tail-upstream without --broker exits 2 and says what is missing", "[e2e][cli]") {
  auto r = vigil::test::run_vigil({"tail-upstream"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("tail-upstream needs --broker URI") && Catch::Contains("usage: vigil tail-upstream"));
}

TEST_CASE("tail-upstream exits 1 when the broker cannot be reached", "[e2e][cli]") {
  auto r = vigil::test::run_vigil({"tail-upstream", "--broker", "tcp://127.0.0.1:1", "--for", "1s"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("tcp://127.0.0.1:1: cannot connect"));
}
