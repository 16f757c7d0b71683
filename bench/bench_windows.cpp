// Window throughput and state size, in-process (no I/O): feeds synthetic records straight into
// a window operator built from a YAML window block, as the pipeline thread would.
//
//   bench_windows [--records N] [--keys K] [--window YAML] [--aggregates YAML]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "vigil/operators/operators.hpp"
#include "vigil/runtime/config_node.hpp"

using namespace vigil;

namespace {

struct CountingSink final : runtime::SummarySink {
  void emit(const runtime::Summary& s) noexcept override {
    ++summaries;
    checksum += s.values.empty() ? 0 : s.values[0];
  }
  std::uint64_t summaries = 0;
  double checksum = 0;
};

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t records = 20'000'000;
  std::size_t keys = 10'000;
  std::string window = "{type: tumbling, size: 10s}";
  std::string aggregates = "[count, mean(v), min(v), max(v), stddev(v)]";
  std::int64_t rate_per_key = 100;  // records per second per key (event time spacing)
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--records") records = std::stoull(argv[i + 1]);
    else if (a == "--keys") keys = std::stoul(argv[i + 1]);
    else if (a == "--window") window = argv[i + 1];
    else if (a == "--aggregates") aggregates = argv[i + 1];
    else if (a == "--rate") rate_per_key = std::stoll(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }

  runtime::Registry registry;
  operators::register_windows(registry);
  auto wnode = runtime::load_config_text(window, "window", ".");
  auto anode = runtime::load_config_text(aggregates, "aggregates", ".");
  if (!wnode || !anode) {
    std::fprintf(stderr, "bad YAML\n");
    return 2;
  }
  const auto* type = wnode->find("type");
  const auto* plugin = type ? registry.window(type->scalar) : nullptr;
  if (!plugin) {
    std::fprintf(stderr, "unknown window type\n");
    return 2;
  }
  runtime::Diagnostics diag;
  constexpr std::string_view kIgnore[] = {"type"};
  runtime::validate_block(*wnode, plugin->keys, "window", diag, kIgnore);
  runtime::KeyTable key_table(keys);
  runtime::FieldTable fields;
  runtime::PipelineSetup setup;
  setup.name = "bench";
  setup.window = runtime::Block(&*wnode, plugin->keys);
  setup.aggregates = &*anode;
  setup.sources = {0};
  setup.source_time = {runtime::SourceTime{}};
  setup.limits.max_keys = keys;
  setup.keys = &key_table;
  setup.fields = &fields;
  setup.diag = &diag;
  setup.path = "bench";
  auto op = diag.empty() ? plugin->make(setup) : nullptr;
  if (!op) {
    std::fprintf(stderr, "%s\n", diag.str().c_str());
    return 2;
  }
  std::vector<runtime::KeyId> ids;
  for (std::size_t k = 0; k < keys; ++k) ids.push_back(*key_table.intern("machine-" + std::to_string(k)));
  const runtime::FieldId v = fields.find("v");

  // Pre-generate one batch pattern; times advance so windows keep firing.
  constexpr std::size_t kBatch = 1024;
  std::vector<runtime::Event> batch(kBatch);
  CountingSink sink;
  const runtime::Nanos step = runtime::kNanosPerSecond / rate_per_key;  // per key
  const runtime::Nanos t0 = 1'700'000'000LL * runtime::kNanosPerSecond;
  std::uint64_t produced = 0;
  std::uint32_t lcg = 12345;
  const long rss_before = peak_rss_kib();
  auto start = std::chrono::steady_clock::now();
  while (produced < records) {
    for (std::size_t i = 0; i < kBatch; ++i, ++produced) {
      const std::uint64_t n = produced;
      const std::size_t k = n % keys;
      lcg = lcg * 1664525u + 1013904223u;
      runtime::Event& e = batch[i];
      e.kind = runtime::EventKind::sample;
      e.flags = runtime::kRecordBegin;
      e.key = ids[k];
      e.field = v;
      e.source = 0;
      e.time = t0 + static_cast<runtime::Nanos>(n / keys) * step;
      e.value = 20.0 + static_cast<double>(lcg >> 8) * (1.0 / 16777216.0);
    }
    op->process(batch, sink);
  }
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  op->flush(runtime::FlushMode::end_of_input, sink);

  const double rps = static_cast<double>(produced) / elapsed;
  std::printf("window:            %s\n", window.c_str());
  std::printf("aggregates:        %s\n", aggregates.c_str());
  std::printf("keys:              %zu\n", keys);
  std::printf("records:           %llu\n", static_cast<unsigned long long>(produced));
  std::printf("summaries:         %llu\n", static_cast<unsigned long long>(sink.summaries));
  std::printf("seconds:           %.3f\n", elapsed);
  std::printf("records/s:         %.0f\n", rps);
  std::printf("ns/record:         %.2f\n", 1e9 / rps);
  std::printf("state bytes:       %zu (%.1f per key)\n", op->state_bytes(),
              static_cast<double>(op->state_bytes()) / static_cast<double>(keys));
  std::printf("peak RSS KiB:      %ld (before feeding: %ld)\n", peak_rss_kib(), rss_before);
  std::printf("checksum:          %.6g\n", sink.checksum);
  return 0;
}
