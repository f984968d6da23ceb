#pragma once
// hugetlbfs mounts (Documentation/admin-guide/mm/hugetlbpage.rst, "Using Huge Pages";
// fs/hugetlbfs/inode.c): every hugetlbfs mount of the mount table
// (/proc/1/mountinfo, falling back to /proc/self/mountinfo; Documentation/filesystems/proc.rst,
// "/proc/<pid>/mountinfo") with its page size and, where the mount has a size= limit, its size
// and free space from statfs(2) of the mount point below --path.rootfs. Without a size limit
// hugetlbfs reports no blocks in statfs; for such mounts the most they can hold comes from the
// pool of their page size (in use + reserved pages) minus what the limited mounts of that size
// hold (pagescope_hugetlbfs_used_upper_bound_bytes).

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framework/collector.h"
#include "kernel/proc_mountinfo.h"

namespace pagescope {

// ParseHugetlbfsOptions (a mount's pagesize=, size=, min_size=): kernel/proc_mountinfo.h.

// What statfs(2) says about a path; the part pagescope uses.
struct StatfsResult {
  std::uint64_t type = 0;  // f_type
  std::uint64_t bsize = 0;
  std::uint64_t blocks = 0;
  std::uint64_t bfree = 0;
};
inline constexpr std::uint64_t kHugetlbfsMagic = 0x958458f6;

// The statfs call, behind an interface so tests can supply results.
class StatfsSource {
 public:
  virtual ~StatfsSource() = default;
  // statfs of `mount_point` (as the mount table names it) as seen below `fs`'s root. nullopt
  // with `status` kMissing (no such path), kDenied or kError and `error` set.
  virtual std::optional<StatfsResult> Statfs(const FsRoot& fs, const std::string& mount_point,
                                             ReadStatus* status, std::string* error) const = 0;
};
// statfs(2) of fs.Root(mount_point).
std::unique_ptr<StatfsSource> RealStatfs();
// Fixed results keyed by mount point; any other mount point is kMissing.
std::unique_ptr<StatfsSource> FakeStatfs(std::map<std::string, StatfsResult> results);

// The collector with an explicit statfs source: the spec uses RealStatfs(), tests FakeStatfs
// (fixture trees cannot hold hugetlbfs mounts; tests/unit/test_util.h reads
// tests/fixtures/<case>/statfs.yml).
std::unique_ptr<Collector> MakeHugetlbfsCollector(std::unique_ptr<StatfsSource> statfs);

CollectorSpec HugetlbfsCollectorSpec();

}  // namespace pagescope
