#include "proctable/numa_locality.h"

#include <algorithm>
#include <cstdlib>

#include "kernel/parse.h"
#include "proctable/qemu_cmdline.h"

namespace pagescope {

bool IsVcpuThreadComm(std::string_view comm) {
  if (!comm.starts_with("CPU ")) return false;
  comm.remove_prefix(4);
  std::size_t digits = 0;
  while (digits < comm.size() && comm[digits] >= '0' && comm[digits] <= '9') ++digits;
  if (digits == 0 || digits >= comm.size() || comm[digits] != '/') return false;
  return digits + 1 < comm.size();
}

TaskStat ParseTaskStat(std::string_view text) {
  TaskStat t;
  std::size_t close = 0;
  t.comm = std::string(StatComm(text, &close));
  auto fields = parse::Fields(parse::Trim(text.substr(close + 1)));
  // fields[0] is (3) state, so (39) processor is fields[36].
  if (fields.size() > 36) {
    auto cpu = parse::I64(fields[36], 1);
    if (cpu < 0 || cpu > (1 << 20)) throw ParseError(1, "bad processor field");
    t.processor = static_cast<int>(cpu);
  }
  return t;
}

std::optional<std::vector<int>> ParseCpusAllowedList(std::string_view status) {
  std::optional<std::vector<int>> out;
  parse::ForEachLine(status, [&](std::size_t line, std::string_view l) {
    constexpr std::string_view kKey = "Cpus_allowed_list:";
    if (!l.starts_with(kKey)) return;
    try {
      out = parse::IdList(parse::Trim(l.substr(kKey.size())));
    } catch (const ParseError& e) {
      throw ParseError(line, std::string("Cpus_allowed_list: ") + e.what());
    }
  });
  return out;
}

int ParsePciNumaNode(std::string_view text) {
  auto v = parse::SingleI64(text);
  if (v < -1 || v > 4096) throw ParseError(1, "numa_node out of range");
  return static_cast<int>(v);
}

int NodeCpus::NodeOf(int cpu) const {
  if (cpu_node.empty()) return 0;  // no NUMA directories: one node 0
  auto it = cpu_node.find(cpu);
  return it == cpu_node.end() ? -1 : it->second;
}

const NodeCpus& ReadNodeCpus(const Context& ctx) {
  return ctx.Memo<NodeCpus>("numa_locality.node_cpus", [&] {
    NodeCpus t;
    auto base = ctx.fs().Sys("devices/system/node");
    auto dirs = ctx.ReadSubdirs(base);
    if (!dirs) return t;
    for (const auto& d : *dirs) {
      auto id = parse::NodeDirId(d);
      if (!id) continue;
      t.nodes.push_back(*id);
      auto path = base / d / "cpulist";
      auto text = ctx.ReadQuiet(path);
      if (!text) continue;
      for (int cpu : ParseFile(path, [&] { return parse::IdList(*text); })) {
        t.cpu_node[cpu] = *id;
      }
    }
    std::sort(t.nodes.begin(), t.nodes.end());
    return t;
  });
}

std::optional<int> ReadPciNumaNode(const Context& ctx, const std::string& address) {
  auto path = ctx.fs().Sys("bus/pci/devices/" + address + "/numa_node");
  auto text = ctx.ReadQuiet(path);
  if (!text) return std::nullopt;
  return ParseFile(path, [&] { return ParsePciNumaNode(*text); });
}

void ReadThreads(const Context& ctx, const PidReader& reader, int pid, std::size_t max_threads,
                 const std::function<bool(std::string_view comm)>& want, ThreadPlacement& out,
                 std::string& buf) {
  auto tasks = ctx.ReadDir(reader.Path(pid, "task"));
  if (!tasks) return;
  std::size_t read = 0;
  for (const auto& tid : *tasks) {
    if (tid.empty() || tid.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = "task/" + tid + "/stat";
    if (reader.Read(pid, stat.c_str(), buf, true) != ReadStatus::kOk) continue;
    auto ts = ParseFile(reader.Path(pid, stat.c_str()), [&] { return ParseTaskStat(buf); });
    if (want && !want(ts.comm)) continue;
    if (read >= max_threads) {
      ++out.skipped;
      continue;
    }
    const std::string status = "task/" + tid + "/status";
    if (reader.Read(pid, status.c_str(), buf, true) != ReadStatus::kOk) continue;
    auto allowed =
        ParseFile(reader.Path(pid, status.c_str()), [&] { return ParseCpusAllowedList(buf); });
    if (!allowed) continue;
    ++read;
    out.allowed_cpus.push_back(std::move(*allowed));
    if (ts.processor) out.last_cpus.push_back(*ts.processor);
  }
}

void LocalityInput::AddNumaMaps(const ProcPidNumaMaps& m) {
  for (const auto& [node, bytes] : m.node_bytes) memory[node] += bytes;
  AddPolicy(m);
}

void LocalityInput::AddPolicy(const ProcPidNumaMaps& m) {
  has_numa_maps = true;
  policy_mappings += m.policy_mappings;
  outside_policy_bytes += m.outside_policy_bytes;
}

Locality ComputeLocality(const NodeCpus& topology, const LocalityInput& in) {
  Locality l;
  std::vector<std::set<int>> thread_nodes;
  for (const auto& cpus : in.threads.allowed_cpus) {
    std::set<int> nodes;
    for (int cpu : cpus) {
      int n = topology.NodeOf(cpu);
      if (n >= 0) nodes.insert(n);
    }
    for (int n : nodes) ++l.threads_allowed[n];
    l.allowed_nodes.insert(nodes.begin(), nodes.end());
    thread_nodes.push_back(std::move(nodes));
  }
  for (int cpu : in.threads.last_cpus) {
    int n = topology.NodeOf(cpu);
    if (n >= 0) ++l.threads_last[n];
  }
  for (const auto& [node, bytes] : in.memory) l.memory_total += bytes;
  if (l.memory_total > 0) {
    std::uint64_t local = 0;
    for (const auto& [node, bytes] : in.memory) {
      if (l.allowed_nodes.count(node)) local += bytes;
      if (static_cast<double>(bytes) >= kMemoryNodeMinShare * static_cast<double>(l.memory_total)) {
        l.memory_nodes.insert(node);
      }
    }
    if (!l.allowed_nodes.empty()) {
      l.local_ratio = static_cast<double>(local) / static_cast<double>(l.memory_total);
    }
    for (const auto& nodes : thread_nodes) {
      if (std::any_of(nodes.begin(), nodes.end(),
                      [&](int n) { return l.memory_nodes.count(n) == 0; })) {
        ++l.threads_remote;
      }
    }
    for (const auto& [addr, node] : in.devices) {
      if (node && *node >= 0 && l.memory_nodes.count(*node) == 0) ++l.devices_remote;
    }
  }
  if (in.policy_mappings > 0) l.unrequested_bytes = in.outside_policy_bytes;
  return l;
}

std::string NodeSetLabel(const std::set<int>& nodes) {
  std::string out;
  for (int n : nodes) {
    if (!out.empty()) out += ',';
    out += std::to_string(n);
  }
  return out;
}

std::vector<GroupLocality::GroupConfig> GroupLocality::FromYaml(const CollectorOptions& o,
                                                                const std::string& option,
                                                                const YAML::Node& n) {
  std::vector<GroupConfig> out;
  if (!n.IsDefined() || n.IsNull()) return out;
  if (!n.IsSequence()) o.FailAt(option, n, "expected a list of {group, devices}");
  std::set<std::string> seen;
  for (const auto& item : n) {
    if (!item.IsMap()) o.FailAt(option, item, "expected {group, devices}");
    GroupConfig g;
    for (const auto& kv : item) {
      const std::string key = kv.first.Scalar();
      if (key == "group") {
        if (!kv.second.IsScalar() || kv.second.Scalar().empty()) {
          o.FailAt(option, kv.second, "group must be a group name");
        }
        g.group = kv.second.Scalar();
      } else if (key == "devices") {
        if (!kv.second.IsSequence()) {
          o.FailAt(option, kv.second, "devices must be a list of PCI addresses");
        }
        for (const auto& d : kv.second) {
          std::string addr = d.IsScalar() ? NormalizePciAddress(d.Scalar()) : "";
          if (addr.empty()) {
            o.FailAt(option, d, "not a PCI address (e.g. 0000:3b:00.0 or 3b:00.0)");
          }
          g.devices.push_back(addr);
        }
      } else if (key == "threads") {
        if (!kv.second.IsScalar()) o.FailAt(option, kv.second, "threads must be a pattern");
        try {
          g.threads.emplace(kv.second.Scalar(), std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
          o.FailAt(option, kv.second, std::string("bad threads pattern: ") + e.what());
        }
      } else {
        o.FailAt(option, kv.first, "unknown key \"" + key + "\" (group, devices, threads)");
      }
    }
    if (g.group.empty()) o.FailAt(option, item, "an entry needs a group");
    if (!seen.insert(g.group).second) {
      o.FailAt(option, item, "group \"" + g.group + "\" is listed twice");
    }
    out.push_back(std::move(g));
  }
  return out;
}

GroupLocality::GroupLocality(std::vector<GroupConfig> groups, std::size_t max_threads)
    : max_threads_(max_threads) {
  for (auto& g : groups) groups_[g.group] = std::move(g);
}

void GroupLocality::Add(const Context& ctx, const PidReader& reader, const ProcessEntry& p,
                        const std::string& group, const ProcPidNumaMaps* numa,
                        const std::map<int, std::uint64_t>* memory, std::string& buf) {
  LocalityInput& in = scrape_[group];
  const std::size_t read = in.threads.allowed_cpus.size();
  const GroupConfig& config = groups_[group];
  std::function<bool(std::string_view)> want;
  if (config.threads) {
    want = [&](std::string_view comm) {
      return std::regex_match(comm.begin(), comm.end(), *config.threads);
    };
  }
  ReadThreads(ctx, reader, p.pid, read < max_threads_ ? max_threads_ - read : 0, want, in.threads,
              buf);
  if (numa) in.AddNumaMaps(*numa);
  if (memory) {
    for (const auto& [node, bytes] : *memory) in.memory[node] += bytes;
  }
}

const LocalitySeries kGroupLocalitySeries{
    "group",
    {"pagescope_process_memory_local_ratio",
     "Share of the group's resident memory (numa_maps, hugetlb and the rest) on the NUMA nodes "
     "its threads may run on (their CPU affinity)."},
    {"pagescope_process_devices_remote",
     "PCI devices configured for the group on a NUMA node that holds less than 5% of its memory "
     "(devices without a node are not counted)."},
    {"pagescope_process_memory_node_bytes",
     "Resident memory of the group on this NUMA node (numa_maps: hugetlb and the rest)."},
    {"pagescope_process_threads_allowed",
     "Threads of the group allowed to run on a CPU of this NUMA node (Cpus_allowed_list)."},
    {"pagescope_process_threads_last_node",
     "Threads of the group that last ran on a CPU of this NUMA node (task stat processor)."},
    {"pagescope_process_threads_remote",
     "Threads of the group allowed on a NUMA node that holds less than 5% of its memory."},
    {"pagescope_process_memory_unrequested_bytes",
     "Memory of the group's mappings that carry a NUMA policy (numactl, mbind, set_mempolicy) on "
     "a node the policy does not name (numa_maps)."},
    {"pagescope_process_device_info",
     "A PCI device configured for the group and its NUMA node (-1: none)."},
};

const LocalitySeries kVmLocalitySeries{
    "vm",
    {"pagescope_vm_memory_local_ratio",
     "Share of the guest's resident memory (numa_maps, hugetlb and the rest) on the NUMA nodes "
     "its vCPU threads may run on (their CPU affinity)."},
    {"pagescope_vm_devices_remote",
     "Passthrough PCI devices (vfio-pci) of the guest on a NUMA node that holds less than 5% of "
     "its memory (devices without a node are not counted)."},
    {"pagescope_vm_memory_node_bytes",
     "Resident memory of the QEMU process on this NUMA node (numa_maps: hugetlb and the rest, "
     "guest RAM and QEMU's own)."},
    {"pagescope_vm_vcpus_allowed",
     "vCPU threads of the guest allowed to run on a CPU of this NUMA node (Cpus_allowed_list)."},
    {"pagescope_vm_vcpus_last_node",
     "vCPU threads of the guest that last ran on a CPU of this NUMA node (task stat processor)."},
    {"pagescope_vm_vcpus_remote",
     "vCPU threads of the guest allowed on a NUMA node that holds less than 5% of its memory."},
    {"pagescope_vm_memory_unrequested_bytes",
     "Memory of the guest's mappings that carry a NUMA policy (QEMU's mbind for host-nodes) on a "
     "node the policy does not name (numa_maps)."},
    {"pagescope_vm_device_info",
     "A passthrough PCI device (vfio-pci) of the guest and its NUMA node (-1: none)."},
};

void EmitLocality(const LocalitySeries& series, const std::string& subject,
                  const NodeCpus& topology, const LocalityInput& in, const Locality& loc,
                  bool detail, MetricSink& out) {
  const Labels l{{series.label, subject}};
  if (loc.local_ratio) {
    out.Gauge(series.local_ratio.name, series.local_ratio.help, l, *loc.local_ratio);
  }
  if (!in.devices.empty() && loc.memory_total > 0) {
    out.Gauge(series.devices_remote.name, series.devices_remote.help, l,
              static_cast<double>(loc.devices_remote));
  }
  if (!detail) return;
  for (const auto& [node, bytes] : in.memory) {
    out.Gauge(series.memory_node_bytes.name, series.memory_node_bytes.help,
              {{series.label, subject}, {"node", std::to_string(node)}},
              static_cast<double>(bytes));
  }
  if (!in.threads.allowed_cpus.empty()) {
    for (int node : topology.nodes.empty() ? std::vector<int>{0} : topology.nodes) {
      auto count = [&](const std::map<int, std::uint64_t>& m) {
        auto it = m.find(node);
        return static_cast<double>(it == m.end() ? 0 : it->second);
      };
      const Labels ln{{series.label, subject}, {"node", std::to_string(node)}};
      out.Gauge(series.threads_allowed.name, series.threads_allowed.help, ln,
                count(loc.threads_allowed));
      out.Gauge(series.threads_last_node.name, series.threads_last_node.help, ln,
                count(loc.threads_last));
    }
    if (loc.memory_total > 0) {
      out.Gauge(series.threads_remote.name, series.threads_remote.help, l,
                static_cast<double>(loc.threads_remote));
    }
  }
  if (loc.unrequested_bytes) {
    out.Gauge(series.unrequested_bytes.name, series.unrequested_bytes.help, l,
              static_cast<double>(*loc.unrequested_bytes));
  }
  for (const auto& [addr, node] : in.devices) {
    if (!node) continue;
    out.Info(series.device_info.name, series.device_info.help,
             {{series.label, subject}, {"device", addr}, {"node", std::to_string(*node)}});
  }
}

void GroupLocality::Emit(const Context& ctx, MetricSink& out) {
  if (groups_.empty()) return;
  const NodeCpus& topology = ReadNodeCpus(ctx);
  for (auto& [group, in] : scrape_) {
    for (const auto& addr : groups_[group].devices) {
      std::optional<int> node;
      try {
        node = ReadPciNumaNode(ctx, addr);
      } catch (const CollectError& e) {
        out.Fail(e.what());
      }
      in.devices.emplace_back(addr, node);
    }
    EmitLocality(kGroupLocalitySeries, group, topology, in, ComputeLocality(topology, in), true,
                 out);
  }
  scrape_.clear();
}

}  // namespace pagescope
