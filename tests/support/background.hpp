#pragma once
// A real process started in the background (end-to-end tests): stdout and stderr go to files,
// it can be signalled (SIGTERM, kill -9) and waited for. Plus `eventually`, the polling wait
// those tests use.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

extern char** environ;

namespace vigil::test {

class BackgroundProcess {
 public:
  /// Starts `argv` with stdin from /dev/null. An empty `out` or `err` discards that stream;
  /// with `append`, the files are added to (a restarted process keeps one log) instead of
  /// truncated.
  BackgroundProcess(const std::vector<std::string>& argv, const std::string& out, const std::string& err,
                    bool append = false)
      : out_(out), err_(err) {
    const int mode = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out.empty() ? "/dev/null" : out.c_str(), mode, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err.empty() ? "/dev/null" : err.c_str(), mode, 0644);
    std::vector<std::string> args = argv;
    std::vector<char*> argp;
    for (auto& a : args) argp.push_back(a.data());
    argp.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argp[0], &actions, nullptr, argp.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(rc == 0);
  }
  ~BackgroundProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  std::string out() const { return out_.empty() ? std::string() : read_file(out_); }
  std::string err() const { return err_.empty() ? std::string() : read_file(err_); }
  void signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  /// Waits up to `timeout` for the process to end; its exit code (128+signal if killed by
  /// one), or -1 if it is still running.
  int wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      if (pid_ <= 0) return -1;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  /// signal(sig), then wait(timeout).
  int stop(int sig, std::chrono::milliseconds timeout) {
    signal(sig);
    return wait(timeout);
  }

 private:
  std::string out_, err_;
  pid_t pid_ = -1;
};

/// Polls `done` every `every` until it holds or `timeout` passes; its last answer.
template <class F>
bool eventually(std::chrono::milliseconds timeout, F done,
                std::chrono::milliseconds every = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(every);
  }
  return done();
}

}  // namespace vigil::test
