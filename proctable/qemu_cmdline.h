#pragma once
// QEMU's command line as /proc/<pid>/cmdline shows it (NUL-separated), the parts that say how
// guest RAM is backed (qemu-system(1), docs/system/invocation; libvirt's domain XML
// <memoryBacking> turns into these):
//   -name guest=NAME,... | -name NAME       -uuid UUID
//   -m SIZE | -m size=SIZE,slots=..,maxmem=..   (bare numbers are MiB; maxmem is ignored)
//   -mem-path PATH  -mem-prealloc           (legacy backing of all RAM)
//   -object memory-backend-{file,ram,memfd},id=..,size=..,mem-path=..,share=on,prealloc=on,
//           hugetlb=on,hugetlbsize=2M,host-nodes=0-1,policy=bind
//   -object '{"qom-type":"memory-backend-file","id":..,"size":1073741824,...}'  (libvirt JSON)
//   -numa node,...,memdev=ID                -machine TYPE,...,memory-backend=ID
//   -device vfio-pci,host=0000:3b:00.0,...  (or sysfsdev=/sys/bus/pci/devices/0000:3b:00.0)
//   -device '{"driver":"vfio-pci","host":"0000:3b:00.0",...}'  (libvirt JSON)
// Also /proc/<pid>/mountinfo, to tell whether a mem-path is on hugetlbfs.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pagescope {

struct QemuMemoryBackend {
  std::string id;
  std::string type;  // "file", "ram" or "memfd" (qom-type without "memory-backend-")
  std::optional<std::uint64_t> size;
  std::string mem_path;
  bool share = false;
  bool prealloc = false;
  bool hugetlb = false;  // memfd hugetlb=on
  std::optional<std::uint64_t> hugetlbsize;
  std::string host_nodes;  // "0-1" or "0,1" as given
  std::string policy;      // default, preferred, bind, interleave
};

struct QemuCmdline {
  std::string name;  // -name guest=NAME or the first -name word
  std::string uuid;
  std::optional<std::uint64_t> memory_bytes;  // -m
  std::string mem_path;                       // -mem-path
  bool mem_prealloc = false;                  // -mem-prealloc
  std::vector<QemuMemoryBackend> backends;    // every memory-backend-* object
  std::vector<std::string> numa_memdevs;      // -numa node,memdev=ID
  std::string machine_memory_backend;         // -machine memory-backend=ID
  // PCI addresses of -device vfio-pci host=/sysfsdev=, as "0000:3b:00.0" (domain added when
  // omitted, hex digits lower case), in command-line order.
  std::vector<std::string> vfio_devices;

  // The backends that hold guest RAM (named by -numa memdev or -machine memory-backend).
  std::vector<const QemuMemoryBackend*> RamBackends() const;
};

// Throws ParseError(argument number, message) on a size or JSON object it cannot read.
QemuCmdline ParseQemuCmdline(const std::vector<std::string>& args);

// "3b:00.0" -> "0000:3b:00.0", "0000:3B:00.0" -> "0000:3b:00.0"; empty when not a PCI address
// (domain:bus:device.function in hex).
std::string NormalizePciAddress(std::string_view text);

// Whether `comm` (15 characters at most) names a QEMU system emulator.
bool IsQemuComm(std::string_view comm);

// The `vm` label of a guest: its -name, else its -uuid, else "pid-<pid>". Callers that see two
// guests of one name in a scrape append "@<pid>" to the second.
std::string VmLabel(const QemuCmdline& q, int pid);

}  // namespace pagescope
