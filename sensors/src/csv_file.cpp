#include "csv_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace vigil::sensors {
namespace {

bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }

// Where the row starting at `p` ends: its LF outside quotes, or nullptr if [p, end) holds no
// complete row. Counts LFs inside quoted cells so line numbers stay right. Quotes only open a
// cell at its start, exactly as split_csv_row reads them.
char* find_row_end(char* p, char* end, std::uint64_t& quoted_breaks) noexcept {
  auto* lf = static_cast<char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
  char* row_end = lf ? lf : end;
  if (!std::memchr(p, '"', static_cast<std::size_t>(row_end - p))) return lf;  // the common case

  enum class State : std::uint8_t { cell_start, unquoted, quoted, after_quote } state = State::cell_start;
  for (char* q = p; q < end; ++q) {
    const char c = *q;
    switch (state) {
      case State::cell_start:
        if (c == '\n') return q;
        if (c == '"') state = State::quoted;
        else if (c != ',' && !is_blank(c)) state = State::unquoted;
        break;
      case State::unquoted:
        if (c == '\n') return q;
        if (c == ',') state = State::cell_start;
        break;
      case State::quoted:
        if (c == '"') state = State::after_quote;
        else if (c == '\n') ++quoted_breaks;
        break;
      case State::after_quote:  // a quote inside a quoted cell: closing, or the first of ""
        if (c == '\n') return q;
        if (c == '"') state = State::quoted;
        else if (c == ',') state = State::cell_start;
        else state = State::unquoted;  // text after the closing quote; split_csv_row reports it
        break;
    }
  }
  return nullptr;
}

}  // namespace

CsvRowError split_csv_row(char* begin, char* end, std::span<std::string_view> cells,
                          std::size_t& count) noexcept {
  count = 0;
  char* p = begin;
  for (;;) {
    while (p < end && is_blank(*p)) ++p;
    std::string_view cell;
    if (p < end && *p == '"') {
      ++p;
      char* const start = p;
      char* w = p;  // unescapes in place: the write position never passes the read position
      for (;;) {
        if (p >= end) return CsvRowError::unterminated_quote;
        if (*p == '"') {
          if (p + 1 < end && p[1] == '"') {
            *w++ = '"';
            p += 2;
            continue;
          }
          ++p;
          break;
        }
        *w++ = *p++;
      }
      cell = std::string_view(start, static_cast<std::size_t>(w - start));
      while (p < end && is_blank(*p)) ++p;
      if (p < end && *p != ',') return CsvRowError::text_after_quote;
    } else {
      char* comma = nullptr;
      if (p < end) comma = static_cast<char*>(std::memchr(p, ',', static_cast<std::size_t>(end - p)));
      char* const stop = comma ? comma : end;
      char* e = stop;
      while (e > p && is_blank(e[-1])) --e;
      cell = std::string_view(p, static_cast<std::size_t>(e - p));
      p = stop;
    }
    if (count < cells.size()) cells[count] = cell;
    ++count;
    if (p >= end) return CsvRowError::none;
    ++p;  // the comma; a comma at the very end leaves one more, empty, cell
  }
}

CsvFile::~CsvFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool CsvFile::open(const std::string& path, std::string& error) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    error = std::strerror(errno);
    return false;
  }
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  buffer_.resize(kBufferBytes);
  pos_ = end_ = buffer_.data();
  return true;
}

bool CsvFile::refill() noexcept {
  if (eof_) return true;
  char* const base = buffer_.data();
  const auto rest = static_cast<std::size_t>(end_ - pos_);
  if (pos_ != base) std::memmove(base, pos_, rest);
  pos_ = base;
  end_ = base + rest;
  ssize_t n;
  do {
    n = ::read(fd_, end_, buffer_.size() - rest);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    errno_ = errno;
    eof_ = true;
    return false;
  }
  if (n == 0) eof_ = true;
  end_ += n;
  bytes_read_ += static_cast<std::uint64_t>(n);
  return true;
}

CsvFile::Next CsvFile::next(CsvRow& row) noexcept {
  if (!started_) {
    started_ = true;
    if (!refill()) return Next::read_error;
    if (end_ - pos_ >= 3 && std::memcmp(pos_, "\xEF\xBB\xBF", 3) == 0) pos_ += 3;
  }
  for (;;) {
    if (skipping_) {
      auto* lf = static_cast<char*>(std::memchr(pos_, '\n', static_cast<std::size_t>(end_ - pos_)));
      if (lf) {
        pos_ = lf + 1;
        ++line_;
        skipping_ = false;
      } else {
        pos_ = end_;
        if (eof_) return Next::end;
        if (!refill()) return Next::read_error;
        continue;
      }
    }
    if (pos_ < end_) {
      std::uint64_t quoted_breaks = 0;
      char* lf = find_row_end(pos_, end_, quoted_breaks);
      if (lf || eof_) {
        row.begin = pos_;
        row.end = lf ? lf : end_;
        row.line = line_;
        if (row.end > row.begin && row.end[-1] == '\r') --row.end;
        line_ += quoted_breaks + (lf ? 1 : 0);
        pos_ = lf ? lf + 1 : end_;
        return Next::row;
      }
      if (pos_ == buffer_.data() && end_ == buffer_.data() + buffer_.size()) {
        row.begin = row.end = pos_;
        row.line = line_;
        line_ += static_cast<std::uint64_t>(std::count(pos_, end_, '\n'));
        pos_ = end_;
        skipping_ = true;
        return Next::too_long;
      }
    } else if (eof_) {
      return Next::end;
    }
    if (!refill()) return Next::read_error;
  }
}

}  // namespace vigil::sensors
