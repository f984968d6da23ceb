#include "framework/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace pagescope {
namespace {

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// `result` for a call that failed with errno `err`.
template <typename Result>
Result Failed(Result result, int err) {
  result.status = StatusFromErrno(err);
  result.error = std::strerror(err);
  return result;
}

}  // namespace

ReadStatus StatusFromErrno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ESRCH:
    case ENODEV:
    case ENXIO:
    case EOPNOTSUPP:  // a feature compiled in but switched off (e.g. PSI with psi=0)
      return ReadStatus::kMissing;
    case EACCES:
    case EPERM:
      return ReadStatus::kDenied;
    default:
      return ReadStatus::kError;
  }
}

FsRoot::FsRoot(std::filesystem::path procfs, std::filesystem::path sysfs,
               std::filesystem::path rootfs)
    : procfs_(std::move(procfs)), sysfs_(std::move(sysfs)), rootfs_(std::move(rootfs)) {}

std::filesystem::path FsRoot::Join(const std::filesystem::path& base, std::string_view rel) {
  while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  if (rel.empty()) return base;
  return base / std::filesystem::path(rel);
}

std::filesystem::path FsRoot::Proc(std::string_view rel) const { return Join(procfs_, rel); }
std::filesystem::path FsRoot::Sys(std::string_view rel) const { return Join(sysfs_, rel); }
std::filesystem::path FsRoot::Root(std::string_view rel) const { return Join(rootfs_, rel); }

ReadResult FsRoot::ReadFile(const std::filesystem::path& path, std::size_t max_bytes) {
  ReadResult result;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return Failed(std::move(result), errno);
  FdCloser closer{fd};
  // Read straight into the string (no big stack buffer: every page of stack a thread touches
  // stays resident).
  std::size_t len = 0;
  result.content.resize(4096);
  for (;;) {
    if (len == result.content.size()) result.content.resize(result.content.size() * 2);
    ssize_t n = ::read(fd, result.content.data() + len, result.content.size() - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      result.status = StatusFromErrno(err);
      result.error = std::strerror(err);
      result.content.clear();
      return result;
    }
    if (n == 0) break;
    len += static_cast<std::size_t>(n);
    if (len > max_bytes) {
      result.status = ReadStatus::kError;
      result.error = "file larger than " + std::to_string(max_bytes) + " bytes";
      result.content.clear();
      return result;
    }
  }
  result.content.resize(len);
  result.status = ReadStatus::kOk;
  return result;
}

DirResult FsRoot::ReadDir(const std::filesystem::path& path) {
  return ReadDirFiltered(path, false);
}

DirResult FsRoot::ReadSubdirs(const std::filesystem::path& path) {
  return ReadDirFiltered(path, true);
}

DirResult FsRoot::ReadDirFiltered(const std::filesystem::path& path, bool dirs_only) {
  DirResult result;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return Failed(std::move(result), errno);
  std::unique_ptr<DIR, int (*)(DIR*)> guard(dir, ::closedir);
  errno = 0;
  while (dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (dirs_only) {
      bool is_dir = entry->d_type == DT_DIR;
      if (entry->d_type == DT_UNKNOWN) {
        struct stat st {};
        is_dir = ::fstatat(::dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                 S_ISDIR(st.st_mode);
      }
      if (!is_dir) continue;
    }
    result.names.emplace_back(name);
  }
  std::sort(result.names.begin(), result.names.end());
  result.status = ReadStatus::kOk;
  return result;
}

namespace {

// Reads the whole file from offset 0 with pread into `out`; 0 or an errno.
int PreadAll(int fd, std::string& out, std::size_t max_bytes, std::string& error) {
  std::size_t len = 0;
  out.resize(4096);
  for (;;) {
    if (len == out.size()) out.resize(out.size() * 2);
    ssize_t n = ::pread(fd, out.data() + len, out.size() - len, static_cast<off_t>(len));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) break;
    len += static_cast<std::size_t>(n);
    if (len > max_bytes) {
      error = "file larger than " + std::to_string(max_bytes) + " bytes";
      return -1;
    }
  }
  out.resize(len);
  return 0;
}

constexpr long kSysfsMagic = 0x62656572;  // SYSFS_MAGIC, linux/magic.h

}  // namespace

OpenFiles::Fd::~Fd() { ::close(fd); }

OpenFiles::~OpenFiles() = default;

std::size_t OpenFiles::open_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fds_.size();
}

ReadResult OpenFiles::Read(const std::filesystem::path& path, std::size_t max_bytes) {
  ReadResult result;
  std::shared_ptr<Fd> kept;
  bool room = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = fds_.find(path.native());
    if (it != fds_.end()) kept = it->second;
    room = fds_.size() < max_open_;
  }
  if (kept) {
    int err = PreadAll(kept->fd, result.content, max_bytes, result.error);
    if (err == 0) {
      result.status = ReadStatus::kOk;
      return result;
    }
    // Removed (ENODEV) or failing: forget the descriptor and go the plain way below.
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = fds_.find(path.native());
      if (it != fds_.end() && it->second == kept) fds_.erase(it);
    }
    kept.reset();
    result.content.clear();
    result.error.clear();
  }
  if (!room) return FsRoot::ReadFile(path, max_bytes);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return Failed(std::move(result), errno);
  auto opened = std::make_shared<Fd>(fd);
  struct statfs sfs;
  bool keep = ::fstatfs(fd, &sfs) == 0 && static_cast<long>(sfs.f_type) == kSysfsMagic;
  int err = PreadAll(fd, result.content, max_bytes, result.error);
  if (err != 0) {
    result.content.clear();
    result.status = ReadStatus::kError;
    if (err > 0) {
      result.status = StatusFromErrno(err);
      result.error = std::strerror(err);
    }
    return result;
  }
  if (keep) {
    std::lock_guard<std::mutex> lock(mu_);
    // Another reader may have kept one meanwhile: then this one closes with `opened`.
    if (fds_.size() < max_open_) fds_.emplace(path.native(), std::move(opened));
  }
  result.status = ReadStatus::kOk;
  return result;
}

}  // namespace pagescope
