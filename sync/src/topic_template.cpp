#include "topic_template.hpp"

namespace vigil::sync {

// MQTT forbids the wildcards in topics that are published to.
void append_topic_value(std::string_view value, std::string& out) {
  for (char c : value) out += (c == '+' || c == '#' || c == '\0') ? '_' : c;
}

runtime::Result<std::vector<TopicPart>> parse_topic(std::string_view topic, std::string_view gateway) {
  if (topic.empty()) return runtime::Error{"is empty; use e.g. vigil/{gateway}/{pipeline}/{key}"};
  std::vector<TopicPart> parts;
  auto text_part = [&]() -> std::string& {
    if (parts.empty() || parts.back().kind != TopicPart::Kind::text) parts.push_back({});
    return parts.back().text;
  };
  std::size_t i = 0;
  while (i < topic.size()) {
    char c = topic[i];
    if (c == '+' || c == '#')
      return runtime::Error{"\"" + std::string(topic) +
                            "\" contains the MQTT wildcard " + std::string(1, c) +
                            ", which a published topic may not contain"};
    if (c != '{') {
      text_part() += c;
      ++i;
      continue;
    }
    std::size_t close = topic.find('}', i);
    if (close == std::string_view::npos)
      return runtime::Error{"\"" + std::string(topic) + "\" has a { without }; placeholders are "
                            "{gateway}, {pipeline} and {key}"};
    std::string_view name = topic.substr(i + 1, close - i - 1);
    if (name == "gateway") {
      append_topic_value(gateway, text_part());
    } else if (name == "pipeline") {
      parts.push_back({TopicPart::Kind::pipeline, {}});
    } else if (name == "key") {
      parts.push_back({TopicPart::Kind::key, {}});
    } else {
      return runtime::Error{"unknown placeholder {" + std::string(name) + "} in \"" +
                            std::string(topic) + "\"; use {gateway}, {pipeline} or {key}"};
    }
    i = close + 1;
  }
  return parts;
}

void expand_topic(const std::vector<TopicPart>& parts, std::string_view pipeline, std::string_view key,
                  std::string& out) {
  out.clear();
  for (const TopicPart& part : parts) {
    switch (part.kind) {
      case TopicPart::Kind::text: out += part.text; break;
      case TopicPart::Kind::pipeline: append_topic_value(pipeline, out); break;
      case TopicPart::Kind::key: append_topic_value(key, out); break;
    }
  }
}

}  // namespace vigil::sync
