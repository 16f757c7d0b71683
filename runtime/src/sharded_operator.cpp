#include "vigil/runtime/sharded_operator.hpp"

#include <algorithm>
#include <cstring>

namespace vigil::runtime {
namespace {

constexpr std::uint32_t kSnapshotMagic = 0x56534831;  // "VSH1"
constexpr int kSpins = 4000;  // ~10-20 us of polling before sleeping on a futex

// Record starts a worker has been given so far: each is counted once, as processed, stale or
// over capacity.
std::uint64_t started(const Operator& op) noexcept {
  const auto& c = op.counters();
  return c.records.get() + c.stale.get() + c.key_overflow.get();
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

template <class T>
void wait_while_equal(const std::atomic<T>& a, T value) noexcept {
  for (int i = 0; i < kSpins; ++i) {
    if (a.load(std::memory_order_acquire) != value) return;
    cpu_relax();
  }
  while (a.load(std::memory_order_acquire) == value) a.wait(value, std::memory_order_acquire);
}

}  // namespace

// Copies what one worker emits during a part, tagged with the batch position that caused it.
class ShardedOperator::Collector final : public SummarySink {
 public:
  Collector(const Operator* op, const SummarySchema* schema, std::size_t capacity, std::size_t columns)
      : op_(op), schema_(schema) {
    held.reserve(capacity);
    values.reserve(capacity * std::max<std::size_t>(columns, 1));
  }

  void emit(const Summary& s) noexcept override {
    Held h;
    h.summary = s;
    h.summary.schema = schema_;
    h.values_at = values.size();
    h.control = control;
    h.cause = control ? control_pos : record_position();
    // Beyond the reserve (a burst of firings) these grow once; the next parts reuse it.
    values.insert(values.end(), s.values.begin(), s.values.end());
    held.push_back(h);
  }

  // Starts a call over a run of this worker's records; `begins` holds their batch positions.
  void begin_records(const std::uint32_t* begins, std::size_t count) noexcept {
    control = false;
    begins_ = begins;
    count_ = count;
    count_at_start_ = started(*op_);
  }

  void begin_control(std::size_t at) noexcept {
    control = true;
    control_pos = static_cast<std::uint32_t>(at);
  }

  void clear() noexcept {
    held.clear();
    values.clear();
  }

  std::vector<Held> held;
  std::vector<double> values;
  bool control = false;
  std::uint32_t control_pos = 0;

 private:
  // The batch position of the r-th record of the run, r being the record starts the operator
  // has counted since the run began (the summary belongs to the record being processed).
  std::uint32_t record_position() const noexcept {
    const std::uint64_t r = started(*op_) - count_at_start_;
    if (count_ == 0) return 0;
    return begins_[std::clamp<std::uint64_t>(r, 1, count_) - 1];
  }

  const Operator* op_;
  const SummarySchema* schema_;
  const std::uint32_t* begins_ = nullptr;
  std::size_t count_ = 0;
  std::uint64_t count_at_start_ = 0;
};

struct ShardedOperator::Worker {
  Operator* op = nullptr;
  std::uint32_t shard = 0;
  std::unique_ptr<Collector> sink;
  std::vector<Event> events;          // this worker's records and every control event of a part
  std::vector<std::uint32_t> pos;     // batch position of each of them
  std::vector<std::uint32_t> begins;  // batch positions of its record starts, in order
  std::size_t next = 0;               // merge cursor into sink->held
};

ShardedOperator::ShardedOperator(std::vector<std::unique_ptr<Operator>> shards) : shards_(std::move(shards)) {
  const std::size_t columns = shards_[0]->schema().columns.size();
  const auto n = static_cast<std::uint32_t>(shards_.size());
  for (std::uint32_t i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->op = shards_[i].get();
    w->shard = i;
    w->sink = std::make_unique<Collector>(shards_[i].get(), &shards_[0]->schema(), 4096, columns);
    workers_.push_back(std::move(w));
  }
  start_threads();
}

ShardedOperator::~ShardedOperator() {
  quit_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& t : threads_) t.join();
}

void ShardedOperator::start_threads() {
  if (!threads_.empty()) return;
  for (std::size_t i = 1; i < workers_.size(); ++i) {
    threads_.emplace_back([this, i] {
      std::uint64_t seen = 0;
      while (true) {
        wait_while_equal(generation_, seen);
        seen = generation_.load(std::memory_order_acquire);
        if (quit_.load(std::memory_order_acquire)) return;
        work(*workers_[i]);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
      }
    });
  }
}

// Each worker picks its own records out of the whole part (and every control event) into its
// buffer, in parallel with the others, then feeds its operator one call per run of records and
// one per control event. (Letting each operator pass over the other workers' records costs
// more than the copy: a few ns per record against one.)
void ShardedOperator::work(Worker& w) noexcept {
  Collector& sink = *w.sink;
  if (job_ == Job::flush) {
    sink.begin_control(0);
    w.op->flush(flush_mode_, sink);
    return;
  }
  const std::size_t shards = workers_.size();
  const bool pow2 = (shards & (shards - 1)) == 0;
  w.events.clear();
  w.pos.clear();
  w.begins.clear();
  bool mine = false;
  for (std::uint32_t p = 0; p < part_.size(); ++p) {
    const Event& e = part_[p];
    if (e.kind != EventKind::sample) {
      w.events.push_back(e);
      w.pos.push_back(p);
      continue;
    }
    if (e.flags & kRecordBegin) {
      mine = (pow2 ? (e.key.index & (shards - 1)) : (e.key.index % shards)) == w.shard;
      if (mine) w.begins.push_back(p);
    }
    if (!mine) continue;
    w.events.push_back(e);
    w.pos.push_back(p);
  }
  const Event* ev = w.events.data();
  const std::size_t n = w.events.size();
  std::size_t i = 0, b = 0;
  while (i < n) {
    if (ev[i].kind != EventKind::sample) {
      sink.begin_control(w.pos[i]);
      w.op->process({ev + i, 1}, sink);
      ++i;
      continue;
    }
    std::size_t j = i, starts = 0;
    while (j < n && ev[j].kind == EventKind::sample) {
      if (ev[j].flags & kRecordBegin) ++starts;
      ++j;
    }
    sink.begin_records(w.begins.data() + b, starts);
    w.op->process({ev + i, j - i}, sink);
    b += starts;
    i = j;
  }
}

void ShardedOperator::process(std::span<const Event> events, SummarySink& out) noexcept {
  if (events.empty()) return;
  part_ = events;
  run(Job::process);
  merge_into(out);
  sum_counters();
}

void ShardedOperator::run(Job job) noexcept {
  job_ = job;
  const auto n = static_cast<std::uint32_t>(workers_.size());
  pending_.store(n - 1, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  work(*workers_[0]);
  for (std::uint32_t left; (left = pending_.load(std::memory_order_acquire)) != 0;) wait_while_equal(pending_, left);
}

void ShardedOperator::merge_into(SummarySink& out) noexcept {
  for (auto& w : workers_) w->next = 0;
  while (true) {
    Worker* best = nullptr;
    const Held* bh = nullptr;
    for (auto& w : workers_) {
      if (w->next >= w->sink->held.size()) continue;
      const Held& h = w->sink->held[w->next];
      bool better = !bh;
      if (bh) {
        if (h.cause != bh->cause) {
          better = h.cause < bh->cause;
        } else if (h.control && bh->control) {
          // Several workers fired at one control event: (window end, key first seen).
          better = h.summary.end != bh->summary.end ? h.summary.end < bh->summary.end
                                                    : h.summary.key_rank < bh->summary.key_rank;
        }
      }
      if (better) {
        best = w.get();
        bh = &h;
      }
    }
    if (!best) break;
    Held& h = best->sink->held[best->next++];
    h.summary.values = std::span<const double>(best->sink->values.data() + h.values_at, h.summary.values.size());
    out.emit(h.summary);
  }
  for (auto& w : workers_) w->sink->clear();
}

void ShardedOperator::flush(FlushMode mode, SummarySink& out) noexcept {
  flush_mode_ = mode;
  run(Job::flush);
  merge_into(out);
  sum_counters();
}

void ShardedOperator::evict(KeyId key, SummarySink& out) noexcept {
  shards_[key.index % shards_.size()]->evict(key, out);
  sum_counters();
}

void ShardedOperator::sum_counters() noexcept {
  auto total = [this](Counter PipelineCounters::*c) {
    std::uint64_t sum = 0;
    for (const auto& s : shards_) sum += (s->counters().*c).get();
    (counters_.*c).set(sum);
  };
  total(&PipelineCounters::records);
  total(&PipelineCounters::late);
  total(&PipelineCounters::late_emitted);
  total(&PipelineCounters::windows);
  total(&PipelineCounters::partial);
  total(&PipelineCounters::key_overflow);
  total(&PipelineCounters::evicted_keys);
  total(&PipelineCounters::stale);
  total(&PipelineCounters::incomplete);
  total(&PipelineCounters::truncated);
}

std::size_t ShardedOperator::state_bytes() const noexcept {
  std::size_t sum = 0;
  for (const auto& s : shards_) sum += s->state_bytes();
  return sum;
}

void ShardedOperator::snapshot(std::vector<std::byte>& out) const {
  auto put = [&out](std::uint64_t v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof v);
  };
  put(kSnapshotMagic);
  put(shards_.size());
  std::vector<std::byte> part;
  for (const auto& s : shards_) {
    part.clear();
    s->snapshot(part);
    put(part.size());
    out.insert(out.end(), part.begin(), part.end());
  }
}

Result<void> ShardedOperator::restore(std::span<const std::byte> in) {
  auto get = [&in](std::uint64_t& v) {
    if (in.size() < sizeof v) return false;
    std::memcpy(&v, in.data(), sizeof v);
    in = in.subspan(sizeof v);
    return true;
  };
  std::uint64_t magic = 0, count = 0;
  if (!get(magic) || magic != kSnapshotMagic || !get(count) || count != shards_.size())
    return Error{"window state was saved with a different number of workers"};
  for (auto& s : shards_) {
    std::uint64_t size = 0;
    if (!get(size) || size > in.size()) return Error{"window state is truncated"};
    if (auto r = s->restore(in.first(size)); !r) return r;
    in = in.subspan(size);
  }
  sum_counters();
  return ok();
}

}  // namespace vigil::runtime
