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

 private:
  std::map<std::int64_t, std::int64_t> ranges_;  // first -> last, disjoint, not adjacent
};

/// Runs `vigil tail-upstream` with the arguments after the command (`--broker URI [--topic T]
/// [--count N] [--json] [--for D]`), until `count` summaries, `for` elapsed or `stop` is set.
/// Each new summary is one line on `out`; status messages, the closing report and errors go
/// to `err`. Returns 0 (no gap seen), 1 (gaps, or the broker could not be reached) or 2 (usage).
int tail_upstream_command(std::span<const std::string> args, const std::atomic<bool>& stop, std::FILE* out,
                          std::FILE* err);

}  // namespace vigil::sync
