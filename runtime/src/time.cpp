#include "vigil/runtime/time.hpp"

#include <charconv>
#include <cmath>
#include <ctime>
#include <string>

namespace vigil::runtime {
namespace {

Nanos read_clock(clockid_t id) noexcept {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<Nanos>(ts.tv_sec) * kNanosPerSecond + ts.tv_nsec;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits "1.5s" into 1.5 and "s". Returns false if there is no leading number.
bool split_number(std::string_view text, double& number, std::string_view& unit) {
  std::size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.' || text[i] == '-' ||
                             text[i] == '+'))
    ++i;
  if (i == 0) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, number);
  if (ec != std::errc() || ptr != text.data() + i) return false;
  unit = trim(text.substr(i));
  return true;
}

}  // namespace

Nanos WallClock::now() const noexcept { return read_clock(CLOCK_REALTIME); }
Nanos MonotonicClock::now() const noexcept { return read_clock(CLOCK_MONOTONIC); }

void VirtualClock::advance_to(Nanos t) noexcept {
  Nanos cur = now_.load(std::memory_order_relaxed);
  while (t > cur && !now_.compare_exchange_weak(cur, t, std::memory_order_acq_rel)) {
  }
}

Result<Nanos> parse_duration(std::string_view text) {
  text = trim(text);
  double number = 0;
  std::string_view unit;
  auto bad = [&] {
    return Error{"\"" + std::string(text) + "\" is not a duration; use a number and a unit: 10s, 500ms, 2m, 1h"};
  };
  if (!split_number(text, number, unit)) return bad();
  if (number < 0) return Error{"\"" + std::string(text) + "\" is negative; durations are 0 or more"};
  double scale = 0;
  if (unit == "ns") scale = 1;
  else if (unit == "us" || unit == "µs") scale = 1e3;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "s") scale = 1e9;
  else if (unit == "m" || unit == "min") scale = 60e9;
  else if (unit == "h") scale = 3600e9;
  else if (unit == "d") scale = 86400e9;
  else if (unit.empty() && number == 0) scale = 1;
  else return bad();
  double ns = number * scale;
  if (!(ns < 9.2e18)) return Error{"\"" + std::string(text) + "\" is too long; at most 100 years"};
  return static_cast<Nanos>(std::llround(ns));
}

Result<std::int64_t> parse_size(std::string_view text) {
  text = trim(text);
  double number = 0;
  std::string_view unit;
  auto bad = [&] {
    return Error{"\"" + std::string(text) + "\" is not a size; use bytes or a unit: 4096, 64KiB, 16MiB, 1GiB"};
  };
  if (!split_number(text, number, unit) || number < 0) return bad();
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "KiB") scale = 1024.0;
  else if (unit == "MiB") scale = 1024.0 * 1024;
  else if (unit == "GiB") scale = 1024.0 * 1024 * 1024;
  else if (unit == "KB" || unit == "kB") scale = 1e3;
  else if (unit == "MB") scale = 1e6;
  else if (unit == "GB") scale = 1e9;
  else return bad();
  double bytes = number * scale;
  if (bytes != std::floor(bytes) || !(bytes < 9.2e18)) return bad();
  return static_cast<std::int64_t>(bytes);
}

Result<Nanos> parse_rfc3339(std::string_view text) {
  if (auto t = rfc3339_to_nanos(text)) return *t;
  return Error{"\"" + std::string(text) + "\" is not an RFC 3339 time; use 2024-03-01T12:00:00Z or 2024-03-01T12:00:00.250+01:00"};
}

std::optional<Nanos> rfc3339_to_nanos(std::string_view text) noexcept {
  auto bad = []() -> std::optional<Nanos> { return std::nullopt; };
  auto digits = [&](std::size_t pos, std::size_t n, int& out) {
    if (pos + n > text.size()) return false;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      v = v * 10 + (text[i] - '0');
    }
    out = v;
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!digits(0, 4, year) || text.size() < 19 || text[4] != '-' || !digits(5, 2, month) || text[7] != '-' ||
      !digits(8, 2, day) || (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !digits(11, 2, hour) ||
      text[13] != ':' || !digits(14, 2, minute) || text[16] != ':' || !digits(17, 2, second))
    return bad();
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return bad();
  // int64 nanoseconds reach from 1677-09-21 to 2262-04-11; refuse whole years outside that.
  if (year < 1678 || year > 2261) return bad();
  // A day its month lacks (2023-02-29, 04-31) would silently roll into the next month.
  static constexpr int kDaysIn[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kDaysIn[month - 1] + (month == 2 && leap ? 1 : 0)) return bad();
  std::size_t pos = 19;
  Nanos frac = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    Nanos scale = 100'000'000;
    std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      frac += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad();
  }
  Nanos offset = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh, om;
    if (!digits(pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' || !digits(pos + 4, 2, om))
      return bad();
    offset = (static_cast<Nanos>(oh) * 3600 + om * 60) * kNanosPerSecond;
    if (text[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return bad();
  }
  if (pos != text.size()) return bad();
  // Days from civil (proleptic Gregorian), after H. Hinnant's public-domain algorithm.
  int y = year - (month <= 2 ? 1 : 0);
  int era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = static_cast<unsigned>(y - era * 400);
  unsigned mp = static_cast<unsigned>(month + (month > 2 ? -3 : 9));
  unsigned doy = (153 * mp + 2) / 5 + static_cast<unsigned>(day) - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  std::int64_t days = static_cast<std::int64_t>(era) * 146097 + static_cast<std::int64_t>(doe) - 719468;
  Nanos secs = days * 86400 + hour * 3600 + minute * 60 + second;
  return secs * kNanosPerSecond + frac - offset;
}

std::string format_duration(Nanos d) {
  struct Unit {
    Nanos ns;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{3600 * kNanosPerSecond, "h"}, {60 * kNanosPerSecond, "m"},
                                    {kNanosPerSecond, "s"},        {kNanosPerMilli, "ms"},
                                    {kNanosPerMicro, "us"},        {1, "ns"}};
  if (d == 0) return "0s";
  for (const auto& u : kUnits)
    if (d % u.ns == 0) return std::to_string(d / u.ns) + u.name;
  return std::to_string(d) + "ns";
}

}  // namespace vigil::runtime
