#include "collectors/ksm.h"

#include <algorithm>
#include <string>
#include <vector>

#include "kernel/parse.h"

namespace pagescope {
namespace {

constexpr std::string_view kDir = "kernel/mm/ksm";

struct KnownFile {
  std::string_view file;
  std::string_view metric;  // full name
  bool counter;
  double divisor;
  bool is_signed;
  std::string_view help;
};

constexpr KnownFile kKnown[] = {
    {"full_scans", "pagescope_ksm_full_scans_total", true, 1, false,
     "Times all mergeable areas have been scanned (full_scans)."},
    {"pages_scanned", "pagescope_ksm_pages_scanned_total", true, 1, false,
     "Pages ksmd has scanned (pages_scanned)."},
    {"pages_skipped", "pagescope_ksm_pages_skipped_total", true, 1, false,
     "Pages the smart scan skipped because they did not merge recently (pages_skipped)."},
    {"general_profit", "pagescope_ksm_general_profit_bytes", false, 1, true,
     "Memory KSM saves minus the metadata it costs (general_profit); negative when KSM costs "
     "more than it saves."},
    {"pages_shared", "pagescope_ksm_pages_shared", false, 1, false,
     "KSM pages in use, each shared by several mappings (pages_shared)."},
    {"pages_sharing", "pagescope_ksm_pages_sharing", false, 1, false,
     "Further mappings sharing the KSM pages, i.e. pages saved (pages_sharing)."},
    {"pages_unshared", "pagescope_ksm_pages_unshared", false, 1, false,
     "Pages that are unique but repeatedly checked for merging (pages_unshared)."},
    {"pages_volatile", "pagescope_ksm_pages_volatile", false, 1, false,
     "Pages changing too fast to be placed in a tree (pages_volatile)."},
    {"pages_to_scan", "pagescope_ksm_pages_to_scan", false, 1, false,
     "Pages ksmd scans before it sleeps (pages_to_scan)."},
    {"sleep_millisecs", "pagescope_ksm_sleep_seconds", false, 1000, false,
     "Pause of ksmd between scans (sleep_millisecs)."},
    {"merge_across_nodes", "pagescope_ksm_merge_across_nodes", false, 1, false,
     "1 when pages of different NUMA nodes may be merged (merge_across_nodes)."},
    {"max_page_sharing", "pagescope_ksm_max_page_sharing", false, 1, false,
     "Most mappings one KSM page may have (max_page_sharing)."},
    {"stable_node_chains", "pagescope_ksm_stable_node_chains", false, 1, false,
     "KSM pages that hit the max_page_sharing limit (stable_node_chains)."},
    {"stable_node_dups", "pagescope_ksm_stable_node_dups", false, 1, false,
     "Duplicated KSM pages made because of the max_page_sharing limit (stable_node_dups)."},
    {"stable_node_chains_prune_millisecs", "pagescope_ksm_stable_node_chains_prune_seconds", false,
     1000, false,
     "How often KSM checks the metadata of pages at the sharing limit for stale entries "
     "(stable_node_chains_prune_millisecs)."},
    {"use_zero_pages", "pagescope_ksm_use_zero_pages", false, 1, false,
     "1 when empty pages are merged with the kernel's zero page (use_zero_pages)."},
    {"ksm_zero_pages", "pagescope_ksm_zero_pages", false, 1, true,
     "Zero pages still mapped into processes that KSM mapped when deduplicating "
     "(ksm_zero_pages)."},
    {"smart_scan", "pagescope_ksm_smart_scan", false, 1, false,
     "1 when the scan skips pages that did not merge recently (smart_scan)."},
    {"advisor_max_cpu", "pagescope_ksm_advisor_max_cpu_ratio", false, 100, false,
     "Upper limit of the CPU share of ksmd under the scan-time advisor (advisor_max_cpu, "
     "a percentage, here as a ratio)."},
    {"advisor_min_pages_to_scan", "pagescope_ksm_advisor_min_pages_to_scan", false, 1, false,
     "Lower limit of pages_to_scan under the scan-time advisor (advisor_min_pages_to_scan)."},
    {"advisor_max_pages_to_scan", "pagescope_ksm_advisor_max_pages_to_scan", false, 1, false,
     "Upper limit of pages_to_scan under the scan-time advisor (advisor_max_pages_to_scan)."},
    {"advisor_target_scan_time", "pagescope_ksm_advisor_target_scan_time_seconds", false, 1, false,
     "Time the scan-time advisor aims for to scan all candidate pages "
     "(advisor_target_scan_time)."},
};

const KnownFile* FindKnown(std::string_view file) {
  for (const auto& k : kKnown) {
    if (k.file == file) return &k;
  }
  return nullptr;
}

class KsmCollector : public Collector {
 public:
  explicit KsmCollector(bool tuning) : tuning_(tuning) {}

  void Collect(const Context& ctx, MetricSink& out) override {
    auto dir = ctx.fs().Sys(kDir);
    auto names = ctx.ReadDir(dir);
    if (!names) return;  // no KSM in this kernel
    for (const auto& name : *names) {
      if (!tuning_ && IsKsmTuningFile(name)) continue;
      auto path = dir / name;
      if (name == "run") {
        auto v = ReadU64File(ctx, path, out);
        if (!v) continue;
        auto mode = KsmRunMode(*v);
        if (!mode) {
          out.Fail(path.string() + ": unknown run value " + std::to_string(*v));
          continue;
        }
        std::vector<std::string> states(std::begin(kKsmRunModes), std::end(kKsmRunModes));
        out.StateSet("pagescope_ksm_run",
                     "What ksmd does (run): stop, run (merge pages), or unmerge (stop and "
                     "unmerge all merged pages). 1 for the active mode.",
                     {}, "mode", states, *mode);
      } else if (name == "advisor_mode") {
        if (auto c = ReadChoiceFile(ctx, path, out)) {
          out.StateSet("pagescope_ksm_advisor_mode",
                       "How pages_to_scan is chosen (advisor_mode): none (fixed) or scan-time "
                       "(tuned to reach advisor_target_scan_time). 1 for the active mode.",
                       {}, "mode", c->states, c->active);
        }
      } else if (auto m = KsmFileMetric(name)) {
        if (FindKnown(name) != nullptr) {
          std::optional<double> v;
          if (m->is_signed) {
            if (auto i = ReadI64File(ctx, path, out)) v = static_cast<double>(*i);
          } else if (auto u = ReadU64File(ctx, path, out)) {
            v = static_cast<double>(*u);
          }
          if (v) EmitFileMetric(out, *m, {}, *v);
        } else if (auto i = ReadUnknownIntFile(ctx, path)) {
          EmitFileMetric(out, *m, {}, static_cast<double>(*i));
        }
      }
    }
  }

 private:
  bool tuning_;
};

}  // namespace

std::optional<FileMetric> KsmFileMetric(std::string_view file) {
  if (file == "run" || file == "advisor_mode") return std::nullopt;
  if (const KnownFile* k = FindKnown(file)) {
    FileMetric m;
    m.name = std::string(k->metric);
    m.help = std::string(k->help);
    m.counter = k->counter;
    m.divisor = k->divisor;
    m.is_signed = k->is_signed;
    return m;
  }
  return UnknownFileMetric("pagescope_ksm_", file, "/sys/kernel/mm/ksm");
}

bool IsKsmTuningFile(std::string_view file) {
  static constexpr std::string_view kTuning[] = {"advisor_mode",
                                                 "advisor_max_cpu",
                                                 "advisor_min_pages_to_scan",
                                                 "advisor_max_pages_to_scan",
                                                 "advisor_target_scan_time",
                                                 "max_page_sharing",
                                                 "stable_node_chains_prune_millisecs",
                                                 "pages_to_scan",
                                                 "sleep_millisecs",
                                                 "smart_scan",
                                                 "use_zero_pages"};
  return std::find(std::begin(kTuning), std::end(kTuning), file) != std::end(kTuning);
}

std::optional<std::string_view> KsmRunMode(std::uint64_t value) {
  value &= ~std::uint64_t{4};  // KSM_RUN_OFFLINE
  if (value >= std::size(kKsmRunModes)) return std::nullopt;
  return kKsmRunModes[value];
}

CollectorSpec KsmCollectorSpec() {
  CollectorSpec spec;
  spec.name = "ksm";
  spec.default_enabled = true;
  spec.help = "Kernel samepage merging: run state, pages shared and sharing, profit, scan settings";
  spec.sources = "/sys/kernel/mm/ksm/";
  spec.options = {
      {"tuning", OptionType::kBool, "false",
       "Also export ksmd's tuning knobs (pages_to_scan, sleep_millisecs, max_page_sharing, "
       "stable_node_chains_prune_millisecs, smart_scan, use_zero_pages, advisor_*): settings "
       "that rarely change. run and merge_across_nodes are always exported."},
  };
  spec.make = [](const CollectorOptions& o) {
    return std::make_unique<KsmCollector>(o.Bool("tuning"));
  };
  return spec;
}

}  // namespace pagescope
