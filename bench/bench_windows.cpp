// Window throughput and state size, in-process (no I/O): feeds synthetic records straight into
// a window operator built from a YAML window block, as the pipeline thread would.
//
//   bench_windows [--records N] [--keys K] [--window YAML] [--aggregates YAML] [--rate R]
//                 [--workers W] [--sketch-bytes B]
//
// Times only the window's process() calls (the records are made up between them, outside the
// measurement). Prints records/s, ns/record, instructions/record (hardware counter of this thread and the
// workers' threads, over the feeding loop only; "n/a" where perf events are not allowed), state
// bytes, and resident memory after the first million records and at the end (fixed memory: the
// two must match).
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "vigil/operators/operators.hpp"
#include "vigil/runtime/config_node.hpp"
#include "vigil/runtime/sharded_operator.hpp"

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

long rss_kib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// Instructions retired by this process's threads (inherit: worker threads started after it is
// opened are counted too). -1 when perf events are not available.
class InstructionCounter {
 public:
  InstructionCounter() {
    perf_event_attr attr{};
    attr.type = PERF_TYPE_HARDWARE;
    attr.size = sizeof attr;
    attr.config = PERF_COUNT_HW_INSTRUCTIONS;
    attr.disabled = 1;
    attr.inherit = 1;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    fd_ = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
  }
  ~InstructionCounter() {
    if (fd_ >= 0) close(fd_);
  }
  void start() {
    if (fd_ >= 0) ioctl(fd_, PERF_EVENT_IOC_ENABLE, 0);
  }
  long long stop() {
    if (fd_ < 0) return -1;
    ioctl(fd_, PERF_EVENT_IOC_DISABLE, 0);
    long long v = 0;
    return read(fd_, &v, sizeof v) == sizeof v ? v : -1;
  }

 private:
  int fd_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t records = 20'000'000;
  std::size_t keys = 10'000;
  std::string window = "{type: tumbling, size: 10s}";
  std::string aggregates = "[count, mean(v), min(v), max(v), stddev(v)]";
  std::int64_t rate_per_key = 100;  // records per second per key (event time spacing)
  std::uint32_t workers = 1;
  std::int64_t sketch_bytes = 4096;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--records") records = std::stoull(argv[i + 1]);
    else if (a == "--keys") keys = std::stoul(argv[i + 1]);
    else if (a == "--window") window = argv[i + 1];
    else if (a == "--aggregates") aggregates = argv[i + 1];
    else if (a == "--rate") rate_per_key = std::stoll(argv[i + 1]);
    else if (a == "--workers") workers = static_cast<std::uint32_t>(std::stoul(argv[i + 1]));
    else if (a == "--sketch-bytes") sketch_bytes = std::stoll(argv[i + 1]);
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
  setup.limits.sketch_bytes = sketch_bytes;
  setup.shards = workers;
  setup.keys = &key_table;
  setup.fields = &fields;
  setup.diag = &diag;
  setup.path = "bench";
  InstructionCounter instructions;  // before the worker threads start, so they inherit it
  std::unique_ptr<runtime::Operator> op = diag.empty() ? plugin->make(setup) : nullptr;
  if (!op) {
    std::fprintf(stderr, "%s\n", diag.str().c_str());
    return 2;
  }
  if (workers > 1) {
    std::vector<std::unique_ptr<runtime::Operator>> shards;
    shards.push_back(std::move(op));
    for (std::uint32_t w = 1; w < workers; ++w) {
      setup.shard = w;
      shards.push_back(plugin->make(setup));
    }
    op = std::make_unique<runtime::ShardedOperator>(std::move(shards));
  }
  std::vector<runtime::KeyId> ids;
  for (std::size_t k = 0; k < keys; ++k) ids.push_back(*key_table.intern("machine-" + std::to_string(k)));
  const runtime::FieldId v = fields.find("v");

  // Pre-generate one batch pattern; times advance so windows keep firing.
  constexpr std::size_t kBatch = 4096;
  std::vector<runtime::Event> batch(kBatch);
  CountingSink sink;
  const runtime::Nanos step = runtime::kNanosPerSecond / rate_per_key;  // per key
  const runtime::Nanos t0 = 1'700'000'000LL * runtime::kNanosPerSecond;
  std::uint64_t produced = 0;
  std::uint32_t lcg = 12345;
  const long rss_before = peak_rss_kib();
  long rss_at_million = 0;
  long rss_after_firing = 0;  // once the first windows fired (their code and buffers are in)
  instructions.start();
  auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration in_process{};
  while (produced < records) {
    if (rss_at_million == 0 && produced >= 1'000'000) rss_at_million = rss_kib();
    if (rss_after_firing == 0 && sink.summaries > 0) rss_after_firing = rss_kib();
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
    const auto before = std::chrono::steady_clock::now();
    op->process(batch, sink);
    in_process += std::chrono::steady_clock::now() - before;
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The window's own time: making up the records is not part of it.
  const double elapsed = std::chrono::duration<double>(in_process).count();
  const long long retired = instructions.stop();
  const long rss_end = rss_kib();
  // What a checkpoint of this state costs: the snapshot the pipeline thread takes (best of 3).
  std::vector<std::byte> snapshot;
  double snapshot_ms = 1e300;
  for (int round = 0; round < 3; ++round) {
    snapshot.clear();
    const auto began = std::chrono::steady_clock::now();
    op->snapshot(snapshot);
    snapshot_ms = std::min(snapshot_ms, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count());
  }
  op->flush(runtime::FlushMode::end_of_input, sink);

  const double rps = static_cast<double>(produced) / elapsed;
  std::printf("window:            %s\n", window.c_str());
  std::printf("aggregates:        %s\n", aggregates.c_str());
  std::printf("keys:              %zu\n", keys);
  std::printf("workers:           %u\n", workers);
  std::printf("records:           %llu\n", static_cast<unsigned long long>(produced));
  std::printf("summaries:         %llu\n", static_cast<unsigned long long>(sink.summaries));
  std::printf("seconds:           %.3f in process() (%.3f with making up the records)\n", elapsed, wall);
  std::printf("records/s:         %.0f\n", rps);
  std::printf("ns/record:         %.2f\n", 1e9 / rps);
  if (retired >= 0)
    std::printf("instructions/rec:  %.1f (all threads, feeding included)\n",
                static_cast<double>(retired) / static_cast<double>(produced));
  else
    std::printf("instructions/rec:  n/a (perf events not allowed here)\n");
  std::printf("state bytes:       %zu (%.1f per key)\n", op->state_bytes(),
              static_cast<double>(op->state_bytes()) / static_cast<double>(keys));
  std::printf("peak RSS KiB:      %ld (before feeding: %ld)\n", peak_rss_kib(), rss_before);
  if (rss_at_million > 0)
    std::printf("RSS KiB:           %ld after 1M records, %ld after %llu (%+.2f%%)\n", rss_at_million, rss_end,
                static_cast<unsigned long long>(produced),
                100.0 * static_cast<double>(rss_end - rss_at_million) / static_cast<double>(rss_at_million));
  if (rss_after_firing > 0)
    std::printf("RSS KiB:           %ld once the first windows fired, %ld at the end (%+.2f%%)\n", rss_after_firing,
                rss_end, 100.0 * static_cast<double>(rss_end - rss_after_firing) / static_cast<double>(rss_after_firing));
  std::printf("checkpoint:        %zu bytes of open-window state, %.2f ms to snapshot\n", snapshot.size(), snapshot_ms);
  std::printf("checksum:          %.6g\n", sink.checksum);
  return 0;
}
