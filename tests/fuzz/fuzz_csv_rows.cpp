// Fuzzes CSV reading: the row splitter on single rows, and the buffered file reader on whole
// files (held in an anonymous in-memory file).
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "csv_file.hpp"

namespace sensors = vigil::sensors;

namespace {

void split_rows(const std::uint8_t* data, std::size_t size) {
  std::vector<char> row(data, data + size);
  std::array<std::string_view, 16> cells{};
  std::size_t count = 0;
  const auto error = sensors::split_csv_row(row.data(), row.data() + row.size(), cells, count);
  if (error != sensors::CsvRowError::none) return;
  const char* lo = row.data();
  const char* hi = row.data() + row.size();
  for (std::size_t i = 0; i < count && i < cells.size(); ++i) {
    const auto& c = cells[i];
    if (!c.empty() && (c.data() < lo || c.data() + c.size() > hi)) __builtin_trap();
  }
}

void read_file(const std::uint8_t* data, std::size_t size) {
  static const int fd = memfd_create("vigil-fuzz-csv", 0);
  if (fd < 0) return;
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return;
  sensors::CsvFile file;
  std::string error;
  if (!file.open("/proc/self/fd/" + std::to_string(fd), error)) return;
  sensors::CsvRow row;
  std::array<std::string_view, 16> cells{};
  for (int rows = 0; rows < 4096; ++rows) {
    const auto next = file.next(row);
    if (next == sensors::CsvFile::Next::end || next == sensors::CsvFile::Next::read_error) break;
    if (next != sensors::CsvFile::Next::row) continue;
    if (row.begin > row.end) __builtin_trap();
    std::size_t count = 0;
    (void)sensors::split_csv_row(row.begin, row.end, cells, count);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  split_rows(data, size);
  read_file(data, size);
  return 0;
}
