// `model: {type: spectrum}`: vibration features of each window's raw samples of one source
// field: RMS, peak, crest factor, kurtosis and the energy in configured frequency bands (FFT).
#include <cmath>
#include <cstdio>
#include <optional>

#include "model_support.hpp"
#include "models_plugins.hpp"
#include "vigil/models/vibration.hpp"

namespace vigil::models::pipeline {
namespace {

using runtime::ConfigKey;
using runtime::KeyType;
using runtime::Required;

constexpr ConfigKey kSpectrumKeys[] = {
    {"field", KeyType::string, Required::yes, {},
     "Source field whose raw values are analysed (such as h_acc_g), not a summary column."},
    {"rate", KeyType::real, Required::yes, {}, "Sample rate of the field in Hz (25600 for 25.6 kHz).", 1e-6, 1e9},
    {"bands", KeyType::string_list, Required::no, {},
     "Frequency bands as LOW-HIGH in Hz (`[0-1000, 1000-3000]`), each giving a column band_LOW_HIGH: the "
     "energy of the Hann-windowed spectrum in [LOW, HIGH), scaled so that bands from 0 to rate/2 sum to the mean "
     "square."},
    {"max_samples", KeyType::integer, Required::no, "4096",
     "Raw values kept per key (16 bytes each, for limits.max_keys keys): at least a window's values plus "
     "limits.batch_size. The FFT length is the next power of two.",
     16, 1 << 20},
};
constexpr std::string_view kSpectrumOutputs[] = {"rms", "peak", "crest_factor", "kurtosis", "band_<low>_<high>"};
constexpr std::size_t kTimeOutputs = 4;

std::string hz(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  std::string s = buf;
  for (char& c : s)
    if (c == '.') c = 'p';
  return s;
}

// "1000-3000" -> the band; nullopt when it is not LOW-HIGH with 0 <= LOW < HIGH.
std::optional<Band> parse_band(const std::string& text) {
  const auto dash = text.find('-', 1);
  if (dash == std::string::npos) return std::nullopt;
  auto lo = runtime::parse_real(text.substr(0, dash));
  auto hi = runtime::parse_real(text.substr(dash + 1));
  if (!lo || !hi || !(*lo >= 0) || !(*hi > *lo) || !std::isfinite(*hi)) return std::nullopt;
  return Band{*lo, *hi};
}

std::vector<std::string> spectrum_outputs(const runtime::Block& b) {
  std::vector<std::string> out(kSpectrumOutputs, kSpectrumOutputs + kTimeOutputs);
  if (!b.has("bands")) return out;
  for (const std::string& text : b.strings("bands")) {
    auto band = parse_band(text);
    out.push_back(band ? "band_" + hz(band->low_hz) + "_" + hz(band->high_hz) : "band_" + text);
  }
  return out;
}

class SpectrumModel final : public runtime::Model {
 public:
  SpectrumModel(VibrationExtractor extractor, double rate) : extractor_(std::move(extractor)), rate_(rate) {}

  runtime::ModelStatus score(std::uint32_t, std::span<const double>, std::span<double>) noexcept override {
    return runtime::ModelStatus::unfit;  // the chain calls score_samples()
  }

  runtime::ModelStatus score_samples(std::uint32_t, std::span<const double> samples, std::span<double> out) noexcept override {
    VibrationFeatures f;
    if (!extractor_.compute(samples, rate_, f, out.subspan(kTimeOutputs))) return runtime::ModelStatus::unfit;
    out[0] = f.rms;
    out[1] = f.peak;
    out[2] = f.crest_factor;
    out[3] = f.kurtosis;
    return runtime::ModelStatus::scored;
  }

  void reset(std::uint32_t) noexcept override {}
  void snapshot(std::uint32_t, std::vector<std::byte>&) const override {}
  Result<void> restore(std::uint32_t, std::span<const std::byte> in) override {
    if (!in.empty()) return Error{"the saved state does not belong to a spectrum model"};
    return runtime::ok();
  }
  std::size_t state_bytes() const noexcept override { return 0; }  // the raw ring is the chain's

 private:
  VibrationExtractor extractor_;
  double rate_;
};

std::size_t spectrum_key_bytes(const runtime::ModelSetup& setup) {
  return static_cast<std::size_t>(setup.block.integer("max_samples")) * 16 + 24;
}

std::unique_ptr<runtime::Model> make_spectrum(const runtime::ModelSetup& setup) {
  const runtime::Block& b = setup.block;
  const double rate = b.real("rate");
  VibrationOptions o;
  o.max_samples = static_cast<std::size_t>(b.integer("max_samples"));
  bool ok = true;
  if (b.has("bands")) {
    for (const std::string& text : b.strings("bands")) {
      auto band = parse_band(text);
      if (!band) {
        report(setup, "bands", "\"" + text + "\" is not a band LOW-HIGH in Hz with LOW < HIGH, such as 1000-3000");
        ok = false;
      } else if (band->high_hz > rate / 2) {
        report(setup, "bands", "\"" + text + "\" reaches above rate/2 = " + hz(rate / 2) + " Hz (the Nyquist frequency)");
        ok = false;
      } else {
        o.bands.push_back(*band);
      }
    }
  }
  if (!ok) return nullptr;
  auto extractor = VibrationExtractor::create(o);
  if (!extractor) {
    report(setup, "bands", extractor.error().message);
    return nullptr;
  }
  return std::make_unique<SpectrumModel>(std::move(extractor).value(), rate);
}

}  // namespace

const runtime::ModelPlugin kSpectrumPlugin{
    "spectrum",
    "Vibration features of each window's raw values of one source field (kept per key in a ring of `max_samples`): "
    "`rms`, `peak` (max |x|), `crest_factor`, `kurtosis` (3 for a Gaussian) and, per band of `bands`, its energy "
    "`band_<low>_<high>` from a Hann-windowed, zero-padded FFT. Nothing to learn: give it no baseline or file; chain "
    "a pca_anomaly or ewma after it to watch the features.",
    kSpectrumKeys,
    kSpectrumOutputs,
    &make_spectrum,
    &spectrum_key_bytes,
    runtime::kStateless,
    true,
    &spectrum_outputs};

}  // namespace vigil::models::pipeline
