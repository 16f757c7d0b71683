#include "vigil/models/distributions.hpp"

#include <cmath>
#include <limits>
#include <numbers>

namespace vigil::models {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kEps = 1e-15;
constexpr double kTiny = 1e-300;  // keeps Lentz's denominators away from zero
constexpr int kMaxIterations = 500;

// Continued fraction of I_x(a, b) (modified Lentz); converges fast for x < (a + 1)/(a + b + 2).
double beta_continued_fraction(double x, double a, double b) noexcept {
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1;
  double d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= kMaxIterations; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < kEps) break;
  }
  return h;
}

double log_beta(double a, double b) noexcept {
  return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b);
}

double beta_pdf(double x, double a, double b) noexcept {
  if (x <= 0 || x >= 1) return 0;
  return std::exp((a - 1) * std::log(x) + (b - 1) * std::log1p(-x) - log_beta(a, b));
}

double gamma_pdf(double x, double a) noexcept {  // density of Gamma(a, 1)
  if (x <= 0) return 0;
  return std::exp((a - 1) * std::log(x) - x - std::lgamma(a));
}

// Inverts an increasing CDF on [lo, hi] (cdf(lo) <= p <= cdf(hi)): Newton steps from `x`,
// replaced by bisection whenever a step leaves the bracket, so it always converges.
template <class Cdf, class Pdf>
double invert(double p, double lo, double hi, double x, Cdf cdf, Pdf pdf) noexcept {
  for (int i = 0; i < kMaxIterations; ++i) {
    const double f = cdf(x) - p;
    if (f == 0) return x;
    if (f < 0) lo = x; else hi = x;
    const double slope = pdf(x);
    double next = (slope > 0 && std::isfinite(slope)) ? x - f / slope : kNaN;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (std::fabs(next - x) <= 4 * std::numeric_limits<double>::epsilon() * std::fabs(x) ||
        hi - lo <= 4 * std::numeric_limits<double>::epsilon() * std::fabs(hi)) {
      return next;
    }
    x = next;
  }
  return x;
}

}  // namespace

double regularized_beta(double x, double a, double b) noexcept {
  if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1)) return kNaN;
  if (x == 0) return 0;
  if (x == 1) return 1;
  const double front = std::exp(a * std::log(x) + b * std::log1p(-x) - log_beta(a, b));
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(x, a, b) / a;
  return 1 - front * beta_continued_fraction(1 - x, b, a) / b;
}

double regularized_gamma_p(double a, double x) noexcept {
  if (!(a > 0) || !(x >= 0)) return kNaN;
  if (x == 0) return 0;
  if (std::isinf(x)) return 1;
  const double front = std::exp(-x + a * std::log(x) - std::lgamma(a));
  if (x < a + 1) {
    double ap = a, term = 1 / a, sum = term;
    for (int n = 0; n < kMaxIterations; ++n) {
      ap += 1;
      term *= x / ap;
      sum += term;
      if (std::fabs(term) < std::fabs(sum) * kEps) break;
    }
    return sum * front;
  }
  double b = x + 1 - a, c = 1 / kTiny, d = 1 / b, h = d;
  for (int i = 1; i <= kMaxIterations; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < kEps) break;
  }
  return 1 - front * h;
}

double normal_cdf(double x) noexcept { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

double normal_quantile(double p) noexcept {
  if (!(p > 0) || !(p < 1)) return kNaN;
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double kLow = 0.02425;
  double x;
  if (p < kLow || p > 1 - kLow) {
    const double q = std::sqrt(-2 * std::log(p < kLow ? p : 1 - p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    if (p > 1 - kLow) x = -x;
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  // Acklam's approximation is good to 1.15e-9; one Halley step brings it to full precision.
  const double e = normal_cdf(x) - p;
  const double u = e * std::sqrt(2 * std::numbers::pi) * std::exp(0.5 * x * x);
  return x - u / (1 + 0.5 * x * u);
}

double f_cdf(double x, double d1, double d2) noexcept {
  if (!(d1 > 0) || !(d2 > 0) || std::isnan(x)) return kNaN;
  if (x <= 0) return 0;
  return regularized_beta(d1 * x / (d1 * x + d2), 0.5 * d1, 0.5 * d2);
}

double f_quantile(double p, double d1, double d2) noexcept {
  if (!(p > 0) || !(p < 1) || !(d1 > 0) || !(d2 > 0)) return kNaN;
  const double a = 0.5 * d1, b = 0.5 * d2;
  // Invert I_x(a, b) = p for the beta variable x = d1 F / (d1 F + d2), then map back. In the
  // upper tail x is close to 1 and 1 - x would lose digits, so solve for y = 1 - x instead
  // (I_y(b, a) = 1 - p).
  if (p > 0.5) {
    const double y = invert(
        1 - p, 0.0, 1.0, b / (a + b), [&](double v) { return regularized_beta(v, b, a); },
        [&](double v) { return beta_pdf(v, b, a); });
    return d2 * (1 - y) / (d1 * y);
  }
  const double x = invert(
      p, 0.0, 1.0, a / (a + b), [&](double v) { return regularized_beta(v, a, b); },
      [&](double v) { return beta_pdf(v, a, b); });
  return d2 * x / (d1 * (1 - x));
}

double chi_square_cdf(double x, double k) noexcept {
  if (!(k > 0) || std::isnan(x)) return kNaN;
  if (x <= 0) return 0;
  return regularized_gamma_p(0.5 * k, 0.5 * x);
}

double chi_square_quantile(double p, double k) noexcept {
  if (!(p > 0) || !(p < 1) || !(k > 0)) return kNaN;
  const double a = 0.5 * k;
  // Bracket the quantile of Gamma(a, 1) by doubling, then invert; chi-square = 2 * gamma.
  double hi = a + 1;
  while (regularized_gamma_p(a, hi) < p && hi < 1e300) hi *= 2;
  const double g = invert(
      p, 0.0, hi, a, [&](double v) { return regularized_gamma_p(a, v); },
      [&](double v) { return gamma_pdf(v, a); });
  return 2 * g;
}

}  // namespace vigil::models
