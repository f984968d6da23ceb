#include "proctable/bpf_tasks.h"

#include "framework/module.h"

namespace pagescope {

BpfTaskSource::BpfTaskSource() = default;
BpfTaskSource::~BpfTaskSource() = default;

bool BpfTaskSource::Open(std::string& error, const std::string& module_path) {
  if (walker_) return true;
#ifndef PAGESCOPE_HAVE_BPF
  (void)module_path;
  error =
      "BPF task source: pagescope was built without BPF support (-DPAGESCOPE_BPF=OFF, or "
      "clang, bpftool or libbpf missing at build time)";
  return false;
#else
  // Never closed: the walker's code lives there.
  ModuleSymbol factory =
      FindModuleSymbol("pagescope-bpf.so", "pagescope_bpf_tasks_open", module_path);
  if (factory.address == nullptr) {
    error = "BPF task source needs pagescope's module lib/pagescope/pagescope-bpf.so (libbpf): " +
            factory.error;
    return false;
  }
  using Factory = BpfTaskWalker* (*)(std::string*);
  walker_.reset(reinterpret_cast<Factory>(factory.address)(&error));
  return walker_ != nullptr;
#endif
}

bool BpfTaskSource::Read(std::vector<TaskFigures>& out, std::string& error) {
  if (!walker_) {
    error = "BPF task source: not open";
    return false;
  }
  return walker_->Read(out, error);
}

}  // namespace pagescope
