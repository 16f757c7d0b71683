// The `console` output: one JSON line per summary, to standard output (or the stream the CLI
// set) or to a file. Lines collect in a buffer reserved in start(); they are written when the
// buffer passes 32 KiB and, so people watching a live run see them promptly, by a flusher
// thread at most 200 ms after they were emitted. A slow reader (a pipe) slows the pipeline
// down rather than losing lines: replay relies on every summary reaching stdout.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <thread>

#include "outputs.hpp"
#include "vigil/sync/sync.hpp"

namespace vigil::sync {
namespace {

using runtime::ConfigKey;
using runtime::KeyType;
using runtime::Required;
using runtime::Result;

constexpr std::size_t kBufferReserve = 64 * 1024;
constexpr std::size_t kWriteThreshold = 32 * 1024;
constexpr std::chrono::milliseconds kFlushInterval{200};

constexpr std::string_view kFormats[] = {"json"};

constexpr ConfigKey kConsoleKeys[] = {
    {"format", KeyType::choice, Required::no, "json", "Encoding of each line: json (one JSON object per summary).",
     runtime::kNoMin, runtime::kNoMax, kFormats},
    {"path", KeyType::string, Required::no, {},
     "File the lines are appended to (relative to the config file's folder); absent: standard output."},
    {"forwarded_only", KeyType::boolean, Required::no, "false",
     "Print only the summaries the pipelines' forward policies send upstream; default: every summary."},
};

// nullptr stands for stdout, which is not a constant expression.
std::atomic<std::FILE*> default_console_stream{nullptr};

class ConsoleOutput final : public runtime::Output {
 public:
  ConsoleOutput(std::FILE* stream, std::string path, std::string shown_path, bool forwarded_only)
      : stream_(stream), path_(std::move(path)), shown_path_(std::move(shown_path)), forwarded_only_(forwarded_only) {}

  ~ConsoleOutput() override { stop(); }
  ConsoleOutput(const ConsoleOutput&) = delete;
  ConsoleOutput& operator=(const ConsoleOutput&) = delete;

  Result<void> start() override {
    std::lock_guard lock(mutex_);
    if (started_) return runtime::Error{"console: started twice"};
    if (!path_.empty()) {
      std::error_code ec;
      auto parent = std::filesystem::path(path_).parent_path();
      if (!parent.empty()) std::filesystem::create_directories(parent, ec);
      std::FILE* file = std::fopen(path_.c_str(), "a");
      if (file == nullptr)
        return runtime::Error{"console: cannot open " + path_ + ": " + std::strerror(errno) +
                              "; check that the folder exists and is writable"};
      stream_ = file;
      owns_stream_ = true;
    }
    try {
      buffer_.reserve(kBufferReserve);
      flusher_ = std::thread(&ConsoleOutput::flush_loop, this);
    } catch (const std::exception& e) {
      close_stream();
      return runtime::Error{std::string("console: cannot start: ") + e.what()};
    }
    started_ = true;
    return runtime::ok();
  }

  void stop() noexcept override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (flusher_.joinable()) flusher_.join();
    std::lock_guard lock(mutex_);
    write_locked();
    if (stream_ != nullptr && !owns_stream_) std::fflush(stream_);
    close_stream();
  }

  void emit(const runtime::Summary& summary) noexcept override {
    if (forwarded_only_ && !summary.forward) return;
    std::lock_guard lock(mutex_);
    if (stream_ == nullptr) {
      dropped_.add();
      return;
    }
    const std::size_t before = buffer_.size();
    try {
      runtime::append_json(summary, buffer_);
      buffer_ += '\n';
    } catch (...) {
      buffer_.resize(before);
      dropped_.add();
      return;
    }
    ++pending_lines_;
    if (buffer_.size() >= kWriteThreshold) write_locked();
  }

  std::string stats() const override {
    std::string out = "console";
    if (!shown_path_.empty()) out += " " + shown_path_;
    out += ": " + std::to_string(lines_.get()) + " lines written";
    if (dropped_.get() > 0) out += ", " + std::to_string(dropped_.get()) + " dropped";
    if (write_errors_.get() > 0) out += ", " + std::to_string(write_errors_.get()) + " write errors";
    return out;
  }

 private:
  void flush_loop() noexcept {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      wake_.wait_for(lock, kFlushInterval, [this] { return stopping_; });
      write_locked();
    }
  }

  // Caller holds mutex_. A failed write drops the buffered lines (counted) rather than
  // holding them: the buffer must not grow without bound while the reader is gone.
  void write_locked() noexcept {
    if (buffer_.empty()) return;
    bool written = false;
    int error = 0;
    if (stream_ != nullptr) {
      std::size_t n = std::fwrite(buffer_.data(), 1, buffer_.size(), stream_);
      written = n == buffer_.size() && std::fflush(stream_) == 0;
      error = errno;
    }
    if (written) {
      lines_.add(pending_lines_);
      if (failing_) {
        std::fprintf(stderr, "vigil: console%s%s: writing again\n", shown_path_.empty() ? "" : " ",
                     shown_path_.c_str());
        failing_ = false;
      }
    } else {
      write_errors_.add();
      dropped_.add(pending_lines_);
      if (!failing_) {
        std::fprintf(stderr, "vigil: console%s%s: write failed: %s; dropping lines until writes succeed\n",
                     shown_path_.empty() ? "" : " ", shown_path_.c_str(), std::strerror(error));
        failing_ = true;
      }
      if (stream_ != nullptr) std::clearerr(stream_);
    }
    buffer_.clear();
    pending_lines_ = 0;
  }

  void close_stream() noexcept {
    if (owns_stream_ && stream_ != nullptr) std::fclose(stream_);
    if (owns_stream_) stream_ = nullptr;
    owns_stream_ = false;
  }

  std::FILE* stream_;
  bool owns_stream_ = false;
  std::string path_;        // resolved file path; empty: the stream given at construction
  std::string shown_path_;  // as the user wrote it, for messages
  bool forwarded_only_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool started_ = false;
  bool stopping_ = false;
  bool failing_ = false;
  std::string buffer_;
  std::uint64_t pending_lines_ = 0;
  runtime::Counter lines_;
  runtime::Counter dropped_;
  runtime::Counter write_errors_;
  std::thread flusher_;
};

std::unique_ptr<runtime::Output> make_console(const runtime::OutputSetup& setup) {
  std::string path = setup.block.string("path");
  const bool forwarded_only = setup.block.boolean("forwarded_only");
  std::FILE* stream = default_console_stream.load(std::memory_order_acquire);
  if (stream == nullptr) stream = stdout;
  if (path.empty()) return std::make_unique<ConsoleOutput>(stream, std::string(), std::string(), forwarded_only);
  return std::make_unique<ConsoleOutput>(nullptr, resolve_path(path, setup.config_dir), path, forwarded_only);
}

constexpr runtime::OutputPlugin kConsolePlugin{
    "console", "Prints every summary as one JSON line (standard output or a file).", kConsoleKeys,
    &make_console};

}  // namespace

const runtime::OutputPlugin& console_output_plugin() noexcept { return kConsolePlugin; }

void set_console_stream(std::FILE* stream) noexcept {
  default_console_stream.store(stream, std::memory_order_release);
}

}  // namespace vigil::sync
