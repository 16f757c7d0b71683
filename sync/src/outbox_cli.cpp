#include "vigil/sync/outbox_cli.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string_view>
#include <utility>

#include "vigil/runtime/summary.hpp"
#include "vigil/sync/outbox.hpp"

namespace vigil::sync {
namespace {

constexpr const char* kUsage =
    "usage: vigil outbox DB stats [--json]   counts, seq range, age of the oldest row\n"
    "       vigil outbox DB tail [N]         the last N rows (default 10), oldest first, as JSON lines\n"
    "       vigil outbox DB export [--json]  every row as one JSON line, oldest first\n";

int usage_error(std::FILE* err, const std::string& message) {
  std::fprintf(err, "vigil outbox: %s\n%s", message.c_str(), kUsage);
  return 2;
}

// Structural check of a stored JSON payload, so that `tail`/`export` only inline what keeps
// each output line valid JSON; anything else (damaged rows) is shown as base64 instead.
class JsonCheck {
 public:
  explicit JsonCheck(std::string_view text) : s_(text) {}
  bool valid() {
    skip_space();
    if (!value(0)) return false;
    skip_space();
    return i_ == s_.size();
  }

 private:
  static constexpr int kMaxDepth = 64;

  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }
  bool digits() {
    std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }
  bool number() {
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (!digits()) return false;
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digits()) return false;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) return false;
    }
    return true;
  }
  bool string() {
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    for (++i_; i_ < s_.size(); ++i_) {
      auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        if (++i_ >= s_.size()) return false;
        if (s_[i_] == 'u') {
          for (int k = 0; k < 4; ++k)
            if (++i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_]))) return false;
        } else if (!std::strchr("\"\\/bfnrt", s_[i_])) {
          return false;
        }
      }
    }
    return false;
  }
  bool value(int depth) {
    if (depth > kMaxDepth || i_ >= s_.size()) return false;
    char c = s_[i_];
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++i_;
      skip_space();
      if (i_ < s_.size() && s_[i_] == close) {
        ++i_;
        return true;
      }
      while (true) {
        skip_space();
        if (c == '{') {
          if (!string()) return false;
          skip_space();
          if (i_ >= s_.size() || s_[i_++] != ':') return false;
          skip_space();
        }
        if (!value(depth + 1)) return false;
        skip_space();
        if (i_ >= s_.size()) return false;
        if (s_[i_] == close) {
          ++i_;
          return true;
        }
        if (s_[i_++] != ',') return false;
      }
    }
    if (c == '"') return string();
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    return number();
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

void append_base64(std::string_view bytes, std::string& out) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(v >> shift) & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 0) return;
  std::uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
  out += kAlphabet[(v >> 18) & 63];
  out += kAlphabet[(v >> 12) & 63];
  out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
  out += '=';
}

void append_int(std::int64_t value, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}

// One row as one JSON line (with the newline).
void append_record(const OutboxRecord& r, std::string& out) {
  out += "{\"seq\":";
  append_int(r.seq, out);
  out += ",\"topic\":";
  runtime::append_json_string(r.topic, out);
  out += ",\"pipeline\":";
  runtime::append_json_string(r.pipeline, out);
  out += ",\"key\":";
  runtime::append_json_string(r.key, out);
  out += ",\"start\":";
  append_int(r.start_ms, out);
  out += ",\"end\":";
  append_int(r.end_ms, out);
  out += ",\"priority\":";
  append_int(r.priority, out);
  out += ",\"flags\":";
  append_int(r.flags, out);
  out += ",\"created_ns\":";
  append_int(r.created_ns, out);
  out += ",\"format\":";
  runtime::append_json_string(r.format, out);
  out += ",\"payload\":";
  if ((r.format == "json" || r.format == kGapFormat) && JsonCheck(r.payload).valid()) {
    out += r.payload;
  } else {
    out += '"';
    append_base64(r.payload, out);
    out += '"';
  }
  out += "}\n";
}

// "2023-11-14T22:13:20.123Z" from ns since the epoch.
std::string rfc3339_ms(std::int64_t ns) {
  std::int64_t secs = ns / 1'000'000'000;
  std::int64_t rem = ns % 1'000'000'000;
  if (rem < 0) {
    rem += 1'000'000'000;
    --secs;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(rem / 1'000'000));
  return buf;
}

// "2d3h4m5s", leading zero units left out; "0s" for no time.
std::string age_text(std::int64_t seconds) {
  if (seconds <= 0) return "0s";
  std::string out;
  const std::pair<std::int64_t, char> units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  for (auto [size, unit] : units) {
    if (seconds >= size || (!out.empty())) {
      out += std::to_string(seconds / size);
      out += unit;
      seconds %= size;
    }
  }
  return out;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool write_all(std::FILE* out, const std::string& text) {
  return std::fwrite(text.data(), 1, text.size(), out) == text.size();
}

int finish(std::FILE* out, std::FILE* err, const std::string& path) {
  if (std::fflush(out) != 0 || std::ferror(out)) {
    std::fprintf(err, "vigil: outbox %s: cannot write the output: %s\n", path.c_str(), std::strerror(errno));
    return 1;
  }
  return 0;
}

int command_stats(const Outbox& outbox, bool json, std::FILE* out, std::FILE* err) {
  auto stats = outbox.stats();
  if (!stats) {
    std::fprintf(err, "vigil: %s\n", stats.error().message.c_str());
    return 1;
  }
  const OutboxStats& s = *stats;
  bool empty = s.rows == 0;
  std::int64_t age_s = empty ? 0 : std::max<std::int64_t>(0, (now_ns() - s.oldest_created_ns) / 1'000'000'000);
  std::string text;
  if (json) {
    auto member = [&](const char* name) {
      text += text.empty() ? "{\"" : ",\"";
      text += name;
      text += "\":";
    };
    auto integer_or_null = [&](std::int64_t value) {
      if (empty) text += "null";
      else append_int(value, text);
    };
    member("path");
    runtime::append_json_string(outbox.path(), text);
    member("schema_version");
    append_int(s.schema_version, text);
    member("gateway");
    runtime::append_json_string(s.gateway, text);
    member("epoch");
    runtime::append_json_string(s.epoch, text);
    member("created");
    runtime::append_json_string(s.created, text);
    member("rows");
    append_int(static_cast<std::int64_t>(s.rows), text);
    member("payload_bytes");
    append_int(static_cast<std::int64_t>(s.bytes), text);
    member("oldest_created");
    if (empty) text += "null";
    else runtime::append_json_string(rfc3339_ms(s.oldest_created_ns), text);
    member("oldest_created_ns");
    integer_or_null(s.oldest_created_ns);
    member("oldest_age_s");
    integer_or_null(age_s);
    member("first_seq");
    integer_or_null(s.first_seq);
    member("last_seq");
    integer_or_null(s.last_seq);
    member("next_seq");
    append_int(s.next_seq, text);
    member("used_bytes");
    append_int(static_cast<std::int64_t>(s.used_bytes), text);
    member("evicted_rows");
    append_int(static_cast<std::int64_t>(s.evicted.rows), text);
    member("evicted_bytes");
    append_int(static_cast<std::int64_t>(s.evicted.bytes), text);
    member("gap_records");
    append_int(static_cast<std::int64_t>(s.evicted.gap_records), text);
    member("checkpoint");
    if (s.checkpoint_kind.empty()) {
      text += "null";
    } else {
      text += "{\"kind\":";
      runtime::append_json_string(s.checkpoint_kind, text);
      text += ",\"saved\":";
      runtime::append_json_string(rfc3339_ms(s.checkpoint_saved_ns), text);
      text += ",\"pipelines\":";
      append_int(static_cast<std::int64_t>(s.checkpoint_pipelines), text);
      text += ",\"bytes\":";
      append_int(static_cast<std::int64_t>(s.checkpoint_bytes), text);
      text += "}";
    }
    text += "}\n";
  } else {
    const std::pair<const char*, std::string> lines[] = {
        {"path", outbox.path()},
        {"schema version", std::to_string(s.schema_version)},
        {"gateway", s.gateway},
        {"epoch", s.epoch},
        {"created", s.created},
        {"rows", std::to_string(s.rows)},
        {"payload bytes", std::to_string(s.bytes)},
        {"oldest created", empty ? "-" : rfc3339_ms(s.oldest_created_ns)},
        {"oldest age", empty ? "-" : age_text(age_s)},
        {"seq range", empty ? "-" : std::to_string(s.first_seq) + ".." + std::to_string(s.last_seq)},
        {"next seq", std::to_string(s.next_seq)},
        {"used bytes", std::to_string(s.used_bytes)},
        {"evicted", std::to_string(s.evicted.rows) + " rows, " + std::to_string(s.evicted.bytes) +
                        " payload bytes, in " + std::to_string(s.evicted.gap_records) + " gap records"},
        {"checkpoint", s.checkpoint_kind.empty()
                           ? std::string("-")
                           : s.checkpoint_kind + " at " + rfc3339_ms(s.checkpoint_saved_ns) + ", " +
                                 std::to_string(s.checkpoint_pipelines) + " pipelines, " +
                                 std::to_string(s.checkpoint_bytes) + " bytes"},
    };
    constexpr int kWidth = 16;  // longest name plus ": "
    for (const auto& [name, value] : lines) {
      std::string label = std::string(name) + ":";
      label.resize(kWidth, ' ');
      text += label + value + "\n";
    }
  }
  write_all(out, text);
  return finish(out, err, outbox.path());
}

// Streams at most `limit` rows from `from_seq` on as JSON lines, one cursor, one reused line
// buffer.
int write_rows(const Outbox& outbox, std::int64_t from_seq, std::uint64_t limit, std::FILE* out,
               std::FILE* err) {
  std::string line;
  std::uint64_t written = 0;
  auto visited = outbox.for_each(from_seq, [&](const OutboxRecord& r) {
    line.clear();
    append_record(r, line);
    // A closed pipe ends the walk instead of reading the rest of the table.
    return write_all(out, line) && ++written < limit;
  });
  if (!visited) {
    std::fprintf(err, "vigil: %s\n", visited.error().message.c_str());
    return 1;
  }
  return finish(out, err, outbox.path());
}

int command_tail(const Outbox& outbox, std::uint64_t n, std::FILE* out, std::FILE* err) {
  if (n == 0) return finish(out, err, outbox.path());
  // Where the last n rows start; then they are streamed like export, never held in memory.
  auto from_seq = outbox.tail_start(n);
  if (!from_seq) {
    std::fprintf(err, "vigil: %s\n", from_seq.error().message.c_str());
    return 1;
  }
  // The limit holds tail to n rows should a running writer append some meanwhile.
  return write_rows(outbox, *from_seq, n, out, err);
}

}  // namespace

int outbox_command(std::span<const std::string> args, std::FILE* out, std::FILE* err) {
  if (args.empty()) return usage_error(err, "missing DB (the outbox database file)");
  const std::string& path = args[0];
  if (path.starts_with("-")) return usage_error(err, "unknown option " + path);
  if (args.size() < 2) return usage_error(err, "missing subcommand: stats, tail or export");
  const std::string& sub = args[1];
  std::span<const std::string> rest = args.subspan(2);

  bool json = false;
  std::uint64_t tail_n = 10;
  bool have_n = false;
  if (sub != "stats" && sub != "tail" && sub != "export")
    return usage_error(err, "unknown subcommand \"" + sub + "\"; use stats, tail or export");
  for (const std::string& arg : rest) {
    if (arg == "--json") {
      if (sub == "tail") return usage_error(err, "tail always prints JSON lines; it takes no --json");
      json = true;
    } else if (sub == "tail" && !have_n && !arg.starts_with("-")) {
      auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), tail_n);
      if (ec != std::errc() || end != arg.data() + arg.size())
        return usage_error(err, "tail N: \"" + arg + "\" is not a whole number; use e.g. tail 20");
      have_n = true;
    } else if (arg.starts_with("-")) {
      return usage_error(err, "unknown option " + arg + " for " + sub);
    } else {
      return usage_error(err, "unexpected argument " + arg + " for " + sub);
    }
  }

  OutboxOptions options;
  options.read_only = true;
  auto opened = Outbox::open(path, options);
  if (!opened) {
    std::fprintf(err, "vigil: %s\n", opened.error().message.c_str());
    return 1;
  }
  const Outbox& outbox = **opened;
  if (sub == "stats") return command_stats(outbox, json, out, err);
  if (sub == "tail") return command_tail(outbox, tail_n, out, err);
  // export: JSON lines are the only form so far; --json names it explicitly.
  return write_rows(outbox, 0, UINT64_MAX, out, err);
}

}  // namespace vigil::sync
