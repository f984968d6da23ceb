#pragma once
// /proc/<pid>/mountinfo (Documentation/filesystems/proc.rst, "/proc/<pid>/mountinfo"; proc(5)):
// one parser for the hugetlbfs collector (which mounts are hugetlbfs) and the qemu collector
// (whether a guest's mem-path lies on hugetlbfs).

#include <string>
#include <string_view>
#include <vector>

namespace pagescope {

// One line of /proc/<pid>/mountinfo, escapes (\040 for a space, …) decoded.
struct MountinfoEntry {
  std::string mount_point;    // field 5
  std::string mount_options;  // field 6, per-mount options ("rw,relatime")
  std::string fs_type;        // first field after the "-" separator
  std::string source;         // "none", "hugetlbfs", a device
  std::string super_options;  // per-superblock options ("rw,pagesize=2M,size=8388608")
};

// Every line, in order. Throws ParseError naming the line on a malformed one.
std::vector<MountinfoEntry> ParseMountinfo(std::string_view text);
// The filesystem type of the mount holding `path` (longest mount-point prefix; of equal ones the
// last, since later mounts stack on earlier ones), or empty.
std::string FsTypeOf(const std::vector<MountinfoEntry>& mounts, std::string_view path);

}  // namespace pagescope
