#include <charconv>
#include <cmath>
#include <optional>

#include "vigil/runtime/plugin.hpp"

namespace vigil::runtime {

namespace {
std::optional<double> parse_real_text(std::string_view text) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

template <class T>
const T* find_named(const std::vector<T>& list, std::string_view name) {
  for (const auto& p : list)
    if (p.name == name) return &p;
  return nullptr;
}
template <class T>
std::string names_of(const std::vector<T>& list) {
  std::string out;
  for (const auto& p : list) out += (out.empty() ? "" : ", ") + std::string(p.name);
  return out;
}
}  // namespace

const SourcePlugin* Registry::source(std::string_view name) const noexcept { return find_named(sources_, name); }
const WindowPlugin* Registry::window(std::string_view name) const noexcept { return find_named(windows_, name); }
const OutputPlugin* Registry::output(std::string_view name) const noexcept { return find_named(outputs_, name); }
std::string Registry::source_names() const { return names_of(sources_); }
std::string Registry::window_names() const { return names_of(windows_); }
std::string Registry::output_names() const { return names_of(outputs_); }
const ModelPlugin* Registry::model(std::string_view name) const noexcept { return find_named(models_, name); }
std::string Registry::model_names() const { return names_of(models_); }

Result<TimeUnit> parse_time_unit(std::string_view text) {
  if (text == "s") return TimeUnit::s;
  if (text == "ms") return TimeUnit::ms;
  if (text == "us") return TimeUnit::us;
  if (text == "ns") return TimeUnit::ns;
  if (text == "rfc3339") return TimeUnit::rfc3339;
  return Error{"\"" + std::string(text) + "\" is not a time unit; use s, ms, us, ns or rfc3339"};
}

Nanos to_nanos(double value, TimeUnit unit) noexcept {
  double scale = 1;
  switch (unit) {
    case TimeUnit::s: scale = 1e9; break;
    case TimeUnit::ms: scale = 1e6; break;
    case TimeUnit::us: scale = 1e3; break;
    case TimeUnit::ns:
    case TimeUnit::rfc3339: scale = 1; break;
  }
  double ns = value * scale;
  if (!(ns > -4.6e18 && ns < 4.6e18)) return ns > 0 ? kMaxTime : kMinTime;
  return static_cast<Nanos>(std::llround(ns));
}

bool parse_number(std::string_view text, double& out) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (!text.empty() && text.front() == '+') {
    text.remove_prefix(1);
    if (!text.empty() && text.front() == '-') return false;
  }
  if (text.empty()) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size() && std::isfinite(out);
}

const char* to_string(CheckpointKind kind) noexcept {
  return kind == CheckpointKind::shutdown ? "shutdown" : "periodic";
}

std::string_view to_string(TimeUnit unit) noexcept {
  switch (unit) {
    case TimeUnit::s: return "s";
    case TimeUnit::ms: return "ms";
    case TimeUnit::us: return "us";
    case TimeUnit::ns: return "ns";
    case TimeUnit::rfc3339: return "rfc3339";
  }
  return "?";
}

std::optional<Nanos> parse_time_value(std::string_view text, TimeUnit unit) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (unit == TimeUnit::rfc3339) return rfc3339_to_nanos(text);
  Nanos scale = 1;
  switch (unit) {
    case TimeUnit::s: scale = kNanosPerSecond; break;
    case TimeUnit::ms: scale = kNanosPerMilli; break;
    case TimeUnit::us: scale = kNanosPerMicro; break;
    default: break;
  }
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
  Nanos whole = 0;
  std::size_t digits = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) {
    if (whole > kMaxTime / 10) return std::nullopt;
    whole = whole * 10 + (text[i] - '0');
  }
  Nanos fraction = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    for (Nanos place = scale / 10; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) {
      fraction += (text[i] - '0') * place;
      place /= 10;
    }
  }
  if (digits == 0) return std::nullopt;
  if (i != text.size()) {
    if (text[i] != 'e' && text[i] != 'E') return std::nullopt;
    // from_chars takes no leading '+', which the digit path above accepts.
    auto value = parse_real_text(text.front() == '+' ? text.substr(1) : text);
    if (!value || !(std::abs(*value * static_cast<double>(scale)) < static_cast<double>(kMaxTime)))
      return std::nullopt;
    return to_nanos(*value, unit);
  }
  if (whole > (kMaxTime - fraction) / scale) return std::nullopt;
  const Nanos ns = whole * scale + fraction;
  return negative ? -ns : ns;
}

}  // namespace vigil::runtime
