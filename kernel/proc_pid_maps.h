#pragma once
// /proc/<pid>/maps (Documentation/filesystems/proc.rst, "/proc/PID/maps"; proc(5)): one line per
// mapping (VMA) of the process,
//   address           perms offset   dev   inode      pathname
//   7f07afc00000-7f07afe00000 rw-p 00000000 00:11 42989  /anon_hugepage (deleted)
// addresses, offset and dev (major:minor) in hex, inode in decimal, the pathname (absent for
// anonymous mappings; "[heap]", "[stack]", "[vdso]", "[anon:NAME]"; " (deleted)" appended for an
// unlinked file; a newline in it escaped as "\012") after blanks that pad it to a column.
// Reading it costs per mapping, never per page: the kernel formats one line per VMA and walks no
// page table, under the mmap_lock per read chunk, or per-VMA locks only on newer kernels (6.18
// here; docs/processes-and-vms.md, "Estimated placement").

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pagescope {

struct ProcPidMapsEntry {
  std::uint64_t start = 0;
  std::uint64_t end = 0;  // exclusive
  bool read = false;
  bool write = false;
  bool exec = false;
  bool shared = false;  // 's' (MAP_SHARED) or 'p' (private)
  std::uint64_t offset = 0;
  std::uint32_t dev_major = 0;
  std::uint32_t dev_minor = 0;
  std::uint64_t inode = 0;
  std::string name;  // as printed: a path, "[heap]", "[anon:…]", empty for anonymous memory
};

// Every line, in order. Throws ParseError naming the line on a malformed one (an address range
// that is empty or reversed, a bad perms field, a number that is not one).
std::vector<ProcPidMapsEntry> ParseProcPidMaps(std::string_view text);

}  // namespace pagescope
