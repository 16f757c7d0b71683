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
    if (control) {
      h.cause = control_pos;
    } else {
      const std::uint64_t r = started(*op_) - count_at_start;
      h.cause = (r == 0 || begins_n == 0) ? fallback_pos : begins[std::min<std::uint64_t>(r, begins_n) - 1];
    }
    // Beyond the reserve (a burst of firings) these grow once; the next parts reuse it.
    values.insert(values.end(), s.values.begin(), s.values.end());
    held.push_back(h);
  }

  void clear() noexcept {
    held.clear();
    values.clear();
  }

  std::vector<Held> held;
  std::vector<double> values;
  // What the current call is working on.
  bool control = false;
  std::uint32_t control_pos = 0;
  const std::uint32_t* begins = nullptr;
  std::size_t begins_n = 0;
  std::uint64_t count_at_start = 0;
  std::uint32_t fallback_pos = 0;

 private:
  const Operator* op_;
  const SummarySchema* schema_;
};

struct ShardedOperator::Worker {
  Operator* op = nullptr;
  std::vector<Event> events;
  std::vector<std::uint32_t> pos;     // batch position of each event
  std::vector<std::uint32_t> begins;  // batch positions of the record starts, in order
  std::unique_ptr<Collector> sink;
  std::size_t next = 0;               // merge cursor into sink->held
};

ShardedOperator::ShardedOperator(std::vector<std::unique_ptr<Operator>> shards, std::size_t batch_capacity)
    : shards_(std::move(shards)), capacity_(std::max<std::size_t>(batch_capacity, 16)) {
  const std::size_t columns = shards_[0]->schema().columns.size();
  for (auto& s : shards_) {
    auto w = std::make_unique<Worker>();
    w->op = s.get();
    w->events.reserve(capacity_);
    w->pos.reserve(capacity_);
    w->begins.reserve(capacity_);
    w->sink = std::make_unique<Collector>(s.get(), &shards_[0]->schema(), 4096, columns);
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

void ShardedOperator::work(Worker& w) noexcept {
  Collector& sink = *w.sink;
  if (job_ == Job::flush) {
    sink.control = true;
    sink.control_pos = 0;
    w.op->flush(flush_mode_, sink);
    return;
  }
  const std::size_t n = w.events.size();
  std::size_t i = 0, b = 0;
  while (i < n) {
    if (w.events[i].kind != EventKind::sample) {
      sink.control = true;
      sink.control_pos = w.pos[i];
      w.op->process({&w.events[i], 1}, sink);
      ++i;
      continue;
    }
    // A run of records: one call; each summary is traced back to its record by the counters.
    std::size_t j = i, starts = 0;
    while (j < n && w.events[j].kind == EventKind::sample) {
      if (w.events[j].flags & kRecordBegin) ++starts;
      ++j;
    }
    sink.control = false;
    sink.begins = w.begins.data() + b;
    sink.begins_n = starts;
    sink.count_at_start = started(*w.op);
    sink.fallback_pos = w.pos[i];
    w.op->process({&w.events[i], j - i}, sink);
    b += starts;
    i = j;
  }
}

void ShardedOperator::process(std::span<const Event> events, SummarySink& out) noexcept {
  // Parts of at most capacity_ events that end on a record boundary, so no worker's buffer
  // overflows (control events go to every worker, records to one).
  std::size_t at = 0;
  while (at < events.size()) {
    std::size_t end = std::min(events.size(), at + capacity_);
    if (end < events.size()) {
      std::size_t cut = end;
      while (cut > at && events[cut].kind == EventKind::sample && !(events[cut].flags & kRecordBegin)) --cut;
      if (cut > at) end = cut;
      else  // a record longer than a part: take it whole
        while (end < events.size() && events[end].kind == EventKind::sample && !(events[end].flags & kRecordBegin)) ++end;
    }
    run_part(events.subspan(at, end - at), out);
    at = end;
  }
  sum_counters();
}

void ShardedOperator::run_part(std::span<const Event> events, SummarySink& out) noexcept {
  const auto n = static_cast<std::uint32_t>(workers_.size());
  for (auto& w : workers_) {
    w->events.clear();
    w->pos.clear();
    w->begins.clear();
  }
  std::uint32_t owner = 0;
  for (std::uint32_t p = 0; p < events.size(); ++p) {
    const Event& e = events[p];
    if (e.kind != EventKind::sample) {
      for (auto& w : workers_) {
        w->events.push_back(e);
        w->pos.push_back(p);
      }
      continue;
    }
    if (e.flags & kRecordBegin) owner = e.key.index % n;
    Worker& w = *workers_[owner];
    w.events.push_back(e);
    w.pos.push_back(p);
    if (e.flags & kRecordBegin) w.begins.push_back(p);
  }
  job_ = Job::process;
  pending_.store(n - 1, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  work(*workers_[0]);
  for (std::uint32_t left; (left = pending_.load(std::memory_order_acquire)) != 0;) wait_while_equal(pending_, left);
  merge_into(out);
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
  job_ = Job::flush;
  flush_mode_ = mode;
  const auto n = static_cast<std::uint32_t>(workers_.size());
  pending_.store(n - 1, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  work(*workers_[0]);
  for (std::uint32_t left; (left = pending_.load(std::memory_order_acquire)) != 0;) wait_while_equal(pending_, left);
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
