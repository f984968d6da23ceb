// The placement sampler (proctable/page_sample.h) from the command line, for the live and lab
// tests (test_live_page_sample, test_lab_page_sample) and scripts/bench-harm.py.
//   page_sample [--maps-text] [--max-pages N] [--batch N] [--repeat N] PID
// Prints one line per sample:
//   path=procmap_query seconds=0.000412 max_call_seconds=0.000021
// then one line per class:
//   class page_size=4096 mapped_bytes=… asked=… present=… N0=… N1=…
// --maps-text lists the mappings from the maps text even where PROCMAP_QUERY exists. --repeat
// samples N times (a line "path=…" before each). Exit 1 when the process cannot be sampled
// (gone, no ptrace access, a kernel without move_pages), 2 on usage, 3 on an error (stderr).
#include "proctable/page_sample.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "framework/collector.h"
#include "framework/fs.h"
#include "framework/log.h"

int main(int argc, char** argv) {
  pagescope::PageSampleOptions opts;
  auto source = pagescope::MappingSource::kAuto;
  int repeat = 1;
  int pid = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--maps-text") {
      source = pagescope::MappingSource::kMapsText;
    } else if ((a == "--max-pages" || a == "--batch" || a == "--repeat") && i + 1 < argc) {
      long v = std::atol(argv[++i]);
      if (v <= 0) return 2;
      if (a == "--max-pages") opts.max_pages = static_cast<std::size_t>(v);
      if (a == "--batch") opts.batch = static_cast<std::size_t>(v);
      if (a == "--repeat") repeat = static_cast<int>(v);
    } else if (pid == 0 && !a.empty() && a[0] != '-') {
      pid = std::atoi(a.c_str());
    } else {
      pid = 0;
      break;
    }
  }
  if (pid <= 0) {
    std::fprintf(stderr, "usage: %s [--maps-text] [--max-pages N] [--batch N] [--repeat N] PID\n",
                 argv[0]);
    return 2;
  }
  pagescope::FsRoot fs;
  pagescope::log::RateLimiter limiter(std::chrono::minutes(1));
  for (int r = 0; r < repeat; ++r) {
    pagescope::Context ctx(fs, limiter);
    try {
      auto s = pagescope::SamplePages(ctx, pid, opts, source);
      if (!s) {
        std::fprintf(stderr, "pid %d: cannot be sampled (gone, denied or no move_pages)\n", pid);
        return 1;
      }
      std::printf("path=%s seconds=%.6f max_call_seconds=%.6f\n", s->path.c_str(), s->seconds,
                  s->max_call_seconds);
      for (const auto& c : s->classes) {
        unsigned long long present = 0;
        for (const auto& [node, n] : c.present_by_node) present += n;
        std::printf("class page_size=%llu mapped_bytes=%llu asked=%llu present=%llu",
                    static_cast<unsigned long long>(c.page_size),
                    static_cast<unsigned long long>(c.mapped_bytes),
                    static_cast<unsigned long long>(c.asked), present);
        for (const auto& [node, n] : c.present_by_node) {
          std::printf(" N%d=%llu", node, static_cast<unsigned long long>(n));
        }
        std::printf("\n");
      }
      std::fflush(stdout);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 3;
    }
  }
  return 0;
}
