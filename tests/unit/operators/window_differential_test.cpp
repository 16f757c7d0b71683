// Tumbling and hopping windows against a naive model on thousands of seeded random streams.
//
// The model below shares no code with the operator: it keeps every raw record, replays the
// documented semantics record by record (per-key watermark = newest event time of the key -
// max_out_of_order, or one per-source watermark, raised further by in-band watermark events; a
// window [start, end) fires once, when the watermark reaches end + allowed_lateness, or when its
// key has been idle for idle_timeout of tick time; a record whose earliest window already fired is
// late; empty windows are never emitted; flush emits every open window, partial, in (end, key
// first seen) order) and computes each window's aggregates from the raw values it holds, in long
// double, when the window fires.
//
// When a stream disagrees, the test shrinks it (drops records and ticks while the disagreement
// stays) and prints the smallest failing input it found, so a failure reads as a reproduction.
// Each stream runs in a child process with a deadline: a hang or a crash fails that stream.
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "window_harness.hpp"

namespace vigil::test {
namespace {

using runtime::Event;
using runtime::Nanos;
using namespace literals;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------------------------------------
// Random numbers: a fixed generator (splitmix64) so a seed means the same stream everywhere.

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n); n > 0.
  std::int64_t below(std::int64_t n) { return static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(n)); }
  /// Uniform in [lo, hi].
  std::int64_t range(std::int64_t lo, std::int64_t hi) { return hi <= lo ? lo : lo + below(hi - lo + 1); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return uniform() < p; }

 private:
  std::uint64_t s_;
};

// FNV-1a, so a config's seeds are the same with every standard library.
std::uint64_t name_hash(const std::string& name) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ULL;
  return h;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// ---------------------------------------------------------------------------------------------
// The aggregates every stream is checked with: every function on temp, a few on vib (so fields
// with different needs coexist), three on p, renames in both syntaxes, and the record count as a
// column of its own.

enum class Fn { records, count, sum, mean, min, max, first, last, stddev, variance, stddev_pop, variance_pop,
                rms, peak_to_peak, rate, skewness, kurtosis, crest_factor };

constexpr int kTemp = 0, kVib = 1, kP = 2, kAux = 3;  // aux is in records but aggregated by nothing
constexpr int kFieldCount = 4;
constexpr const char* kFieldNames[kFieldCount] = {"temp", "vib", "p", "aux"};

struct Column {
  Fn fn;
  int field;          // -1 for the record count
  const char* name;   // expected column name
};

constexpr Column kColumns[] = {
    {Fn::count, kTemp, "temp_count"},         {Fn::sum, kTemp, "temp_sum"},
    {Fn::mean, kTemp, "temp_mean"},           {Fn::min, kTemp, "temp_min"},
    {Fn::max, kTemp, "temp_max"},             {Fn::first, kTemp, "temp_first"},
    {Fn::last, kTemp, "temp_last"},           {Fn::stddev, kTemp, "temp_stddev"},
    {Fn::variance, kTemp, "temp_variance"},   {Fn::stddev_pop, kTemp, "temp_stddev_pop"},
    {Fn::variance_pop, kTemp, "temp_variance_pop"}, {Fn::rms, kTemp, "temp_rms"},
    {Fn::peak_to_peak, kTemp, "temp_peak_to_peak"}, {Fn::rate, kTemp, "temp_rate"},
    {Fn::skewness, kTemp, "temp_skewness"},   {Fn::kurtosis, kTemp, "temp_kurtosis"},
    {Fn::crest_factor, kTemp, "temp_crest_factor"},
    {Fn::count, kVib, "vib_count"},           {Fn::first, kVib, "vib_first"},
    {Fn::last, kVib, "vib_last"},             {Fn::rate, kVib, "vib_rate"},
    {Fn::max, kVib, "vib_peak"},
    {Fn::mean, kP, "p_mean"},                 {Fn::skewness, kP, "p_skewness"},
    {Fn::kurtosis, kP, "p_kurtosis"},         {Fn::variance_pop, kP, "p_var"},
    {Fn::records, -1, "n"},
};

constexpr const char* kAggregatesYaml =
    "[count, count(temp), sum(temp), mean(temp), min(temp), max(temp), first(temp), last(temp),"
    " stddev(temp), variance(temp), stddev_pop(temp), variance_pop(temp), rms(temp), peak_to_peak(temp),"
    " rate(temp), skewness(temp), kurtosis(temp), crest_factor(temp),"
    " count(vib), first(vib), last(vib), rate(vib), max(vib) as vib_peak,"
    " mean(p), skewness(p), kurtosis(p), {agg: variance_pop(p), as: p_var}, count as n]";

// ---------------------------------------------------------------------------------------------
// Streams.

struct Record {
  int key = 0;
  Nanos t = 0;
  std::array<double, kFieldCount> v{};
  std::array<bool, kFieldCount> has{};
  std::array<int, kFieldCount> order{0, 1, 2, 3};  // order of the values inside the record
};

struct Item {
  enum Kind { a_record, tick, watermark, watermark_all };
  Kind kind = a_record;
  Nanos time = 0;  // tick: processing time; watermark: event time
  int record = -1;
  int key = -1;    // watermark of one key
};

struct Stream {
  std::vector<Record> records;
  std::vector<Item> items;
};

struct Config {
  std::string name;
  bool hopping = false;
  Nanos size = 0;
  Nanos hop = 0;
  Nanos offset = 0;
  Nanos lateness = 0;
  bool late_emit = false;
  Nanos ooo = 0;
  Nanos idle = 0;
  bool per_source = false;  // watermark: per_source
  bool watermarks = false;  // the stream carries watermark events too
  Nanos base = kT0;         // where the keys' clocks start
  std::size_t max_keys = 16;
  int streams = 120;
  std::uint32_t workers = 1;       // pipeline `workers:`

  std::string window_yaml() const {
    std::string y = std::string("{type: ") + (hopping ? "hopping" : "tumbling") + ", size: " + runtime::format_duration(size);
    if (hopping) y += ", hop: " + runtime::format_duration(hop);
    if (offset) y += ", offset: " + runtime::format_duration(offset);
    if (lateness) y += ", allowed_lateness: " + runtime::format_duration(lateness);
    if (late_emit) y += ", late: emit";
    return y + "}";
  }
  Nanos step() const { return hopping ? hop : size; }
  std::string describe() const {
    return name + ": window " + window_yaml() + ", max_out_of_order " + runtime::format_duration(ooo) +
           ", idle_timeout " + runtime::format_duration(idle) + ", max_keys " + std::to_string(max_keys) +
           (per_source ? ", watermark per_source" : "") + (watermarks ? ", with watermark events" : "");
  }
};

std::string key_name(int k) { return "k" + std::to_string(k + 1); }

std::string rel(Nanos t) {
  // Times relative to kT0, in seconds with every nanosecond digit that matters.
  Nanos d = t - kT0;
  std::ostringstream s;
  s << (d < 0 ? "-" : "+");
  Nanos a = d < 0 ? -d : d;
  s << a / runtime::kNanosPerSecond;
  Nanos frac = a % runtime::kNanosPerSecond;
  if (frac) {
    std::string f = std::to_string(frac);
    f = std::string(9 - f.size(), '0') + f;
    while (f.back() == '0') f.pop_back();
    s << "." << f;
  }
  s << "s";
  return s.str();
}

Stream generate(const Config& c, std::uint64_t seed) {
  Rng rng(seed);
  Stream st;
  const int keys = static_cast<int>(rng.range(1, 8));
  const int records = static_cast<int>(rng.range(1, 300));
  const Nanos step = c.step();
  const Nanos end_residue = ((c.offset + c.size) % step + step) % step;
  const Nanos start_residue = ((c.offset % step) + step) % step;

  std::vector<Nanos> frontier(static_cast<std::size_t>(keys)), last_t(static_cast<std::size_t>(keys));
  std::vector<double> last_temp(static_cast<std::size_t>(keys), 20.0);
  for (auto& f : frontier) {
    f = c.base + rng.range(-5, 5) * c.size + (rng.chance(0.5) ? rng.below(c.size) : rng.below(c.size / 1'000'000) * 1'000'000);
    if (rng.chance(0.1)) f += rng.range(-3, 3) * 3600_s;  // a device whose clock is hours off
  }
  for (int k = 0; k < keys; ++k) last_t[static_cast<std::size_t>(k)] = frontier[static_cast<std::size_t>(k)];

  // Processing time and ticks. Ticks are at least idle_timeout/8 apart, so every tick is one at
  // which an idle check is due.
  Nanos now = 1'000_s;
  const Nanos min_gap = c.idle > 0 ? c.idle / 8 + 1 : 1_s;
  const Nanos max_gap = c.idle > 0 ? std::max(min_gap, c.idle / 2) : 3_s;
  Nanos next_tick = now + rng.range(0, max_gap);
  const Nanos pace = c.idle > 0 ? c.idle / 12 : 300_ms;

  std::vector<int> active;
  int reshuffle = 0;
  for (int i = 0; i < records; ++i) {
    if (reshuffle-- <= 0) {
      active.clear();
      for (int k = 0; k < keys; ++k)
        if (rng.chance(0.6)) active.push_back(k);
      if (active.empty()) active.push_back(static_cast<int>(rng.below(keys)));
      reshuffle = static_cast<int>(rng.range(5, 60));
    }
    const int k = active[static_cast<std::size_t>(rng.below(static_cast<std::int64_t>(active.size())))];
    const auto ks = static_cast<std::size_t>(k);

    now += rng.range(0, pace);
    if (rng.chance(0.03)) now += (c.idle > 0 ? c.idle : 10_s) * rng.range(1, 3) / 2 + rng.below(1_s);
    while (next_tick <= now) {
      st.items.push_back(Item{Item::tick, next_tick});
      next_tick += rng.range(min_gap, max_gap);
    }
    if (c.watermarks && rng.chance(0.04)) {
      // An in-band watermark: for one key (near its own watermark) or for every key.
      const int wk = static_cast<int>(rng.below(keys));
      const Nanos w = frontier[static_cast<std::size_t>(wk)] - c.ooo + rng.range(-c.size, c.size);
      if (rng.chance(0.5)) st.items.push_back(Item{Item::watermark, w, -1, wk});
      else st.items.push_back(Item{Item::watermark_all, w});
    }

    Nanos& f = frontier[ks];
    const double u = rng.uniform();
    if (u < 0.35) {
      f += rng.chance(0.5) ? rng.range(0, c.size / 3) : rng.range(0, c.size / 3 / 1'000'000) * 1'000'000;
    } else if (u < 0.45) {
      // same time as the newest record of the key
    } else if (u < 0.58) {
      // onto a window boundary (a start or an end), or one nanosecond either side of it
      const Nanos residue = rng.chance(0.5) ? end_residue : start_residue;
      const Nanos boundary = floor_div(f - residue, step) * step + residue + step;
      f = boundary + rng.range(-1, 1);
    } else if (u < 0.62) {
      f += rng.range(2, 6) * c.size + rng.below(c.size);  // a gap of several windows
    } else {
      f += rng.range(0, c.size / 10);
    }
    Nanos t = f;
    const double d = rng.uniform();
    if (d < 0.50) {
      t = f;
    } else if (d < 0.74) {
      t = f - rng.range(0, c.ooo);
    } else if (d < 0.79) {
      t = f - c.ooo;  // exactly at the out-of-order bound: on time
    } else if (d < 0.83) {
      t = f - c.ooo - 1;  // one nanosecond beyond it
    } else if (d < 0.89) {
      t = last_t[ks];  // a duplicate timestamp
    } else {
      t = f - c.ooo - rng.range(1, c.size + c.lateness + step);  // behind the bound: maybe late
    }
    last_t[ks] = t;

    Record r;
    r.key = k;
    r.t = t;
    r.has = {rng.chance(0.8), rng.chance(0.6), rng.chance(0.5), rng.chance(0.3)};
    if (!r.has[kTemp] && !r.has[kVib] && !r.has[kP] && !r.has[kAux]) r.has[rng.chance(0.5) ? kTemp : kAux] = true;
    // Values are multiples of a power of two so duplicates and exact ties happen.
    r.v[kTemp] = rng.chance(0.25) ? last_temp[ks] : static_cast<double>(rng.range(-3200, 6400)) / 64.0;
    last_temp[ks] = r.v[kTemp];
    r.v[kVib] = static_cast<double>(rng.range(0, 2048)) / 1024.0;
    r.v[kP] = static_cast<double>(rng.range(0, 160)) / 16.0;
    r.v[kAux] = static_cast<double>(rng.range(-100, 100));
    for (int j = kFieldCount - 1; j > 0; --j) std::swap(r.order[static_cast<std::size_t>(j)], r.order[static_cast<std::size_t>(rng.below(j + 1))]);
    st.records.push_back(r);
    st.items.push_back(Item{Item::a_record, 0, static_cast<int>(st.records.size() - 1)});
  }
  if (rng.chance(0.5)) {
    // Ticks after the last record: keys that went quiet close their windows before the flush.
    for (int n = 0; n < 4; ++n) {
      st.items.push_back(Item{Item::tick, next_tick});
      next_tick += rng.range(min_gap, max_gap) * 2;
    }
  }
  return st;
}

std::string describe_stream(const Stream& st) {
  std::ostringstream s;
  for (const auto& item : st.items) {
    if (item.kind == Item::tick) {
      s << "  tick " << (item.time - 1'000_s) / 1'000'000 << "ms\n";
      continue;
    }
    if (item.kind == Item::watermark) {
      s << "  watermark " << key_name(item.key) << " " << rel(item.time) << "\n";
      continue;
    }
    if (item.kind == Item::watermark_all) {
      s << "  watermark (all keys) " << rel(item.time) << "\n";
      continue;
    }
    const Record& r = st.records[static_cast<std::size_t>(item.record)];
    s << "  record " << key_name(r.key) << " t=" << rel(r.t);
    for (int f : r.order)
      if (r.has[static_cast<std::size_t>(f)]) s << " " << kFieldNames[f] << "=" << r.v[static_cast<std::size_t>(f)];
    s << "\n";
  }
  return s.str();
}

// ---------------------------------------------------------------------------------------------
// Summaries as both sides produce them.

struct Result {
  std::string key;
  std::uint64_t rank = 0;
  Nanos start = 0;
  Nanos end = 0;
  std::uint64_t count = 0;
  std::uint8_t flags = 0;
  std::vector<double> values;
  std::vector<double> tolerance;  // model side only: absolute tolerance per column (0: exact)
};

std::string describe(const Result& r) {
  std::ostringstream s;
  s << r.key << " [" << rel(r.start) << ", " << rel(r.end) << ") count " << r.count;
  if (r.flags & runtime::kPartial) s << " partial";
  if (r.flags & runtime::kLate) s << " late";
  return s.str();
}

struct Sample {
  double v;
  Nanos t;
  std::size_t seq;  // arrival order
};

// Computes column `c` over the raw samples of one field (or the record count) the naive way.
// `tol` is the absolute tolerance of the result, or -1 where it must be exact.
void compute(const Column& c, const std::vector<Sample>& xs, std::uint64_t records, double& value, double& tol) {
  tol = -1;
  if (c.fn == Fn::records) {
    value = static_cast<double>(records);
    return;
  }
  const std::size_t n = xs.size();
  if (c.fn == Fn::count) {
    value = static_cast<double>(n);
    return;
  }
  if (n == 0) {
    value = c.fn == Fn::sum ? 0.0 : kNaN;
    return;
  }
  long double sum = 0, sum_abs = 0, sumsq = 0;
  double lo = xs[0].v, hi = xs[0].v, max_abs = 0;
  bool all_equal = true;
  for (const auto& x : xs) {
    sum += x.v;
    sum_abs += std::fabs(x.v);
    sumsq += static_cast<long double>(x.v) * x.v;
    lo = std::min(lo, x.v);
    hi = std::max(hi, x.v);
    max_abs = std::max(max_abs, std::fabs(x.v));
    all_equal = all_equal && x.v == xs[0].v;
  }
  const long double nn = static_cast<long double>(n);
  const long double mean = sum / nn;
  long double m2 = 0, m3 = 0, m4 = 0;
  if (!all_equal) {
    for (const auto& x : xs) {
      const long double d = x.v - mean;
      m2 += d * d;
      m3 += d * d * d;
      m4 += d * d * d * d;
    }
  }
  // first: earliest time, ties go to the first to arrive; last: latest time, ties to the last.
  const Sample* first = &xs[0];
  const Sample* last = &xs[0];
  for (const auto& x : xs) {
    if (x.t < first->t || (x.t == first->t && x.seq < first->seq)) first = &x;
    if (x.t > last->t || (x.t == last->t && x.seq > last->seq)) last = &x;
  }
  const long double rms = std::sqrt(sumsq / nn);
  const double scale = std::max(max_abs, 1e-300);
  switch (c.fn) {
    case Fn::sum: value = static_cast<double>(sum); tol = 1e-12 * static_cast<double>(sum_abs); break;
    case Fn::mean: value = static_cast<double>(mean); tol = 1e-12 * scale; break;
    case Fn::min: value = lo; break;
    case Fn::max: value = hi; break;
    case Fn::first: value = first->v; break;
    case Fn::last: value = last->v; break;
    case Fn::peak_to_peak: value = hi - lo; break;
    case Fn::variance: value = n < 2 ? kNaN : static_cast<double>(m2 / (nn - 1)); tol = 1e-11 * scale * scale; break;
    case Fn::stddev: value = n < 2 ? kNaN : static_cast<double>(std::sqrt(m2 / (nn - 1))); tol = 1e-10 * scale; break;
    case Fn::variance_pop: value = static_cast<double>(m2 / nn); tol = 1e-11 * scale * scale; break;
    case Fn::stddev_pop: value = static_cast<double>(std::sqrt(m2 / nn)); tol = 1e-10 * scale; break;
    case Fn::rms: value = static_cast<double>(rms); tol = 1e-12 * scale; break;
    case Fn::rate:
      value = last->t == first->t ? kNaN
                                  : (last->v - first->v) / (static_cast<double>(last->t - first->t) / 1e9);
      tol = 0;  // relative only
      break;
    case Fn::skewness:
      value = m2 <= 0 ? kNaN : static_cast<double>(std::sqrt(nn) * m3 / std::pow(m2, 1.5L));
      tol = 1e-9;
      break;
    case Fn::kurtosis:
      value = m2 <= 0 ? kNaN : static_cast<double>(nn * m4 / (m2 * m2));
      tol = 1e-9;
      break;
    case Fn::crest_factor: value = rms <= 0 ? kNaN : static_cast<double>(max_abs / rms); tol = 0; break;
    case Fn::records:
    case Fn::count: break;
  }
}

// ---------------------------------------------------------------------------------------------
// The model.

class Model {
 public:
  Model(const Config& c, const Stream& st) : c_(c), st_(st) {
    step_ = c.step();
    end_residue_ = ((c.offset + c.size) % step_ + step_) % step_;
  }

  void run() {
    for (const auto& item : st_.items) {
      switch (item.kind) {
        case Item::a_record: on_record(item.record); break;
        case Item::tick: on_tick(item.time); break;
        case Item::watermark: on_watermark(item.key, item.time); break;
        case Item::watermark_all: fire_all(item.time); break;
      }
    }
    flush();
  }

  std::vector<Result> out;
  std::uint64_t late = 0;
  std::uint64_t late_emitted = 0;
  std::uint64_t windows = 0;
  std::uint64_t partial = 0;
  std::uint64_t idle_fired = 0;  // windows closed by an idle key

 private:
  struct Key {
    bool seen = false;
    std::uint64_t rank = 0;
    Nanos max_ts = 0;
    Nanos wm = 0;
    Nanos fired = 0;  // every window with end <= fired has fired
    Nanos last_active = 0;
    std::map<Nanos, std::vector<int>> open;  // window end -> records in it, arrival order
  };

  // The largest window end <= x.
  Nanos end_at_or_below(Nanos x) const { return floor_div(x - end_residue_, step_) * step_ + end_residue_; }

  Result make(int key, Nanos end, const std::vector<int>& recs, std::uint8_t flags) const {
    Result r;
    r.key = key_name(key);
    r.rank = keys_.at(key).rank;
    r.start = end - c_.size;
    r.end = end;
    r.count = recs.size();
    r.flags = flags;
    for (const auto& col : kColumns) {
      std::vector<Sample> xs;
      if (col.field >= 0) {
        for (int ri : recs) {
          const Record& rec = st_.records[static_cast<std::size_t>(ri)];
          const auto f = static_cast<std::size_t>(col.field);
          if (rec.has[f]) xs.push_back(Sample{rec.v[f], rec.t, static_cast<std::size_t>(ri)});
        }
      }
      double v = 0, tol = 0;
      compute(col, xs, recs.size(), v, tol);
      r.values.push_back(v);
      r.tolerance.push_back(tol);
    }
    return r;
  }

  void fire_up_to(int key, Nanos end) {
    Key& k = keys_[key];
    while (!k.open.empty() && k.open.begin()->first <= end) {
      out.push_back(make(key, k.open.begin()->first, k.open.begin()->second, 0));
      ++windows;
      k.open.erase(k.open.begin());
    }
    k.fired = std::max(k.fired, end);
  }

  // Raises every seen key's watermark to at least `wm` and fires what that closes, in order of
  // (end, key first seen).
  void fire_all(Nanos wm) {
    std::vector<Result> fired;
    for (auto& [id, k] : keys_) {
      k.wm = std::max(k.wm, wm);
      const Nanos target = end_at_or_below(k.wm - c_.lateness);
      while (!k.open.empty() && k.open.begin()->first <= target) {
        fired.push_back(make(id, k.open.begin()->first, k.open.begin()->second, 0));
        ++windows;
        k.open.erase(k.open.begin());
      }
      k.fired = std::max(k.fired, target);
    }
    sort_and_append(fired);
  }

  void on_watermark(int key, Nanos wm) {
    auto it = keys_.find(key);
    if (it == keys_.end() || wm <= it->second.wm) return;
    it->second.wm = wm;
    fire_up_to(key, end_at_or_below(wm - c_.lateness));
  }

  void on_record(int ri) {
    const Record& rec = st_.records[static_cast<std::size_t>(ri)];
    Key& k = keys_[rec.key];
    const Nanos t = rec.t;
    if (!k.seen) {
      k.seen = true;
      k.rank = next_rank_++;
      k.max_ts = t;
      k.wm = c_.per_source ? source_wm_ : t - c_.ooo;
      k.fired = end_at_or_below(k.wm - c_.lateness);
    } else if (!c_.per_source && t > k.max_ts) {
      k.max_ts = t;
      if (t - c_.ooo > k.wm) {
        k.wm = t - c_.ooo;
        fire_up_to(rec.key, end_at_or_below(k.wm - c_.lateness));
      }
    }
    if (c_.per_source && t > source_max_) {
      // One watermark for the whole source: its newest record - max_out_of_order.
      source_max_ = t;
      if (t - c_.ooo > source_wm_) {
        source_wm_ = t - c_.ooo;
        fire_all(source_wm_);
      }
    }
    k.last_active = ticked_ ? now_ : kNotYet;
    const Nanos earliest = end_at_or_below(t) + step_;  // smallest window end > t
    if (earliest <= k.fired) {
      ++late;
      if (c_.late_emit) {
        const Nanos end = end_at_or_below(std::min(k.fired, t + c_.size));
        out.push_back(make(rec.key, end, {ri}, runtime::kLate));
        ++late_emitted;
      }
    }
    for (Nanos e = earliest; e <= t + c_.size; e += step_)
      if (e > k.fired) k.open[e].push_back(ri);
  }

  void on_tick(Nanos time) {
    if (!ticked_) {
      ticked_ = true;
      now_ = time;
      for (auto& [id, k] : keys_) k.last_active = now_;
    }
    now_ = std::max(now_, time);
    if (c_.idle <= 0) return;
    std::vector<Result> fired;
    for (auto& [id, k] : keys_) {
      if (k.open.empty() || now_ - k.last_active < c_.idle) continue;
      const Nanos last_end = k.open.rbegin()->first;
      for (auto& [end, recs] : k.open) fired.push_back(make(id, end, recs, 0));
      windows += k.open.size();
      idle_fired += k.open.size();
      k.open.clear();
      k.fired = std::max(k.fired, last_end);
    }
    sort_and_append(fired);
  }

  void flush() {
    std::vector<Result> fired;
    for (auto& [id, k] : keys_) {
      for (auto& [end, recs] : k.open) fired.push_back(make(id, end, recs, runtime::kPartial));
      windows += k.open.size();
      partial += k.open.size();
      k.open.clear();
    }
    sort_and_append(fired);
  }

  void sort_and_append(std::vector<Result>& fired) {
    std::stable_sort(fired.begin(), fired.end(), [](const Result& a, const Result& b) {
      return a.end != b.end ? a.end < b.end : a.rank < b.rank;
    });
    out.insert(out.end(), fired.begin(), fired.end());
  }

  static constexpr Nanos kNotYet = std::numeric_limits<Nanos>::min();
  const Config& c_;
  const Stream& st_;
  Nanos step_ = 0;
  Nanos end_residue_ = 0;
  std::map<int, Key> keys_;
  std::uint64_t next_rank_ = 0;
  bool ticked_ = false;
  Nanos now_ = 0;
  Nanos source_max_ = runtime::kMinTime;
  Nanos source_wm_ = runtime::kMinTime;
};

// ---------------------------------------------------------------------------------------------
// Running the operator.

enum class Feed {
  per_item,  // one process() call per whole record or tick
  batches,   // random runs of whole records and ticks per call
};

struct Run {
  std::vector<Result> out;
  std::uint64_t records = 0, late = 0, late_emitted = 0, windows = 0, partial = 0;
  std::string error;
};

WindowOptions options_of(const Config& c) {
  WindowOptions options;
  options.max_out_of_order = c.ooo;
  options.idle_timeout = c.idle;
  options.max_keys = c.max_keys;
  options.watermark = c.per_source ? runtime::WatermarkScope::per_source : runtime::WatermarkScope::per_key;
  options.workers = c.workers;
  return options;
}

// Appends the events of item `i`. A watermark for a key that has sent no record yet is left
// out (the model ignores it too): interning the key for it would change the keys' ranks.
void append_item(WindowHarness& h, std::vector<Event>& events, const Stream& st, std::size_t i) {
  const Item& item = st.items[i];
  switch (item.kind) {
    case Item::tick:
      events.push_back(WindowHarness::tick_event(item.time));
      return;
    case Item::watermark:
    case Item::watermark_all: {
      Event e;
      e.kind = runtime::EventKind::watermark;
      e.time = item.time;
      if (item.kind == Item::watermark_all) {
        e.flags = runtime::kAllKeys;
      } else {
        bool seen = false;
        for (std::size_t j = 0; j < i && !seen; ++j)
          seen = st.items[j].kind == Item::a_record && st.records[static_cast<std::size_t>(st.items[j].record)].key == item.key;
        if (!seen) return;
        e.key = h.key(key_name(item.key));
      }
      events.push_back(e);
      return;
    }
    case Item::a_record: {
      const Record& r = st.records[static_cast<std::size_t>(item.record)];
      std::vector<FieldValue> values;
      for (int f : r.order)
        if (r.has[static_cast<std::size_t>(f)]) values.push_back(FieldValue{kFieldNames[f], r.v[static_cast<std::size_t>(f)]});
      h.append_record(events, key_name(r.key), r.t, values);
      return;
    }
  }
}

Run run_operator(const Config& c, const Stream& st, Feed feed, std::uint64_t seed) {
  Run run;
  WindowHarness h(c.window_yaml(), kAggregatesYaml, options_of(c));
  if (!h.ok()) {
    run.error = "the operator was not built: " + h.errors();
    return run;
  }
  const auto& columns = h.schema().columns;
  if (columns.size() != std::size(kColumns)) {
    run.error = "the schema has " + std::to_string(columns.size()) + " columns";
    return run;
  }
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i] != kColumns[i].name) run.error = "column " + std::to_string(i) + " is " + columns[i];
  if (!run.error.empty()) return run;

  std::vector<Event> events;
  std::vector<std::size_t> starts;  // first event of each item
  for (std::size_t i = 0; i < st.items.size(); ++i) {
    starts.push_back(events.size());
    append_item(h, events, st, i);
  }
  starts.push_back(events.size());

  const std::span<const Event> all(events);
  switch (feed) {
    case Feed::per_item:
      for (std::size_t i = 0; i + 1 < starts.size(); ++i) h.process(all.subspan(starts[i], starts[i + 1] - starts[i]));
      break;
    case Feed::batches: {
      Rng rng(seed ^ 0xBA7C4ULL);
      std::size_t i = 0;
      while (i + 1 < starts.size()) {
        const std::size_t j = std::min(starts.size() - 1, i + static_cast<std::size_t>(rng.range(1, 40)));
        h.process(all.subspan(starts[i], starts[j] - starts[i]));
        i = j;
      }
      break;
    }
  }
  h.flush();
  for (const auto& s : h.summaries()) {
    Result r;
    r.key = s.key;
    r.rank = s.key_rank;
    r.start = s.start;
    r.end = s.end;
    r.count = s.count;
    r.flags = s.flags;
    r.values = s.values;
    run.out.push_back(std::move(r));
  }
  const auto& k = h.counters();
  run.records = k.records.get();
  run.late = k.late.get();
  run.late_emitted = k.late_emitted.get();
  run.windows = k.windows.get();
  run.partial = k.partial.get();
  return run;
}

// tol < 0: exact; else |expected - actual| <= tol + 1e-9 relative.
bool close_enough(double expected, double actual, double tol) {
  if (std::isnan(expected) || std::isnan(actual)) return std::isnan(expected) && std::isnan(actual);
  if (expected == actual) return true;
  if (tol < 0) return false;
  return std::fabs(expected - actual) <= tol + 1e-9 * std::max(std::fabs(expected), std::fabs(actual));
}

// Empty when they agree; else what differs first.
std::string compare(const std::vector<Result>& expected, const std::vector<Result>& actual, bool exact) {
  const std::size_t n = std::min(expected.size(), actual.size());
  for (std::size_t i = 0; i < n; ++i) {
    const Result& e = expected[i];
    const Result& a = actual[i];
    const bool same_window = e.key == a.key && e.rank == a.rank && e.start == a.start && e.end == a.end &&
                             e.count == a.count && e.flags == a.flags && e.values.size() == a.values.size();
    std::ostringstream columns;
    columns.precision(17);
    for (std::size_t v = 0; same_window && v < e.values.size(); ++v) {
      const bool ok = exact ? (e.values[v] == a.values[v] || (std::isnan(e.values[v]) && std::isnan(a.values[v])))
                            : close_enough(e.values[v], a.values[v], e.tolerance[v]);
      if (!ok) columns << "\n  " << kColumns[v].name << ": expected " << e.values[v] << ", actual " << a.values[v];
    }
    if (!same_window || !columns.str().empty()) {
      std::ostringstream s;
      s << "summary #" << i << " differs\n  expected: " << describe(e) << "\n  actual:   " << describe(a)
        << columns.str();
      return s.str();
    }
  }
  if (expected.size() != actual.size()) {
    std::ostringstream s;
    s << expected.size() << " summaries expected, " << actual.size() << " emitted";
    if (n < expected.size()) s << "\n  first missing: " << describe(expected[n]);
    if (n < actual.size()) s << "\n  first extra:   " << describe(actual[n]);
    return s.str();
  }
  return {};
}

std::string compare_counters(const Model& m, const Run& r, const Stream& st) {
  std::ostringstream s;
  const auto records = static_cast<std::uint64_t>(
      std::count_if(st.items.begin(), st.items.end(), [](const Item& i) { return i.kind == Item::a_record; }));
  if (r.records != records) s << "records counter " << r.records << ", expected " << records << "; ";
  if (r.late != m.late) s << "late counter " << r.late << ", expected " << m.late << "; ";
  if (r.late_emitted != m.late_emitted) s << "late_emitted counter " << r.late_emitted << ", expected " << m.late_emitted << "; ";
  if (r.windows != m.windows) s << "windows counter " << r.windows << ", expected " << m.windows << "; ";
  if (r.partial != m.partial) s << "partial counter " << r.partial << ", expected " << m.partial << "; ";
  return s.str();
}

// A check on one stream: empty when it passes.
using Check = std::string (*)(const Config&, const Stream&, std::uint64_t seed);

// What the model saw over the streams of one config, to prove the streams reach every rule.
struct Coverage {
  std::uint64_t windows = 0, late = 0, late_emitted = 0, partial = 0, idle_fired = 0;
};
Coverage g_coverage;

std::string check_against_model(const Config& c, const Stream& st, std::uint64_t seed) {
  Model m(c, st);
  m.run();
  g_coverage.windows += m.windows;
  g_coverage.late += m.late;
  g_coverage.late_emitted += m.late_emitted;
  g_coverage.partial += m.partial;
  g_coverage.idle_fired += m.idle_fired;
  Run r = run_operator(c, st, Feed::per_item, seed);
  if (!r.error.empty()) return r.error;
  std::string diff = compare(m.out, r.out, false);
  if (diff.empty()) diff = compare_counters(m, r, st);
  return diff;
}

std::string check_batching(const Config& c, const Stream& st, std::uint64_t seed) {
  Run one = run_operator(c, st, Feed::per_item, seed);
  Run many = run_operator(c, st, Feed::batches, seed);
  if (!one.error.empty()) return one.error;
  std::string diff = compare(one.out, many.out, true);
  return diff.empty() ? diff : "one record per process() call (expected) vs. random batches (actual): " + diff;
}

// The same stream through 2 and 4 workers (random batches, and parts small enough that batches
// are split) must give, line for line, what one worker gives.
std::string check_workers(const Config& c, const Stream& st, std::uint64_t seed) {
  Run one = run_operator(c, st, Feed::per_item, seed);
  if (!one.error.empty()) return one.error;
  for (std::uint32_t workers : {2u, 4u}) {
    Config sharded = c;
    sharded.workers = workers;
    Run many = run_operator(sharded, st, Feed::batches, seed);
    if (!many.error.empty()) return many.error;
    std::string diff = compare(one.out, many.out, true);
    if (!diff.empty()) return "one worker (expected) vs. " + std::to_string(workers) + " workers (actual): " + diff;
  }
  return {};
}

// Takes a snapshot after a random number of items, restores it into a fresh operator and
// finishes the stream there; what the fresh operator emits must equal what an uninterrupted
// operator emits after the same point.
std::string check_snapshot(const Config& c, const Stream& st, std::uint64_t seed) {
  Rng rng(seed ^ 0x5AA95ULL);
  const std::size_t cut = static_cast<std::size_t>(rng.range(0, static_cast<std::int64_t>(st.items.size())));
  WindowHarness original(c.window_yaml(), kAggregatesYaml, options_of(c));
  WindowHarness restored(c.window_yaml(), kAggregatesYaml, options_of(c));
  if (!original.ok()) return "the operator was not built: " + original.errors();
  auto feed = [&](WindowHarness& h, std::size_t from, std::size_t to) {
    std::vector<Event> events;
    for (std::size_t i = from; i < to; ++i) {
      events.clear();
      append_item(h, events, st, i);
      h.process(events);
    }
  };
  feed(original, 0, cut);
  std::vector<std::byte> state;
  original.op().snapshot(state);
  original.take();
  auto restored_ok = restored.op().restore(state);
  if (!restored_ok) return "restore failed: " + restored_ok.error().message;
  feed(original, cut, st.items.size());
  feed(restored, cut, st.items.size());
  original.flush();
  restored.flush();
  std::vector<std::string> a = original.json(), b = restored.json();
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string ea = i < a.size() ? a[i] : "(nothing)";
    const std::string eb = i < b.size() ? b[i] : "(nothing)";
    if (ea != eb)
      return "snapshot after item " + std::to_string(cut) + ": line " + std::to_string(i) +
             "\n  uninterrupted: " + ea + "\n  restored:      " + eb;
  }
  return {};
}

// The result of one check, run in a child process so that an operator that hangs or crashes on
// some stream fails that stream instead of stopping the whole test binary.
struct Outcome {
  std::string diff;  // empty: the stream passed
  Coverage coverage;
  bool hung = false;
};

Outcome check_isolated(const Config& c, const Stream& st, std::uint64_t seed, Check check, int timeout_ms) {
  int fds[2];
  if (pipe(fds) != 0) {
    g_coverage = Coverage{};
    Outcome o{check(c, st, seed), {}, false};
    o.coverage = g_coverage;
    return o;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    g_coverage = Coverage{};
    const std::string diff = check(c, st, seed);
    std::ostringstream msg;
    msg << g_coverage.windows << ' ' << g_coverage.late << ' ' << g_coverage.late_emitted << ' ' << g_coverage.partial
        << ' ' << g_coverage.idle_fired << '\n'
        << diff;
    const std::string text = msg.str();
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = write(fds[1], text.data() + done, text.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  Outcome o;
  if (pid < 0) {
    close(fds[0]);
    g_coverage = Coverage{};
    o.diff = check(c, st, seed);
    o.coverage = g_coverage;
    return o;
  }
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      kill(pid, SIGKILL);
      o.hung = true;
      break;
    }
    pollfd pfd{fds[0], POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left)) <= 0) continue;
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (o.hung) {
    o.diff = "the operator did not finish within " + std::to_string(timeout_ms / 1000) + " s (it hangs on this stream)";
    return o;
  }
  if (WIFSIGNALED(status)) {
    o.diff = "the operator crashed (signal " + std::to_string(WTERMSIG(status)) + ")";
    return o;
  }
  std::istringstream in(text);
  in >> o.coverage.windows >> o.coverage.late >> o.coverage.late_emitted >> o.coverage.partial >> o.coverage.idle_fired;
  in.get();
  // The rest of the text, read through the buffer's position even when a number failed to parse
  // (not with istreambuf_iterator: GCC 12 at -O3 for aarch64 warns of a null dereference in it).
  const std::streamoff read = in.rdbuf()->pubseekoff(0, std::ios::cur, std::ios::in);
  if (read >= 0 && static_cast<std::size_t>(read) <= text.size()) o.diff = text.substr(static_cast<std::size_t>(read));
  if (!in && text.empty()) o.diff = "the check ended without a result";
  return o;
}

constexpr int kStreamTimeoutMs = 5'000;
constexpr int kShrinkTimeoutMs = 1'000;

// Drops items from a failing stream while it keeps failing, for a short reproduction.
// Stops after 600 tries or 8 s, whichever comes first.
Stream shrink(const Config& c, Stream st, std::uint64_t seed, Check check) {
  int budget = 600;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  bool progress = true;
  while (progress && budget > 0) {
    progress = false;
    for (std::size_t chunk = std::max<std::size_t>(1, st.items.size() / 2); chunk >= 1 && budget > 0; chunk /= 2) {
      for (std::size_t i = 0; i + chunk <= st.items.size() && budget > 0;) {
        Stream smaller = st;
        smaller.items.erase(smaller.items.begin() + static_cast<std::ptrdiff_t>(i),
                            smaller.items.begin() + static_cast<std::ptrdiff_t>(i + chunk));
        if (--budget == 0 || std::chrono::steady_clock::now() > deadline) budget = 0;
        if (!check_isolated(c, smaller, seed, check, kShrinkTimeoutMs).diff.empty()) {
          st = std::move(smaller);
          progress = true;
        } else {
          i += chunk;
        }
      }
      if (chunk == 1) break;
    }
  }
  return st;
}

// Runs `check` on `c.streams` seeded streams; reports the first failure, shrunk.
void run_streams(const Config& c, Check check, std::uint64_t salt) {
  Coverage seen;
  int failures = 0;
  std::string first;
  for (int i = 0; i < c.streams; ++i) {
    const std::uint64_t seed = salt * 1'000'003ULL + static_cast<std::uint64_t>(i) * 7919ULL + name_hash(c.name);
    const Stream st = generate(c, seed);
    const Outcome outcome = check_isolated(c, st, seed, check, kStreamTimeoutMs);
    seen.windows += outcome.coverage.windows;
    seen.late += outcome.coverage.late;
    seen.late_emitted += outcome.coverage.late_emitted;
    seen.partial += outcome.coverage.partial;
    seen.idle_fired += outcome.coverage.idle_fired;
    if (outcome.diff.empty()) continue;
    if (++failures == 1) {
      const Stream small = shrink(c, st, seed, check);
      first = "stream seed " + std::to_string(seed) + " (" + std::to_string(st.items.size()) + " items): " +
              outcome.diff + "\nshrunk to " + std::to_string(small.items.size()) + " items:\n" +
              describe_stream(small) + "which gives: " + check_isolated(c, small, seed, check, kShrinkTimeoutMs).diff;
    }
    if (outcome.hung) {
      first += "\nstream seed " + std::to_string(seed) + " hangs; the other streams of this config were not run";
      break;
    }
  }
  INFO(c.describe());
  INFO(first);
  CHECK(failures == 0);
  if (failures) WARN(c.name << ": " << failures << " of " << c.streams << " streams differ");
  if (check == &check_against_model && failures == 0) {
    // The streams must exercise what the config is about, or passing means little.
    CHECK(seen.windows - seen.partial > 0);
    CHECK(seen.partial > 0);
    CHECK(seen.late > 0);
    if (c.late_emit) CHECK(seen.late_emitted == seen.late);
    if (c.idle > 0) CHECK(seen.idle_fired > 0);
  }
}

Config tumbling(std::string name, Nanos size, Nanos ooo) {
  Config c;
  c.name = std::move(name);
  c.size = size;
  c.hop = size;
  c.ooo = ooo;
  return c;
}

Config hopping(std::string name, Nanos size, Nanos hop, Nanos ooo) {
  Config c = tumbling(std::move(name), size, ooo);
  c.hopping = true;
  c.hop = hop;
  return c;
}

std::vector<Config> tumbling_configs() {
  std::vector<Config> out;
  out.push_back(tumbling("tumbling 10s, ooo 2s", 10_s, 2_s));
  out.push_back(tumbling("tumbling 1s, in order, late emit", 1_s, 0));
  out.back().late_emit = true;
  out.push_back(tumbling("tumbling 10s, offset 3s, lateness 5s, late emit", 10_s, 3_s));
  out.back().offset = 3_s;
  out.back().lateness = 5_s;
  out.back().late_emit = true;
  out.push_back(tumbling("tumbling 7s, offset 2500ms, lateness 1500ms", 7_s, 4_s));
  out.back().offset = 2500_ms;
  out.back().lateness = 1500_ms;
  out.push_back(tumbling("tumbling 250ms, ooo 1s, late emit", 250_ms, 1_s));
  out.back().late_emit = true;
  out.push_back(tumbling("tumbling 10s, offset 13s (more than the size)", 10_s, 1_s));
  out.back().offset = 13_s;
  out.push_back(tumbling("tumbling 3s around the epoch (negative times), offset 1s, late emit", 3_s, 2_s));
  out.back().base = 0;
  out.back().offset = 1_s;
  out.back().late_emit = true;
  out.push_back(tumbling("tumbling 1s, ooo 30s, lateness 25s (both longer than the window), late emit", 1_s, 30_s));
  out.back().lateness = 25_s;
  out.back().late_emit = true;
  return out;
}

std::vector<Config> idle_configs() {
  std::vector<Config> out;
  out.push_back(tumbling("tumbling 10s, idle 30s", 10_s, 2_s));
  out.back().idle = 30_s;
  out.push_back(tumbling("tumbling 5s, idle 8s, late emit, lateness 2s", 5_s, 1_s));
  out.back().idle = 8_s;
  out.back().late_emit = true;
  out.back().lateness = 2_s;
  out.push_back(hopping("hopping 10s/5s, idle 20s, late emit", 10_s, 5_s, 2_s));
  out.back().idle = 20_s;
  out.back().late_emit = true;
  out.push_back(hopping("hopping 10s/1s, idle 15s, 8 keys of capacity", 10_s, 1_s, 1_s));
  out.back().idle = 15_s;
  out.back().max_keys = 8;
  out.back().streams = 80;
  return out;
}

std::vector<Config> hopping_configs() {
  std::vector<Config> out;
  out.push_back(hopping("hopping 10s/5s, ooo 2s", 10_s, 5_s, 2_s));
  out.push_back(hopping("hopping 10s/2s, offset 1s, lateness 3s, late emit", 10_s, 2_s, 3_s));
  out.back().offset = 1_s;
  out.back().lateness = 3_s;
  out.back().late_emit = true;
  out.push_back(hopping("hopping 10s/10s (hop = size), late emit", 10_s, 10_s, 1_s));
  out.back().late_emit = true;
  out.push_back(hopping("hopping 12s/3s, offset 1s, in order, late emit", 12_s, 3_s, 0));
  out.back().offset = 1_s;
  out.back().late_emit = true;
  out.push_back(hopping("hopping 6s/2s around the epoch (negative times), lateness 7s, late emit", 6_s, 2_s, 1_s));
  out.back().base = 0;
  out.back().lateness = 7_s;
  out.back().late_emit = true;
  return out;
}

std::vector<Config> watermark_configs() {
  std::vector<Config> out;
  out.push_back(tumbling("tumbling 10s, in-band watermarks, late emit", 10_s, 2_s));
  out.back().watermarks = true;
  out.back().late_emit = true;
  out.push_back(hopping("hopping 10s/5s, in-band watermarks, lateness 2s", 10_s, 5_s, 1_s));
  out.back().watermarks = true;
  out.back().lateness = 2_s;
  out.push_back(tumbling("tumbling 10s, per-source watermark, late emit", 10_s, 2_s));
  out.back().per_source = true;
  out.back().late_emit = true;
  out.push_back(hopping("hopping 10s/4s, per-source watermark, in-band watermarks", 10_s, 4_s, 3_s));
  out.back().per_source = true;
  out.back().watermarks = true;
  out.push_back(tumbling("tumbling 5s, per-source watermark, idle 8s, late emit", 5_s, 1_s));
  out.back().per_source = true;
  out.back().idle = 8_s;
  out.back().late_emit = true;
  return out;
}

std::vector<Config> uneven_hopping_configs() {
  std::vector<Config> out;
  out.push_back(hopping("hopping 10s/4s (size not a multiple of hop)", 10_s, 4_s, 2_s));
  out.push_back(hopping("hopping 9s/6s, offset 4s, lateness 1s, late emit", 9_s, 6_s, 3_s));
  out.back().offset = 4_s;
  out.back().lateness = 1_s;
  out.back().late_emit = true;
  return out;
}

}  // namespace

TEST_CASE("tumbling windows match a naive recomputation on random streams", "[operators][tumbling]") {
  for (const auto& c : tumbling_configs()) {
    DYNAMIC_SECTION(c.name) { run_streams(c, &check_against_model, 1); }
  }
}

TEST_CASE("hopping windows whose size is a multiple of the hop match a naive recomputation on random streams",
          "[operators][hopping]") {
  for (const auto& c : hopping_configs()) {
    DYNAMIC_SECTION(c.name) { run_streams(c, &check_against_model, 2); }
  }
}

TEST_CASE("hopping windows whose size is not a multiple of the hop match a naive recomputation on random streams",
          "[operators][hopping]") {
  for (const auto& c : uneven_hopping_configs()) {
    DYNAMIC_SECTION(c.name) { run_streams(c, &check_against_model, 3); }
  }
}

TEST_CASE("idle keys close their windows as a naive recomputation says on random streams with ticks",
          "[operators][tumbling][hopping]") {
  for (const auto& c : idle_configs()) {
    DYNAMIC_SECTION(c.name) { run_streams(c, &check_against_model, 4); }
  }
}

TEST_CASE("in-band and per-source watermarks close windows as a naive recomputation says on random streams",
          "[operators][tumbling][hopping]") {
  for (const auto& c : watermark_configs()) {
    DYNAMIC_SECTION(c.name) { run_streams(c, &check_against_model, 8); }
  }
}

TEST_CASE("the output does not depend on how whole records and ticks are batched into process() calls",
          "[operators][tumbling][hopping]") {
  std::vector<Config> configs = idle_configs();
  configs.push_back(watermark_configs()[0]);
  configs.push_back(tumbling_configs()[2]);
  configs.push_back(hopping_configs()[1]);
  for (auto& c : configs) {
    c.streams = 60;
    DYNAMIC_SECTION(c.name) { run_streams(c, &check_batching, 5); }
  }
}

TEST_CASE("restoring a snapshot taken at any point continues with the output of an uninterrupted operator",
          "[operators][tumbling][hopping]") {
  std::vector<Config> configs = tumbling_configs();
  for (const auto& c : hopping_configs()) configs.push_back(c);
  for (const auto& c : uneven_hopping_configs()) configs.push_back(c);
  configs.push_back(watermark_configs()[2]);
  for (auto& c : configs) {
    c.streams = 50;
    DYNAMIC_SECTION(c.name) { run_streams(c, &check_snapshot, 7); }
  }
}

TEST_CASE("2 or 4 workers give exactly the output of one worker on random streams",
          "[operators][tumbling][hopping][workers]") {
  std::vector<Config> configs = idle_configs();
  for (const auto& c : tumbling_configs()) configs.push_back(c);
  for (const auto& c : hopping_configs()) configs.push_back(c);
  configs.push_back(uneven_hopping_configs()[1]);
  configs.push_back(watermark_configs()[0]);
  configs.push_back(watermark_configs()[1]);
  for (auto& c : configs) {
    c.streams = 30;
    DYNAMIC_SECTION(c.name) { run_streams(c, &check_workers, 9); }
  }
}

}  // namespace vigil::test
