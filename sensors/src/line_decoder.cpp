#include "line_decoder.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <span>
#include <system_error>
#include <utility>

#include "csv_file.hpp"

namespace vigil::sensors {
namespace {

bool is_blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  return text;
}



// Shown text in messages is cut so one hostile line cannot flood the log.
int shown(std::string_view text) noexcept { return static_cast<int>(std::min<std::size_t>(text.size(), 48)); }

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

struct LineDecoder::JsonCursor {
  const char* p;
  const char* end;
  void skip_ws() noexcept {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) ++p;
  }
  bool at(char c) const noexcept { return p < end && *p == c; }
  // A string's raw content (escapes kept as written); p is just past the closing quote.
  bool string(std::string_view& out) noexcept {
    if (!at('"')) return false;
    const char* start = ++p;
    while (p < end && *p != '"') {
      if (*p == '\\') ++p;
      ++p;
    }
    if (p >= end) return false;
    out = std::string_view(start, static_cast<std::size_t>(p - start));
    ++p;
    return true;
  }
  std::string_view token() noexcept {
    const char* start = p;
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\r' &&
           *p != '\n')
      ++p;
    return std::string_view(start, static_cast<std::size_t>(p - start));
  }
};

LineDecoder::LineDecoder(LineLayout layout) : layout_(std::move(layout)) {}

runtime::Result<LineDecoder> LineDecoder::make(LineLayout layout) {
  LineDecoder d(std::move(layout));
  const LineLayout& l = d.layout_;
  for (std::size_t i = 0; i < l.fields.size(); ++i) {
    if (l.fields[i].empty()) return runtime::Error{"fields[" + std::to_string(i) + "] is empty; name each field"};
    if (std::find(l.fields.begin(), l.fields.begin() + static_cast<std::ptrdiff_t>(i), l.fields[i]) !=
        l.fields.begin() + static_cast<std::ptrdiff_t>(i))
      return runtime::Error{"field \"" + l.fields[i] + "\" is listed twice in fields"};
  }
  if (l.format == LineFormat::csv) {
    if (l.columns.empty()) {
      if (l.fields.empty())
        return runtime::Error{
            "csv lines need `fields:` (the value in each cell, in order) or `columns:` (the name of each "
            "cell, e.g. columns: [key, ts, temp, vib])"};
      d.names_ = l.fields;
      d.value_column_slot_.resize(l.fields.size());
      for (std::size_t i = 0; i < l.fields.size(); ++i) d.value_column_slot_[i] = i;
    } else {
      if (l.columns.size() > kMaxCells)
        return runtime::Error{"columns: at most " + std::to_string(kMaxCells) + " cells per line"};
      d.value_column_slot_.assign(l.columns.size(), kNone);
      for (std::size_t c = 0; c < l.columns.size(); ++c) {
        const std::string& name = l.columns[c];
        if (std::find(l.columns.begin(), l.columns.begin() + static_cast<std::ptrdiff_t>(c), name) !=
            l.columns.begin() + static_cast<std::ptrdiff_t>(c))
          return runtime::Error{"column \"" + name + "\" is listed twice in columns"};
        if (!l.key.empty() && name == l.key) d.key_column_ = c;
        else if (!l.time.empty() && name == l.time) d.time_column_ = c;
      }
      if (l.fields.empty()) {
        for (std::size_t c = 0; c < l.columns.size(); ++c) {
          if (c == d.key_column_ || c == d.time_column_ || l.columns[c].empty()) continue;
          d.value_column_slot_[c] = d.names_.size();
          d.names_.push_back(l.columns[c]);
        }
        if (d.names_.empty())
          return runtime::Error{"columns name no value column besides the key and the time; columns are: " +
                                join(l.columns)};
      } else {
        for (const auto& f : l.fields) {
          auto it = std::find(l.columns.begin(), l.columns.end(), f);
          if (it == l.columns.end())
            return runtime::Error{"field \"" + f + "\" is not in columns; columns are: " + join(l.columns)};
          d.value_column_slot_[static_cast<std::size_t>(it - l.columns.begin())] = d.names_.size();
          d.names_.push_back(f);
        }
      }
    }
    d.cells_.resize(kMaxCells + 1);
  } else if (l.fields.empty()) {
    d.discover_ = true;
    d.names_.reserve(kMaxDiscoveredFields);
  } else {
    d.names_ = l.fields;
  }
  const std::size_t slots = std::max(d.names_.size(), d.discover_ ? kMaxDiscoveredFields : 0);
  d.values_.assign(slots, 0.0);
  d.present_.assign(slots, 0);
  d.path_.reserve(512);
  return d;
}

void LineDecoder::begin_line(DecodedLine& out) noexcept {
  out = DecodedLine{};
  reason_[0] = '\0';
  std::fill(present_.begin(), present_.end(), 0);
}

LineStatus LineDecoder::fail(const char* format, ...) noexcept {
  va_list args;
  va_start(args, format);
  std::vsnprintf(reason_, sizeof reason_, format, args);
  va_end(args);
  return LineStatus::malformed;
}

LineStatus LineDecoder::decode(char* begin, char* end, DecodedLine& out) noexcept {
  begin_line(out);
  if (std::all_of(begin, end, is_blank)) return LineStatus::blank;
  LineStatus status = LineStatus::record;
  switch (layout_.format) {
    case LineFormat::csv: status = decode_csv(begin, end, out); break;
    case LineFormat::json: status = decode_json(std::string_view(begin, static_cast<std::size_t>(end - begin)), out); break;
    case LineFormat::kv: status = decode_kv(std::string_view(begin, static_cast<std::size_t>(end - begin)), out); break;
  }
  if (status != LineStatus::record) {
    out.present = 0;
    return status;
  }
  out.present = static_cast<std::size_t>(std::count(present_.begin(), present_.end(), 1));
  return status;
}

std::size_t LineDecoder::slot_of(std::string_view name) noexcept {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return i;
  return kNone;
}

bool LineDecoder::set_time(std::string_view text, DecodedLine& out) noexcept {
  const auto t = runtime::parse_time_value(text, layout_.unit);
  if (!t) {
    if (layout_.unit == runtime::TimeUnit::rfc3339)
      fail("time \"%.*s\" in \"%s\" is not an RFC 3339 time", shown(text), text.data(), layout_.time.c_str());
    else
      fail("time \"%.*s\" in \"%s\" is not a number of %s", shown(text), text.data(), layout_.time.c_str(),
           runtime::to_string(layout_.unit).data());
    return false;
  }
  out.has_time = true;
  out.time = *t;
  return true;
}

bool LineDecoder::take_value(std::size_t slot, std::string_view text, std::string_view name) noexcept {
  if (!runtime::parse_number(text, values_[slot])) {
    fail("\"%.*s\" in \"%.*s\" is not a number", shown(text), text.data(), shown(name), name.data());
    return false;
  }
  present_[slot] = 1;
  return true;
}

bool LineDecoder::take(std::string_view name, std::string_view text, bool is_string, DecodedLine& out) noexcept {
  if (!layout_.key.empty() && name == layout_.key) {
    if (text.empty()) {
      fail("the key \"%s\" is empty", layout_.key.c_str());
      return false;
    }
    out.key = text;
    return true;
  }
  if (!layout_.time.empty() && name == layout_.time) return set_time(text, out);
  std::size_t slot = slot_of(name);
  if (slot == kNone) {
    if (!discover_) return true;  // not a field of this source
    double probe = 0;
    // Discovered fields are numbers only: a JSON string member is a label, not a value.
    if (is_string && !runtime::parse_number(text, probe)) return true;
    if (names_.size() >= kMaxDiscoveredFields) return true;
    names_.emplace_back(name);
    slot = names_.size() - 1;
  }
  if (is_string && discover_ && !runtime::parse_number(text, values_[slot])) return true;
  return take_value(slot, text, name);
}

LineStatus LineDecoder::decode_csv(char* begin, char* end, DecodedLine& out) noexcept {
  std::size_t count = 0;
  switch (split_csv_row(begin, end, std::span<std::string_view>(cells_), count)) {
    case CsvRowError::none: break;
    case CsvRowError::unterminated_quote: return fail("a quoted cell has no closing quote");
    case CsvRowError::text_after_quote: return fail("text follows the closing quote of a cell");
  }
  const std::size_t expected = value_column_slot_.size();
  if (count != expected) return fail("%zu cells, expected %zu", count, expected);
  for (std::size_t c = 0; c < count; ++c) {
    const std::string_view cell = trim(cells_[c]);
    if (c == key_column_) {
      if (cell.empty()) return fail("the key column \"%s\" is empty", layout_.key.c_str());
      out.key = cell;
    } else if (c == time_column_) {
      if (!cell.empty() && !set_time(cell, out)) return LineStatus::malformed;
    } else if (const std::size_t slot = value_column_slot_[c]; slot != kNone && !cell.empty()) {
      if (!take_value(slot, cell, names_[slot])) return LineStatus::malformed;
    }
  }
  return LineStatus::record;
}

LineStatus LineDecoder::decode_kv(std::string_view line, DecodedLine& out) noexcept {
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i >= line.size()) break;
    std::size_t j = i;
    while (j < line.size() && !is_blank(line[j])) ++j;
    const std::string_view pair = line.substr(i, j - i);
    i = j;
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return fail("\"%.*s\" is not name=value", shown(pair), pair.data());
    if (eq == 0) return fail("\"%.*s\" has no name before '='", shown(pair), pair.data());
    const std::string_view name = pair.substr(0, eq);
    const std::string_view text = pair.substr(eq + 1);
    if (text.empty() && name != layout_.key) continue;  // `temp=`: no value for temp
    if (!take(name, text, false, out)) return LineStatus::malformed;
  }
  return LineStatus::record;
}

LineStatus LineDecoder::decode_json(std::string_view line, DecodedLine& out) noexcept {
  JsonCursor c{line.data(), line.data() + line.size()};
  c.skip_ws();
  if (!c.at('{')) return fail("a JSON line must be one object {...}");
  path_.clear();
  if (!json_object(c, 1, 0, out)) return LineStatus::malformed;
  c.skip_ws();
  if (c.p != c.end) return fail("text after the JSON object");
  return LineStatus::record;
}

// Reads the object at c.p; member names are joined to the enclosing ones with '.'.
bool LineDecoder::json_object(JsonCursor& c, std::size_t depth, std::size_t prefix_len, DecodedLine& out) noexcept {
  ++c.p;  // '{'
  c.skip_ws();
  if (c.at('}')) {
    ++c.p;
    return true;
  }
  for (;;) {
    c.skip_ws();
    std::string_view name;
    if (!c.string(name)) return fail("expected a quoted member name"), false;
    c.skip_ws();
    if (!c.at(':')) return fail("expected ':' after \"%.*s\"", shown(name), name.data()), false;
    ++c.p;
    c.skip_ws();
    if (prefix_len + 1 + name.size() > path_.capacity())
      return fail("member path too long"), false;
    path_.resize(prefix_len);
    if (prefix_len > 0) path_.push_back('.');
    path_.append(name);
    if (c.p >= c.end) return fail("unterminated JSON object"), false;
    const char ch = *c.p;
    if (ch == '{') {
      if (depth >= kMaxDepth) return fail("objects nested deeper than %zu levels", kMaxDepth), false;
      if (!json_object(c, depth + 1, path_.size(), out)) return false;
    } else if (ch == '"') {
      std::string_view text;
      if (!c.string(text)) return fail("unterminated string in \"%.*s\"", shown(path_), path_.data()), false;
      if (!take(path_, text, true, out)) return false;
    } else if (ch == '[') {
      if (!json_skip_value(c, depth)) return false;
    } else {
      const std::string_view text = c.token();
      if (text == "null") {
        // an absent value
      } else if (text == "true" || text == "false") {
        if (slot_of(path_) != kNone && !discover_)
          return fail("\"%.*s\" in \"%.*s\" is not a number", shown(text), text.data(), shown(path_), path_.data()),
                 false;
      } else if (text.empty()) {
        return fail("expected a value for \"%.*s\"", shown(path_), path_.data()), false;
      } else if (!take(path_, text, false, out)) {
        return false;
      }
    }
    c.skip_ws();
    if (c.at(',')) {
      ++c.p;
      continue;
    }
    if (c.at('}')) {
      ++c.p;
      return true;
    }
    return fail(c.p >= c.end ? "unterminated JSON object" : "expected ',' or '}' in the JSON object"), false;
  }
}

// Skips an array or object (values inside arrays are not read).
bool LineDecoder::json_skip_value(JsonCursor& c, std::size_t depth) noexcept {
  std::size_t level = 0;
  do {
    if (c.p >= c.end) return fail("unterminated JSON array or object"), false;
    const char ch = *c.p;
    if (ch == '"') {
      std::string_view ignored;
      if (!c.string(ignored)) return fail("unterminated string"), false;
      continue;
    }
    if (ch == '[' || ch == '{') {
      if (depth + ++level > kMaxDepth) return fail("values nested deeper than %zu levels", kMaxDepth), false;
    } else if (ch == ']' || ch == '}') {
      --level;
    }
    ++c.p;
  } while (level > 0);
  return true;
}

void report_source_key(const runtime::SourceSetup& setup, std::string_view key, std::string_view message) {
  const runtime::ConfigNode* self = setup.block.self();
  const runtime::ConfigNode* node = self ? self->find(key) : nullptr;
  const runtime::ConfigNode* where = node ? node : self;
  setup.diag->error(where ? where->mark : runtime::Mark{}, setup.path + "." + std::string(key), message);
}

std::optional<LineDecoder> make_source_decoder(const runtime::SourceSetup& setup, LineFormat format,
                                               std::string key_field) {
  LineLayout layout;
  layout.format = format;
  layout.key = std::move(key_field);
  layout.time = setup.mapping.time.field;
  layout.unit = setup.mapping.time.unit;
  layout.fields = setup.mapping.fields;
  const bool has_columns = setup.block.has("columns");
  if (has_columns) {
    layout.columns = setup.block.strings("columns");
    if (format != LineFormat::csv) {
      report_source_key(setup, "columns", "columns apply to format: csv only; remove it");
      return std::nullopt;
    }
  }
  auto made = LineDecoder::make(std::move(layout));
  if (!made) {
    report_source_key(setup, has_columns ? "columns" : "fields", made.error().message);
    return std::nullopt;
  }
  return std::move(made.value());
}

}  // namespace vigil::sensors
