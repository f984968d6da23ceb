#include "collectors/thp.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kernel/parse.h"

namespace pagescope {
namespace {

constexpr std::string_view kDir = "kernel/mm/transparent_hugepage";

struct KnownFile {
  std::string_view file;
  std::string_view metric;  // without the prefix
  bool counter;
  double divisor;
  std::string_view help;
};

constexpr KnownFile kKhugepaged[] = {
    {"pages_to_scan", "pages_to_scan", false, 1,
     "Pages khugepaged scans in each pass (khugepaged/pages_to_scan)."},
    {"pages_collapsed", "pages_collapsed", true, 1,
     "Hugepages khugepaged has made by collapsing small pages (khugepaged/pages_collapsed)."},
    {"full_scans", "full_scans", true, 1,
     "Complete passes of khugepaged over all memory it may collapse (khugepaged/full_scans)."},
    {"scan_sleep_millisecs", "scan_sleep_seconds", false, 1000,
     "Pause between khugepaged passes (khugepaged/scan_sleep_millisecs)."},
    {"alloc_sleep_millisecs", "alloc_sleep_seconds", false, 1000,
     "Pause of khugepaged after a failed hugepage allocation "
     "(khugepaged/alloc_sleep_millisecs)."},
    {"defrag", "defrag", false, 1,
     "1 when khugepaged may reclaim and compact memory to allocate hugepages "
     "(khugepaged/defrag)."},
    {"max_ptes_none", "max_ptes_none", false, 1,
     "Unmapped small pages a range may have and still be collapsed (khugepaged/max_ptes_none)."},
    {"max_ptes_swap", "max_ptes_swap", false, 1,
     "Swapped-out small pages a range may have and still be collapsed "
     "(khugepaged/max_ptes_swap)."},
    {"max_ptes_shared", "max_ptes_shared", false, 1,
     "Shared small pages a range may have and still be collapsed (khugepaged/max_ptes_shared)."},
};

// Per-size stats/ files, from transhuge.rst "Monitoring usage".
const std::map<std::string_view, std::string_view>& SizeStatHelp() {
  static const std::map<std::string_view, std::string_view> kHelp = {
      {"anon_fault_alloc", "Hugepages of this size allocated and charged to handle a page fault."},
      {"anon_fault_fallback",
       "Page faults that could not allocate or charge a hugepage of this size and fell back to "
       "smaller pages."},
      {"anon_fault_fallback_charge",
       "Page faults that allocated a hugepage of this size but could not charge it and fell "
       "back to smaller pages."},
      {"zswpout", "Hugepages of this size swapped out to zswap in one piece."},
      {"swpin", "Hugepages of this size swapped in from a non-zswap device in one piece."},
      {"swpin_fallback",
       "Swap-ins that could not allocate or charge a hugepage of this size and fell back to "
       "smaller pages."},
      {"swpin_fallback_charge",
       "Swap-ins that allocated a hugepage of this size but could not charge it."},
      {"swpout", "Hugepages of this size swapped out to a non-zswap device in one piece."},
      {"swpout_fallback",
       "Hugepages of this size split before swap-out (usually no contiguous swap space)."},
      {"shmem_alloc", "Shmem hugepages of this size allocated and charged."},
      {"shmem_fallback",
       "Shmem allocations of this size that failed and fell back to smaller pages."},
      {"shmem_fallback_charge",
       "Shmem hugepages of this size allocated but not charged, falling back to smaller pages."},
      {"split", "Hugepages of this size split into smaller orders."},
      {"split_failed", "Failed splits of hugepages of this size (e.g. the page was pinned)."},
      {"split_deferred",
       "Hugepages of this size queued for splitting after being partly unmapped."},
      {"nr_anon",
       "Anonymous transparent hugepages of this size in the system, fully or partly mapped."},
      {"nr_anon_partially_mapped",
       "Anonymous transparent hugepages of this size that are likely partly mapped and queued "
       "for deferred splitting."},
  };
  return kHelp;
}

class ThpCollector : public Collector {
 public:
  ThpCollector(bool all_sizes, bool khugepaged_tuning)
      : all_sizes_(all_sizes), khugepaged_tuning_(khugepaged_tuning) {}

  void Collect(const Context& ctx, MetricSink& out) override {
    auto dir = ctx.fs().Sys(kDir);
    auto names = ctx.ReadDir(dir);
    if (!names) return;  // no THP in this kernel
    // The top-level modes, for the sizes that inherit them. Read quietly here: the loop below
    // reads them again and reports problems once.
    std::string top_enabled = ActiveMode(ctx, dir / "enabled");
    std::string top_shmem = ActiveMode(ctx, dir / "shmem_enabled");
    std::uint64_t pmd_size = 0;
    if (auto t = ctx.ReadQuiet(dir / "hpage_pmd_size")) {
      try {
        pmd_size = parse::SingleU64(*t);
      } catch (const std::exception&) {
        pmd_size = 0;
      }
    }
    for (const auto& name : *names) {
      auto path = dir / name;
      if (name == "enabled") {
        Choice(ctx, out, path, "pagescope_thp_enabled",
               "Transparent hugepage policy for anonymous memory (enabled): always, only in "
               "MADV_HUGEPAGE regions (madvise), or never. 1 for the active mode.",
               {});
      } else if (name == "defrag") {
        Choice(ctx, out, path, "pagescope_thp_defrag",
               "What a THP allocation does when no hugepage is free (defrag): stall for direct "
               "reclaim and compaction (always), wake kswapd/kcompactd (defer), both by "
               "madvise, or never. 1 for the active mode.",
               {});
      } else if (name == "shmem_enabled") {
        Choice(ctx, out, path, "pagescope_thp_shmem_enabled",
               "Transparent hugepage policy for shmem and internal tmpfs mounts "
               "(shmem_enabled). 1 for the active mode.",
               {});
      } else if (name == "use_zero_page") {
        if (auto v = ReadU64File(ctx, path, out)) {
          out.Gauge("pagescope_thp_use_zero_page",
                    "1 when read faults on anonymous THP regions map the huge zero page "
                    "(use_zero_page).",
                    {}, static_cast<double>(*v));
        }
      } else if (name == "hpage_pmd_size") {
        if (auto v = ReadU64File(ctx, path, out)) {
          out.Gauge("pagescope_thp_hpage_pmd_size_bytes",
                    "Size of a PMD-mapped transparent hugepage (hpage_pmd_size).", {},
                    static_cast<double>(*v));
        }
      } else if (name == "shrink_underused") {
        if (auto v = ReadU64File(ctx, path, out)) {
          out.Gauge("pagescope_thp_shrink_underused",
                    "1 when hugepages that are mostly zero-filled are split under memory "
                    "pressure (shrink_underused).",
                    {}, static_cast<double>(*v));
        }
      } else if (name == "khugepaged") {
        Khugepaged(ctx, out, path, khugepaged_tuning_);
      } else if (auto bytes = parse::HugepageDirBytes(name)) {
        Size(ctx, out, path, *bytes, top_enabled, top_shmem, pmd_size);
      } else if (auto m = UnknownFileMetric("pagescope_thp_", name,
                                            "/sys/kernel/mm/transparent_hugepage")) {
        if (auto v = ReadUnknownIntFile(ctx, path))
          EmitFileMetric(out, *m, {}, static_cast<double>(*v));
      }
    }
  }

 private:
  static void Choice(const Context& ctx, MetricSink& out, const std::filesystem::path& path,
                     std::string_view name, std::string_view help, const Labels& labels) {
    if (auto c = ReadChoiceFile(ctx, path, out)) {
      out.StateSet(name, help, labels, "mode", c->states, c->active);
    }
  }

  static void Khugepaged(const Context& ctx, MetricSink& out, const std::filesystem::path& dir,
                         bool tuning) {
    auto names = ctx.ReadDir(dir);
    if (!names) return;
    for (const auto& name : *names) {
      auto m = KhugepagedFileMetric(name);
      if (!m) continue;
      // Without the tuning option only khugepaged's counters (what it did), not its settings.
      if (!tuning && !m->counter) continue;
      bool known = std::any_of(std::begin(kKhugepaged), std::end(kKhugepaged),
                               [&](const KnownFile& k) { return k.file == name; });
      if (known) {
        if (auto v = ReadU64File(ctx, dir / name, out)) {
          EmitFileMetric(out, *m, {}, static_cast<double>(*v));
        }
      } else if (auto v = ReadUnknownIntFile(ctx, dir / name)) {
        EmitFileMetric(out, *m, {}, static_cast<double>(*v));
      }
    }
  }

  static std::string ActiveMode(const Context& ctx, const std::filesystem::path& path) {
    auto t = ctx.ReadQuiet(path);
    if (!t) return "";
    try {
      return parse::BracketChoice(*t).active;
    } catch (const std::exception&) {
      return "";
    }
  }

  void Size(const Context& ctx, MetricSink& out, const std::filesystem::path& dir,
            std::uint64_t bytes, const std::string& top_enabled, const std::string& top_shmem,
            std::uint64_t pmd_size) const {
    Labels l{{"page_size", parse::PageSizeLabel(bytes)}};
    auto stats = dir / "stats";
    std::vector<std::pair<FileMetric, std::uint64_t>> values;
    bool used = false;
    if (auto names = ctx.ReadDir(stats)) {
      for (const auto& name : *names) {
        auto m = ThpSizeStatMetric(name);
        if (!m) continue;
        if (auto v = ReadU64File(ctx, stats / name, out)) {
          used = used || *v != 0;
          values.emplace_back(std::move(*m), *v);
        }
      }
    }
    if (!all_sizes_ && !used &&
        !ThpSizeUsable(top_enabled, top_shmem, ActiveMode(ctx, dir / "enabled"),
                       ActiveMode(ctx, dir / "shmem_enabled"), bytes == pmd_size)) {
      return;
    }
    Choice(ctx, out, dir / "enabled", "pagescope_thp_size_enabled",
           "Transparent hugepage policy for anonymous memory of this size "
           "(hugepages-<N>kB/enabled); inherit follows the top-level setting. 1 for the "
           "active mode.",
           l);
    Choice(ctx, out, dir / "shmem_enabled", "pagescope_thp_size_shmem_enabled",
           "Transparent hugepage policy for shmem of this size "
           "(hugepages-<N>kB/shmem_enabled); inherit follows the top-level setting. 1 for the "
           "active mode.",
           l);
    for (const auto& [m, v] : values) EmitFileMetric(out, m, l, static_cast<double>(v));
  }

  bool all_sizes_;
  bool khugepaged_tuning_;
};

}  // namespace

std::optional<FileMetric> KhugepagedFileMetric(std::string_view file) {
  for (const auto& k : kKhugepaged) {
    if (k.file != file) continue;
    FileMetric m;
    m.name = "pagescope_thp_khugepaged_" + std::string(k.metric) + (k.counter ? "_total" : "");
    m.help = std::string(k.help);
    m.counter = k.counter;
    m.divisor = k.divisor;
    return m;
  }
  return UnknownFileMetric("pagescope_thp_khugepaged_", file,
                           "/sys/kernel/mm/transparent_hugepage/khugepaged");
}

std::optional<FileMetric> ThpSizeStatMetric(std::string_view file) {
  if (!parse::MetricNamePartOk(file)) return std::nullopt;
  FileMetric m;
  auto it = SizeStatHelp().find(file);
  std::string help = it != SizeStatHelp().end() ? std::string(it->second) : std::string();
  if (file.starts_with("nr_") && file.size() > 3) {
    m.name = "pagescope_thp_size_" + std::string(file.substr(3)) + "_pages";
    if (help.empty())
      help = "Current value of the per-size THP statistic " + std::string(file) + ".";
  } else {
    m.name = "pagescope_thp_size_" + std::string(file) + "_total";
    m.counter = true;
    if (help.empty()) help = "Per-size THP event counter " + std::string(file) + ".";
  }
  if (help.ends_with('.')) help.pop_back();
  m.help = help + " (hugepages-<N>kB/stats/" + std::string(file) + ").";
  return m;
}

bool ThpSizeUsable(std::string_view top_enabled, std::string_view top_shmem,
                   std::string_view size_enabled, std::string_view size_shmem, bool pmd_size) {
  std::string_view anon = size_enabled == "inherit" ? top_enabled : size_enabled;
  if (!anon.empty() && anon != "never") return true;
  if (top_shmem == "deny") return false;
  if (top_shmem == "force" && pmd_size) return true;
  std::string_view shmem = size_shmem == "inherit" ? top_shmem : size_shmem;
  return !shmem.empty() && shmem != "never" && shmem != "deny";
}

CollectorSpec ThpCollectorSpec() {
  CollectorSpec spec;
  spec.name = "thp";
  spec.default_enabled = true;
  spec.help =
      "Transparent hugepages: enabled/defrag/shmem policies, khugepaged, per-size mTHP "
      "settings and counters";
  spec.sources = "/sys/kernel/mm/transparent_hugepage/";
  spec.options = {
      {"all_sizes", OptionType::kBool, "false",
       "Export the per-size (mTHP) settings and stats of every size, not only of the sizes "
       "that can be used (policy not never, inherit resolved) or were used."},
  };
  spec.options.push_back(
      {"khugepaged_tuning", OptionType::kBool, "false",
       "Also export khugepaged's settings (pages_to_scan, scan_sleep_millisecs, "
       "alloc_sleep_millisecs, defrag, max_ptes_*); its counters (pages_collapsed, full_scans) "
       "are always exported."});
  spec.make = [](const CollectorOptions& o) {
    return std::make_unique<ThpCollector>(o.Bool("all_sizes"), o.Bool("khugepaged_tuning"));
  };
  return spec;
}

}  // namespace pagescope
