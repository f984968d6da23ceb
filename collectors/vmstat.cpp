#include "collectors/vmstat.h"

#include <mutex>
#include <regex>
#include <unordered_map>

#include "kernel/parse.h"

namespace pagescope {

// numa_hit, numa_miss, numa_foreign, numa_interleave, numa_local and numa_other are left out:
// they are the sums over nodes of the numa collector's per-node counters. Left out as detail
// that rarely earns a series on every host (add them with `fields`): thp_scan_exceed_*,
// thp_zero_page_alloc*, thp_split_pmd/pud, thp_migration_*, thp_underused_split_page, and the
// memory-tiering counters pgpromote_* and pgdemote_*.
const char* const kVmstatDefaultFields =
    "pg(maj)?fault|pswp(in|out)|swap_ra(_hit)?|swp(in|out)_zero|nr_swapcached"
    "|thp_(fault|collapse|file|swpout|split_page|deferred_split).*"
    "|nr_anon_transparent_hugepages|nr_(shmem|file)_(hugepages|pmdmapped)"
    "|compact_.*|htlb_buddy_alloc_.*|nr_hugetlb"
    "|numa_(hint_faults(_local)?|pages_migrated|pte_updates|huge_pte_updates)"
    "|pgmigrate_.*"
    "|ksm_.*|cow_ksm|zswp(in|out|wb)|nr_zspages|oom_kill|nr_free_pages"
    "|pgscan_.*|pgsteal_.*|allocstall(_.*)?|pgrefill|pageoutrun|kswapd_.*|drop_.*"
    "|workingset_(refault|activate|restore)(_anon|_file)?|workingset_nodereclaim";

std::vector<VmstatEntry> ParseVmstat(std::string_view text) {
  std::vector<VmstatEntry> entries;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    if (parse::Trim(line).empty()) return;
    auto fields = parse::Fields(line);
    if (fields.size() != 2) throw ParseError(n, "expected \"name value\"");
    for (char c : fields[0]) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      if (!ok) {
        throw ParseError(n,
                         "unexpected character in field name \"" + std::string(fields[0]) + "\"");
      }
    }
    entries.push_back({std::string(fields[0]), parse::U64(fields[1], n)});
  });
  return entries;
}

bool VmstatFieldIsGauge(std::string_view field) {
  // nr_* items that the kernel only ever increments (node_stat_item comments in mmzone.h).
  static constexpr std::string_view kNrCounters[] = {
      "nr_dirtied",
      "nr_written",
      "nr_throttled_written",
      "nr_vmscan_write",
      "nr_vmscan_immediate_reclaim",
      "nr_foll_pin_acquired",
      "nr_foll_pin_released",
  };
  // Current amounts whose names do not start with nr_.
  static constexpr std::string_view kOtherGauges[] = {"workingset_nodes"};
  if (field.starts_with("nr_")) {
    for (auto c : kNrCounters) {
      if (c == field) return false;
    }
    return true;
  }
  for (auto g : kOtherGauges) {
    if (g == field) return true;
  }
  return false;
}

namespace {

// Kernel names that promtool would flag (abbreviated units), spelled out.
std::string MetricStem(const std::string& field) {
  if (field == "nr_sec_page_table_pages") return "nr_secondary_page_table_pages";
  return field;
}

class VmstatCollector : public Collector {
 public:
  explicit VmstatCollector(const std::string& fields)
      : fields_(fields, std::regex::ECMAScript | std::regex::optimize) {}

  void Collect(const Context& ctx, MetricSink& out) override {
    auto path = ctx.fs().Proc("vmstat");
    auto text = ctx.Read(path);
    if (!text) return;
    auto entries = ParseFile(path, [&] { return ParseVmstat(*text); });
    for (const auto& e : entries) {
      if (!Selected(e.name)) continue;
      std::string stem = MetricStem(e.name);
      if (!parse::MetricNamePartOk(stem)) continue;  // promtool would flag it (see MetricStem)
      if (VmstatFieldIsGauge(e.name)) {
        out.Gauge("pagescope_vmstat_" + stem,
                  "Current value of " + e.name +
                      " in /proc/vmstat (an amount, not an event "
                      "count; pages unless the name says otherwise).",
                  {}, static_cast<double>(e.value));
      } else {
        out.Counter("pagescope_vmstat_" + stem + "_total",
                    "Events counted by " + e.name + " in /proc/vmstat since boot.", {},
                    static_cast<double>(e.value));
      }
    }
  }

 private:
  // The kernel's field names do not change while it runs: remember each decision.
  bool Selected(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = selected_.find(name);
    if (it != selected_.end()) return it->second;
    bool yes = std::regex_match(name, fields_);
    if (selected_.size() < 4096) selected_.emplace(name, yes);
    return yes;
  }

  std::regex fields_;
  std::mutex mu_;
  std::unordered_map<std::string, bool> selected_;
};

}  // namespace

std::optional<std::string> VmstatFieldsSelectNothing(const std::string& expression,
                                                     const std::vector<VmstatEntry>& entries) {
  const std::regex re(expression, std::regex::ECMAScript);
  std::size_t inside = 0;
  std::string example;
  for (const auto& e : entries) {
    if (std::regex_match(e.name, re)) return std::nullopt;
    if (std::regex_search(e.name, re) && inside++ == 0) example = e.name;
  }
  if (inside == 0) return "it matches none of the " + std::to_string(entries.size()) + " fields";
  return "it matches part of " + std::to_string(inside) + " field names (such as " + example +
         ") but no whole name: the expression must match the whole name (add .* where a name "
         "goes on, e.g. pg.* rather than ^pg)";
}

CollectorSpec VmstatCollectorSpec() {
  CollectorSpec spec;
  spec.name = "vmstat";
  spec.default_enabled = true;
  spec.help =
      "Kernel memory counters of /proc/vmstat: faults, swap, THP, compaction, hugetlb, NUMA, "
      "KSM, zswap, OOM kills, reclaim (scans, steals, direct reclaim stalls, refaults)";
  spec.sources = "/proc/vmstat";
  spec.options = {{"fields", OptionType::kRegex, kVmstatDefaultFields,
                   "Regular expression (ECMAScript) selecting /proc/vmstat fields by their "
                   "whole name (pg.* for the names that start with pg); one that selects no "
                   "field of the running kernel is logged as a warning at start-up."}};
  spec.make = [](const CollectorOptions& options) {
    try {
      return std::make_unique<VmstatCollector>(options.String("fields"));
    } catch (const std::regex_error& e) {
      options.Fail("fields", std::string("invalid regular expression: ") + e.what());
    }
  };
  // A warning, not an error: fields come and go with kernel versions and options (zswap, KSM,
  // NUMA), and one configuration serves a fleet of kernels; an expression that selects nothing
  // on this one must still not leave the collector silently empty.
  spec.check = [](const CollectorOptions& options, const FsRoot& fs) {
    const auto path = fs.Proc("vmstat");
    const ReadResult r = FsRoot::ReadFile(path);
    if (r.status != ReadStatus::kOk) return;  // the scrape reports a missing or denied file
    std::vector<VmstatEntry> entries;
    try {
      entries = ParseVmstat(r.content);
    } catch (const ParseError&) {
      return;  // the scrape reports it with the file and line
    }
    const std::string expression = options.String("fields");
    if (auto why = VmstatFieldsSelectNothing(expression, entries)) {
      log::Warn("collectors.vmstat.fields (--collector.vmstat.fields) selects no field of " +
                    path.string() + ": the vmstat collector exports nothing",
                {{"origin", options.Origin("fields")}, {"fields", expression}, {"why", *why}});
    }
  };
  return spec;
}

}  // namespace pagescope
