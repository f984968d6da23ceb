#include "collectors/numa_hugepages.h"

#include "collectors/hugepages.h"
#include "kernel/parse.h"

namespace pagescope {
namespace {

class NumaHugepagesCollector : public Collector {
 public:
  void Collect(const Context& ctx, MetricSink& out) override {
    for (const auto& [node, pool] : ReadNodeHugepagePools(ctx, out)) {
      Labels l{{"node", std::to_string(node)},
               {"page_size", parse::PageSizeLabel(pool.page_size_bytes)}};
      auto gauge = [&](const char* metric, const char* help,
                       const std::optional<std::uint64_t>& v) {
        if (v) out.Gauge(metric, help, l, static_cast<double>(*v));
      };
      gauge("pagescope_numa_hugepages_pool_pages",
            "Hugepages of this size in the pool of this NUMA node (nr_hugepages).", pool.nr);
      gauge("pagescope_numa_hugepages_free_pages",
            "Hugepages of this size free on this NUMA node (free_hugepages); the kernel "
            "counts reserved pages only per size, so they are included here.",
            pool.free);
      gauge("pagescope_numa_hugepages_surplus_pages",
            "Surplus hugepages of this size on this NUMA node (surplus_hugepages).", pool.surplus);
    }
  }
};

}  // namespace

std::vector<NodeHugepagePool> ReadNodeHugepagePools(const Context& ctx, MetricSink& out) {
  std::vector<NodeHugepagePool> pools;
  auto nodes_dir = ctx.fs().Sys("devices/system/node");
  auto names = ctx.ReadDir(nodes_dir);
  if (!names) return pools;
  for (const auto& name : *names) {
    auto id = parse::NodeDirId(name);
    if (!id) continue;
    for (const auto& pool : ReadHugepagePools(ctx, nodes_dir / name / "hugepages", out)) {
      pools.push_back({*id, pool});
    }
  }
  return pools;
}

CollectorSpec NumaHugepagesCollectorSpec() {
  return CollectorSpecWithoutOptions<NumaHugepagesCollector>(
      "numa_hugepages", "HugeTLB pools per NUMA node and page size: total, free, surplus",
      "/sys/devices/system/node/node*/hugepages/hugepages-*/");
}

}  // namespace pagescope
