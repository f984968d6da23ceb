#pragma once
// Who a process is, beyond its stat and status: here, whether it is a QEMU guest and which one.
//
// A QEMU guest is a process whose comm names a QEMU system emulator (qemu-system-* or qemu-kvm)
// and whose /proc/<pid>/cmdline is not empty (a zombie's is). Its `vm` label is VmLabel's (its
// -name, else its -uuid, else "pid-<pid>"); the second guest of one name in a scrape is
// "<name>@<pid>" (VmNames). The qemu and tlb collectors name guests alike through this.

#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "kernel/proc_pid.h"
#include "proctable/qemu_cmdline.h"

namespace pagescope {

struct QemuGuest {
  QemuCmdline cmdline;
  std::string vm;  // the label before de-duplication (VmNames)
};

// Reads /proc/<pid>/cmdline when `comm` names a QEMU system emulator. nullopt when it does not,
// or the process exited, the file is denied, or the process is a zombie; `status`, when given,
// gets the read's status (kDenied: permission denied). Throws CollectError "path:line: message"
// on a command line ParseQemuCmdline cannot read. `buf` is scratch space.
std::optional<QemuGuest> ReadQemuGuest(const PidReader& reader, int pid, std::string_view comm,
                                       std::string& buf, ReadStatus* status = nullptr);

// The `vm` labels handed out in one scrape (one instance per scrape, processes in pid order):
// the first guest of a name keeps it, a later one gets "@<pid>" appended.
class VmNames {
 public:
  std::string Unique(const std::string& vm, int pid);

 private:
  std::set<std::string> seen_;
};

}  // namespace pagescope
