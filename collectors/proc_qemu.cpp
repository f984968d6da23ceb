#include "collectors/proc_qemu.h"

#include <algorithm>
#include <set>

#include "collectors/parse.h"
#include "collectors/proc_mountinfo.h"
#include "collectors/proc_pid.h"
#include "collectors/qemu_cmdline.h"
#include "collectors/sys_devices_system_node_hugepages.h"
#include "collectors/sys_kernel_mm_hugepages.h"

namespace pagescope {
namespace {

struct Flavor {
  std::string name;
  std::uint64_t memory = 0;
  std::uint64_t page_size = 0;
};

std::string Join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ',';
    out += s;
  }
  return out;
}

// "true", "false", or "mixed" when the RAM backends disagree.
std::string Flag(const std::set<bool>& values) {
  if (values.empty()) return "false";
  if (values.size() > 1) return "mixed";
  return *values.begin() ? "true" : "false";
}

// With the locked_memory option: what the guest's QEMU process locked and pinned (VFIO
// passthrough pins all guest RAM) and KSM's net saving for it.
void EmitVmLockedAndKsmProfit(const Labels& l, const ProcPidStatus& status,
                              const std::optional<ProcPidKsmStat>& ksm, MetricSink& out) {
  if (status.vm_lck) {
    out.Gauge("pagescope_vm_locked_bytes", "Memory the QEMU process locked (status VmLck).", l,
              static_cast<double>(*status.vm_lck));
  }
  if (status.vm_pin) {
    out.Gauge("pagescope_vm_pinned_bytes",
              "Memory of the QEMU process pinned for devices (status VmPin: VFIO passthrough).", l,
              static_cast<double>(*status.vm_pin));
  }
  if (ksm && ksm->process_profit) {
    out.Gauge("pagescope_vm_ksm_profit_bytes",
              "Memory KSM saves for the QEMU process minus its rmap overhead (ksm_stat "
              "ksm_process_profit; can be negative).",
              l, static_cast<double>(*ksm->process_profit));
  }
}

class QemuCollector : public Collector {
 public:
  QemuCollector(std::vector<Flavor> flavors, bool smaps, SmapsGuard::Limits limits)
      : flavors_(std::move(flavors)), smaps_(smaps), guard_(limits) {}
  bool locked_memory = false;

  void Collect(const Context& ctx, MetricSink& out) override {
    const ProcessTable& table = ScanProcesses(ctx);
    PidReader reader(ctx.fs().procfs());
    std::string buf;
    SmapsGuard::Scrape smaps_scrape;
    std::set<std::string> names;
    std::vector<std::pair<int, std::uint64_t>> alive;
    for (const auto& p : table.processes) {
      if (!IsQemuComm(p.stat.comm)) continue;
      if (reader.Read(p.pid, "cmdline", buf, true) != ReadStatus::kOk)
        continue;                 // exited or denied
      if (buf.empty()) continue;  // a zombie
      auto path = reader.Path(p.pid, "cmdline");
      QemuCmdline q = ParseFile(path, [&] { return ParseQemuCmdline(SplitCmdline(buf)); });
      alive.emplace_back(p.pid, p.stat.starttime);
      std::string vm = VmLabel(q, p.pid);
      if (!names.insert(vm).second) vm += "@" + std::to_string(p.pid);  // two guests, one name
      Labels l{{"vm", vm}};

      // Mounts as QEMU sees them, to tell whether a mem-path is on hugetlbfs.
      std::vector<MountinfoEntry> mounts;
      auto on_hugetlbfs = [&](const std::string& mem_path) {
        if (mem_path.empty()) return false;
        if (mounts.empty() && reader.Read(p.pid, "mountinfo", buf) == ReadStatus::kOk) {
          mounts = ParseFile(reader.Path(p.pid, "mountinfo"), [&] { return ParseMountinfo(buf); });
        }
        return FsTypeOf(mounts, mem_path) == "hugetlbfs";
      };

      std::set<std::string> kinds, paths;
      std::set<bool> prealloc, share;
      auto ram = q.RamBackends();
      std::optional<std::uint64_t> memory = q.memory_bytes;
      if (!ram.empty()) {
        std::uint64_t sum = 0;
        for (const auto* b : ram) {
          kinds.insert(b->type);
          if (!b->mem_path.empty()) paths.insert(b->mem_path);
          prealloc.insert(b->prealloc || q.mem_prealloc);
          share.insert(b->share);
          sum += b->size.value_or(0);
        }
        if (!memory) memory = sum;
      } else if (!q.mem_path.empty()) {
        kinds.insert("file");
        paths.insert(q.mem_path);
        prealloc.insert(q.mem_prealloc);
        share.insert(false);
      } else {
        kinds.insert("ram");
        prealloc.insert(q.mem_prealloc);
        share.insert(false);
      }
      out.Info("pagescope_vm_info",
               "A QEMU guest: name, UUID, PID and how its RAM is backed (backend file, memfd or "
               "ram; prealloc and share true, false or mixed across its RAM backends).",
               {{"vm", vm},
                {"uuid", q.uuid},
                {"pid", std::to_string(p.pid)},
                {"backend", Join(kinds)},
                {"mem_path", Join(paths)},
                {"prealloc", Flag(prealloc)},
                {"share", Flag(share)}});
      if (memory) {
        out.Gauge("pagescope_vm_memory_bytes",
                  "Configured guest RAM (-m, else the sum of its RAM backends).", l,
                  static_cast<double>(*memory));
      }
      // RAM configured on hugetlb: memfd hugetlb=on, or a mem-path on hugetlbfs. Every memory
      // backend counts (DIMMs too), as does all of -m with a legacy -mem-path on hugetlbfs.
      std::uint64_t hugetlb_configured = 0;
      for (const auto& b : q.backends) {
        if (b.hugetlb || (b.type == "file" && on_hugetlbfs(b.mem_path))) {
          hugetlb_configured += b.size.value_or(0);
        }
      }
      if (q.backends.empty() && on_hugetlbfs(q.mem_path)) {
        hugetlb_configured += q.memory_bytes.value_or(128u << 20);
      }
      out.Gauge("pagescope_vm_hugetlb_configured_bytes",
                "Guest RAM configured on hugetlb backends (memfd hugetlb=on or a mem-path on "
                "hugetlbfs).",
                l, static_cast<double>(hugetlb_configured));

      out.Counter("pagescope_vm_minor_faults_total", "Minor page faults of the QEMU process.", l,
                  static_cast<double>(p.stat.minflt));
      out.Counter("pagescope_vm_major_faults_total", "Major page faults of the QEMU process.", l,
                  static_cast<double>(p.stat.majflt));
      if (p.status.vm_swap) {
        out.Gauge("pagescope_vm_swap_bytes", "Swapped-out memory of the QEMU process (VmSwap).", l,
                  static_cast<double>(*p.status.vm_swap));
      }
      if (reader.Read(p.pid, "numa_maps", buf) == ReadStatus::kOk) {
        auto numa =
            ParseFile(reader.Path(p.pid, "numa_maps"), [&] { return ParseProcPidNumaMaps(buf); });
        for (const auto& [key, pages] : numa.huge_pages) {
          out.Gauge("pagescope_vm_hugetlb_bytes",
                    "HugeTLB memory of the guest faulted in on this NUMA node, by page size "
                    "(numa_maps huge mappings).",
                    {{"vm", vm},
                     {"node", std::to_string(key.first)},
                     {"page_size", parse::PageSizeLabel(key.second)}},
                    static_cast<double>(pages * key.second));
        }
      }
      std::optional<ProcPidKsmStat> ksm;
      if (reader.Read(p.pid, "ksm_stat", buf, true) == ReadStatus::kOk) {
        ksm = ParseFile(reader.Path(p.pid, "ksm_stat"), [&] { return ParseProcPidKsmStat(buf); });
        if (ksm->merging_pages) {
          out.Gauge("pagescope_vm_ksm_merging_pages",
                    "Pages of the QEMU process merged by KSM (ksm_stat ksm_merging_pages).", l,
                    static_cast<double>(*ksm->merging_pages));
        }
      }
      if (locked_memory) EmitVmLockedAndKsmProfit(l, p.status, ksm, out);
      if (smaps_) {
        auto r = guard_.Get(ctx, reader, smaps_scrape, p, SystemPageSize(), buf);
        if (r && r->anon_huge_pages) {
          out.Gauge("pagescope_vm_anon_huge_pages_bytes",
                    "Anonymous transparent hugepages of the QEMU process (smaps_rollup).", l,
                    static_cast<double>(*r->anon_huge_pages));
        }
      }
    }
    if (smaps_) {
      std::sort(alive.begin(), alive.end());
      guard_.Retain(alive);
      guard_.Emit(out, "pagescope_vm");
    }
    if (!flavors_.empty()) Capacity(ctx, out);
  }

 private:
  void Capacity(const Context& ctx, MetricSink& out) const {
    std::map<std::uint64_t, std::uint64_t> reserved;  // page size -> resv_hugepages
    for (const auto& pool : ReadHugepagePools(ctx, ctx.fs().Sys("kernel/mm/hugepages"), out)) {
      if (pool.reserved) reserved[pool.page_size_bytes] = *pool.reserved;
    }
    for (const auto& [node, pool] : ReadNodeHugepagePools(ctx, out)) {
      if (!pool.free) continue;
      std::uint64_t resv =
          reserved.count(pool.page_size_bytes) ? reserved[pool.page_size_bytes] : 0;
      std::uint64_t avail = *pool.free > resv ? *pool.free - resv : 0;
      for (const auto& f : flavors_) {
        if (f.page_size != pool.page_size_bytes) continue;
        std::uint64_t need = (f.memory + f.page_size - 1) / f.page_size;
        out.Gauge("pagescope_capacity_vm_slots",
                  "More guests of this flavor that fit in this NUMA node's free hugepages "
                  "(free minus all reserved pages of the size, divided by the pages one "
                  "guest needs).",
                  {{"flavor", f.name},
                   {"node", std::to_string(node)},
                   {"page_size", parse::PageSizeLabel(f.page_size)}},
                  static_cast<double>(avail / need));
      }
    }
  }

  std::vector<Flavor> flavors_;
  bool smaps_;
  SmapsGuard guard_;
};

std::vector<Flavor> ParseFlavors(const CollectorOptions& o) {
  std::vector<Flavor> out;
  YAML::Node n = o.Yaml("flavors");
  if (!n.IsDefined() || n.IsNull()) return out;
  if (!n.IsSequence()) o.FailAt("flavors", n, "expected a list of {name, memory, page_size}");
  std::set<std::string> seen;
  for (const auto& item : n) {
    if (!item.IsMap()) o.FailAt("flavors", item, "expected {name, memory, page_size}");
    Flavor f;
    for (const auto& kv : item) {
      std::string key = kv.first.Scalar();
      if (!kv.second.IsScalar()) o.FailAt("flavors", kv.second, "expected a scalar");
      const std::string v = kv.second.Scalar();
      if (key == "name") {
        f.name = v;
      } else if (key == "memory" || key == "page_size") {
        auto size = ParseSize(v, key == "memory" ? 1u << 20 : 1);
        if (!size || *size == 0) {
          o.FailAt("flavors", kv.second,
                   "bad size \"" + v + "\" (e.g. 4GiB; a bare memory number is MiB as in Nova)");
        }
        (key == "memory" ? f.memory : f.page_size) = *size;
      } else {
        o.FailAt("flavors", kv.first, "unknown key \"" + key + "\" (name, memory, page_size)");
      }
    }
    if (f.name.empty() || f.memory == 0 || f.page_size == 0) {
      o.FailAt("flavors", item, "a flavor needs name, memory and page_size");
    }
    if (!seen.insert(f.name + "/" + std::to_string(f.page_size)).second) {
      o.FailAt("flavors", item, "flavor \"" + f.name + "\" is listed twice");
    }
    out.push_back(f);
  }
  return out;
}

}  // namespace

CollectorSpec QemuCollectorSpec() {
  CollectorSpec spec;
  spec.name = "qemu";
  spec.default_enabled = true;
  spec.help =
      "QEMU guests: RAM backing, hugetlb per node, faults, swap, KSM; hugepage capacity per "
      "flavor";
  spec.sources = "/proc/<pid>/{cmdline,stat,status,numa_maps,ksm_stat,mountinfo}";
  spec.options = {
      {"flavors", OptionType::kYaml, "",
       "List of {name, memory, page_size}: report pagescope_capacity_vm_slots per node."},
  };
  for (auto& o : SmapsOptionSpecs("QEMU processes", "64GiB", "500"))
    spec.options.push_back(std::move(o));
  spec.options.push_back(
      {"locked_memory", OptionType::kBool, "false",
       "Also export pagescope_vm_locked_bytes, pagescope_vm_pinned_bytes (status VmLck, VmPin) "
       "and pagescope_vm_ksm_profit_bytes: 3 more series per guest (off by default to keep a "
       "guest within its series budget)."});
  spec.make = [](const CollectorOptions& o) -> std::unique_ptr<Collector> {
    auto flavors = ParseFlavors(o);
    SmapsGuard::Limits limits = SmapsLimitsFromOptions(o);
    auto c = std::make_unique<QemuCollector>(std::move(flavors), o.Bool("smaps"), limits);
    c->locked_memory = o.Bool("locked_memory");
    return c;
  };
  return spec;
}

}  // namespace pagescope
