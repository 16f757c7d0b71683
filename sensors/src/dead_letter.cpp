#include "dead_letter.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include <sys/stat.h>

namespace vigil::sensors {
namespace {

constexpr std::size_t kMaxPayloadCap = 64 * 1024;
// Room for every field but the payload: time, names, braces, and source, topic and reason (each
// cut to 512 bytes, escaped at most 6 bytes per byte).
constexpr std::size_t kLetterOverhead = 10 * 1024;

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not one (overlong forms,
// surrogates and code points past U+10FFFF included).
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return n;
}

bool printable_text(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
    if (c == 0x7F) return false;
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace

DeadLetterFile::DeadLetterFile(std::string path, std::int64_t max_bytes)
    : path_(std::move(path)),
      rotated_path_(path_ + ".1"),
      max_bytes_(max_bytes),
      max_payload_(std::min<std::size_t>(kMaxPayloadCap, static_cast<std::size_t>(max_bytes / 4))) {
  // Escaped text takes at most 6 bytes per byte of input (\u00XX), base64 4 per 3.
  line_.reserve(kLetterOverhead + 6 * max_payload_);
}

DeadLetterFile::~DeadLetterFile() {
  if (file_ != nullptr) std::fclose(file_);
}

runtime::Result<std::unique_ptr<DeadLetterFile>> DeadLetterFile::open(std::string path, std::int64_t max_bytes) {
  if (path.empty()) return runtime::Error{"the dead-letter path is empty"};
  if (max_bytes < kMinBytes) max_bytes = kMinBytes;
  std::unique_ptr<DeadLetterFile> d(new DeadLetterFile(std::move(path), max_bytes));
  d->file_ = std::fopen(d->path_.c_str(), "ab");
  if (d->file_ == nullptr)
    return runtime::Error{"cannot open the dead-letter file " + d->path_ + ": " + std::strerror(errno)};
  struct stat st {};
  if (::fstat(::fileno(d->file_), &st) == 0) d->size_ = st.st_size;
  return d;
}

void DeadLetterFile::append_text(std::string_view text) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': line_ += "\\\""; break;
      case '\\': line_ += "\\\\"; break;
      case '\n': line_ += "\\n"; break;
      case '\r': line_ += "\\r"; break;
      case '\t': line_ += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          line_ += "\\u00";
          line_ += kHex[c >> 4];
          line_ += kHex[c & 15];
        } else {
          line_ += ch;
        }
    }
  }
}

bool DeadLetterFile::rotate() noexcept {
  std::fclose(file_);
  file_ = nullptr;
  if (std::rename(path_.c_str(), rotated_path_.c_str()) != 0 && errno != ENOENT) {
    file_ = std::fopen(path_.c_str(), "ab");
    return false;
  }
  file_ = std::fopen(path_.c_str(), "wb");
  size_ = 0;
  return file_ != nullptr;
}

bool DeadLetterFile::write(runtime::Nanos time, std::string_view source, std::string_view topic,
                           std::string_view reason, std::span<const std::uint8_t> payload) noexcept {
  if (file_ == nullptr && !rotate()) return false;
  const std::size_t kept_size = std::min(payload.size(), max_payload_);
  const std::string_view kept(reinterpret_cast<const char*>(payload.data()), kept_size);
  // Text fields are cut too, so the line always fits the reserved capacity.
  const auto cut = [](std::string_view s) { return s.substr(0, 512); };

  line_.clear();
  char head[96];
  const std::time_t seconds = static_cast<std::time_t>(time / runtime::kNanosPerSecond);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  const int millis = static_cast<int>((time % runtime::kNanosPerSecond + runtime::kNanosPerSecond) %
                                      runtime::kNanosPerSecond / runtime::kNanosPerMilli);
  std::snprintf(head, sizeof head, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"source\":\"",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  line_ += head;
  append_text(cut(source));
  line_ += "\",\"topic\":\"";
  append_text(cut(topic));
  line_ += "\",\"reason\":\"";
  append_text(cut(reason));
  std::snprintf(head, sizeof head, "\",\"size\":%zu,", payload.size());
  line_ += head;
  if (printable_text(kept)) {
    line_ += "\"payload\":\"";
    append_text(kept);
  } else {
    static constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    line_ += "\"payload_base64\":\"";
    const auto* p = payload.data();
    for (std::size_t i = 0; i < kept_size; i += 3) {
      const std::uint32_t n = (std::uint32_t{p[i]} << 16) | (i + 1 < kept_size ? std::uint32_t{p[i + 1]} << 8 : 0) |
                              (i + 2 < kept_size ? std::uint32_t{p[i + 2]} : 0);
      line_ += kBase64[(n >> 18) & 63];
      line_ += kBase64[(n >> 12) & 63];
      line_ += i + 1 < kept_size ? kBase64[(n >> 6) & 63] : '=';
      line_ += i + 2 < kept_size ? kBase64[n & 63] : '=';
    }
  }
  line_ += kept_size < payload.size() ? "\",\"truncated\":true}\n" : "\"}\n";

  if (size_ > 0 && size_ + static_cast<std::int64_t>(line_.size()) > max_bytes_ && !rotate()) return false;
  const std::size_t n = std::fwrite(line_.data(), 1, line_.size(), file_);
  size_ += static_cast<std::int64_t>(n);
  return n == line_.size() && std::fflush(file_) == 0;
}

std::string config_relative_path(const std::string& dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || dir.empty()) return path;
  return dir + "/" + path;
}

}  // namespace vigil::sensors
