#pragma once
// pagescope's loadable modules (lib/pagescope/<file>): what needs a library most exporters do
// not use (OpenSSL and libcrypt for TLS and basic auth, libbpf for the BPF task source) is built
// into a module, opened with dlopen only when asked for, so the executable does not pay for it
// in resident memory.

#include <string>
#include <string_view>

namespace pagescope {

struct ModuleSymbol {
  void* address = nullptr;  // the symbol, or nullptr with `error` set
  std::string error;
};

// Opens lib/pagescope/<file> next to the executable (the build tree) or in ../lib/pagescope
// (installed), or `path` when not empty, and finds `symbol` in it. Explicit paths rather than
// the executable's RUNPATH: sanitizer runtimes intercept dlopen and the loader then searches
// theirs. The module is never closed. On failure `error` says what dlopen or dlsym said, or that
// the executable's directory is unknown; callers add what the module is for.
ModuleSymbol FindModuleSymbol(std::string_view file, const char* symbol,
                              const std::string& path = "");

}  // namespace pagescope
