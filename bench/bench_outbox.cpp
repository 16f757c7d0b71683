// Outbox throughput: appends/s into the SQLite outbox at durability normal and full, and the
// drain rate of the upstream publisher to a mosquitto broker on a loopback port.
//
//   bench_outbox [--rows N] [--batch B] [--drain N] [--folder DIR]
//
// Appends N summaries (default 200000; a tenth of them at durability full) of a typical size
// (a JSON summary of ten columns, about 300 bytes) in transactions of B rows (default 512, the
// outbox output's default batch), straight through sync::Outbox on one thread, as the outbox
// writer thread does. Then fills an outbox with `--drain` rows (default 50000), starts the
// `upstream` output against a mosquitto it starts itself (mosquitto must be installed) with
// drain_rate unlimited, and times until the outbox is empty: a row leaves only after its PUBACK,
// so that is the acknowledged rate. Files go to DIR (default: a fresh folder under $TMPDIR,
// removed at the end): put it on the storage you want to measure (an SD card, eMMC).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "vigil/runtime/config_node.hpp"
#include "vigil/runtime/plugin.hpp"
#include "vigil/runtime/summary.hpp"
#include "vigil/sync/outbox.hpp"
#include "vigil/sync/sync.hpp"

extern char** environ;

using namespace vigil;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  long rows = 200'000;
  long batch = 512;
  long drain = 50'000;
  std::string folder;
};

/// One summary's JSON as the outbox output stores it: ten columns, about 300 bytes.
std::string summary_json(long i) {
  runtime::SummarySchema schema{"machine-health", 0,
                                {"temp_mean", "temp_min", "temp_max", "vib_mean", "vib_min", "vib_max",
                                 "pressure_mean", "pressure_min", "pressure_max", "temp_p99"}};
  double values[10];
  for (int c = 0; c < 10; ++c) values[c] = 60.0 + static_cast<double>((i * 7 + c * 13) % 1000) / 37.0;
  runtime::Summary s;
  s.schema = &schema;
  s.key_name = "press-" + std::to_string(i % 16);
  s.start = (1'700'000'000'000 + i * 10'000) * runtime::kNanosPerMilli;
  s.end = s.start + 10 * runtime::kNanosPerSecond;
  s.count = 1000;
  s.values = values;
  std::string out;
  runtime::append_json(s, out);
  return out;
}

/// Appends `rows` summaries in transactions of `batch`; returns rows per second.
double append_rate(const std::string& path, bool full, long rows, long batch) {
  auto opened = sync::Outbox::open(path, {.gateway = "bench", .durability_full = full});
  if (!opened) {
    std::fprintf(stderr, "bench_outbox: %s\n", opened.error().message.c_str());
    std::exit(1);
  }
  auto& outbox = **opened;
  std::vector<std::string> payloads;
  for (long i = 0; i < batch; ++i) payloads.push_back(summary_json(i));
  std::vector<std::string> keys, topics;
  for (long i = 0; i < batch; ++i) {
    keys.push_back("press-" + std::to_string(i % 16));
    topics.push_back("vigil/bench/machine-health/" + keys.back());
  }
  std::vector<sync::OutboxRow> chunk;
  const auto started = Clock::now();
  for (long done = 0; done < rows;) {
    chunk.clear();
    for (long j = 0; j < batch && done + j < rows; ++j) {
      const auto u = static_cast<std::size_t>(j);
      chunk.push_back(sync::OutboxRow{.topic = topics[u],
                                      .pipeline = "machine-health", .key = keys[u], .start_ms = done + j,
                                      .end_ms = done + j + 10'000, .priority = 0, .format = "json",
                                      .payload = payloads[u], .created_ns = 1, .flags = 0});
    }
    auto r = outbox.append(chunk);
    if (!r) {
      std::fprintf(stderr, "bench_outbox: %s\n", r.error().message.c_str());
      std::exit(1);
    }
    done += static_cast<long>(chunk.size());
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return static_cast<double>(rows) / seconds;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::fprintf(stderr, "bench_outbox: cannot find a free port\n");
    std::exit(1);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

/// mosquitto on a free loopback port; killed on destruction.
class Broker {
 public:
  explicit Broker(const std::string& folder) : port_(free_port()) {
    const std::string conf = folder + "/mosquitto.conf";
    std::ofstream(conf) << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\n";
    std::string program = "mosquitto", flag = "-c", conf_arg = conf;
    char* argv[] = {program.data(), flag.data(), conf_arg.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", 01, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", 01, 0);
    const int rc = posix_spawnp(&pid_, "mosquitto", &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      std::fprintf(stderr, "bench_outbox: cannot start mosquitto (is it installed?)\n");
      std::exit(1);
    }
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!accepts(port_)) {
      if (Clock::now() > deadline) {
        std::fprintf(stderr, "bench_outbox: mosquitto did not come up on port %d\n", port_);
        std::exit(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~Broker() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  pid_t pid_ = -1;
};

/// Fills an outbox with `rows` summaries, then times the upstream output emptying it.
double drain_rate(const std::string& folder, long rows, long batch, const std::string& format) {
  const std::string path = folder + "/drain-" + format + ".db";
  append_rate(path, false, rows, batch);
  Broker broker(folder);
  runtime::Registry registry;
  sync::register_outputs(registry);
  const std::string yaml = "outbox: {path: " + path + "}\nupstream: {broker: \"" + broker.uri() +
                           "\", drain_rate: 10000000, format: " + format + "}\n";
  auto parsed = runtime::load_config_text(yaml, "bench.yaml", folder);
  if (!parsed) {
    std::fprintf(stderr, "bench_outbox: %s\n", parsed.error().message.c_str());
    std::exit(1);
  }
  const runtime::ConfigNode* node = parsed->find("upstream");
  const runtime::OutputPlugin* plugin = registry.output("upstream");
  runtime::Diagnostics diag;
  runtime::OutputSetup setup{runtime::Block(node, plugin->keys), "bench", folder, "outputs.upstream", &diag,
                             &parsed.value()};
  runtime::validate_block(*node, plugin->keys, "outputs.upstream", diag);
  auto upstream = plugin->make(setup);
  if (!upstream || !diag.empty()) {
    std::fprintf(stderr, "bench_outbox: %s\n", diag.str().c_str());
    std::exit(1);
  }
  auto reader = sync::Outbox::open(path, {.gateway = "bench", .read_only = true});
  if (!reader) std::exit(1);
  const auto started = Clock::now();
  if (auto r = upstream->start(); !r) {
    std::fprintf(stderr, "bench_outbox: %s\n", r.error().message.c_str());
    std::exit(1);
  }
  for (;;) {
    auto s = (*reader)->stats();
    if (s && s->rows == 0) break;
    if (Clock::now() - started > std::chrono::minutes(5)) {
      std::fprintf(stderr, "bench_outbox: the drain did not finish within 5 minutes\n");
      std::exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::fprintf(stderr, "%s\n", upstream->stats().c_str());
  upstream->stop();
  return static_cast<double>(rows) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--rows") o.rows = std::atol(argv[i + 1]);
    else if (flag == "--batch") o.batch = std::atol(argv[i + 1]);
    else if (flag == "--drain") o.drain = std::atol(argv[i + 1]);
    else if (flag == "--folder") o.folder = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: bench_outbox [--rows N] [--batch B] [--drain N] [--folder DIR]\n");
      return 2;
    }
  }
  if (o.rows <= 0 || o.batch <= 0 || o.drain <= 0) {
    std::fprintf(stderr, "bench_outbox: --rows, --batch and --drain take whole numbers above 0\n");
    return 2;
  }
  bool remove = false;
  if (o.folder.empty()) {
    std::string templ = (std::filesystem::temp_directory_path() / "bench-outbox-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) return 1;
    o.folder = templ;
    remove = true;
  }
  std::printf("payload: %zu bytes of JSON per summary; batch %ld rows per transaction; folder %s\n",
              summary_json(0).size(), o.batch, o.folder.c_str());
  const double normal = append_rate(o.folder + "/normal.db", false, o.rows, o.batch);
  std::printf("outbox appends/s, durability normal: %.0f (%ld rows)\n", normal, o.rows);
  const long full_rows = std::max(o.batch, o.rows / 10);
  const double full = append_rate(o.folder + "/full.db", true, full_rows, o.batch);
  std::printf("outbox appends/s, durability full:   %.0f (%ld rows)\n", full, full_rows);
  const double single = append_rate(o.folder + "/full-single.db", true, 500, 1);
  std::printf("outbox appends/s, durability full, one row per transaction: %.0f (500 rows)\n", single);
  std::fflush(stdout);
  for (const char* format : {"flatbuffers", "json"}) {
    const double drained = drain_rate(o.folder, o.drain, o.batch, format);
    std::printf("upstream drain to loopback mosquitto, %s: %.0f summaries/s acknowledged (%ld rows)\n", format,
                drained, o.drain);
    std::fflush(stdout);
  }
  if (remove) std::filesystem::remove_all(o.folder);
  return 0;
}
