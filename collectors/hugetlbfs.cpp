#include "collectors/hugetlbfs.h"

#include <sys/statfs.h>

#include <cerrno>
#include <cstring>

#include "collectors/meminfo.h"
#include "kernel/parse.h"
#include "kernel/sysfs.h"

namespace pagescope {

namespace {

class RealStatfsSource : public StatfsSource {
 public:
  std::optional<StatfsResult> Statfs(const FsRoot& fs, const std::string& mount_point,
                                     ReadStatus* status, std::string* error) const override {
    struct statfs st {};
    auto path = fs.Root(mount_point);
    if (::statfs(path.c_str(), &st) != 0) {
      int err = errno;
      switch (err) {
        case ENOENT:
        case ENOTDIR:
          *status = ReadStatus::kMissing;
          break;
        case EACCES:
        case EPERM:
          *status = ReadStatus::kDenied;
          break;
        default:
          *status = ReadStatus::kError;
      }
      *error = std::strerror(err);
      return std::nullopt;
    }
    *status = ReadStatus::kOk;
    StatfsResult r;
    r.type = static_cast<std::uint64_t>(st.f_type) & 0xffffffffu;
    r.bsize = static_cast<std::uint64_t>(st.f_bsize);
    r.blocks = static_cast<std::uint64_t>(st.f_blocks);
    r.bfree = static_cast<std::uint64_t>(st.f_bfree);
    return r;
  }
};

class FakeStatfsSource : public StatfsSource {
 public:
  explicit FakeStatfsSource(std::map<std::string, StatfsResult> results)
      : results_(std::move(results)) {}
  std::optional<StatfsResult> Statfs(const FsRoot&, const std::string& mount_point,
                                     ReadStatus* status, std::string* error) const override {
    auto it = results_.find(mount_point);
    if (it == results_.end()) {
      *status = ReadStatus::kMissing;
      *error = "no such mount point among the fake statfs results";
      return std::nullopt;
    }
    *status = ReadStatus::kOk;
    return it->second;
  }

 private:
  std::map<std::string, StatfsResult> results_;
};

class HugetlbfsCollector : public Collector {
 public:
  explicit HugetlbfsCollector(std::unique_ptr<StatfsSource> statfs) : statfs_(std::move(statfs)) {}

  void Collect(const Context& ctx, MetricSink& out) override {
    // PID 1's mount table is the host's when pagescope runs in a container with the host's
    // /proc; our own is the fallback (node_exporter does the same).
    auto path = ctx.fs().Proc("1/mountinfo");
    auto text = ctx.ReadQuiet(path);
    if (!text) {
      path = ctx.fs().Proc("self/mountinfo");
      text = ctx.Read(path);
    }
    if (!text) return;
    auto entries = ParseFile(path, [&] { return ParseMountinfo(*text); });

    // The last mount on a mount point is the one that is visible there (a hugetlbfs hidden
    // under a later mount cannot be statfs'ed and is left out).
    std::map<std::string, const MountinfoEntry*> mounts;
    for (const auto& e : entries) mounts[e.mount_point] = &e;
    std::erase_if(mounts, [](const auto& m) { return m.second->fs_type != "hugetlbfs"; });
    if (mounts.empty()) return;

    std::optional<std::optional<std::uint64_t>> default_size;
    std::map<std::uint64_t, std::uint64_t> limited_used;  // page size -> bytes
    std::map<std::uint64_t, std::vector<Labels>> unlimited;
    for (const auto& [mount_point, e] : mounts) {
      HugetlbfsOptions o;
      try {
        o = ParseHugetlbfsOptions(e->super_options);
      } catch (const ParseError& err) {
        out.Fail(path.string() + ": mount point " + mount_point + ": " + err.what());
        continue;
      }
      if (!o.page_size) {
        if (!default_size) default_size = ReadMeminfoValue(ctx, "Hugepagesize", out);
        o.page_size = *default_size;
      }
      if (!o.page_size) continue;  // no hugetlb support: no size to name the mount by
      Labels l{{"mountpoint", mount_point}, {"page_size", parse::PageSizeLabel(*o.page_size)}};
      Labels info = l;
      info.emplace_back("size_limited", o.size ? "true" : "false");
      out.Info("pagescope_hugetlbfs_info",
               "A hugetlbfs mount: its page size and whether it has a size= limit (only limited "
               "mounts report size and free bytes).",
               info);
      if (o.min_size) {
        out.Gauge("pagescope_hugetlbfs_min_size_bytes",
                  "Hugepages reserved for this mount from the pool at mount time (min_size=).", l,
                  static_cast<double>(*o.min_size));
      }

      ReadStatus status = ReadStatus::kOk;
      std::string error;
      auto st = statfs_->Statfs(ctx.fs(), mount_point, &status, &error);
      if (!st) {
        auto where = ctx.fs().Root(mount_point);
        if (status == ReadStatus::kDenied) {
          ctx.WarnDenied(where, error);
        } else if (status == ReadStatus::kError) {
          out.Fail("statfs " + where.string() + ": " + error);
        } else if (log::Enabled(log::Level::kDebug)) {
          log::Debug("hugetlbfs mount point not visible below the root, no size",
                     {{"path", where.string()}, {"err", error}});
        }
        continue;
      }
      // Another filesystem there: the mount is not visible below --path.rootfs.
      if (st->type != kHugetlbfsMagic) continue;
      // Without a size limit hugetlbfs leaves f_blocks 0 (no subpool) or -1 (min_size only).
      if (st->blocks == 0 || st->blocks == UINT64_MAX || st->bfree > st->blocks || st->bsize == 0) {
        unlimited[*o.page_size].push_back(l);
        continue;
      }
      limited_used[*o.page_size] += (st->blocks - st->bfree) * st->bsize;
      out.Gauge("pagescope_hugetlbfs_size_bytes",
                "Size limit of this hugetlbfs mount (size=), from statfs; absent for mounts "
                "without a limit.",
                l, static_cast<double>(st->blocks) * static_cast<double>(st->bsize));
      out.Gauge("pagescope_hugetlbfs_free_bytes",
                "Bytes this hugetlbfs mount can still take before its size limit, from statfs: "
                "pages reserved or faulted by its files count as used.",
                l, static_cast<double>(st->bfree) * static_cast<double>(st->bsize));
    }
    EmitUnlimitedUpperBounds(ctx, limited_used, unlimited, out);
  }

 private:
  // A mount without size= keeps no count of its own. What all hugetlb users of a page size hold
  // is the pool's in-use plus reserved pages; the limited mounts of that size account for their
  // part through statfs; the rest is the most the unlimited mounts can hold (it also covers
  // MAP_HUGETLB and SHM_HUGETLB memory, which lives on no visible mount).
  static void EmitUnlimitedUpperBounds(
      const Context& ctx, const std::map<std::uint64_t, std::uint64_t>& limited_used,
      const std::map<std::uint64_t, std::vector<Labels>>& unlimited, MetricSink& out) {
    for (const auto& [size, labels] : unlimited) {
      auto dir =
          ctx.fs().Sys("kernel/mm/hugepages/hugepages-" + std::to_string(size / 1024) + "kB");
      auto total = ReadU64File(ctx, dir / "nr_hugepages", out);
      auto free = ReadU64File(ctx, dir / "free_hugepages", out);
      auto resv = ReadU64File(ctx, dir / "resv_hugepages", out);
      if (!total || !free || !resv || *free > *total) continue;
      double held = static_cast<double>(*total - *free + *resv) * static_cast<double>(size);
      auto it = limited_used.find(size);
      if (it != limited_used.end()) held -= static_cast<double>(it->second);
      for (const auto& l : labels) {
        out.Gauge("pagescope_hugetlbfs_used_upper_bound_bytes",
                  "For a hugetlbfs mount without size=: the most its files can hold, from the "
                  "pool of its page size (in use plus reserved pages) minus what the size-limited "
                  "mounts of that size hold; includes MAP_HUGETLB and SysV SHM_HUGETLB memory, "
                  "and is shared by all unlimited mounts of the size.",
                  l, held > 0 ? held : 0.0);
      }
    }
  }

  std::unique_ptr<StatfsSource> statfs_;
};

}  // namespace

std::unique_ptr<StatfsSource> RealStatfs() { return std::make_unique<RealStatfsSource>(); }

std::unique_ptr<StatfsSource> FakeStatfs(std::map<std::string, StatfsResult> results) {
  return std::make_unique<FakeStatfsSource>(std::move(results));
}

std::unique_ptr<Collector> MakeHugetlbfsCollector(std::unique_ptr<StatfsSource> statfs) {
  return std::make_unique<HugetlbfsCollector>(std::move(statfs));
}

CollectorSpec HugetlbfsCollectorSpec() {
  CollectorSpec spec;
  spec.name = "hugetlbfs";
  spec.default_enabled = true;
  spec.help = "hugetlbfs mounts: page size, and size and free bytes of mounts with a size limit";
  spec.sources = "/proc/1/mountinfo (or /proc/self/mountinfo), statfs(2) below --path.rootfs";
  spec.make = [](const CollectorOptions&) { return MakeHugetlbfsCollector(RealStatfs()); };
  return spec;
}

}  // namespace pagescope
