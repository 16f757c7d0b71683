#pragma once
// The FlatBuffers form of a summary (schema: sync/schemas/summary.fbs, file identifier "VGS1").
// No FlatBuffers types in this header: the encoder keeps its builder behind a pointer.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/runtime/result.hpp"
#include "vigil/runtime/summary.hpp"

namespace vigil::sync {

/// Schema version written into every buffer (`Summary.version`).
inline constexpr std::uint16_t kFlatSummaryVersion = 1;

struct DecodedSummary;

/// Encodes summaries as FlatBuffers `vigil.fb.Summary` buffers, reusing one builder: once the
/// builder has grown to the largest summary seen, encoding allocates nothing.
/// Not thread-safe: one encoder per thread (e.g. the upstream publisher's thread).
class FlatSummaryEncoder {
 public:
  /// `initial_bytes`: the builder's first buffer size; it doubles when a summary needs more.
  explicit FlatSummaryEncoder(std::size_t initial_bytes = 1024);
  ~FlatSummaryEncoder();
  FlatSummaryEncoder(const FlatSummaryEncoder&) = delete;
  FlatSummaryEncoder& operator=(const FlatSummaryEncoder&) = delete;

  /// Encodes `summary` (its schema must be set) with the outbox identity (gateway, epoch, seq).
  /// Start and end are stored in ms (floored); NaN values are kept as NaN. The bytes are valid
  /// until the next encode() or the encoder's destruction.
  std::span<const std::uint8_t> encode(const runtime::Summary& summary, std::string_view gateway,
                                       std::string_view epoch, std::int64_t seq);
  /// Encodes a decoded summary (e.g. one read back from the outbox) with its own identity.
  std::span<const std::uint8_t> encode(const DecodedSummary& summary);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A decoded `vigil.fb.Summary`, owning its data.
struct DecodedSummary {
  std::uint16_t version = 0;
  std::string gateway;
  std::string epoch;
  std::int64_t seq = 0;
  std::string pipeline;
  std::string key;
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;
  std::uint64_t count = 0;
  std::vector<std::string> names;
  std::vector<double> values;
  std::uint8_t flags = 0;  ///< runtime::SummaryFlags
};

/// Verifies and decodes one buffer. Anything that is not a complete, well-formed `Summary`
/// buffer with identifier "VGS1" (garbage, truncated, wrong identifier), or whose names and
/// values differ in number, is an error; it never reads outside `bytes`.
/// Buffers of a newer `version` are decoded as far as this schema knows them. Any thread.
runtime::Result<DecodedSummary> decode_flat_summary(std::span<const std::uint8_t> bytes);

/// Parses the JSON form of a summary (what runtime::append_json writes and the outbox stores,
/// optionally preceded by the upstream members "gateway", "epoch", "seq") into `out`, reusing
/// its capacity. Members other than the known ones are columns: numbers, or null (read as
/// NaN); `"partial"`, `"late"`, `"resent"` set flags. Anything else is an error saying where.
/// `out.version` is set to kFlatSummaryVersion. Any thread.
runtime::Result<void> decode_json_summary(std::string_view json, DecodedSummary& out);

/// Appends the upstream JSON form of `s`: {"gateway", "epoch", "seq", "pipeline", "key",
/// "start", "end", "count", columns..., flags}, numbers as runtime::append_json writes them.
void append_upstream_json(const DecodedSummary& s, std::string& out);

}  // namespace vigil::sync
