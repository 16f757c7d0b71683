#pragma once
// Lets the outbox writer wake the upstream publisher of the same database file in this process
// as soon as rows are committed, instead of the publisher polling the file. Private to sync/src.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace vigil::sync {

/// Commit notifications of one outbox file. Any thread.
class CommitSignal {
 public:
  /// The signal of the database at `path`, shared by every output of this process that names
  /// the same file (compared after making the path absolute and normal).
  static std::shared_ptr<CommitSignal> of(const std::string& path);

  /// Called by the writer after each commit: runs every listener (they must be quick).
  void notify() noexcept;
  /// Adds a listener; returns its id for unsubscribe().
  std::uint64_t subscribe(std::function<void()> listener);
  /// Removes a listener; once this returns it is not running and never runs again.
  void unsubscribe(std::uint64_t id) noexcept;

 private:
  std::mutex mutex_;
  std::uint64_t next_id_ = 1;
  std::vector<std::pair<std::uint64_t, std::function<void()>>> listeners_;
};

}  // namespace vigil::sync
