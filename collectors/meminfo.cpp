#include "collectors/meminfo.h"

#include <unordered_map>

#include "kernel/parse.h"

namespace pagescope {

MeminfoEntry ParseMeminfoLine(std::string_view line, std::size_t n) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    throw ParseError(n, "expected \"Key: value [kB]\"");
  }
  MeminfoEntry e;
  e.key = std::string(line.substr(0, colon));
  auto fields = parse::Fields(line.substr(colon + 1));
  if (fields.empty() || fields.size() > 2) {
    throw ParseError(n, "expected \"" + e.key + ": value [kB]\"");
  }
  e.value = parse::U64(fields[0], n);
  if (fields.size() == 2) {
    if (fields[1] != "kB") {
      throw ParseError(n, "unknown unit \"" + std::string(fields[1]) + "\" for " + e.key);
    }
    if (e.value > (UINT64_MAX >> 10)) throw ParseError(n, "value out of range for " + e.key);
    e.value <<= 10;
    e.has_unit = true;
  }
  return e;
}

std::vector<MeminfoEntry> ParseMeminfo(std::string_view text) {
  std::vector<MeminfoEntry> entries;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    if (parse::Trim(line).empty()) return;
    entries.push_back(ParseMeminfoLine(line, n));
  });
  return entries;
}

const std::vector<MeminfoField>& MeminfoFields() {
  static const std::vector<MeminfoField> kFields = {
      {"MemTotal", "total",
       "Usable RAM: physical memory minus reserved areas and the kernel image."},
      {"MemFree", "free", "Memory not used at all (MemFree)."},
      {"MemAvailable", "available",
       "Estimate of memory available for new workloads without swapping (MemAvailable); free "
       "hugepages are not included."},
      {"AnonPages", "anon_pages",
       "Non-file-backed pages mapped into user page tables (AnonPages)."},
      {"Shmem", "shmem", "Shared memory and tmpfs (Shmem)."},
      {"PageTables", "page_tables", "Memory used by the lowest level of page tables (PageTables)."},
      {"SecPageTables", "secondary_page_tables",
       "Memory used by secondary page tables such as KVM's EPT/NPT (SecPageTables)."},
      {"AnonHugePages", "anon_huge_pages",
       "Anonymous memory backed by transparent hugepages (AnonHugePages)."},
      {"ShmemHugePages", "shmem_huge_pages",
       "Shared memory and tmpfs backed by transparent hugepages (ShmemHugePages)."},
      {"ShmemPmdMapped", "shmem_pmd_mapped",
       "Shared memory mapped into user space with PMD-sized pages (ShmemPmdMapped)."},
      {"FileHugePages", "file_huge_pages",
       "Page cache backed by transparent hugepages (FileHugePages)."},
      {"FilePmdMapped", "file_pmd_mapped",
       "Page cache mapped into user space with PMD-sized pages (FilePmdMapped)."},
      {"Unevictable", "unevictable",
       "Memory reclaim cannot free: mlocked pages, ramfs, locked shared memory (Unevictable)."},
      {"Mlocked", "mlocked", "Memory locked with mlock() or MAP_LOCKED (Mlocked)."},
      {"Hugetlb", "hugetlb", "Memory taken by HugeTLB pools of all page sizes (Hugetlb)."},
      {"SwapTotal", "swap_total", "Total swap space (SwapTotal)."},
      {"SwapFree", "swap_free", "Unused swap space (SwapFree)."},
      {"SwapCached", "swap_cached",
       "Memory that was swapped out and back in and is still in the swap file (SwapCached)."},
      {"Zswap", "zswap", "Memory consumed by the zswap backend, compressed size (Zswap)."},
      {"Zswapped", "zswapped", "Anonymous memory stored in zswap, original size (Zswapped)."},
      {"Committed_AS", "committed_as",
       "Memory the system has promised to allocations, estimated (Committed_AS)."},
      {"CommitLimit", "commit_limit",
       "Memory that can be committed under vm.overcommit_memory=2 (CommitLimit)."},
  };
  return kFields;
}

std::optional<std::uint64_t> ReadMeminfoValue(const Context& ctx, std::string_view key,
                                              MetricSink& out) {
  auto path = ctx.fs().Proc("meminfo");
  auto text = ctx.Read(path);
  if (!text) return std::nullopt;
  std::optional<std::uint64_t> found;
  parse::ForEachLine(*text, [&](std::size_t n, std::string_view line) {
    if (found || !line.starts_with(key) || line.substr(key.size()).find(':') != 0) return;
    try {
      auto e = ParseMeminfo(line);
      if (!e.empty()) found = e[0].value;
    } catch (const ParseError& err) {
      out.Fail(FileLineError(path, n, err.what()));
    }
  });
  return found;
}

namespace {

class MeminfoCollector : public Collector {
 public:
  void Collect(const Context& ctx, MetricSink& out) override {
    auto path = ctx.fs().Proc("meminfo");
    auto text = ctx.Read(path);
    if (!text) return;
    auto entries = ParseFile(path, [&] { return ParseMeminfo(*text); });
    std::unordered_map<std::string_view, const MeminfoEntry*> by_key;
    for (const auto& e : entries) by_key.emplace(e.key, &e);
    for (const auto& f : MeminfoFields()) {
      auto it = by_key.find(f.key);
      if (it == by_key.end()) continue;
      if (!it->second->has_unit) {
        out.Fail(path.string() + ": " + f.key + " has no kB unit");
        continue;
      }
      out.Gauge(std::string("pagescope_memory_") + f.metric + "_bytes", f.help, {},
                static_cast<double>(it->second->value));
    }
    // Page counts (KSM's, per process and guest, vmstat's) are in base pages: their size, so
    // that rules and dashboards need not assume 4096 (arm64 and ppc64 kernels run 16 and
    // 64 KiB pages). The exporter runs on the kernel it reads, as for buddyinfo.
    out.Gauge("pagescope_memory_page_size_bytes",
              "Size of a base page of this kernel (getpagesize(2)): the unit of the page counts "
              "of KSM, vmstat and the process and guest collectors.",
              {}, static_cast<double>(SystemPageSize()));
  }
};

}  // namespace

CollectorSpec MeminfoCollectorSpec() {
  return CollectorSpecWithoutOptions<MeminfoCollector>(
      "meminfo", "Paging-related lines of /proc/meminfo: THP usage, hugetlb, swap, commit",
      "/proc/meminfo");
}

}  // namespace pagescope
