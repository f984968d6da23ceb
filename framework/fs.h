#pragma once
// The one place that knows where the kernel's files live. Collectors ask an FsRoot for paths
// below the injected procfs, sysfs and root mount points (--path.procfs, --path.sysfs,
// --path.rootfs), so tests can point it at a fixture tree and containers at /host.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pagescope {

enum class ReadStatus {
  kOk,
  kMissing,  // ENOENT, ENOTDIR, ESRCH, ENODEV, ENXIO, EOPNOTSUPP: the kernel lacks it (or has it
             // switched off) or the process exited
  kDenied,   // EACCES, EPERM
  kError,    // anything else: EISDIR, EIO, too large
};

// How an errno from open/read/opendir maps to the error taxonomy.
ReadStatus StatusFromErrno(int err);

struct ReadResult {
  ReadStatus status = ReadStatus::kError;
  std::string content;
  std::string error;  // strerror text or reason, empty when kOk
};

struct DirResult {
  ReadStatus status = ReadStatus::kError;
  std::vector<std::string> names;  // sorted, without "." and ".."
  std::string error;
};

class FsRoot {
 public:
  FsRoot() : FsRoot("/proc", "/sys", "/") {}
  FsRoot(std::filesystem::path procfs, std::filesystem::path sysfs, std::filesystem::path rootfs);

  // `rel` is relative to the mount point: Proc("meminfo"), Sys("kernel/mm/ksm").
  std::filesystem::path Proc(std::string_view rel = {}) const;
  std::filesystem::path Sys(std::string_view rel = {}) const;
  std::filesystem::path Root(std::string_view rel = {}) const;

  const std::filesystem::path& procfs() const { return procfs_; }
  const std::filesystem::path& sysfs() const { return sysfs_; }
  const std::filesystem::path& rootfs() const { return rootfs_; }

  // Reads a whole file without trusting its reported size (proc files say 0).
  static ReadResult ReadFile(const std::filesystem::path& path,
                             std::size_t max_bytes = kDefaultMaxBytes);
  static DirResult ReadDir(const std::filesystem::path& path);
  // Like ReadDir, but only the entries that are directories themselves (not symlinks to one),
  // from the entries' d_type (lstat where the filesystem does not give it).
  static DirResult ReadSubdirs(const std::filesystem::path& path);

  static constexpr std::size_t kDefaultMaxBytes = 64 << 20;

 private:
  static DirResult ReadDirFiltered(const std::filesystem::path& path, bool dirs_only);
  static std::filesystem::path Join(const std::filesystem::path& base, std::string_view rel);
  std::filesystem::path procfs_;
  std::filesystem::path sysfs_;
  std::filesystem::path rootfs_;
};

// Descriptors of sysfs files kept open between scrapes: a sysfs attribute regenerates its
// content on every read from offset 0, and opening one (a kernfs path lookup) costs about 7
// times what the pread costs. Only files on a real sysfs (statfs magic) are kept: their set is
// fixed for the kernel's lifetime except for memory hotplug; a file whose node was removed reads
// ENODEV, is closed and opened afresh. Other files (fixture trees, /proc) are read the plain
// way. At most `max_open` descriptors (default 512) are kept; beyond that files are opened per
// read. Thread-safe: the lock guards only the table, never a read, so one read that blocks (a
// file whose read hangs) holds up no other reader.
class OpenFiles {
 public:
  explicit OpenFiles(std::size_t max_open = 512) : max_open_(max_open) {}
  ~OpenFiles();
  OpenFiles(const OpenFiles&) = delete;
  OpenFiles& operator=(const OpenFiles&) = delete;

  // Same contract as FsRoot::ReadFile.
  ReadResult Read(const std::filesystem::path& path,
                  std::size_t max_bytes = FsRoot::kDefaultMaxBytes);
  std::size_t open_count() const;

 private:
  // A kept descriptor, closed when the table has dropped it and no read uses it any more.
  struct Fd {
    explicit Fd(int f) : fd(f) {}
    ~Fd();
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int fd;
  };
  std::size_t max_open_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Fd>> fds_;
};

}  // namespace pagescope
