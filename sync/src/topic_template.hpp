#pragma once
// Topic templates shared by the outbox and upstream outputs: "vigil/{gateway}/{pipeline}/{key}".
// Private to sync/src.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/runtime/result.hpp"

namespace vigil::sync {

/// A topic template split at its placeholders; {gateway} is filled in when it is parsed.
struct TopicPart {
  enum class Kind : std::uint8_t { text, pipeline, key };
  Kind kind = Kind::text;
  std::string text;
};

/// Appends `value` to a topic, replacing the MQTT wildcards + and # (and NUL) by '_'.
void append_topic_value(std::string_view value, std::string& out);

/// Splits `topic` at {gateway}, {pipeline} and {key}; {gateway} is replaced by `gateway` at
/// once. Errors (for the config key's message): empty, wildcard, unknown placeholder, no `}`.
runtime::Result<std::vector<TopicPart>> parse_topic(std::string_view topic, std::string_view gateway);

/// Writes the topic of (pipeline, key) into `out` (cleared first; reuses its capacity).
void expand_topic(const std::vector<TopicPart>& parts, std::string_view pipeline, std::string_view key,
                  std::string& out);

}  // namespace vigil::sync
