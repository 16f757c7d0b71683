#pragma once
// Helpers shared by the test binaries: temporary folders, files, and running a real process.
#include <string>
#include <vector>

namespace vigil::test {

/// A fresh folder under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const noexcept { return path_; }
  /// path()/name
  std::string file(const std::string& name) const;

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);
std::vector<std::string> split_lines(const std::string& text);

/// Member `name` of a summary's JSON line as a number (NaN for null); throws when absent.
double summary_number(const std::string& line, const std::string& name);
/// The "key" member of a summary's JSON line.
std::string summary_key(const std::string& line);

/// What a finished process left.
struct ProcessResult {
  int exit_code = -1;  ///< exit status, or 128+signal
  std::string out;
  std::string err;
  bool timed_out = false;
};

/// Runs `argv` with stdin from /dev/null, capturing stdout and stderr; kills it (SIGKILL)
/// after `timeout_ms`. `env` entries "K=V" are added to the environment.
ProcessResult run_process(const std::vector<std::string>& argv, int timeout_ms = 60'000,
                          const std::vector<std::string>& env = {});

/// Path of a file in the source tree (VIGIL_SOURCE_DIR/relative).
std::string source_path(const std::string& relative);

/// The `sources:` block of a config fed from a CSV with columns ts (ms), machine, temp and vib
/// (`vigil replay` or `vigil train --input`): one source named `line`.
std::string temp_vib_csv_sources();

}  // namespace vigil::test
