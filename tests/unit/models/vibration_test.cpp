// Vibration features against textbook formulas and a naive O(n^2) DFT of the same windowed,
// zero-padded snapshot.
#include <cmath>
#include <complex>
#include <numbers>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "allocation_counter.hpp"
#include "vigil/models/vibration.hpp"

namespace vigil::models {
namespace {

VibrationExtractor make(std::size_t max_samples, std::vector<Band> bands, SpectrumWindow window,
                        bool remove_mean = true) {
  VibrationOptions o;
  o.max_samples = max_samples;
  o.bands = std::move(bands);
  o.window = window;
  o.remove_mean = remove_mean;
  auto e = VibrationExtractor::create(o);
  REQUIRE(e.ok());
  return std::move(e).value();
}

TEST_CASE("vibration time features match hand values", "[models][vibration]") {
  auto e = make(8, {}, SpectrumWindow::hann);
  VibrationFeatures f;
  // 0 0 0 4: rms sqrt(16/4) = 2, peak 4, crest 2; deviations -1 -1 -1 3: m2 = 3, m4 = 21.
  REQUIRE(e.compute(std::vector<double>{0, 0, 0, 4}, 1000, f, {}));
  CHECK(f.rms == Approx(2));
  CHECK(f.peak == Approx(4));
  CHECK(f.crest_factor == Approx(2));
  CHECK(f.kurtosis == Approx(21.0 / 9));
  // A square wave: rms 1, peak 1, crest 1, kurtosis 1.
  REQUIRE(e.compute(std::vector<double>{1, -1, 1, -1, 1, -1}, 1000, f, {}));
  CHECK(f.rms == Approx(1));
  CHECK(f.crest_factor == Approx(1));
  CHECK(f.kurtosis == Approx(1));
}

TEST_CASE("vibration kurtosis of Gaussian noise is about 3", "[models][vibration]") {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal(0.5, 2);
  std::vector<double> x(2560);
  for (double& v : x) v = normal(rng);
  auto e = make(2560, {}, SpectrumWindow::hann);
  VibrationFeatures f;
  REQUIRE(e.compute(x, 25600, f, {}));
  CHECK(f.kurtosis == Approx(3).margin(0.3));
}

// Naive one-sided band energy with the documented scaling.
std::vector<double> naive_bands(const std::vector<double>& x, double fs, std::size_t nfft, const std::vector<Band>& bands,
                                bool hann) {
  const std::size_t n = x.size();
  double mean = 0;
  for (double v : x) mean += v / static_cast<double>(n);
  std::vector<double> y(nfft, 0.0);
  double wsum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double w = hann ? 0.5 * (1 - std::cos(2 * std::numbers::pi * static_cast<double>(i) / static_cast<double>(n - 1))) : 1.0;
    y[i] = w * (x[i] - mean);
    wsum += w * w;
  }
  std::vector<double> out(bands.size(), 0.0);
  for (std::size_t k = 0; k <= nfft / 2; ++k) {
    std::complex<double> s = 0;
    for (std::size_t i = 0; i < nfft; ++i) {
      s += y[i] * std::polar(1.0, -2 * std::numbers::pi * static_cast<double>(k * i % nfft) / static_cast<double>(nfft));
    }
    const double f = static_cast<double>(k) * fs / static_cast<double>(nfft);
    const double factor = (k == 0 || k == nfft / 2) ? 1 : 2;
    for (std::size_t b = 0; b < bands.size(); ++b) {
      if (f >= bands[b].low_hz && f < bands[b].high_hz) out[b] += factor * std::norm(s) / (static_cast<double>(nfft) * wsum);
    }
  }
  return out;
}

TEST_CASE("vibration band energies match a naive DFT for a length that is not a power of two", "[models][vibration]") {
  std::mt19937_64 rng(2);
  std::normal_distribution<double> normal;
  std::vector<double> x(1000);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = 0.3 + std::sin(2 * std::numbers::pi * 1230 * static_cast<double>(i) / 25600) + 0.2 * normal(rng);
  }
  const std::vector<Band> bands = {{0, 500}, {500, 1000}, {1000, 2000}, {2000, 6400}, {6400, 12800.1}};
  for (auto window : {SpectrumWindow::hann, SpectrumWindow::rectangular}) {
    auto e = make(1000, bands, window);
    CHECK(e.fft_size() == 1024);
    VibrationFeatures f;
    std::vector<double> energy(bands.size());
    REQUIRE(e.compute(x, 25600, f, energy));
    const auto expected = naive_bands(x, 25600, 1024, bands, window == SpectrumWindow::hann);
    for (std::size_t b = 0; b < bands.size(); ++b) CHECK(energy[b] == Approx(expected[b]).epsilon(1e-9).margin(1e-15));
  }
}

TEST_CASE("vibration bands covering the spectrum add up to the signal's power", "[models][vibration]") {
  // A sine of amplitude 2 exactly on bin 64 of 1024 at fs 1024 Hz: power 2 in its band, with a
  // rectangular window nothing leaks out.
  std::vector<double> x(1024);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 2 * std::sin(2 * std::numbers::pi * 64 * static_cast<double>(i) / 1024);
  auto e = make(1024, {{0, 60}, {60, 70}, {70, 600}}, SpectrumWindow::rectangular);
  VibrationFeatures f;
  std::vector<double> energy(3);
  REQUIRE(e.compute(x, 1024, f, energy));
  CHECK(energy[0] == Approx(0).margin(1e-20));
  CHECK(energy[1] == Approx(2).epsilon(1e-12));
  CHECK(energy[2] == Approx(0).margin(1e-20));
  CHECK(f.rms * f.rms == Approx(2).epsilon(1e-12));
}

TEST_CASE("vibration refuses bad snapshots and bad bands", "[models][vibration][config]") {
  VibrationOptions o;
  o.bands = {{100, 50}};
  auto bad = VibrationExtractor::create(o);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "vibration bands[0] must satisfy 0 <= low < high (Hz), got [100.000000, 50.000000)");
  auto e = make(16, {{0, 10}}, SpectrumWindow::hann);
  VibrationFeatures f;
  std::vector<double> energy(1);
  CHECK_FALSE(e.compute(std::vector<double>(17, 1.0), 100, f, energy));
  CHECK_FALSE(e.compute(std::vector<double>(8, 1.0), 0, f, energy));
  CHECK_FALSE(e.compute(std::vector<double>{1, std::nan("")}, 100, f, energy));
  CHECK_FALSE(e.compute(std::vector<double>(8, 1.0), 100, f, {}));
}

TEST_CASE("vibration features allocate nothing", "[models][vibration][alloc]") {
  std::vector<double> x(2560);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37 * static_cast<double>(i)) + 0.01 * static_cast<double>(i % 7);
  auto e = make(2560, {{0, 1000}, {1000, 4000}, {4000, 12800}}, SpectrumWindow::hann);
  VibrationFeatures f;
  std::vector<double> energy(3);
  const std::span<const double> shorter(x.data(), 2000);
  bool ok = true;
  test::AllocationCounter allocs;
  for (int i = 0; i < 10; ++i) {
    ok = e.compute(x, 25600, f, energy) && ok;
    ok = e.compute(shorter, 25600, f, energy) && ok;
  }
  CHECK(allocs.count() == 0);
  CHECK(ok);
}

}  // namespace
}  // namespace vigil::models
