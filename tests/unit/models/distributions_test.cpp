// Quantiles and CDFs against printed tables, closed forms and identities (no shared code with
// the implementation).
#include <cmath>

#include <catch2/catch.hpp>

#include "vigil/models/distributions.hpp"

namespace vigil::models {
namespace {

TEST_CASE("regularized incomplete beta matches closed forms", "[models][distributions]") {
  CHECK(regularized_beta(0.3, 1, 1) == Approx(0.3).epsilon(1e-14));
  CHECK(regularized_beta(0.3, 2.5, 1) == Approx(std::pow(0.3, 2.5)).epsilon(1e-13));
  CHECK(regularized_beta(0.3, 1, 4) == Approx(1 - std::pow(0.7, 4)).epsilon(1e-13));
  CHECK(regularized_beta(0.5, 7.5, 7.5) == Approx(0.5).epsilon(1e-13));
  // I_x(a, b) = 1 - I_{1-x}(b, a), on both sides of the continued fraction's switch point.
  for (double x : {0.05, 0.3, 0.6, 0.95}) {
    CHECK(regularized_beta(x, 3.5, 12) == Approx(1 - regularized_beta(1 - x, 12, 3.5)).epsilon(1e-12));
  }
  CHECK(regularized_beta(0, 2, 3) == 0);
  CHECK(regularized_beta(1, 2, 3) == 1);
  CHECK(std::isnan(regularized_beta(1.5, 2, 3)));
  CHECK(std::isnan(regularized_beta(0.5, 0, 3)));
}

TEST_CASE("regularized incomplete gamma matches closed forms", "[models][distributions]") {
  // P(1, x) = 1 - e^-x; P(2, x) = 1 - (1 + x) e^-x; on both the series and the fraction side.
  for (double x : {0.1, 1.0, 3.0, 12.0, 40.0}) {
    CHECK(regularized_gamma_p(1, x) == Approx(1 - std::exp(-x)).epsilon(1e-13));
    CHECK(regularized_gamma_p(2, x) == Approx(1 - (1 + x) * std::exp(-x)).epsilon(1e-13));
  }
  // P(1/2, x) = erf(sqrt(x)).
  CHECK(regularized_gamma_p(0.5, 2.0) == Approx(std::erf(std::sqrt(2.0))).epsilon(1e-13));
  CHECK(std::isnan(regularized_gamma_p(-1, 2)));
}

TEST_CASE("normal quantile matches tables and inverts the CDF", "[models][distributions]") {
  CHECK(normal_quantile(0.975) == Approx(1.959963985).epsilon(1e-9));
  CHECK(normal_quantile(0.95) == Approx(1.644853627).epsilon(1e-9));
  CHECK(normal_quantile(0.99) == Approx(2.326347874).epsilon(1e-9));
  CHECK(normal_quantile(0.999) == Approx(3.090232306).epsilon(1e-9));
  CHECK(normal_quantile(0.5) == Approx(0).margin(1e-15));
  CHECK(normal_quantile(1e-6) == Approx(-4.753424309).epsilon(1e-9));
  for (double p : {1e-12, 1e-4, 0.02, 0.3, 0.7, 0.98, 1 - 1e-9}) {
    CHECK(normal_cdf(normal_quantile(p)) == Approx(p).epsilon(1e-12));
  }
  CHECK(std::isnan(normal_quantile(0)));
  CHECK(std::isnan(normal_quantile(1)));
}

TEST_CASE("F quantile matches printed tables", "[models][distributions]") {
  CHECK(f_quantile(0.95, 2, 10) == Approx(4.1028).epsilon(1e-4));
  CHECK(f_quantile(0.99, 5, 20) == Approx(4.1027).epsilon(1e-4));
  CHECK(f_quantile(0.95, 1, 1) == Approx(161.45).epsilon(1e-4));
  CHECK(f_quantile(0.99, 3, 30) == Approx(4.5097).epsilon(1e-4));
  CHECK(f_quantile(0.95, 10, 100) == Approx(1.9267).epsilon(1e-4));
  CHECK(f_quantile(0.95, 4, 9) == Approx(3.6331).epsilon(1e-4));
}

TEST_CASE("F quantile with two numerator degrees of freedom matches its closed form", "[models][distributions]") {
  // For d1 = 2: F = (d2 / 2) ((1 - p)^(-2 / d2) - 1).
  for (double d2 : {1.0, 3.0, 9.0, 47.5, 400.0}) {
    for (double p : {0.5, 0.9, 0.95, 0.99, 0.999}) {
      const double exact = d2 / 2 * (std::pow(1 - p, -2 / d2) - 1);
      CHECK(f_quantile(p, 2, d2) == Approx(exact).epsilon(1e-10));
      CHECK(f_cdf(exact, 2, d2) == Approx(p).epsilon(1e-12));
    }
  }
}

TEST_CASE("chi-square quantile matches tables and closed forms", "[models][distributions]") {
  CHECK(chi_square_quantile(0.95, 3) == Approx(7.8147).epsilon(1e-4));
  CHECK(chi_square_quantile(0.95, 1) == Approx(3.8415).epsilon(1e-4));
  CHECK(chi_square_quantile(0.99, 10) == Approx(23.2093).epsilon(1e-5));
  CHECK(chi_square_quantile(0.95, 100) == Approx(124.3421).epsilon(1e-5));
  CHECK(chi_square_quantile(0.05, 5) == Approx(1.1455).epsilon(1e-4));
  // Two degrees of freedom: -2 ln(1 - p); one: z_{(1+p)/2}^2.
  for (double p : {0.01, 0.5, 0.95, 0.999999}) {
    CHECK(chi_square_quantile(p, 2) == Approx(-2 * std::log1p(-p)).epsilon(1e-11));
  }
  const double z = 1.959963984540054;
  CHECK(chi_square_quantile(0.95, 1) == Approx(z * z).epsilon(1e-11));
  CHECK(chi_square_cdf(chi_square_quantile(0.9, 3.7), 3.7) == Approx(0.9).epsilon(1e-12));
  CHECK(std::isnan(chi_square_quantile(1.0, 3)));
}

}  // namespace
}  // namespace vigil::models
