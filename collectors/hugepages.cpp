#include "collectors/hugepages.h"

#include <algorithm>

#include "kernel/parse.h"
#include "kernel/sysfs.h"

namespace pagescope {
namespace {

class HugepagesCollector : public Collector {
 public:
  void Collect(const Context& ctx, MetricSink& out) override {
    for (const auto& pool : ReadHugepagePools(ctx, ctx.fs().Sys("kernel/mm/hugepages"), out)) {
      Labels l{{"page_size", parse::PageSizeLabel(pool.page_size_bytes)}};
      out.Gauge("pagescope_hugepages_page_size_bytes", "Size of one hugepage of this pool.", l,
                static_cast<double>(pool.page_size_bytes));
      auto gauge = [&](const char* name, const char* help, const std::optional<std::uint64_t>& v) {
        if (v) out.Gauge(name, help, l, static_cast<double>(*v));
      };
      gauge("pagescope_hugepages_pool_pages",
            "Hugepages in the persistent pool of this size (nr_hugepages).", pool.nr);
      gauge("pagescope_hugepages_free_pages",
            "Hugepages of this size not yet allocated to any mapping (free_hugepages); reserved "
            "pages are still counted as free.",
            pool.free);
      gauge("pagescope_hugepages_reserved_pages",
            "Hugepages of this size promised to mappings but not yet faulted in "
            "(resv_hugepages).",
            pool.reserved);
      gauge("pagescope_hugepages_surplus_pages",
            "Hugepages of this size allocated above the persistent pool through overcommit "
            "(surplus_hugepages).",
            pool.surplus);
      gauge("pagescope_hugepages_overcommit_limit_pages",
            "Maximum number of surplus hugepages of this size (nr_overcommit_hugepages).",
            pool.overcommit);
    }
  }
};

}  // namespace

std::vector<HugepagePool> ReadHugepagePools(const Context& ctx, const std::filesystem::path& dir,
                                            MetricSink& out) {
  std::vector<HugepagePool> pools;
  auto names = ctx.ReadDir(dir);
  if (!names) return pools;
  for (const auto& name : *names) {
    auto bytes = parse::HugepageDirBytes(name);
    if (!bytes) continue;
    std::filesystem::path d = dir / name;
    HugepagePool p;
    p.page_size_bytes = *bytes;
    p.nr = ReadU64File(ctx, d / "nr_hugepages", out);
    p.free = ReadU64File(ctx, d / "free_hugepages", out);
    p.reserved = ReadU64File(ctx, d / "resv_hugepages", out);
    p.surplus = ReadU64File(ctx, d / "surplus_hugepages", out);
    p.overcommit = ReadU64File(ctx, d / "nr_overcommit_hugepages", out);
    pools.push_back(p);
  }
  std::sort(pools.begin(), pools.end(),
            [](const auto& a, const auto& b) { return a.page_size_bytes < b.page_size_bytes; });
  return pools;
}

CollectorSpec HugepagesCollectorSpec() {
  return CollectorSpecWithoutOptions<HugepagesCollector>(
      "hugepages",
      "HugeTLB pools of every page size: total, free, reserved, surplus, overcommit limit",
      "/sys/kernel/mm/hugepages/hugepages-*/");
}

}  // namespace pagescope
