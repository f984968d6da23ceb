#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/auxv.h>

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "web/web_security.h"

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

std::shared_ptr<WebSecurity> LoadWebSecurity() {
  static std::mutex mu;
  static std::shared_ptr<WebSecurity> loaded;
  std::lock_guard<std::mutex> lock(mu);
  if (loaded) return loaded;
  // Next to the binary in the build tree, ../lib/pagescope when installed. Explicit paths rather
  // than the executable's RUNPATH: sanitizer runtimes intercept dlopen and the loader then
  // searches theirs.
  const std::string dir = ExecutableDir();
  std::vector<std::string> candidates;
  if (!dir.empty()) {
    candidates.push_back(dir + "/lib/pagescope/pagescope-web.so");
    candidates.push_back(dir + "/../lib/pagescope/pagescope-web.so");
  }
  void* handle = nullptr;
  std::string errors;
  for (const auto& path : candidates) {
    // Never closed: configurations it made may outlive any one user.
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) break;
    const char* e = dlerror();
    errors += std::string(errors.empty() ? "" : "; ") + (e != nullptr ? e : path);
  }
  if (handle == nullptr) {
    throw std::runtime_error(
        "--web.config.file needs pagescope's module lib/pagescope/pagescope-web.so (TLS and "
        "basic auth): " +
        (errors.empty() ? std::string("cannot find the executable's directory") : errors));
  }
  using Factory = WebSecurity* (*)();
  auto factory = reinterpret_cast<Factory>(dlsym(handle, "pagescope_web_security_new"));
  if (factory == nullptr) {
    throw std::runtime_error(
        "pagescope-web.so lacks pagescope_web_security_new: a module from "
        "another version?");
  }
  loaded.reset(factory());
  return loaded;
}

}  // namespace pagescope
