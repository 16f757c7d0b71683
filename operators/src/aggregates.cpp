#include "vigil/operators/aggregates.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace vigil::operators {
namespace {

struct AggInfo {
  AggKind kind;
  std::string_view name;
  std::uint8_t needs;
};

constexpr AggInfo kAggs[] = {
    {AggKind::count, "count", 0},
    {AggKind::sum, "sum", kNeedSum},
    {AggKind::mean, "mean", kNeedSum},
    {AggKind::min, "min", kNeedMinMax},
    {AggKind::max, "max", kNeedMinMax},
    {AggKind::first, "first", kNeedFirstLast},
    {AggKind::last, "last", kNeedFirstLast},
    {AggKind::stddev, "stddev", kNeedSum | kNeedM2},
    {AggKind::variance, "variance", kNeedSum | kNeedM2},
    {AggKind::stddev_pop, "stddev_pop", kNeedSum | kNeedM2},
    {AggKind::variance_pop, "variance_pop", kNeedSum | kNeedM2},
    {AggKind::rms, "rms", kNeedSumSq},
    {AggKind::peak_to_peak, "peak_to_peak", kNeedMinMax},
    {AggKind::rate, "rate", kNeedFirstLast},
    {AggKind::skewness, "skewness", kNeedSum | kNeedM2 | kNeedM3},
    {AggKind::kurtosis, "kurtosis", kNeedSum | kNeedM2 | kNeedM3 | kNeedM4},
    {AggKind::crest_factor, "crest_factor", kNeedMinMax | kNeedSumSq},
};

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string known_functions() {
  std::string out;
  for (const auto& a : kAggs) out += (out.empty() ? "" : ", ") + std::string(a.name);
  return out + ", median, p50, p90, p95, p99, p999, pNN (quantiles)";
}

constexpr AggInfo kQuantileInfo{AggKind::quantile, "quantile", kNeedSketch};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool valid_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  return true;
}

}  // namespace

std::optional<double> parse_quantile_name(std::string_view name) noexcept {
  if (name.size() < 2 || name[0] != 'p') return std::nullopt;
  std::string_view digits = name.substr(1);
  if (digits.size() > 9) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (digits == "100") return 1.0;
  if (digits.size() <= 2) return static_cast<double>(v) / 100.0;
  if (digits[0] == '0') return std::nullopt;  // p050: write p50 or p5
  return static_cast<double>(v) / std::pow(10.0, static_cast<double>(digits.size()));
}

std::string_view agg_name(AggKind kind) noexcept {
  if (kind == AggKind::quantile) return "quantile";
  for (const auto& a : kAggs)
    if (a.kind == kind) return a.name;
  return "?";
}

std::uint8_t needs_of(AggKind kind) noexcept {
  if (kind == AggKind::quantile) return kNeedSketch;
  for (const auto& a : kAggs)
    if (a.kind == kind) return a.needs;
  return 0;
}

void Moments::add(double x, Nanos t, std::uint8_t needs) noexcept {
  ++n;
  if (needs & kNeedSum) sum += x;
  if (needs & kNeedM2) {
    const double nn = static_cast<double>(n);
    const double delta = x - mean;
    const double delta_n = delta / nn;
    const double term1 = delta * delta_n * (nn - 1);
    if (needs & kNeedM3) {
      const double delta_n2 = delta_n * delta_n;
      if (needs & kNeedM4) m4 += term1 * delta_n2 * (nn * nn - 3 * nn + 3) + 6 * delta_n2 * m2 - 4 * delta_n * m3;
      m3 += term1 * delta_n * (nn - 2) - 3 * delta_n * m2;
    }
    m2 += term1;
    mean += delta_n;
  }
  if (needs & kNeedMinMax) {
    if (n == 1) {
      min = max = x;
    } else {
      min = std::min(min, x);
      max = std::max(max, x);
    }
  }
  if (needs & kNeedFirstLast) {
    if (n == 1 || t < first_t) first_t = t, first_v = x;
    if (n == 1 || t >= last_t) last_t = t, last_v = x;
  }
  if (needs & kNeedSumSq) sumsq += x * x;
}

void Moments::merge(const Moments& o, std::uint8_t needs) noexcept {
  if (o.n == 0) return;
  if (n == 0) {
    *this = o;
    return;
  }
  const double na = static_cast<double>(n), nb = static_cast<double>(o.n), nt = na + nb;
  if (needs & kNeedSum) sum += o.sum;
  if (needs & kNeedM2) {
    const double delta = o.mean - mean;
    const double d2 = delta * delta;
    const double new_m2 = m2 + o.m2 + d2 * na * nb / nt;
    if (needs & kNeedM3) {
      const double new_m3 = m3 + o.m3 + d2 * delta * na * nb * (na - nb) / (nt * nt) +
                            3 * delta * (na * o.m2 - nb * m2) / nt;
      if (needs & kNeedM4)
        m4 = m4 + o.m4 + d2 * d2 * na * nb * (na * na - na * nb + nb * nb) / (nt * nt * nt) +
             6 * d2 * (na * na * o.m2 + nb * nb * m2) / (nt * nt) + 4 * delta * (na * o.m3 - nb * m3) / nt;
      m3 = new_m3;
    }
    m2 = new_m2;
    mean += delta * nb / nt;
  }
  if (needs & kNeedMinMax) {
    min = std::min(min, o.min);
    max = std::max(max, o.max);
  }
  if (needs & kNeedFirstLast) {
    if (o.first_t < first_t) first_t = o.first_t, first_v = o.first_v;
    if (o.last_t >= last_t) last_t = o.last_t, last_v = o.last_v;
  }
  if (needs & kNeedSumSq) sumsq += o.sumsq;
  n += o.n;
}

double finalize(AggKind kind, const Moments& m) noexcept {
  const double n = static_cast<double>(m.n);
  if (m.n == 0) return kind == AggKind::count || kind == AggKind::sum ? 0.0 : kNaN;
  switch (kind) {
    case AggKind::count: return n;
    case AggKind::sum: return m.sum;
    case AggKind::mean: return m.sum / n;
    case AggKind::min: return m.min;
    case AggKind::max: return m.max;
    case AggKind::first: return m.first_v;
    case AggKind::last: return m.last_v;
    case AggKind::variance: return m.n < 2 ? kNaN : std::max(0.0, m.m2 / (n - 1));
    case AggKind::stddev: return m.n < 2 ? kNaN : std::sqrt(std::max(0.0, m.m2 / (n - 1)));
    case AggKind::variance_pop: return std::max(0.0, m.m2 / n);
    case AggKind::stddev_pop: return std::sqrt(std::max(0.0, m.m2 / n));
    case AggKind::rms: return std::sqrt(m.sumsq / n);
    case AggKind::peak_to_peak: return m.max - m.min;
    case AggKind::rate: {
      if (m.last_t == m.first_t) return kNaN;
      return (m.last_v - m.first_v) / (static_cast<double>(m.last_t - m.first_t) / 1e9);
    }
    case AggKind::skewness: return m.m2 <= 0 ? kNaN : std::sqrt(n) * m.m3 / std::pow(m.m2, 1.5);
    case AggKind::kurtosis: return m.m2 <= 0 ? kNaN : n * m.m4 / (m.m2 * m.m2);
    case AggKind::crest_factor: {
      const double rms = std::sqrt(m.sumsq / n);
      return rms <= 0 ? kNaN : std::max(std::fabs(m.min), std::fabs(m.max)) / rms;
    }
    case AggKind::quantile: return kNaN;  // answered from the sketch, not the moments
  }
  return kNaN;
}

std::vector<AggregateSpec> parse_aggregates(const runtime::ConfigNode& list, runtime::FieldTable& fields,
                                            const std::string& path, runtime::Diagnostics& diag) {
  std::vector<AggregateSpec> out;
  std::vector<const runtime::ConfigNode*> columns_at;
  if (!list.is_sequence() || list.items.empty()) {
    diag.error(list.mark, path, "expected a list of aggregates such as [count, mean(temp), max(vib)]");
    return out;
  }
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    const auto& item = list.items[i];
    std::string item_path = path + "[" + std::to_string(i) + "]";
    std::string text, as;
    const runtime::ConfigNode* at = &item;
    if (item.is_scalar()) {
      text = item.scalar;
      auto pos = text.find(" as ");
      if (pos != std::string::npos) {
        as = std::string(trim(std::string_view(text).substr(pos + 4)));
        text = text.substr(0, pos);
      }
    } else if (item.is_map()) {
      const auto* agg = item.find("agg");
      const auto* name = item.find("as");
      bool bad = !agg || !agg->is_scalar() || (name && !name->is_scalar());
      for (const auto& m : item.members)
        if (m.first != "agg" && m.first != "as") bad = true;
      if (bad) {
        diag.error(item.mark, item_path, "expected {agg: max(vib), as: vib_peak}; valid keys: agg, as");
        continue;
      }
      text = agg->scalar;
      at = agg;
      if (name) as = name->scalar;
    } else {
      diag.error(item.mark, item_path, "expected an aggregate such as mean(temp)");
      continue;
    }
    std::string_view t = trim(text);
    std::string_view fn = t, field;
    if (auto open = t.find('('); open != std::string_view::npos) {
      if (t.back() != ')') {
        diag.error(at->mark, item_path, "\"" + text + "\" is missing a closing parenthesis; write mean(temp)");
        continue;
      }
      fn = trim(t.substr(0, open));
      field = trim(t.substr(open + 1, t.size() - open - 2));
      if (!valid_name(field)) {
        diag.error(at->mark, item_path, "\"" + text + "\" needs a field name inside the parentheses, e.g. mean(temp)");
        continue;
      }
    }
    const AggInfo* info = nullptr;
    for (const auto& a : kAggs)
      if (a.name == fn) info = &a;
    const std::optional<double> q = fn == "median" ? std::optional<double>(0.5) : parse_quantile_name(fn);
    if (q) info = &kQuantileInfo;
    if (!info) {
      diag.error(at->mark, item_path,
                 "unknown aggregate \"" + std::string(fn) + "\"; aggregates: " + known_functions());
      continue;
    }
    AggregateSpec spec;
    spec.kind = info->kind;
    if (field.empty()) {
      if (info->kind != AggKind::count) {
        diag.error(at->mark, item_path,
                   std::string(fn) + " needs a field: write " + std::string(fn) + "(temp)");
        continue;
      }
      spec.records = true;
      spec.column = "count";
    } else {
      spec.field = std::string(field);
      spec.field_id = fields.intern(field);
      spec.column = spec.field + "_" + std::string(q ? fn : info->name);
      if (q) spec.q = *q;
    }
    if (!as.empty()) {
      if (!valid_name(as)) {
        diag.error(at->mark, item_path, "\"" + as + "\" is not a valid column name; use letters, digits and _");
        continue;
      }
      spec.column = as;
    }
    bool duplicate = false;
    for (std::size_t j = 0; j < out.size(); ++j) {
      if (out[j].column == spec.column) {
        diag.error(at->mark, item_path,
                   "column \"" + spec.column + "\" is produced twice (also by " + path + "[" +
                       std::to_string(j) + "]); rename one with `as`");
        duplicate = true;
      }
    }
    const char* reserved[] = {"pipeline", "key", "start", "end", "partial", "late", "resent"};
    for (const char* r : reserved) {
      if (spec.column == r) {
        diag.error(at->mark, item_path, "column name \"" + spec.column + "\" is reserved; rename it with `as`");
        duplicate = true;
      }
    }
    if (!duplicate) out.push_back(std::move(spec));
  }
  return out;
}

}  // namespace vigil::operators
