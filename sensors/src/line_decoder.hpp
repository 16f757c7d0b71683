#pragma once
// Decoding one text line (CSV, flat JSON object, or name=value pairs) into one record: an
// optional key, an optional event time and the values of known fields. Used by the line
// sources (serial); allocation-free per line.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/runtime/plugin.hpp"
#include "vigil/runtime/time.hpp"

namespace vigil::sensors {

/// How the text of one line is laid out.
enum class LineFormat : std::uint8_t {
  csv,   ///< comma-separated cells, by position (`columns`, else `fields`)
  json,  ///< one JSON object; members by name, nested objects as dotted paths (a.b)
  kv,    ///< blank-separated name=value pairs: `temp=21.5 vib=0.02`
};

/// What a LineDecoder looks for; fixed at setup.
struct LineLayout {
  LineFormat format = LineFormat::kv;
  std::string key;                   ///< name of the key field/column; empty: none
  std::string time;                  ///< name of the time field/column; empty: none
  runtime::TimeUnit unit = runtime::TimeUnit::ms;
  std::vector<std::string> fields;   ///< value names; empty: discovered (json, kv) or every other column (csv)
  std::vector<std::string> columns;  ///< csv only: the name of every cell in order; empty: the cells are `fields`
};

/// What one line held. Views point into the line (or into the decoder) until the next decode().
struct DecodedLine {
  std::string_view key;  ///< empty: the line has no key field
  bool has_time = false;
  runtime::Nanos time = 0;
  std::size_t present = 0;  ///< values found (0: no record)
};

/// Outcome of decoding one line.
enum class LineStatus : std::uint8_t {
  record,     ///< decoded; see DecodedLine::present (0: nothing to send)
  blank,      ///< empty or only blanks: ignored, not counted
  malformed,  ///< see LineDecoder::reason()
};

/// Turns lines into records. One thread at a time; decode() neither allocates nor throws.
class LineDecoder {
 public:
  /// Cap on names a decoder learns from the data when `fields` is empty (json, kv).
  static constexpr std::size_t kMaxDiscoveredFields = 64;
  /// Cap on cells of a CSV line and nesting depth of a JSON line.
  static constexpr std::size_t kMaxCells = 256;
  static constexpr std::size_t kMaxDepth = 8;

  /// Checks `layout` (csv needs `fields` or `columns`; columns must name every field) and
  /// sizes every buffer. The error says what to change.
  static runtime::Result<LineDecoder> make(LineLayout layout);

  /// Decodes [begin, end) (no delimiter). CSV cells are unescaped in place, so the bytes may
  /// change. Values land in value(i)/has_value(i) for i < field_count().
  LineStatus decode(char* begin, char* end, DecodedLine& out) noexcept;

  /// Names of the value fields, in slot order. Grows (up to kMaxDiscoveredFields) when the
  /// decoder discovers names; a grown list is the only thing decode() allocates, once per name.
  std::size_t field_count() const noexcept { return names_.size(); }
  const std::string& field_name(std::size_t i) const noexcept { return names_[i]; }
  bool has_value(std::size_t i) const noexcept { return present_[i] != 0; }
  double value(std::size_t i) const noexcept { return values_[i]; }
  /// Why the last line was malformed (valid until the next decode()).
  std::string_view reason() const noexcept { return reason_; }

 private:
  explicit LineDecoder(LineLayout layout);
  LineStatus decode_csv(char* begin, char* end, DecodedLine& out) noexcept;
  LineStatus decode_json(std::string_view line, DecodedLine& out) noexcept;
  LineStatus decode_kv(std::string_view line, DecodedLine& out) noexcept;
  // Routes one named item (json member, kv pair); `number` tells a JSON number from a string.
  bool take(std::string_view name, std::string_view text, bool is_string, DecodedLine& out) noexcept;
  bool take_value(std::size_t slot, std::string_view text, std::string_view name) noexcept;
  bool set_time(std::string_view text, DecodedLine& out) noexcept;
  std::size_t slot_of(std::string_view name) noexcept;
  void begin_line(DecodedLine& out) noexcept;
  LineStatus fail(const char* format, ...) noexcept __attribute__((format(printf, 2, 3)));

  // JSON
  struct JsonCursor;
  bool json_object(JsonCursor& c, std::size_t depth, std::size_t prefix_len, DecodedLine& out) noexcept;
  bool json_skip_value(JsonCursor& c, std::size_t depth) noexcept;

  LineLayout layout_;
  bool discover_ = false;
  std::vector<std::string> names_;
  std::vector<double> values_;
  std::vector<char> present_;
  // csv
  std::vector<std::string_view> cells_;
  std::size_t key_column_ = kNone;
  std::size_t time_column_ = kNone;
  std::vector<std::size_t> value_column_slot_;  // per column: slot or kNone
  // json: full dotted name of the member being read
  std::string path_;
  char reason_[192] = {};
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
};

/// Calls `element(begin, end)` for each top-level element of a JSON array in [begin, end), or
/// once for the whole text when it does not start with '['. Returns nullptr, or what is wrong
/// with the array (unterminated, text after it); elements before the problem were passed on.
/// Elements are found by a scan that skips strings and nested brackets; each is decoded later.
template <class Element>
const char* for_each_json_record(char* begin, char* end, Element&& element) noexcept {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  char* p = begin;
  while (p < end && space(*p)) ++p;
  if (p == end || *p != '[') {
    element(begin, end);
    return nullptr;
  }
  ++p;
  char* first = p;
  std::size_t depth = 0;
  bool in_string = false;
  for (; p < end; ++p) {
    const char c = *p;
    if (in_string) {
      if (c == '\\' && p + 1 < end) ++p;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    } else if (depth == 0 && (c == ',' || c == ']')) {
      element(first, p);
      if (c == ']') {
        for (++p; p < end; ++p)
          if (!space(*p)) return "text after the JSON array";
        return nullptr;
      }
      first = p + 1;
    }
  }
  return "unterminated JSON array";
}

/// Reports a problem with `key` of a source's block at that key's file:line:column (the block's
/// own position when the key is absent). Setup only.
void report_source_key(const runtime::SourceSetup& setup, std::string_view key, std::string_view message);

/// The decoder a line-oriented source (serial lines, MQTT payloads) needs: time and fields from
/// the source's mapping, `key_field` as the key column (empty: none), `columns` from its block
/// (csv only). Problems are reported into setup.diag and give nullopt. Setup only.
std::optional<LineDecoder> make_source_decoder(const runtime::SourceSetup& setup, LineFormat format,
                                               std::string key_field);

/// Turns the record `decoder` just decoded into events for a source's batch: interns the field
/// names it discovered since the last call into `field_ids` (parallel to the decoder's fields;
/// reserved for LineDecoder::kMaxDiscoveredFields more at setup), then writes one sample per
/// present value to `out` (kRecordBegin on the first). `out` must have room for the record's
/// present values. Returns how many events it wrote (0: nothing to send). Works with any decoder
/// that lists its fields as LineDecoder does (field_count, field_name, has_value, value).
template <class Decoder>
std::size_t append_decoded_record(const Decoder& decoder, runtime::FieldTable& fields,
                                  std::vector<runtime::FieldId>& field_ids, runtime::KeyId key, runtime::Nanos time,
                                  runtime::SourceIndex source, runtime::Event* out) noexcept {
  // Names discovered in the data are interned once, on first sight.
  while (field_ids.size() < decoder.field_count()) field_ids.push_back(fields.intern(decoder.field_name(field_ids.size())));
  std::size_t n = 0;
  for (std::size_t i = 0; i < decoder.field_count(); ++i) {
    if (!decoder.has_value(i) || field_ids[i] == runtime::kNoField) continue;
    runtime::Event& e = out[n];
    e = runtime::Event{};
    e.time = time;
    e.value = decoder.value(i);
    e.key = key;
    e.field = field_ids[i];
    e.source = source;
    e.kind = runtime::EventKind::sample;
    e.flags = n == 0 ? runtime::kRecordBegin : 0;
    ++n;
  }
  return n;
}

}  // namespace vigil::sensors
