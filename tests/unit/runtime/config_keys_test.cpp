// Validation of configuration blocks against declared keys: every message names where the
// problem is (file:line:column, key path) and what to write instead.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "test_support.hpp"
#include "vigil/runtime/config_keys.hpp"

namespace vigil::test {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using runtime::ConfigKey;
using runtime::ConfigNode;
using runtime::KeyType;
using runtime::kNoMax;
using runtime::kNoMin;
using runtime::Required;

constexpr std::string_view kLateChoices[] = {"drop", "emit"};
constexpr ConfigKey kWindowKeys[] = {
    {"size", KeyType::duration, Required::yes, {}, "Window length.", 1e6},
    {"late", KeyType::choice, Required::no, "drop", "What to do with late records.", kNoMin, kNoMax, kLateChoices},
};
constexpr ConfigKey kSinkKeys[] = {
    {"path", KeyType::string, Required::yes, {}, "File to write."},
    {"depth", KeyType::integer, Required::no, "8", "Queue depth.", 1, 100},
};
constexpr ConfigKey kItemKeys[] = {
    {"weight", KeyType::real, Required::no, "1", "Weight of the item.", 0, 1},
};
constexpr ConfigKey kKeys[] = {
    {"name", KeyType::string, Required::yes, {}, "Name shown in every summary."},
    {"rate", KeyType::real, Required::no, "100", "Records per second.", 0.001, 1e7},
    {"max_keys", KeyType::integer, Required::no, "1024", "Keys tracked at once.", 1, 10'000'000},
    {"enabled", KeyType::boolean, Required::no, "true", "On or off."},
    {"budget", KeyType::size, Required::no, "1MiB", "Memory for sketches.", 1024, 1024.0 * 1024 * 1024},
    {"timeout", KeyType::duration, Required::no, "5s", "How long to wait.", 0, 3600e9},
    {"machines", KeyType::string_list, Required::no, {}, "Key names."},
    {"window", KeyType::object, Required::no, {}, "Window block.", kNoMin, kNoMax, {}, kWindowKeys},
    {"items", KeyType::object_list, Required::no, {}, "Weighted items.", kNoMin, kNoMax, {}, kItemKeys},
    {"sinks", KeyType::object_map, Required::no, {}, "Named sinks.", kNoMin, kNoMax, {}, kSinkKeys},
    {"extra", KeyType::any, Required::no, {}, "Checked by the plugin."},
};
constexpr std::string_view kIgnoreType[] = {"type"};

/// Loads `text` as plant.yaml and validates its root against kKeys under the path "pipelines[1]".
std::vector<std::string> validate(const std::string& text) {
  auto root = runtime::load_config_text(text, "plant.yaml", ".");
  REQUIRE(root);
  runtime::Diagnostics diag;
  runtime::validate_block(*root, kKeys, "pipelines[1]", diag, kIgnoreType);
  return diag.lines();
}

/// Loads `text` and keeps the document alive for Block accessors.
struct Loaded {
  explicit Loaded(const std::string& text) {
    auto r = runtime::load_config_text(text, "plant.yaml", ".");
    REQUIRE(r);
    root = std::move(r).value();
  }
  runtime::Block block() const { return runtime::Block(&root, kKeys); }
  ConfigNode root;
};

TEST_CASE("a block that matches its keys validates without messages", "[runtime][config]") {
  auto lines = validate(
      "type: x\n"
      "name: press\n"
      "rate: 2.5\n"
      "max_keys: 10\n"
      "enabled: no\n"
      "budget: 64KiB\n"
      "timeout: 0\n"
      "machines: [a, b]\n"
      "window: {size: 10s, late: emit}\n"
      "items: [{weight: 0.5}, {}]\n"
      "sinks: {a: {path: x.db}, b: {path: y.db, depth: 100}}\n"
      "extra: {anything: [goes, here]}\n");
  CHECK(lines.empty());
}

TEST_CASE("an unknown key is reported at the key, with a near name and the valid keys", "[runtime][config]") {
  auto lines = validate("name: press\nrat: 5\n");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        "plant.yaml:2:1: pipelines[1]: unknown key \"rat\" (did you mean \"rate\"?); valid keys: type, name, rate, "
        "max_keys, enabled, budget, timeout, machines, window, items, sinks, extra");
}

TEST_CASE("an unknown key far from every valid name gets no suggestion", "[runtime][config]") {
  auto lines = validate("name: press\ncolour: blue\n");
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], StartsWith("plant.yaml:2:1: pipelines[1]: unknown key \"colour\"; valid keys: type, name"));
  CHECK_THAT(lines[0], !Contains("did you mean"));
}

TEST_CASE("keys the caller handles are neither unknown nor validated", "[runtime][config]") {
  CHECK(validate("name: a\ntype: [not, a, scalar]\n").empty());
}

TEST_CASE("a missing required key is reported at the block with the key's doc", "[runtime][config]") {
  auto lines = validate("rate: 5\n");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "plant.yaml:1:1: pipelines[1]: missing key \"name\" (Name shown in every summary.)");
}

TEST_CASE("an empty block reports its missing required keys", "[runtime][config]") {
  auto root = runtime::load_config_text("window:\n", "plant.yaml", ".");
  REQUIRE(root);
  runtime::Diagnostics diag;
  runtime::validate_block(*root->find("window"), kWindowKeys, "pipelines[0].window", diag);
  REQUIRE(diag.lines().size() == 1);
  CHECK_THAT(diag.lines()[0], Contains("pipelines[0].window: missing key \"size\" (Window length.)"));
}

TEST_CASE("a text where a whole number belongs says it is not a whole number", "[runtime][config]") {
  auto lines = validate("name: a\nmax_keys: lots\n");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "plant.yaml:2:11: pipelines[1].max_keys: \"lots\" is not a whole number");
}

TEST_CASE("a list where a value belongs names the expected type and what was found", "[runtime][config]") {
  auto lines = validate("name: a\nmax_keys: [1, 2]\nenabled: {x: 1}\n");
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "plant.yaml:2:11: pipelines[1].max_keys: expected whole number, found a list");
  CHECK(lines[1] == "plant.yaml:3:10: pipelines[1].enabled: expected true/false, found a map");
}

TEST_CASE("an integer out of range states the allowed range in plain digits", "[runtime][config]") {
  auto lines = validate("name: a\nmax_keys: 0\n");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "plant.yaml:2:11: pipelines[1].max_keys: 0 is out of range; use a value from 1 to 10000000");
}

TEST_CASE("a real out of range states the allowed range", "[runtime][config]") {
  auto lines = validate("name: a\nrate: 0\n");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "plant.yaml:2:7: pipelines[1].rate: 0 is out of range; use a value from 0.001 to 10000000");
}

TEST_CASE("a text where a number belongs says it is not a number", "[runtime][config]") {
  auto lines = validate("name: a\nrate: fast\n");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "plant.yaml:2:7: pipelines[1].rate: \"fast\" is not a number");
}

TEST_CASE("a duration out of range states the bound as a duration", "[runtime][config]") {
  auto lines = validate("name: a\nwindow: {size: 0s}\ntimeout: 2h\n");
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "plant.yaml:2:16: pipelines[1].window.size: 0s is out of range; use at least 1ms");
  CHECK(lines[1] == "plant.yaml:3:10: pipelines[1].timeout: 2h is out of range; use a value from 0s to 1h");
}

TEST_CASE("a bad duration names the nested key path and the units to use", "[runtime][config]") {
  auto lines = validate("name: a\nwindow:\n  size: 10 parsecs\n");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        "plant.yaml:3:9: pipelines[1].window.size: \"10 parsecs\" is not a duration; use a number and a unit: "
        "10s, 500ms, 2m, 1h");
}

TEST_CASE("a bad size and a size out of range are reported", "[runtime][config]") {
  auto lines = validate("name: a\nbudget: 12 bananas\n");
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], StartsWith("plant.yaml:2:9: pipelines[1].budget: \"12 bananas\" is not a size"));
  lines = validate("name: a\nbudget: 16\n");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "plant.yaml:2:9: pipelines[1].budget: 16 is out of range; use a value from 1024 to 1073741824");
}

TEST_CASE("a choice outside its list names every allowed choice", "[runtime][config]") {
  auto lines = validate("name: a\nwindow: {size: 1s, late: keep}\n");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "plant.yaml:2:26: pipelines[1].window.late: \"keep\" is not one of: drop, emit");
}

TEST_CASE("a boolean accepts true/false, yes/no, on/off and refuses anything else", "[runtime][config]") {
  CHECK(validate("name: a\nenabled: on\n").empty());
  auto lines = validate("name: a\nenabled: perhaps\n");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "plant.yaml:2:10: pipelines[1].enabled: \"perhaps\" is not true or false");
}

TEST_CASE("a scalar where an object belongs lists the object's keys", "[runtime][config]") {
  auto lines = validate("name: a\nwindow: 10s\n");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "plant.yaml:2:9: pipelines[1].window: expected a map of keys (size, late), found a value");
}

TEST_CASE("errors inside an object list name the item's index", "[runtime][config]") {
  auto lines = validate("name: a\nitems:\n  - weight: 2\n  - wieght: 1\n");
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "plant.yaml:3:13: pipelines[1].items[0].weight: 2 is out of range; use a value from 0 to 1");
  CHECK(lines[1] ==
        "plant.yaml:4:5: pipelines[1].items[1]: unknown key \"wieght\" (did you mean \"weight\"?); valid keys: weight");
}

TEST_CASE("a map where an object list belongs is refused", "[runtime][config]") {
  auto lines = validate("name: a\nitems: {weight: 1}\n");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "plant.yaml:2:8: pipelines[1].items: expected a list of maps, found a map");
}

TEST_CASE("errors inside an object map name the member", "[runtime][config]") {
  auto lines = validate("name: a\nsinks:\n  main: {path: a.db}\n  spare: {depth: 500}\n");
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "plant.yaml:4:18: pipelines[1].sinks.spare.depth: 500 is out of range; use a value from 1 to 100");
  CHECK(lines[1] == "plant.yaml:4:10: pipelines[1].sinks.spare: missing key \"path\" (File to write.)");
}

TEST_CASE("a list where an object map belongs is refused", "[runtime][config]") {
  auto lines = validate("name: a\nsinks: [a, b]\n");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "plant.yaml:2:8: pipelines[1].sinks: expected a map of names to maps, found a list");
}

TEST_CASE("a string list takes one scalar or a list of scalars, never a nested map", "[runtime][config]") {
  CHECK(validate("name: a\nmachines: press-1\n").empty());
  auto lines = validate("name: a\nmachines: [press-1, {x: 1}]\n");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "plant.yaml:2:21: pipelines[1].machines[1]: expected a name, found a map");
  lines = validate("name: a\nmachines: {x: 1}\n");
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Contains("pipelines[1].machines: expected a list of names, found a map"));
}

TEST_CASE("every problem of a block is reported in one pass", "[runtime][config]") {
  auto lines = validate("rat: 5\nmax_keys: 0\nwindow: {size: soon}\nenabled: maybe\n");
  REQUIRE(lines.size() == 5);
  CHECK_THAT(lines[0], Contains("unknown key \"rat\""));
  CHECK_THAT(lines[1], Contains("max_keys: 0 is out of range"));
  CHECK_THAT(lines[2], Contains("window.size: \"soon\" is not a duration"));
  CHECK_THAT(lines[3], Contains("enabled: \"maybe\" is not true or false"));
  CHECK_THAT(lines[4], Contains("missing key \"name\""));
}

TEST_CASE("a block that is not a map says what it should be", "[runtime][config]") {
  auto lines = validate("[1, 2]\n");
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], StartsWith("plant.yaml:1:1: pipelines[1]: expected a map of keys (type, name, rate"));
  CHECK_THAT(lines[0], Contains("found a list"));
}

TEST_CASE("diagnostics without a path print file:line:column: message", "[runtime][config]") {
  runtime::Diagnostics diag;
  auto root = runtime::load_config_text("a: 1\n", "plant.yaml", ".");
  REQUIRE(root);
  diag.error(root->find("a")->mark, "", "first");
  diag.error(runtime::Mark{}, "sources", "second");
  CHECK_FALSE(diag.empty());
  CHECK(diag.str() == "plant.yaml:1:4: first\n<config>: sources: second");
}

TEST_CASE("a block accessor returns the written value or the declared default", "[runtime][config]") {
  Loaded doc("name: press\nrate: 2.5\nmax_keys: 7\nenabled: off\nbudget: 64KiB\nmachines: solo\n");
  auto b = doc.block();
  CHECK(b.has("name"));
  CHECK_FALSE(b.has("timeout"));
  CHECK(b.string("name") == "press");
  CHECK(b.real("rate") == 2.5);
  CHECK(b.integer("max_keys") == 7);
  CHECK_FALSE(b.boolean("enabled"));
  CHECK(b.size("budget") == 65'536);
  CHECK(b.duration("timeout") == 5 * runtime::kNanosPerSecond);
  CHECK(b.strings("machines") == std::vector<std::string>{"solo"});
  CHECK(b.strings("extra").empty());
}

TEST_CASE("a block accessor on an absent object gives the children's defaults", "[runtime][config]") {
  Loaded doc("name: press\n");
  auto window = doc.block().child("window");
  CHECK(window.self() == nullptr);
  CHECK(window.string("late") == "drop");
  CHECK_FALSE(window.has("size"));
  CHECK(window.duration("size") == 0);
}

TEST_CASE("parse_integer, parse_real and parse_boolean refuse partial and empty text", "[runtime][config]") {
  CHECK(runtime::parse_integer("-42").value() == -42);
  CHECK_FALSE(runtime::parse_integer("12abc"));
  CHECK_FALSE(runtime::parse_integer(""));
  CHECK_FALSE(runtime::parse_integer("1.5"));
  CHECK(runtime::parse_real("1e-3").value() == 0.001);
  CHECK_FALSE(runtime::parse_real("nan"));
  CHECK_FALSE(runtime::parse_real("inf"));
  CHECK_FALSE(runtime::parse_real("1e400"));
  CHECK_FALSE(runtime::parse_real(""));
  CHECK(runtime::parse_boolean("yes").value());
  CHECK_FALSE(runtime::parse_boolean("off").value());
  CHECK_FALSE(runtime::parse_boolean("True1"));
}

TEST_CASE("describe_keys prints name, type, requirement, default, range and doc of each key", "[runtime][config]") {
  std::string text = runtime::describe_keys(kWindowKeys);
  CHECK(text ==
        "- `size` (duration, required; use at least 1ms): Window length.\n"
        "- `late` (choice: drop|emit, default drop): What to do with late records.\n");
  std::string nested = runtime::describe_keys(kKeys, 2);
  CHECK_THAT(nested, Contains("  - `window` (map): Window block.\n    - `size` (duration, required"));
  CHECK_THAT(nested, Contains("`max_keys` (whole number, default 1024; use a value from 1 to 10000000)"));
}

}  // namespace
}  // namespace vigil::test
