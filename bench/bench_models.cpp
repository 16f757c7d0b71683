// Cost of one model call on the pipeline thread: PCA T2/Q and Mahalanobis on 20 features, EWMA
// and CUSUM on one feature, vibration features of a 2,560-sample snapshot (0.1 s at 25.6 kHz,
// four bands).
//
//   bench_models [--seconds S]
//
// Each case fits its model first (not timed), then calls it in a loop for about S seconds
// (default 0.5) on precomputed inputs and prints microseconds per call, best of 3 runs. The
// inputs cycle through a few hundred vectors so the branch predictor does not learn one answer.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numbers>
#include <random>
#include <vector>

#include "vigil/models/baseline.hpp"
#include "vigil/models/control_charts.hpp"
#include "vigil/models/mahalanobis.hpp"
#include "vigil/models/pca_anomaly.hpp"
#include "vigil/models/vibration.hpp"

using namespace vigil::models;
using Clock = std::chrono::steady_clock;

namespace {

volatile double g_sink = 0;  // keeps the calls from being optimized away

std::vector<double> correlated(std::size_t rows, std::size_t cols, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<double> v(rows * cols), e(cols);
  for (std::size_t r = 0; r < rows; ++r) {
    for (double& x : e) x = normal(rng);
    for (std::size_t j = 0; j < cols; ++j) {
      v[r * cols + j] = 10.0 * static_cast<double>(j) + e[j] + (j > 0 ? 0.6 * e[j - 1] : 0.0);
    }
  }
  return v;
}

// Microseconds per call of `call(i)`, best of 3 runs of about `seconds` each.
double time_calls(double seconds, const std::function<double(std::size_t)>& call) {
  double best = 1e300;
  for (int run = 0; run < 3; ++run) {
    std::size_t calls = 0;
    double sink = 0;
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration<double>(seconds);
    Clock::time_point now;
    do {
      for (int i = 0; i < 256; ++i) sink += call(calls++);
      now = Clock::now();
    } while (now < deadline);
    g_sink = g_sink + sink;
    best = std::min(best, std::chrono::duration<double, std::micro>(now - start).count() / static_cast<double>(calls));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0.5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: bench_models [--seconds S]\n");
      return 2;
    }
  }
  const std::size_t dim = 20, rows = 1000, probes = 512;
  const auto train = correlated(rows, dim, 1);
  const auto input = correlated(probes, dim, 2);
  auto baseline = Baseline::from_samples({train, rows, dim});
  if (!baseline) {
    std::fprintf(stderr, "%s\n", baseline.error().message.c_str());
    return 1;
  }

  auto pca = PcaAnomaly::fit(*baseline);
  auto maha = Mahalanobis::fit(*baseline);
  auto ewma = Ewma::create({});
  auto cusum = Cusum::create({});
  VibrationOptions vo;
  vo.max_samples = 2560;
  vo.bands = {{0, 1000}, {1000, 3000}, {3000, 6000}, {6000, 12800}};
  auto vib = VibrationExtractor::create(vo);
  if (!pca || !maha || !ewma || !cusum || !vib) {
    std::fprintf(stderr, "model setup failed\n");
    return 1;
  }

  std::vector<double> snapshot(2560 * 8);
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  for (std::size_t i = 0; i < snapshot.size(); ++i) {
    snapshot[i] = std::sin(2 * std::numbers::pi * 1500 * static_cast<double>(i) / 25600) + 0.3 * normal(rng);
  }
  VibrationFeatures features;
  std::vector<double> energy(vo.bands.size());

  std::printf("%-44s %12s\n", "case", "us/call");
  std::printf("%-44s %12.3f\n", "pca T2+Q, 20 features (k kept below)",
              time_calls(seconds, [&](std::size_t i) {
                const auto s = pca->score({input.data() + (i % probes) * dim, dim});
                return s.t2 + s.q;
              }));
  std::printf("%-44s %12.3f\n", "mahalanobis, 20 features",
              time_calls(seconds, [&](std::size_t i) { return maha->score({input.data() + (i % probes) * dim, dim}).d2; }));
  std::printf("%-44s %12.3f\n", "ewma, 1 feature",
              time_calls(seconds, [&](std::size_t i) { return ewma->update(input[i % (probes * dim)]).statistic; }));
  std::printf("%-44s %12.3f\n", "cusum, 1 feature",
              time_calls(seconds, [&](std::size_t i) { return cusum->update(input[i % (probes * dim)]).upper; }));
  std::printf("%-44s %12.3f\n", "vibration, 2560 samples, 4 bands (FFT 4096)",
              time_calls(seconds, [&](std::size_t i) {
                vib->compute({snapshot.data() + (i % 8) * 2560, 2560}, 25600, features, energy);
                return features.kurtosis + energy[0];
              }));
  std::printf("pca kept %zu of %zu components (%.1f %% of the variance)\n", pca->components(), dim,
              100 * pca->explained_variance());
  return 0;
}
