#include "vigil/models/vibration.hpp"

#include <unsupported/Eigen/FFT>
#include <algorithm>
#include <bit>
#include <cmath>
#include <complex>
#include <numbers>
#include <string>

namespace vigil::models {

// The kissfft backend keeps its plans and twiddles in maps filled on first use of a length;
// one warm-up transform at creation fills them, later transforms of that length allocate nothing.
struct VibrationExtractor::Plan {
  Eigen::FFT<double> fft;
  std::vector<double> input;                 // windowed, zero-padded snapshot
  std::vector<double> window;                // window weights for `window_length` samples
  std::size_t window_length = 0;             // snapshots usually keep one length: computed once
  double window_power = 0;                   // sum of the squared weights
  std::vector<std::complex<double>> output;  // bins 0 .. N/2
};

VibrationExtractor::VibrationExtractor(VibrationExtractor&&) noexcept = default;
VibrationExtractor& VibrationExtractor::operator=(VibrationExtractor&&) noexcept = default;
VibrationExtractor::~VibrationExtractor() = default;

Result<VibrationExtractor> VibrationExtractor::create(const VibrationOptions& options) {
  if (options.max_samples < 4) return Error{"vibration max_samples must be at least 4"};
  for (std::size_t i = 0; i < options.bands.size(); ++i) {
    const Band& b = options.bands[i];
    if (!(b.low_hz >= 0) || !(b.high_hz > b.low_hz) || !std::isfinite(b.high_hz)) {
      return Error{"vibration bands[" + std::to_string(i) + "] must satisfy 0 <= low < high (Hz), got [" +
                   std::to_string(b.low_hz) + ", " + std::to_string(b.high_hz) + ")"};
    }
  }
  VibrationExtractor e;
  e.options_ = options;
  e.fft_size_ = std::bit_ceil(options.max_samples);
  e.plan_ = std::make_unique<Plan>();
  e.plan_->fft.SetFlag(Eigen::FFT<double>::HalfSpectrum);
  e.plan_->input.assign(e.fft_size_, 0.0);
  e.plan_->window.assign(options.max_samples, 1.0);
  e.plan_->output.assign(e.fft_size_ / 2 + 1, {});
  e.plan_->fft.fwd(e.plan_->output.data(), e.plan_->input.data(), static_cast<Eigen::Index>(e.fft_size_));
  return e;
}

bool VibrationExtractor::compute(std::span<const double> samples, double sample_rate_hz, VibrationFeatures& features,
                                 std::span<double> band_energy) noexcept {
  const std::size_t n = samples.size();
  if (n < 2 || n > options_.max_samples || !(sample_rate_hz > 0) || !std::isfinite(sample_rate_hz) ||
      band_energy.size() != options_.bands.size()) {
    return false;
  }
  double sum = 0, sum_sq = 0, peak = 0;
  for (double x : samples) {
    if (!std::isfinite(x)) return false;
    sum += x;
    sum_sq += x * x;
    peak = std::max(peak, std::fabs(x));
  }
  const double nd = static_cast<double>(n);
  const double mean = sum / nd;
  // Central moments in a second pass (better than expanding raw power sums).
  double m2 = 0, m4 = 0;
  for (double x : samples) {
    const double y = x - mean;
    const double y2 = y * y;
    m2 += y2;
    m4 += y2 * y2;
  }
  m2 /= nd;
  m4 /= nd;
  features.rms = std::sqrt(sum_sq / nd);
  features.peak = peak;
  features.crest_factor = features.rms > 0 ? peak / features.rms : 0;
  features.kurtosis = m2 > 0 ? m4 / (m2 * m2) : 0;

  // Symmetric Hann over the n samples, then zeros up to the FFT length.
  Plan& plan = *plan_;
  if (plan.window_length != n) {
    plan.window_power = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double w = options_.window == SpectrumWindow::hann
                           ? 0.5 - 0.5 * std::cos(2 * std::numbers::pi * static_cast<double>(i) / (nd - 1))
                           : 1.0;
      plan.window[i] = w;
      plan.window_power += w * w;
    }
    plan.window_length = n;
  }
  double* in = plan.input.data();
  const double offset = options_.remove_mean ? mean : 0.0;
  const double window_power = plan.window_power;
  for (std::size_t i = 0; i < n; ++i) in[i] = plan.window[i] * (samples[i] - offset);
  std::fill(in + n, in + fft_size_, 0.0);
  plan_->fft.fwd(plan_->output.data(), in, static_cast<Eigen::Index>(fft_size_));

  // Parseval: sum over all N bins of |X_k|^2 = N sum y^2, so with the one-sided factor 2 the
  // bands add up to sum y^2 / sum w^2.
  const std::size_t half = fft_size_ / 2;
  const double scale = 1.0 / (static_cast<double>(fft_size_) * window_power);
  const double bin_hz = sample_rate_hz / static_cast<double>(fft_size_);
  for (std::size_t b = 0; b < options_.bands.size(); ++b) {
    const Band& band = options_.bands[b];
    double energy = 0;
    for (auto k = static_cast<std::size_t>(band.low_hz / bin_hz); k <= half && static_cast<double>(k) * bin_hz < band.high_hz; ++k) {
      if (static_cast<double>(k) * bin_hz < band.low_hz) continue;
      const double factor = (k == 0 || k == half) ? 1.0 : 2.0;
      energy += factor * std::norm(plan_->output[k]);
    }
    band_energy[b] = energy * scale;
  }
  return true;
}

}  // namespace vigil::models
