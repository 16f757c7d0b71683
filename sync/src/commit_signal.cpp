#include "commit_signal.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>

namespace vigil::sync {

std::shared_ptr<CommitSignal> CommitSignal::of(const std::string& path) {
  static std::mutex registry_mutex;
  static std::map<std::string, std::weak_ptr<CommitSignal>> registry;
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  const std::string key = ec ? path : absolute.lexically_normal().string();
  std::lock_guard lock(registry_mutex);
  // Drop entries whose outputs are gone, so the map does not grow with restarts in tests.
  std::erase_if(registry, [](const auto& entry) { return entry.second.expired(); });
  if (auto existing = registry[key].lock()) return existing;
  auto signal = std::make_shared<CommitSignal>();
  registry[key] = signal;
  return signal;
}

void CommitSignal::notify() noexcept {
  std::lock_guard lock(mutex_);
  for (auto& [id, listener] : listeners_) {
    try {
      listener();
    } catch (...) {
      // A listener only sets a flag and wakes a thread; nothing to recover.
    }
  }
}

std::uint64_t CommitSignal::subscribe(std::function<void()> listener) {
  std::lock_guard lock(mutex_);
  const std::uint64_t id = next_id_++;
  listeners_.emplace_back(id, std::move(listener));
  return id;
}

void CommitSignal::unsubscribe(std::uint64_t id) noexcept {
  std::lock_guard lock(mutex_);
  std::erase_if(listeners_, [id](const auto& entry) { return entry.first == id; });
}

}  // namespace vigil::sync
