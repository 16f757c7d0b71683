#pragma once
// The unit that flows from sources to pipelines: one value of one field of one record, or an
// in-band control mark (watermark, clock tick, end of stream). Fixed size, trivially copyable.
#include <cstdint>
#include <type_traits>

#include "vigil/runtime/time.hpp"

namespace vigil::runtime {

/// An interned key: a slot index plus the slot's generation, so an evicted and reused slot can
/// never be mistaken for the key that held it before.
struct KeyId {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;
  friend bool operator==(KeyId, KeyId) = default;
};

/// An interned field name; dense, small, assigned at configuration time or first sight.
using FieldId = std::uint16_t;
inline constexpr FieldId kNoField = 0xFFFF;

/// Index of a source in the configuration, order of the `sources:` list.
using SourceIndex = std::uint16_t;

enum class EventKind : std::uint8_t {
  sample,         ///< one value of one record; `record_begin` marks the record's first value
  watermark,      ///< event time `time` is complete for `key` (or the whole source if no key)
  tick,           ///< the processing clock reads `time` (virtual in replay, monotonic live)
  end_of_stream,  ///< the source will send nothing more: flush everything
};

/// Flags on an Event.
enum EventFlags : std::uint8_t {
  kRecordBegin = 1,  ///< first value of a record: `count` counts these
  kAllKeys = 2,      ///< a watermark for every key of the source
};

/// One event in an ingest queue (32 bytes).
struct Event {
  Nanos time = 0;  ///< event time (sample, watermark) or processing time (tick)
  double value = 0;
  KeyId key{};
  FieldId field = kNoField;
  SourceIndex source = 0;
  EventKind kind = EventKind::sample;
  std::uint8_t flags = 0;
};
static_assert(std::is_trivially_copyable_v<Event>);
static_assert(sizeof(Event) == 32);

}  // namespace vigil::runtime
