#include "proctable/identity.h"

namespace pagescope {

std::optional<QemuGuest> ReadQemuGuest(const PidReader& reader, int pid, std::string_view comm,
                                       std::string& buf, ReadStatus* status) {
  if (!IsQemuComm(comm)) return std::nullopt;
  const ReadStatus st = reader.Read(pid, "cmdline", buf, true);
  if (status != nullptr) *status = st;
  if (st != ReadStatus::kOk) return std::nullopt;
  if (buf.empty()) return std::nullopt;  // a zombie
  QemuGuest g;
  g.cmdline =
      ParseFile(reader.Path(pid, "cmdline"), [&] { return ParseQemuCmdline(SplitCmdline(buf)); });
  g.vm = VmLabel(g.cmdline, pid);
  return g;
}

std::string VmNames::Unique(const std::string& vm, int pid) {
  if (seen_.insert(vm).second) return vm;
  return vm + "@" + std::to_string(pid);  // two guests, one name
}

}  // namespace pagescope
