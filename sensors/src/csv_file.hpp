#pragma once
// Reading CSV (RFC 4180 plus common habits: CRLF, a UTF-8 BOM, spaces around unquoted cells)
// from a file in large chunks, one complete row at a time, without allocating per row.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::sensors {

/// Why a row could not be split into cells.
enum class CsvRowError : std::uint8_t {
  none,
  unterminated_quote,  ///< a quoted cell runs to the end of the row (and of the file)
  text_after_quote,    ///< `"abc"x`: something other than a comma follows a closing quote
};

/// Splits one complete row (no line terminator) into cells. Quoted cells are unescaped in place
/// (`""` becomes `"`), so views point into the row; unquoted cells lose surrounding spaces and
/// tabs. Stores up to `cells.size()` views and returns the count of all cells in `count`.
CsvRowError split_csv_row(char* begin, char* end, std::span<std::string_view> cells,
                          std::size_t& count) noexcept;

/// One complete row as found in the file: [begin, end) without its line terminator (a CR before
/// the LF is dropped); `line` is the 1-based line where it starts.
struct CsvRow {
  char* begin = nullptr;
  char* end = nullptr;
  std::uint64_t line = 0;
};

/// A CSV file read through one fixed buffer. Rows may span reads; a row longer than the buffer
/// is reported as too long and skipped up to the next line break. One thread at a time.
class CsvFile {
 public:
  static constexpr std::size_t kBufferBytes = std::size_t{1} << 20;

  /// What next() found.
  enum class Next : std::uint8_t { row, too_long, end, read_error };

  CsvFile() = default;
  ~CsvFile();
  CsvFile(const CsvFile&) = delete;
  CsvFile& operator=(const CsvFile&) = delete;

  /// Opens `path` and allocates the buffer; on failure returns the errno text.
  bool open(const std::string& path, std::string& error);
  /// The next row; too_long leaves `row.line` set; read_error leaves errno text in error().
  /// Skips a UTF-8 byte order mark at the start of the file. Allocation-free.
  Next next(CsvRow& row) noexcept;

  std::uint64_t bytes_read() const noexcept { return bytes_read_; }
  int error() const noexcept { return errno_; }

 private:
  bool refill() noexcept;

  int fd_ = -1;
  std::vector<char> buffer_;
  char* pos_ = nullptr;  // first byte not yet returned
  char* end_ = nullptr;  // end of the data read
  bool eof_ = false;
  bool skipping_ = false;   // discarding the rest of a too-long row
  bool started_ = false;    // the BOM check is done
  std::uint64_t line_ = 1;  // line of pos_
  std::uint64_t bytes_read_ = 0;
  int errno_ = 0;
};

}  // namespace vigil::sensors
