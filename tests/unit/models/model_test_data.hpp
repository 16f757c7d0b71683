#pragma once
// Seeded synthetic training data for the models tests.
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "vigil/models/baseline.hpp"
#include "vigil/models/rul.hpp"

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

/// Run-to-failure training rows: `keys` machines, machine k running `life(k)` windows of `inputs`
/// values, `fill(x, k, age, life)` writing window `age`. Each window gives the trend features over
/// `history` windows (with age) as a row whose target is the windows left, life - 1 - age.
template <class Life, class Fill>
RulTrainingSet runs_to_failure(std::size_t keys, std::size_t inputs, std::size_t history, Life life, Fill fill) {
  RulTrainingSet set;
  set.dim = TrendFeatures(inputs, history, true).derived_dim();
  std::vector<double> x(inputs);
  for (std::uint32_t k = 0; k < keys; ++k) {
    const std::size_t n = life(k);
    TrendFeatures t(inputs, history, true);
    for (std::size_t a = 0; a < n; ++a) {
      fill(std::span<double>(x), k, a, n);
      t.push(x);
      const std::size_t at = set.z.size();
      set.z.resize(at + set.dim);
      t.derive(std::span<double>(set.z).subspan(at, set.dim));
      set.remaining.push_back(static_cast<double>(n - 1 - a));
      set.group.push_back(k);
    }
  }
  return set;
}

/// Seeded noisy runs to failure: each machine's life uniform in [min_life, max_life].
struct NoisyRuns {
  std::size_t keys = 0;
  std::size_t inputs = 0;
  std::size_t history = 0;
  std::uint64_t seed = 0;
  double sigma = 0;  ///< of the Gaussian noise
  std::size_t min_life = 0;
  std::size_t max_life = 0;
};

/// runs_to_failure() with one generator seeded `runs.seed`: a machine's life is drawn before its
/// windows, and `shape(x, p, noise)` writes each window at wear p = age / life, drawing noise()
/// (Gaussian, sigma `runs.sigma`) as it goes. Appends each life to `lives` when given.
template <class Shape>
RulTrainingSet noisy_runs_to_failure(const NoisyRuns& runs, Shape shape, std::vector<std::size_t>* lives = nullptr) {
  std::mt19937_64 rng(runs.seed);
  std::normal_distribution<double> normal(0.0, runs.sigma);
  std::uniform_int_distribution<std::size_t> life_of(runs.min_life, runs.max_life);
  auto noise = [&] { return normal(rng); };
  return runs_to_failure(
      runs.keys, runs.inputs, runs.history,
      [&](std::uint32_t) {
        const std::size_t life = life_of(rng);
        if (lives) lives->push_back(life);
        return life;
      },
      [&](std::span<double> x, std::uint32_t, std::size_t age, std::size_t life) {
        shape(x, static_cast<double>(age) / static_cast<double>(life), noise);
      });
}

}  // namespace vigil::models::test_data
