// RUL: trend features against a naive least-squares fit, the regression on synthetic
// run-to-failure data whose remaining life is a known function of the features, the band, and
// model files (round trip, corruption, mismatched features).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "allocation_counter.hpp"
#include "model_test_data.hpp"
#include "vigil/models/model_file.hpp"
#include "vigil/models/rul.hpp"

namespace vigil::models {
namespace {

// Naive least-squares slope of ys over t = 0..n-1.
double naive_slope(const std::vector<double>& ys) {
  const double n = static_cast<double>(ys.size());
  double st = 0, sy = 0, stt = 0, sty = 0;
  for (std::size_t t = 0; t < ys.size(); ++t) {
    st += static_cast<double>(t);
    sy += ys[t];
    stt += static_cast<double>(t * t);
    sty += static_cast<double>(t) * ys[t];
  }
  return (n * sty - st * sy) / (n * stt - st * st);
}

// `keys` machines; each runs `life` windows (varying per key) with 3 features: a degradation
// signal d = (age / life)^2 plus noise, its noisy copy, and pure noise. Remaining life is
// life - 1 - age.
RulTrainingSet synthetic(std::size_t keys, std::size_t history, std::uint64_t seed, std::vector<std::size_t>* lives = nullptr) {
  const test_data::NoisyRuns runs{keys, 3, history, seed, 0.02, 120, 260};
  return test_data::noisy_runs_to_failure(
      runs,
      [](std::span<double> x, double p, auto& noise) {
        x[0] = p * p + noise();
        x[1] = 2 * p * p + noise();
        x[2] = noise();
      },
      lives);
}

TEST_CASE("trend features are the mean and least-squares slope of the last history vectors", "[models][rul]") {
  TrendFeatures t(2, 4, true);
  std::vector<double> out(t.derived_dim());
  CHECK(t.derived_dim() == 5);
  t.derive(out);
  CHECK(out == std::vector<double>(5, 0.0));  // nothing seen yet

  const std::vector<std::vector<double>> xs = {{1, 10}, {3, 7}, {2, 9}, {6, 1}, {5, 4}, {9, -2}};
  for (std::size_t i = 0; i < xs.size(); ++i) {
    t.push(xs[i]);
    t.derive(out);
    const std::size_t first = i + 1 > 4 ? i + 1 - 4 : 0;  // the last min(n, 4) vectors
    for (std::size_t f = 0; f < 2; ++f) {
      std::vector<double> ys;
      for (std::size_t j = first; j <= i; ++j) ys.push_back(xs[j][f]);
      double mean = 0;
      for (double y : ys) mean += y / static_cast<double>(ys.size());
      INFO("after " << i + 1 << " vectors, feature " << f);
      CHECK(out[f] == Approx(mean));
      CHECK(out[2 + f] == Approx(ys.size() < 2 ? 0.0 : naive_slope(ys)).margin(1e-12));
    }
    CHECK(out[4] == static_cast<double>(i + 1));  // age: every vector seen, not only the window
  }
  CHECK(TrendFeatures::derived_names(std::vector<std::string>{"a", "b"}, true) ==
        std::vector<std::string>{"mean(a)", "mean(b)", "slope(a)", "slope(b)", "age"});
}

TEST_CASE("trend features survive save and load and refuse another shape", "[models][rul]") {
  TrendFeatures a(2, 3, false), b(2, 3, false), other(2, 5, false);
  for (double v : {1.0, 4.0, 2.0, 8.0}) a.push(std::vector<double>{v, -v});
  std::vector<double> saved;
  a.save(saved);
  std::span<const double> in(saved);
  REQUIRE(b.load(in));
  CHECK(in.empty());
  std::vector<double> x(a.derived_dim()), y(b.derived_dim());
  a.derive(x);
  b.derive(y);
  CHECK(x == y);
  std::span<const double> again(saved);
  CHECK_FALSE(other.load(again));
  b.reset();
  CHECK(b.seen() == 0);
}

TEST_CASE("rul regression learns a known degradation and cross-validates honestly", "[models][rul]") {
  const RulTrainingSet set = synthetic(30, 20, 7);
  RulFitOptions o;
  o.centers = 80;
  o.cap = 100;
  o.folds = 5;
  RulCrossValidation cv;
  auto kernel = RulRegressor::fit(set, o, &cv);
  REQUIRE(kernel.ok());
  CHECK(kernel->basis() == 80);
  CHECK(cv.keys == 30);
  CHECK(cv.rows == set.rows());
  CHECK(cv.gamma > 0);
  // The remaining life is a smooth function of the features (age and the slope of p^2 pin it
  // down); held-out machines are predicted within a few windows of a 100-window cap.
  CHECK(cv.rmse_all < 12);
  CHECK(cv.rmse_cut < 14);
  CHECK(cv.coverage == Approx(0.8).margin(0.05));

  o.method = RulMethod::linear;
  RulCrossValidation lin;
  auto linear = RulRegressor::fit(set, o, &lin);
  REQUIRE(linear.ok());
  CHECK(linear->basis() == set.dim);
  CHECK(lin.rmse_all > cv.rmse_all);  // the cap makes the target non-linear in the features

  // New machines: estimates fall toward the end of life and the band holds the point.
  std::vector<std::size_t> lives;
  const RulTrainingSet fresh = synthetic(5, 20, 99, &lives);
  double se = 0;
  for (std::size_t r = 0; r < fresh.rows(); ++r) {
    const RulEstimate e = kernel->predict(std::span<const double>(fresh.z).subspan(r * fresh.dim, fresh.dim));
    REQUIRE(e.lo <= e.rul);
    REQUIRE(e.rul <= e.hi);
    REQUIRE(e.rul >= 0);
    REQUIRE(e.hi <= 100);
    const double t = std::min(fresh.remaining[r], 100.0);
    se += (e.rul - t) * (e.rul - t);
  }
  CHECK(std::sqrt(se / static_cast<double>(fresh.rows())) < 12);
}

TEST_CASE("rul training refuses too few keys", "[models][rul]") {
  const RulTrainingSet set = synthetic(3, 10, 1);
  auto r = RulRegressor::fit(set, RulFitOptions{});
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Matchers::Contains("at least 5 keys"));
}

TEST_CASE("a rul model file gives the same estimates after a round trip, allocation-free", "[models][rul][alloc]") {
  const RulTrainingSet set = synthetic(10, 10, 3);
  RulFitOptions o;
  o.centers = 40;
  o.gamma = 0.1;
  o.ridge = 1;
  auto fitted = RulRegressor::fit(set, o);
  REQUIRE(fitted.ok());
  ModelFile file;
  file.type = "rul";
  file.features = {"a", "b", "c"};
  fitted->to_file(file);
  auto decoded = decode_model_file(encode_model_file(file));
  REQUIRE(decoded.ok());
  CHECK(decoded->features == file.features);
  auto loaded = RulRegressor::from_file(*decoded);
  REQUIRE(loaded.ok());
  std::vector<RulEstimate> got(set.rows());
  {
    test::AllocationCounter allocs;
    for (std::size_t r = 0; r < set.rows(); ++r)
      got[r] = loaded->predict(std::span<const double>(set.z).subspan(r * set.dim, set.dim));
    CHECK(allocs.count() == 0);
  }
  for (std::size_t r = 0; r < set.rows(); r += 17) {
    const RulEstimate e = fitted->predict(std::span<const double>(set.z).subspan(r * set.dim, set.dim));
    CHECK(got[r].rul == e.rul);
    CHECK(got[r].lo == e.lo);
    CHECK(got[r].hi == e.hi);
  }
  // A file missing a part is refused with its name.
  file.matrices.erase(file.matrices.begin() + 2);
  auto broken = RulRegressor::from_file(file);
  REQUIRE_FALSE(broken.ok());
  CHECK_THAT(broken.error().message, Catch::Matchers::Contains("has no matrix"));
}

TEST_CASE("model files reject garbage, other formats and other features", "[models][rul]") {
  const std::vector<std::uint8_t> junk = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  auto bad = decode_model_file(junk);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Matchers::Contains("is not a Vigil model file"));

  ModelFile m;
  m.type = "rul";
  m.features = {"s2_last", "s3_last"};
  m.format = 99;
  auto future = decode_model_file(encode_model_file(m));
  REQUIRE_FALSE(future.ok());
  CHECK_THAT(future.error().message, Catch::Matchers::Contains("format 99"));

  m.format = kModelFileFormat;
  CHECK(check_model_file(m, "rul", std::vector<std::string>{"s2_last", "s3_last"}, "m.vgm").ok());
  auto swapped = check_model_file(m, "rul", std::vector<std::string>{"s3_last", "s2_last"}, "m.vgm");
  REQUIRE_FALSE(swapped.ok());
  CHECK_THAT(swapped.error().message,
             Catch::Matchers::Contains("trained on the features [s2_last, s3_last] but this model reads [s3_last, s2_last]"));
  auto type = check_model_file(m, "mahalanobis", m.features, "m.vgm");
  REQUIRE_FALSE(type.ok());
  CHECK_THAT(type.error().message, Catch::Matchers::Contains("holds a rul model, not mahalanobis"));
}

TEST_CASE("PHM08 score punishes late predictions more than early ones", "[models][rul]") {
  CHECK(phm08_score(0) == 0);
  CHECK(phm08_score(-13) == Approx(std::exp(1.0) - 1));
  CHECK(phm08_score(10) == Approx(std::exp(1.0) - 1));
  CHECK(phm08_score(20) > phm08_score(-20));
}

}  // namespace
}  // namespace vigil::models
