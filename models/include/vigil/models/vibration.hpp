#pragma once
// Features of one snapshot of raw vibration samples: RMS, peak, crest factor, kurtosis, and
// the signal's energy in configured frequency bands (FFT).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "vigil/models/baseline.hpp"

namespace vigil::models {

/// A frequency band [low_hz, high_hz).
struct Band {
  double low_hz = 0;
  double high_hz = 0;
};

enum class SpectrumWindow : std::uint8_t { hann, rectangular };

struct VibrationOptions {
  /// Longest snapshot accepted; the FFT length is the next power of two >= max_samples.
  std::size_t max_samples = 2560;
  std::vector<Band> bands;
  SpectrumWindow window = SpectrumWindow::hann;
  /// Subtract the snapshot's mean before the spectrum (DC offset stays out of the bands).
  bool remove_mean = true;
};

/// Time-domain features of a snapshot.
struct VibrationFeatures {
  double rms = 0;           ///< sqrt(mean x^2) of the raw samples (offset included)
  double peak = 0;          ///< max |x|
  double crest_factor = 0;  ///< peak / rms; 0 when rms is 0
  double kurtosis = 0;      ///< m4 / m2^2 with central moments (3 for a Gaussian); 0 when m2 is 0
};

/// Computes snapshot features with a preallocated FFT plan and buffers. compute() allocates
/// nothing; one instance serves one thread at a time. Move-only.
class VibrationExtractor {
 public:
  /// An error when max_samples < 4 or a band is not 0 <= low < high (finite).
  static Result<VibrationExtractor> create(const VibrationOptions& options);
  VibrationExtractor(VibrationExtractor&&) noexcept;
  VibrationExtractor& operator=(VibrationExtractor&&) noexcept;
  ~VibrationExtractor();

  /// Features of `samples` (2 <= size <= max_samples, all finite) taken at `sample_rate_hz`,
  /// and the energy of each band into `band_energy` (bands().size() values): the one-sided
  /// power of the windowed, zero-padded snapshot, scaled so that bands covering 0 to Nyquist
  /// sum to the window-weighted mean square. False (outputs untouched) on bad input.
  bool compute(std::span<const double> samples, double sample_rate_hz, VibrationFeatures& features,
               std::span<double> band_energy) noexcept;

  std::span<const Band> bands() const noexcept { return options_.bands; }
  /// FFT length (power of two).
  std::size_t fft_size() const noexcept { return fft_size_; }

 private:
  struct Plan;
  VibrationExtractor() = default;
  VibrationOptions options_;
  std::size_t fft_size_ = 0;
  std::unique_ptr<Plan> plan_;
};

}  // namespace vigil::models
