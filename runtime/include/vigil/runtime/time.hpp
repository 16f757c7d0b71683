#pragma once
// Time inside Vigil is int64 nanoseconds. Clocks are injectable so tests and replay are deterministic.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

#include "vigil/runtime/result.hpp"

namespace vigil::runtime {

using Nanos = std::int64_t;

inline constexpr Nanos kNanosPerMicro = 1'000;
inline constexpr Nanos kNanosPerMilli = 1'000'000;
inline constexpr Nanos kNanosPerSecond = 1'000'000'000;
inline constexpr Nanos kMinTime = INT64_MIN / 2;  // "before anything"; halved so sums never overflow
inline constexpr Nanos kMaxTime = INT64_MAX / 2;

/// A source of "now". Implementations must be safe to call from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Nanos now() const noexcept = 0;
};

/// Nanoseconds since the Unix epoch (CLOCK_REALTIME); may step when NTP corrects it.
class WallClock final : public Clock {
 public:
  Nanos now() const noexcept override;
};

/// CLOCK_MONOTONIC: never steps; used for timeouts, idle detection and ages.
class MonotonicClock final : public Clock {
 public:
  Nanos now() const noexcept override;
};

/// A clock that moves only when told to (replay and tests). advance_to never moves it back.
class VirtualClock final : public Clock {
 public:
  explicit VirtualClock(Nanos start = 0) : now_(start) {}
  Nanos now() const noexcept override { return now_.load(std::memory_order_acquire); }
  void advance_to(Nanos t) noexcept;
  void set(Nanos t) noexcept { now_.store(t, std::memory_order_release); }

 private:
  std::atomic<Nanos> now_;
};

/// Parses "10s", "500ms", "2m", "1h", "250us", "100ns", "1d", "1.5s". A bare "0" is allowed.
Result<Nanos> parse_duration(std::string_view text);

/// Parses a byte size: "64KiB", "16MiB", "1GiB", "4096", "10MB", "512B".
Result<std::int64_t> parse_size(std::string_view text);

/// Parses an RFC 3339 timestamp ("2024-03-01T12:00:00.5Z", "+01:00" offsets) to epoch ns.
Result<Nanos> parse_rfc3339(std::string_view text);
/// The same without an error message: nullopt when `text` is not RFC 3339. Allocation-free.
std::optional<Nanos> rfc3339_to_nanos(std::string_view text) noexcept;

/// Formats a duration the way users write it ("10s", "1500ms").
std::string format_duration(Nanos d);

}  // namespace vigil::runtime
