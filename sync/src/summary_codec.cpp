#include "vigil/sync/summary_codec.hpp"

#include <flatbuffers/flatbuffers.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "summary_generated.h"

namespace vigil::sync {
namespace {

// ms since the epoch, floored like the JSON form's start/end.
std::int64_t floor_ms(runtime::Nanos t) noexcept {
  std::int64_t q = t / runtime::kNanosPerMilli;
  if (t % runtime::kNanosPerMilli < 0) --q;
  return q;
}

flatbuffers::Offset<flatbuffers::String> create_string(flatbuffers::FlatBufferBuilder& b,
                                                       std::string_view text) {
  return b.CreateString(text.data(), text.size());
}

}  // namespace

struct FlatSummaryEncoder::Impl {
  explicit Impl(std::size_t initial_bytes) : builder(initial_bytes) {
    // Every field is written, also when it equals its schema default: a reader built from a
    // later schema must never mistake a missing `version` for its own default.
    builder.ForceDefaults(true);
  }
  flatbuffers::FlatBufferBuilder builder;
  // Offsets of the column names of the summary being encoded; keeps its capacity.
  std::vector<flatbuffers::Offset<flatbuffers::String>> names;
};

FlatSummaryEncoder::FlatSummaryEncoder(std::size_t initial_bytes)
    : impl_(std::make_unique<Impl>(initial_bytes)) {}
FlatSummaryEncoder::~FlatSummaryEncoder() = default;

std::span<const std::uint8_t> FlatSummaryEncoder::encode(const runtime::Summary& summary,
                                                         std::string_view gateway,
                                                         std::string_view epoch, std::int64_t seq) {
  auto& b = impl_->builder;
  // Clear() keeps the buffer it has grown to, so the steady state allocates nothing. Names are
  // written as plain strings: CreateSharedString's pool is freed by Clear() and rebuilt per
  // summary, which would allocate every time.
  b.Clear();
  impl_->names.clear();
  if (summary.schema != nullptr) {
    for (const std::string& column : summary.schema->columns)
      impl_->names.push_back(create_string(b, column));
  }
  auto names = b.CreateVector(impl_->names.data(), impl_->names.size());
  auto values = b.CreateVector(summary.values.data(), summary.values.size());
  auto gateway_offset = create_string(b, gateway);
  auto epoch_offset = create_string(b, epoch);
  auto pipeline = create_string(b, summary.schema != nullptr ? std::string_view(summary.schema->pipeline)
                                                             : std::string_view());
  auto key = create_string(b, summary.key_name);

  fb::SummaryBuilder table(b);
  table.add_seq(seq);
  table.add_start_ms(floor_ms(summary.start));
  table.add_end_ms(floor_ms(summary.end));
  table.add_count(summary.count);
  table.add_gateway(gateway_offset);
  table.add_epoch(epoch_offset);
  table.add_pipeline(pipeline);
  table.add_key(key);
  table.add_names(names);
  table.add_values(values);
  table.add_version(kFlatSummaryVersion);
  table.add_flags(summary.flags);
  b.Finish(table.Finish(), fb::SummaryIdentifier());
  return {b.GetBufferPointer(), b.GetSize()};
}

std::span<const std::uint8_t> FlatSummaryEncoder::encode(const DecodedSummary& summary) {
  auto& b = impl_->builder;
  b.Clear();
  impl_->names.clear();
  for (const std::string& column : summary.names) impl_->names.push_back(create_string(b, column));
  auto names = b.CreateVector(impl_->names.data(), impl_->names.size());
  auto values = b.CreateVector(summary.values.data(), summary.values.size());
  auto gateway = create_string(b, summary.gateway);
  auto epoch = create_string(b, summary.epoch);
  auto pipeline = create_string(b, summary.pipeline);
  auto key = create_string(b, summary.key);

  fb::SummaryBuilder table(b);
  table.add_seq(summary.seq);
  table.add_start_ms(summary.start_ms);
  table.add_end_ms(summary.end_ms);
  table.add_count(summary.count);
  table.add_gateway(gateway);
  table.add_epoch(epoch);
  table.add_pipeline(pipeline);
  table.add_key(key);
  table.add_names(names);
  table.add_values(values);
  table.add_version(kFlatSummaryVersion);
  table.add_flags(summary.flags);
  b.Finish(table.Finish(), fb::SummaryIdentifier());
  return {b.GetBufferPointer(), b.GetSize()};
}

runtime::Result<DecodedSummary> decode_flat_summary(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 8)
    return runtime::Error{"summary buffer of " + std::to_string(bytes.size()) +
                          " bytes is too short for a FlatBuffers Summary"};
  if (!fb::SummaryBufferHasIdentifier(bytes.data()))
    return runtime::Error{"not a Vigil FlatBuffers Summary (file identifier is not \"VGS1\")"};
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  if (!fb::VerifySummaryBuffer(verifier))
    return runtime::Error{"damaged FlatBuffers Summary (" + std::to_string(bytes.size()) +
                          " bytes): it fails verification (truncated or corrupt)"};
  const fb::Summary* s = fb::GetSummary(bytes.data());
  DecodedSummary d;
  auto text = [](const flatbuffers::String* str) { return str ? str->str() : std::string(); };
  d.version = s->version();
  d.gateway = text(s->gateway());
  d.epoch = text(s->epoch());
  d.seq = s->seq();
  d.pipeline = text(s->pipeline());
  d.key = text(s->key());
  d.start_ms = s->start_ms();
  d.end_ms = s->end_ms();
  d.count = s->count();
  d.flags = s->flags();
  if (const auto* names = s->names()) {
    d.names.reserve(names->size());
    for (const flatbuffers::String* name : *names) d.names.push_back(text(name));
  }
  if (const auto* values = s->values()) {
    // The verifier checks the vector's 4-byte length only; the doubles themselves may sit at an
    // address that is not 8-byte aligned in a hostile buffer, so copy bytes, never load doubles.
    d.values.resize(values->size());
    if (!d.values.empty())
      std::memcpy(d.values.data(), values->Data(), d.values.size() * sizeof(double));
  }
  if (d.names.size() != d.values.size())
    return runtime::Error{"damaged FlatBuffers Summary: " + std::to_string(d.names.size()) + " names but " +
                          std::to_string(d.values.size()) + " values"};
  return d;
}

}  // namespace vigil::sync

namespace vigil::sync {
namespace {

/// A cursor over one JSON summary object. Only what the summary form uses: one flat object
/// whose values are strings, numbers, true, false or null.
class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : text_(text) {}

  void skip_space() noexcept {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r'))
      ++pos_;
  }
  bool at_end() noexcept {
    skip_space();
    return pos_ >= text_.size();
  }
  bool consume(char c) noexcept {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  char peek() noexcept {
    skip_space();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool literal(std::string_view word) noexcept {
    skip_space();
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  // A string literal into `out` (escapes decoded; \u escapes as UTF-8).
  bool string(std::string& out) {
    out.clear();
    if (!consume('"')) return false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) return false;
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (pos_ + 4 > text_.size()) return false;
          unsigned code = 0;
          auto [ptr, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, code, 16);
          if (ec != std::errc() || ptr != text_.data() + pos_ + 4) return false;
          pos_ += 4;
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xc0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3f));
          } else {
            out += static_cast<char>(0xe0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (code & 0x3f));
          }
          break;
        }
        default: return false;
      }
    }
    return false;
  }

  bool number(double& out) noexcept {
    skip_space();
    const char* begin = text_.data() + pos_;
    const char* end = text_.data() + text_.size();
    auto [ptr, ec] = std::from_chars(begin, end, out);
    if (ec != std::errc() || ptr == begin) return false;
    pos_ += static_cast<std::size_t>(ptr - begin);
    return true;
  }

  bool integer(std::int64_t& out) noexcept {
    skip_space();
    const char* begin = text_.data() + pos_;
    const char* end = text_.data() + text_.size();
    auto [ptr, ec] = std::from_chars(begin, end, out);
    if (ec != std::errc() || ptr == begin) return false;
    if (ptr < end && (*ptr == '.' || *ptr == 'e' || *ptr == 'E')) return false;
    pos_ += static_cast<std::size_t>(ptr - begin);
    return true;
  }

  std::size_t position() const noexcept { return pos_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

runtime::Error json_error(const JsonReader& r, std::string_view what) {
  return runtime::Error{"JSON summary: " + std::string(what) + " at byte " + std::to_string(r.position())};
}

void append_int(std::int64_t v, std::string& out) {
  char buf[24];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, static_cast<std::size_t>(ptr - buf));
}

}  // namespace

runtime::Result<void> decode_json_summary(std::string_view json, DecodedSummary& out) {
  out.version = kFlatSummaryVersion;
  out.gateway.clear();
  out.epoch.clear();
  out.seq = 0;
  out.pipeline.clear();
  out.key.clear();
  out.start_ms = out.end_ms = 0;
  out.count = 0;
  out.flags = 0;
  std::size_t columns = 0;
  JsonReader r(json);
  if (!r.consume('{')) return json_error(r, "expected {");
  bool seen_pipeline = false;
  std::string name;
  if (!r.consume('}')) {
    do {
      if (!r.string(name)) return json_error(r, "expected a member name");
      if (!r.consume(':')) return json_error(r, "expected :");
      if (name == "gateway" || name == "epoch" || name == "pipeline" || name == "key") {
        std::string& target = name == "gateway" ? out.gateway
                              : name == "epoch" ? out.epoch
                              : name == "pipeline" ? out.pipeline
                                                   : out.key;
        if (!r.string(target)) return json_error(r, "\"" + name + "\" must be a string");
        seen_pipeline = seen_pipeline || name == "pipeline";
      } else if (name == "seq" || name == "start" || name == "end" || name == "count") {
        std::int64_t v = 0;
        if (!r.integer(v)) return json_error(r, "\"" + name + "\" must be a whole number");
        if (name == "seq") out.seq = v;
        else if (name == "start") out.start_ms = v;
        else if (name == "end") out.end_ms = v;
        else if (v < 0) return json_error(r, "\"count\" is negative");
        else out.count = static_cast<std::uint64_t>(v);
      } else if (r.peek() == 't' || r.peek() == 'f') {
        const bool value = r.literal("true");
        if (!value && !r.literal("false")) return json_error(r, "expected true or false");
        std::uint8_t flag = name == "partial" ? runtime::kPartial
                            : name == "late"  ? runtime::kLate
                            : name == "resent" ? runtime::kResent
                                               : 0;
        if (flag == 0) return json_error(r, "unknown flag \"" + name + "\"");
        if (value) out.flags |= flag;
      } else {
        double v = std::numeric_limits<double>::quiet_NaN();
        if (!r.literal("null") && !r.number(v))
          return json_error(r, "column \"" + name + "\" must be a number or null");
        if (columns < out.names.size()) out.names[columns] = name;
        else out.names.push_back(name);
        if (columns < out.values.size()) out.values[columns] = v;
        else out.values.push_back(v);
        ++columns;
      }
    } while (r.consume(','));
    if (!r.consume('}')) return json_error(r, "expected , or }");
  }
  if (!r.at_end()) return json_error(r, "text after the object");
  if (!seen_pipeline) return json_error(r, "no \"pipeline\" member");
  out.names.resize(columns);
  out.values.resize(columns);
  return runtime::ok();
}

void append_upstream_json(const DecodedSummary& s, std::string& out) {
  out += "{\"gateway\":";
  runtime::append_json_string(s.gateway, out);
  out += ",\"epoch\":";
  runtime::append_json_string(s.epoch, out);
  out += ",\"seq\":";
  append_int(s.seq, out);
  out += ",\"pipeline\":";
  runtime::append_json_string(s.pipeline, out);
  out += ",\"key\":";
  runtime::append_json_string(s.key, out);
  out += ",\"start\":";
  append_int(s.start_ms, out);
  out += ",\"end\":";
  append_int(s.end_ms, out);
  out += ",\"count\":";
  append_int(static_cast<std::int64_t>(std::min<std::uint64_t>(s.count, INT64_MAX)), out);
  for (std::size_t i = 0; i < s.names.size() && i < s.values.size(); ++i) {
    out += ',';
    runtime::append_json_string(s.names[i], out);
    out += ':';
    runtime::append_json_number(s.values[i], out);
  }
  if (s.flags & runtime::kPartial) out += ",\"partial\":true";
  if (s.flags & runtime::kLate) out += ",\"late\":true";
  if (s.flags & runtime::kResent) out += ",\"resent\":true";
  out += '}';
}

}  // namespace vigil::sync
