// `model: {type: ewma}` and `{type: cusum}`: a control chart on one column, per key, with its
// in-control mean and std learned from the key's first values; alarms clear with hysteresis.
#include <vector>

#include "model_support.hpp"
#include "models_plugins.hpp"
#include "vigil/models/control_charts.hpp"

namespace vigil::models::pipeline {
namespace {

using runtime::ConfigKey;
using runtime::KeyType;
using runtime::Required;

#define VIGIL_CHART_COMMON_KEYS                                                                                    \
  {"feature", KeyType::string, Required::yes, {},                                                                 \
   "The summary column charted (an aggregate such as vib_rms, or an output of an earlier model)."},               \
      {"clear_after", KeyType::integer, Required::no, "3",                                                         \
       "A raised alarm clears after this many consecutive windows back inside clear_fraction x the limit.", 1,   \
       1'000'000},                                                                                                 \
      {"clear_fraction", KeyType::real, Required::no, "1",                                                         \
       "Fraction of the limit the statistic must be back inside to count toward clearing (0.8: 20 % inside).",   \
       0.01, 1}

constexpr ConfigKey kEwmaKeys[] = {
    VIGIL_CHART_COMMON_KEYS,
    {"lambda", KeyType::real, Required::no, "0.2", "Weight of the newest value in the EWMA.", 0.001, 1},
    {"limit", KeyType::real, Required::no, "3", "L: the limits are mean +- L sigma of the EWMA (exact, time-varying).",
     0.1, 100},
};
constexpr ConfigKey kCusumKeys[] = {
    VIGIL_CHART_COMMON_KEYS,
    {"k", KeyType::real, Required::no, "0.5", "Allowance in std units: half the shift to detect.", 0, 100},
    {"h", KeyType::real, Required::no, "5", "Decision interval in std units: alarm when a sum exceeds it.", 0.01, 1000},
};
#undef VIGIL_CHART_COMMON_KEYS
constexpr std::string_view kEwmaOutputs[] = {"ewma", "anomaly"};
constexpr std::string_view kCusumOutputs[] = {"cusum_hi", "cusum_lo", "anomaly"};

// One chart per key slot, created at load; update() allocates nothing.
template <class Chart>
class ChartModel final : public runtime::Model {
 public:
  ChartModel(const Chart& prototype, std::size_t max_keys, std::string path)
      : prototype_(prototype), charts_(max_keys, prototype), path_(std::move(path)) {}

  runtime::ModelStatus score(std::uint32_t slot, std::span<const double> x, std::span<double> out) noexcept override {
    const auto point = charts_[slot].update(x[0]);
    if (point.learning) return runtime::ModelStatus::learning;
    if constexpr (std::is_same_v<Chart, Ewma>) {
      out[0] = point.statistic;
      out[1] = point.alarm ? 1.0 : 0.0;
    } else {
      out[0] = point.upper;
      out[1] = point.lower;
      out[2] = point.alarm ? 1.0 : 0.0;
    }
    return runtime::ModelStatus::scored;
  }

  void reset(std::uint32_t slot) noexcept override { charts_[slot].reset(); }

  void snapshot(std::uint32_t slot, std::vector<std::byte>& out) const override { put_state(charts_[slot], out); }

  Result<void> restore(std::uint32_t slot, std::span<const std::byte> in) override {
    Chart chart = prototype_;
    if (!get_state(chart, in)) return Error{path_ + ": the saved chart state does not fit this model"};
    charts_[slot] = chart;
    return runtime::ok();
  }

  std::size_t state_bytes() const noexcept override { return charts_.size() * sizeof(Chart); }

 private:
  Chart prototype_;
  std::vector<Chart> charts_;
  std::string path_;
};

ChartBaseline chart_baseline(const runtime::ModelSetup& setup) {
  ChartBaseline b;
  b.learn = setup.learn;
  return b;
}

std::size_t ewma_key_bytes(const runtime::ModelSetup&) { return sizeof(Ewma); }
std::size_t cusum_key_bytes(const runtime::ModelSetup&) { return sizeof(Cusum); }

std::unique_ptr<runtime::Model> make_ewma(const runtime::ModelSetup& setup) {
  EwmaOptions o;
  o.lambda = setup.block.real("lambda");
  o.width = setup.block.real("limit");
  o.baseline = chart_baseline(setup);
  o.hysteresis = hysteresis_of(setup.block);
  auto chart = Ewma::create(o);
  if (!chart) {
    report(setup, "", chart.error().message);
    return nullptr;
  }
  return std::make_unique<ChartModel<Ewma>>(*chart, setup.max_keys, setup.path);
}

std::unique_ptr<runtime::Model> make_cusum(const runtime::ModelSetup& setup) {
  CusumOptions o;
  o.k = setup.block.real("k");
  o.h = setup.block.real("h");
  o.baseline = chart_baseline(setup);
  o.hysteresis = hysteresis_of(setup.block);
  auto chart = Cusum::create(o);
  if (!chart) {
    report(setup, "", chart.error().message);
    return nullptr;
  }
  return std::make_unique<ChartModel<Cusum>>(*chart, setup.max_keys, setup.path);
}

}  // namespace

const runtime::ModelPlugin kEwmaPlugin{
    "ewma",
    "EWMA chart of one column per key, z = lambda x + (1 - lambda) z, against mean +- L sigma_z(t); the alarm "
    "is raised at the first window outside and clears with hysteresis. Outputs `ewma` (z) and `anomaly` (the "
    "alarm state).",
    kEwmaKeys, kEwmaOutputs, &make_ewma, &ewma_key_bytes};

const runtime::ModelPlugin kCusumPlugin{
    "cusum",
    "Two-sided tabular CUSUM of one column per key, in std units of its baseline; alarm when either sum exceeds "
    "h, cleared with hysteresis. Outputs `cusum_hi` (C+), `cusum_lo` (C-) and `anomaly` (the alarm state).",
    kCusumKeys, kCusumOutputs, &make_cusum, &cusum_key_bytes};

}  // namespace vigil::models::pipeline
