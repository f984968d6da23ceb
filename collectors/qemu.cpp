#include "collectors/qemu.h"

#include <algorithm>
#include <mutex>
#include <set>

#include "collectors/cgroup_hugetlb.h"
#include "collectors/hugepages.h"
#include "collectors/meminfo.h"
#include "collectors/numa.h"
#include "collectors/numa_hugepages.h"
#include "kernel/parse.h"
#include "kernel/proc_mountinfo.h"
#include "kernel/proc_pid.h"
#include "kernel/sys_fs_cgroup.h"
#include "kernel/sys_fs_cgroup_numa_stat.h"
#include "proctable/identity.h"
#include "proctable/numa_locality.h"
#include "proctable/own_cgroup.h"
#include "proctable/placement.h"
#include "proctable/proc_key.h"
#include "proctable/proc_states.h"
#include "proctable/qemu_cmdline.h"
#include "proctable/smaps_guard.h"
#include "proctable/walk.h"
#include "proctable/walk_cost.h"

namespace pagescope {
namespace {

using Flavor = CapacityFlavor;

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

// Where this scrape's per-node figures of one guest come from (docs/processes-and-vms.md,
// "Where each figure comes from").
struct GuestPlacement {
  // hugetlb per node: cgroup, numa_maps, sampled, status (HugetlbPages is 0), unknown
  std::string hugetlb_source;
  std::map<std::pair<int, std::uint64_t>, std::uint64_t> hugetlb;  // (node, page size) -> bytes
  // memory per node, for numa_locality: cgroup, numa_maps, sampled, unknown
  std::string memory_source;
  std::map<int, std::uint64_t> memory;       // node -> bytes, hugetlb and the rest
  std::optional<ProcPidNumaMaps> numa_maps;  // when walked
  std::uint64_t sample_pages = 0;            // when sampled: addresses asked
};

// The guest's own cgroup in the hierarchy of one controller (proctable/own_cgroup.h).
struct OwnCgroup {
  std::filesystem::path dir;  // empty: none
  bool v2 = false;
};

// What the collector keeps per QEMU process between scrapes.
struct GuestState {
  std::optional<QemuGuest> guest;
  // The own cgroups, decided on this /proc/<pid>/cgroup text at `decided`.
  std::string cgroup_text;
  std::chrono::steady_clock::time_point decided{};
  OwnCgroup hugetlb, memory;
};

// How long an own-cgroup decision is kept while /proc/<pid>/cgroup does not change (processes
// may join or leave the cgroup meanwhile).
constexpr std::chrono::seconds kOwnCgroupRecheck{60};

// The hierarchies of a controller (FindCgroupHierarchies), once per scrape.
const std::vector<CgroupHierarchy>& Hierarchies(const Context& ctx, const std::string& controller) {
  return ctx.Memo<std::vector<CgroupHierarchy>>(
      "qemu.hierarchies." + controller, [&] { return FindCgroupHierarchies(ctx, controller); });
}

// The hugepage sizes the kernel has, once per scrape.
const std::vector<std::uint64_t>& HugepageSizes(const Context& ctx) {
  return ctx.Memo<std::vector<std::uint64_t>>("qemu.hugepage_sizes", [&] {
    std::vector<std::uint64_t> sizes;
    if (auto names = ctx.TryReadSubdirs(ctx.fs().Sys("kernel/mm/hugepages"))) {
      for (const auto& name : *names) {
        if (auto bytes = parse::HugepageDirBytes(name)) sizes.push_back(*bytes);
      }
    }
    return sizes;
  });
}

OwnCgroup FindOwn(const Context& ctx, const PidReader& reader, const std::string& controller,
                  const std::vector<ProcPidCgroup>& lines, int pid, const std::string& vm) {
  for (const auto& h : Hierarchies(ctx, controller)) {
    const ProcPidCgroup* line = FindProcPidCgroup(lines, h.v2 ? "" : controller);
    if (line == nullptr) continue;
    if (auto rel = FindOwnCgroup(ctx, reader, h.root, line->path, pid, vm)) {
      return {h.root / *rel, h.v2};
    }
    return {};
  }
  return {};
}

// hugetlb per node and size from the own cgroup's hugetlb.<size>.numa_stat files; nullopt when
// one is missing (kernel before 5.17, controller not enabled there) or unreadable.
std::optional<std::map<std::pair<int, std::uint64_t>, std::uint64_t>> CgroupHugetlb(
    const Context& ctx, const OwnCgroup& own, std::uint64_t* total, MetricSink& out) {
  if (own.dir.empty()) return std::nullopt;
  std::map<std::pair<int, std::uint64_t>, std::uint64_t> by_node;
  *total = 0;
  for (std::uint64_t size : HugepageSizes(ctx)) {
    auto path = own.dir / ("hugetlb." + CgroupHugetlbSizeName(size) + ".numa_stat");
    auto text = ctx.ReadQuiet(path);
    if (!text) return std::nullopt;
    try {
      auto stat = ParseFile(path, [&] { return ParseHugetlbNumaStat(*text); });
      *total += stat.total;
      for (const auto& [node, bytes] : stat.nodes) {
        if (bytes > 0) by_node[{node, size}] = bytes;
      }
    } catch (const CollectError& e) {
      out.Fail(e.what());
      return std::nullopt;
    }
  }
  return by_node;
}

// Anonymous and shared memory per node from the own cgroup's memory.numa_stat.
std::optional<std::map<int, std::uint64_t>> CgroupMemory(const Context& ctx, const OwnCgroup& own,
                                                         MetricSink& out) {
  if (own.dir.empty()) return std::nullopt;
  auto path = own.dir / "memory.numa_stat";
  auto text = ctx.ReadQuiet(path);
  if (!text) return std::nullopt;
  try {
    auto stat = ParseFile(path, [&] { return ParseMemoryNumaStat(*text); });
    auto bytes = MemoryNumaStatAnonShmemBytes(stat, SystemPageSize());
    if (bytes.empty()) return std::nullopt;
    return bytes;
  } catch (const CollectError& e) {
    out.Fail(e.what());
    return std::nullopt;
  }
}

class QemuCollector : public Collector {
 public:
  QemuCollector(std::vector<Flavor> flavors, WalkRule rule, bool smaps, SmapsGuard::Limits limits,
                bool numa_locality, bool numa_detail)
      : flavors_(std::move(flavors)),
        rule_(rule),
        smaps_(smaps),
        guard_(limits),
        numa_locality_(numa_locality || numa_detail),
        numa_detail_(numa_detail) {}
  bool locked_memory = false;

  void Collect(const Context& ctx, MetricSink& out) override {
    const ProcessTable& table = ScanProcesses(ctx);
    PidReader reader(ctx);
    std::string buf;
    std::optional<SmapsGuard::Scrape> smaps_scrape;
    if (smaps_) smaps_scrape.emplace(ctx);
    VmNames names;
    std::vector<ProcKey> alive;
    std::uint64_t identified = 0, unreadable = 0;
    std::lock_guard lock(mu_);
    guests_.Begin();
    for (const auto& p : table.processes) {
      // Past the scrape's deadline: stop between guests (the scraper marks the collector failed).
      if (ctx.Expired()) break;
      bool denied = false;
      GuestState* state = Guest(reader, p, buf, &denied);
      if (denied) ++unreadable;
      if (state == nullptr) continue;
      // The walk counters exist from the first guest on (a host without guests has none).
      if (identified++ == 0)
        ctx.DeclareWalks("numa_maps", {"done", "cgroup", "sampled", "skipped"});
      const QemuCmdline& q = state->guest->cmdline;
      alive.push_back(KeyOf(p));
      const std::string vm = names.Unique(state->guest->vm, p.pid);
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

      const GuestPlacement placement = Place(ctx, reader, p, *state, buf, out);
      EmitInfo(q, p.pid, vm, placement, out);
      std::optional<std::uint64_t> memory = q.memory_bytes;
      if (!memory && !q.RamBackends().empty()) {
        std::uint64_t sum = 0;
        for (const auto* b : q.RamBackends()) sum += b->size.value_or(0);
        memory = sum;
      }
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
      if (placement.sample_pages > 0) {
        out.Gauge("pagescope_vm_placement_sample_pages",
                  "Pages of the guest asked of the kernel (move_pages) for this scrape's sampled "
                  "estimate of its placement (hugetlb_source or memory_source \"sampled\"): "
                  "a node's share is within 0.98/sqrt(present pages) at 95 %.",
                  l, static_cast<double>(placement.sample_pages));
      }
      for (const auto& [key, bytes] : placement.hugetlb) {
        out.Gauge("pagescope_vm_hugetlb_bytes",
                  "HugeTLB memory of the guest faulted in on this NUMA node, by page size (from "
                  "where pagescope_vm_info's hugetlb_source says: the guest's own cgroup, "
                  "numa_maps, or a sampled estimate).",
                  {{"vm", vm},
                   {"node", std::to_string(key.first)},
                   {"page_size", parse::PageSizeLabel(key.second)}},
                  static_cast<double>(bytes));
      }
      if (numa_locality_) EmitGuestLocality(ctx, reader, p.pid, q, placement, vm, out, buf);
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
        auto r = guard_.Get(ctx, reader, *smaps_scrape, p, buf);
        if (r && r->anon_huge_pages) {
          out.Gauge("pagescope_vm_anon_huge_pages_bytes",
                    "Anonymous transparent hugepages of the QEMU process (smaps_rollup).", l,
                    static_cast<double>(*r->anon_huge_pages));
        }
      }
    }
    if (ctx.Expired()) {
      // Partial: no coverage figures that would count only the guests seen before the deadline,
      // and the guests not reached are kept for the next scrape.
      return;
    }
    guests_.End();
    const char* coverage =
        "QEMU processes (comm qemu-system-* or qemu-kvm) by result: identified (their guest "
        "is reported), unreadable (their command line could not be read: permission denied, "
        "so their guest is missing).";
    // A procfs without processes (a fixture tree, a wrong --path.procfs) gives no series.
    if (!table.processes.empty()) {
      out.Gauge("pagescope_vm_qemu_processes", coverage, {{"result", "identified"}},
                static_cast<double>(identified));
      out.Gauge("pagescope_vm_qemu_processes", coverage, {{"result", "unreadable"}},
                static_cast<double>(unreadable));
    }
    if (smaps_) {
      std::sort(alive.begin(), alive.end());
      guard_.Retain(alive);
    }
    if (!flavors_.empty()) Capacity(ctx, out);
  }

 private:
  // The state of a QEMU process, its guest found when the process is first seen (or after an
  // exec) and kept by key; null for other processes, zombies, and while the command line cannot
  // be read (`denied` set when permission was denied).
  GuestState* Guest(const PidReader& reader, const ProcessEntry& p, std::string& buf,
                    bool* denied) {
    if (!IsQemuComm(p.stat.comm)) return nullptr;
    auto seen = guests_.See(p);
    if (seen.fresh()) seen.state = GuestState{};
    if (p.stat.state == 'Z') return nullptr;  // its cmdline is empty: no guest any more
    if (!seen.state.guest) {
      ReadStatus status = ReadStatus::kOk;
      seen.state.guest = ReadQemuGuest(reader, p.pid, p.stat.comm, buf, &status);
      *denied = status == ReadStatus::kDenied;
    }
    return seen.state.guest ? &seen.state : nullptr;
  }

  // The guest's own cgroups, decided again when /proc/<pid>/cgroup changed or after a minute.
  void UpdateOwnCgroups(const Context& ctx, const PidReader& reader, const ProcessEntry& p,
                        GuestState& state, std::string& buf, MetricSink& out) {
    if (reader.Read(p.pid, "cgroup", buf, true) != ReadStatus::kOk) {
      state.hugetlb = state.memory = {};
      state.cgroup_text.clear();
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (buf == state.cgroup_text && now - state.decided < kOwnCgroupRecheck) return;
    state.cgroup_text = buf;
    state.decided = now;
    state.hugetlb = state.memory = {};
    std::vector<ProcPidCgroup> lines;
    try {
      lines = ParseFile(reader.Path(p.pid, "cgroup"), [&] { return ParseProcPidCgroup(buf); });
    } catch (const CollectError& e) {
      out.Fail(e.what());  // this guest's figures then come from a walk or a sample
      return;
    }
    const std::string& name = state.guest->cmdline.name;
    state.hugetlb = FindOwn(ctx, reader, "hugetlb", lines, p.pid, name);
    state.memory =
        numa_locality_ ? FindOwn(ctx, reader, "memory", lines, p.pid, name) : OwnCgroup{};
  }

  // Where the guest's hugetlb (and, with numa_locality, its memory) is per node: from its own
  // cgroup, else a walk of numa_maps when the walk rule allows it, else a sample, else unknown.
  GuestPlacement Place(const Context& ctx, const PidReader& reader, const ProcessEntry& p,
                       GuestState& state, std::string& buf, MetricSink& out) {
    GuestPlacement g;
    const std::optional<std::uint64_t> hugetlb = p.status.hugetlb_pages;
    const bool need_hugetlb = !hugetlb || *hugetlb > 0;
    if (!need_hugetlb) g.hugetlb_source = "status";
    if (!need_hugetlb && !numa_locality_) return g;
    UpdateOwnCgroups(ctx, reader, p, state, buf, out);
    bool from_cgroup = false;
    if (need_hugetlb) {
      std::uint64_t total = 0;
      auto by_node = CgroupHugetlb(ctx, state.hugetlb, &total, out);
      // Pages faulted before the process joined the cgroup stay charged where they were: the
      // cgroup must hold at least what the process maps.
      if (by_node && total >= hugetlb.value_or(0)) {
        g.hugetlb = std::move(*by_node);
        g.hugetlb_source = "cgroup";
        from_cgroup = true;
      }
    }
    if (numa_locality_ && (!need_hugetlb || from_cgroup)) {
      if (auto memory = CgroupMemory(ctx, state.memory, out)) {
        g.memory = std::move(*memory);
        for (const auto& [key, bytes] : g.hugetlb) g.memory[key.first] += bytes;
        g.memory_source = "cgroup";
        from_cgroup = true;
      }
    }
    const bool hugetlb_done = !need_hugetlb || !g.hugetlb_source.empty();
    const bool memory_done = !numa_locality_ || !g.memory_source.empty();
    if (hugetlb_done && memory_done) {
      if (from_cgroup) ctx.CountWalk("numa_maps", "cgroup");
      return g;
    }
    const WalkSize size = WalkSizeOf(p, SystemPageSize(), HugetlbEntrySize(ctx));
    if (rule_.Allows(WalkFile::kNumaMaps, size)) {
      if (ReadWalk(ctx, reader, p.pid, WalkFile::kNumaMaps, buf) == ReadStatus::kOk) {
        g.numa_maps =
            ParseFile(reader.Path(p.pid, "numa_maps"), [&] { return ParseProcPidNumaMaps(buf); });
        if (!hugetlb_done) {
          for (const auto& [key, pages] : g.numa_maps->huge_pages) {
            g.hugetlb[key] = pages * key.second;
          }
          g.hugetlb_source = "numa_maps";
        }
        if (!memory_done) {
          g.memory = g.numa_maps->node_bytes;
          g.memory_source = "numa_maps";
        }
      }
    } else if (auto est = samples_.Estimate(ctx, p)) {
      // A sample that found no hugetlb page present says nothing about a guest that maps some.
      if (!hugetlb_done && !(est->hugetlb.empty() && hugetlb.value_or(0) > 0)) {
        g.hugetlb = std::move(est->hugetlb);
        g.hugetlb_source = "sampled";
      }
      if (!memory_done) {
        g.memory = std::move(est->memory);
        g.memory_source = "sampled";
      }
      g.sample_pages = est->asked;
    } else {
      ctx.CountWalk("numa_maps", "skipped");
      if (log::Enabled(log::Level::kDebug)) {
        log::Debug(
            "numa_maps not walked (estimated longer than walk_max_ms, no own cgroup) and "
            "not sampled (the process exited or cannot be sampled)",
            {{"pid", std::to_string(p.pid)},
             {"estimate_ms",
              std::to_string(EstimateWalkSeconds(WalkFile::kNumaMaps, size) * 1e3)}});
      }
    }
    if (g.hugetlb_source.empty()) g.hugetlb_source = "unknown";
    if (numa_locality_ && g.memory_source.empty()) g.memory_source = "unknown";
    return g;
  }

  void EmitInfo(const QemuCmdline& q, int pid, const std::string& vm,
                const GuestPlacement& placement, MetricSink& out) const {
    std::set<std::string> kinds, paths;
    std::set<bool> prealloc, share;
    auto ram = q.RamBackends();
    if (!ram.empty()) {
      for (const auto* b : ram) {
        kinds.insert(b->type);
        if (!b->mem_path.empty()) paths.insert(b->mem_path);
        prealloc.insert(b->prealloc || q.mem_prealloc);
        share.insert(b->share);
      }
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
    Labels info{{"vm", vm},
                {"uuid", q.uuid},
                {"pid", std::to_string(pid)},
                {"backend", Join(kinds)},
                {"mem_path", Join(paths)},
                {"prealloc", Flag(prealloc)},
                {"share", Flag(share)},
                {"hugetlb_source", placement.hugetlb_source}};
    if (numa_locality_) info.emplace_back("memory_source", placement.memory_source);
    out.Info("pagescope_vm_info",
             "A QEMU guest: name, UUID, PID, how its RAM is backed (backend file, memfd or ram; "
             "prealloc and share true, false or mixed across its RAM backends), and where this "
             "scrape's per-node figures come from: hugetlb_source (pagescope_vm_hugetlb_bytes: "
             "cgroup, numa_maps, sampled, status when it holds no hugetlb, unknown) and, with "
             "numa_locality, memory_source.",
             info);
  }

  // Where the guest's vCPU threads may run and last ran, where its memory is, where its
  // passthrough devices are (docs/numa-locality.md). Two series with numa_locality, the rest with
  // numa_detail.
  void EmitGuestLocality(const Context& ctx, const PidReader& reader, int pid, const QemuCmdline& q,
                         const GuestPlacement& placement, const std::string& vm, MetricSink& out,
                         std::string& buf) const {
    const NodeCpus& topology = ReadNodeCpus(ctx);
    LocalityInput in;
    ReadThreads(ctx, reader, pid, kMaxVcpuThreads, IsVcpuThreadComm, in.threads, buf);
    if (in.threads.allowed_cpus.empty()) {
      // Without -name debug-threads=on the vCPU threads are not named: all threads stand in.
      ReadThreads(ctx, reader, pid, kMaxVcpuThreads, nullptr, in.threads, buf);
    }
    if (placement.numa_maps) {
      in.AddPolicy(*placement.numa_maps);
    }
    in.memory = placement.memory;
    for (const auto& addr : q.vfio_devices) {
      std::optional<int> node;
      try {
        node = ReadPciNumaNode(ctx, addr);
      } catch (const CollectError& e) {
        out.Fail(e.what());  // a malformed numa_node: the device counts as one without a node
      }
      in.devices.emplace_back(addr, node);
    }
    const Locality loc = ComputeLocality(topology, in);
    EmitLocality(kVmLocalitySeries, vm, topology, in, loc, numa_detail_, out);
    if (!numa_detail_) return;
    std::set<std::string> host_nodes, policies;
    for (const auto& b : q.backends) {
      if (!b.host_nodes.empty()) host_nodes.insert(b.host_nodes);
      if (!b.policy.empty()) policies.insert(b.policy);
    }
    out.Info("pagescope_vm_numa_info",
             "NUMA placement of a guest: the nodes its vCPU threads may run on, the nodes that "
             "hold at least 5% of its memory, and what its memory backends asked for "
             "(host-nodes and policy of its -object memory-backend-*, as given).",
             {{"vm", vm},
              {"vcpu_nodes", NodeSetLabel(loc.allowed_nodes)},
              {"memory_nodes", NodeSetLabel(loc.memory_nodes)},
              {"host_nodes", Join(host_nodes)},
              {"policy", Join(policies)}});
  }

  static constexpr std::size_t kMaxVcpuThreads = 1024;

  void Capacity(const Context& ctx, MetricSink& out) const {
    std::map<std::uint64_t, std::uint64_t> reserved;  // page size -> resv_hugepages
    auto global = ReadHugepagePools(ctx, ctx.fs().Sys("kernel/mm/hugepages"), out);
    for (const auto& pool : global) {
      if (pool.reserved) reserved[pool.page_size_bytes] = *pool.reserved;
    }
    auto usable = [&](std::uint64_t size, std::uint64_t free) {
      std::uint64_t resv = reserved.count(size) ? reserved[size] : 0;
      return free > resv ? free - resv : 0;
    };
    std::map<int, CapacityNode> by_node;
    for (const auto& [node, pool] : ReadNodeHugepagePools(ctx, out)) {
      CapacityNode& n = by_node[node];
      n.node = node;
      if (pool.free) n.free_pages[pool.page_size_bytes] = usable(pool.page_size_bytes, *pool.free);
    }
    const bool numa = !by_node.empty();
    if (!numa) {
      CapacityNode& n = by_node[0];
      for (const auto& pool : global) {
        if (pool.free)
          n.free_pages[pool.page_size_bytes] = usable(pool.page_size_bytes, *pool.free);
      }
    }
    for (auto& [id, n] : by_node) {
      auto path = numa ? ctx.fs().Sys("devices/system/node/node" + std::to_string(id) + "/meminfo")
                       : ctx.fs().Proc("meminfo");
      auto text = ctx.ReadQuiet(path);
      if (!text) continue;
      try {
        const int node_id = id;  // clang before 16 cannot capture a structured binding
        auto entries = ParseFile(
            path, [&] { return numa ? ParseNodeMeminfo(*text, node_id) : ParseMeminfo(*text); });
        for (const auto& e : entries) {
          if (e.key == "MemFree" && e.has_unit) n.free_small_bytes = e.value;
        }
      } catch (const CollectError& e) {
        out.Fail(e.what());
      }
    }
    std::vector<CapacityNode> nodes;
    for (auto& [id, n] : by_node) nodes.push_back(std::move(n));
    const std::uint64_t base = SystemPageSize();
    for (const auto& f : flavors_) {
      if (f.numa_nodes == 1) {
        for (const auto& n : nodes) {
          for (const auto& [size, cells] : CellsOnNode(f, n, f.memory, base)) {
            out.Gauge("pagescope_capacity_vm_slots",
                      "More single-node guests of this flavor that fit on this NUMA node with "
                      "pages of this size alone (hugepages: free minus all reserved pages of "
                      "the size; base pages: the node's MemFree), divided by what one guest "
                      "needs.",
                      {{"flavor", f.name},
                       {"node", std::to_string(n.node)},
                       {"page_size", parse::PageSizeLabel(size)}},
                      static_cast<double>(cells));
          }
        }
      }
      out.Gauge("pagescope_capacity_host_vm_slots",
                "More guests of this flavor the host can take, placed as Nova's NUMA fitting "
                "does: hw:mem_page_size (small, large, any or a size) and hw:numa_nodes cells "
                "on distinct nodes, each fitted on its node.",
                {{"flavor", f.name}}, static_cast<double>(HostSlots(f, nodes, base)));
    }
  }

  std::vector<Flavor> flavors_;
  WalkRule rule_;
  bool smaps_;
  SmapsGuard guard_;
  std::mutex mu_;  // guests_, over one scrape
  ProcStates<GuestState> guests_;
  SampleCache samples_;
  bool numa_locality_;
  bool numa_detail_;
};

std::vector<Flavor> ParseFlavors(const CollectorOptions& o) {
  std::vector<Flavor> out;
  YAML::Node n = o.Yaml("flavors");
  if (!n.IsDefined() || n.IsNull()) return out;
  const char* kKeys = "name, memory, page_size, numa_nodes";
  if (!n.IsSequence()) {
    o.FailAt("flavors", n, std::string("expected a list of {") + kKeys + "}");
  }
  std::set<std::string> seen;
  for (const auto& item : n) {
    if (!item.IsMap()) o.FailAt("flavors", item, std::string("expected {") + kKeys + "}");
    Flavor f;
    bool has_page_size = false;
    for (const auto& kv : item) {
      std::string key = kv.first.Scalar();
      if (!kv.second.IsScalar()) o.FailAt("flavors", kv.second, "expected a scalar");
      const std::string v = kv.second.Scalar();
      if (key == "name") {
        f.name = v;
      } else if (key == "memory") {
        auto size = parse::Size(v, parse::SizeSyntax::kUnits, 1u << 20);
        if (!size || *size == 0) {
          o.FailAt("flavors", kv.second,
                   "bad size \"" + v + "\" (e.g. 4GiB; a bare number is MiB as in Nova)");
        }
        f.memory = *size;
      } else if (key == "page_size") {
        has_page_size = true;
        if (v == "small") {
          f.kind = Flavor::kSmall;
        } else if (v == "large") {
          f.kind = Flavor::kLarge;
        } else if (v == "any") {
          f.kind = Flavor::kAny;
        } else {
          auto size = parse::Size(v, parse::SizeSyntax::kUnits, 1u << 10);
          if (!size || *size == 0 || (*size & (*size - 1)) != 0) {
            o.FailAt("flavors", kv.second,
                     "bad page_size \"" + v +
                         "\" (small, large, any, or a power-of-two size: 2MiB, 1GiB; a bare "
                         "number is KiB as in Nova)");
          }
          f.kind = Flavor::kSize;
          f.page_size = *size;
        }
      } else if (key == "numa_nodes") {
        long long nodes = 0;
        try {
          nodes = kv.second.as<long long>();
        } catch (const YAML::Exception&) {
          nodes = 0;
        }
        if (nodes < 1 || nodes > 64) {
          o.FailAt("flavors", kv.second, "numa_nodes must be a number from 1 to 64");
        }
        f.numa_nodes = static_cast<int>(nodes);
      } else {
        o.FailAt("flavors", kv.first, "unknown key \"" + key + "\" (" + kKeys + ")");
      }
    }
    if (f.name.empty() || f.memory == 0 || !has_page_size) {
      o.FailAt("flavors", item, "a flavor needs name, memory and page_size");
    }
    // Nova splits memory_mb evenly: whole MiB per cell.
    if (f.memory % (static_cast<std::uint64_t>(f.numa_nodes) << 20) != 0) {
      o.FailAt("flavors", item, "memory does not split evenly (in MiB) over numa_nodes");
    }
    if (!seen.insert(f.name).second) {
      o.FailAt("flavors", item, "flavor \"" + f.name + "\" is listed twice");
    }
    out.push_back(f);
  }
  return out;
}

}  // namespace

std::map<std::uint64_t, std::uint64_t> CellsOnNode(const CapacityFlavor& f, const CapacityNode& n,
                                                   std::uint64_t cell_memory,
                                                   std::uint64_t base_page_size) {
  std::map<std::uint64_t, std::uint64_t> out;
  auto fit = [&](std::uint64_t size, std::uint64_t free_pages) {
    // Nova: a cell uses one page size, and only one that divides its memory.
    if (size == 0 || cell_memory % size != 0) return;
    out[size] = free_pages / (cell_memory / size);
  };
  switch (f.kind) {
    case CapacityFlavor::kSize:
      if (f.page_size == base_page_size) {
        if (n.free_small_bytes) out[base_page_size] = *n.free_small_bytes / cell_memory;
      } else if (auto it = n.free_pages.find(f.page_size); it != n.free_pages.end()) {
        fit(it->first, it->second);
      }
      break;
    case CapacityFlavor::kSmall:
      if (n.free_small_bytes) out[base_page_size] = *n.free_small_bytes / cell_memory;
      break;
    case CapacityFlavor::kLarge:
    case CapacityFlavor::kAny:
      for (const auto& [size, free] : n.free_pages) fit(size, free);
      if (f.kind == CapacityFlavor::kAny && n.free_small_bytes) {
        out[base_page_size] = *n.free_small_bytes / cell_memory;
      }
      break;
  }
  return out;
}

std::uint64_t HostSlots(const CapacityFlavor& f, const std::vector<CapacityNode>& nodes,
                        std::uint64_t base_page_size) {
  const auto cells_needed = static_cast<std::uint64_t>(f.numa_nodes);
  if (nodes.size() < cells_needed) return 0;
  const std::uint64_t cell_memory = f.memory / cells_needed;
  std::vector<std::uint64_t> cells;
  std::uint64_t total = 0;
  for (const auto& n : nodes) {
    std::uint64_t c = 0;
    for (const auto& [size, k] : CellsOnNode(f, n, cell_memory, base_page_size)) c += k;
    cells.push_back(c);
    total += c;
  }
  // The largest k with sum min(C(i), k) >= N k: k guests with N cells on N distinct nodes.
  auto fits = [&](std::uint64_t k) {
    std::uint64_t sum = 0;
    for (std::uint64_t c : cells) sum += std::min(c, k);
    return sum >= cells_needed * k;
  };
  std::uint64_t lo = 0, hi = total / cells_needed;
  while (lo < hi) {
    std::uint64_t mid = lo + (hi - lo + 1) / 2;
    if (fits(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

CollectorSpec QemuCollectorSpec() {
  CollectorSpec spec;
  spec.name = "qemu";
  spec.default_enabled = true;
  spec.help =
      "QEMU guests: RAM backing, hugetlb per node, faults, swap, KSM; hugepage capacity per "
      "flavor";
  spec.sources =
      "/proc/<pid>/{cmdline,stat,status,cgroup,numa_maps,maps,ksm_stat,mountinfo,"
      "task/*/{stat,status}}, move_pages(2) (sampled placement), the guest's own cgroup: "
      "/sys/fs/cgroup/{,unified/}**/"
      "{cgroup.procs,hugetlb.<size>.numa_stat,memory.numa_stat}, "
      "/sys/fs/cgroup/{hugetlb,memory}/**/{cgroup.procs,hugetlb.<size>.numa_stat,"
      "memory.numa_stat}, /sys/devices/system/node/node*/cpulist, "
      "/sys/bus/pci/devices/*/numa_node";
  spec.options = {
      {"flavors", OptionType::kYaml, "",
       "List of {name, memory, page_size, numa_nodes} (Nova's hw:mem_page_size: small, large, "
       "any or a size; hw:numa_nodes): report pagescope_capacity_host_vm_slots and, for "
       "single-node flavors, pagescope_capacity_vm_slots per node and page size."},
  };
  spec.options.push_back(
      {"numa_locality", OptionType::kBool, "false",
       "Per guest: pagescope_vm_memory_local_ratio (share of its memory on the nodes its vCPU "
       "threads may run on) and, with passthrough devices, pagescope_vm_devices_remote: 1 or 2 "
       "more series per guest, off by default to keep a guest within its series budget "
       "(docs/numa-locality.md)."});
  spec.options.push_back(
      {"numa_detail", OptionType::kBool, "false",
       "Implies numa_locality; per guest also: memory per node, vCPU threads allowed on and "
       "last run on each node, vCPUs "
       "allowed on nodes without its memory, memory outside its backends' NUMA policy, and "
       "each passthrough device's node (docs/numa-locality.md)."});
  spec.options.push_back(WalkMaxOptionSpec());
  for (auto& o : SmapsOptionSpecs("QEMU processes", "500")) spec.options.push_back(std::move(o));
  spec.options.push_back(
      {"locked_memory", OptionType::kBool, "false",
       "Also export pagescope_vm_locked_bytes, pagescope_vm_pinned_bytes (status VmLck, VmPin) "
       "and pagescope_vm_ksm_profit_bytes: 3 more series per guest (off by default to keep a "
       "guest within its series budget)."});
  // The table of processes of the scrape is the one the processes collector made (its source).
  spec.after = {"processes"};
  spec.make = [](const CollectorOptions& o) -> std::unique_ptr<Collector> {
    auto flavors = ParseFlavors(o);
    const WalkRule rule = WalkRuleFromOptions(o);
    SmapsGuard::Limits limits = SmapsLimitsFromOptions(o, rule);
    auto c = std::make_unique<QemuCollector>(std::move(flavors), rule, o.Bool("smaps"), limits,
                                             o.Bool("numa_locality"), o.Bool("numa_detail"));
    c->locked_memory = o.Bool("locked_memory");
    return c;
  };
  return spec;
}

}  // namespace pagescope
