// Baselines (batch and online) and the standardizer against direct recomputation.
#include <cmath>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "allocation_counter.hpp"
#include "model_test_data.hpp"
#include "vigil/models/baseline.hpp"
#include "vigil/models/standardizer.hpp"

namespace vigil::models {
namespace {

TEST_CASE("batch baseline holds the mean and co-moments of a hand example", "[models][baseline]") {
  // x = 1..5, y = 2 1 4 3 5: deviations x -2 -1 0 1 2, y -1 -2 1 0 2.
  const std::vector<double> v = {1, 2, 2, 1, 3, 4, 4, 3, 5, 5};
  auto b = Baseline::from_samples({v, 5, 2});
  REQUIRE(b.ok());
  CHECK(b->mean[0] == Approx(3));
  CHECK(b->mean[1] == Approx(3));
  CHECK(b->comoment[0] == Approx(10));
  CHECK(b->comoment[1] == Approx(8));
  CHECK(b->covariance(0, 1) == Approx(2));
  // sum x_dev^2 y_dev^2 = 4 + 4 + 0 + 0 + 16.
  CHECK(b->fourth_comoment[1] == Approx(24));
  CHECK(b->fourth_comoment[0] == Approx(16 + 1 + 0 + 1 + 16));
}

TEST_CASE("batch baseline refuses too few vectors and non-finite values", "[models][baseline][config]") {
  const std::vector<double> one = {1, 2};
  auto b1 = Baseline::from_samples({one, 1, 2});
  REQUIRE_FALSE(b1.ok());
  CHECK(b1.error().message.find("at least two vectors") != std::string::npos);
  const std::vector<double> bad = {1, 2, std::numeric_limits<double>::quiet_NaN(), 4};
  auto b2 = Baseline::from_samples({bad, 2, 2});
  REQUIRE_FALSE(b2.ok());
  CHECK(b2.error().message == "training data row 1 feature 0 is not a finite number");
  auto b3 = Baseline::from_samples({bad, 3, 2});
  REQUIRE_FALSE(b3.ok());
  CHECK(b3.error().message.find("expected rows * cols = 6") != std::string::npos);
}

TEST_CASE("online baseline matches the two-pass moments", "[models][baseline]") {
  const std::size_t rows = 500, cols = 6;
  const auto v = test_data::correlated(rows, cols, 7);
  auto batch = Baseline::from_samples({v, rows, cols});
  REQUIRE(batch.ok());
  OnlineBaseline online(cols, rows);
  for (std::size_t r = 0; r < rows; ++r) REQUIRE(online.add({v.data() + r * cols, cols}));
  CHECK(online.frozen());
  auto b = online.baseline();
  REQUIRE(b.ok());
  CHECK(b->count == rows);
  for (std::size_t i = 0; i < cols; ++i) CHECK(b->mean[i] == Approx(batch->mean[i]).epsilon(1e-12));
  for (std::size_t k = 0; k < cols * cols; ++k) {
    CHECK(b->comoment[k] == Approx(batch->comoment[k]).epsilon(1e-9));
    CHECK(b->fourth_comoment[k] == Approx(batch->fourth_comoment[k]).epsilon(1e-9));
  }
}

TEST_CASE("online baseline freezes after its capacity and refuses bad vectors", "[models][baseline]") {
  OnlineBaseline online(2, 3);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_FALSE(online.add(std::vector<double>{1.0}));
  CHECK_FALSE(online.add(std::vector<double>{1.0, nan}));
  CHECK_FALSE(online.baseline().ok());
  CHECK(online.add(std::vector<double>{1.0, 2.0}));
  CHECK(online.add(std::vector<double>{2.0, 2.0}));
  CHECK(online.add(std::vector<double>{3.0, 5.0}));
  CHECK(online.frozen());
  CHECK_FALSE(online.add(std::vector<double>{100.0, 100.0}));
  auto b = online.baseline();
  REQUIRE(b.ok());
  CHECK(b->mean[0] == Approx(2));
  CHECK(b->mean[1] == Approx(3));
  CHECK(b->covariance(0, 0) == Approx(1));
  CHECK(b->covariance(1, 1) == Approx(3));
  CHECK(b->covariance(0, 1) == Approx(1.5));
  online.reset();
  CHECK(online.count() == 0);
  CHECK(online.add(std::vector<double>{1.0, 2.0}));
}

TEST_CASE("online baseline add allocates nothing", "[models][baseline][alloc]") {
  const std::size_t cols = 20;
  const auto v = test_data::correlated(100, cols, 3);
  OnlineBaseline online(cols, 100);
  test::AllocationCounter allocs;
  for (std::size_t r = 0; r < 100; ++r) online.add({v.data() + r * cols, cols});
  CHECK(allocs.count() == 0);
}

TEST_CASE("standardizer uses the sample std and ignores constant features", "[models][standardizer]") {
  // Feature 0: 1 2 3 (mean 2, std 1); feature 1: constant 5; feature 2: 10 10 10 + 1e-12 noise.
  const std::vector<double> v = {1, 5, 10, 2, 5, 10 + 1e-12, 3, 5, 10};
  auto b = Baseline::from_samples({v, 3, 3});
  REQUIRE(b.ok());
  auto s = Standardizer::fit(*b);
  REQUIRE(s.ok());
  CHECK(s->constant_count() == 2);
  CHECK_FALSE(s->constant(0));
  CHECK(s->constant(1));
  CHECK(s->constant(2));
  std::vector<double> z(3);
  s->transform(std::vector<double>{4, 6, 11}, z);
  CHECK(z[0] == Approx(2));
  CHECK(z[1] == 0);
  CHECK(z[2] == 0);
}

TEST_CASE("standardizer refuses a baseline whose sizes do not match", "[models][standardizer][config]") {
  Baseline b;
  b.count = 10;
  b.dim = 2;
  b.mean = {0, 0};
  b.comoment = {1, 0, 0};
  auto s = Standardizer::fit(b);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message == "the baseline's mean and co-moment sizes do not match its 2 features");
}

TEST_CASE("standardizer can divide constant features by the floor instead", "[models][standardizer]") {
  const std::vector<double> v = {1, 5, 2, 5, 3, 5};
  auto b = Baseline::from_samples({v, 3, 2});
  REQUIRE(b.ok());
  StandardizerOptions o;
  o.ignore_constant = false;
  o.min_std = 0.01;
  auto s = Standardizer::fit(*b, o);
  REQUIRE(s.ok());
  CHECK(s->std_dev()[1] == Approx(0.01));
  std::vector<double> z(2);
  s->transform(std::vector<double>{2, 5.5}, z);
  CHECK(z[1] == Approx(50));
}

}  // namespace
}  // namespace vigil::models
