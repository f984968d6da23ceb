#pragma once
// The hugepage configuration: what was requested, to compare with the pools the kernel actually
// built (pagescope_hugepages_pool_pages), and the related vm sysctls.
// - /proc/cmdline: default_hugepagesz=, hugepagesz=, hugepages= (incl. the per-node form
//   "hugepages=0:512,1:512") as mm/hugetlb.c reads them
//   (Documentation/admin-guide/kernel-parameters.txt,
//   Documentation/admin-guide/mm/hugetlbpage.rst).
// - The persistent sysctl configuration below --path.rootfs (sysctl.d(5)): /etc/sysctl.d,
//   /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d, /lib/sysctl.d and
//   /etc/sysctl.conf: vm.nr_hugepages and vm.nr_overcommit_hugepages for the default size.
// - /proc/sys/vm (Documentation/admin-guide/sysctl/vm.rst): overcommit_memory and
//   hugetlb_shm_group. The live vm.nr_hugepages and vm.nr_overcommit_hugepages are the default
//   size's pool files, exported by the hugepages collector.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framework/collector.h"

namespace pagescope {

// The hugepage parameters of a kernel command line, resolved as the kernel resolves them.
struct CmdlineHugepages {
  std::optional<std::uint64_t> default_size;  // default_hugepagesz=, bytes
  struct Request {
    std::optional<std::uint64_t> page_size;  // bytes; nullopt: the default size (no
                                             // hugepagesz= or default_hugepagesz= given)
    std::uint64_t pages = 0;                 // total over nodes for the per-node form
    std::map<int, std::uint64_t> per_node;   // only for the per-node form
  };
  std::vector<Request> requests;  // in command line order; at most one per size
  // Parameters the kernel ignores (with a message in its log): bad values, repeats.
  std::vector<std::string> problems;
};
// Stops at "--" (what follows is for init). Never throws: problems are listed.
CmdlineHugepages ParseCmdlineHugepages(std::string_view cmdline);

// One assignment of a sysctl configuration file.
struct SysctlAssignment {
  std::string key;  // normalized to dots: "vm.nr_hugepages"
  std::string value;
  std::size_t line = 0;
};
// Comments start with '#' or ';'; "key = value"; a leading '-' on the key (ignore errors) is
// dropped; "/" separators become ".". A line that is not an assignment (other than a "-key"
// exclusion) is an error naming the line: thrown when `errors` is null, else appended there and
// skipped (systemd-sysctl applies a file's other lines too).
std::vector<SysctlAssignment> ParseSysctlConf(std::string_view text,
                                              std::vector<ParseError>* errors = nullptr);

// The sysctl configuration files in the order they are applied (later ones win): the files of
// all sysctl.d directories sorted by name, a name in an earlier directory hiding the same name
// in later ones (/etc, /run, /usr/local/lib, /usr/lib, /lib), then /etc/sysctl.conf. Paths are
// below --path.rootfs; a file that is a symlink to /dev/null is masked and left out.
std::vector<std::filesystem::path> SysctlConfFiles(const Context& ctx);

CollectorSpec HugepagesConfigCollectorSpec();

}  // namespace pagescope
