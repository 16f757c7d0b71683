#pragma once
// Seeded synthetic training data for the models tests.
#include <cstddef>
#include <random>
#include <vector>

#include "vigil/models/baseline.hpp"

namespace vigil::models::test_data {

/// `rows` vectors of `cols` correlated Gaussian features with different means and scales:
/// feature j = mean_j + scale_j * (e_j + 0.6 * e_{j-1}) for independent standard normals e.
inline std::vector<double> correlated(std::size_t rows, std::size_t cols, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<double> v(rows * cols);
  std::vector<double> e(cols);
  for (std::size_t r = 0; r < rows; ++r) {
    for (double& x : e) x = normal(rng);
    for (std::size_t j = 0; j < cols; ++j) {
      const double mixed = e[j] + (j > 0 ? 0.6 * e[j - 1] : 0.0);
      v[r * cols + j] = 100.0 * static_cast<double>(j) + (1.0 + static_cast<double>(j)) * mixed;
    }
  }
  return v;
}

/// A hand-built baseline with the given mean and covariance (row-major) from `count` vectors.
inline Baseline from_covariance(std::size_t count, std::vector<double> mean, const std::vector<double>& covariance) {
  Baseline b;
  b.count = count;
  b.dim = mean.size();
  b.mean = std::move(mean);
  for (double c : covariance) b.comoment.push_back(c * static_cast<double>(count - 1));
  return b;
}

}  // namespace vigil::models::test_data
