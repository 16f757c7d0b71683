#pragma once
// Mergeable, fixed-size aggregates. A window keeps one Moments per aggregated field per slice;
// slices merge (Chan/Pébay) into window results, so overlapping windows share the work.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/runtime/config_keys.hpp"
#include "vigil/runtime/key_table.hpp"

namespace vigil::operators {

using runtime::Nanos;

/// The aggregate functions a pipeline may ask for.
enum class AggKind : std::uint8_t {
  count,         ///< `count`: records; `count(f)`: values present for field f
  sum,
  mean,
  min,
  max,
  first,         ///< value with the earliest event time (ties: first to arrive)
  last,          ///< value with the latest event time (ties: last to arrive)
  stddev,        ///< sample (n-1)
  variance,      ///< sample (n-1)
  stddev_pop,    ///< population (n)
  variance_pop,  ///< population (n)
  rms,
  peak_to_peak,  ///< max - min
  rate,          ///< (last - first) per second of event time
  skewness,      ///< population
  kurtosis,      ///< population, non-excess (3 for a Gaussian)
  crest_factor,  ///< max |x| / rms
  quantile,      ///< `p50`, `p99`, `p999`, `pNN`: from a fixed-memory sketch (AggregateSpec::q)
};

/// Name used in configs and column names ("mean", "peak_to_peak").
std::string_view agg_name(AggKind kind) noexcept;

/// What a Moments must track for a set of aggregates (bit mask).
enum Needs : std::uint8_t {
  kNeedSum = 1,
  kNeedM2 = 2,
  kNeedM3 = 4,  ///< implies M2
  kNeedM4 = 8,  ///< implies M2, M3
  kNeedMinMax = 16,
  kNeedFirstLast = 32,
  kNeedSumSq = 64,
  kNeedSketch = 128,  ///< a quantile sketch, kept beside the moments
};
std::uint8_t needs_of(AggKind kind) noexcept;

/// Running statistics of one field over a set of values; mergeable and fixed size (104 bytes).
/// Only the parts named by `needs` are maintained, the rest stay at their reset values.
struct Moments {
  std::uint64_t n = 0;
  double sum = 0;
  double mean = 0;
  double m2 = 0;
  double m3 = 0;
  double m4 = 0;
  double min = 0;
  double max = 0;
  double sumsq = 0;
  Nanos first_t = 0;
  Nanos last_t = 0;
  double first_v = 0;
  double last_v = 0;

  void reset() noexcept { *this = Moments{}; }
  /// Adds one value observed at event time `t`.
  void add(double x, Nanos t, std::uint8_t needs) noexcept;
  /// Folds `o` in; `o` covers later event times than *this when times tie (slices in order).
  void merge(const Moments& o, std::uint8_t needs) noexcept;
};

/// Final value of `kind` from the moments (NaN when undefined, e.g. stddev of one value).
double finalize(AggKind kind, const Moments& m) noexcept;

/// One requested aggregate: a function of a field (or the record count), and its column.
struct AggregateSpec {
  AggKind kind = AggKind::count;
  bool records = false;           ///< bare `count`: the record count (no field)
  std::string field;              ///< field name; empty for `count`
  runtime::FieldId field_id = runtime::kNoField;
  std::string column;             ///< output name: "<field>_<agg>" or the `as:` name
  double q = 0;                   ///< for quantile: the fraction (p99 -> 0.99, p999 -> 0.999)
};

/// The fraction a quantile name stands for: one or two digits are percent (p5 = 0.05,
/// p50 = 0.5, p99 = 0.99), more digits are the decimals of the fraction (p999 = 0.999,
/// p9999 = 0.9999), p100 is 1 (the max). nullopt for anything else.
std::optional<double> parse_quantile_name(std::string_view name) noexcept;

/// Parses an `aggregates:` list: `count`, `mean(temp)`, `max(vib) as vib_peak`, or the map form
/// `{agg: max(vib), as: vib_peak}`. Reports unknown functions (listing them), missing fields and
/// duplicate column names into `diag` at their file:line:column; interns field names.
std::vector<AggregateSpec> parse_aggregates(const runtime::ConfigNode& list, runtime::FieldTable& fields,
                                            const std::string& path, runtime::Diagnostics& diag);

}  // namespace vigil::operators
