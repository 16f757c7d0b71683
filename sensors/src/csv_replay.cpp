// Replay of a recorded CSV file through a source's key/time/fields mapping, as fast as the
// queue takes it, with a virtual clock driven only by the data.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "csv_file.hpp"
#include "event_batch.hpp"
#include "vigil/sensors/sensors.hpp"

namespace vigil::sensors {
namespace {

using runtime::Nanos;
using runtime::TimeUnit;

constexpr std::size_t kNoColumn = static_cast<std::size_t>(-1);


std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}


std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

/// Replays one CSV file on its own thread; see make_csv_replay.
class CsvReplay final : public runtime::Source {
 public:
  CsvReplay(const runtime::SourceSetup& setup, std::string csv_path)
      : csv_path_(std::move(csv_path)),
        source_name_(setup.name),
        index_(setup.index),
        keys_(setup.keys),
        fields_table_(setup.fields),
        mapping_(setup.mapping),
        batch_(reader_) {}

  ~CsvReplay() override { stop(); }

  // Opens the file, reads the header and resolves the mapped columns. Reports into `diag`.
  bool prepare(runtime::Diagnostics& diag, const std::string& path) {
    auto report = [&](const std::string& message) {
      diag.error(runtime::Mark{}, path, csv_path_ + ": " + message);
    };
    std::string error;
    if (!file_.open(csv_path_, error)) {
      report("cannot open: " + error);
      return false;
    }
    CsvRow header;
    CsvFile::Next found;
    do {
      found = file_.next(header);
    } while (found == CsvFile::Next::row && is_blank_row(header));
    if (found == CsvFile::Next::read_error) {
      report(std::string("cannot read: ") + std::strerror(file_.error()));
      return false;
    }
    if (found == CsvFile::Next::too_long) {
      report("the header line is longer than " + std::to_string(CsvFile::kBufferBytes) + " bytes");
      return false;
    }
    if (found == CsvFile::Next::end) {
      report("the file is empty; expected a header line naming the columns");
      return false;
    }
    // A row of n bytes has at most n + 1 cells.
    std::vector<std::string_view> cells(static_cast<std::size_t>(header.end - header.begin) + 1);
    std::size_t count = 0;
    if (split_csv_row(header.begin, header.end, cells, count) != CsvRowError::none) {
      report("line " + std::to_string(header.line) + ": the header line has a broken quoted cell");
      return false;
    }
    columns_.assign(cells.begin(), cells.begin() + static_cast<std::ptrdiff_t>(count));

    bool ok = true;
    auto column_of = [&](const std::string& name, const char* role) {
      auto it = std::find(columns_.begin(), columns_.end(), name);
      if (it != columns_.end()) return static_cast<std::size_t>(it - columns_.begin());
      report("column \"" + name + "\" (" + role + " of source \"" + source_name_ +
             "\") is not in the header; columns are: " + join(columns_));
      ok = false;
      return kNoColumn;
    };
    if (!mapping_.key.empty()) key_column_ = column_of(mapping_.key, "the key");
    if (mapping_.time.field.empty()) {
      report("source \"" + source_name_ + "\" takes event time from arrival, which a replay does not have; "
             "name the time column, e.g. time: {field: ts, unit: ms}");
      ok = false;
    } else {
      time_column_ = column_of(mapping_.time.field, "the time");
    }
    auto add_value_column = [&](std::size_t column) {
      if (std::find(value_columns_.begin(), value_columns_.end(), column) != value_columns_.end()) return;
      const runtime::FieldId id = fields_table_ ? fields_table_->intern(columns_[column]) : runtime::kNoField;
      if (id == runtime::kNoField) {
        report("cannot add field \"" + columns_[column] + "\": the field table is full");
        ok = false;
        return;
      }
      value_columns_.push_back(column);
      field_ids_.push_back(id);
    };
    if (mapping_.fields.empty()) {
      for (std::size_t c = 0; c < columns_.size(); ++c)
        if (c != key_column_ && c != time_column_ && !columns_[c].empty()) add_value_column(c);
      if (ok && value_columns_.empty()) {
        report("has no value columns besides the key and the time; columns are: " + join(columns_));
        ok = false;
      }
    } else {
      for (const auto& name : mapping_.fields) {
        const std::size_t c = column_of(name, "a field");
        if (c != kNoColumn) add_value_column(c);
      }
    }
    if (!ok) return false;
    cells_.resize(columns_.size());
    values_.resize(value_columns_.size());
    present_.resize(value_columns_.size());
    counters_.bytes.set(file_.bytes_read());
    return true;
  }

  runtime::Result<void> start(runtime::IngestQueue& queue) override {
    batch_.attach(queue);
    return reader_.start("the replay of " + csv_path_, [this] { run(); });
  }

  void stop() noexcept override {
    reader_.stop();
  }

  const runtime::SourceCounters& counters() const noexcept override { return counters_; }

 private:
  static bool is_blank_row(const CsvRow& row) noexcept {
    return std::all_of(row.begin, row.end, [](char c) { return c == ' ' || c == '\t'; });
  }

  void run() noexcept {
    CsvRow row;
    bool more = true;
    while (more && !reader_.requested()) {
      switch (file_.next(row)) {
        case CsvFile::Next::row:
          if (!is_blank_row(row) && !process_row(row)) return;
          break;
        case CsvFile::Next::too_long:
          malformed(row.line, "the row is longer than %zu bytes", CsvFile::kBufferBytes);
          break;
        case CsvFile::Next::read_error:
          std::fprintf(stderr, "vigil: %s: read failed: %s; the replay ends here\n", csv_path_.c_str(),
                       std::strerror(file_.error()));
          more = false;
          break;
        case CsvFile::Next::end:
          more = false;
          break;
      }
      counters_.bytes.set(file_.bytes_read());
    }
    if (reader_.requested()) return;
    runtime::Event end{};
    end.time = vnow_;
    end.source = index_;
    end.kind = runtime::EventKind::end_of_stream;
    if (batch_.add(end)) batch_.flush();
  }

  // False only when the source must stop (stop requested or queue closed).
  bool process_row(const CsvRow& row) noexcept {
    std::size_t count = 0;
    switch (split_csv_row(row.begin, row.end, cells_, count)) {
      case CsvRowError::none: break;
      case CsvRowError::unterminated_quote:
        return malformed(row.line, "a quoted cell has no closing quote");
      case CsvRowError::text_after_quote:
        return malformed(row.line, "text follows the closing quote of a cell");
    }
    if (count != cells_.size())
      return malformed(row.line, "%zu cells, the header has %zu", count, cells_.size());

    std::string_view key = source_name_;
    if (key_column_ != kNoColumn) {
      key = cells_[key_column_];
      if (key.empty()) return malformed(row.line, "the key column \"%s\" is empty", mapping_.key.c_str());
    }
    const std::string_view time_text = cells_[time_column_];
    const auto time = runtime::parse_time_value(time_text, mapping_.time.unit);
    if (!time) {
      const int shown = static_cast<int>(std::min<std::size_t>(time_text.size(), 64));
      if (mapping_.time.unit == TimeUnit::rfc3339)
        return malformed(row.line, "time \"%.*s\" in column \"%s\" is not an RFC 3339 time", shown,
                         time_text.data(), mapping_.time.field.c_str());
      const std::string_view unit = runtime::to_string(mapping_.time.unit);
      return malformed(row.line, "time \"%.*s\" in column \"%s\" is not a number of %.*s", shown,
                       time_text.data(), mapping_.time.field.c_str(), static_cast<int>(unit.size()),
                       unit.data());
    }

    std::size_t present = 0;
    for (std::size_t v = 0; v < value_columns_.size(); ++v) {
      const std::string_view cell = trim(cells_[value_columns_[v]]);
      present_[v] = !cell.empty();
      if (cell.empty()) continue;  // an empty (or blank) cell: no value for this field
      if (!runtime::parse_number(cell, values_[v])) {
        const int shown = static_cast<int>(std::min<std::size_t>(cell.size(), 64));
        const char* hint =
            mapping_.fields.empty() ? " (list the value columns in `fields:` to leave text columns out)" : "";
        return malformed(row.line, "\"%.*s\" in column \"%s\" is not a number%s", shown, cell.data(),
                         columns_[value_columns_[v]].c_str(), hint);
      }
      ++present;
    }

    if (present > 0) {
      if (const auto id = keys_->intern(key)) {
        std::uint8_t flags = runtime::kRecordBegin;
        for (std::size_t v = 0; v < value_columns_.size(); ++v) {
          if (!present_[v]) continue;
          runtime::Event e{};
          e.time = *time;
          e.value = values_[v];
          e.key = *id;
          e.field = field_ids_[v];
          e.source = index_;
          e.kind = runtime::EventKind::sample;
          e.flags = flags;
          flags = 0;
          if (!batch_.add(e)) return false;
        }
        counters_.records.add();
      } else {
        counters_.unknown_key.add();
      }
    }
    return advance_clock(*time);
  }

  // The virtual clock: the highest event time so far. A tick each time it moved by
  // idle_timeout/16 lets idle keys close their windows, exactly as live ticks would.
  bool advance_clock(Nanos time) noexcept {
    if (!seen_time_) {
      seen_time_ = true;
      vnow_ = time;
      last_tick_ = time;
      return true;
    }
    vnow_ = std::max(vnow_, time);
    const Nanos idle = mapping_.time.idle_timeout;
    if (idle <= 0) return true;
    const Nanos step = std::max<Nanos>(1, idle / 16);
    if (vnow_ - last_tick_ < step) return true;
    last_tick_ = vnow_;
    runtime::Event tick{};
    tick.time = vnow_;
    tick.source = index_;
    tick.kind = runtime::EventKind::tick;
    return batch_.add(tick);
  }

  // Counts a malformed row; the first one is described on stderr. Always true: a bad row is
  // data, and the replay goes on.
  __attribute__((format(printf, 3, 4))) bool malformed(std::uint64_t line, const char* format, ...) noexcept {
    counters_.malformed.add();
    if (reported_malformed_) return true;
    reported_malformed_ = true;
    char reason[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(reason, sizeof reason, format, args);
    va_end(args);
    std::fprintf(stderr, "vigil: %s:%llu: %s; further malformed rows are counted\n", csv_path_.c_str(),
                 static_cast<unsigned long long>(line), reason);
    return true;
  }

  std::string csv_path_;
  std::string source_name_;
  runtime::SourceIndex index_;
  runtime::KeyTable* keys_;
  runtime::FieldTable* fields_table_;
  runtime::RecordMapping mapping_;
  CsvFile file_;
  std::vector<std::string> columns_;  // header names
  std::size_t key_column_ = kNoColumn;  // kNoColumn: every record's key is the source name
  std::size_t time_column_ = kNoColumn;
  std::vector<std::size_t> value_columns_;
  std::vector<runtime::FieldId> field_ids_;  // parallel to value_columns_
  std::vector<std::string_view> cells_;      // one row's cells, reused
  std::vector<double> values_;               // one row's values, reused
  std::vector<char> present_;                // whether values_[i] was in the row
  runtime::SourceCounters counters_;
  EventBatch batch_;
  bool seen_time_ = false;
  Nanos vnow_ = runtime::kMinTime;
  Nanos last_tick_ = 0;
  bool reported_malformed_ = false;
  SourceThread reader_;  ///< declared last: it stops before the members its thread uses go
};

}  // namespace

std::unique_ptr<runtime::Source> make_csv_replay(const runtime::SourceSetup& setup,
                                                 const std::string& csv_path) {
  runtime::Diagnostics fallback;
  runtime::Diagnostics& diag = setup.diag ? *setup.diag : fallback;
  if (setup.keys == nullptr || setup.fields == nullptr) {
    diag.error(runtime::Mark{}, setup.path,
               csv_path + ": internal error: the replay has no key or field table");
    return nullptr;
  }
  auto source = std::make_unique<CsvReplay>(setup, csv_path);
  if (!source->prepare(diag, setup.path)) return nullptr;
  return source;
}

}  // namespace vigil::sensors
