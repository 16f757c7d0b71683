#pragma once
// What a source needs around it in a unit test: key and field tables, a setup, a queue and a
// consumer that drains it with a deadline.
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "vigil/runtime/config_keys.hpp"
#include "vigil/runtime/config_node.hpp"
#include "vigil/runtime/plugin.hpp"

namespace vigil::test {

/// Tables, diagnostics and a setup for one source called "plant" at index 3.
struct SourceHarness {
  explicit SourceHarness(std::size_t max_keys = 64) : keys(max_keys) {
    setup.name = "plant";
    setup.index = 3;
    setup.keys = &keys;
    setup.fields = &fields;
    setup.clock = &clock;
    setup.path = "sources[0]";
    setup.diag = &diag;
  }

  /// Parses `yaml` as the source's block, validates it against `keys` (as the engine would,
  /// minus the generic source keys) and points the setup at it. Diagnostics land in `diag`.
  bool configure(const std::string& yaml, std::span<const runtime::ConfigKey> plugin_keys) {
    auto root = runtime::load_config_text(yaml, "test.yaml", ".");
    if (!root) {
      load_error = root.error().message;
      return false;
    }
    node = std::make_unique<runtime::ConfigNode>(std::move(root.value()));
    runtime::validate_block(*node, plugin_keys, setup.path, diag);
    setup.block = runtime::Block(node.get(), plugin_keys);
    return diag.empty();
  }

  runtime::KeyTable keys;
  runtime::FieldTable fields;
  runtime::VirtualClock clock{1'700'000'000 * runtime::kNanosPerSecond};
  runtime::Diagnostics diag;
  std::unique_ptr<runtime::ConfigNode> node;
  std::string load_error;
  runtime::SourceSetup setup;
};

/// Pops events until end_of_stream (included) or `timeout`; pops `chunk` at a time and, if
/// `pause` is set, sleeps that long between pops (a slow consumer).
inline std::vector<runtime::Event> drain(runtime::IngestQueue& queue,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(20),
                                         std::size_t chunk = 1024,
                                         std::chrono::microseconds pause = std::chrono::microseconds(0)) {
  std::vector<runtime::Event> out;
  std::vector<runtime::Event> buf(chunk);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::size_t n = queue.pop(buf);
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(buf[i]);
      if (buf[i].kind == runtime::EventKind::end_of_stream) return out;
    }
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
    else if (n == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return out;
}

/// Events of one kind.
inline std::vector<runtime::Event> only(const std::vector<runtime::Event>& events, runtime::EventKind kind) {
  std::vector<runtime::Event> out;
  for (const auto& e : events)
    if (e.kind == kind) out.push_back(e);
  return out;
}

}  // namespace vigil::test
