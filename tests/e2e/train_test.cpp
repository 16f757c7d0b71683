// `vigil train` end to end: a RUL model trained on C-MAPSS engines and replayed on engines it
// never saw; a pca_anomaly baseline trained on healthy data and shared by every key; model files
// that do not fit the pipeline rejected at load with the reason.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace vigil::test {
namespace {

using Catch::Matchers::Contains;

// The rows of train_FD001.csv whose unit is in [first, last], with the header.
std::string fd001_units(int first, int last) {
  std::istringstream in(read_file(std::string(VIGIL_SHARED_DATA_DIR) + "/cmapss/train_FD001.csv"));
  std::string line, csv;
  std::getline(in, line);
  csv = line + "\n";
  while (std::getline(in, line)) {
    const int unit = std::stoi(line);
    if (unit >= first && unit <= last) csv += line + "\n";
  }
  return csv;
}

// The shipped example with a smaller basis and fixed hyperparameters, so that training stays
// quick in debug and sanitizer builds.
std::string quick_rul_config() {
  std::string text = read_file(source_path("examples/cmapss-fd001-rul.yaml"));
  const std::string at = "      history: 30\n";
  REQUIRE(text.find(at) != std::string::npos);
  text.replace(text.find(at), at.size(), at + "      centers: 80\n      gamma: 0.02\n      ridge: 0.1\n");
  return text;
}

}  // namespace

TEST_CASE("vigil train fits a RUL model that replays engines it never saw", "[e2e][models][rul][realdata]") {
  TempDir dir;
  write_file(dir.file("rul.yaml"), quick_rul_config());
  write_file(dir.file("train.csv"), fd001_units(1, 60));
  write_file(dir.file("test.csv"), fd001_units(81, 100));

  // Without a model file the pipeline does not load, and says how to make one.
  auto missing = run_process({VIGIL_BINARY, "validate", dir.file("rul.yaml")});
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.err, Contains("cannot read model file") && Contains("vigil train CONFIG --input FILE.csv"));

  auto t = run_process({VIGIL_BINARY, "train", dir.file("rul.yaml"), "--input", dir.file("train.csv")}, 180'000);
  INFO(t.err);
  REQUIRE(t.exit_code == 0);
  CHECK_THAT(t.out, Contains("on 11942 windows of 60 keys, 29 features") && Contains("rmse_cut") && Contains("phm08_cut"));
  REQUIRE(std::filesystem::exists(dir.file("cmapss-fd001-rul.vgm")));  // the block's file:, next to the config
  const double cv_rmse = std::stod(std::regex_replace(t.out, std::regex("[\\s\\S]*rmse_cut +([0-9.]+)[\\s\\S]*"), "$1"));
  CHECK(cv_rmse < 20);

  auto r = run_process({VIGIL_BINARY, "replay", dir.file("rul.yaml"), "--input", dir.file("test.csv")});
  REQUIRE(r.exit_code == 0);
  std::map<std::string, std::vector<double>> rul;
  for (const auto& l : split_lines(r.out)) {
    const double v = summary_number(l, "rul"), lo = summary_number(l, "rul_lo"), hi = summary_number(l, "rul_hi");
    INFO(l);
    REQUIRE(v >= 0);
    REQUIRE(v <= 125);
    REQUIRE(lo <= v);
    REQUIRE(v <= hi);
    rul[summary_key(l)].push_back(v);
  }
  REQUIRE(rul.size() == 20);
  // Every cycle has an estimate from the first one on; early life reads healthy, the last cycle
  // (true RUL 0) reads close to failure; over every cycle of the 20 unseen engines the error
  // against the capped truth stays near the cross-validated figure.
  double se = 0;
  std::size_t n = 0;
  for (const auto& [unit, est] : rul) {
    INFO("unit " << unit << ": " << est.size() << " cycles, first " << est.front() << ", last " << est.back());
    CHECK(est.front() > 90);
    CHECK(est.back() < 30);
    for (std::size_t c = 0; c < est.size(); ++c) {
      const double truth = std::min(125.0, static_cast<double>(est.size() - 1 - c));
      se += (est[c] - truth) * (est[c] - truth);
      ++n;
    }
  }
  const double rmse = std::sqrt(se / static_cast<double>(n));
  INFO("RMSE over " << n << " cycles of units 81-100: " << rmse);
  CHECK(rmse < 22);
}

TEST_CASE("a model file that does not fit the pipeline is refused at load", "[e2e][models][rul]") {
  TempDir dir;
  write_file(dir.file("rul.yaml"), quick_rul_config());
  write_file(dir.file("train.csv"), fd001_units(1, 10));
  auto t = run_process({VIGIL_BINARY, "train", dir.file("rul.yaml"), "--input", dir.file("train.csv"), "--out",
                        dir.file("fd001.vgm")},
                       180'000);
  REQUIRE(t.exit_code == 0);
  CHECK_THAT(t.out, Contains("wrote " + dir.file("fd001.vgm")));

  // Same columns in another order.
  std::string text = quick_rul_config();
  text.replace(text.find("file: cmapss-fd001-rul.vgm"), 26, "file: fd001.vgm");
  std::string swapped = text;
  swapped.replace(swapped.find("last(s2), last(s3)"), 18, "last(s3), last(s2)");
  write_file(dir.file("swapped.yaml"), swapped);
  auto r = run_process({VIGIL_BINARY, "validate", dir.file("swapped.yaml")});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("swapped.yaml:") && Contains("pipelines[0].model.file") &&
                        Contains("was trained on the features [s2_last, s3_last, s4_last") &&
                        Contains("but this model reads [s3_last, s2_last, s4_last"));

  // Another history than the file was trained with.
  std::string history = text;
  history.replace(history.find("history: 30"), 11, "history: 20");
  write_file(dir.file("history.yaml"), history);
  r = run_process({VIGIL_BINARY, "validate", dir.file("history.yaml")});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("trained with history 30") && Contains("this block says history 20"));

  // A file of another kind.
  write_file(dir.file("fd001.vgm"), "unit,cycle\n1,1\n");
  write_file(dir.file("ok.yaml"), text);
  r = run_process({VIGIL_BINARY, "validate", dir.file("ok.yaml")});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("is not a Vigil model file"));
}

TEST_CASE("a pca_anomaly baseline trained from healthy data is shared by every key from its first window",
          "[e2e][models]") {
  // Three machines, one record a second; in the live file press-2's vibration doubles at 200 s.
  auto csv = [](bool fault) {
    std::string out = "ts,machine,temp,vib\n";
    std::uint64_t seed = 99;
    auto noise = [&] {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return static_cast<double>(seed) / 2147483648.0 - 0.5;
    };
    char line[128];
    for (int i = 0; i < 300; ++i)
      for (const char* m : {"press-1", "press-2", "press-3"}) {
        const double vib = (fault && std::string(m) == "press-2" && i >= 200 ? 2.0 : 1.0) + 0.1 * noise();
        std::snprintf(line, sizeof line, "%lld,%s,%.3f,%.4f\n", 1700000000000LL + i * 1000LL, m, 60 + 0.5 * noise(), vib);
        out += line;
      }
    return out;
  };
  TempDir dir;
  write_file(dir.file("healthy.csv"), csv(false));
  write_file(dir.file("live.csv"), csv(true));
  write_file(dir.file("plant.yaml"), "vigil: 1\n" + temp_vib_csv_sources() + R"(pipelines:
  - name: health
    from: [line]
    window: {type: tumbling, size: 10s}
    aggregates: [mean(temp), rms(vib), max(vib)]
    model: {type: pca_anomaly, file: models/plant.vgm, confidence: 0.999}
outputs:
  console: {format: json}
)");
  std::filesystem::create_directories(dir.file("models"));
  auto t = run_process({VIGIL_BINARY, "train", dir.file("plant.yaml"), "--input", dir.file("healthy.csv")});
  INFO(t.err);
  REQUIRE(t.exit_code == 0);
  CHECK_THAT(t.out, Contains("trained a pca_anomaly baseline on 90 vectors of 3 keys, 3 features"));

  auto r = run_process({VIGIL_BINARY, "replay", dir.file("plant.yaml"), "--input", dir.file("live.csv"), "--stats"});
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Contains("\"model_learning\":0") && Contains("\"model_scored\":90"));
  std::size_t alarms_before = 0, alarms_after = 0, press2_after = 0;
  for (const auto& l : split_lines(r.out)) {
    const bool late = summary_number(l, "start") >= 1700000200000.0;
    const double a = summary_number(l, "anomaly");
    REQUIRE(!std::isnan(a));  // scored from the first window: nothing to learn
    if (!late) alarms_before += a == 1;
    else if (summary_key(l) == "press-2") press2_after += a == 1;
    else alarms_after += a == 1;
  }
  CHECK(alarms_before == 0);
  CHECK(alarms_after == 0);
  CHECK(press2_after == 10);
}

TEST_CASE("model blocks say where their model comes from", "[e2e][models][validate]") {
  TempDir dir;
  auto config = [&](const std::string& model) {
    return "vigil: 1\n"
           "sources:\n"
           "  - {name: sim, type: simulator, machines: [m], signals: {vib: {mean: 1}}}\n"
           "pipelines:\n"
           "  - name: p\n"
           "    from: [sim]\n"
           "    window: {type: tumbling, size: 1s}\n"
           "    aggregates: [rms(vib), max(vib)]\n"
           "    model: " + model + "\n"
           "outputs:\n"
           "  console: {format: json}\n";
  };
  const std::pair<std::string, std::string> cases[] = {
      {"{type: rul, baseline: {learn: 10}}", "a rul model does not learn on the device; train it with vigil train"},
      {"{type: ewma, feature: vib_rms, file: e.vgm}", "an ewma model learns on the device only"},
      {"{type: pca_anomaly}", "missing key \"baseline\" (such as {learn: 400}"},
      {"{type: rul}", "missing key \"file\": a rul model is trained with vigil train"},
      {"{type: mahalanobis, baseline: {learn: 5}, file: m.vgm}", "give baseline or file, not both"},
  };
  for (const auto& [model, message] : cases) {
    write_file(dir.file("c.yaml"), config(model));
    auto r = run_process({VIGIL_BINARY, "validate", dir.file("c.yaml")});
    INFO(model << "\n" << r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Contains(message) && Contains("c.yaml:9:"));
  }
}

TEST_CASE("vigil train says what it needs", "[e2e][models][cli]") {
  TempDir dir;
  write_file(dir.file("plain.yaml"), read_file(source_path("examples/cmapss-fd001.yaml")));
  write_file(dir.file("in.csv"), fd001_units(1, 2));
  auto r = run_process({VIGIL_BINARY, "train", dir.file("plain.yaml"), "--input", dir.file("in.csv")});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("no pipeline has a model with file: to train"));
  r = run_process({VIGIL_BINARY, "train", dir.file("plain.yaml")});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("train needs --input FILE"));
  r = run_process({VIGIL_BINARY, "train", dir.file("plain.yaml"), "--input", dir.file("in.csv"), "--pipeline", "nope"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("no pipeline is named \"nope\"; pipelines: engine-health"));
  r = run_process({VIGIL_BINARY, "train", dir.file("plain.yaml"), "--input", dir.file("in.csv"), "--pipeline",
                   "engine-health", "--model", "2"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("has no model 2 (--model counts from 0; the chain has 1)"));
  r = run_process({VIGIL_BINARY, "train", dir.file("plain.yaml"), "--input", dir.file("in.csv"), "--pipeline",
                   "engine-health", "--model", "0"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Contains("model 0 has no file to train; add file: NAME.vgm to it"));
}

}  // namespace vigil::test
