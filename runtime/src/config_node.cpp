// YAML (yaml-cpp) to ConfigNode. yaml-cpp exceptions stop here.
#include "vigil/runtime/config_node.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace vigil::runtime {

std::string Mark::str() const {
  if (!file) return "<config>";
  return *file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

const ConfigNode* ConfigNode::find(std::string_view key) const noexcept {
  if (kind != Kind::map) return nullptr;
  for (const auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

std::string_view ConfigNode::kind_name() const noexcept {
  switch (kind) {
    case Kind::null: return "nothing";
    case Kind::scalar: return "a value";
    case Kind::sequence: return "a list";
    case Kind::map: return "a map";
  }
  return "?";
}

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    std::string key(name);
    const char* v = std::getenv(key.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

namespace {

constexpr int kMaxIncludeDepth = 16;
constexpr int kMaxNesting = 64;
constexpr std::size_t kMaxNodes = 100'000;

struct Loader {
  const EnvLookup& env;
  std::vector<std::string> stack;  // files being loaded, for include cycles
  std::vector<std::string> errors;
  std::size_t nodes = 0;  // converted so far, aliases counted once per use
  bool exploded = false;  // a size or depth limit was hit

  Mark mark_of(const YAML::Mark& m, const std::shared_ptr<const std::string>& file) {
    return Mark{file, m.line + 1, m.column + 1};
  }

  void error(const Mark& at, const std::string& message) { errors.push_back(at.str() + ": " + message); }

  std::string substitute(const std::string& text, const Mark& at) {
    if (text.find('$') == std::string::npos) return text;
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      if (c != '$' || i + 1 >= text.size()) {
        out += c;
        continue;
      }
      if (text[i + 1] == '$') {
        out += '$';
        ++i;
        continue;
      }
      if (text[i + 1] != '{') {
        out += c;
        continue;
      }
      std::size_t close = text.find('}', i + 2);
      if (close == std::string::npos) {
        error(at, "unterminated \"${\" in \"" + text + "\"; write ${NAME} or $$ for a literal $");
        return text;
      }
      std::string inner = text.substr(i + 2, close - i - 2);
      std::optional<std::string> fallback;
      if (auto d = inner.find(":-"); d != std::string::npos) {
        fallback = inner.substr(d + 2);
        inner = inner.substr(0, d);
      }
      auto value = env(inner);
      if (value && (!value->empty() || !fallback)) out += *value;
      else if (fallback) out += *fallback;
      else error(at, "environment variable " + inner + " is not set; export it or write ${" + inner + ":-default}");
      i = close;
    }
    return out;
  }

  ConfigNode convert(const YAML::Node& node, const std::shared_ptr<const std::string>& file,
                     const std::string& dir, int depth = 0) {
    ConfigNode out;
    out.mark = mark_of(node.Mark(), file);
    if (exploded) return out;  // one message is enough; stop converting
    // Aliases are expanded, so a few repeated anchors can stand for billions of nodes; no
    // real config comes near this.
    if (++nodes > kMaxNodes) {
      exploded = true;
      error(out.mark, "the config expands to more than " + std::to_string(kMaxNodes) +
                          " values (aliases repeated inside aliases?); write it out plainly");
      return out;
    }
    // Deep enough for any real config; stops an alias that refers to its own anchor
    // (`a: &x {b: *x}`), which yaml-cpp turns into a cycle.
    if (depth > kMaxNesting) {
      exploded = true;
      error(out.mark, "nesting deeper than " + std::to_string(kMaxNesting) +
                          " levels (or an alias that refers to itself); flatten the config");
      return out;
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out.kind = ConfigNode::Kind::null;
        break;
      case YAML::NodeType::Scalar:
        out.kind = ConfigNode::Kind::scalar;
        out.quoted = node.Tag() == "!";
        out.scalar = substitute(node.Scalar(), out.mark);
        break;
      case YAML::NodeType::Sequence:
        out.kind = ConfigNode::Kind::sequence;
        for (const auto& item : node) out.items.push_back(convert(item, file, dir, depth + 1));
        break;
      case YAML::NodeType::Map: {
        out.kind = ConfigNode::Kind::map;
        std::vector<ConfigNode> includes;
        for (auto it = node.begin(); it != node.end(); ++it) {
          Mark key_mark = mark_of(it->first.Mark(), file);
          if (!it->first.IsScalar()) {
            error(key_mark, "a map key must be a plain name");
            continue;
          }
          std::string key = it->first.Scalar();
          if (key == "include") {
            includes.push_back(load_includes(it->second, file, dir));
            continue;
          }
          bool duplicate = false;
          for (const auto& m : out.members)
            if (m.first == key) duplicate = true;
          if (duplicate) {
            error(key_mark, "key \"" + key + "\" appears twice in the same map; remove one");
            continue;
          }
          ConfigNode value = convert(it->second, file, dir, depth + 1);
          value.key_mark = key_mark;
          out.members.push_back(ConfigNode::Member{key, std::move(value)});
        }
        if (!includes.empty()) {
          ConfigNode merged = std::move(includes.front());
          for (std::size_t i = 1; i < includes.size(); ++i) merge_into(merged, std::move(includes[i]));
          merged.mark = out.mark;
          merge_into(merged, std::move(out));
          return merged;
        }
        break;
      }
    }
    return out;
  }

  // `over` wins; maps merge member by member.
  static void merge_into(ConfigNode& base, ConfigNode&& over) {
    if (base.kind != ConfigNode::Kind::map || over.kind != ConfigNode::Kind::map) {
      Mark key_mark = base.key_mark;
      base = std::move(over);
      if (!base.key_mark.file) base.key_mark = key_mark;
      return;
    }
    for (auto& m : over.members) {
      bool found = false;
      for (auto& b : base.members) {
        if (b.first == m.first) {
          merge_into(b.second, std::move(m.second));
          found = true;
          break;
        }
      }
      if (!found) base.members.push_back(std::move(m));
    }
  }

  ConfigNode load_includes(const YAML::Node& value, const std::shared_ptr<const std::string>& file,
                           const std::string& dir) {
    ConfigNode merged;
    merged.kind = ConfigNode::Kind::map;
    std::vector<YAML::Node> names;
    if (value.IsScalar()) names.push_back(value);
    else if (value.IsSequence())
      for (const auto& v : value) names.push_back(v);
    else error(mark_of(value.Mark(), file), "include: takes a file name or a list of file names");
    for (const auto& n : names) {
      Mark at = mark_of(n.Mark(), file);
      if (!n.IsScalar()) {
        error(at, "include: takes a file name or a list of file names");
        continue;
      }
      std::string name = substitute(n.Scalar(), at);
      std::filesystem::path p(name);
      if (p.is_relative()) p = std::filesystem::path(dir) / p;
      auto included = load_file(p.lexically_normal().string(), at);
      if (!included) continue;
      if (included->kind != ConfigNode::Kind::map && included->kind != ConfigNode::Kind::null) {
        error(at, "included file " + name + " must hold a map of keys");
        continue;
      }
      if (included->kind == ConfigNode::Kind::map) merge_into(merged, std::move(*included));
    }
    return merged;
  }

  std::optional<ConfigNode> load_file(const std::string& path, const Mark& included_from) {
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(path, ec).string();
    for (const auto& s : stack) {
      if (s == canonical) {
        error(included_from, "include cycle: " + path + " includes itself");
        return std::nullopt;
      }
    }
    if (stack.size() >= kMaxIncludeDepth) {
      error(included_from, "includes nest deeper than 16 files");
      return std::nullopt;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::string msg = "cannot read " + path + ": " + std::strerror(errno);
      if (included_from.file) error(included_from, msg);
      else errors.push_back(msg);
      return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    stack.push_back(canonical);
    auto dir = std::filesystem::path(path).parent_path().string();
    auto node = load_text(text.str(), path, dir.empty() ? "." : dir);
    stack.pop_back();
    return node;
  }

  std::optional<ConfigNode> load_text(const std::string& text, const std::string& name, const std::string& dir) {
    auto file = std::make_shared<const std::string>(name);
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      error(mark_of(e.mark, file), "YAML syntax: " + e.msg);
      return std::nullopt;
    }
    try {
      auto node = convert(root, file, dir);
      if (node.kind == ConfigNode::Kind::null) node.mark = Mark{file, 1, 1};
      return node;
    } catch (const YAML::Exception& e) {
      error(mark_of(e.mark, file), "YAML: " + e.msg);
      return std::nullopt;
    }
  }

  Result<ConfigNode> finish(std::optional<ConfigNode> node) {
    if (!errors.empty() || !node) {
      std::string all;
      for (const auto& e : errors) all += (all.empty() ? "" : "\n") + e;
      return Error{all};
    }
    return std::move(*node);
  }
};

}  // namespace

Result<ConfigNode> load_config_file(const std::string& path, const EnvLookup& env) {
  Loader loader{env, {}, {}};
  auto node = loader.load_file(path, Mark{});
  return loader.finish(std::move(node));
}

Result<ConfigNode> load_config_text(std::string_view text, const std::string& name, const std::string& base_dir,
                                    const EnvLookup& env) {
  Loader loader{env, {}, {}};
  auto node = loader.load_text(std::string(text), name, base_dir);
  return loader.finish(std::move(node));
}

}  // namespace vigil::runtime
