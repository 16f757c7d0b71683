#pragma once
// Window operators and aggregates. Window types are registered by name in register_windows().
#include "vigil/runtime/plugin.hpp"

namespace vigil::operators {

/// Registers every built-in window type (`tumbling`, ...) with `registry`.
void register_windows(runtime::Registry& registry);

/// A window that keeps raw samples (sliding windows): what models needing the raw signal (an
/// FFT of vibration, say) read. Pipeline thread only, between process() calls.
class RawSamples {
 public:
  virtual ~RawSamples() = default;
  /// Copies the samples of `field` that `key` holds now — the window of its latest result and
  /// the records whose results are still owed — oldest first (event time, then arrival), into
  /// `times` and `values`, skipping records without that field. Returns how many were copied
  /// (at most the spans' size; the newest are kept when they do not all fit). 0 for an unknown
  /// key or field. Allocates nothing.
  virtual std::size_t samples(runtime::KeyId key, runtime::FieldId field, std::span<runtime::Nanos> times,
                              std::span<double> values) const noexcept = 0;
  /// Most samples one key holds (the size `samples()` needs).
  virtual std::size_t max_samples() const noexcept = 0;
};

}  // namespace vigil::operators
