#pragma once
// NUMA locality of a QEMU guest or a process group: where its threads may run and last ran,
// where its memory is, and where its PCI devices are (docs/numa-locality.md).
//   /proc/<pid>/task/<tid>/stat     comm (2) and processor (39): the CPU the thread last ran on
//   /proc/<pid>/task/<tid>/status   Cpus_allowed_list: the thread's CPU affinity
//   /proc/<pid>/numa_maps           memory per node, and memory outside its mappings' policy
//                                   (ParseProcPidNumaMaps, kernel/proc_pid.h)
//   /sys/devices/system/node/node<N>/cpulist   the CPUs of each node
//   /sys/bus/pci/devices/<addr>/numa_node      a PCI device's node; -1: the firmware gave none
// Parsers are pure; the readers go through the injected roots.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "framework/collector.h"
#include "kernel/proc_pid.h"

namespace pagescope {

// QEMU names its vCPU threads "CPU <n>/KVM" (or /TCG, /HVF...) when started with
// -name ...,debug-threads=on, as libvirt does. True for "CPU <digits>/<accel>".
bool IsVcpuThreadComm(std::string_view comm);

// /proc/<pid>/task/<tid>/stat: comm (2) and processor (39). processor is nullopt on kernels
// whose stat line stops earlier (it has been there since 2.2).
struct TaskStat {
  std::string comm;
  std::optional<int> processor;
};
TaskStat ParseTaskStat(std::string_view text);

// Cpus_allowed_list of a status file ("Cpus_allowed_list:\t0-3,8"), sorted; nullopt when the
// line is absent. Throws ParseError on a malformed list.
std::optional<std::vector<int>> ParseCpusAllowedList(std::string_view status);

// A PCI device's numa_node file: "1\n" -> 1, "-1\n" -> -1.
int ParsePciNumaNode(std::string_view text);

// CPU -> node from every /sys/devices/system/node/node<N>/cpulist (memoized per scrape). Empty
// on a kernel without NUMA directories: callers then take the host as one node 0.
struct NodeCpus {
  std::map<int, int> cpu_node;
  std::vector<int> nodes;  // node directories, sorted
  int NodeOf(int cpu) const;
};
const NodeCpus& ReadNodeCpus(const Context& ctx);

// A PCI device's node: -1 when the device has none, nullopt when the device (or its
// numa_node file) is missing.
std::optional<int> ReadPciNumaNode(const Context& ctx, const std::string& address);

// The threads of one process: every thread, or only those `want` accepts (by comm). At most
// `max_threads` are read. Threads that exit while being read are skipped.
struct ThreadPlacement {
  std::vector<std::vector<int>> allowed_cpus;  // per thread read, its affinity
  std::vector<int> last_cpus;                  // per thread read, the CPU it last ran on
  std::size_t skipped = 0;                     // threads past max_threads
};
void ReadThreads(const Context& ctx, const PidReader& reader, int pid, std::size_t max_threads,
                 const std::function<bool(std::string_view comm)>& want, ThreadPlacement& out,
                 std::string& buf);

// Below this share of the memory a node does not count as one the memory is on.
inline constexpr double kMemoryNodeMinShare = 0.05;

struct LocalityInput {
  ThreadPlacement threads;
  std::map<int, std::uint64_t> memory;  // node -> bytes (numa_maps)
  bool has_numa_maps = false;
  std::uint64_t policy_mappings = 0;
  std::uint64_t outside_policy_bytes = 0;
  std::vector<std::pair<std::string, std::optional<int>>> devices;  // address, node
  void AddNumaMaps(const ProcPidNumaMaps& m);  // its memory per node and its policy figures
  void AddPolicy(const ProcPidNumaMaps& m);    // the policy figures alone
};

struct Locality {
  std::set<int> allowed_nodes;                   // nodes any thread may run on
  std::map<int, std::uint64_t> threads_allowed;  // node -> threads allowed on it
  std::map<int, std::uint64_t> threads_last;     // node -> threads that last ran on it
  std::set<int> memory_nodes;                    // nodes with >= kMemoryNodeMinShare of memory
  std::uint64_t memory_total = 0;
  std::optional<double> local_ratio;               // memory on allowed_nodes / memory_total
  std::uint64_t threads_remote = 0;                // threads allowed on a node the memory is not on
  std::uint64_t devices_remote = 0;                // devices with a node, not one of memory_nodes
  std::optional<std::uint64_t> unrequested_bytes;  // outside_policy_bytes, when any policy
};
Locality ComputeLocality(const NodeCpus& topology, const LocalityInput& in);

// "0,1" for {0, 1}; "" for none.
std::string NodeSetLabel(const std::set<int>& nodes);

// The names and help texts of the locality series of one kind of subject: QEMU guests
// (pagescope_vm_*, label vm) or process groups (pagescope_process_*, label group).
struct LocalitySeries {
  struct Series {
    std::string name;
    std::string help;
  };
  std::string label;
  Series local_ratio, devices_remote, memory_node_bytes, threads_allowed, threads_last_node,
      threads_remote, unrequested_bytes, device_info;
};
extern const LocalitySeries kGroupLocalitySeries;
extern const LocalitySeries kVmLocalitySeries;

// The locality series of one subject (`subject`: the vm or group label). `detail` false: only
// the local ratio and the remote devices.
void EmitLocality(const LocalitySeries& series, const std::string& subject,
                  const NodeCpus& topology, const LocalityInput& in, const Locality& loc,
                  bool detail, MetricSink& out);

// Locality of process groups, for the `processes` collector's opt-in `numa_locality` option:
//   numa_locality:
//     - group: "dpdk"                        # a group name as the groups matchers make it
//       devices: ["0000:3b:00.0", "3b:00.1"]  # PCI addresses the group drives (optional)
//       threads: "lcore-worker-.*"            # only threads whose comm matches (optional;
//                                             # default every thread)
// For these groups only: every thread's affinity and last CPU, and the numa_maps of each
// process (a page-table walk, like smaps_rollup: the collector walks only the processes its
// walk rule allows, proctable/walk_cost.h), at most `numa_max_threads` threads per group.
class GroupLocality {
 public:
  struct GroupConfig {
    std::string group;
    std::vector<std::string> devices;   // normalized PCI addresses
    std::optional<std::regex> threads;  // thread comm filter (whole comm must match)
  };
  static std::vector<GroupConfig> FromYaml(const CollectorOptions& options,
                                           const std::string& option, const YAML::Node& node);
  GroupLocality(std::vector<GroupConfig> groups, std::size_t max_threads);
  bool enabled() const { return !groups_.empty(); }
  bool Wants(const std::string& group) const { return groups_.count(group) > 0; }
  // One process of a wanted group, in this scrape: its threads are read here; `numa` is its
  // numa_maps as the caller read it (shared with other per-group numa_maps uses), or null;
  // `memory`, its memory per node from elsewhere (a sampled estimate), or null.
  void Add(const Context& ctx, const PidReader& reader, const ProcessEntry& p,
           const std::string& group, const ProcPidNumaMaps* numa,
           const std::map<int, std::uint64_t>* memory, std::string& buf);
  // The series of the groups added since the last Emit.
  void Emit(const Context& ctx, MetricSink& out);

 private:
  std::map<std::string, GroupConfig> groups_;
  std::size_t max_threads_;
  std::map<std::string, LocalityInput> scrape_;
};

}  // namespace pagescope
