#pragma once
// A dead-letter file: malformed inputs kept for later inspection, one JSON line each, with the
// topic (or device) they came from and why they were refused. Bounded on disk by rotation.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "vigil/runtime/result.hpp"
#include "vigil/runtime/time.hpp"

namespace vigil::sensors {

/// Appends malformed inputs to `path` as JSON lines
/// `{"time", "source", "topic", "reason", "size", "payload" | "payload_base64", "truncated"}`.
/// `payload` holds the bytes as text when they are valid UTF-8 without control characters other
/// than tab, CR and LF; otherwise `payload_base64` holds them. At most max_payload() bytes of a
/// payload are kept (`truncated`: true). When the file would grow past `max_bytes` it is renamed
/// to `<path>.1` (replacing the previous one) and a new file begins, so the two never hold more
/// than twice `max_bytes`. write() never allocates and never throws. One thread at a time.
class DeadLetterFile {
 public:
  /// Smallest `max_bytes` accepted; letters are cut to a quarter of `max_bytes`, at most 64 KiB.
  static constexpr std::int64_t kMinBytes = 4096;

  /// Opens `path` for appending (created if missing). The error names the path and the reason.
  static runtime::Result<std::unique_ptr<DeadLetterFile>> open(std::string path, std::int64_t max_bytes);
  ~DeadLetterFile();
  DeadLetterFile(const DeadLetterFile&) = delete;
  DeadLetterFile& operator=(const DeadLetterFile&) = delete;

  /// Appends one letter and flushes it to the file. False when the write or a rotation failed
  /// (the letter is lost; the caller counts and logs).
  bool write(runtime::Nanos time, std::string_view source, std::string_view topic, std::string_view reason,
             std::span<const std::uint8_t> payload) noexcept;

  /// Payload bytes kept per letter.
  std::size_t max_payload() const noexcept { return max_payload_; }
  const std::string& path() const noexcept { return path_; }

 private:
  DeadLetterFile(std::string path, std::int64_t max_bytes);
  bool rotate() noexcept;
  void append_text(std::string_view text) noexcept;

  std::string path_;
  std::string rotated_path_;
  std::FILE* file_ = nullptr;
  std::int64_t size_ = 0;
  std::int64_t max_bytes_ = 0;
  std::size_t max_payload_ = 0;
  std::string line_;  // capacity reserved for the longest possible letter
};

/// `path` as written in a config whose file is in `dir`: a relative path starts at `dir`; an
/// absolute or empty one is returned as it is.
std::string config_relative_path(const std::string& dir, const std::string& path);

}  // namespace vigil::sensors
