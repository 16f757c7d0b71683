#pragma once
// Plugins declare their configuration keys as data. One validator checks every block against
// the declaration (unknown key listing the valid ones, missing key, bad type, out of range),
// and `vigil describe` prints the docs from the same tables.
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/runtime/config_node.hpp"
#include "vigil/runtime/time.hpp"

namespace vigil::runtime {

enum class KeyType : std::uint8_t {
  string,          ///< any scalar text
  choice,          ///< one of `choices`
  integer,         ///< whole number in [min, max]
  real,            ///< number in [min, max]
  boolean,         ///< true/false
  duration,        ///< "10s", "500ms"; min/max in nanoseconds
  size,            ///< "16MiB", "4096"; min/max in bytes
  string_list,     ///< a list of scalars (a single scalar is accepted as a list of one)
  object,          ///< a map validated against `children`
  object_list,     ///< a list of maps, each validated against `children`
  object_map,      ///< a map of user-chosen names to maps validated against `children`
  any,             ///< not validated here; the plugin checks it
};

enum class Required : std::uint8_t { no, yes };

/// Open bounds for ConfigKey::min/max, for keys declared positionally up to `choices`/`children`.
inline constexpr double kNoMin = -std::numeric_limits<double>::infinity();
inline constexpr double kNoMax = std::numeric_limits<double>::infinity();

/// One key of a plugin's configuration block.
struct ConfigKey {
  std::string_view name;
  KeyType type = KeyType::string;
  Required required = Required::no;
  std::string_view default_value;  ///< as the user would write it; empty: no default
  std::string_view doc;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  std::span<const std::string_view> choices = {};
  std::span<const ConfigKey> children = {};
};

/// Collects configuration errors so `validate` can report them all at once.
class Diagnostics {
 public:
  /// Adds "file:line:column: path: message".
  void error(const Mark& at, std::string_view path, std::string_view message);
  bool empty() const noexcept { return lines_.empty(); }
  const std::vector<std::string>& lines() const noexcept { return lines_; }
  /// All messages, one per line.
  std::string str() const;

 private:
  std::vector<std::string> lines_;
};

/// Checks `block` (must be a map) against `keys`; reports into `diag` with `path` as prefix
/// ("pipelines[1].window"). `ignore` lists keys handled by the caller (e.g. "type", "name").
void validate_block(const ConfigNode& block, std::span<const ConfigKey> keys, std::string_view path,
                    Diagnostics& diag, std::span<const std::string_view> ignore = {});

/// Typed read access to a validated block; absent keys yield their declared default.
/// Calling an accessor for a key the block does not declare is a programmer error.
class Block {
 public:
  Block() = default;
  Block(const ConfigNode* node, std::span<const ConfigKey> keys) : node_(node), keys_(keys) {}
  bool has(std::string_view key) const noexcept;
  const ConfigNode* node(std::string_view key) const noexcept;
  const ConfigNode* self() const noexcept { return node_; }
  std::string string(std::string_view key) const;
  std::int64_t integer(std::string_view key) const;
  double real(std::string_view key) const;
  bool boolean(std::string_view key) const;
  Nanos duration(std::string_view key) const;
  std::int64_t size(std::string_view key) const;
  std::vector<std::string> strings(std::string_view key) const;
  /// Nested block of an `object` key (node may be null: every member takes its default).
  Block child(std::string_view key) const;
  const ConfigKey& spec(std::string_view key) const;

 private:
  const ConfigNode* node_ = nullptr;
  std::span<const ConfigKey> keys_;
};

/// Reads a scalar as the given type; used by validation and Block. Messages say how to fix.
Result<std::int64_t> parse_integer(std::string_view text);
Result<double> parse_real(std::string_view text);
Result<bool> parse_boolean(std::string_view text);

/// Markdown table of `keys` (for `vigil describe` and docs/).
std::string describe_keys(std::span<const ConfigKey> keys, int indent = 0);

}  // namespace vigil::runtime
