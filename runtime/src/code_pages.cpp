#include "vigil/runtime/code_pages.hpp"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vigil::runtime {

std::size_t release_code_pages() noexcept {
  std::FILE* smaps = std::fopen("/proc/self/smaps", "re");
  if (smaps == nullptr) return 0;
  std::size_t released = 0;
  unsigned long start = 0, end = 0;
  bool candidate = false;
  char line[512];
  while (std::fgets(line, sizeof line, smaps) != nullptr) {
    unsigned long s = 0, e = 0;
    char perms[5] = {};
    char path[256] = {};
    // A mapping's header: start-end perms offset dev inode [path]
    if (std::sscanf(line, "%lx-%lx %4s %*s %*s %*s %255s", &s, &e, perms, path) >= 3 && std::strchr(line, '-') &&
        line[0] != ' ') {
      start = s, end = e;
      // Private code mapped from a file.
      candidate = std::strcmp(perms, "r-xp") == 0 && path[0] == '/';
      continue;
    }
    // Its "Anonymous:" line: 0 means no page was ever written (no text relocation), so the file
    // holds exactly its contents and dropping them loses nothing.
    if (candidate && std::strncmp(line, "Anonymous:", 10) == 0) {
      candidate = false;
      if (std::strtoul(line + 10, nullptr, 10) != 0) continue;
      if (::madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED) == 0) released += end - start;
    }
  }
  std::fclose(smaps);
  return released;
}

}  // namespace vigil::runtime
