#pragma once
// /proc/<pid>/mountinfo (Documentation/filesystems/proc.rst, "/proc/<pid>/mountinfo"; proc(5)):
// one parser for the hugetlbfs collector (which mounts are hugetlbfs) and the qemu collector
// (whether a guest's mem-path lies on hugetlbfs), and for the placement sampler (the page size of
// a mapping's hugetlbfs mount, found by the device number /proc/<pid>/maps shows).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pagescope {

// One line of /proc/<pid>/mountinfo, escapes (\040 for a space, …) decoded.
struct MountinfoEntry {
  std::uint32_t dev_major = 0;  // field 3, the st_dev of files on it (/proc/<pid>/maps' dev)
  std::uint32_t dev_minor = 0;
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

// The hugetlbfs options of a mount (its super_options, hugetlbfs_show_options): pagesize=
// (absent: the default hugepage size), size= and min_size= in bytes.
struct HugetlbfsOptions {
  std::optional<std::uint64_t> page_size;
  std::optional<std::uint64_t> size;
  std::optional<std::uint64_t> min_size;
};
// Throws ParseError(1, …) on an option value that is not a size.
HugetlbfsOptions ParseHugetlbfsOptions(std::string_view super_options);

}  // namespace pagescope
