#include <mutex>
#include <stdexcept>
#include <string>

#include "framework/module.h"
#include "web/web_security.h"

namespace pagescope {

std::shared_ptr<WebSecurity> LoadWebSecurity() {
  static std::mutex mu;
  static std::shared_ptr<WebSecurity> loaded;
  std::lock_guard<std::mutex> lock(mu);
  if (loaded) return loaded;
  // Never closed: configurations it made may outlive any one user.
  ModuleSymbol factory = FindModuleSymbol("pagescope-web.so", "pagescope_web_security_new");
  if (factory.address == nullptr) {
    throw std::runtime_error(
        "--web.config.file needs pagescope's module lib/pagescope/pagescope-web.so (TLS and "
        "basic auth): " +
        factory.error);
  }
  using Factory = WebSecurity* (*)();
  loaded.reset(reinterpret_cast<Factory>(factory.address)());
  return loaded;
}

}  // namespace pagescope
