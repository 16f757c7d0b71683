// The KLL sketch against exact quantiles: every answer's rank error is held to the stated bound
// (KllShape::rank_error) on random and adversarial inputs, merges keep the bound, memory never
// grows past the budget, and small inputs are answered exactly.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "vigil/operators/quantile_sketch.hpp"

namespace vigil::operators {
namespace {

constexpr double kQs[] = {0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999};

struct Sketch {
  explicit Sketch(const KllShape& s) : shape(s), memory(s.bytes / 8), sketch(memory.data(), shape) { sketch.reset(); }
  const KllShape& shape;
  std::vector<double> memory;
  KllSketch sketch;
};

// Normalized distance between the rank the nearest-rank quantile asks for and the ranks the
// returned value holds in the exact data (a run of ties holds a range of ranks).
double rank_error(const std::vector<double>& sorted, double q, double answer) {
  const auto n = static_cast<std::uint64_t>(sorted.size());
  const std::uint64_t want = nearest_rank(q, n);
  const auto lo = static_cast<std::uint64_t>(std::lower_bound(sorted.begin(), sorted.end(), answer) - sorted.begin()) + 1;
  const auto hi = static_cast<std::uint64_t>(std::upper_bound(sorted.begin(), sorted.end(), answer) - sorted.begin());
  if (hi < lo) return 1.0;  // the answer is not one of the inputs
  if (want >= lo && want <= hi) return 0.0;
  const std::uint64_t miss = want < lo ? lo - want : want - hi;
  return static_cast<double>(miss) / static_cast<double>(n);
}

double worst_error(const KllSketch& sketch, KllScratch& scratch, std::vector<double> data) {
  std::sort(data.begin(), data.end());
  sketch.prepare(scratch);
  double worst = 0;
  for (double q : kQs) worst = std::max(worst, rank_error(data, q, kll_quantile(scratch, q)));
  return worst;
}

std::vector<double> make_input(const std::string& kind, std::size_t n, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> v(n);
  if (kind == "uniform") {
    std::uniform_real_distribution<double> d(0, 1);
    for (auto& x : v) x = d(rng);
  } else if (kind == "gaussian signed") {
    std::normal_distribution<double> d(0, 50);
    for (auto& x : v) x = d(rng);
  } else if (kind == "sorted") {
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  } else if (kind == "reverse sorted") {
    for (std::size_t i = 0; i < n; ++i) v[i] = -static_cast<double>(i);
  } else if (kind == "heavy tailed") {  // Pareto, alpha 1.1, and a few huge values
    std::uniform_real_distribution<double> d(0, 1);
    for (auto& x : v) x = std::pow(1.0 - d(rng), -1.0 / 1.1);
  } else if (kind == "constant") {
    for (auto& x : v) x = 42.5;
  } else if (kind == "few distinct") {
    std::uniform_int_distribution<int> d(-3, 3);
    for (auto& x : v) x = d(rng);
  } else if (kind == "zigzag") {  // alternating extremes: hard on an unlucky compaction offset
    for (std::size_t i = 0; i < n; ++i) v[i] = (i % 2 ? 1e6 : -1e6) + static_cast<double>(i % 1000);
  }
  return v;
}

TEST_CASE("sketch shape follows the byte budget") {
  const KllShape s = KllShape::from_budget(4096);
  CHECK(s.bytes <= 4096);
  CHECK(s.bytes % 8 == 0);
  CHECK(s.k >= 100);
  CHECK(s.rank_error() < 0.025);
  std::uint64_t sum = 0;
  for (auto w : s.width) sum += w;
  CHECK(sum <= s.capacity);
  const KllShape big = KllShape::from_budget(64 * 1024);
  CHECK(big.k > 8 * s.k);
  CHECK(KllShape::from_budget(KllShape::min_budget() - 8).k == 0);
  CHECK(KllShape::from_budget(KllShape::min_budget()).k > 0);
}

TEST_CASE("sketch answers exactly while nothing is compacted") {
  const KllShape shape = KllShape::from_budget(4096);
  KllScratch scratch(shape);
  Sketch s(shape);
  std::vector<double> data = make_input("gaussian signed", shape.capacity, 7);
  for (double x : data) s.sketch.add(x);
  CHECK(s.sketch.levels() == 1);
  std::sort(data.begin(), data.end());
  s.sketch.prepare(scratch);
  for (double q : kQs) CHECK(kll_quantile(scratch, q) == data[nearest_rank(q, data.size()) - 1]);
  CHECK(kll_quantile(scratch, 0) == data.front());
  CHECK(kll_quantile(scratch, 1) == data.back());
}

TEST_CASE("empty sketch has no quantile") {
  const KllShape shape = KllShape::from_budget(2048);
  KllScratch scratch(shape);
  Sketch s(shape);
  s.sketch.prepare(scratch);
  CHECK(std::isnan(kll_quantile(scratch, 0.5)));
}

TEST_CASE("sketch rank error stays within the stated bound") {
  const std::size_t budget = GENERATE(std::size_t{2048}, std::size_t{16384});
  const std::string kind = GENERATE(as<std::string>{}, "uniform", "gaussian signed", "sorted", "reverse sorted",
                                    "heavy tailed", "constant", "few distinct", "zigzag");
  const KllShape shape = KllShape::from_budget(budget);
  KllScratch scratch(shape);
  INFO("budget " << budget << " k " << shape.k << " bound " << shape.rank_error() << " input " << kind);
  for (std::size_t n : {std::size_t{1000}, std::size_t{30'000}, std::size_t{300'000}}) {
    for (std::uint32_t seed = 1; seed <= 2; ++seed) {
      Sketch s(shape);
      const auto data = make_input(kind, n, seed);
      for (double x : data) s.sketch.add(x);
      INFO("n " << n << " seed " << seed);
      CHECK(s.sketch.count() == n);
      CHECK(s.sketch.retained() <= shape.capacity);
      CHECK(s.sketch.valid());
      CHECK(worst_error(s.sketch, scratch, data) <= shape.rank_error());
    }
  }
}

TEST_CASE("sketch of a million values keeps the bound") {
  const KllShape shape = KllShape::from_budget(4096);
  KllScratch scratch(shape);
  const std::string kind = GENERATE(as<std::string>{}, "gaussian signed", "sorted", "heavy tailed");
  INFO("input " << kind);
  Sketch s(shape);
  const auto data = make_input(kind, 1'000'000, 11);
  for (double x : data) s.sketch.add(x);
  CHECK(s.sketch.retained() <= shape.capacity);
  CHECK(worst_error(s.sketch, scratch, data) <= shape.rank_error());
}

TEST_CASE("merged sketches keep the bound") {
  // 60 slices merged into one window, as a hopping window does, and a tree of merges.
  const KllShape shape = KllShape::from_budget(4096);
  KllScratch scratch(shape);
  const std::string kind = GENERATE(as<std::string>{}, "uniform", "sorted", "heavy tailed", "gaussian signed");
  INFO("input " << kind);
  std::vector<double> all;
  std::vector<Sketch> parts;
  parts.reserve(60);
  for (std::uint32_t i = 0; i < 60; ++i) {
    parts.emplace_back(shape);
    auto data = make_input(kind, 5000 + 100 * i, 100 + i);
    for (auto& x : data) x += kind == "sorted" ? 5000.0 * i : 0.0;
    for (double x : data) parts.back().sketch.add(x);
    all.insert(all.end(), data.begin(), data.end());
  }
  Sketch window(shape);
  for (const auto& p : parts) window.sketch.merge(p.sketch, scratch);
  CHECK(window.sketch.count() == all.size());
  CHECK(window.sketch.valid());
  CHECK(worst_error(window.sketch, scratch, all) <= shape.rank_error());

  // Pairwise tree: 60 -> 30 -> 15 -> ... -> 1.
  std::vector<Sketch> level;
  level.reserve(60);
  for (const auto& p : parts) {
    level.emplace_back(shape);
    level.back().sketch.copy_from(p.sketch);
  }
  while (level.size() > 1) {
    std::vector<Sketch> next;
    next.reserve(level.size());
    for (std::size_t i = 0; i < level.size(); i += 2) {
      next.emplace_back(shape);
      next.back().sketch.copy_from(level[i].sketch);
      if (i + 1 < level.size()) next.back().sketch.merge(level[i + 1].sketch, scratch);
    }
    level = std::move(next);
  }
  CHECK(level[0].sketch.count() == all.size());
  CHECK(worst_error(level[0].sketch, scratch, all) <= shape.rank_error());
}

TEST_CASE("sketch is repeatable and gives the same answers for the same input") {
  const KllShape shape = KllShape::from_budget(4096);
  KllScratch scratch(shape);
  Sketch a(shape), b(shape);
  const auto data = make_input("heavy tailed", 200'000, 3);
  for (double x : data) a.sketch.add(x), b.sketch.add(x);
  CHECK(std::equal(a.memory.begin(), a.memory.end(), b.memory.begin()));
  a.sketch.reset();
  CHECK(a.sketch.count() == 0);
  CHECK(a.sketch.retained() == 0);
}

TEST_CASE("restored bytes are checked") {
  const KllShape shape = KllShape::from_budget(4096);
  Sketch s(shape);
  for (int i = 0; i < 5000; ++i) s.sketch.add(i);
  CHECK(s.sketch.valid());
  auto* h = reinterpret_cast<KllHeader*>(s.memory.data());
  h->levels = KllShape::kMaxLevels + 1;
  CHECK_FALSE(s.sketch.valid());
  h->levels = 3;
  h->bounds[3] = 7;
  CHECK_FALSE(s.sketch.valid());
}

TEST_CASE("nearest rank ignores rounding noise") {
  CHECK(nearest_rank(0.29, 100) == 29);
  CHECK(nearest_rank(0.99, 100) == 99);
  CHECK(nearest_rank(0.5, 3) == 2);
  CHECK(nearest_rank(0.0, 10) == 1);
  CHECK(nearest_rank(1.0, 10) == 10);
  CHECK(nearest_rank(0.999, 1000) == 999);
}

}  // namespace
}  // namespace vigil::operators
