// Fuzzes the configuration loader: YAML text to ConfigNode (env substitution, includes that
// cannot resolve), then validation of the blocks the way the engine does it, against the
// registered plugins' key tables and a table with one key of every type. A block that
// validates cleanly must then be readable through Block without surprises.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vigil/operators/operators.hpp"
#include "vigil/runtime/config_keys.hpp"
#include "vigil/runtime/config_node.hpp"
#include "vigil/runtime/plugin.hpp"
#include "vigil/sensors/sensors.hpp"
#include "vigil/sync/sync.hpp"

namespace rt = vigil::runtime;

namespace {

constexpr std::string_view kModes[] = {"fast", "slow"};
constexpr rt::ConfigKey kInnerKeys[] = {
    {"x", rt::KeyType::real, rt::Required::yes, {}, "x"},
    {"tag", rt::KeyType::string, rt::Required::no, "none", "tag"}};
constexpr rt::ConfigKey kEveryTypeKeys[] = {
    {"name", rt::KeyType::string, rt::Required::no, "n", "name"},
    {"mode", rt::KeyType::choice, rt::Required::no, "fast", "mode", rt::kNoMin, rt::kNoMax, kModes},
    {"count", rt::KeyType::integer, rt::Required::no, "3", "count", 0, 1e6},
    {"ratio", rt::KeyType::real, rt::Required::no, "0.5", "ratio", -1, 1},
    {"on", rt::KeyType::boolean, rt::Required::no, "true", "on"},
    {"every", rt::KeyType::duration, rt::Required::no, "1s", "every", 0, 1e12},
    {"cap", rt::KeyType::size, rt::Required::no, "1MiB", "cap", 0, 1e10},
    {"tags", rt::KeyType::string_list, rt::Required::no, {}, "tags"},
    {"inner", rt::KeyType::object, rt::Required::no, {}, "inner", rt::kNoMin, rt::kNoMax, {}, kInnerKeys},
    {"list", rt::KeyType::object_list, rt::Required::no, {}, "list", rt::kNoMin, rt::kNoMax, {}, kInnerKeys},
    {"named", rt::KeyType::object_map, rt::Required::no, {}, "named", rt::kNoMin, rt::kNoMax, {}, kInnerKeys},
    {"extra", rt::KeyType::any, rt::Required::no, {}, "extra"}};
// Keys the engine reads itself from every source and pipeline block.
constexpr std::string_view kEngineKeys[] = {"name", "type", "key", "time", "fields", "queue",
                                            "from", "window", "aggregates"};

const rt::Registry& registry() {
  static const rt::Registry r = [] {
    rt::Registry made;
    vigil::sensors::register_sources(made);
    vigil::operators::register_windows(made);
    vigil::sync::register_outputs(made);
    return made;
  }();
  return r;
}

void read_every_key(const rt::ConfigNode& node) {
  const rt::Block block(&node, kEveryTypeKeys);
  (void)block.string("name");
  (void)block.string("mode");
  (void)block.integer("count");
  (void)block.real("ratio");
  (void)block.boolean("on");
  (void)block.duration("every");
  (void)block.size("cap");
  (void)block.strings("tags");
  const rt::Block inner = block.child("inner");
  if (inner.self()) (void)inner.real("x");
  (void)inner.string("tag");
}

// Validates `node` as the engine would if it were a source, window or output block.
void validate_as_plugin(const rt::ConfigNode& node, std::string_view key, rt::Diagnostics& diag) {
  const rt::Registry& r = registry();
  if (const rt::OutputPlugin* out = r.output(key)) validate_block(node, out->keys, key, diag);
  const rt::ConfigNode* type = node.find("type");
  if (!type || !type->is_scalar()) return;
  if (const rt::SourcePlugin* src = r.source(type->scalar))
    validate_block(node, src->keys, "sources", diag, kEngineKeys);
  if (const rt::WindowPlugin* win = r.window(type->scalar))
    validate_block(node, win->keys, "window", diag, kEngineKeys);
}

void walk(const rt::ConfigNode& node, std::string_view key, int depth, int& budget) {
  if (depth > 6 || --budget < 0) return;
  if (node.is_map()) {
    rt::Diagnostics diag;
    validate_block(node, kEveryTypeKeys, key, diag);
    if (diag.empty()) read_every_key(node);
    validate_as_plugin(node, key, diag);
    (void)diag.str();
    for (const auto& [name, value] : node.members) walk(value, name, depth + 1, budget);
  } else if (node.is_sequence()) {
    for (const auto& item : node.items) walk(item, key, depth + 1, budget);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // A fixed environment keeps runs reproducible; includes resolve against a missing directory.
  const rt::EnvLookup env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "GW") return std::string("gw-1");
    if (name == "EMPTY") return std::string();
    return std::nullopt;
  };
  const auto loaded = rt::load_config_text(text, "fuzz.yaml", "/nonexistent-vigil-fuzz", env);
  if (!loaded) {
    (void)loaded.error().message.size();
    return 0;
  }
  int budget = 256;
  walk(loaded.value(), "", 0, budget);
  return 0;
}
