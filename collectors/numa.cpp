#include "collectors/numa.h"

#include <algorithm>
#include <optional>

#include "kernel/parse.h"
#include "kernel/sysfs.h"

namespace pagescope {

std::vector<std::pair<std::string, std::uint64_t>> ParseNumastat(std::string_view text) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    auto f = parse::Fields(line);
    if (f.empty()) return;
    if (f.size() != 2) throw ParseError(n, "expected \"name value\"");
    out.emplace_back(std::string(f[0]), parse::U64(f[1], n));
  });
  return out;
}

std::vector<MeminfoEntry> ParseNodeMeminfo(std::string_view text, int node) {
  std::vector<MeminfoEntry> out;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    std::string_view rest = parse::Trim(line);
    if (rest.empty()) return;
    // "Node 0 MemTotal: ..." -> "MemTotal: ..."
    auto word = [&]() {
      std::size_t end = rest.find_first_of(" \t");
      std::string_view w = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view{} : parse::Trim(rest.substr(end));
      return w;
    };
    if (word() != "Node") throw ParseError(n, "expected \"Node <id> Key: value [kB]\"");
    std::string_view id = word();
    if (parse::I64(id, n) != node) {
      throw ParseError(
          n, "line of node " + std::string(id) + " in the file of node " + std::to_string(node));
    }
    out.push_back(ParseMeminfoLine(rest, n));
  });
  return out;
}

std::vector<std::uint64_t> ParseNodeDistance(std::string_view text) {
  std::string_view t = parse::Trim(text);
  if (t.find('\n') != std::string_view::npos) throw ParseError(2, "expected a single line");
  std::vector<std::uint64_t> out;
  for (auto f : parse::Fields(t)) out.push_back(parse::U64(f, 1));
  if (out.empty()) throw ParseError(1, "no distances");
  return out;
}

namespace {

// A kernel key and the metric it becomes.
struct KeyedMetric {
  const char* key;
  const char* metric;
  const char* help;
};

// Documentation/admin-guide/numastat.rst. All counts are pages.
constexpr KeyedMetric kNumastat[] = {
    {"numa_hit", "pagescope_numa_hit_total",
     "Pages successfully allocated on this node as intended (numastat numa_hit)."},
    {"numa_miss", "pagescope_numa_miss_total",
     "Pages allocated on this node despite the process preferring some different node "
     "(numastat numa_miss)."},
    {"numa_foreign", "pagescope_numa_foreign_total",
     "Pages initially intended for this node but allocated on some different node; each "
     "numa_foreign event has a numa_miss on another node (numastat numa_foreign)."},
    {"interleave_hit", "pagescope_numa_interleave_hit_total",
     "Interleave policy pages successfully allocated on this node (numastat interleave_hit)."},
    {"local_node", "pagescope_numa_local_node_total",
     "Pages allocated on this node while the process was running on it (numastat local_node)."},
    {"other_node", "pagescope_numa_other_node_total",
     "Pages allocated on this node while the process was running on another node (numastat "
     "other_node)."},
};

constexpr KeyedMetric kNodeMeminfo[] = {
    {"MemTotal", "pagescope_numa_memory_total_bytes",
     "Usable RAM of this NUMA node (node meminfo MemTotal); per-node totals need not add up to "
     "/proc/meminfo while memory initialisation is deferred."},
    {"MemFree", "pagescope_numa_memory_free_bytes",
     "Free RAM of this NUMA node (node meminfo MemFree)."},
    {"MemUsed", "pagescope_numa_memory_used_bytes",
     "RAM of this NUMA node in use, MemTotal minus MemFree (node meminfo MemUsed)."},
    {"AnonHugePages", "pagescope_numa_memory_anon_huge_pages_bytes",
     "Anonymous memory of this NUMA node backed by transparent hugepages (node meminfo "
     "AnonHugePages)."},
    {"ShmemHugePages", "pagescope_numa_memory_shmem_huge_pages_bytes",
     "Shared memory and tmpfs of this NUMA node backed by transparent hugepages (node meminfo "
     "ShmemHugePages)."},
    {"FileHugePages", "pagescope_numa_memory_file_huge_pages_bytes",
     "Page cache of this NUMA node backed by transparent hugepages (node meminfo "
     "FileHugePages)."},
};

class NumaCollector : public Collector {
 public:
  void Collect(const Context& ctx, MetricSink& out) override {
    auto nodes_dir = ctx.fs().Sys("devices/system/node");
    auto names = ctx.ReadDir(nodes_dir);
    if (!names) return;
    std::vector<int> nodes;
    for (const auto& name : *names) {
      if (auto id = parse::NodeDirId(name)) nodes.push_back(*id);
    }
    std::sort(nodes.begin(), nodes.end());
    if (nodes.empty()) return;

    // The ids the distance columns belong to (see the header).
    // A malformed online mask leaves the distances out (the error names the file): no guessing.
    std::optional<std::vector<int>> columns = nodes;
    auto online_path = nodes_dir / "online";
    if (auto text = ctx.Read(online_path)) {
      columns = ParseOrFail(online_path, out, [&] { return parse::IdList(*text); });
    }

    for (int node : nodes) {
      auto dir = nodes_dir / ("node" + std::to_string(node));
      std::string node_label = std::to_string(node);
      Labels l{{"node", node_label}};
      Numastat(ctx, dir / "numastat", l, out);
      Meminfo(ctx, dir / "meminfo", node, l, out);
      if (columns) Distance(ctx, dir / "distance", node_label, *columns, out);
      auto cpulist_path = dir / "cpulist";
      if (auto text = ctx.Read(cpulist_path)) {
        // Validated, then kept in the kernel's own list format.
        if (ParseOrFail(cpulist_path, out, [&] { return parse::IdList(*text); })) {
          out.Info("pagescope_numa_node_info",
                   "A NUMA node the kernel has online, with its CPUs in the kernel's list format "
                   "(cpulist); cpus is empty for a node without CPUs.",
                   {{"node", node_label}, {"cpus", std::string(parse::Trim(*text))}});
        }
      }
    }
  }

 private:
  static void Numastat(const Context& ctx, const std::filesystem::path& path, const Labels& l,
                       MetricSink& out) {
    auto text = ctx.Read(path);
    if (!text) return;
    auto entries = ParseOrFail(path, out, [&] { return ParseNumastat(*text); });
    if (!entries) return;
    for (const auto& m : kNumastat) {
      for (const auto& [key, v] : *entries) {
        if (key == m.key) {
          out.Counter(m.metric, m.help, l, static_cast<double>(v));
          break;
        }
      }
    }
  }

  static void Meminfo(const Context& ctx, const std::filesystem::path& path, int node,
                      const Labels& l, MetricSink& out) {
    auto text = ctx.Read(path);
    if (!text) return;
    auto entries = ParseOrFail(path, out, [&] { return ParseNodeMeminfo(*text, node); });
    if (!entries) return;
    for (const auto& m : kNodeMeminfo) {
      for (const auto& e : *entries) {
        if (e.key != m.key) continue;
        if (!e.has_unit) {
          out.Fail(path.string() + ": " + e.key + " has no kB unit");
        } else {
          out.Gauge(m.metric, m.help, l, static_cast<double>(e.value));
        }
        break;
      }
    }
  }

  static void Distance(const Context& ctx, const std::filesystem::path& path,
                       const std::string& node_label, const std::vector<int>& columns,
                       MetricSink& out) {
    auto text = ctx.Read(path);
    if (!text) return;
    auto row = ParseOrFail(path, out, [&] { return ParseNodeDistance(*text); });
    if (!row) return;
    if (row->size() != columns.size()) {
      out.Fail(path.string() + ": " + std::to_string(row->size()) + " distances for " +
               std::to_string(columns.size()) + " online nodes");
      return;
    }
    for (std::size_t i = 0; i < row->size(); ++i) {
      out.Gauge("pagescope_numa_distance",
                "Relative memory access distance from node to to_node as the firmware (ACPI "
                "SLIT) gives it; 10 means local (node distance).",
                {{"node", node_label}, {"to_node", std::to_string(columns[i])}},
                static_cast<double>((*row)[i]));
    }
  }
};

}  // namespace

CollectorSpec NumaCollectorSpec() {
  return CollectorSpecWithoutOptions<NumaCollector>(
      "numa",
      "NUMA nodes: numastat allocation counters, per-node meminfo, distance matrix, CPU lists",
      "/sys/devices/system/node/online, "
      "/sys/devices/system/node/node*/{numastat,meminfo,distance,cpulist}");
}

}  // namespace pagescope
