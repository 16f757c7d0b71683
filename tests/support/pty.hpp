#pragma once
// A real pseudo-terminal standing in for a serial device: the test writes into the master, the
// code under test opens the slave by name.
#include <catch2/catch.hpp>

#include <pty.h>
#include <termios.h>
#include <unistd.h>

#include <string>

namespace vigil::test {

/// The test keeps its own slave fd (raw mode) open, so bytes written while no reader has the
/// device open wait in the tty.
struct Pty {
  Pty() {
    char name[256] = {};
    REQUIRE(::openpty(&master, &slave, name, nullptr, nullptr) == 0);
    path = name;
    termios tio{};
    REQUIRE(::tcgetattr(slave, &tio) == 0);
    ::cfmakeraw(&tio);
    REQUIRE(::tcsetattr(slave, TCSANOW, &tio) == 0);
  }
  ~Pty() { close(); }
  Pty(const Pty&) = delete;
  Pty& operator=(const Pty&) = delete;

  void write(const std::string& bytes) const {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(master, bytes.data() + done, bytes.size() - done);
      REQUIRE(n > 0);
      done += static_cast<std::size_t>(n);
    }
  }
  /// The device disappears (USB unplug): every reader gets a hang-up.
  void close() {
    if (slave >= 0) ::close(slave);
    if (master >= 0) ::close(master);
    slave = master = -1;
  }

  int master = -1;
  int slave = -1;
  std::string path;
};

}  // namespace vigil::test
