// Board profiles, the packaged default config and the systemd readiness notice, end to end.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <thread>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace vigil::test {
namespace {

using Catch::Matchers::Contains;

/// The shipped default pipeline in `dir`, pulling in a board profile first.
std::string example_on_board(const TempDir& dir, const std::string& board) {
  const std::string config = dir.file("board.yaml");
  write_file(config, "include: " + source_path("boards/" + board + ".yaml") + "\n" +
                         read_file(source_path("examples/factory-sim.yaml")));
  return config;
}

/// A datagram socket bound at `path`, where vigil sends its systemd notices (NOTIFY_SOCKET).
int bind_notify_socket(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0);
  return fd;
}

TEST_CASE("every board profile validates under the default pipeline", "[e2e][boards]") {
  for (const std::string board : {"rpi3", "rpi4", "rpi5", "jetson-orin-nano", "x86_64"}) {
    TempDir dir;
    auto r = run_process({VIGIL_BINARY, "validate", example_on_board(dir, board)});
    INFO(board << ": " << r.err);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Contains(": ok"));
  }
}

TEST_CASE("a run names the profile's board, and the config's own limits win over it", "[e2e][boards]") {
  TempDir dir;
  auto r = run_process({VIGIL_BINARY, "run", example_on_board(dir, "rpi3"), "--for", "1s"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.err, Contains("board rpi3)"));
}

TEST_CASE("a board limit out of range is reported at the profile's line and column", "[e2e][boards][config]") {
  TempDir dir;
  write_file(dir.file("tiny.yaml"), "board: {name: tiny}\nlimits:\n  outbox_bytes: 1KiB\n");
  write_file(dir.file("plant.yaml"), "include: tiny.yaml\n" + read_file(source_path("examples/factory-sim.yaml")));
  auto r = run_process({VIGIL_BINARY, "validate", dir.file("plant.yaml")});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("tiny.yaml:3:17") && Contains("limits.outbox_bytes"));
}

TEST_CASE("the packaged config is the default pipeline with its outbox in /var/lib/vigil", "[e2e][boards][package]") {
  const std::string packaged = read_file(VIGIL_PACKAGED_CONFIG);
  CHECK_THAT(packaged, Contains("path: /var/lib/vigil/outbox.db"));
  CHECK_THAT(packaged, Contains("machines: [press-1, pump-1, fan-1]"));
  auto r = run_process({VIGIL_BINARY, "validate", VIGIL_PACKAGED_CONFIG});
  INFO(r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("vigil run tells systemd it is ready through NOTIFY_SOCKET", "[e2e][service]") {
  TempDir dir;
  const std::string path = dir.file("notify");
  const int fd = bind_notify_socket(path);

  auto r = run_process({VIGIL_BINARY, "run", source_path("examples/factory-sim.yaml"), "--for", "1s"}, 60'000,
                       {"NOTIFY_SOCKET=" + path, "VIGIL_GATEWAY=notify-test"});
  // The run has ended: the notice waits in the socket's queue.
  timeval timeout{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  char buffer[512] = {};
  const ssize_t got = ::recv(fd, buffer, sizeof(buffer) - 1, 0);
  ::close(fd);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  REQUIRE(got > 0);
  CHECK_THAT(std::string(buffer, static_cast<std::size_t>(got)), Contains("READY=1"));
}

TEST_CASE("vigil run pings the systemd watchdog while its pipeline loop turns", "[e2e][service]") {
  TempDir dir;
  const std::string path = dir.file("notify");
  const int fd = bind_notify_socket(path);
  // Reads the socket while vigil runs (its queue holds only a few datagrams).
  auto run_and_listen = [&](std::vector<std::string> env, const char* run_for, ProcessResult& r) {
    std::atomic<bool> done{false};
    std::vector<std::string> got;
    std::thread reader([&] {
      timeval timeout{0, 50'000};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
      char buffer[512];
      while (true) {
        const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
        if (n > 0) got.emplace_back(buffer, static_cast<std::size_t>(n));
        else if (done.load()) break;
      }
    });
    env.push_back("NOTIFY_SOCKET=" + path);
    env.push_back("VIGIL_GATEWAY=watchdog-test");
    r = run_process({VIGIL_BINARY, "run", source_path("examples/factory-sim.yaml"), "--for", run_for}, 60'000, env);
    done = true;
    reader.join();
    return got;
  };

  // WATCHDOG_USEC 200 ms: a ping every 100 ms over a 1.5 s run.
  ProcessResult r;
  const auto got = run_and_listen({"WATCHDOG_USEC=200000"}, "1500ms", r);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  REQUIRE(!got.empty());
  CHECK_THAT(got.front(), Contains("READY=1"));
  const auto pings = std::count(got.begin(), got.end(), std::string("WATCHDOG=1"));
  CHECK(pings >= 5);  // about 14; fewer on a loaded machine
  CHECK(pings <= 16);

  // WATCHDOG_PID names another process: the watchdog is not ours, no pings.
  const auto other = run_and_listen({"WATCHDOG_USEC=200000", "WATCHDOG_PID=1"}, "700ms", r);
  CHECK(r.exit_code == 0);
  REQUIRE(!other.empty());
  CHECK_THAT(other.front(), Contains("READY=1"));
  CHECK(std::count(other.begin(), other.end(), std::string("WATCHDOG=1")) == 0);
  ::close(fd);
}

}  // namespace
}  // namespace vigil::test
