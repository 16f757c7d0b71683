#pragma once
// `vigil tail-upstream`: a small consumer of what gateways publish upstream. It decodes each
// summary, drops duplicates by (gateway, epoch, seq) and reports gaps in the seqs.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace vigil::sync {

/// The seqs seen of one (gateway, epoch) stream, as ranges, so memory grows with the number of
/// holes, not with the number of summaries. Not thread-safe.
class SeqTracker {
 public:
  /// Records `seq`; false when it was seen before (a duplicate).
  bool add(std::int64_t seq);
  /// The holes between the lowest and the highest seq seen, as [first, last] ranges.
  std::vector<std::pair<std::int64_t, std::int64_t>> gaps() const;
  std::int64_t lowest() const noexcept { return ranges_.empty() ? 0 : ranges_.begin()->first; }
  std::int64_t highest() const noexcept { return ranges_.empty() ? 0 : ranges_.rbegin()->second; }

  /// Records a gap record of the gateway: the seqs in [first, last] it did not send were evicted.
  void add_evicted(std::int64_t first, std::int64_t last);
  /// The holes of gaps(), split into the parts a gap record explains (evicted) and the rest
  /// (lost: neither received nor reported evicted), each as [first, last] ranges.
  struct Holes {
    std::vector<std::pair<std::int64_t, std::int64_t>> evicted;
    std::vector<std::pair<std::int64_t, std::int64_t>> lost;
  };
  Holes holes() const;

 private:
  std::map<std::int64_t, std::int64_t> ranges_;  // first -> last, disjoint, not adjacent
  std::map<std::int64_t, std::int64_t> evicted_;  // first -> last, may overlap
};

/// Runs `vigil tail-upstream` with the arguments after the command (`--broker URI [--topic T]
/// [--count N] [--json] [--for D]`), until `count` summaries, `for` elapsed or `stop` is set.
/// Each new summary is one line on `out`; status messages, the closing report and errors go
/// to `err`. Returns 0 (no gap seen), 1 (gaps, or the broker could not be reached) or 2 (usage).
int tail_upstream_command(std::span<const std::string> args, const std::atomic<bool>& stop, std::FILE* out,
                          std::FILE* err);

}  // namespace vigil::sync
