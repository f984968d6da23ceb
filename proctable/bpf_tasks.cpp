#include "proctable/bpf_tasks.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/auxv.h>

namespace pagescope {
namespace {

#ifdef PAGESCOPE_HAVE_BPF
// The directory of the executable (AT_EXECFN resolved), as for pagescope-web.so.
std::string ExecutableDir() {
  const char* execfn = reinterpret_cast<const char*>(getauxval(AT_EXECFN));
  if (execfn == nullptr) return "";
  char resolved[PATH_MAX + 1] = {};
  if (realpath(execfn, resolved) == nullptr) return "";
  std::string path(resolved);
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}
#endif

}  // namespace

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
  // Next to the binary in the build tree, ../lib/pagescope when installed; explicit paths (not
  // RUNPATH) as sanitizer runtimes intercept dlopen.
  std::vector<std::string> candidates;
  if (!module_path.empty()) {
    candidates.push_back(module_path);
  } else {
    const std::string dir = ExecutableDir();
    if (!dir.empty()) {
      candidates.push_back(dir + "/lib/pagescope/pagescope-bpf.so");
      candidates.push_back(dir + "/../lib/pagescope/pagescope-bpf.so");
    }
  }
  void* handle = nullptr;
  std::string errors;
  for (const auto& path : candidates) {
    // Never closed: the walker's code lives there.
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) break;
    const char* e = dlerror();
    errors += std::string(errors.empty() ? "" : "; ") + (e != nullptr ? e : path);
  }
  if (handle == nullptr) {
    error = "BPF task source needs pagescope's module lib/pagescope/pagescope-bpf.so (libbpf): " +
            (errors.empty() ? std::string("cannot find the executable's directory") : errors);
    return false;
  }
  using Factory = BpfTaskWalker* (*)(std::string*);
  auto factory = reinterpret_cast<Factory>(dlsym(handle, "pagescope_bpf_tasks_open"));
  if (factory == nullptr) {
    error = "pagescope-bpf.so lacks pagescope_bpf_tasks_open: a module from another version?";
    return false;
  }
  walker_.reset(factory(&error));
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
