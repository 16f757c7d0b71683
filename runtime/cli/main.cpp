// The `vigil` command: wires the runtime, sources, operators and outputs together.
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "vigil/models/models.hpp"
#include "vigil/operators/operators.hpp"
#include "vigil/runtime/code_pages.hpp"
#include "vigil/runtime/engine.hpp"
#include "vigil/runtime/model_chain.hpp"
#include "vigil/sensors/sensors.hpp"
#include "vigil/sync/outbox_cli.hpp"
#include "vigil/sync/sync.hpp"
#include "vigil/sync/tail_upstream.hpp"
#include "service_notify.hpp"

namespace {

using namespace vigil;

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

constexpr const char* kUsage = R"(usage: vigil <command> [options]

commands:
  run CONFIG [--for DURATION] [--stats]
      Run the pipelines until Ctrl-C/SIGTERM (or for DURATION, e.g. 30s). Open windows are
      flushed (marked "partial": true) and the outbox committed before exit.
  validate CONFIG
      Check the config; print every problem as file:line:column: message. Exit 2 on errors.
  replay CONFIG --input FILE [--source NAME] [--output FILE] [--outbox] [--stats]
      Feed a recorded CSV into a source (default: the first) as fast as possible, on a virtual
      clock driven by event time. Every summary is one JSON line on stdout (or FILE); logs go
      to stderr. The outbox is written only with --outbox. Same input, same output.
  train CONFIG --input FILE [--out MODEL] [--pipeline NAME] [--model INDEX] [--source NAME]
      Replay FILE (as replay does, nothing printed) and fit the model that has `file:` (or the
      chain's model INDEX of pipeline NAME) on the feature vectors it would have received;
      write the model file to MODEL (default: that `file:`) and print what was fitted with its
      cross-validated figures. Then `vigil replay`/`run` load it.
  outbox DB stats [--json] | tail [N] | export [--json]
      Inspect an outbox database read-only: counts and age, the last N rows (default 10) or
      every row, as JSON lines. Exit 1 if DB is missing or not an outbox.
  tail-upstream --broker URI [--topic T] [--count N] [--json] [--for D] [BROKER OPTIONS]
      Subscribe to what gateways publish upstream (default topic vigil/#), decode each summary,
      drop duplicates by (gateway, epoch, seq) and report gaps at the end. Exit 1 on gaps.
  simulate SCENARIO --broker URI [--rate N] [--duration D] [--format json|flatbuffers] [BROKER OPTIONS]
      Publish simulated machines (a simulator block plus publish:) to an MQTT broker, paced
      to wall time, until the scenario's count, the duration or Ctrl-C.
  describe [core|sources|windows|models|outputs|simulate]
      Print the configuration reference (Markdown) from the key tables that validate
      configs; docs/reference.md is this output.
  help, --help       This text.
  --version          Print the version.

broker options (tail-upstream, simulate; URI is tcp://host:port or ssl://host:port):
  --username U --password-env VAR   log in as U with the password in environment variable VAR
  --ca-file FILE                    ssl://: PEM CAs of the broker's certificate (default: system store)
  --cert-file FILE --key-file FILE  ssl://: client certificate and its key (mutual TLS)
  --no-verify                       ssl://: skip the check of the broker's certificate and host name

exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
)";

// glibc malloc tuned for a small resident footprint (each setting only if the environment does
// not set it, so MALLOC_ARENA_MAX=8 still works for an experiment):
// - a fixed mmap threshold: blocks of 64 KiB and more (tables and rings sized from the config)
//   come from mmap as untouched zero pages that calloc need not clear, so they cost resident
//   memory only where written. glibc's default raises the threshold after the first such block
//   is freed, after which large tables would come from the heap and be cleared in full.
// - at most two arenas instead of up to eight per core: each thread that allocates (the MQTT
//   client's, per message) otherwise keeps freed memory in an arena of its own. The pipeline
//   allocates nothing per record, so two arenas leave little to contend on.
void limit_malloc_footprint() {
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, 64 * 1024);
}

runtime::Registry make_registry() {
  runtime::Registry registry;
  sensors::register_sources(registry);
  operators::register_windows(registry);
  models::register_models(registry);
  sync::register_outputs(registry);
  return registry;
}

struct Args {
  std::string command;
  std::string config;
  std::string input;
  std::string source;
  std::string output;
  std::string run_for;
  std::string out;
  std::string pipeline;
  std::string model;
  bool outbox = false;
  bool stats = false;
  std::string error;
};

Args parse_args(int argc, char** argv) {
  Args a;
  std::vector<std::string_view> rest(argv + 1, argv + argc);
  if (rest.empty()) {
    a.error = "missing command";
    return a;
  }
  a.command = std::string(rest[0]);
  for (std::size_t i = 1; i < rest.size(); ++i) {
    std::string_view arg = rest[i];
    auto value = [&](std::string& out) {
      if (auto eq = arg.find('='); eq != std::string_view::npos) {
        out = std::string(arg.substr(eq + 1));
        return true;
      }
      if (i + 1 >= rest.size()) {
        a.error = std::string(arg) + " needs a value";
        return false;
      }
      out = std::string(rest[++i]);
      return true;
    };
    auto is = [&](std::string_view flag) { return arg == flag || arg.starts_with(std::string(flag) + "="); };
    if (is("--for")) { if (!value(a.run_for)) return a; }
    else if (is("--input")) { if (!value(a.input)) return a; }
    else if (is("--source")) { if (!value(a.source)) return a; }
    else if (is("--output")) { if (!value(a.output)) return a; }
    else if (is("--out")) { if (!value(a.out)) return a; }
    else if (is("--pipeline")) { if (!value(a.pipeline)) return a; }
    else if (is("--model")) { if (!value(a.model)) return a; }
    else if (arg == "--outbox") a.outbox = true;
    else if (arg == "--stats") a.stats = true;
    else if (arg.starts_with("-")) { a.error = "unknown option " + std::string(arg); return a; }
    else if (a.config.empty()) a.config = std::string(arg);
    else { a.error = "unexpected argument " + std::string(arg); return a; }
  }
  return a;
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "vigil: %s\n\n%s", message.c_str(), kUsage);
  return 2;
}

// Calls `tick` every `interval` on a thread of its own until destroyed (then joined).
class Ticker {
 public:
  Ticker(std::chrono::microseconds interval, std::function<void()> tick) {
    thread_ = std::thread([this, interval, tick = std::move(tick)] {
      std::unique_lock lock(mutex_);
      while (!cv_.wait_for(lock, interval, [this] { return done_; })) tick();
    });
  }
  ~Ticker() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Prints counters to stderr every 10 s.
std::unique_ptr<Ticker> stats_printer(const runtime::Engine& engine) {
  return std::make_unique<Ticker>(std::chrono::seconds(10), [&engine] {
    std::fprintf(stderr, "vigil: stats %s\n", engine.stats_json().c_str());
  });
}

// systemd's watchdog (WatchdogSec= in the unit sets $WATCHDOG_USEC): pings WATCHDOG=1 at half
// the interval while the pipeline loop keeps turning; when it stands still the pings stop and
// systemd restarts the service. Null when no watchdog is asked for (or it is another process's).
std::unique_ptr<Ticker> service_watchdog(const runtime::Engine& engine) {
  const char* usec = std::getenv("WATCHDOG_USEC");
  const char* pid = std::getenv("WATCHDOG_PID");
  if (usec == nullptr || (pid != nullptr && std::strtoll(pid, nullptr, 10) != static_cast<long long>(getpid())))
    return nullptr;
  const long long interval_us = std::strtoll(usec, nullptr, 10);
  if (interval_us <= 0) return nullptr;
  const auto every = std::chrono::microseconds(interval_us / 2);
  return std::make_unique<Ticker>(every, [&engine, every, seen = engine.progress(), stalled = false]() mutable {
    const std::uint64_t now = engine.progress();
    if (now != seen) {
      if (stalled) std::fprintf(stderr, "vigil: the pipeline loop turns again; watchdog pings resume\n");
      stalled = false;
      seen = now;
      cli::notify_service_manager("WATCHDOG=1");
    } else if (!stalled) {
      stalled = true;
      std::fprintf(stderr, "vigil: the pipeline loop has stood still for %lld ms; watchdog pings withheld\n",
                   static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(every).count()));
    }
  });
}

// Once the pipelines run, the code that only start-up needed (YAML, schema creation, plugin
// set-up) need not stay resident: 2 s after start the code pages are dropped and what the
// running pipeline executes faults back in. VIGIL_KEEP_CODE_PAGES=1 keeps them (to compare).
std::unique_ptr<Ticker> startup_code_release() {
  if (const char* keep = std::getenv("VIGIL_KEEP_CODE_PAGES"); keep && std::strcmp(keep, "1") == 0) return nullptr;
  return std::make_unique<Ticker>(std::chrono::seconds(2), [done = false]() mutable {
    if (!done) runtime::release_code_pages();
    done = true;
  });
}

int command_validate(const Args& a, const runtime::Registry& registry) {
  if (a.config.empty()) return usage_error("validate needs a CONFIG file");
  runtime::EngineOptions options;
  options.mode = runtime::EngineMode::validate;
  auto engine = runtime::Engine::load(a.config, registry, options);
  if (!engine) {
    std::fprintf(stderr, "%s\n", engine.error().message.c_str());
    return 2;
  }
  std::printf("%s: ok\n", a.config.c_str());
  return 0;
}

int run_engine(runtime::Engine& engine, const Args& a, runtime::Nanos run_for) {
  std::unique_ptr<Ticker> printer;
  if (a.stats) printer = stats_printer(engine);
  auto result = engine.run(g_stop, run_for);
  printer.reset();
  std::fprintf(stderr, "%s", engine.stats_text().c_str());
  if (a.stats) std::fprintf(stderr, "vigil: stats %s\n", engine.stats_json().c_str());
  if (!result) {
    std::fprintf(stderr, "vigil: %s\n", result.error().message.c_str());
    return 1;
  }
  return 0;
}

int command_run(const Args& a, const runtime::Registry& registry) {
  if (a.config.empty()) return usage_error("run needs a CONFIG file");
  runtime::Nanos run_for = 0;
  if (!a.run_for.empty()) {
    auto d = runtime::parse_duration(a.run_for);
    if (!d) return usage_error("--for: " + d.error().message);
    run_for = *d;
  }
  runtime::EngineOptions options;
  options.mode = runtime::EngineMode::run;
  auto engine = runtime::Engine::load(a.config, registry, options);
  if (!engine) {
    std::fprintf(stderr, "%s\n", engine.error().message.c_str());
    return 2;
  }
  const std::string& board = (*engine)->board().name;
  std::fprintf(stderr, "vigil: running %s (gateway %s%s)%s\n", a.config.c_str(), (*engine)->gateway().c_str(),
               board.empty() ? "" : (", board " + board).c_str(), run_for ? (" for " + a.run_for).c_str() : "; Ctrl-C to stop");
  // Under systemd (Type=notify) the unit is started once the config is loaded; an output or
  // source that fails to start still ends the process with exit code 1.
  if (!cli::notify_service_manager("READY=1\nSTATUS=running " + a.config))
    std::fprintf(stderr, "vigil: could not notify the service manager (NOTIFY_SOCKET)\n");
  const auto watchdog = service_watchdog(**engine);
  const auto trim = startup_code_release();
  return run_engine(**engine, a, run_for);
}

// Replaces the --source (default: the first) with a reader of --input; non-zero: exit code.
int attach_replay(runtime::Engine& engine, const Args& a) {
  auto index = engine.find_source(a.source);
  if (!index) return usage_error("--source: " + index.error().message);
  runtime::Diagnostics diag;
  runtime::SourceSetup setup = engine.source_setup(*index);
  setup.diag = &diag;
  auto reader = sensors::make_csv_replay(setup, a.input);
  if (!reader) {
    std::fprintf(stderr, "%s\n", diag.empty() ? ("vigil: cannot replay " + a.input).c_str() : diag.str().c_str());
    return 2;
  }
  engine.replace_source(*index, std::move(reader));
  return 0;
}

int command_replay(const Args& a, const runtime::Registry& registry) {
  if (a.config.empty()) return usage_error("replay needs a CONFIG file");
  if (a.input.empty()) return usage_error("replay needs --input FILE (a CSV file with a header line)");
  std::FILE* out = stdout;
  if (!a.output.empty()) {
    out = std::fopen(a.output.c_str(), "w");
    if (!out) {
      std::fprintf(stderr, "vigil: cannot write %s: %s\n", a.output.c_str(), std::strerror(errno));
      return 1;
    }
  }
  sync::set_console_stream(out);
  runtime::EngineOptions options;
  options.mode = runtime::EngineMode::replay;
  options.replay_outbox = a.outbox;
  options.console = out;
  auto engine = runtime::Engine::load(a.config, registry, options);
  if (!engine) {
    std::fprintf(stderr, "%s\n", engine.error().message.c_str());
    return 2;
  }
  if (int rc = attach_replay(**engine, a); rc != 0) return rc;
  int rc = run_engine(**engine, a, 0);
  if (out != stdout) std::fclose(out);
  return rc;
}

int command_train(const Args& a, const runtime::Registry& registry) {
  if (a.config.empty()) return usage_error("train needs a CONFIG file");
  if (a.input.empty()) return usage_error("train needs --input FILE (a CSV file with a header line)");
  runtime::TrainTarget target;
  target.pipeline = a.pipeline;
  if (!a.model.empty()) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(a.model.c_str(), &end, 10);
    if (end == a.model.c_str() || *end != '\0') return usage_error("--model takes the model's index in the chain (0, 1...)");
    target.stage = v;
  }
  target.data.input = a.input;
  std::FILE* sink = std::fopen("/dev/null", "w");
  if (!sink) return usage_error("cannot open /dev/null");
  sync::set_console_stream(sink);
  runtime::EngineOptions options;
  options.mode = runtime::EngineMode::replay;
  options.console = sink;
  options.train = &target;
  auto engine = runtime::Engine::load(a.config, registry, options);
  if (!engine) {
    std::fclose(sink);
    std::fprintf(stderr, "%s\n", engine.error().message.c_str());
    return 2;
  }
  if (int rc = attach_replay(**engine, a); rc != 0) return rc;
  auto ran = (*engine)->run(g_stop, 0);
  std::fclose(sink);
  if (!ran) {
    std::fprintf(stderr, "vigil: %s\n", ran.error().message.c_str());
    return 1;
  }
  if (target.data.rows() == 0) {
    std::fprintf(stderr, "vigil: %s: %s gave the model no feature vector to train on\n", target.path.c_str(), a.input.c_str());
    return 1;
  }
  const std::string out = a.out.empty() ? target.file : a.out;
  std::fprintf(stderr, "vigil: training %s (pipeline %s) on %zu vectors of %zu keys from %s\n", target.path.c_str(),
               target.found_pipeline.c_str(), target.data.rows(), target.data.keys.size(), a.input.c_str());
  auto report = target.model->train(target.data, out);
  if (!report) {
    std::fprintf(stderr, "vigil: %s: %s\n", target.path.c_str(), report.error().message.c_str());
    return 1;
  }
  std::printf("%s", report->c_str());
  return 0;
}

template <class Plugins>
void describe_plugins(std::string& out, const char* title, const char* kind, const Plugins& plugins) {
  out += std::string("## ") + title + "\n\n";
  for (const auto& p : plugins) {
    out += "### " + std::string(kind) + " `" + std::string(p.name) + "`\n\n" + std::string(p.doc) + "\n\n";
    out += runtime::describe_keys(p.keys) + "\n";
  }
}

int command_describe(const Args& a, const runtime::Registry& registry) {
  const std::string& what = a.config;
  if (!what.empty() && what != "core" && what != "sources" && what != "windows" && what != "models" &&
      what != "outputs" && what != "simulate")
    return usage_error("describe takes core, sources, windows, models, outputs or simulate");
  std::string out;
  if (what.empty()) {
    out += "# Configuration reference\n\n"
           "Generated by `vigil describe` from the same key tables that validate configs.\n"
           "Durations: 10s, 500ms, 2m, 1h, 250us. Sizes: 4096, 64KiB, 16MiB. `${VAR}` and "
           "`${VAR:-default}` are replaced from the environment; `$$` is a literal `$`.\n\n";
  }
  if (what.empty() || what == "core") out += "## Core keys\n\n" + runtime::describe_core_keys();
  if (what.empty() || what == "sources") describe_plugins(out, "Sources", "source", registry.sources());
  if (what.empty() || what == "windows") describe_plugins(out, "Windows", "window", registry.windows());
  if (what.empty() || what == "models") describe_plugins(out, "Models", "model", registry.models());
  if (what.empty() || what == "outputs") describe_plugins(out, "Outputs", "output", registry.outputs());
  if (what.empty() || what == "simulate")
    out += "## Scenarios (`vigil simulate`)\n\nA scenario file has the keys of a `simulator` source (above) and "
           "`publish`:\n\n" +
           runtime::describe_keys(sensors::simulate_publish_keys()) + "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  limit_malloc_footprint();
  Args a = parse_args(argc, argv);
  if (a.command == "--version" || a.command == "version") {
    std::printf("vigil %s\n", VIGIL_VERSION);
    return 0;
  }
  if (a.command == "help" || a.command == "--help" || a.command == "-h") {
    std::printf("%s", kUsage);
    return 0;
  }
  if (a.command == "outbox") {
    const std::vector<std::string> rest(argv + 2, argv + argc);
    return sync::outbox_command(rest, stdout, stderr);
  }
  if (a.command == "tail-upstream") {
    install_signal_handlers();
    const std::vector<std::string> rest(argv + 2, argv + argc);
    return sync::tail_upstream_command(rest, g_stop, stdout, stderr);
  }
  if (a.command == "simulate") {
    install_signal_handlers();
    return sensors::simulate_command(std::vector<std::string>(argv + 2, argv + argc), g_stop);
  }
  if (!a.error.empty()) return usage_error(a.error);
  install_signal_handlers();
  const runtime::Registry registry = make_registry();
  if (a.command == "validate") return command_validate(a, registry);
  if (a.command == "run") return command_run(a, registry);
  if (a.command == "replay") return command_replay(a, registry);
  if (a.command == "train") return command_train(a, registry);
  if (a.command == "describe") return command_describe(a, registry);
  return usage_error("unknown command \"" + a.command + "\"");
}
