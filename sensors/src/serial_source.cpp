// The `serial` source: text lines from a tty (USB-serial adapter, RS-232/485 port), decoded as
// CSV, JSON or name=value pairs. The reader never stops draining the tty: when the pipeline is
// behind, the queue drops (counted) rather than letting the kernel buffer overflow uncounted.
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "dead_letter.hpp"
#include "event_batch.hpp"
#include "line_decoder.hpp"
#include "vigil/sensors/sensors.hpp"

namespace vigil::sensors {
namespace {

using runtime::ConfigKey;
using runtime::KeyType;
using runtime::kNoMax;
using runtime::kNoMin;
using runtime::Nanos;
using runtime::Required;

constexpr std::string_view kParity[] = {"none", "even", "odd"};
constexpr std::string_view kFormats[] = {"csv", "json", "kv"};
constexpr std::string_view kFlowControl[] = {"none", "rtscts"};

constexpr ConfigKey kSerialKeys[] = {
    {"device", KeyType::string, Required::no, {},
     "Serial device, e.g. /dev/ttyUSB0 or a stable /dev/serial/by-id/... link; default: board.serial."},
    {"format", KeyType::choice, Required::yes, {},
     "How a line is written: csv (cells by position), json (one object), kv (temp=21.5 vib=0.02).", kNoMin,
     kNoMax, kFormats},
    {"baud", KeyType::integer, Required::no, "9600", "Line speed in bit/s; one of the standard rates.", 50,
     4'000'000},
    {"data_bits", KeyType::integer, Required::no, "8", "Data bits per character.", 5, 8},
    {"parity", KeyType::choice, Required::no, "none", "Parity bit: none, even or odd.", kNoMin, kNoMax, kParity},
    {"stop_bits", KeyType::integer, Required::no, "1", "Stop bits: 1 or 2.", 1, 2},
    {"delimiter", KeyType::string, Required::no, "\\n",
     "End of a line: \\n (a CR before it is dropped), \\r\\n, \\r, or any one character."},
    {"columns", KeyType::string_list, Required::no, {},
     "csv: the name of every cell in order, so the key and time columns can be named; default: the cells "
     "are the `fields`, in order."},
    {"flow_control", KeyType::choice, Required::no, "none", "Hardware flow control: none or rtscts.", kNoMin,
     kNoMax, kFlowControl},
    {"max_line", KeyType::size, Required::no, "4096",
     "Longest line kept; longer lines are counted as malformed and skipped up to the next delimiter.", 16,
     1 << 20},
    {"reopen_interval", KeyType::duration, Required::no, "1s",
     "How often to try to open the device again while it is missing (unplugged).",
     static_cast<double>(runtime::kNanosPerMilli), static_cast<double>(3600 * runtime::kNanosPerSecond)},
    {"dead_letter", KeyType::string, Required::no, {},
     "File that keeps malformed lines, one JSON line each with time, device, reason and the line; default: "
     "none (malformed lines are only counted)."},
    {"dead_letter_max", KeyType::size, Required::no, "16MiB",
     "Size at which the dead-letter file is renamed to <file>.1 and a new one begun.", 4096,
     1024.0 * 1024 * 1024},
};

struct BaudRate {
  long rate;
  speed_t speed;
};

constexpr BaudRate kBaudRates[] = {
    {50, B50},           {75, B75},           {110, B110},         {134, B134},         {150, B150},
    {200, B200},         {300, B300},         {600, B600},         {1200, B1200},       {1800, B1800},
    {2400, B2400},       {4800, B4800},       {9600, B9600},       {19200, B19200},     {38400, B38400},
    {57600, B57600},     {115200, B115200},   {230400, B230400},
#ifdef B460800
    {460800, B460800},
#endif
#ifdef B500000
    {500000, B500000},   {576000, B576000},   {921600, B921600},   {1000000, B1000000}, {1152000, B1152000},
    {1500000, B1500000}, {2000000, B2000000}, {2500000, B2500000}, {3000000, B3000000}, {3500000, B3500000},
    {4000000, B4000000},
#endif
};

std::string baud_list() {
  std::string out;
  for (const auto& b : kBaudRates) out += (out.empty() ? "" : ", ") + std::to_string(b.rate);
  return out;
}

/// Everything the reader needs, checked and typed at setup.
struct SerialConfig {
  std::string device;
  long baud = 9600;
  speed_t speed = B9600;
  int data_bits = 8;
  char parity = 'N';  // N, E, O
  int stop_bits = 1;
  char delimiter = '\n';
  bool strip_cr = true;  // drop one CR before the delimiter
  bool rtscts = false;
  std::size_t max_line = 4096;
  Nanos reopen_interval = runtime::kNanosPerSecond;
  bool decodes_in_place = false;  // csv unescapes cells in the line's buffer
  std::string dead_letter;        // empty: none
  std::int64_t dead_letter_max = 16 << 20;
};

/// One serial device read on its own thread; see kSerialPlugin.
class SerialSource final : public runtime::Source {
 public:
  SerialSource(const runtime::SourceSetup& setup, SerialConfig config, LineDecoder decoder,
               std::vector<runtime::FieldId> field_ids)
      : config_(std::move(config)),
        decoder_(std::move(decoder)),
        field_ids_(std::move(field_ids)),
        source_name_(setup.name),
        index_(setup.index),
        keys_(setup.keys),
        fields_table_(setup.fields),
        clock_(setup.clock ? setup.clock : &wall_clock_),
        max_future_(setup.mapping.time.max_future),
        line_(config_.max_line),
        original_(config_.dead_letter.empty() || !config_.decodes_in_place ? 0 : config_.max_line),
        batch_(std::max<std::size_t>(kBatchEvents, 2 * (field_ids_.size() + LineDecoder::kMaxDiscoveredFields))) {
    field_ids_.reserve(field_ids_.size() + LineDecoder::kMaxDiscoveredFields);
  }

  ~SerialSource() override { stop(); }

  runtime::Result<void> start(runtime::IngestQueue& queue) override {
    if (queue.policy() == runtime::OverflowPolicy::block)
      return runtime::Error{"serial " + config_.device +
                            ": the queue policy is block, but a serial reader must never wait (the tty buffer "
                            "would overflow uncounted); use overflow: drop_newest or drop_oldest"};
    if (!config_.dead_letter.empty() && !dead_letter_) {
      auto opened = DeadLetterFile::open(config_.dead_letter, config_.dead_letter_max);
      if (!opened) return runtime::Error{"serial " + config_.device + ": " + opened.error().message};
      dead_letter_ = std::move(opened.value());
    }
    queue_ = &queue;
    return reader_.start("serial " + config_.device, [this] { run(); });
  }

  void stop() noexcept override {
    reader_.stop();
    close_device();
  }

  const runtime::SourceCounters& counters() const noexcept override { return counters_; }

 private:
  static constexpr std::size_t kBatchEvents = 1024;
  static constexpr std::size_t kReadBytes = 4096;
  // Bounds how long stop() waits for the reader (poll timeout).
  static constexpr int kPollMillis = 50;

  void run() noexcept {
    bool down_reported = false;
    while (!reader_.requested()) {
      if (fd_ < 0) {
        const int err = open_device();
        if (err != 0) {
          if (!down_reported) {
            log("cannot open (%s); retrying every %s", std::strerror(err), interval_text());
            down_reported = true;
          }
          if (reader_.sleep_for(std::chrono::nanoseconds(config_.reopen_interval))) break;
          continue;
        }
        down_reported = false;
        log("open (%ld baud, %d%c%d%s)", config_.baud, config_.data_bits, config_.parity, config_.stop_bits,
            config_.rtscts ? ", rtscts" : "");
      }
      pollfd pfd{fd_, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, kPollMillis);
      if (ready < 0) {
        if (errno == EINTR) continue;
        lose(std::strerror(errno));
      } else if (ready == 0) {
        continue;
      } else if (pfd.revents & POLLIN) {
        const ssize_t n = ::read(fd_, read_buf_.data(), read_buf_.size());
        if (n > 0) {
          counters_.bytes.add(static_cast<std::uint64_t>(n));
          feed(read_buf_.data(), static_cast<std::size_t>(n));
          flush();
        } else if (n == 0) {
          lose("end of file");
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          lose(std::strerror(errno));
        }
      } else if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) {
        lose(pfd.revents & POLLHUP ? "hang-up" : "device error");
      }
      if (fd_ < 0) {
        down_reported = true;  // lose() said so already; stay quiet until it is back
        if (reader_.sleep_for(std::chrono::nanoseconds(config_.reopen_interval))) break;
      }
    }
    flush();
  }

  // 0 on success, else errno. Termios settings apply when the device is a terminal, so a FIFO
  // can stand in for a port.
  int open_device() noexcept {
    const int fd = ::open(config_.device.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return errno;
    if (::isatty(fd)) {
      termios tio{};
      if (::tcgetattr(fd, &tio) != 0) {
        const int err = errno;
        ::close(fd);
        return err;
      }
      ::cfmakeraw(&tio);
      ::cfsetispeed(&tio, config_.speed);
      ::cfsetospeed(&tio, config_.speed);
      tio.c_cflag &= ~static_cast<tcflag_t>(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
      switch (config_.data_bits) {
        case 5: tio.c_cflag |= CS5; break;
        case 6: tio.c_cflag |= CS6; break;
        case 7: tio.c_cflag |= CS7; break;
        default: tio.c_cflag |= CS8; break;
      }
      if (config_.parity != 'N') tio.c_cflag |= PARENB;
      if (config_.parity == 'O') tio.c_cflag |= PARODD;
      if (config_.stop_bits == 2) tio.c_cflag |= CSTOPB;
      if (config_.rtscts) tio.c_cflag |= CRTSCTS;
      tio.c_cflag |= CLOCAL | CREAD;
      tio.c_cc[VMIN] = 0;
      tio.c_cc[VTIME] = 0;
      if (::tcsetattr(fd, TCSANOW, &tio) != 0) {
        const int err = errno;
        ::close(fd);
        return err;
      }
    }
    fd_ = fd;
    return 0;
  }

  void close_device() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // The device is gone (unplugged, hung up): a line cut off is counted, and the reader retries.
  void lose(const char* why) noexcept {
    close_device();
    if (line_len_ > 0 || line_too_long_) malformed(line_view(line_len_), "the device was lost in the middle of a line");
    line_len_ = 0;
    line_too_long_ = false;
    flush();
    log("lost (%s); reopening every %s", why, interval_text());
  }

  // Splits bytes into lines; a line longer than max_line is skipped up to its delimiter (its first
  // max_line bytes stay in line_ for the dead-letter file).
  void feed(const char* p, std::size_t n) noexcept {
    const char* end = p + n;
    while (p < end) {
      const auto* delim = static_cast<const char*>(std::memchr(p, config_.delimiter, static_cast<std::size_t>(end - p)));
      const char* stop = delim ? delim : end;
      const auto len = static_cast<std::size_t>(stop - p);
      if (!line_too_long_) {
        const std::size_t fits = std::min(len, line_.size() - line_len_);
        std::memcpy(line_.data() + line_len_, p, fits);
        line_len_ += fits;
        if (fits < len) line_too_long_ = true;
      }
      if (!delim) break;
      end_line();
      p = delim + 1;
    }
  }

  void end_line() noexcept {
    if (line_too_long_) {
      line_too_long_ = false;
      malformed(line_view(line_len_), "a line is longer than max_line (%zu bytes)", line_.size());
      line_len_ = 0;
      return;
    }
    std::size_t len = line_len_;
    line_len_ = 0;
    if (config_.strip_cr && len > 0 && line_[len - 1] == '\r') --len;
    process_line(line_.data(), line_.data() + len);
  }

  std::string_view line_view(std::size_t len) const noexcept { return {line_.data(), len}; }

  void process_line(char* begin, char* end) noexcept {
    const auto len = static_cast<std::size_t>(end - begin);
    // CSV unescapes in place; a dead letter must show the line as the device sent it.
    if (!original_.empty()) std::memcpy(original_.data(), begin, len);
    switch (decoder_.decode(begin, end, record_)) {
      case LineStatus::blank: return;
      case LineStatus::malformed: {
        const std::string_view why = decoder_.reason();
        malformed(original_.empty() ? std::string_view(begin, len) : std::string_view(original_.data(), len), "%.*s",
                  static_cast<int>(why.size()), why.data());
        return;
      }
      case LineStatus::record: break;
    }
    if (record_.present == 0) return;
    const Nanos now = clock_->now();
    const Nanos time = record_.has_time ? record_.time : now;
    if (max_future_ > 0 && time > now + max_future_) {
      counters_.future.add();
      return;
    }
    const std::string_view key = record_.key.empty() ? std::string_view(source_name_) : record_.key;
    const auto id = keys_->intern(key);
    if (!id) {
      counters_.unknown_key.add();
      return;
    }
    if (batch_size_ + record_.present > batch_.size()) flush();
    const std::size_t n =
        append_decoded_record(decoder_, *fields_table_, field_ids_, *id, time, index_, batch_.data() + batch_size_);
    batch_size_ += n;
    if (n > 0) counters_.records.add();
  }

  // Never waits: the queue applies its drop policy and counts what it refuses.
  void flush() noexcept {
    if (batch_size_ == 0 || queue_ == nullptr) return;
    queue_->push(std::span<const runtime::Event>(batch_.data(), batch_size_));
    batch_size_ = 0;
  }

  // Counts one malformed line (`line`: its bytes, without the delimiter); the first is logged, and
  // with a dead-letter file every one is kept there. Runs on the reader thread.
  __attribute__((format(printf, 3, 4))) void malformed(std::string_view line, const char* format, ...) noexcept {
    counters_.malformed.add();
    if (reported_malformed_ && !dead_letter_) return;
    char reason[256];
    va_list args;
    va_start(args, format);
    std::vsnprintf(reason, sizeof reason, format, args);
    va_end(args);
    if (dead_letter_) {
      const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(line.data()), line.size());
      if (dead_letter_->write(clock_->now(), source_name_, config_.device, reason, bytes)) {
        counters_.dead_letters.add();
      } else if (!reported_dead_letter_error_) {
        reported_dead_letter_error_ = true;
        log("cannot write the dead-letter file %s (%s); malformed lines are only counted",
            dead_letter_->path().c_str(), std::strerror(errno));
      }
    }
    if (reported_malformed_) return;
    reported_malformed_ = true;
    std::fprintf(stderr, "vigil: serial %s: malformed line: %s; further malformed lines are counted\n",
                 config_.device.c_str(), reason);
  }

  __attribute__((format(printf, 2, 3))) void log(const char* format, ...) noexcept {
    char text[256];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    std::fprintf(stderr, "vigil: serial %s: %s\n", config_.device.c_str(), text);
  }

  const char* interval_text() noexcept {
    if (interval_text_[0] == '\0') {
      const Nanos d = config_.reopen_interval;
      if (d % runtime::kNanosPerSecond == 0)
        std::snprintf(interval_text_, sizeof interval_text_, "%llds", static_cast<long long>(d / runtime::kNanosPerSecond));
      else
        std::snprintf(interval_text_, sizeof interval_text_, "%lldms", static_cast<long long>(d / runtime::kNanosPerMilli));
    }
    return interval_text_;
  }

  SerialConfig config_;
  LineDecoder decoder_;
  std::vector<runtime::FieldId> field_ids_;  // parallel to the decoder's fields
  std::string source_name_;
  runtime::SourceIndex index_;
  runtime::KeyTable* keys_;
  runtime::FieldTable* fields_table_;
  runtime::WallClock wall_clock_;
  const runtime::Clock* clock_;
  Nanos max_future_;
  std::vector<char> line_;      // max_line bytes
  std::vector<char> original_;  // csv with dead letters: the line before decoding; else empty
  std::size_t line_len_ = 0;
  bool line_too_long_ = false;
  std::array<char, kReadBytes> read_buf_{};
  std::vector<runtime::Event> batch_;
  std::size_t batch_size_ = 0;
  DecodedLine record_;
  runtime::IngestQueue* queue_ = nullptr;
  runtime::SourceCounters counters_;
  int fd_ = -1;
  bool reported_malformed_ = false;
  std::unique_ptr<DeadLetterFile> dead_letter_;
  bool reported_dead_letter_error_ = false;
  char interval_text_[32] = {};
  SourceThread reader_;  ///< declared last: it stops before the members its thread uses go
};

// "\n" as YAML gives it (a real newline) or as typed (backslash n), "\r\n", "\r", "\t", one char.
bool parse_delimiter(const std::string& text, SerialConfig& config) {
  if (text == "\n" || text == "\\n" || text == "\r\n" || text == "\\r\\n") {
    config.delimiter = '\n';
    config.strip_cr = true;
    return true;
  }
  config.strip_cr = false;
  if (text == "\\r") config.delimiter = '\r';
  else if (text == "\\t") config.delimiter = '\t';
  else if (text == "\\0") config.delimiter = '\0';
  else if (text.size() == 1) config.delimiter = text[0];
  else return false;
  return true;
}

// Expects setup.block validated against kSerialKeys and the generic source keys (the engine
// does that first); reports what the table cannot express into setup.diag.
std::unique_ptr<runtime::Source> make_serial(const runtime::SourceSetup& setup) {
  runtime::Diagnostics fallback;
  runtime::Diagnostics& diag = setup.diag ? *setup.diag : fallback;
  const runtime::Block& block = setup.block;
  bool ok = true;
  auto fail = [&](std::string_view key, std::string_view message) {
    report_source_key(setup, key, message);
    ok = false;
  };

  if (const runtime::ConfigNode* self = block.self()) {
    if (const runtime::ConfigNode* overflow = self->find("overflow");
        overflow && overflow->is_scalar() && overflow->scalar == "block")
      fail("overflow",
           "a serial source cannot wait for the pipeline (the tty would overflow uncounted); use "
           "overflow: drop_newest (the default) or drop_oldest");
  }

  SerialConfig config;
  config.device = block.has("device") ? block.string("device") : setup.board.serial;
  if (config.device.empty())
    fail("device", "no device; name the serial port, e.g. device: /dev/ttyUSB0, or include a board profile "
                   "that sets board.serial");

  config.baud = static_cast<long>(block.integer("baud"));
  const auto* rate = std::find_if(std::begin(kBaudRates), std::end(kBaudRates),
                                  [&](const BaudRate& b) { return b.rate == config.baud; });
  if (rate == std::end(kBaudRates))
    fail("baud", std::to_string(config.baud) + " is not a standard rate; use one of: " + baud_list());
  else
    config.speed = rate->speed;

  config.data_bits = static_cast<int>(std::clamp<std::int64_t>(block.integer("data_bits"), 5, 8));
  const std::string parity = block.string("parity");
  config.parity = parity == "even" ? 'E' : parity == "odd" ? 'O' : 'N';
  config.stop_bits = block.integer("stop_bits") == 2 ? 2 : 1;
  config.rtscts = block.string("flow_control") == "rtscts";
  config.max_line = static_cast<std::size_t>(std::max<std::int64_t>(16, block.size("max_line")));
  config.reopen_interval = std::max<Nanos>(runtime::kNanosPerMilli, block.duration("reopen_interval"));
  const std::string delimiter = block.string("delimiter");
  if (!parse_delimiter(delimiter, config))
    fail("delimiter", "\"" + delimiter + "\" is not a line delimiter; use \\n, \\r\\n, \\r or one character");

  const std::string format = block.string("format");
  config.decodes_in_place = format == "csv";
  if (block.has("dead_letter")) {
    config.dead_letter = config_relative_path(setup.config_dir, block.string("dead_letter"));
    if (config.dead_letter.empty()) fail("dead_letter", "the dead-letter path is empty; name a file or leave the key out");
  }
  config.dead_letter_max = block.size("dead_letter_max");
  if (!ok) return nullptr;
  auto decoder = make_source_decoder(
      setup, format == "csv" ? LineFormat::csv : format == "json" ? LineFormat::json : LineFormat::kv,
      setup.mapping.key);
  if (!decoder) return nullptr;
  if (setup.keys == nullptr || setup.fields == nullptr) {
    diag.error(runtime::Mark{}, setup.path, "internal error: the serial source has no key or field table");
    return nullptr;
  }
  std::vector<runtime::FieldId> field_ids;
  for (std::size_t i = 0; i < decoder->field_count(); ++i) {
    const runtime::FieldId id = setup.fields->intern(decoder->field_name(i));
    if (id == runtime::kNoField) {
      fail("fields", "cannot add field \"" + decoder->field_name(i) + "\": the field table is full");
      return nullptr;
    }
    field_ids.push_back(id);
  }
  return std::make_unique<SerialSource>(setup, std::move(config), std::move(decoder.value()), std::move(field_ids));
}

constexpr runtime::SourcePlugin kSerialPlugin{
    "serial",
    "Text lines (csv, json, name=value) from a serial port; reopens the device when it comes back.",
    kSerialKeys,
    &make_serial,
    runtime::OverflowPolicy::drop_newest,
};

}  // namespace

const runtime::SourcePlugin& serial_plugin() { return kSerialPlugin; }

}  // namespace vigil::sensors
