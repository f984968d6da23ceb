#include <dlfcn.h>

#include <mutex>
#include <stdexcept>

#include "exporter/web_security.h"

namespace pagescope {

std::shared_ptr<WebSecurity> LoadWebSecurity() {
  static std::mutex mu;
  static std::shared_ptr<WebSecurity> loaded;
  std::lock_guard<std::mutex> lock(mu);
  if (loaded) return loaded;
  // Never closed: configurations it made may outlive any one user.
  void* handle = dlopen("pagescope-web.so", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* e = dlerror();
    throw std::runtime_error(std::string("--web.config.file needs pagescope's module "
                                         "lib/pagescope/pagescope-web.so (TLS and basic auth): ") +
                             (e != nullptr ? e : "cannot load it"));
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
