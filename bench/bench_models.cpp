// Cost of one model call on the pipeline thread: PCA T2/Q and Mahalanobis on 20 features, EWMA
// and CUSUM on one feature, vibration features of a 2,560-sample snapshot (0.1 s at 25.6 kHz,
// four bands), and RUL (trend features over 30 windows of 14 inputs and the regression, kernel
// with 300 centers and linear), with the size of its model file.
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
#include <optional>
#include <random>
#include <vector>

#include "vigil/models/baseline.hpp"
#include "vigil/models/control_charts.hpp"
#include "vigil/models/mahalanobis.hpp"
#include "vigil/models/model_file.hpp"
#include "vigil/models/pca_anomaly.hpp"
#include "vigil/models/rul.hpp"
#include "vigil/models/vibration.hpp"
#include "model_test_data.hpp"

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

// A RUL model over `inputs` features per window, trained on 60 synthetic runs to failure; nullopt
// when fitting fails.
std::optional<RulRegressor> rul_model(std::size_t inputs, RulMethod method, std::size_t* file_bytes) {
  const test_data::NoisyRuns runs{60, inputs, 30, 4, 0.05, 130, 330};
  const RulTrainingSet set = test_data::noisy_runs_to_failure(runs, [](std::span<double> x, double p, auto& noise) {
    for (std::size_t j = 0; j < x.size(); ++j) x[j] = static_cast<double>(j) + (j % 3 == 0 ? p * p : 0.0) + noise();
  });
  RulFitOptions o;
  o.method = method;
  o.gamma = 0.02;
  o.ridge = 0.1;
  auto r = RulRegressor::fit(set, o);
  if (!r) return std::nullopt;
  ModelFile file;
  file.type = "rul";
  for (std::size_t j = 0; j < inputs; ++j) file.features.push_back("s" + std::to_string(j) + "_last");
  r->to_file(file);
  *file_bytes = encode_model_file(file).size();
  return std::move(r).value();
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
  std::size_t kernel_bytes = 0, linear_bytes = 0;
  const std::size_t inputs = 14;
  auto rul_kernel = rul_model(inputs, RulMethod::kernel, &kernel_bytes);
  auto rul_linear = rul_model(inputs, RulMethod::linear, &linear_bytes);
  if (!rul_kernel || !rul_linear) {
    std::fprintf(stderr, "rul setup failed\n");
    return 1;
  }
  TrendFeatures trend(inputs, 30, true);
  std::vector<double> z(trend.derived_dim());
  const auto window_input = correlated(probes, inputs, 5);
  auto rul_call = [&](RulRegressor& m) {
    return [&](std::size_t i) {
      trend.push({window_input.data() + (i % probes) * inputs, inputs});
      trend.derive(z);
      return m.predict(z).rul;
    };
  };
  std::printf("%-44s %12.3f\n", "rul kernel, 14 inputs x 30 windows, 300 centers", time_calls(seconds, rul_call(*rul_kernel)));
  std::printf("%-44s %12.3f\n", "rul linear, 14 inputs x 30 windows", time_calls(seconds, rul_call(*rul_linear)));
  std::printf("%-44s %12.3f\n", "  of which trend features (push + derive)", time_calls(seconds, [&](std::size_t i) {
                trend.push({window_input.data() + (i % probes) * inputs, inputs});
                trend.derive(z);
                return z[0];
              }));
  std::printf("pca kept %zu of %zu components (%.1f %% of the variance)\n", pca->components(), dim,
              100 * pca->explained_variance());
  std::printf("rul model file: kernel %zu bytes (%zu centers x %zu features), linear %zu bytes\n", kernel_bytes,
              rul_kernel->basis(), rul_kernel->dim(), linear_bytes);
  return 0;
}
