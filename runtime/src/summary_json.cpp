#include <charconv>
#include <cmath>

#include "vigil/runtime/summary.hpp"

namespace vigil::runtime {

void append_json_string(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void append_json_number(double value, std::string& out) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  if (value == 0) value = 0;  // -0 prints as 0
  // Whole numbers below 1e21 print as plain digits (100000, not 1e+05), as JavaScript does;
  // everything else in the shortest form that reads back to the same double.
  char buf[40];
  const bool plain = std::trunc(value) == value && std::fabs(value) < 1e21;
  auto [ptr, ec] = plain ? std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed)
                         : std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, ec == std::errc() ? static_cast<std::size_t>(ptr - buf) : 0);
}

namespace {
void append_int(std::int64_t v, std::string& out) {
  char buf[24];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, static_cast<std::size_t>(ptr - buf));
}

// Floor division so windows before 1970 still print the ms that contains them.
std::int64_t to_ms(Nanos t) {
  std::int64_t q = t / kNanosPerMilli;
  if (t % kNanosPerMilli < 0) --q;
  return q;
}
}  // namespace

void append_json(const Summary& s, std::string& out) {
  out += "{\"pipeline\":";
  append_json_string(s.schema ? std::string_view(s.schema->pipeline) : std::string_view(), out);
  out += ",\"key\":";
  append_json_string(s.key_name, out);
  out += ",\"start\":";
  append_int(to_ms(s.start), out);
  out += ",\"end\":";
  append_int(to_ms(s.end), out);
  out += ",\"count\":";
  append_int(static_cast<std::int64_t>(s.count), out);
  if (s.schema) {
    for (std::size_t i = 0; i < s.schema->columns.size() && i < s.values.size(); ++i) {
      out += ',';
      append_json_string(s.schema->columns[i], out);
      out += ':';
      append_json_number(s.values[i], out);
    }
  }
  if (s.flags & kPartial) out += ",\"partial\":true";
  if (s.flags & kLate) out += ",\"late\":true";
  if (s.flags & kResent) out += ",\"resent\":true";
  out += '}';
}

}  // namespace vigil::runtime
