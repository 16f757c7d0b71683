#pragma once
// Distribution functions the models need for their control limits: the normal, F and
// chi-square quantiles, built on the regularized incomplete beta and gamma functions.
// Setup-time code (limits are computed once, at fit); every function is pure and thread-safe
// except that std::lgamma may write the global `signgam`.
namespace vigil::models {

/// Regularized incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1 (Lentz continued
/// fraction); NaN outside that domain.
double regularized_beta(double x, double a, double b) noexcept;

/// Regularized lower incomplete gamma P(a, x) for a > 0, x >= 0 (series below a + 1, Lentz
/// continued fraction for Q = 1 - P above); NaN outside that domain.
double regularized_gamma_p(double a, double x) noexcept;

/// Standard normal CDF.
double normal_cdf(double x) noexcept;

/// Standard normal quantile: x with normal_cdf(x) = p, 0 < p < 1 (Acklam's rational
/// approximation refined by one Halley step, about 1e-15 relative). NaN outside (0, 1).
double normal_quantile(double p) noexcept;

/// CDF of the F distribution with d1, d2 > 0 degrees of freedom at x >= 0.
double f_cdf(double x, double d1, double d2) noexcept;

/// Quantile of the F distribution: x with f_cdf(x, d1, d2) = p, 0 < p < 1 (the incomplete
/// beta inverted by safeguarded Newton steps inside a bisection bracket). NaN on bad input.
double f_quantile(double p, double d1, double d2) noexcept;

/// CDF of the chi-square distribution with k > 0 degrees of freedom (need not be an integer).
double chi_square_cdf(double x, double k) noexcept;

/// Quantile of the chi-square distribution: x with chi_square_cdf(x, k) = p, 0 < p < 1.
/// NaN on bad input.
double chi_square_quantile(double p, double k) noexcept;

}  // namespace vigil::models
