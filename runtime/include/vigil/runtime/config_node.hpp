#pragma once
// A parsed configuration document: YAML turned into a small tree that remembers where every
// node came from (file:line:column), with `include:` merged and `${ENV}` substituted.
// No third-party types here; the YAML parser stays inside runtime/src.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/runtime/result.hpp"

namespace vigil::runtime {

/// Where a node starts in its file; line and column are 1-based.
struct Mark {
  std::shared_ptr<const std::string> file;
  int line = 0;
  int column = 0;
  /// "file:line:column", or "<config>" when unknown.
  std::string str() const;
};

/// One node of a configuration document.
class ConfigNode {
 public:
  enum class Kind : std::uint8_t { null, scalar, sequence, map };
  /// One map member: `first` is the key, `second` the value (pair-like, so structured
  /// bindings work). Defined after ConfigNode, which it contains.
  struct Member;

  Kind kind = Kind::null;
  Mark mark;             ///< where the value starts
  Mark key_mark;         ///< for map members: where the key starts
  std::string scalar;    ///< text of a scalar, after ${ENV} substitution
  bool quoted = false;   ///< the scalar was quoted in the source (so "yes" stays a string)
  std::vector<ConfigNode> items;  ///< sequence elements
  std::vector<Member> members;    ///< map members in document order

  bool is_map() const noexcept { return kind == Kind::map; }
  bool is_sequence() const noexcept { return kind == Kind::sequence; }
  bool is_scalar() const noexcept { return kind == Kind::scalar; }
  bool is_null() const noexcept { return kind == Kind::null; }
  /// Member `key` of a map; nullptr if absent or not a map.
  const ConfigNode* find(std::string_view key) const noexcept;
  /// Human name of the kind: "a map", "a list", "a value", "nothing".
  std::string_view kind_name() const noexcept;
};

struct ConfigNode::Member {
  std::string first;
  ConfigNode second;
};

/// Looks up an environment variable; injectable so tests need not touch the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;
/// The process environment.
EnvLookup process_env();

/// Loads a YAML file: substitutes ${VAR} and ${VAR:-default} in scalars ($$ is a literal $),
/// merges `include: file` / `include: [files]` found in any map (paths relative to the including
/// file; the including map's own keys win, maps merge deeply). Errors name file:line:column.
Result<ConfigNode> load_config_file(const std::string& path, const EnvLookup& env = process_env());
/// Same, from text; `name` stands for the file in messages; includes resolve against `base_dir`.
Result<ConfigNode> load_config_text(std::string_view text, const std::string& name,
                                    const std::string& base_dir,
                                    const EnvLookup& env = process_env());

}  // namespace vigil::runtime
