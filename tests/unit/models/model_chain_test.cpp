// The `model:` block of a pipeline: the chain built from YAML, run on hand-made feature vectors
// and checked against the numerical core called directly.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "allocation_counter.hpp"
#include "model_test_data.hpp"
#include "vigil/models/baseline.hpp"
#include "vigil/models/control_charts.hpp"
#include "vigil/models/mahalanobis.hpp"
#include "vigil/models/models.hpp"
#include "vigil/models/model_file.hpp"
#include "vigil/models/pca_anomaly.hpp"
#include "vigil/models/rul.hpp"
#include "vigil/models/vibration.hpp"
#include "vigil/runtime/model_chain.hpp"

namespace vigil::models {
namespace {

using runtime::ModelChain;
using runtime::Summary;
using runtime::SummarySchema;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

runtime::Registry& registry() {
  static runtime::Registry r = [] {
    runtime::Registry reg;
    register_models(reg);
    return reg;
  }();
  return r;
}

/// A chain built from `model_yaml` (the value of `model:`, written after "model:") for a window
/// with `columns`; errors are kept in `errors`.
struct Chain {
  SummarySchema schema;
  runtime::ConfigNode root;
  runtime::Diagnostics diag;
  runtime::FieldTable fields;
  std::unique_ptr<ModelChain> chain;
  std::string errors;

  /// `source_fields`: the fields the sources read (raw-sample models name one).
  Chain(const std::string& model_yaml, std::vector<std::string> columns, std::size_t max_keys = 8,
        std::int64_t max_state = std::int64_t{1} << 30, std::size_t window_bytes = 0,
        const std::vector<std::string>& source_fields = {}) {
    for (const auto& f : source_fields) fields.intern(f);
    schema = SummarySchema{"p", 0, std::move(columns)};
    auto node = runtime::load_config_text("model: " + model_yaml + "\n", "plant.yaml", ".");
    REQUIRE(node.ok());
    root = std::move(node).value();
    runtime::Limits limits;
    limits.max_keys = max_keys;
    limits.max_state = max_state;
    chain = ModelChain::build(*root.find("model"), schema, registry(), limits, window_bytes, "pipelines[0]", diag, ".",
                              nullptr, &fields);
    errors = diag.str();
  }

  /// Applies the chain to one summary of `slot` with `values`; returns the extended values.
  std::vector<double> apply(std::vector<double> values, std::uint32_t slot = 0, std::uint32_t generation = 0,
                            std::uint8_t flags = 0, runtime::Nanos start = 0, runtime::Nanos end = 0,
                            std::uint64_t count = 0) {
    Summary s;
    s.schema = &schema;
    s.start = start;
    s.end = end;
    s.count = count;
    s.key = {slot, generation};
    s.values = values;
    s.flags = flags;
    chain->apply(s);
    REQUIRE(s.schema == &chain->schema());
    return {s.values.begin(), s.values.end()};
  }
};

/// Deterministic, correlated 3-feature vectors: x, 0.5 x + noise, an independent one.
std::vector<double> vector_at(std::size_t i) {
  const double a = std::sin(0.7 * static_cast<double>(i)) + 0.1 * std::cos(3.1 * static_cast<double>(i));
  const double b = 0.5 * a + 0.2 * std::sin(1.9 * static_cast<double>(i) + 0.3);
  const double c = 10 + std::cos(1.3 * static_cast<double>(i));
  return {a, b, c};
}

std::vector<double> rows(std::size_t from, std::size_t to) {
  std::vector<double> out;
  for (std::size_t i = from; i < to; ++i) {
    const auto v = vector_at(i);
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

}  // namespace

TEST_CASE("pca_anomaly outputs null while learning then the core's T2 Q and anomaly", "[models][chain]") {
  Chain c("{type: pca_anomaly, baseline: {learn: 20}, components: 1, confidence: 0.95}", {"a_mean", "b_mean", "c_mean"});
  REQUIRE(c.chain);
  CHECK(c.chain->schema().columns == std::vector<std::string>{"a_mean", "b_mean", "c_mean", "t2", "q", "anomaly"});
  for (std::size_t i = 0; i < 20; ++i) {
    const auto out = c.apply(vector_at(i));
    CHECK(out[0] == vector_at(i)[0]);
    CHECK(std::isnan(out[3]));
    CHECK(std::isnan(out[5]));
  }
  CHECK(c.chain->counters().learning.get() == 20);

  const auto train = rows(0, 20);
  auto baseline = Baseline::from_samples({train, 20, 3});
  REQUIRE(baseline.ok());
  PcaOptions o;
  o.components = 1;
  o.confidence = 0.95;
  auto direct = PcaAnomaly::fit(*baseline, o);
  REQUIRE(direct.ok());
  std::size_t anomalies = 0;
  for (std::size_t i = 20; i < 60; ++i) {
    auto x = vector_at(i);
    if (i % 10 == 0) x[1] += 3;  // breaks the correlation: Q must flag it
    const auto out = c.apply(x);
    const PcaScore s = direct->score(x);
    CHECK(out[3] == Approx(s.t2).epsilon(1e-9));
    CHECK(out[4] == Approx(s.q).epsilon(1e-9).margin(1e-12));
    CHECK(out[5] == (s.anomaly ? 1.0 : 0.0));
    anomalies += out[5] == 1.0;
  }
  CHECK(anomalies >= 4);
  CHECK(c.chain->counters().scored.get() == 40);
}

TEST_CASE("mahalanobis score is the core's squared distance with the same shrinkage", "[models][chain]") {
  Chain c("{type: mahalanobis, baseline: {learn: 15}, shrinkage: 0.2, features: [c_mean, a_mean]}",
          {"a_mean", "b_mean", "c_mean"});
  REQUIRE(c.chain);
  CHECK(c.chain->schema().columns == std::vector<std::string>{"a_mean", "b_mean", "c_mean", "score", "anomaly"});
  std::vector<double> train;
  for (std::size_t i = 0; i < 15; ++i) {
    c.apply(vector_at(i));
    train.push_back(vector_at(i)[2]);
    train.push_back(vector_at(i)[0]);
  }
  auto baseline = Baseline::from_samples({train, 15, 2});
  REQUIRE(baseline.ok());
  MahalanobisOptions o;
  o.shrinkage = Shrinkage::fixed;
  o.intensity = 0.2;
  auto direct = Mahalanobis::fit(*baseline, o);
  REQUIRE(direct.ok());
  for (std::size_t i = 15; i < 30; ++i) {
    auto x = vector_at(i);
    x[0] += static_cast<double>(i - 15) * 0.5;
    const auto out = c.apply(x);
    const double features[] = {x[2], x[0]};
    const auto s = direct->score(features);
    CHECK(out[3] == Approx(s.d2).epsilon(1e-9));
    CHECK(out[4] == (s.anomaly ? 1.0 : 0.0));
  }
}

TEST_CASE("a chain runs in order and a later model reads an earlier one's output under its as prefix",
          "[models][chain]") {
  Chain c(
      "[{type: pca_anomaly, baseline: {learn: 10}, components: 2, as: pca},\n"
      "  {type: ewma, feature: pca_t2, baseline: {learn: 5}, lambda: 0.5},\n"
      "  {type: cusum, feature: b_mean, baseline: {learn: 5}, as: b}]",
      {"a_mean", "b_mean", "c_mean"});
  REQUIRE(c.chain);
  CHECK(c.chain->schema().columns ==
        std::vector<std::string>{"a_mean", "b_mean", "c_mean", "pca_t2", "pca_q", "pca_anomaly", "ewma", "anomaly",
                                 "b_cusum_hi", "b_cusum_lo", "b_anomaly"});
  EwmaOptions eo;
  eo.lambda = 0.5;
  eo.baseline.learn = 5;
  auto ewma = Ewma::create(eo);
  CusumOptions co;
  co.baseline.learn = 5;
  auto cusum = Cusum::create(co);
  REQUIRE(ewma.ok());
  REQUIRE(cusum.ok());
  for (std::size_t i = 0; i < 40; ++i) {
    const auto out = c.apply(vector_at(i));
    const auto cp = cusum->update(vector_at(i)[1]);
    if (i < 5) {
      CHECK(std::isnan(out[8]));
    } else {
      CHECK(out[8] == Approx(cp.upper));
      CHECK(out[9] == Approx(cp.lower));
      CHECK(out[10] == (cp.alarm ? 1.0 : 0.0));
    }
    if (i < 10) {
      CHECK(std::isnan(out[3]));
      CHECK(std::isnan(out[6]));  // the ewma's input is null: not learned
      continue;
    }
    const auto ep = ewma->update(out[3]);
    if (i < 15) {
      CHECK(std::isnan(out[6]));
    } else {
      CHECK(out[6] == Approx(ep.statistic));
      CHECK(out[7] == (ep.alarm ? 1.0 : 0.0));
    }
  }
}

TEST_CASE("a NaN feature and a late summary are neither learned nor scored", "[models][chain]") {
  Chain c("{type: pca_anomaly, baseline: {learn: 10}, components: 1}", {"a_mean", "b_mean", "c_mean"});
  REQUIRE(c.chain);
  Chain ref("{type: pca_anomaly, baseline: {learn: 10}, components: 1}", {"a_mean", "b_mean", "c_mean"});
  for (std::size_t i = 0; i < 10; ++i) {
    c.apply(vector_at(i));
    ref.apply(vector_at(i));
    auto gap = vector_at(100 + i);
    gap[1] = kNaN;
    const auto out = c.apply(gap);  // would spoil the baseline if it were learned
    CHECK(std::isnan(out[3]));
    c.apply(vector_at(200 + i), 0, 0, runtime::kLate);
  }
  CHECK(c.chain->counters().skipped.get() == 20);
  CHECK(c.chain->counters().learning.get() == 10);
  for (std::size_t i = 10; i < 20; ++i) {
    const auto a = c.apply(vector_at(i));
    const auto b = ref.apply(vector_at(i));
    CHECK(a[3] == b[3]);
    CHECK(a[4] == b[4]);
  }
  const auto late = c.apply(vector_at(30), 0, 0, runtime::kLate);
  CHECK(std::isnan(late[3]));
  CHECK(std::isnan(late[5]));
}

TEST_CASE("each key learns its own baseline and a reused key slot learns again", "[models][chain]") {
  Chain c("{type: ewma, feature: a_mean, baseline: {learn: 3}}", {"a_mean"});
  REQUIRE(c.chain);
  for (double v : {1.0, 2.0, 3.0}) c.apply({v}, 0);
  CHECK_FALSE(std::isnan(c.apply({2.0}, 0)[1]));
  CHECK(std::isnan(c.apply({2.0}, 1)[1]));       // key 1 is still learning
  CHECK(std::isnan(c.apply({2.0}, 0, 1)[1]));    // slot 0 now holds a new key
}

TEST_CASE("the pca median filter needs a majority of the last k decisions", "[models][chain]") {
  Chain c("{type: pca_anomaly, baseline: {learn: 20}, components: 1, filter: 3}", {"a_mean", "b_mean", "c_mean"});
  REQUIRE(c.chain);
  for (std::size_t i = 0; i < 20; ++i) c.apply(vector_at(i));
  auto shifted = [](std::size_t i) {
    auto x = vector_at(i);
    x[1] += 5;
    return x;
  };
  CHECK(c.apply(vector_at(20))[5] == 0);
  CHECK(c.apply(shifted(21))[5] == 0);  // one raw alarm of three
  CHECK(c.apply(shifted(22))[5] == 1);  // two of three
  CHECK(c.apply(vector_at(23))[5] == 1);
  CHECK(c.apply(vector_at(24))[5] == 0);
}

TEST_CASE("the chain allocates nothing once every key is fitted", "[models][chain][alloc]") {
  Chain c(
      "[{type: pca_anomaly, baseline: {learn: 12}, filter: 3}, {type: mahalanobis, baseline: {learn: 12}, as: m},\n"
      " {type: ewma, feature: a_mean, baseline: {learn: 12}, as: e}, {type: cusum, feature: t2, baseline: {learn: 4}, as: c}]",
      {"a_mean", "b_mean", "c_mean"}, 4);
  REQUIRE(c.chain);
  const std::vector<double> inputs = rows(0, 2000);
  std::vector<double> buffer(3);
  Summary s;
  s.schema = &c.schema;
  auto feed = [&](std::size_t i, std::uint32_t slot) {
    std::copy_n(inputs.begin() + static_cast<std::ptrdiff_t>(3 * i), 3, buffer.begin());
    s.values = buffer;
    s.schema = &c.schema;
    s.key = {slot, 0};
    c.chain->apply(s);
  };
  for (std::size_t i = 0; i < 20; ++i)
    for (std::uint32_t k = 0; k < 4; ++k) feed(i + k, k);
  const auto scored = c.chain->counters().scored.get();
  test::AllocationCounter allocs;
  for (std::size_t i = 20; i < 2000; ++i) feed(i, static_cast<std::uint32_t>(i % 4));
  CHECK(allocs.count() == 0);
  CHECK(c.chain->counters().scored.get() == scored + 1980);
}

TEST_CASE("a snapshot restored into a fresh chain gives the same outputs", "[models][chain][checkpoint]") {
  const std::string yaml =
      "[{type: pca_anomaly, baseline: {learn: 12}, filter: 3}, {type: mahalanobis, baseline: {learn: 12}, as: m},\n"
      " {type: ewma, feature: a_mean, baseline: {learn: 6}, as: e}, {type: cusum, feature: c_mean, baseline: {learn: 6}, as: c}]";
  const std::vector<std::string> columns{"a_mean", "b_mean", "c_mean"};
  Chain a(yaml, columns), b(yaml, columns);
  REQUIRE(a.chain);
  REQUIRE(b.chain);
  runtime::KeyTable keys_a(8), keys_b(8);
  const auto m1 = keys_a.intern("m1"), m2 = keys_a.intern("m2");
  for (std::size_t i = 0; i < 16; ++i) a.apply(vector_at(i), m1->index);  // m1 fitted
  for (std::size_t i = 0; i < 8; ++i) a.apply(vector_at(50 + i), m2->index);  // m2 still learning pca
  std::vector<std::byte> saved;
  a.chain->snapshot(keys_a, saved);
  keys_b.intern("other");  // the keys land in different slots in the restored run
  REQUIRE(b.chain->restore(saved, keys_b).ok());
  const auto n1 = keys_b.find("m1"), n2 = keys_b.find("m2");
  REQUIRE(n1);
  REQUIRE(n2);
  CHECK(n1->index != m1->index);
  for (std::size_t i = 16; i < 40; ++i) {
    auto x = vector_at(i);
    if (i % 7 == 0) x[1] += 4;
    CHECK(a.apply(x, m1->index) == b.apply(x, n1->index));
    const auto ya = a.apply(vector_at(50 + i), m2->index), yb = b.apply(vector_at(50 + i), n2->index);
    for (std::size_t j = 0; j < ya.size(); ++j) CHECK((ya[j] == yb[j] || (std::isnan(ya[j]) && std::isnan(yb[j]))));
  }
  SECTION("state of another chain is refused") {
    Chain other("{type: ewma, feature: a_mean, baseline: {learn: 6}}", columns);
    runtime::KeyTable keys_c(8);
    CHECK_FALSE(other.chain->restore(saved, keys_c).ok());
  }
}

TEST_CASE("model config errors name file line and column and say what to write", "[models][chain][config]") {
  const std::vector<std::string> columns{"temp_mean", "vib_rms"};
  SECTION("unknown column lists the columns") {
    Chain c("{type: pca_anomaly, baseline: {learn: 20}, features: [temp_mean, vib_peak]}", columns);
    CHECK_FALSE(c.chain);
    CHECK_THAT(c.errors, Catch::Contains("plant.yaml:1:73: pipelines[0].model.features: \"vib_peak\" is not a column") &&
                             Catch::Contains("columns: temp_mean, vib_rms"));
  }
  SECTION("two models writing the same column need as") {
    Chain c("[{type: ewma, feature: vib_rms, baseline: {learn: 5}}, {type: cusum, feature: temp_mean, baseline: {learn: 5}}]",
            columns);
    CHECK_FALSE(c.chain);
    CHECK_THAT(c.errors, Catch::Contains("plant.yaml:1:63: pipelines[0].model[1]: output column \"anomaly\" is already") &&
                             Catch::Contains("model[0]") && Catch::Contains("as:"));
  }
  SECTION("an as prefix that collides is refused too") {
    Chain c("[{type: ewma, feature: vib_rms, baseline: {learn: 5}, as: x}, {type: ewma, feature: temp_mean, baseline: {learn: 5}, as: x}]",
            columns);
    CHECK_THAT(c.errors, Catch::Contains("plant.yaml:1:129: pipelines[0].model[1]: output column \"x_ewma\""));
  }
  SECTION("out of range numbers name the range") {
    Chain c("{type: pca_anomaly, baseline: {learn: 20}, confidence: 1.5}", columns);
    CHECK_THAT(c.errors, Catch::Contains("plant.yaml:1:63: pipelines[0].model.confidence: 1.5 is out of range; use a value from 0.5 to 0.999999"));
  }
  SECTION("unknown type lists the types") {
    Chain c("{type: isolation_forest, baseline: {learn: 20}}", columns);
    CHECK_THAT(c.errors, Catch::Contains("plant.yaml:1:15: pipelines[0].model.type: unknown model type \"isolation_forest\"; model types: pca_anomaly, mahalanobis, ewma, cusum"));
  }
  SECTION("unknown key lists the valid keys") {
    Chain c("{type: ewma, feature: vib_rms, baseline: {learn: 5}, lamda: 0.3}", columns);
    CHECK_THAT(c.errors, Catch::Contains("plant.yaml:1:61: pipelines[0].model: unknown key \"lamda\" (did you mean \"lambda\"?)"));
  }
  SECTION("the baseline is required") {
    Chain c("{type: cusum, feature: vib_rms}", columns);
    CHECK_THAT(c.errors, Catch::Contains("plant.yaml:1:8: pipelines[0].model: missing key \"baseline\""));
  }
  SECTION("learn below two is refused") {
    Chain c("{type: cusum, feature: vib_rms, baseline: {learn: 1}}", columns);
    CHECK_THAT(c.errors, Catch::Contains("pipelines[0].model.baseline.learn: 1 is out of range; use a value from 2 to 1000000"));
  }
  SECTION("an even filter is refused") {
    Chain c("{type: pca_anomaly, baseline: {learn: 20}, filter: 4}", columns);
    CHECK_THAT(c.errors, Catch::Contains("plant.yaml:1:59: pipelines[0].model.filter: 4 is even"));
  }
  SECTION("shrinkage is auto or a number from 0 to 1") {
    Chain c("{type: mahalanobis, baseline: {learn: 20}, shrinkage: 2}", columns);
    CHECK_THAT(c.errors, Catch::Contains("pipelines[0].model.shrinkage: \"2\" is not auto or a number from 0 to 1"));
  }
  SECTION("more components than features or than learned vectors") {
    Chain c("{type: pca_anomaly, baseline: {learn: 3}, components: 3}", columns);
    CHECK_THAT(c.errors, Catch::Contains("pipelines[0].model.components: 3 components from 2 features") &&
                             Catch::Contains("pipelines[0].model.baseline: learn: 3 is too few vectors for 3 components"));
  }
  SECTION("model state beyond limits.max_state is refused before allocating") {
    Chain c("{type: pca_anomaly, baseline: {learn: 20}}", columns, 100'000, 64 << 20, 60 << 20);
    CHECK_FALSE(c.chain);
    CHECK_THAT(c.errors, Catch::Contains("plant.yaml:1:8: pipelines[0].model: the models need") &&
                             Catch::Contains("for limits.max_keys = 100000; with the window's 60 MiB that is more than "
                                             "limits.max_state (64 MiB)"));
  }
}

// One value per millisecond of `field` for `key`, from `from` ms, n of them: a 50 Hz sine of
// amplitude 1 plus a 200 Hz one of amplitude 0.5, scaled by `gain`.
std::vector<runtime::Event> vibration(runtime::FieldId field, std::uint32_t key, int from, int n, double gain = 1) {
  std::vector<runtime::Event> events;
  for (int i = from; i < from + n; ++i) {
    const double t = i / 1000.0;
    runtime::Event e;
    e.time = static_cast<runtime::Nanos>(i) * 1'000'000;
    e.value = gain * (std::sin(2 * M_PI * 50 * t) + 0.5 * std::sin(2 * M_PI * 200 * t));
    e.key = {key, 0};
    e.field = field;
    e.flags = runtime::kRecordBegin;
    events.push_back(e);
  }
  return events;
}

constexpr const char* kSpectrum = "{type: spectrum, field: vib, rate: 1000, bands: [0-100, 100-300, 300-500], max_samples: 512}";

TEST_CASE("spectrum puts vibration features of each window's raw values into the summary", "[models][chain][spectrum]") {
  Chain c(kSpectrum, {"vib_rms"}, 4, std::int64_t{1} << 30, 0, {"temp", "vib"});
  REQUIRE(c.errors.empty());
  CHECK(c.chain->schema().columns ==
        std::vector<std::string>{"vib_rms", "rms", "peak", "crest_factor", "kurtosis", "band_0_100", "band_100_300", "band_300_500"});
  const runtime::FieldId vib = c.fields.find("vib"), temp = c.fields.find("temp");
  // Key 0: 250 ms of vibration (the window is the first 200), key 1 three times louder, and a
  // temperature field that must not mix in.
  auto events = vibration(vib, 0, 0, 250);
  auto louder = vibration(vib, 1, 0, 200, 3);
  auto other = vibration(temp, 0, 0, 200, 100);
  events.insert(events.end(), louder.begin(), louder.end());
  events.insert(events.end(), other.begin(), other.end());
  c.chain->observe(events);

  const auto out = c.apply({0.0}, 0, 0, 0, 0, 200'000'000, 200);
  // The same 200 values through the numerical core directly.
  std::vector<double> raw;
  for (int i = 0; i < 200; ++i) raw.push_back(events[static_cast<std::size_t>(i)].value);
  VibrationOptions o;
  o.max_samples = 512;
  o.bands = {{0, 100}, {100, 300}, {300, 500}};
  auto direct = VibrationExtractor::create(o);
  REQUIRE(direct.ok());
  VibrationFeatures f;
  std::vector<double> energy(3);
  REQUIRE(direct->compute(raw, 1000, f, energy));
  CHECK(out[1] == f.rms);
  CHECK(out[2] == f.peak);
  CHECK(out[3] == f.crest_factor);
  CHECK(out[4] == f.kurtosis);
  CHECK(out[5] == energy[0]);
  CHECK(out[6] == energy[1]);
  CHECK(out[7] == energy[2]);
  // Mean squares 1/2 and 1/8 land in their bands; nothing above 300 Hz.
  CHECK(out[1] == Approx(std::sqrt(0.625)).epsilon(0.01));
  CHECK(out[5] == Approx(0.5).epsilon(0.05));
  CHECK(out[6] == Approx(0.125).epsilon(0.05));
  CHECK(out[7] < 0.005);

  const auto loud = c.apply({0.0}, 1, 0, 0, 0, 200'000'000, 200);
  CHECK(loud[1] == Approx(3 * out[1]).epsilon(1e-9));
  CHECK(loud[5] == Approx(9 * out[5]).epsilon(1e-9));
  CHECK(c.chain->counters().scored.get() == 2);
}

TEST_CASE("spectrum counts a window whose values its ring could not hold", "[models][chain][spectrum]") {
  Chain c("{type: spectrum, field: vib, rate: 1000, max_samples: 64}", {"vib_rms"}, 2, std::int64_t{1} << 30, 0, {"vib"});
  REQUIRE(c.errors.empty());
  c.chain->observe(vibration(c.fields.find("vib"), 0, 0, 200));
  const auto out = c.apply({0.0}, 0, 0, 0, 0, 200'000'000, 200);
  CHECK(std::isnan(out[1]));
  CHECK(c.chain->counters().raw_truncated.get() == 1);
  // A window the ring still holds whole is scored.
  const auto last = c.apply({0.0}, 0, 0, 0, 150'000'000, 200'000'000, 50);
  CHECK(last[1] > 0);
  CHECK(c.chain->counters().raw_truncated.get() == 1);
  CHECK(c.chain->state_bytes() >= 2 * 64 * 16);
}

TEST_CASE("spectrum observes and scores without allocating", "[models][chain][spectrum][alloc]") {
  Chain c(kSpectrum, {"vib_rms"}, 4, std::int64_t{1} << 30, 0, {"vib"});
  REQUIRE(c.errors.empty());
  const runtime::FieldId vib = c.fields.find("vib");
  std::vector<std::vector<runtime::Event>> windows;
  for (int w = 0; w < 20; ++w) windows.push_back(vibration(vib, 0, w * 200, 200));
  Summary s;
  std::vector<double> values{0.0};
  test::AllocationCounter allocs;
  for (int w = 0; w < 20; ++w) {
    c.chain->observe(windows[static_cast<std::size_t>(w)]);
    s = Summary{};
    s.schema = &c.schema;
    s.values = values;
    s.start = w * 200'000'000LL;
    s.end = s.start + 200'000'000LL;
    s.count = 200;
    c.chain->apply(s);
  }
  CHECK(allocs.count() == 0);
  CHECK(c.chain->counters().scored.get() == 20);
}

TEST_CASE("spectrum config errors say what to write", "[models][chain][spectrum][config]") {
  auto error_of = [](const std::string& yaml) {
    Chain c(yaml, {"vib_rms"}, 2, std::int64_t{1} << 30, 0, {"vib"});
    CHECK(c.chain == nullptr);
    return c.errors;
  };
  CHECK_THAT(error_of("{type: spectrum, field: vib_rms, rate: 1000}"),
             Catch::Matchers::Contains("\"vib_rms\" is not a field of any source"));
  CHECK_THAT(error_of("{type: spectrum, field: vib, rate: 1000, bands: [0-600]}"),
             Catch::Matchers::Contains("\"0-600\" reaches above rate/2 = 500 Hz"));
  CHECK_THAT(error_of("{type: spectrum, field: vib, rate: 1000, bands: [300-100]}"),
             Catch::Matchers::Contains("\"300-100\" is not a band LOW-HIGH in Hz"));
  CHECK_THAT(error_of("{type: spectrum, field: vib, rate: 1000, baseline: {learn: 5}}"),
             Catch::Matchers::Contains("a spectrum model has nothing to learn; remove baseline"));
  // The rings count against limits.max_state: 2 keys x 100,000 values x 16 bytes > 1 MiB.
  Chain big("{type: spectrum, field: vib, rate: 1000, max_samples: 100000}", {"vib_rms"}, 2, 1 << 20, 0, {"vib"});
  CHECK(big.chain == nullptr);
  CHECK_THAT(big.errors, Catch::Matchers::Contains("the models need 3 MiB of state (1600024 bytes per key)"));
}

TEST_CASE("a rul model from its file scores every window like the core, allocation-free and across a checkpoint",
          "[models][chain][rul]") {
  // A small model: 3 inputs, trend over 5 windows, trained on 10 keys whose remaining life is
  // their windows left.
  const RulTrainingSet set = test_data::runs_to_failure(
      10, 3, 5, [](std::uint32_t k) { return std::size_t{40} + 3 * k; },
      [](std::span<double> x, std::uint32_t k, std::size_t i, std::size_t life) {
        const auto v = vector_at(i + 100 * k);
        std::copy(v.begin(), v.end(), x.begin());
        x[0] += static_cast<double>(i) / static_cast<double>(life);
      });
  RulFitOptions o;
  o.centers = 20;
  o.gamma = 0.1;
  o.ridge = 1;
  auto fitted = RulRegressor::fit(set, o);
  REQUIRE(fitted.ok());
  ModelFile file;
  file.type = "rul";
  file.features = {"a_mean", "b_mean", "c_mean"};
  file.put("history", 5.0);
  file.put("age", 1.0);
  file.note("unit", "windows");
  fitted->to_file(file);
  const std::string path = (std::filesystem::temp_directory_path() / ("vigil-chain-test-rul-" + std::to_string(::getpid()) + ".vgm")).string();
  REQUIRE(write_model_file(file, path).ok());

  const std::string yaml = "{type: rul, file: " + path + ", history: 5}";
  const std::vector<std::string> columns{"a_mean", "b_mean", "c_mean"};
  Chain a(yaml, columns), b(yaml, columns);
  INFO(a.errors);
  REQUIRE(a.chain);
  REQUIRE(b.chain);
  CHECK(a.chain->schema().columns == std::vector<std::string>{"a_mean", "b_mean", "c_mean", "rul", "rul_lo", "rul_hi"});
  runtime::KeyTable keys_a(8), keys_b(8);
  const auto m1 = keys_a.intern("m1");
  TrendFeatures direct(3, 5, true);
  std::vector<double> z(7);
  for (std::size_t i = 0; i < 12; ++i) {
    const auto out = a.apply(vector_at(i), m1->index);
    direct.push(vector_at(i));
    direct.derive(z);
    const RulEstimate e = fitted->predict(z);
    CHECK(out[3] == e.rul);
    CHECK(out[4] == e.lo);
    CHECK(out[5] == e.hi);
  }
  std::vector<std::byte> saved;
  a.chain->snapshot(keys_a, saved);
  keys_b.intern("other");
  REQUIRE(b.chain->restore(saved, keys_b).ok());
  const auto n1 = keys_b.find("m1");
  REQUIRE(n1);
  for (std::size_t i = 12; i < 30; ++i) CHECK(a.apply(vector_at(i), m1->index) == b.apply(vector_at(i), n1->index));

  std::vector<double> buffer(3), inputs;
  for (std::size_t i = 30; i < 1030; ++i) {
    const auto x = vector_at(i);
    inputs.insert(inputs.end(), x.begin(), x.end());
  }
  Summary s;
  test::AllocationCounter allocs;
  for (std::size_t i = 0; i < 1000; ++i) {
    std::copy_n(inputs.begin() + static_cast<std::ptrdiff_t>(3 * i), 3, buffer.begin());
    s.values = buffer;
    s.schema = &a.schema;
    s.key = {m1->index, m1->generation};
    a.chain->apply(s);
  }
  CHECK(allocs.count() == 0);
  std::filesystem::remove(path);
}

}  // namespace vigil::models
