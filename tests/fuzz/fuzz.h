#pragma once
// libFuzzer targets: one file per parser, `fuzz_<name>.cpp`, whose first line names its seed
// files from the fixtures and whose body is one PAGESCOPE_FUZZ_TEXT line:
//
//   // seeds: proc/meminfo
//   #include "collectors/meminfo.h"
//   #include "tests/fuzz/fuzz.h"
//   PAGESCOPE_FUZZ_TEXT(pagescope::ParseMeminfo(text))
//
// `seeds:` takes space-separated globs relative to each tests/fixtures/<case>/ directory.
// The expression sees `text` (std::string_view of the input). A ParseError (malformed input),
// CollectError or ConfigError is a correct answer; any other exception, crash, sanitizer report,
// timeout or memory blow-up is a finding.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "framework/errors.h"

#define PAGESCOPE_FUZZ_TEXT(expr)                                                     \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    std::string_view text(reinterpret_cast<const char*>(data), size);                 \
    try {                                                                             \
      (void)(expr);                                                                   \
    } catch (const pagescope::ParseError&) {                                          \
    } catch (const pagescope::CollectError&) {                                        \
    } catch (const pagescope::ConfigError&) {                                         \
    }                                                                                 \
    return 0;                                                                         \
  }
