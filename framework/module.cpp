#include "framework/module.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/auxv.h>

#include <vector>

namespace pagescope {
namespace {

// The directory of the executable: the path execve was given (AT_EXECFN; a shell or systemd
// passes the full path), resolved. (dlinfo's RTLD_DI_ORIGIN crashes for the main program when
// nothing asked the loader for $ORIGIN.)
std::string ExecutableDir() {
  const char* execfn = reinterpret_cast<const char*>(getauxval(AT_EXECFN));
  if (execfn == nullptr) return "";
  char resolved[PATH_MAX + 1] = {};
  if (realpath(execfn, resolved) == nullptr) return "";
  std::string path(resolved);
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

}  // namespace

ModuleSymbol FindModuleSymbol(std::string_view file, const char* symbol, const std::string& path) {
  ModuleSymbol result;
  std::vector<std::string> candidates;
  if (!path.empty()) {
    candidates.push_back(path);
  } else if (const std::string dir = ExecutableDir(); !dir.empty()) {
    candidates.push_back(dir + "/lib/pagescope/" + std::string(file));
    candidates.push_back(dir + "/../lib/pagescope/" + std::string(file));
  }
  void* handle = nullptr;
  for (const auto& candidate : candidates) {
    handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) break;
    const char* e = dlerror();
    result.error += std::string(result.error.empty() ? "" : "; ") + (e != nullptr ? e : candidate);
  }
  if (handle == nullptr) {
    if (result.error.empty()) result.error = "cannot find the executable's directory";
    return result;
  }
  result.error.clear();
  result.address = dlsym(handle, symbol);
  if (result.address == nullptr) {
    result.error =
        std::string(file) + " lacks " + symbol + ": a module from another version of pagescope?";
  }
  return result;
}

}  // namespace pagescope
