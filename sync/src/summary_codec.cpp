#include <cstring>
#include "vigil/sync/summary_codec.hpp"

#include <flatbuffers/flatbuffers.h>

#include "summary_generated.h"

namespace vigil::sync {
namespace {

// ms since the epoch, floored like the JSON form's start/end.
std::int64_t floor_ms(runtime::Nanos t) noexcept {
  std::int64_t q = t / runtime::kNanosPerMilli;
  if (t % runtime::kNanosPerMilli < 0) --q;
  return q;
}

flatbuffers::Offset<flatbuffers::String> create_string(flatbuffers::FlatBufferBuilder& b,
                                                       std::string_view text) {
  return b.CreateString(text.data(), text.size());
}

}  // namespace

struct FlatSummaryEncoder::Impl {
  explicit Impl(std::size_t initial_bytes) : builder(initial_bytes) {
    // Every field is written, also when it equals its schema default: a reader built from a
    // later schema must never mistake a missing `version` for its own default.
    builder.ForceDefaults(true);
  }
  flatbuffers::FlatBufferBuilder builder;
  // Offsets of the column names of the summary being encoded; keeps its capacity.
  std::vector<flatbuffers::Offset<flatbuffers::String>> names;
};

FlatSummaryEncoder::FlatSummaryEncoder(std::size_t initial_bytes)
    : impl_(std::make_unique<Impl>(initial_bytes)) {}
FlatSummaryEncoder::~FlatSummaryEncoder() = default;

std::span<const std::uint8_t> FlatSummaryEncoder::encode(const runtime::Summary& summary,
                                                         std::string_view gateway,
                                                         std::string_view epoch, std::int64_t seq) {
  auto& b = impl_->builder;
  // Clear() keeps the buffer it has grown to, so the steady state allocates nothing. Names are
  // written as plain strings: CreateSharedString's pool is freed by Clear() and rebuilt per
  // summary, which would allocate every time.
  b.Clear();
  impl_->names.clear();
  if (summary.schema != nullptr) {
    for (const std::string& column : summary.schema->columns)
      impl_->names.push_back(create_string(b, column));
  }
  auto names = b.CreateVector(impl_->names.data(), impl_->names.size());
  auto values = b.CreateVector(summary.values.data(), summary.values.size());
  auto gateway_offset = create_string(b, gateway);
  auto epoch_offset = create_string(b, epoch);
  auto pipeline = create_string(b, summary.schema != nullptr ? std::string_view(summary.schema->pipeline)
                                                             : std::string_view());
  auto key = create_string(b, summary.key_name);

  fb::SummaryBuilder table(b);
  table.add_seq(seq);
  table.add_start_ms(floor_ms(summary.start));
  table.add_end_ms(floor_ms(summary.end));
  table.add_count(summary.count);
  table.add_gateway(gateway_offset);
  table.add_epoch(epoch_offset);
  table.add_pipeline(pipeline);
  table.add_key(key);
  table.add_names(names);
  table.add_values(values);
  table.add_version(kFlatSummaryVersion);
  table.add_flags(summary.flags);
  b.Finish(table.Finish(), fb::SummaryIdentifier());
  return {b.GetBufferPointer(), b.GetSize()};
}

runtime::Result<DecodedSummary> decode_flat_summary(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 8)
    return runtime::Error{"summary buffer of " + std::to_string(bytes.size()) +
                          " bytes is too short for a FlatBuffers Summary"};
  if (!fb::SummaryBufferHasIdentifier(bytes.data()))
    return runtime::Error{"not a Vigil FlatBuffers Summary (file identifier is not \"VGS1\")"};
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  if (!fb::VerifySummaryBuffer(verifier))
    return runtime::Error{"damaged FlatBuffers Summary (" + std::to_string(bytes.size()) +
                          " bytes): it fails verification (truncated or corrupt)"};
  const fb::Summary* s = fb::GetSummary(bytes.data());
  DecodedSummary d;
  auto text = [](const flatbuffers::String* str) { return str ? str->str() : std::string(); };
  d.version = s->version();
  d.gateway = text(s->gateway());
  d.epoch = text(s->epoch());
  d.seq = s->seq();
  d.pipeline = text(s->pipeline());
  d.key = text(s->key());
  d.start_ms = s->start_ms();
  d.end_ms = s->end_ms();
  d.count = s->count();
  d.flags = s->flags();
  if (const auto* names = s->names()) {
    d.names.reserve(names->size());
    for (const flatbuffers::String* name : *names) d.names.push_back(text(name));
  }
  if (const auto* values = s->values()) {
    // The verifier checks the vector's 4-byte length only; the doubles themselves may sit at an
    // address that is not 8-byte aligned in a hostile buffer, so copy bytes, never load doubles.
    d.values.resize(values->size());
    if (!d.values.empty())
      std::memcpy(d.values.data(), values->Data(), d.values.size() * sizeof(double));
  }
  if (d.names.size() != d.values.size())
    return runtime::Error{"damaged FlatBuffers Summary: " + std::to_string(d.names.size()) + " names but " +
                          std::to_string(d.values.size()) + " values"};
  return d;
}

}  // namespace vigil::sync
