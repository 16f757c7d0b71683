#include <filesystem>

#include "outputs.hpp"
#include "vigil/sync/sync.hpp"

namespace vigil::sync {

void register_outputs(runtime::Registry& registry) {
  registry.add(console_output_plugin());
  registry.add(outbox_output_plugin());
  registry.add(upstream_output_plugin());
}

std::string resolve_path(const std::string& path, const std::string& config_dir) {
  std::filesystem::path p(path);
  if (p.is_absolute() || config_dir.empty()) return p.lexically_normal().string();
  return (std::filesystem::path(config_dir) / p).lexically_normal().string();
}

void report_key_error(const runtime::OutputSetup& setup, std::string_view key, std::string_view message) {
  if (setup.diag == nullptr) return;
  const runtime::ConfigNode* node = setup.block.node(key);
  const runtime::ConfigNode* self = setup.block.self();
  runtime::Mark at = node ? node->mark : self ? self->mark : runtime::Mark{};
  setup.diag->error(at, setup.path + "." + std::string(key), message);
}

}  // namespace vigil::sync
