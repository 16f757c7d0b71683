#pragma once
// Helpers shared by the model plugins: options read from a validated block, per-key state as
// doubles in checkpoints, one log line per model when a key's baseline gives no model.
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "vigil/models/control_charts.hpp"
#include "vigil/runtime/model.hpp"

namespace vigil::models::pipeline {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Appends `values` as raw bytes (a checkpoint section).
inline void put_doubles(const std::vector<double>& values, std::vector<std::byte>& out) {
  const auto* p = reinterpret_cast<const std::byte*>(values.data());
  out.insert(out.end(), p, p + values.size() * sizeof(double));
}

/// The doubles of a section written by put_doubles; empty when its size is not a whole number.
inline std::vector<double> get_doubles(std::span<const std::byte> in) {
  std::vector<double> out(in.size() % sizeof(double) == 0 ? in.size() / sizeof(double) : 0);
  if (!out.empty()) std::memcpy(out.data(), in.data(), out.size() * sizeof(double));
  return out;
}

/// Appends what `state.save()` writes as one checkpoint section (a key's state of a model).
template <class State>
void put_state(const State& state, std::vector<std::byte>& out) {
  std::vector<double> values;
  state.save(values);
  put_doubles(values, out);
}

/// Loads `state` from a section put_state() wrote; false when the section does not fit its sizes
/// exactly, and `state` may then be partly loaded (reset or discard it).
template <class State>
bool get_state(State& state, std::span<const std::byte> in) {
  const std::vector<double> values = get_doubles(in);
  std::span<const double> rest(values);
  return state.load(rest) && rest.empty();
}

/// Reports `message` at `key` of the model's block (or the block itself).
inline void report(const runtime::ModelSetup& setup, std::string_view key, const std::string& message) {
  if (!setup.diag) return;
  const runtime::ConfigNode* at = key.empty() ? nullptr : setup.block.node(key);
  const runtime::ConfigNode* self = setup.block.self();
  setup.diag->error(at ? at->mark : (self ? self->mark : runtime::Mark{}),
                    key.empty() ? setup.path : setup.path + "." + std::string(key), message);
}

/// Says once per model that a key's frozen baseline gave no model, and why.
inline void log_unfit(bool& logged, const std::string& path, const std::string& why) noexcept {
  if (logged) return;
  logged = true;
  std::fprintf(stderr, "vigil: %s: a key's baseline gives no model (%s); its outputs stay null (counted as unfit)\n",
               path.c_str(), why.c_str());
}

/// Alarm clearing shared by ewma and cusum.
inline Hysteresis hysteresis_of(const runtime::Block& b) {
  Hysteresis h;
  h.clear_after = static_cast<std::size_t>(b.integer("clear_after"));
  h.clear_fraction = b.real("clear_fraction");
  return h;
}

}  // namespace vigil::models::pipeline
