// Loading configuration documents: positions, ${ENV} substitution, include: merging, and the
// errors a user sees when a file is wrong.
#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <string>

#include "test_support.hpp"
#include "vigil/runtime/config_node.hpp"

namespace vigil::test {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using runtime::ConfigNode;

/// An environment made of a fixed map, so tests never touch the process environment.
runtime::EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

runtime::Result<ConfigNode> load(const std::string& text, std::map<std::string, std::string> vars = {}) {
  return runtime::load_config_text(text, "plant.yaml", ".", fake_env(std::move(vars)));
}

/// Follows a path of map keys; fails the test if one is missing.
const ConfigNode& at(const ConfigNode& node, std::initializer_list<std::string_view> keys) {
  const ConfigNode* n = &node;
  for (auto k : keys) {
    const ConfigNode* next = n->find(k);
    INFO("key " << k);
    REQUIRE(next != nullptr);
    n = next;
  }
  return *n;
}

TEST_CASE("a loaded document keeps maps, lists and scalars in document order", "[runtime][config]") {
  auto r = load("vigil: 1\nsources:\n  - name: sim\n    rate: 100\n  - name: line\nzeta: z\nalpha: a\n");
  REQUIRE(r);
  const ConfigNode& root = *r;
  REQUIRE(root.is_map());
  REQUIRE(root.members.size() == 4);
  CHECK(root.members[0].first == "vigil");
  CHECK(root.members[1].first == "sources");
  CHECK(root.members[2].first == "zeta");
  CHECK(root.members[3].first == "alpha");
  const ConfigNode& sources = at(root, {"sources"});
  REQUIRE(sources.is_sequence());
  REQUIRE(sources.items.size() == 2);
  CHECK(at(sources.items[0], {"rate"}).scalar == "100");
  CHECK(at(sources.items[1], {"name"}).scalar == "line");
  CHECK(root.find("missing") == nullptr);
  CHECK(at(root, {"vigil"}).find("x") == nullptr);
}

TEST_CASE("every node records the 1-based line and column where it starts", "[runtime][config]") {
  auto r = load("vigil: 1\n"           // line 1
                "sources:\n"           // line 2
                "  - name: sim\n"      // line 3: the item map starts at column 5
                "    rate: 100\n"      // line 4: value at column 11
                "window: {size: 10s}\n");  // line 5: flow map at 9, size value at 16
  REQUIRE(r);
  const ConfigNode& root = *r;
  CHECK(at(root, {"vigil"}).mark.line == 1);
  CHECK(at(root, {"vigil"}).mark.column == 8);
  CHECK(at(root, {"vigil"}).key_mark.line == 1);
  CHECK(at(root, {"vigil"}).key_mark.column == 1);
  const ConfigNode& item = at(root, {"sources"}).items[0];
  CHECK(item.mark.line == 3);
  CHECK(item.mark.column == 5);
  const ConfigNode& rate = at(item, {"rate"});
  CHECK(rate.key_mark.str() == "plant.yaml:4:5");
  CHECK(rate.mark.str() == "plant.yaml:4:11");
  CHECK(at(root, {"window"}).mark.str() == "plant.yaml:5:9");
  CHECK(at(root, {"window", "size"}).mark.str() == "plant.yaml:5:16");
}

TEST_CASE("a mark without a file prints as <config>", "[runtime][config]") {
  runtime::Mark m;
  CHECK(m.str() == "<config>");
}

TEST_CASE("an empty document loads as nothing, marked at its first line", "[runtime][config]") {
  auto r = load("");
  REQUIRE(r);
  CHECK(r->is_null());
  CHECK(r->mark.str() == "plant.yaml:1:1");
  CHECK(r->kind_name() == "nothing");
}

TEST_CASE("kind_name names each kind the way messages use it", "[runtime][config]") {
  auto r = load("a: 1\nb: [1]\nc: {x: 1}\nd:\n");
  REQUIRE(r);
  CHECK(at(*r, {"a"}).kind_name() == "a value");
  CHECK(at(*r, {"b"}).kind_name() == "a list");
  CHECK(at(*r, {"c"}).kind_name() == "a map");
  CHECK(at(*r, {"d"}).kind_name() == "nothing");
}

TEST_CASE("a quoted scalar is flagged so \"yes\" can stay text", "[runtime][config]") {
  auto r = load("a: \"yes\"\nb: yes\nc: 'on'\n");
  REQUIRE(r);
  CHECK(at(*r, {"a"}).quoted);
  CHECK(at(*r, {"a"}).scalar == "yes");
  CHECK_FALSE(at(*r, {"b"}).quoted);
  CHECK(at(*r, {"c"}).quoted);
}

TEST_CASE("${VAR} is replaced by the variable's value", "[runtime][config]") {
  auto r = load("gateway: ${GW}\nurl: tcp://${HOST}:1883/x\n", {{"GW", "line-7"}, {"HOST", "broker"}});
  REQUIRE(r);
  CHECK(at(*r, {"gateway"}).scalar == "line-7");
  CHECK(at(*r, {"url"}).scalar == "tcp://broker:1883/x");
}

TEST_CASE("${VAR:-default} uses the default when the variable is unset or empty", "[runtime][config]") {
  auto r = load("a: ${UNSET:-laptop-demo}\nb: ${EMPTY:-fallback}\nc: ${SET:-unused}\nd: ${UNSET:-}\n",
                {{"EMPTY", ""}, {"SET", "value"}});
  REQUIRE(r);
  CHECK(at(*r, {"a"}).scalar == "laptop-demo");
  CHECK(at(*r, {"b"}).scalar == "fallback");
  CHECK(at(*r, {"c"}).scalar == "value");
  CHECK(at(*r, {"d"}).scalar == "");
}

TEST_CASE("${VAR} set to the empty string substitutes nothing and is no error", "[runtime][config]") {
  auto r = load("a: x${EMPTY}y\n", {{"EMPTY", ""}});
  REQUIRE(r);
  CHECK(at(*r, {"a"}).scalar == "xy");
}

TEST_CASE("$$ is a literal dollar and a lone $ stays as it is", "[runtime][config]") {
  auto r = load("a: cost $$5\nb: $${NOT_A_VAR}\nc: price $5\nd: end$\n");
  REQUIRE(r);
  CHECK(at(*r, {"a"}).scalar == "cost $5");
  CHECK(at(*r, {"b"}).scalar == "${NOT_A_VAR}");
  CHECK(at(*r, {"c"}).scalar == "price $5");
  CHECK(at(*r, {"d"}).scalar == "end$");
}

TEST_CASE("substitution happens inside lists and nested maps", "[runtime][config]") {
  // Inside flow collections ([...], {...}) a scalar holding ${...} must be quoted: braces are
  // YAML syntax there.
  auto r = load("machines: [\"${M1}\", \"pump-${N}\"]\nsink:\n  path: ${DIR}/outbox.db\n",
                {{"M1", "press-1"}, {"N", "2"}, {"DIR", "/var/lib/vigil"}});
  REQUIRE(r);
  CHECK(at(*r, {"machines"}).items[0].scalar == "press-1");
  CHECK(at(*r, {"machines"}).items[1].scalar == "pump-2");
  CHECK(at(*r, {"sink", "path"}).scalar == "/var/lib/vigil/outbox.db");
}

TEST_CASE("an unset ${VAR} is an error naming file:line:column and how to fix it", "[runtime][config]") {
  auto r = load("vigil: 1\ngateway: ${GATEWAY_ID}\n");
  REQUIRE_FALSE(r);
  CHECK(r.error().message ==
        "plant.yaml:2:10: environment variable GATEWAY_ID is not set; export it or write ${GATEWAY_ID:-default}");
}

TEST_CASE("every unset variable in a file is reported, one line each", "[runtime][config]") {
  auto r = load("a: ${ONE}\nb: ${TWO}\n");
  REQUIRE_FALSE(r);
  auto lines = split_lines(r.error().message);
  REQUIRE(lines.size() == 2);
  CHECK_THAT(lines[0], StartsWith("plant.yaml:1:4: environment variable ONE"));
  CHECK_THAT(lines[1], StartsWith("plant.yaml:2:4: environment variable TWO"));
}

TEST_CASE("an unterminated ${ is an error that suggests $$", "[runtime][config]") {
  auto r = load("a: ${OOPS\n");
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, StartsWith("plant.yaml:1:4: unterminated \"${\""));
  CHECK_THAT(r.error().message, Contains("$$"));
}

TEST_CASE("the process environment lookup sees real variables", "[runtime][config]") {
  auto env = runtime::process_env();
  CHECK(env("PATH").has_value());
  CHECK_FALSE(env("VIGIL_TEST_SURELY_UNSET_VARIABLE").has_value());
}

TEST_CASE("a key given twice in one map is an error at the second occurrence", "[runtime][config]") {
  auto r = load("vigil: 1\ngateway: a\nlimits: {}\ngateway: b\n");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "plant.yaml:4:1: key \"gateway\" appears twice in the same map; remove one");
}

TEST_CASE("the same key in different maps is not a duplicate", "[runtime][config]") {
  auto r = load("a: {name: x}\nb: {name: y}\n");
  CHECK(r);
}

TEST_CASE("a YAML syntax error names the file and the position of the problem", "[runtime][config]") {
  SECTION("an unclosed flow list is found at the next `key:` it swallows") {
    // line 2 opens `[` and never closes it; line 3 `rate: 5` has its `:` at column 5.
    auto r = load("vigil: 1\nmachines: [press-1, pump-1\nrate: 5\n");
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "plant.yaml:3:5: YAML syntax: end of sequence flow not found");
  }
  SECTION("a key indented less than its siblings") {
    // line 4: `   type: x` has three blanks where the item's keys start at column 5.
    auto r = load("vigil: 1\nsources:\n  - name: sim\n   type: x\n");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, StartsWith("plant.yaml:4:4: YAML syntax: "));
  }
  SECTION("a second `:` on a line") {
    // line 2: `gateway: a: b`, the second `:` at column 11.
    auto r = load("vigil: 1\ngateway: a: b\n");
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "plant.yaml:2:11: YAML syntax: illegal map value");
  }
}

TEST_CASE("a missing config file is an error that names it", "[runtime][config]") {
  TempDir dir;
  auto r = runtime::load_config_file(dir.file("nope.yaml"), fake_env({}));
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, StartsWith("cannot read " + dir.file("nope.yaml")));
  CHECK_THAT(r.error().message, Contains("No such file"));
}

TEST_CASE("load_config_file names nodes by the path it was given", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("plant.yaml"), "vigil: 1\n");
  auto r = runtime::load_config_file(dir.file("plant.yaml"), fake_env({}));
  REQUIRE(r);
  CHECK(at(*r, {"vigil"}).mark.str() == dir.file("plant.yaml") + ":1:8");
}

TEST_CASE("include: merges another file and the including map's own keys win", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("base.yaml"), "gateway: from-base\nvigil: 1\n");
  write_file(dir.file("plant.yaml"), "include: base.yaml\ngateway: from-plant\n");
  auto r = runtime::load_config_file(dir.file("plant.yaml"), fake_env({}));
  REQUIRE(r);
  CHECK(at(*r, {"gateway"}).scalar == "from-plant");
  CHECK(at(*r, {"vigil"}).scalar == "1");
  CHECK(r->find("include") == nullptr);
}

TEST_CASE("the including map's own key wins over an include written after it", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("base.yaml"), "gateway: from-base\n");
  write_file(dir.file("plant.yaml"), "gateway: from-plant\ninclude: base.yaml\n");
  auto r = runtime::load_config_file(dir.file("plant.yaml"), fake_env({}));
  REQUIRE(r);
  CHECK(at(*r, {"gateway"}).scalar == "from-plant");
}

TEST_CASE("include: merges maps deeply, member by member", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("limits.yaml"), "limits: {max_keys: 10, queue_depth: 32}\noutputs: {console: {format: json}}\n");
  write_file(dir.file("plant.yaml"), "include: limits.yaml\nlimits: {max_keys: 20}\noutputs: {outbox: {path: x.db}}\n");
  auto r = runtime::load_config_file(dir.file("plant.yaml"), fake_env({}));
  REQUIRE(r);
  CHECK(at(*r, {"limits", "max_keys"}).scalar == "20");
  CHECK(at(*r, {"limits", "queue_depth"}).scalar == "32");
  CHECK(at(*r, {"outputs", "console", "format"}).scalar == "json");
  CHECK(at(*r, {"outputs", "outbox", "path"}).scalar == "x.db");
}

TEST_CASE("include: takes a list of files and later files win over earlier ones", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("a.yaml"), "x: from-a\nonly_a: 1\n");
  write_file(dir.file("b.yaml"), "x: from-b\nonly_b: 2\n");
  write_file(dir.file("plant.yaml"), "include: [a.yaml, b.yaml]\n");
  auto r = runtime::load_config_file(dir.file("plant.yaml"), fake_env({}));
  REQUIRE(r);
  CHECK(at(*r, {"x"}).scalar == "from-b");
  CHECK(at(*r, {"only_a"}).scalar == "1");
  CHECK(at(*r, {"only_b"}).scalar == "2");
}

TEST_CASE("include: paths are relative to the including file, also for nested includes", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("conf.d/sources.yaml"), "include: common/time.yaml\nsource: sim\n");
  write_file(dir.file("conf.d/common/time.yaml"), "unit: ms\n");
  write_file(dir.file("plant.yaml"), "include: conf.d/sources.yaml\n");
  auto r = runtime::load_config_file(dir.file("plant.yaml"), fake_env({}));
  REQUIRE(r);
  CHECK(at(*r, {"source"}).scalar == "sim");
  CHECK(at(*r, {"unit"}).scalar == "ms");
}

TEST_CASE("include: resolves against the folder given with load_config_text", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("base.yaml"), "gateway: gw\n");
  auto r = runtime::load_config_text("include: base.yaml\n", "inline.yaml", dir.path(), fake_env({}));
  REQUIRE(r);
  CHECK(at(*r, {"gateway"}).scalar == "gw");
}

TEST_CASE("include: works inside a nested map", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("outputs.yaml"), "console: {format: json}\n");
  write_file(dir.file("plant.yaml"), "vigil: 1\noutputs:\n  include: outputs.yaml\n  outbox: {path: a.db}\n");
  auto r = runtime::load_config_file(dir.file("plant.yaml"), fake_env({}));
  REQUIRE(r);
  CHECK(at(*r, {"outputs", "console", "format"}).scalar == "json");
  CHECK(at(*r, {"outputs", "outbox", "path"}).scalar == "a.db");
}

TEST_CASE("nodes from an included file carry that file's name and position", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("base.yaml"), "# comment\nlimits:\n  max_keys: 7\n");
  write_file(dir.file("plant.yaml"), "include: base.yaml\nvigil: 1\n");
  auto r = runtime::load_config_file(dir.file("plant.yaml"), fake_env({}));
  REQUIRE(r);
  CHECK(at(*r, {"limits", "max_keys"}).mark.str() == dir.file("base.yaml") + ":3:13");
  CHECK(at(*r, {"vigil"}).mark.str() == dir.file("plant.yaml") + ":2:8");
}

TEST_CASE("${VAR} is substituted in include: paths and in included files", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("site-a.yaml"), "gateway: ${GW}\n");
  write_file(dir.file("plant.yaml"), "include: site-${SITE}.yaml\n");
  auto r = runtime::load_config_file(dir.file("plant.yaml"), fake_env({{"SITE", "a"}, {"GW", "gw-a"}}));
  REQUIRE(r);
  CHECK(at(*r, {"gateway"}).scalar == "gw-a");
}

TEST_CASE("an include that cannot be read is an error at the include line", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("plant.yaml"), "vigil: 1\ninclude: missing.yaml\n");
  auto r = runtime::load_config_file(dir.file("plant.yaml"), fake_env({}));
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, StartsWith(dir.file("plant.yaml") + ":2:10: cannot read " + dir.file("missing.yaml")));
  CHECK_THAT(r.error().message, Contains("No such file"));
}

TEST_CASE("an include cycle is an error naming the file that includes itself", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("a.yaml"), "include: b.yaml\nx: 1\n");
  write_file(dir.file("b.yaml"), "y: 2\ninclude: a.yaml\n");
  auto r = runtime::load_config_file(dir.file("a.yaml"), fake_env({}));
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, StartsWith(dir.file("b.yaml") + ":2:10: include cycle: "));
  CHECK_THAT(r.error().message, Contains("a.yaml includes itself"));
}

TEST_CASE("a file that includes itself is a cycle", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("a.yaml"), "include: ./a.yaml\n");
  auto r = runtime::load_config_file(dir.file("a.yaml"), fake_env({}));
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Contains("include cycle"));
}

TEST_CASE("the same file included twice side by side is not a cycle", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("common.yaml"), "unit: ms\n");
  write_file(dir.file("plant.yaml"), "a: {include: common.yaml}\nb: {include: common.yaml}\n");
  auto r = runtime::load_config_file(dir.file("plant.yaml"), fake_env({}));
  REQUIRE(r);
  CHECK(at(*r, {"a", "unit"}).scalar == "ms");
  CHECK(at(*r, {"b", "unit"}).scalar == "ms");
}

TEST_CASE("an included file must hold a map", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("list.yaml"), "- a\n- b\n");
  write_file(dir.file("plant.yaml"), "include: list.yaml\n");
  auto r = runtime::load_config_file(dir.file("plant.yaml"), fake_env({}));
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, StartsWith(dir.file("plant.yaml") + ":1:10: included file list.yaml must hold a map"));
}

TEST_CASE("include: refuses a map as its value", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("plant.yaml"), "include: {a: b}\n");
  auto r = runtime::load_config_file(dir.file("plant.yaml"), fake_env({}));
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Contains("include: takes a file name or a list of file names"));
}

TEST_CASE("a syntax error in an included file names the included file", "[runtime][config]") {
  TempDir dir;
  write_file(dir.file("bad.yaml"), "a: [1, 2\n");
  write_file(dir.file("plant.yaml"), "include: bad.yaml\n");
  auto r = runtime::load_config_file(dir.file("plant.yaml"), fake_env({}));
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, StartsWith(dir.file("bad.yaml") + ":"));
}

}  // namespace
}  // namespace vigil::test

namespace vigil::test {

TEST_CASE("an alias that refers to its own anchor is an error, not endless recursion", "[runtime][config]") {
  auto r = runtime::load_config_text("a: &x {b: *x}\n", "cyc.yaml", ".");
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Matchers::Contains("cyc.yaml:1:") &&
                                    Catch::Matchers::Contains("alias that refers to itself"));
}

}  // namespace vigil::test

namespace vigil::test {

TEST_CASE("a billion-laughs config is refused quickly with one message", "[runtime][config]") {
  // Nine levels of ten aliases each would expand to a billion values.
  std::string text = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level < 9; ++level) {
    const std::string prev = "*l" + std::to_string(level - 1);
    text += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) text += (i ? ", " : "") + prev;
    text += "]\n";
  }
  auto r = runtime::load_config_text(text, "laughs.yaml", ".");
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Matchers::Contains("expands to more than 100000 values"));
  CHECK(r.error().message.find('\n') == std::string::npos);
}

}  // namespace vigil::test
