// PCA T2/Q against hand-worked examples: eigenvalues of small correlation matrices, T2 and Q
// of chosen vectors, the F-based T2 limit and the Jackson-Mudholkar Q limit worked by hand.
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "allocation_counter.hpp"
#include "model_test_data.hpp"
#include "vigil/models/distributions.hpp"
#include "vigil/models/pca_anomaly.hpp"

namespace vigil::models {
namespace {

// Covariance [[4, 1.2, 0], [1.2, 1, 0], [0, 0, 9]] from 11 vectors: std 2, 1, 3; correlation
// r12 = 0.6, so eigenvalues 1.6 ((1,1,0)/sqrt2), 1.0 ((0,0,1)) and 0.4 ((1,-1,0)/sqrt2).
Baseline three_features() {
  return test_data::from_covariance(11, {0, 0, 0}, {4, 1.2, 0, 1.2, 1, 0, 0, 0, 9});
}

TEST_CASE("pca finds the eigenvalues of a 3x3 correlation matrix", "[models][pca]") {
  PcaOptions o;
  o.explained_variance = 0.85;  // 1.6/3 = 0.53, 2.6/3 = 0.87: two components
  o.confidence = 0.95;
  auto m = PcaAnomaly::fit(three_features(), o);
  REQUIRE(m.ok());
  REQUIRE(m->eigenvalues().size() == 3);
  CHECK(m->eigenvalues()[0] == Approx(1.6));
  CHECK(m->eigenvalues()[1] == Approx(1.0));
  CHECK(m->eigenvalues()[2] == Approx(0.4));
  CHECK(m->components() == 2);
  CHECK(m->explained_variance() == Approx(2.6 / 3));
  o.explained_variance = 0.9;
  auto all = PcaAnomaly::fit(three_features(), o);
  REQUIRE(all.ok());
  CHECK(all->components() == 3);
  CHECK(all->q_limit_method() == QLimitMethod::none);
}

TEST_CASE("pca T2 and Q of chosen vectors match the hand computation", "[models][pca]") {
  PcaOptions o;
  o.components = 2;
  o.confidence = 0.95;
  auto m = PcaAnomaly::fit(three_features(), o);
  REQUIRE(m.ok());
  // x = (2, -1, 3): z = (1, -1, 1); scores t = (0, 1); T2 = 1/1; residual (1, -1, 0), Q = 2.
  auto s = m->score(std::vector<double>{2, -1, 3});
  CHECK(s.t2 == Approx(1.0));
  CHECK(s.q == Approx(2.0));
  // x = (2, 1, 0): z = (1, 1, 0); t = (sqrt2, 0); T2 = 2 / 1.6; Q = 0.
  s = m->score(std::vector<double>{2, 1, 0});
  CHECK(s.t2 == Approx(1.25));
  CHECK(s.q == Approx(0).margin(1e-12));
  CHECK_FALSE(s.anomaly);
  // x = (2, -2, 0): z = (1, -2, 0); t = (-1/sqrt2, 0); T2 = 0.5/1.6; residual (1.5, -1.5, 0).
  s = m->score(std::vector<double>{2, -2, 0});
  CHECK(s.t2 == Approx(0.3125));
  CHECK(s.q == Approx(4.5));
  CHECK(s.q_exceeded);
  CHECK_FALSE(s.t2_exceeded);
  CHECK(s.anomaly);
}

TEST_CASE("pca T2 limit is the F-based limit for a new observation", "[models][pca]") {
  PcaOptions o;
  o.components = 2;
  o.confidence = 0.95;
  auto m = PcaAnomaly::fit(three_features(), o);
  REQUIRE(m.ok());
  // k = 2, n = 11: 2 * 10 * 12 / (11 * 9) * F_{2,9;0.95}, F_{2,9;0.95} = 4.5 (0.05^(-2/9) - 1).
  CHECK(m->t2_limit() == Approx(240.0 / 99.0 * 4.256494729).epsilon(1e-8));
}

TEST_CASE("pca Q limit with one discarded eigenvalue follows Jackson-Mudholkar", "[models][pca]") {
  PcaOptions o;
  o.components = 2;
  o.confidence = 0.95;
  auto m = PcaAnomaly::fit(three_features(), o);
  REQUIRE(m.ok());
  // theta = 0.4, 0.16, 0.064; h0 = 1 - 2*0.4*0.064/(3*0.0256) = 1/3;
  // Q = 0.4 * (1.644854 * sqrt(2*0.16/9) / 0.4 + 1 - 0.16*(2/9)/0.16)^3 = 0.4 * 1.553164^3.
  CHECK(m->q_limit_method() == QLimitMethod::jackson_mudholkar);
  CHECK(m->q_limit() == Approx(1.4987055).epsilon(1e-6));
}

// Three independent pairs with correlations 0.8, 0.7, 0.5: eigenvalues 1.8, 1.7, 1.5 kept
// (5/6 of the variance), 0.5, 0.3, 0.2 discarded.
Baseline three_pairs() {
  std::vector<double> c(36, 0.0);
  const double r[] = {0.5, 0.7, 0.8};
  for (int p = 0; p < 3; ++p) {
    const int i = 2 * p;
    c[i * 6 + i] = c[(i + 1) * 6 + i + 1] = 1;
    c[i * 6 + i + 1] = c[(i + 1) * 6 + i] = r[p];
  }
  return test_data::from_covariance(50, std::vector<double>(6, 0.0), c);
}

TEST_CASE("pca Q limit with three discarded eigenvalues matches the hand computation", "[models][pca]") {
  PcaOptions o;
  o.explained_variance = 0.8;
  o.confidence = 0.99;
  auto m = PcaAnomaly::fit(three_pairs(), o);
  REQUIRE(m.ok());
  CHECK(m->components() == 3);
  // theta1 = 1.0, theta2 = 0.38, theta3 = 0.16; h0 = 1 - 0.32/(3*0.1444) = 0.261311;
  // Q = (2.326348 * sqrt(0.76) * h0 + 1 + 0.38 h0 (h0 - 1))^(1/h0) = 4.2177946.
  CHECK(m->q_limit_method() == QLimitMethod::jackson_mudholkar);
  CHECK(m->q_limit() == Approx(4.2177946).epsilon(1e-6));
}

TEST_CASE("pca Q limit falls back to Box when Jackson-Mudholkar h0 is not positive", "[models][pca]") {
  // 11 equicorrelated features (0.9) and one independent: eigenvalues 1 + 10*0.9 = 10,
  // 1 (the independent one) and 1 - 0.9 = 0.1 ten times. Keeping one leaves theta1 = 2, theta2 = 1.1,
  // theta3 = 1.01, so h0 = 1 - 4.04/3.63 < 0.
  const std::size_t d = 12;
  std::vector<double> c(d * d, 0.0);
  for (std::size_t i = 0; i < 11; ++i) {
    for (std::size_t j = 0; j < 11; ++j) c[i * d + j] = i == j ? 1.0 : 0.9;
  }
  c[11 * d + 11] = 1;
  PcaOptions o;
  o.components = 1;
  o.confidence = 0.99;
  auto m = PcaAnomaly::fit(test_data::from_covariance(200, std::vector<double>(d, 0.0), c), o);
  REQUIRE(m.ok());
  CHECK(m->eigenvalues()[0] == Approx(10));
  CHECK(m->q_limit_method() == QLimitMethod::box);
  // g = theta2/theta1 = 0.55, h = theta1^2/theta2 = 3.6364.
  CHECK(m->q_limit() == Approx(0.55 * chi_square_quantile(0.99, 4 / 1.1)).epsilon(1e-10));
}

TEST_CASE("pca fitted on samples matches a 2x2 hand example", "[models][pca]") {
  // x = 1..5, y = 2 1 4 3 5: correlation 8/10 = 0.8, eigenvalues 1.8 and 0.2, std sqrt(2.5).
  const std::vector<double> v = {1, 2, 2, 1, 3, 4, 4, 3, 5, 5};
  auto b = Baseline::from_samples({v, 5, 2});
  REQUIRE(b.ok());
  PcaOptions o;
  o.components = 1;
  auto m = PcaAnomaly::fit(*b, o);
  REQUIRE(m.ok());
  CHECK(m->eigenvalues()[0] == Approx(1.8));
  CHECK(m->eigenvalues()[1] == Approx(0.2));
  // (4, 2): z = (1, -1)/sqrt(2.5), orthogonal to the first component: T2 = 0, Q = 2/2.5.
  auto s = m->score(std::vector<double>{4, 2});
  CHECK(s.t2 == Approx(0).margin(1e-12));
  CHECK(s.q == Approx(0.8));
  // (5, 5): z = (2, 2)/sqrt(2.5): t^2 = 3.2, T2 = 3.2/1.8, Q = 0.
  s = m->score(std::vector<double>{5, 5});
  CHECK(s.t2 == Approx(3.2 / 1.8));
  CHECK(s.q == Approx(0).margin(1e-12));
}

TEST_CASE("pca ignores a constant feature and keeps its zero eigenvalue out", "[models][pca]") {
  const std::vector<double> v = {1, 7, 2, 2, 7, 1, 3, 7, 4, 4, 7, 3, 5, 7, 5};
  auto b = Baseline::from_samples({v, 5, 3});
  REQUIRE(b.ok());
  PcaOptions o;
  o.explained_variance = 0.95;  // 1.8/2 = 0.9 < 0.95: both informative components
  auto m = PcaAnomaly::fit(*b, o);
  REQUIRE(m.ok());
  CHECK(m->standardizer().constant(1));
  CHECK(m->components() == 2);
  CHECK(m->eigenvalues()[2] == Approx(0).margin(1e-12));
  CHECK(m->q_limit_method() == QLimitMethod::none);
  auto s = m->score(std::vector<double>{3, 1000, 3});
  CHECK(s.t2 == Approx(0).margin(1e-12));
  CHECK_FALSE(s.anomaly);
}

TEST_CASE("pca refuses bad options with a message", "[models][pca][config]") {
  PcaOptions o;
  o.explained_variance = 1.5;
  auto m1 = PcaAnomaly::fit(three_features(), o);
  REQUIRE_FALSE(m1.ok());
  CHECK(m1.error().message == "pca explained_variance must be in (0, 1], got 1.500000");
  o = {};
  o.components = 4;
  auto m2 = PcaAnomaly::fit(three_features(), o);
  REQUIRE_FALSE(m2.ok());
  CHECK(m2.error().message == "pca components is 4 but there are only 3 features");
  o = {};
  o.confidence = 1;
  CHECK_FALSE(PcaAnomaly::fit(three_features(), o).ok());
  o = {};
  o.components = 2;
  auto few = test_data::from_covariance(2, {0, 0, 0}, {4, 1.2, 0, 1.2, 1, 0, 0, 0, 9});
  auto m3 = PcaAnomaly::fit(few, o);
  REQUIRE_FALSE(m3.ok());
  CHECK(m3.error().message == "pca keeps 2 components from 2 training vectors; it needs more vectors than components");
}

TEST_CASE("pca flags about one minus confidence of in-control vectors", "[models][pca]") {
  const std::size_t cols = 8;
  const auto train = test_data::correlated(2000, cols, 11);
  const auto test = test_data::correlated(20000, cols, 12);
  auto b = Baseline::from_samples({train, 2000, cols});
  REQUIRE(b.ok());
  PcaOptions o;
  o.confidence = 0.99;
  auto m = PcaAnomaly::fit(*b, o);
  REQUIRE(m.ok());
  std::size_t t2_over = 0, q_over = 0;
  for (std::size_t r = 0; r < 20000; ++r) {
    auto s = m->score({test.data() + r * cols, cols});
    t2_over += s.t2_exceeded;
    q_over += s.q_exceeded;
  }
  // Gaussian data: T2 follows the F-based limit; Q's limit is an approximation.
  CHECK(static_cast<double>(t2_over) / 20000 == Approx(0.01).margin(0.004));
  CHECK(static_cast<double>(q_over) / 20000 == Approx(0.01).margin(0.006));
}

TEST_CASE("pca score allocates nothing", "[models][pca][alloc]") {
  const std::size_t cols = 20;
  const auto v = test_data::correlated(300, cols, 5);
  auto b = Baseline::from_samples({v, 300, cols});
  REQUIRE(b.ok());
  auto m = PcaAnomaly::fit(*b);
  REQUIRE(m.ok());
  double sum = 0;
  test::AllocationCounter allocs;
  for (std::size_t r = 0; r < 300; ++r) sum += m->score({v.data() + r * cols, cols}).t2;
  CHECK(allocs.count() == 0);
  CHECK(sum > 0);
}

TEST_CASE("median filter needs a majority of the last k decisions", "[models][pca][filter]") {
  auto f = DecisionFilter::create(3);
  REQUIRE(f.ok());
  const bool in[] = {true, false, true, true, false, false, true, false, false};
  const bool out[] = {false, false, true, true, true, false, false, false, false};
  for (std::size_t i = 0; i < 9; ++i) CHECK(f->push(in[i]) == out[i]);
  CHECK_FALSE(DecisionFilter::create(4).ok());
  CHECK(DecisionFilter::create(4).error().message == "median filter window must be odd and at least 1, got 4");
  auto pass = DecisionFilter::create(1);
  REQUIRE(pass.ok());
  CHECK(pass->push(true));
  CHECK_FALSE(pass->push(false));
  test::AllocationCounter allocs;
  for (int i = 0; i < 100; ++i) f->push(i % 3 == 0);
  CHECK(allocs.count() == 0);
}

}  // namespace
}  // namespace vigil::models
