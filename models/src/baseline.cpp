#include "vigil/models/baseline.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace vigil::models {

Result<Baseline> Baseline::from_samples(const Samples& samples) {
  if (samples.rows < 2 || samples.cols == 0) {
    return Error{"training data has " + std::to_string(samples.rows) + " vectors of " + std::to_string(samples.cols) +
                 " features; give at least two vectors of at least one feature"};
  }
  if (samples.values.size() != samples.rows * samples.cols) {
    return Error{"training data has " + std::to_string(samples.values.size()) + " values, expected rows * cols = " +
                 std::to_string(samples.rows * samples.cols)};
  }
  for (std::size_t k = 0; k < samples.values.size(); ++k) {
    if (!std::isfinite(samples.values[k])) {
      return Error{"training data row " + std::to_string(k / samples.cols) + " feature " +
                   std::to_string(k % samples.cols) + " is not a finite number"};
    }
  }
  const std::size_t d = samples.cols;
  Baseline b;
  b.count = samples.rows;
  b.dim = d;
  b.mean.assign(d, 0.0);
  b.comoment.assign(d * d, 0.0);
  b.fourth_comoment.assign(d * d, 0.0);
  for (std::size_t k = 0; k < samples.rows; ++k) {
    for (std::size_t i = 0; i < d; ++i) b.mean[i] += samples.row(k)[i];
  }
  for (double& m : b.mean) m /= static_cast<double>(samples.rows);
  std::vector<double> y(d);
  for (std::size_t k = 0; k < samples.rows; ++k) {
    for (std::size_t i = 0; i < d; ++i) y[i] = samples.row(k)[i] - b.mean[i];
    for (std::size_t i = 0; i < d; ++i) {
      for (std::size_t j = 0; j < d; ++j) {
        b.comoment[i * d + j] += y[i] * y[j];
        b.fourth_comoment[i * d + j] += y[i] * y[i] * y[j] * y[j];
      }
    }
  }
  return b;
}

OnlineBaseline::OnlineBaseline(std::size_t dim, std::size_t capacity)
    : dim_(dim), capacity_(capacity), mean_(dim), shift_(dim), m11_(dim * dim), m21_(dim * dim), m22_(dim * dim) {}

bool OnlineBaseline::add(std::span<const double> x) noexcept {
  if (frozen() || x.size() != dim_) return false;
  for (double v : x) {
    if (!std::isfinite(v)) return false;
  }
  // The sums are kept about the running mean. Adding a vector moves the mean by d = delta / n';
  // the old sums are first re-centred on the new mean (expanding (y - d)^p, whose first-order
  // sums vanish), then the new vector's own deviation e = x - mean' is added.
  const std::size_t d = dim_;
  const double n = static_cast<double>(count_);
  const double n1 = n + 1;
  for (std::size_t i = 0; i < d; ++i) shift_[i] = (x[i] - mean_[i]) / n1;
  const double* s = shift_.data();
  for (std::size_t a = 0; a < d; ++a) {
    const double m20a = m11_[a * d + a];
    for (std::size_t b = 0; b < d; ++b) {
      const double m20b = m11_[b * d + b];
      m22_[a * d + b] += -2 * s[b] * m21_[a * d + b] - 2 * s[a] * m21_[b * d + a] + s[b] * s[b] * m20a +
                         s[a] * s[a] * m20b + 4 * s[a] * s[b] * m11_[a * d + b] + n * s[a] * s[a] * s[b] * s[b];
    }
  }
  for (std::size_t a = 0; a < d; ++a) {
    const double m20a = m11_[a * d + a];
    for (std::size_t b = 0; b < d; ++b) {
      m21_[a * d + b] += -s[b] * m20a - 2 * s[a] * m11_[a * d + b] - n * s[a] * s[a] * s[b];
    }
  }
  for (std::size_t a = 0; a < d; ++a) {
    for (std::size_t b = 0; b < d; ++b) m11_[a * d + b] += n * s[a] * s[b];
  }
  for (std::size_t i = 0; i < d; ++i) mean_[i] += s[i];
  for (std::size_t a = 0; a < d; ++a) {
    const double ea = x[a] - mean_[a];
    for (std::size_t b = 0; b < d; ++b) {
      const double eb = x[b] - mean_[b];
      m11_[a * d + b] += ea * eb;
      m21_[a * d + b] += ea * ea * eb;
      m22_[a * d + b] += ea * ea * eb * eb;
    }
  }
  ++count_;
  return true;
}

Result<Baseline> OnlineBaseline::baseline() const {
  if (count_ < 2) {
    return Error{"the baseline has learned " + std::to_string(count_) + " vectors; at least 2 are needed"};
  }
  Baseline b;
  b.count = count_;
  b.dim = dim_;
  b.mean = mean_;
  b.comoment = m11_;
  b.fourth_comoment = m22_;
  return b;
}

void OnlineBaseline::save(std::vector<double>& out) const {
  out.push_back(static_cast<double>(count_));
  for (const auto* v : {&mean_, &m11_, &m21_, &m22_}) out.insert(out.end(), v->begin(), v->end());
}

bool OnlineBaseline::load(std::span<const double>& in) noexcept {
  const std::size_t need = 1 + dim_ + 3 * dim_ * dim_;
  if (in.size() < need || !(in[0] >= 0) || in[0] > static_cast<double>(capacity_) || in[0] != std::floor(in[0]))
    return false;
  count_ = static_cast<std::size_t>(in[0]);
  std::size_t at = 1;
  for (auto* v : {&mean_, &m11_, &m21_, &m22_}) {
    std::copy_n(in.data() + at, v->size(), v->data());
    at += v->size();
  }
  in = in.subspan(need);
  return true;
}

void OnlineBaseline::reset() noexcept {
  count_ = 0;
  for (auto* v : {&mean_, &m11_, &m21_, &m22_}) {
    for (double& e : *v) e = 0;
  }
}

}  // namespace vigil::models
