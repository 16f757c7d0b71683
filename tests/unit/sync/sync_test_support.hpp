#pragma once
// Helpers for the sync tests: summaries to emit, outputs built from YAML the way the engine
// builds them, and a direct SQLite connection to check what an outbox file holds.
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "vigil/runtime/config_keys.hpp"
#include "vigil/runtime/config_node.hpp"
#include "vigil/runtime/plugin.hpp"
#include "vigil/runtime/summary.hpp"
#include "vigil/sync/sync.hpp"

namespace vigil::test {

/// Summaries of pipeline "line1" with columns temp_mean, temp_max; the i-th is the window
/// [i s, i+1 s) of key "pump-<i % keys>".
class SummaryMaker {
 public:
  explicit SummaryMaker(std::size_t keys = 3) {
    schema_.pipeline = "line1";
    schema_.columns = {"temp_mean", "temp_max"};
    for (std::size_t k = 0; k < keys; ++k) keys_.push_back("pump-" + std::to_string(k));
  }
  /// Valid until the next call.
  const runtime::Summary& make(std::uint64_t i) {
    values_[0] = 20.0 + static_cast<double>(i % 100) / 8.0;
    values_[1] = 30.5 + static_cast<double>(i % 7);
    summary_.schema = &schema_;
    summary_.key_name = keys_[i % keys_.size()];
    summary_.key = {static_cast<std::uint32_t>(i % keys_.size()), 0};
    summary_.start = static_cast<runtime::Nanos>(1'700'000'000'000 + i * 1000) * runtime::kNanosPerMilli;
    summary_.end = summary_.start + runtime::kNanosPerSecond;
    summary_.count = 10 + i % 5;
    summary_.values = values_;
    summary_.flags = 0;
    return summary_;
  }
  const runtime::SummarySchema& schema() const { return schema_; }

 private:
  runtime::SummarySchema schema_;
  std::vector<std::string> keys_;
  double values_[2] = {};
  runtime::Summary summary_;
};

/// The JSON line an output should store for `s`, computed by the runtime's encoder.
inline std::string json_of(const runtime::Summary& s) {
  std::string out;
  runtime::append_json(s, out);
  return out;
}

/// A registered output built from a YAML block, as the engine does: validate, then make.
struct BuiltOutput {
  runtime::ConfigNode node;
  runtime::Diagnostics diag;
  std::unique_ptr<runtime::Output> output;
};

inline runtime::Registry& sync_registry() {
  static runtime::Registry registry = [] {
    runtime::Registry r;
    sync::register_outputs(r);
    return r;
  }();
  return registry;
}

/// Parses `yaml` (relative paths resolve against `dir`), validates it against the plugin's keys
/// and calls its factory unless validation failed. Check `diag` for the messages.
inline std::unique_ptr<BuiltOutput> build_output(const std::string& plugin_name, const std::string& yaml,
                                                 const std::string& dir, const std::string& gateway = "gw1",
                                                 const runtime::Limits& limits = {}) {
  const runtime::OutputPlugin* plugin = sync_registry().output(plugin_name);
  if (plugin == nullptr) throw std::runtime_error("no output plugin " + plugin_name);
  auto built = std::make_unique<BuiltOutput>();
  auto parsed = runtime::load_config_text(yaml, "test.yaml", dir);
  if (!parsed) throw std::runtime_error(parsed.error().message);
  built->node = std::move(parsed.value());
  runtime::validate_block(built->node, plugin->keys, "outputs." + plugin_name, built->diag);
  if (!built->diag.empty()) return built;
  runtime::OutputSetup setup{runtime::Block(&built->node, plugin->keys), gateway, dir,
                             "outputs." + plugin_name, &built->diag};
  setup.limits = limits;
  built->output = plugin->make(setup);
  return built;
}

/// A direct connection to a database file, independent of the code under test.
class Sqlite {
 public:
  explicit Sqlite(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
      throw std::runtime_error("cannot open " + path);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~Sqlite() { sqlite3_close_v2(db_); }
  Sqlite(const Sqlite&) = delete;
  Sqlite& operator=(const Sqlite&) = delete;

  /// Runs `sql`; returns the SQLite result code.
  int exec(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }

  /// First column of every row, as text.
  std::vector<std::string> column(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("bad query: ") + sqlite3_errmsg(db_));
    std::vector<std::string> out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* text = static_cast<const char*>(sqlite3_column_blob(stmt, 0));
      out.emplace_back(text ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt, 0))) : "");
    }
    sqlite3_finalize(stmt);
    return out;
  }

  std::string text(const std::string& sql) {
    auto rows = column(sql);
    return rows.empty() ? std::string() : rows.front();
  }

  std::int64_t integer(const std::string& sql) {
    auto value = text(sql);
    return value.empty() ? 0 : std::stoll(value);
  }

  sqlite3* get() const noexcept { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace vigil::test
