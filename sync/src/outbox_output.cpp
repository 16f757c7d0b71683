// The `outbox` output. emit() runs on the pipeline thread and only copies the summary into a
// byte ring allocated in start(); a writer thread takes the queued summaries in batches and
// stores each batch in one SQLite transaction. The pipeline never waits for the disk: when
// the ring is full the new summary is dropped and counted.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <thread>
#include <vector>

#include "commit_signal.hpp"
#include "outputs.hpp"
#include "summary_ring.hpp"
#include "topic_template.hpp"
#include "vigil/sync/outbox.hpp"

namespace vigil::sync {
namespace {

using runtime::ConfigKey;
using runtime::KeyType;
using runtime::Nanos;
using runtime::Required;
using runtime::Result;

constexpr std::string_view kDurabilities[] = {"normal", "full"};

constexpr ConfigKey kOutboxKeys[] = {
    {"path", KeyType::string, Required::yes, {},
     "SQLite file of the outbox, relative to the config file's folder; missing folders are created."},
    {"durability", KeyType::choice, Required::no, "normal",
     "normal: a power loss may undo the last commits but never corrupts; full: every commit is "
     "synced to disk (more SD-card wear).",
     runtime::kNoMin, runtime::kNoMax, kDurabilities},
    {"batch", KeyType::integer, Required::no, "512", "Most summaries written per transaction.", 1, 100'000},
    {"queue_depth", KeyType::integer, Required::no, {},
     "Summaries held in memory for the writer thread; when full, new summaries are dropped and counted. "
     "Default: limits.outbox_queue_depth (16384).",
     16, 10'000'000},
    {"topic", KeyType::string, Required::no, "vigil/{gateway}/{pipeline}/{key}",
     "Topic stored with each summary; {gateway}, {pipeline} and {key} are replaced."},
    {"max_bytes", KeyType::size, Required::no, {},
     "Bound on the database's pages in use; beyond it the oldest rows are evicted (local, then "
     "routine, then alerts), counted, and a gap record says which seqs went. Default: "
     "limits.outbox_bytes (1GiB).",
     64 * 1024},
    {"max_age", KeyType::duration, Required::no, "0s",
     "Rows older than this (monotonic outbox clock: NTP steps do not count) are evicted with a gap "
     "record, whatever their priority; 0: never."},
    {"checkpoint_interval", KeyType::duration, Required::no, "10s",
     "How often the open window state is saved into this file, in the same transaction as the summaries "
     "emitted before it; restored at start, so a crash loses at most this much. With checkpoints, SIGTERM "
     "saves open windows instead of flushing them. 0: no checkpoints (SIGTERM flushes, marked partial)."},
    {"keep_all", KeyType::boolean, Required::no, "false",
     "Also store the summaries a pipeline's forward policy kept local, as priority -1 rows: never "
     "published, evicted first; for inspection with vigil outbox."},
};

// Ring memory per summary of queue_depth. A typical summary (topic, names and a JSON object
// of a dozen numbers) takes 250-400 bytes; bigger ones use more room, so fewer fit.
constexpr std::size_t kRingBytesPerSummary = 512;
// Shortest checkpoint_interval accepted (a snapshot of every pipeline each time).
constexpr Nanos kMinCheckpointInterval = 100 * runtime::kNanosPerMilli;
// Floor of the ring size, so a summary with many columns still fits a small queue.
constexpr std::size_t kMinRingBytes = 64 * 1024;
constexpr std::size_t kJsonReserve = 4096;
constexpr std::size_t kTopicReserve = 512;

// How long the writer lets summaries gather before committing a batch that is not full:
// fewer, larger transactions spare the SD card; a full batch wakes the writer at once.
constexpr std::chrono::milliseconds kLinger{200};
constexpr std::chrono::milliseconds kMinBackoff{50};
constexpr std::chrono::milliseconds kMaxBackoff{5000};
constexpr std::chrono::milliseconds kStopBackoff{200};
// stop() keeps retrying a failing disk this long before it gives up on what is queued.
constexpr std::chrono::seconds kStopRetry{10};
// The queue counts as recovered once no summary was dropped for this long.
constexpr std::chrono::seconds kQuietAfterDrops{5};
// With max_age, an idle writer still expires old rows this often.
constexpr std::chrono::seconds kExpiryInterval{1};
// Eviction counts as over once the outbox uses less than this share of max_bytes (the upstream
// caught up) and no row expired since.
constexpr std::uint64_t kRoomAgainPercent = 50;

std::int64_t floor_ms(Nanos t) noexcept {
  std::int64_t q = t / runtime::kNanosPerMilli;
  return t % runtime::kNanosPerMilli < 0 ? q - 1 : q;
}

/// What the factory decided from the config.
struct OutboxSettings {
  std::string shown_path;     // as written in the config, for stats
  std::string resolved_path;  // what is opened
  std::string gateway;
  bool durability_full = false;
  std::size_t batch = 512;
  std::size_t queue_depth = 16384;
  std::vector<TopicPart> topic;
  bool keep_all = false;
  std::int64_t max_bytes = 0;
  Nanos max_age = 0;
  Nanos checkpoint_interval = 0;
};

class OutboxOutput final : public runtime::Output {
 public:
  explicit OutboxOutput(OutboxSettings settings) : settings_(std::move(settings)) {}
  ~OutboxOutput() override { stop(); }
  OutboxOutput(const OutboxOutput&) = delete;
  OutboxOutput& operator=(const OutboxOutput&) = delete;

  Result<void> start() override {
    if (started_) return runtime::Error{"outbox " + settings_.shown_path + ": started twice"};
    auto opened = Outbox::open(settings_.resolved_path,
                               OutboxOptions{.gateway = settings_.gateway,
                                             .durability_full = settings_.durability_full,
                                             .max_bytes = settings_.max_bytes,
                                             .max_age = settings_.max_age,
                                             .writer = true});
    if (!opened) return std::move(opened).error();
    outbox_ = std::move(opened.value());
    if (const SeqRange skipped = outbox_->skipped_after_power_loss(); skipped.count > 0)
      std::fprintf(stderr,
                   "vigil: outbox %s: the last run did not close it and the machine has restarted since (a power "
                   "cut?): with durability normal its last commits may be lost after being published, so seqs "
                   "%lld..%lld are skipped (a gap record says so) and none is ever reused\n",
                   settings_.shown_path.c_str(), static_cast<long long>(skipped.first),
                   static_cast<long long>(skipped.last()));
    if (settings_.checkpoint_interval > 0) {
      auto saved = outbox_->saved_state();
      if (!saved) {
        outbox_.reset();
        return std::move(saved).error();
      }
      saved_ = std::move(saved.value());
    }
    commits_ = CommitSignal::of(settings_.resolved_path);
    const std::size_t ring_bytes =
        std::max(kMinRingBytes, settings_.queue_depth * kRingBytesPerSummary);
    try {
      ring_.allocate(ring_bytes, settings_.queue_depth);
      json_.reserve(kJsonReserve);
      topic_.reserve(kTopicReserve);
      rows_.reserve(settings_.batch);
    } catch (const std::bad_alloc&) {
      outbox_.reset();
      return runtime::Error{"outbox " + settings_.shown_path + ": not enough memory for queue_depth " +
                            std::to_string(settings_.queue_depth) + " (" + std::to_string(ring_bytes) +
                            " bytes); lower queue_depth"};
    }
    {
      std::lock_guard lock(push_mutex_);
      accepting_ = true;
    }
    try {
      writer_ = std::thread(&OutboxOutput::write_loop, this);
    } catch (const std::exception& e) {
      std::lock_guard lock(push_mutex_);
      accepting_ = false;
      outbox_.reset();
      return runtime::Error{"outbox " + settings_.shown_path + ": cannot start the writer thread: " + e.what()};
    }
    started_ = true;
    return runtime::ok();
  }

  void stop() noexcept override {
    {
      std::lock_guard lock(push_mutex_);
      accepting_ = false;
    }
    {
      std::lock_guard lock(wake_mutex_);
      stopping_.store(true, std::memory_order_release);
    }
    wake_.notify_all();
    if (writer_.joinable()) writer_.join();
    outbox_.reset();
  }

  void emit(const runtime::Summary& summary) noexcept override {
    std::lock_guard lock(push_mutex_);
    if (!summary.forward && !settings_.keep_all) {
      held_.add();
      // Not stored, but emitted: its window mark keeps a restart from emitting it again.
      if (checkpointing_ && accepting_ && summary.schema) {
        RecordHeader header;
        header.end_ms = floor_ms(summary.end);
        header.priority = kMarkOnly;
        if (!ring_.try_push(header, {}, summary.schema->pipeline, summary.key_name, {})) dropped_.add();
      }
      return;
    }
    if (!accepting_) {
      dropped_.add();
      return;
    }
    const std::string_view pipeline =
        summary.schema ? std::string_view(summary.schema->pipeline) : std::string_view();
    try {
      json_.clear();
      runtime::append_json(summary, json_);
      expand_topic(settings_.topic, pipeline, summary.key_name, topic_);
    } catch (...) {
      dropped_.add();
      return;
    }
    RecordHeader header;
    header.start_ms = floor_ms(summary.start);
    header.end_ms = floor_ms(summary.end);
    header.created_ns = wall_.now();
    header.flags = summary.flags;
    header.priority = summary.forward ? static_cast<std::int8_t>(std::min<int>(summary.priority, INT8_MAX)) : -1;
    if (!ring_.try_push(header, topic_, pipeline, summary.key_name, json_)) {
      dropped_.add();
      return;
    }
    // A full batch is worth a transaction now; otherwise the writer's linger timeout picks
    // it up. Without the writer's lock a wake-up can be missed, costing at most kLinger.
    if (ring_.queued() == settings_.batch) wake_.notify_one();
  }

  runtime::Nanos checkpoint_interval() const noexcept override { return settings_.checkpoint_interval; }

  runtime::SavedState take_saved_state() override {
    std::lock_guard lock(push_mutex_);
    checkpointing_ = settings_.checkpoint_interval > 0;
    return std::exchange(saved_, runtime::SavedState{});
  }

  void save_checkpoint(runtime::Checkpoint&& checkpoint) noexcept override {
    {
      // Under the producers' lock: every summary emitted before this call is in the ring, below
      // the position the checkpoint waits for.
      std::lock_guard push(push_mutex_);
      if (!accepting_ || !checkpointing_) return;
      std::lock_guard lock(checkpoint_mutex_);
      if (pending_) checkpoints_replaced_.add();
      pending_ = std::move(checkpoint);
      pending_position_ = ring_.head();
    }
    wake_.notify_one();
  }

  std::string stats() const override {
    std::string out = "outbox " + settings_.shown_path + ": " + std::to_string(written_.get()) +
                      " rows written, " + std::to_string(dropped_.get()) + " dropped, " +
                      std::to_string(write_errors_.get()) + " write errors";
    if (checkpoints_.get() > 0)
      out += ", " + std::to_string(checkpoints_.get()) + " checkpoints (last " +
             std::to_string(checkpoint_bytes_.load(std::memory_order_relaxed)) + " bytes)";
    if (lost_.get() > 0) out += ", " + std::to_string(lost_.get()) + " not written at stop";
    if (evicted_.get() > 0) out += ", " + std::to_string(evicted_.get()) + " evicted";
    if (held_.get() > 0) out += ", " + std::to_string(held_.get()) + " not forwarded (not stored)";
    return out;
  }

 private:
  void log(const char* what, const char* detail) const noexcept {
    std::fprintf(stderr, "vigil: outbox %s: %s%s\n", settings_.shown_path.c_str(), what, detail);
  }

  // Waits up to `timeout`; returns early when `wake_early` holds (checked under the lock).
  template <class Predicate>
  void wait(std::chrono::milliseconds timeout, Predicate wake_early) noexcept {
    std::unique_lock lock(wake_mutex_);
    wake_.wait_for(lock, timeout, wake_early);
  }

  // Logs when drops start, and when none happened for kQuietAfterDrops, so a queue that
  // overflows on and off logs two lines, not one per writer pass.
  void report_drops(std::uint64_t& seen, bool& dropping,
                    std::chrono::steady_clock::time_point& last_drop) const noexcept {
    const std::uint64_t now_dropped = dropped_.get();
    const auto now = std::chrono::steady_clock::now();
    if (now_dropped != seen) {
      last_drop = now;
      if (!dropping)
        std::fprintf(stderr, "vigil: outbox %s: queue full (queue_depth %zu); dropping new summaries\n",
                     settings_.shown_path.c_str(), settings_.queue_depth);
      dropping = true;
    } else if (dropping && now - last_drop >= kQuietAfterDrops) {
      std::fprintf(stderr, "vigil: outbox %s: queue has room again; %llu summaries dropped so far\n",
                   settings_.shown_path.c_str(), static_cast<unsigned long long>(now_dropped));
      dropping = false;
    }
    seen = now_dropped;
  }

  // Logs when eviction starts (with its reason) and when the outbox has room again: under half
  // of max_bytes, nothing expired since. Not per pass: a long outage evicts every few batches.
  void report_evictions(const EvictionStats& before, bool& evicting) noexcept {
    const EvictionStats& now = outbox_->evictions();
    if (now.rows != before.rows) {
      evicted_.add(now.rows - before.rows);
      if (!evicting)
        std::fprintf(stderr,
                     "vigil: outbox %s: full (max_bytes %lld, max_age %llds); evicting the oldest summaries, "
                     "local and routine ones before alerts, with gap records\n",
                     settings_.shown_path.c_str(), static_cast<long long>(settings_.max_bytes),
                     static_cast<long long>(settings_.max_age / runtime::kNanosPerSecond));
      evicting = true;
      return;
    }
    if (!evicting) return;
    auto used = outbox_->used_bytes();
    if (used && (settings_.max_bytes <= 0 ||
                 *used * 100 < static_cast<std::uint64_t>(settings_.max_bytes) * kRoomAgainPercent)) {
      std::fprintf(stderr, "vigil: outbox %s: has room again; %llu summaries evicted so far\n",
                   settings_.shown_path.c_str(), static_cast<unsigned long long>(evicted_.get()));
      evicting = false;
    }
  }

  // The writer thread: one transaction per batch; on failure the batch stays queued and is
  // retried with backoff. Logs only when the state changes.
  void write_loop() noexcept {
    std::uint64_t position = ring_.tail();
    std::chrono::milliseconds backoff = kMinBackoff;
    bool failing = false;
    bool dropping = false;
    std::uint64_t seen_dropped = dropped_.get();
    std::chrono::steady_clock::time_point last_drop{};
    std::chrono::steady_clock::time_point give_up_at{};
    bool evicting = false;
    auto next_expiry = std::chrono::steady_clock::now() + kExpiryInterval;
    const auto batch_ready = [this] {
      return stopping_.load(std::memory_order_acquire) || ring_.queued() >= settings_.batch || checkpoint_waiting();
    };
    // The checkpoint being written: it goes into the transaction that stores the last row
    // emitted before it (or alone, when those rows are already stored), and is retried with
    // them on failure.
    std::optional<runtime::Checkpoint> checkpoint;
    std::uint64_t checkpoint_position = 0;
    for (;;) {
      // Read before collecting: once stop() set it, no producer adds anything, so an empty
      // collection below means everything was written.
      const bool stopping = stopping_.load(std::memory_order_acquire);
      report_drops(seen_dropped, dropping, last_drop);
      if (!checkpoint) {
        std::lock_guard lock(checkpoint_mutex_);
        if (pending_) {
          checkpoint = std::move(pending_);
          pending_.reset();
          checkpoint_position = pending_position_;
        }
      }
      const std::uint64_t limit = checkpoint ? checkpoint_position : UINT64_MAX;
      OutboxRow row;
      while (rows_.size() < settings_.batch && position < limit && ring_.read(position, row)) rows_.push_back(row);
      const bool with_checkpoint = checkpoint && position >= limit;
      if (rows_.empty() && !with_checkpoint) {
        if (stopping) break;
        if (settings_.max_age > 0 && !failing && std::chrono::steady_clock::now() >= next_expiry) {
          next_expiry = std::chrono::steady_clock::now() + kExpiryInterval;
          const EvictionStats before = outbox_->evictions();
          auto expired = outbox_->enforce_bounds();
          if (expired) {
            report_evictions(before, evicting);
            if (expired->rows > 0) commits_->notify();  // the gap record is for the publisher
          } else {
            write_errors_.add();
          }
        }
        wait(kLinger, batch_ready);
        continue;
      }
      const EvictionStats before = outbox_->evictions();
      auto appended = outbox_->append(rows_, with_checkpoint ? &*checkpoint : nullptr);
      if (appended) {
        report_evictions(before, evicting);
        ring_.release(position, rows_.size());
        written_.add(static_cast<std::uint64_t>(appended->count));
        if (with_checkpoint) {
          std::size_t bytes = 0;
          for (const auto& p : checkpoint->pipelines) bytes += p.state.size();
          checkpoint_bytes_.store(bytes, std::memory_order_relaxed);
          checkpoints_.add();
          checkpoint.reset();
        }
        commits_->notify();
        rows_.clear();
        backoff = kMinBackoff;
        if (failing) {
          log("writing again", "");
          failing = false;
        }
        if (!stopping && ring_.queued() < settings_.batch) wait(kLinger, batch_ready);
        continue;
      }
      write_errors_.add();
      if (!failing) {
        std::fprintf(stderr, "vigil: %s; retrying\n", appended.error().message.c_str());
        failing = true;
      }
      if (stopping) {
        const auto now = std::chrono::steady_clock::now();
        if (give_up_at == std::chrono::steady_clock::time_point{}) give_up_at = now + kStopRetry;
        if (now >= give_up_at) {
          const std::size_t left = ring_.queued();
          lost_.add(left);
          std::fprintf(stderr, "vigil: outbox %s: giving up; %zu summaries not written: %s\n",
                       settings_.shown_path.c_str(), left, appended.error().message.c_str());
          ring_.release(ring_.head(), left);
          rows_.clear();
          if (checkpoint) std::fprintf(stderr, "vigil: outbox %s: the last window-state checkpoint was not saved\n",
                                       settings_.shown_path.c_str());
          break;
        }
        wait(kStopBackoff, [] { return false; });
        continue;
      }
      // Wake early only when stop() is called, to start the final retries at once.
      wait(backoff, [this] { return stopping_.load(std::memory_order_acquire); });
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
  }

  OutboxSettings settings_;
  std::unique_ptr<Outbox> outbox_;  // used by the writer thread only, once started
  std::shared_ptr<CommitSignal> commits_;  // wakes an upstream publisher of the same file
  SummaryRing ring_;
  runtime::WallClock wall_;

  // Producer side: serializes emit() calls, in case several pipeline threads share the output.
  std::mutex push_mutex_;
  bool accepting_ = false;
  bool checkpointing_ = false;  // the engine took the saved state: it checkpoints into this output
  std::string json_;   // encoding scratch, reserved in start()
  std::string topic_;  // topic scratch, reserved in start()

  bool checkpoint_waiting() noexcept {
    std::lock_guard lock(checkpoint_mutex_);
    return pending_.has_value();
  }

  // Checkpoints: saved by the pipeline thread, taken by the writer.
  runtime::SavedState saved_;  // read in start(), taken once by the engine
  std::mutex checkpoint_mutex_;
  std::optional<runtime::Checkpoint> pending_;
  std::uint64_t pending_position_ = 0;  // ring head when it was saved
  runtime::Counter checkpoints_;            // writer thread
  runtime::Counter checkpoints_replaced_;   // pipeline thread: a newer one came before the writer took it
  std::atomic<std::size_t> checkpoint_bytes_{0};

  // Writer side.
  std::vector<OutboxRow> rows_;  // views into the ring; reserved to `batch` in start()
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  std::thread writer_;

  runtime::Counter written_;       // writer thread
  runtime::Counter write_errors_;  // writer thread
  runtime::Counter lost_;          // writer thread
  runtime::Counter dropped_;       // producers, under push_mutex_
  runtime::Counter evicted_;       // writer thread
  runtime::Counter held_;          // producers: not forwarded and not kept (keep_all off)
};

std::unique_ptr<runtime::Output> make_outbox(const runtime::OutputSetup& setup) {
  const runtime::Block& block = setup.block;
  OutboxSettings s;
  s.shown_path = block.string("path");
  if (s.shown_path.empty()) {
    report_key_error(setup, "path", "is empty; set it to a file such as var/outbox.db");
    return nullptr;
  }
  s.resolved_path = resolve_path(s.shown_path, setup.config_dir);
  s.gateway = setup.gateway;
  s.durability_full = block.string("durability") == "full";
  s.batch = static_cast<std::size_t>(block.integer("batch"));
  s.queue_depth = block.has("queue_depth") ? static_cast<std::size_t>(block.integer("queue_depth"))
                                           : setup.limits.outbox_queue_depth;
  auto topic = parse_topic(block.string("topic"), setup.gateway);
  if (!topic) {
    report_key_error(setup, "topic", topic.error().message);
    return nullptr;
  }
  s.topic = std::move(topic.value());
  s.keep_all = block.boolean("keep_all");
  s.max_bytes = block.has("max_bytes") ? block.size("max_bytes") : setup.limits.outbox_bytes;
  s.max_age = block.duration("max_age");
  s.checkpoint_interval = block.duration("checkpoint_interval");
  if (s.checkpoint_interval > 0 && s.checkpoint_interval < kMinCheckpointInterval) {
    report_key_error(setup, "checkpoint_interval", "must be 0 (no checkpoints) or at least 100ms");
    return nullptr;
  }
  return std::make_unique<OutboxOutput>(std::move(s));
}

constexpr runtime::OutputPlugin kOutboxPlugin{
    "outbox",
    "Stores the summaries the pipelines forward (all of them with keep_all) in the SQLite outbox (WAL) "
    "until they are sent upstream.",
    kOutboxKeys, &make_outbox};

}  // namespace

const runtime::OutputPlugin& outbox_output_plugin() noexcept { return kOutboxPlugin; }

}  // namespace vigil::sync
