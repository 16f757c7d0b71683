// Mahalanobis distance against a naive recomputation: covariance summed directly from the
// samples, shrunk by hand, inverted with Eigen's full-pivot LU.
#include <Eigen/Dense>
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "allocation_counter.hpp"
#include "model_test_data.hpp"
#include "vigil/models/mahalanobis.hpp"

namespace vigil::models {
namespace {

struct Naive {
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;
};

Naive naive_moments(const std::vector<double>& v, std::size_t rows, std::size_t cols) {
  const Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> x(
      v.data(), static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  Naive n;
  n.mean = x.colwise().mean().transpose();
  const Eigen::MatrixXd centred = x.rowwise() - n.mean.transpose();
  n.cov = centred.transpose() * centred / static_cast<double>(rows - 1);
  return n;
}

double naive_d2(const Naive& n, double gamma, const std::vector<double>& x) {
  Eigen::MatrixXd shrunk = (1 - gamma) * n.cov;
  shrunk.diagonal() = n.cov.diagonal();
  const Eigen::VectorXd y = Eigen::Map<const Eigen::VectorXd>(x.data(), n.mean.size()) - n.mean;
  const Eigen::MatrixXd inverse = Eigen::FullPivLU<Eigen::MatrixXd>(shrunk).inverse();
  return y.dot(inverse * y);
}

// Schaefer-Strimmer target D straight from the definition: w_kij = y_ki y_kj,
// Var(s_ij) = n/(n-1)^3 sum_k (w_kij - mean_k w_ij)^2.
double naive_intensity(const std::vector<double>& v, std::size_t rows, std::size_t cols) {
  const Naive n = naive_moments(v, rows, cols);
  double num = 0, den = 0;
  const double nd = static_cast<double>(rows);
  for (std::size_t i = 0; i < cols; ++i) {
    for (std::size_t j = 0; j < cols; ++j) {
      if (i == j) continue;
      std::vector<double> w(rows);
      double wbar = 0;
      for (std::size_t k = 0; k < rows; ++k) {
        w[k] = (v[k * cols + i] - n.mean[static_cast<Eigen::Index>(i)]) * (v[k * cols + j] - n.mean[static_cast<Eigen::Index>(j)]);
        wbar += w[k] / nd;
      }
      double ss = 0;
      for (double e : w) ss += (e - wbar) * (e - wbar);
      num += nd / ((nd - 1) * (nd - 1) * (nd - 1)) * ss;
      const double s = n.cov(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j));
      den += s * s;
    }
  }
  return std::min(1.0, num / den);
}

TEST_CASE("mahalanobis without shrinkage matches the full inverse", "[models][mahalanobis]") {
  const std::size_t rows = 300, cols = 5;
  const auto v = test_data::correlated(rows, cols, 21);
  auto b = Baseline::from_samples({v, rows, cols});
  REQUIRE(b.ok());
  MahalanobisOptions o;
  o.shrinkage = Shrinkage::fixed;
  o.intensity = 0;
  auto m = Mahalanobis::fit(*b, o);
  REQUIRE(m.ok());
  const Naive n = naive_moments(v, rows, cols);
  const auto probes = test_data::correlated(20, cols, 22);
  for (std::size_t r = 0; r < 20; ++r) {
    const std::vector<double> x(probes.begin() + static_cast<long>(r * cols), probes.begin() + static_cast<long>((r + 1) * cols));
    const auto s = m->score(x);
    CHECK(s.d2 == Approx(naive_d2(n, 0, x)).epsilon(1e-9));
    CHECK(s.distance == Approx(std::sqrt(s.d2)));
  }
}

TEST_CASE("mahalanobis with fixed shrinkage shrinks toward the diagonal", "[models][mahalanobis]") {
  const std::size_t rows = 100, cols = 4;
  const auto v = test_data::correlated(rows, cols, 31);
  auto b = Baseline::from_samples({v, rows, cols});
  REQUIRE(b.ok());
  MahalanobisOptions o;
  o.shrinkage = Shrinkage::fixed;
  o.intensity = 0.3;
  auto m = Mahalanobis::fit(*b, o);
  REQUIRE(m.ok());
  CHECK(m->shrinkage() == 0.3);
  const Naive n = naive_moments(v, rows, cols);
  const std::vector<double> x = {2, 95, 210, 290};
  CHECK(m->score(x).d2 == Approx(naive_d2(n, 0.3, x)).epsilon(1e-9));
}

TEST_CASE("mahalanobis Ledoit-Wolf intensity matches its definition", "[models][mahalanobis]") {
  const std::size_t rows = 40, cols = 6;
  const auto v = test_data::correlated(rows, cols, 41);
  auto b = Baseline::from_samples({v, rows, cols});
  REQUIRE(b.ok());
  const double expected = naive_intensity(v, rows, cols);
  CHECK(ledoit_wolf_intensity(*b) == Approx(expected).epsilon(1e-9));
  auto m = Mahalanobis::fit(*b);
  REQUIRE(m.ok());
  CHECK(m->shrinkage() == Approx(expected).epsilon(1e-9));
  CHECK(m->shrinkage() > 0);
  CHECK(m->shrinkage() < 1);
  const Naive n = naive_moments(v, rows, cols);
  const std::vector<double> x = {1, 99, 203, 297, 402, 505};
  CHECK(m->score(x).d2 == Approx(naive_d2(n, m->shrinkage(), x)).epsilon(1e-9));
  // The same model learned on the device, vector by vector.
  OnlineBaseline online(cols, rows);
  for (std::size_t r = 0; r < rows; ++r) online.add({v.data() + r * cols, cols});
  auto ob = online.baseline();
  REQUIRE(ob.ok());
  auto om = Mahalanobis::fit(*ob);
  REQUIRE(om.ok());
  CHECK(om->shrinkage() == Approx(m->shrinkage()).epsilon(1e-9));
  CHECK(om->score(x).d2 == Approx(m->score(x).d2).epsilon(1e-9));
}

TEST_CASE("mahalanobis threshold is the chi-square quantile", "[models][mahalanobis]") {
  const auto v = test_data::correlated(50, 3, 51);
  auto b = Baseline::from_samples({v, 50, 3});
  REQUIRE(b.ok());
  MahalanobisOptions o;
  o.confidence = 0.95;
  auto m = Mahalanobis::fit(*b, o);
  REQUIRE(m.ok());
  CHECK(m->degrees_of_freedom() == 3);
  CHECK(m->threshold_d2() == Approx(7.8147).epsilon(1e-4));
}

TEST_CASE("mahalanobis needs shrinkage for duplicated sensors", "[models][mahalanobis]") {
  // Feature 2 repeats feature 0: the covariance is singular.
  const std::size_t rows = 60;
  const auto base = test_data::correlated(rows, 2, 61);
  std::vector<double> v;
  for (std::size_t r = 0; r < rows; ++r) v.insert(v.end(), {base[2 * r], base[2 * r + 1], base[2 * r]});
  auto b = Baseline::from_samples({v, rows, 3});
  REQUIRE(b.ok());
  MahalanobisOptions o;
  o.shrinkage = Shrinkage::fixed;
  o.intensity = 0;
  auto bad = Mahalanobis::fit(*b, o);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("singular or nearly so; use fixed shrinkage with a larger intensity") != std::string::npos);
  o.intensity = 0.1;
  auto fixed = Mahalanobis::fit(*b, o);
  REQUIRE(fixed.ok());
  const Naive n = naive_moments(v, rows, 3);
  const std::vector<double> x = {1, 101, -1};
  CHECK(fixed->score(x).d2 == Approx(naive_d2(n, 0.1, x)).epsilon(1e-8));
  auto lw = Mahalanobis::fit(*b);
  REQUIRE(lw.ok());
  CHECK(lw->shrinkage() > 0);
}

TEST_CASE("mahalanobis leaves constant features out", "[models][mahalanobis]") {
  std::vector<double> v;
  const auto base = test_data::correlated(30, 2, 71);
  for (std::size_t r = 0; r < 30; ++r) v.insert(v.end(), {base[2 * r], 42.0, base[2 * r + 1]});
  auto b = Baseline::from_samples({v, 30, 3});
  REQUIRE(b.ok());
  auto m = Mahalanobis::fit(*b);
  REQUIRE(m.ok());
  CHECK(m->degrees_of_freedom() == 2);
  CHECK(m->score(std::vector<double>{0.5, 42, 101}).d2 == Approx(m->score(std::vector<double>{0.5, -7, 101}).d2));
}

TEST_CASE("mahalanobis refuses bad options with a message", "[models][mahalanobis][config]") {
  const auto v = test_data::correlated(30, 2, 81);
  auto b = Baseline::from_samples({v, 30, 2});
  REQUIRE(b.ok());
  MahalanobisOptions o;
  o.shrinkage = Shrinkage::fixed;
  o.intensity = 1.5;
  auto m = Mahalanobis::fit(*b, o);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().message == "mahalanobis shrinkage intensity must be in [0, 1], got 1.500000");
  auto hand = test_data::from_covariance(30, {0, 0}, {1, 0.5, 0.5, 1});
  auto m2 = Mahalanobis::fit(hand);
  REQUIRE_FALSE(m2.ok());
  CHECK(m2.error().message == "mahalanobis ledoit_wolf shrinkage needs the baseline's fourth co-moments; use fixed shrinkage");
}

TEST_CASE("mahalanobis score allocates nothing", "[models][mahalanobis][alloc]") {
  const std::size_t cols = 20;
  const auto v = test_data::correlated(200, cols, 91);
  auto b = Baseline::from_samples({v, 200, cols});
  REQUIRE(b.ok());
  auto m = Mahalanobis::fit(*b);
  REQUIRE(m.ok());
  double sum = 0;
  test::AllocationCounter allocs;
  for (std::size_t r = 0; r < 200; ++r) sum += m->score({v.data() + r * cols, cols}).d2;
  CHECK(allocs.count() == 0);
  // In-sample d2 averages about the dimension.
  CHECK(sum / 200 == Approx(20).margin(3));
}

}  // namespace
}  // namespace vigil::models
