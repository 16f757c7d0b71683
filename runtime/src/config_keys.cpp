#include "vigil/runtime/config_keys.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace vigil::runtime {

void Diagnostics::error(const Mark& at, std::string_view path, std::string_view message) {
  std::string line = at.str() + ": ";
  if (!path.empty()) line += std::string(path) + ": ";
  line += message;
  lines_.push_back(std::move(line));
}

std::string Diagnostics::str() const {
  std::string out;
  for (const auto& l : lines_) out += (out.empty() ? "" : "\n") + l;
  return out;
}

Result<std::int64_t> parse_integer(std::string_view text) {
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty())
    return Error{"\"" + std::string(text) + "\" is not a whole number"};
  return v;
}

Result<double> parse_real(std::string_view text) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty() || !std::isfinite(v))
    return Error{"\"" + std::string(text) + "\" is not a number"};
  return v;
}

Result<bool> parse_boolean(std::string_view text) {
  if (text == "true" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "no" || text == "off") return false;
  return Error{"\"" + std::string(text) + "\" is not true or false"};
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t prev = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cur = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1)});
      prev = cur;
    }
  }
  return row[b.size()];
}

std::string join_names(std::span<const ConfigKey> keys, std::span<const std::string_view> extra) {
  std::string out;
  for (auto e : extra) out += (out.empty() ? "" : ", ") + std::string(e);
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + std::string(k.name);
  return out;
}

// Bounds as users write them: whole numbers in plain digits (not 1e+07), others in shortest
// round-trip form (a stream's default 6 digits would print 1073741824 as 1.07374e+09).
std::string format_number(double v) {
  if (std::abs(v) < 1e15 && v == std::trunc(v)) return std::to_string(static_cast<std::int64_t>(v));
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ec == std::errc() ? ptr : buf);
}

std::string range_text(const ConfigKey& k) {
  auto fmt = [&](double v) {
    if (k.type == KeyType::duration) return format_duration(static_cast<Nanos>(v));
    return format_number(v);
  };
  bool lo = std::isfinite(k.min), hi = std::isfinite(k.max);
  if (lo && hi) return "use a value from " + fmt(k.min) + " to " + fmt(k.max);
  if (lo) return "use at least " + fmt(k.min);
  if (hi) return "use at most " + fmt(k.max);
  return "";
}

std::string_view type_name(KeyType t) {
  switch (t) {
    case KeyType::string: return "text";
    case KeyType::choice: return "choice";
    case KeyType::integer: return "whole number";
    case KeyType::real: return "number";
    case KeyType::boolean: return "true/false";
    case KeyType::duration: return "duration";
    case KeyType::size: return "size";
    case KeyType::string_list: return "list of names";
    case KeyType::object: return "map";
    case KeyType::object_list: return "list of maps";
    case KeyType::object_map: return "map of maps";
    case KeyType::any: return "any";
  }
  return "?";
}

void check_range(const ConfigKey& k, double v, const std::string& shown, const ConfigNode& node,
                 const std::string& path, Diagnostics& diag) {
  if (v < k.min || v > k.max) diag.error(node.mark, path, shown + " is out of range; " + range_text(k));
}

void validate_value(const ConfigKey& k, const ConfigNode& node, const std::string& path, Diagnostics& diag) {
  auto need_scalar = [&]() {
    if (node.is_scalar()) return true;
    diag.error(node.mark, path, "expected " + std::string(type_name(k.type)) + ", found " + std::string(node.kind_name()));
    return false;
  };
  switch (k.type) {
    case KeyType::string:
      need_scalar();
      break;
    case KeyType::choice: {
      if (!need_scalar()) break;
      bool found = std::find(k.choices.begin(), k.choices.end(), node.scalar) != k.choices.end();
      if (!found) {
        std::string list;
        for (auto c : k.choices) list += (list.empty() ? "" : ", ") + std::string(c);
        diag.error(node.mark, path, "\"" + node.scalar + "\" is not one of: " + list);
      }
      break;
    }
    case KeyType::integer: {
      if (!need_scalar()) break;
      auto v = parse_integer(node.scalar);
      if (!v) diag.error(node.mark, path, v.error().message);
      else check_range(k, static_cast<double>(*v), node.scalar, node, path, diag);
      break;
    }
    case KeyType::real: {
      if (!need_scalar()) break;
      auto v = parse_real(node.scalar);
      if (!v) diag.error(node.mark, path, v.error().message);
      else check_range(k, *v, node.scalar, node, path, diag);
      break;
    }
    case KeyType::boolean: {
      if (!need_scalar()) break;
      auto v = parse_boolean(node.scalar);
      if (!v) diag.error(node.mark, path, v.error().message);
      break;
    }
    case KeyType::duration: {
      if (!need_scalar()) break;
      auto v = parse_duration(node.scalar);
      if (!v) diag.error(node.mark, path, v.error().message);
      else check_range(k, static_cast<double>(*v), node.scalar, node, path, diag);
      break;
    }
    case KeyType::size: {
      if (!need_scalar()) break;
      auto v = parse_size(node.scalar);
      if (!v) diag.error(node.mark, path, v.error().message);
      else check_range(k, static_cast<double>(*v), node.scalar, node, path, diag);
      break;
    }
    case KeyType::string_list:
      if (node.is_scalar()) break;
      if (!node.is_sequence()) {
        diag.error(node.mark, path, "expected a list of names, found " + std::string(node.kind_name()));
        break;
      }
      for (std::size_t i = 0; i < node.items.size(); ++i)
        if (!node.items[i].is_scalar())
          diag.error(node.items[i].mark, path + "[" + std::to_string(i) + "]",
                     "expected a name, found " + std::string(node.items[i].kind_name()));
      break;
    case KeyType::object:
      validate_block(node, k.children, path, diag);
      break;
    case KeyType::object_list:
      if (!node.is_sequence()) {
        diag.error(node.mark, path, "expected a list of maps, found " + std::string(node.kind_name()));
        break;
      }
      for (std::size_t i = 0; i < node.items.size(); ++i)
        validate_block(node.items[i], k.children, path + "[" + std::to_string(i) + "]", diag);
      break;
    case KeyType::object_map:
      if (!node.is_map()) {
        diag.error(node.mark, path, "expected a map of names to maps, found " + std::string(node.kind_name()));
        break;
      }
      for (const auto& m : node.members) validate_block(m.second, k.children, path + "." + m.first, diag);
      break;
    case KeyType::any:
      break;
  }
}

const ConfigKey* find_key(std::span<const ConfigKey> keys, std::string_view name) {
  for (const auto& k : keys)
    if (k.name == name) return &k;
  return nullptr;
}

}  // namespace

void validate_block(const ConfigNode& block, std::span<const ConfigKey> keys, std::string_view path,
                    Diagnostics& diag, std::span<const std::string_view> ignore) {
  std::string prefix(path);
  if (!block.is_map() && !block.is_null()) {
    diag.error(block.mark, prefix, "expected a map of keys (" + join_names(keys, ignore) + "), found " +
                                       std::string(block.kind_name()));
    return;
  }
  for (const auto& [name, value] : block.members) {
    std::string child = prefix.empty() ? name : prefix + "." + name;
    if (std::find(ignore.begin(), ignore.end(), name) != ignore.end()) continue;
    const ConfigKey* k = find_key(keys, name);
    if (!k) {
      std::string msg = "unknown key \"" + name + "\"";
      std::string best;
      std::size_t best_d = 3;
      for (const auto& cand : keys) {
        std::size_t d = edit_distance(name, cand.name);
        if (d < best_d) best_d = d, best = std::string(cand.name);
      }
      if (!best.empty()) msg += " (did you mean \"" + best + "\"?)";
      msg += "; valid keys: " + join_names(keys, ignore);
      diag.error(value.key_mark.file ? value.key_mark : value.mark, prefix, msg);
      continue;
    }
    validate_value(*k, value, child, diag);
  }
  for (const auto& k : keys) {
    if (k.required == Required::yes && !block.find(k.name)) {
      std::string msg = "missing key \"" + std::string(k.name) + "\"";
      if (!k.doc.empty()) msg += " (" + std::string(k.doc) + ")";
      diag.error(block.mark, prefix, msg);
    }
  }
}

bool Block::has(std::string_view key) const noexcept { return node_ && node_->find(key); }

const ConfigNode* Block::node(std::string_view key) const noexcept { return node_ ? node_->find(key) : nullptr; }

const ConfigKey& Block::spec(std::string_view key) const {
  const ConfigKey* k = find_key(keys_, key);
  if (!k) {
    std::fprintf(stderr, "vigil: internal error: key \"%.*s\" is not declared\n", static_cast<int>(key.size()),
                 key.data());
    std::abort();
  }
  return *k;
}

std::string Block::string(std::string_view key) const {
  const auto& k = spec(key);
  const ConfigNode* n = node(key);
  return n && n->is_scalar() ? n->scalar : std::string(k.default_value);
}

std::int64_t Block::integer(std::string_view key) const {
  auto v = parse_integer(string(key));
  return v ? *v : 0;
}

double Block::real(std::string_view key) const {
  auto v = parse_real(string(key));
  return v ? *v : 0.0;
}

bool Block::boolean(std::string_view key) const {
  auto v = parse_boolean(string(key));
  return v && *v;
}

Nanos Block::duration(std::string_view key) const {
  auto text = string(key);
  if (text.empty()) return 0;
  auto v = parse_duration(text);
  return v ? *v : 0;
}

std::int64_t Block::size(std::string_view key) const {
  auto text = string(key);
  if (text.empty()) return 0;
  auto v = parse_size(text);
  return v ? *v : 0;
}

std::vector<std::string> Block::strings(std::string_view key) const {
  spec(key);
  std::vector<std::string> out;
  const ConfigNode* n = node(key);
  if (!n) return out;
  if (n->is_scalar()) out.push_back(n->scalar);
  for (const auto& item : n->items)
    if (item.is_scalar()) out.push_back(item.scalar);
  return out;
}

Block Block::child(std::string_view key) const { return Block(node(key), spec(key).children); }

std::string describe_keys(std::span<const ConfigKey> keys, int indent) {
  std::string pad(static_cast<std::size_t>(indent), ' ');
  std::string out;
  for (const auto& k : keys) {
    out += pad + "- `" + std::string(k.name) + "` (" + std::string(type_name(k.type));
    if (k.type == KeyType::choice) {
      std::string list;
      for (auto c : k.choices) list += (list.empty() ? "" : "|") + std::string(c);
      out += ": " + list;
    }
    out += k.required == Required::yes ? ", required" : "";
    if (!k.default_value.empty()) out += ", default " + std::string(k.default_value);
    std::string range = range_text(k);
    if (!range.empty() && k.type != KeyType::string) out += "; " + range;
    out += "): " + std::string(k.doc) + "\n";
    if (!k.children.empty()) out += describe_keys(k.children, indent + 2);
  }
  return out;
}

}  // namespace vigil::runtime
