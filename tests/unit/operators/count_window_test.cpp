// Count windows: configuration, hand-worked cases, and a differential test against a naive model
// on thousands of seeded random streams.
//
// The model shares no code with the operator. It keeps every raw record of a key in arrival order
// and applies docs/windows.md: after every `every` records of a key it emits the last
// min(n, size) of them (n: records of the key so far), with start and end the earliest and latest
// event time among them; watermarks, ticks and event-time order do not matter; at the end of
// input the records since a key's last emission form an incomplete window, counted
// (counters().incomplete), not emitted. Aggregates are computed from the raw values in long
// double.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "allocation_counter.hpp"
#include "window_harness.hpp"
#include "window_steady_state.hpp"

namespace vigil::test {
namespace {

using namespace literals;
using runtime::Nanos;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Nanos at(Nanos offset) { return kT0 + offset; }

std::string window_error(const char* window) {
  WindowHarness h(window, "[count, mean(temp)]");
  CHECK_FALSE(h.ok());
  return h.errors();
}

// ---------------------------------------------------------------------------------------------
// Configuration.

TEST_CASE("a count window without a size says which key is missing", "[operators][count][config]") {
  CHECK(window_error("{type: count}") ==
        "window.yaml:1:1: pipelines[0].window: missing key \"size\" (Records per window (arrival order, per key).)");
}

TEST_CASE("a count window with an unknown key lists the valid ones", "[operators][count][config]") {
  CHECK(window_error("{type: count, size: 5, evry: 2}") ==
        "window.yaml:1:24: pipelines[0].window: unknown key \"evry\" (did you mean \"every\"?); valid keys: "
        "type, size, every");
}

TEST_CASE("a count window of size 0 or every 0 is out of range", "[operators][count][config]") {
  CHECK(window_error("{type: count, size: 0}") ==
        "window.yaml:1:21: pipelines[0].window.size: 0 is out of range; use a value from 1 to 1000000");
  CHECK(window_error("{type: count, size: 5, every: 0}") ==
        "window.yaml:1:31: pipelines[0].window.every: 0 is out of range; use a value from 1 to 1000000");
}

TEST_CASE("a count window whose size and every need too many panes is refused", "[operators][count][config]") {
  CHECK(window_error("{type: count, size: 1000000, every: 999999}") ==
        "window.yaml:1:37: pipelines[0].window.every: size / gcd(size, every) exceeds 100000 panes; choose an "
        "`every` that divides size more evenly");
}

// ---------------------------------------------------------------------------------------------
// Hand-worked cases.

TEST_CASE("a tumbling count window emits every size records - the rest at the end is counted, not emitted",
          "[operators][count]") {
  WindowHarness h("{type: count, size: 3}", "[count, sum(temp), first(temp), last(temp)]");
  REQUIRE(h.ok());
  // Event times out of order on purpose: count windows go by arrival; start/end are the
  // earliest and latest event time in the window.
  const Nanos times[] = {5_s, 1_s, 3_s, 9_s, 7_s, 8_s, 2_s};
  for (int i = 0; i < 7; ++i) h.record("a", at(times[i]), {{"temp", static_cast<double>(i + 1)}});
  REQUIRE(h.summaries().size() == 2);
  const auto& w1 = h.summaries()[0];  // records 1, 2, 3
  CHECK(w1.start == at(1_s));
  CHECK(w1.end == at(5_s));
  CHECK(w1.count == 3);
  CHECK(h.value(w1, "temp_sum") == 6);
  CHECK(h.value(w1, "temp_first") == 2);  // earliest event time (1s), not first to arrive
  CHECK(h.value(w1, "temp_last") == 1);   // latest event time (5s)
  const auto& w2 = h.summaries()[1];      // records 4, 5, 6
  CHECK(w2.start == at(7_s));
  CHECK(w2.end == at(9_s));
  CHECK(h.value(w2, "temp_sum") == 15);
  CHECK_FALSE(w2.partial());
  h.flush();
  CHECK(h.summaries().size() == 2);  // record 7 alone is an incomplete window
  CHECK(h.counters().incomplete.get() == 1);
  CHECK(h.counters().partial.get() == 0);
  CHECK(h.counters().windows.get() == 2);
  CHECK(h.counters().records.get() == 7);
}

TEST_CASE("a count window of size 3 every 2 emits the last min(n, 3) records after every second one",
          "[operators][count]") {
  WindowHarness h("{type: count, size: 3, every: 2}", "[count, sum(temp), min(temp)]");
  REQUIRE(h.ok());
  for (int i = 1; i <= 7; ++i) h.record("a", at(i * 1_s), {{"temp", static_cast<double>(i)}});
  // After 2: records 1-2 (n = 2 < size). After 4: records 2-4. After 6: records 4-6.
  REQUIRE(h.summaries().size() == 3);
  const auto& s = h.summaries();
  CHECK(s[0].count == 2);
  CHECK(s[0].start == at(1_s));
  CHECK(s[0].end == at(2_s));
  CHECK(h.value(s[0], "temp_sum") == 3);
  CHECK(s[1].count == 3);
  CHECK(s[1].start == at(2_s));
  CHECK(s[1].end == at(4_s));
  CHECK(h.value(s[1], "temp_sum") == 9);
  CHECK(h.value(s[1], "temp_min") == 2);
  CHECK(s[2].count == 3);
  CHECK(s[2].start == at(4_s));
  CHECK(s[2].end == at(6_s));
  CHECK(h.value(s[2], "temp_sum") == 15);
  h.flush();
  CHECK(h.summaries().size() == 3);
  CHECK(h.counters().incomplete.get() == 1);  // record 7
}

TEST_CASE("a count window with every above size skips the records in between", "[operators][count]") {
  WindowHarness h("{type: count, size: 2, every: 3}", "[count, sum(temp)]");
  REQUIRE(h.ok());
  for (int i = 1; i <= 6; ++i) h.record("a", at(i * 1_s), {{"temp", static_cast<double>(i)}});
  REQUIRE(h.summaries().size() == 2);
  CHECK(h.value(h.summaries()[0], "temp_sum") == 2 + 3);
  CHECK(h.summaries()[0].start == at(2_s));
  CHECK(h.value(h.summaries()[1], "temp_sum") == 5 + 6);
  CHECK(h.summaries()[1].start == at(5_s));
  h.flush();
  CHECK(h.counters().incomplete.get() == 0);  // 6 records: nothing since the last emission
}

TEST_CASE("count windows count each key on its own and emit in arrival order", "[operators][count]") {
  WindowHarness h("{type: count, size: 2}", "[count, sum(temp)]");
  REQUIRE(h.ok());
  h.record("a", at(0_s), {{"temp", 1}});
  h.record("b", at(0_s), {{"temp", 10}});
  h.record("b", at(1_s), {{"temp", 20}});  // b's window
  h.record("a", at(1_s), {{"temp", 2}});   // a's window
  h.record("a", at(2_s), {{"temp", 3}});
  REQUIRE(h.summaries().size() == 2);
  CHECK(h.summaries()[0].key == "b");
  CHECK(h.value(h.summaries()[0], "temp_sum") == 30);
  CHECK(h.summaries()[1].key == "a");
  CHECK(h.value(h.summaries()[1], "temp_sum") == 3);
  h.flush();
  CHECK(h.counters().incomplete.get() == 1);  // a's third record
}

TEST_CASE("count windows ignore watermarks, ticks and how far behind a record is", "[operators][count]") {
  WindowOptions o;
  o.idle_timeout = 1_s;
  WindowHarness h("{type: count, size: 2}", "[count, sum(temp)]", o);
  REQUIRE(h.ok());
  h.tick(at(0_s));
  h.record("a", at(100_s), {{"temp", 1}});
  runtime::Event wm;
  wm.kind = runtime::EventKind::watermark;
  wm.flags = runtime::kAllKeys;
  wm.time = at(1000_s);
  h.process({&wm, 1});
  h.tick(at(500_s));  // a idle for far longer than idle_timeout
  CHECK(h.summaries().empty());
  h.record("a", at(0_s), {{"temp", 2}});  // far behind: still the second record
  REQUIRE(h.summaries().size() == 1);
  CHECK(h.summaries()[0].count == 2);
  CHECK(h.summaries()[0].start == at(0_s));
  CHECK(h.summaries()[0].end == at(100_s));
  CHECK(h.value(h.summaries()[0], "temp_sum") == 3);
  CHECK(h.counters().late.get() == 0);
}

TEST_CASE("a count window counts records, not values: a record with several fields is one",
          "[operators][count]") {
  WindowHarness h("{type: count, size: 2}", "[count, count(temp), count(vib), sum(vib)]");
  REQUIRE(h.ok());
  h.record("a", at(0_s), {{"temp", 1}, {"vib", 0.5}});
  h.record("a", at(1_s), {{"aux", 7}, {"vib", 0.25}});
  REQUIRE(h.summaries().size() == 1);
  CHECK(h.summaries()[0].count == 2);
  CHECK(h.value(h.summaries()[0], "temp_count") == 1);
  CHECK(h.value(h.summaries()[0], "vib_count") == 2);
  CHECK(h.value(h.summaries()[0], "vib_sum") == 0.75);
}

// Allocation: the steady state allocates nothing (schedule in window_steady_state.hpp).

TEST_CASE("count windows allocate nothing in the steady state", "[operators][count][alloc]") {
  const char* window = GENERATE("{type: count, size: 5, every: 2}", "{type: count, size: 100}",
                                "{type: count, size: 3, every: 7}");
  INFO(window);
  WindowOptions o;
  o.max_keys = 128;
  WindowHarness h(window, "[count, mean(temp), min(temp), max(temp), stddev(temp), kurtosis(vib), first(vib)]", o);
  REQUIRE(h.ok());
  const SteadyState r = run_steady_state(h);
  CHECK(r.allocations == 0);
  CHECK(r.summaries > 4'000);  // windows did fire in the measured part
}

// ---------------------------------------------------------------------------------------------
// The differential test.

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {  // splitmix64
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::int64_t below(std::int64_t n) { return static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(n)); }
  std::int64_t range(std::int64_t lo, std::int64_t hi) { return hi <= lo ? lo : lo + below(hi - lo + 1); }
  bool percent(int p) { return below(100) < p; }

 private:
  std::uint64_t s_;
};

struct Rec {
  int key = 0;
  Nanos t = 0;
  std::optional<double> temp;
  std::optional<double> vib;
  bool aux_first = false;    // the record starts with a field nothing aggregates
  bool new_batch = false;    // starts a new process() call
  bool control_before = false;  // a tick and a watermark for every key precede it
};

// Every aggregate function on temp; a few on vib (a field with other needs next to it).
constexpr const char* kAggregates =
    "[count, count(temp), sum(temp), mean(temp), min(temp), max(temp), first(temp), last(temp),"
    " stddev(temp), kurtosis(temp), rms(temp), variance(temp), stddev_pop(temp), variance_pop(temp),"
    " peak_to_peak(temp), rate(temp), skewness(temp), crest_factor(temp),"
    " mean(vib), first(vib), last(vib), rate(vib)]";

// exact; relative 1e-9; near_zero: relative 1e-9 or absolute 1e-9 (skewness of a symmetric
// sample is 0 up to rounding).
enum class Cmp { exact, relative, near_zero };
struct Col {
  const char* name;
  Cmp cmp;
};
constexpr Col kCols[] = {
    {"temp_count", Cmp::exact},      {"temp_sum", Cmp::relative},  {"temp_mean", Cmp::relative},
    {"temp_min", Cmp::exact},        {"temp_max", Cmp::exact},     {"temp_first", Cmp::exact},
    {"temp_last", Cmp::exact},       {"temp_stddev", Cmp::relative}, {"temp_kurtosis", Cmp::relative},
    {"temp_rms", Cmp::relative},     {"temp_variance", Cmp::relative}, {"temp_stddev_pop", Cmp::relative},
    {"temp_variance_pop", Cmp::relative}, {"temp_peak_to_peak", Cmp::exact}, {"temp_rate", Cmp::relative},
    {"temp_skewness", Cmp::near_zero}, {"temp_crest_factor", Cmp::relative},
    {"vib_mean", Cmp::relative},     {"vib_first", Cmp::exact},    {"vib_last", Cmp::exact},
    {"vib_rate", Cmp::relative},
};
constexpr std::size_t kColCount = std::size(kCols);

struct Series {
  std::size_t n = 0;
  long double sum = 0, sumsq = 0, m2 = 0, m3 = 0, m4 = 0;
  double min = kNaN, max = kNaN, first = kNaN, last = kNaN;
  Nanos first_t = 0, last_t = 0;
};

// Statistics of one field over records given in arrival order.
Series series(const std::vector<const Rec*>& recs, bool temp) {
  Series s;
  std::vector<double> xs;
  for (const Rec* r : recs) {
    const auto& v = temp ? r->temp : r->vib;
    if (!v) continue;
    const double x = *v;
    if (s.n == 0 || x < s.min) s.min = x;
    if (s.n == 0 || x > s.max) s.max = x;
    if (s.n == 0 || r->t < s.first_t) s.first_t = r->t, s.first = x;  // ties: first to arrive
    if (s.n == 0 || r->t >= s.last_t) s.last_t = r->t, s.last = x;    // ties: last to arrive
    s.sum += x;
    s.sumsq += static_cast<long double>(x) * x;
    xs.push_back(x);
    ++s.n;
  }
  if (s.n > 0 && s.min != s.max) {
    const long double mean = s.sum / static_cast<long double>(s.n);
    for (double x : xs) {
      const long double d = x - mean;
      s.m2 += d * d;
      s.m3 += d * d * d;
      s.m4 += d * d * d * d;
    }
  }
  return s;
}

double rate(const Series& s) {
  if (s.n == 0 || s.last_t == s.first_t) return kNaN;
  return static_cast<double>((static_cast<long double>(s.last) - s.first) /
                             (static_cast<long double>(s.last_t - s.first_t) / 1e9L));
}

std::vector<double> expected_values(const std::vector<const Rec*>& recs) {
  const Series t = series(recs, true);
  const Series v = series(recs, false);
  const auto n = static_cast<long double>(t.n);
  std::vector<double> out;
  out.push_back(static_cast<double>(t.n));
  out.push_back(static_cast<double>(t.sum));
  out.push_back(t.n ? static_cast<double>(t.sum / n) : kNaN);
  out.push_back(t.min);
  out.push_back(t.max);
  out.push_back(t.first);
  out.push_back(t.last);
  out.push_back(t.n < 2 ? kNaN : static_cast<double>(std::sqrt(t.m2 / (n - 1))));
  out.push_back(t.m2 <= 0 ? kNaN : static_cast<double>(n * t.m4 / (t.m2 * t.m2)));
  const long double rms = std::sqrt(t.sumsq / n);
  out.push_back(t.n ? static_cast<double>(rms) : kNaN);
  out.push_back(t.n < 2 ? kNaN : static_cast<double>(t.m2 / (n - 1)));
  out.push_back(t.n ? static_cast<double>(std::sqrt(t.m2 / n)) : kNaN);
  out.push_back(t.n ? static_cast<double>(t.m2 / n) : kNaN);
  out.push_back(t.n ? t.max - t.min : kNaN);
  out.push_back(rate(t));
  out.push_back(t.m2 <= 0 ? kNaN : static_cast<double>(std::sqrt(n) * t.m3 / std::pow(t.m2, 1.5L)));
  out.push_back(t.n == 0 || rms <= 0 ? kNaN
                                     : static_cast<double>(std::max(std::fabs(t.min), std::fabs(t.max)) / rms));
  out.push_back(v.n ? static_cast<double>(v.sum / static_cast<long double>(v.n)) : kNaN);
  out.push_back(v.first);
  out.push_back(v.last);
  out.push_back(rate(v));
  return out;
}

std::string key_name(int k) { return "k" + std::to_string(k + 1); }

std::string rel(Nanos t) {
  const Nanos d = t - kT0;
  const Nanos a = d < 0 ? -d : d;
  std::ostringstream s;
  s << (d < 0 ? "-" : "+") << a / runtime::kNanosPerSecond;
  if (Nanos frac = a % runtime::kNanosPerSecond) {
    std::string f = std::to_string(frac);
    f = std::string(9 - f.size(), '0') + f;
    while (f.back() == '0') f.pop_back();
    s << "." << f;
  }
  s << "s";
  return s.str();
}

struct Out {
  std::string key;
  std::uint64_t rank = 0;
  Nanos start = 0;
  Nanos end = 0;
  std::uint64_t count = 0;
  std::uint8_t flags = 0;
  std::vector<double> values;  // kCols order
};

std::string describe(const Out& o) {
  std::ostringstream s;
  s.precision(17);
  s << o.key << " [" << rel(o.start) << ", " << rel(o.end) << "] count " << o.count;
  if (o.flags) s << " flags " << static_cast<int>(o.flags);
  for (std::size_t c = 0; c < o.values.size() && c < kColCount; ++c) s << " " << kCols[c].name << "=" << o.values[c];
  return s.str();
}

bool same_value(double want, double got, Cmp cmp) {
  if (std::isnan(want) || std::isnan(got)) return std::isnan(want) && std::isnan(got);
  if (cmp == Cmp::exact) return want == got;
  const double diff = std::fabs(want - got);
  if (cmp == Cmp::near_zero && diff <= 1e-9) return true;
  return diff <= 1e-9 * std::max(std::fabs(want), std::fabs(got));
}

struct Result {
  std::vector<Out> out;
  std::uint64_t records = 0;
  std::uint64_t incomplete = 0;
  std::uint64_t windows = 0;  // operator only: counters().windows, .partial, .late
  std::uint64_t partial = 0;
  std::uint64_t late = 0;
};

struct CountParams {
  std::int64_t size = 1;
  std::int64_t every = 1;
  std::string window_yaml() const {
    return "{type: count, size: " + std::to_string(size) + ", every: " + std::to_string(every) + "}";
  }
};

Result count_model(const CountParams& p, const std::vector<Rec>& recs) {
  struct Key {
    bool seen = false;
    std::uint64_t rank = 0;
    std::vector<const Rec*> arrivals;
  };
  std::vector<Key> keys(64);
  std::uint64_t next_rank = 0;
  Result r;
  for (const Rec& rec : recs) {
    Key& k = keys[static_cast<std::size_t>(rec.key)];
    if (!k.seen) k.seen = true, k.rank = next_rank++;
    k.arrivals.push_back(&rec);
    ++r.records;
    const auto n = static_cast<std::int64_t>(k.arrivals.size());
    if (n % p.every != 0) continue;
    const std::vector<const Rec*> window(k.arrivals.end() - std::min(n, p.size), k.arrivals.end());
    Nanos start = window.front()->t, end = window.front()->t;
    for (const Rec* x : window) start = std::min(start, x->t), end = std::max(end, x->t);
    r.out.push_back(Out{key_name(rec.key), k.rank, start, end, window.size(), 0, expected_values(window)});
  }
  for (const auto& k : keys)
    if (k.seen && static_cast<std::int64_t>(k.arrivals.size()) % p.every != 0) ++r.incomplete;
  return r;
}

Result run_operator(const CountParams& p, const std::vector<Rec>& recs) {
  WindowOptions o;
  o.max_keys = 16;
  WindowHarness h(p.window_yaml(), kAggregates, o);
  if (!h.ok()) FAIL("the window does not build: " << h.errors());
  int cols[kColCount];
  for (std::size_t c = 0; c < kColCount; ++c) {
    cols[c] = h.column(kCols[c].name);
    REQUIRE(cols[c] >= 0);
  }
  std::vector<runtime::Event> events;
  Nanos clock = kT0;
  for (const Rec& rec : recs) {
    if (rec.new_batch && !events.empty()) {
      h.process(events);
      events.clear();
    }
    if (rec.control_before) {
      clock = std::max(clock, rec.t);
      events.push_back(WindowHarness::tick_event(clock));
      runtime::Event wm;
      wm.kind = runtime::EventKind::watermark;
      wm.flags = runtime::kAllKeys;
      wm.time = clock;
      events.push_back(wm);
    }
    FieldValue values[3];
    std::size_t n = 0;
    if (rec.aux_first || (!rec.temp && !rec.vib)) values[n++] = {"aux", 1.0};
    if (rec.temp) values[n++] = {"temp", *rec.temp};
    if (rec.vib) values[n++] = {"vib", *rec.vib};
    h.append_record(events, key_name(rec.key), rec.t, std::span<const FieldValue>(values, n));
  }
  h.process(events);
  h.flush();
  Result r;
  for (const auto& s : h.summaries()) {
    Out out{s.key, s.key_rank, s.start, s.end, s.count, s.flags, {}};
    for (std::size_t c = 0; c < kColCount; ++c) out.values.push_back(s.values[static_cast<std::size_t>(cols[c])]);
    r.out.push_back(std::move(out));
  }
  r.records = h.counters().records.get();
  r.incomplete = h.counters().incomplete.get();
  r.windows = h.counters().windows.get();
  r.partial = h.counters().partial.get();
  r.late = h.counters().late.get() + h.counters().late_emitted.get();
  return r;
}

// Empty when they agree.
std::string difference(const Result& want, const Result& got) {
  std::ostringstream s;
  if (want.records != got.records) s << "records counter: expected " << want.records << ", got " << got.records << "\n";
  if (want.incomplete != got.incomplete)
    s << "incomplete counter: expected " << want.incomplete << ", got " << got.incomplete << "\n";
  if (got.windows != got.out.size()) s << "windows counter " << got.windows << " but " << got.out.size() << " came out\n";
  if (got.partial != 0 || got.late != 0) s << "partial/late counters: " << got.partial << "/" << got.late << "\n";
  const std::size_t n = std::max(want.out.size(), got.out.size());
  std::size_t first_bad = n;
  for (std::size_t i = 0; i < n && first_bad == n; ++i) {
    if (i >= want.out.size() || i >= got.out.size()) {
      first_bad = i;
      break;
    }
    const Out& a = want.out[i];
    const Out& b = got.out[i];
    bool same = a.key == b.key && a.rank == b.rank && a.start == b.start && a.end == b.end && a.count == b.count &&
                a.flags == b.flags && a.values.size() == b.values.size();
    for (std::size_t c = 0; same && c < kColCount; ++c) same = same_value(a.values[c], b.values[c], kCols[c].cmp);
    if (!same) first_bad = i;
  }
  if (first_bad != n) {
    s << "summaries differ from #" << first_bad << "\nexpected:\n";
    for (const auto& o : want.out) s << "  " << describe(o) << "\n";
    s << "got:\n";
    for (const auto& o : got.out) s << "  " << describe(o) << "\n";
  }
  return s.str();
}

std::string describe(const std::vector<Rec>& recs) {
  std::ostringstream s;
  s.precision(17);
  for (const auto& r : recs) {
    s << "  " << (r.new_batch ? "| " : "  ") << key_name(r.key) << " " << rel(r.t);
    if (r.temp) s << " temp=" << *r.temp;
    if (r.vib) s << " vib=" << *r.vib;
    if (!r.temp && !r.vib) s << " aux=1";
    if (r.control_before) s << " (tick and watermark before)";
    s << "\n";
  }
  return s.str();
}

std::vector<Rec> generate(std::uint64_t seed, int max_records) {
  Rng rng(seed);
  const int keys = static_cast<int>(rng.range(1, 6));
  const int count = static_cast<int>(rng.range(1, max_records));
  std::vector<Rec> recs;
  std::vector<Nanos> clock(static_cast<std::size_t>(keys), kT0);
  for (int i = 0; i < count; ++i) {
    Rec r;
    r.key = static_cast<int>(rng.below(keys));
    Nanos& c = clock[static_cast<std::size_t>(r.key)];
    switch (rng.below(6)) {
      case 0: r.t = c; break;                              // same time as the key's last
      case 1: r.t = c - rng.range(1, 60_s); break;         // behind: order does not matter
      case 2: r.t = c + rng.range(1, 5) * 1_ms; break;
      default: r.t = c + rng.range(1, 10_s); break;
    }
    c = std::max(c, r.t);
    if (rng.percent(85)) {
      r.temp = rng.percent(10) ? 15.0 + static_cast<double>(rng.next() >> 11) * 0x1.0p-53 * 10.0
                               : 20.0 + static_cast<double>(rng.range(-40, 40)) / 8.0;
    }
    if (rng.percent(70)) r.vib = static_cast<double>(rng.range(0, 32)) / 16.0;
    r.aux_first = rng.percent(5);
    r.new_batch = rng.percent(30);
    r.control_before = rng.percent(5);
    recs.push_back(r);
  }
  return recs;
}

template <class Fails>
std::vector<Rec> shrink(std::vector<Rec> recs, Fails fails) {
  for (std::size_t chunk = std::max<std::size_t>(recs.size() / 2, 1);; chunk = std::max<std::size_t>(chunk / 2, 1)) {
    bool removed = false;
    for (std::size_t at = 0; at < recs.size();) {
      std::vector<Rec> trial;
      for (std::size_t i = 0; i < recs.size(); ++i)
        if (i < at || i >= at + chunk) trial.push_back(recs[i]);
      if (!trial.empty() && fails(trial)) {
        recs = std::move(trial);
        removed = true;
      } else {
        at += chunk;
      }
    }
    if (chunk == 1 && !removed) break;
  }
  std::vector<Rec> plain = recs;
  for (auto& r : plain) r.new_batch = true, r.control_before = false;
  if (fails(plain)) recs = std::move(plain);
  return recs;
}

void check_random_streams(const CountParams& p, int streams, int max_records, std::uint64_t seed0) {
  for (int n = 0; n < streams; ++n) {
    const std::uint64_t seed = seed0 * 1'000'003 + static_cast<std::uint64_t>(n);
    const auto recs = generate(seed, max_records);
    const std::string diff = difference(count_model(p, recs), run_operator(p, recs));
    if (diff.empty()) continue;
    auto fails = [&](const std::vector<Rec>& trial) {
      return !difference(count_model(p, trial), run_operator(p, trial)).empty();
    };
    const auto small = shrink(recs, fails);
    FAIL_CHECK("window " << p.window_yaml() << "\nseed " << seed << ": " << recs.size()
                         << " records disagree with the model; shrunk to " << small.size()
                         << " (| = new process() call):\n"
                         << describe(small) << difference(count_model(p, small), run_operator(p, small)));
    return;  // one reproduction per configuration is enough
  }
}

TEST_CASE("tumbling count windows (every = size) match a naive model on random streams", "[operators][count]") {
  for (std::int64_t size : {1, 2, 3, 7}) {
    DYNAMIC_SECTION("size " << size) { check_random_streams({size, size}, 100, 200, 100 + static_cast<std::uint64_t>(size)); }
  }
}

TEST_CASE("count windows with every dividing size match a naive model on random streams", "[operators][count]") {
  for (auto [size, every] : {std::pair<std::int64_t, std::int64_t>{4, 2}, {6, 3}, {6, 1}, {12, 4}}) {
    DYNAMIC_SECTION("size " << size << " every " << every) {
      check_random_streams({size, every}, 100, 200, 200 + static_cast<std::uint64_t>(size * 31 + every));
    }
  }
}

TEST_CASE("count windows with every below size, not dividing it, match a naive model on random streams",
          "[operators][count]") {
  for (auto [size, every] : {std::pair<std::int64_t, std::int64_t>{3, 2}, {5, 2}, {7, 3}, {10, 4}, {9, 6}}) {
    DYNAMIC_SECTION("size " << size << " every " << every) {
      check_random_streams({size, every}, 100, 200, 300 + static_cast<std::uint64_t>(size * 31 + every));
    }
  }
}

TEST_CASE("count windows with every above size match a naive model on random streams", "[operators][count]") {
  for (auto [size, every] : {std::pair<std::int64_t, std::int64_t>{1, 3}, {2, 3}, {3, 5}, {4, 6}, {2, 7}}) {
    DYNAMIC_SECTION("size " << size << " every " << every) {
      check_random_streams({size, every}, 100, 200, 400 + static_cast<std::uint64_t>(size * 31 + every));
    }
  }
}

TEST_CASE("large count windows match a naive model on long random streams", "[operators][count]") {
  for (auto [size, every] : {std::pair<std::int64_t, std::int64_t>{50, 15}, {64, 64}, {40, 100}}) {
    DYNAMIC_SECTION("size " << size << " every " << every) {
      check_random_streams({size, every}, 25, 1200, 500 + static_cast<std::uint64_t>(size * 31 + every));
    }
  }
}

}  // namespace
}  // namespace vigil::test
