#include "proctable/walk_cost.h"

#include <algorithm>

#include "kernel/parse.h"

namespace pagescope {

const char* WalkFileName(WalkFile file) {
  return file == WalkFile::kNumaMaps ? "numa_maps" : "smaps_rollup";
}

WalkSize WalkSizeOf(const ProcessEntry& p, std::uint64_t base_page_size,
                    std::uint64_t huge_page_size) {
  WalkSize s;
  s.base_pages = p.stat.rss_pages;
  if (base_page_size > 0) s.base_pages += p.status.vm_swap.value_or(0) / base_page_size;
  const std::uint64_t hugetlb = p.status.hugetlb_pages.value_or(0);
  if (hugetlb > 0) {
    // Without a hugepage size (no pools) HugetlbPages should be 0; if not, count it in base
    // pages: over-estimated, never under-estimated.
    const std::uint64_t entry = huge_page_size > 0 ? huge_page_size : base_page_size;
    if (entry > 0) s.huge_pages = (hugetlb + entry - 1) / entry;
  }
  return s;
}

WalkCostPerEntry WalkCost(WalkFile file) {
  // docs/performance.md, "Page-table walks: the cost per entry": measured with
  // scripts/bench-harm.py --walk-cost on the 2-core development VM under load 9, rounded up.
  switch (file) {
    case WalkFile::kNumaMaps:
      return {210, 150};
    case WalkFile::kSmapsRollup:
      return {260, 220};
  }
  return {};
}

double EstimateWalkSeconds(WalkFile file, const WalkSize& size) {
  const WalkCostPerEntry c = WalkCost(file);
  return (static_cast<double>(size.base_pages) * c.base_page_ns +
          static_cast<double>(size.huge_pages) * c.huge_page_ns) *
         1e-9;
}

std::uint64_t HugetlbEntrySize(const Context& ctx) {
  return ctx.Memo<std::uint64_t>("hugetlb_entry_size", [&ctx]() -> std::uint64_t {
    auto dir = ctx.fs().Sys("kernel/mm/hugepages");
    auto names = ctx.TryReadSubdirs(dir);
    if (!names) return 0;
    std::uint64_t smallest = 0, smallest_used = 0;
    for (const auto& name : *names) {
      auto size = parse::HugepageDirBytes(name);
      if (!size) continue;
      if (smallest == 0 || *size < smallest) smallest = *size;
      auto text = ctx.TryRead(dir / name / "nr_hugepages");
      std::uint64_t nr = 0;
      try {
        if (text) nr = parse::SingleU64(*text);
      } catch (const ParseError&) {
        nr = 0;  // the hugepages collector reports a malformed pool
      }
      if (nr > 0 && (smallest_used == 0 || *size < smallest_used)) smallest_used = *size;
    }
    return smallest_used != 0 ? smallest_used : smallest;
  });
}

OptionSpec WalkMaxOptionSpec() {
  return {"walk_max_ms", OptionType::kString, kDefaultWalkMaxMs,
          "Walk a process's page tables (numa_maps, smaps_rollup) only when the walk is "
          "estimated to take at most this many milliseconds (from status figures that need no "
          "walk times a measured cost per page: the longest the process's mmap_lock is held; "
          "docs/processes-and-vms.md). 0: never walk."};
}

WalkRule WalkRuleFromOptions(const CollectorOptions& o) {
  const std::string text = o.String("walk_max_ms");
  double ms = -1;
  try {
    std::size_t used = 0;
    ms = std::stod(text, &used);
    if (used != text.size()) ms = -1;
  } catch (const std::exception&) {
    ms = -1;
  }
  if (!(ms >= 0 && ms <= 60000)) {
    o.Fail("walk_max_ms",
           "expected milliseconds from 0 to 60000 (e.g. 5 or 0.5), got \"" + text + "\"");
  }
  return WalkRule(std::chrono::microseconds(static_cast<long long>(ms * 1000)));
}

ReadStatus ReadWalk(const Context& ctx, const PidReader& reader, int pid, WalkFile file,
                    std::string& buf) {
  const auto t0 = std::chrono::steady_clock::now();
  ReadStatus st = reader.Read(pid, WalkFileName(file), buf, file == WalkFile::kSmapsRollup);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  if (st == ReadStatus::kOk) ctx.CountWalk(WalkFileName(file), "done", took.count());
  return st;
}

}  // namespace pagescope
