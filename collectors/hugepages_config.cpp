#include "collectors/hugepages_config.h"

#include <charconv>
#include <set>
#include <system_error>

#include "collectors/meminfo.h"
#include "kernel/parse.h"
#include "kernel/sysfs.h"

namespace pagescope {
namespace {

// The command line's words, double quotes grouping (as the kernel's next_arg does), up to "--".
std::vector<std::string> CmdlineWords(std::string_view cmdline) {
  std::vector<std::string> words;
  std::string word;
  bool in_quotes = false;
  bool have = false;
  for (char c : cmdline) {
    if (c == '"') {
      in_quotes = !in_quotes;
      have = true;
      continue;
    }
    if (!in_quotes && (c == ' ' || c == '\t' || c == '\n' || c == '\0')) {
      if (have) {
        if (word == "--") return words;
        words.push_back(std::move(word));
      }
      word.clear();
      have = false;
      continue;
    }
    word.push_back(c);
    have = true;
  }
  if (have && word != "--") words.push_back(std::move(word));
  return words;
}

bool ValidHugepageSize(std::uint64_t size) { return size >= 4096 && (size & (size - 1)) == 0; }

std::optional<std::uint64_t> Decimal(std::string_view s, std::size_t* used) {
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr == s.data()) return std::nullopt;
  *used = static_cast<std::size_t>(ptr - s.data());
  return v;
}

// "512" or "0:512,1:512" (hugetlb_nrpages_setup).
std::optional<CmdlineHugepages::Request> ParsePagesValue(std::string_view s) {
  CmdlineHugepages::Request r;
  std::size_t used = 0;
  auto first = Decimal(s, &used);
  if (!first) return std::nullopt;
  if (used == s.size()) {
    r.pages = *first;
    return r;
  }
  while (!s.empty()) {
    auto node = Decimal(s, &used);
    if (!node || used >= s.size() || s[used] != ':' || *node > 1u << 20) return std::nullopt;
    s.remove_prefix(used + 1);
    auto pages = Decimal(s, &used);
    if (!pages) return std::nullopt;
    s.remove_prefix(used);
    int id = static_cast<int>(*node);
    if (r.per_node.count(id)) return std::nullopt;
    r.per_node[id] = *pages;
    r.pages += *pages;
    if (s.empty()) break;
    if (s[0] != ',' || s.size() == 1) return std::nullopt;
    s.remove_prefix(1);
  }
  return r;
}

}  // namespace

namespace {
void ParseSysctlLine(std::size_t n, std::string_view line, std::vector<SysctlAssignment>& out) {
  std::string_view t = parse::Trim(line);
  if (t.empty() || t.front() == '#' || t.front() == ';') return;
  auto eq = t.find('=');
  if (eq == std::string_view::npos) {
    if (t.front() == '-') return;  // "-key": excludes the key from a glob assignment
    throw ParseError(n, "not an assignment: \"" + std::string(t.substr(0, 64)) + "\"");
  }
  std::string_view key = parse::Trim(t.substr(0, eq));
  if (!key.empty() && key.front() == '-') key.remove_prefix(1);
  if (key.empty()) throw ParseError(n, "assignment without a key");
  SysctlAssignment a;
  a.key = std::string(key);
  for (char& c : a.key) {
    if (c == '/') c = '.';
  }
  a.value = std::string(parse::Trim(t.substr(eq + 1)));
  a.line = n;
  out.push_back(std::move(a));
}
}  // namespace

CmdlineHugepages ParseCmdlineHugepages(std::string_view cmdline) {
  CmdlineHugepages out;
  // The kernel's parser state (mm/hugetlb.c): which size a hugepages= applies to.
  bool parsed_valid = true;  // the last hugepagesz=/default_hugepagesz= was accepted
  bool have_size = false;    // some hugepagesz=/default_hugepagesz= was accepted
  std::uint64_t current = 0;
  std::set<std::uint64_t> sizes;
  // A hugepages= before any size goes to the default size, whatever that turns out to be.
  std::optional<CmdlineHugepages::Request> pending_default;
  std::optional<std::uint64_t> last_slot;      // 0: pending_default
  std::map<std::uint64_t, std::size_t> index;  // size -> position in out.requests

  auto store = [&](std::uint64_t size, CmdlineHugepages::Request r) {
    r.page_size = size;
    auto it = index.find(size);
    if (it != index.end()) {
      out.requests[it->second] = std::move(r);
    } else {
      index[size] = out.requests.size();
      out.requests.push_back(std::move(r));
    }
  };

  for (const auto& word : CmdlineWords(cmdline)) {
    auto eq = word.find('=');
    if (eq == std::string::npos) continue;
    std::string_view key(word.data(), eq);
    std::string_view value(word.data() + eq + 1, word.size() - eq - 1);
    if (key == "hugepagesz") {
      parsed_valid = false;
      auto size = parse::Size(value, parse::SizeSyntax::kMemparse);
      if (!size || !ValidHugepageSize(*size)) {
        out.problems.push_back("unsupported " + word);
        continue;
      }
      if (sizes.count(*size)) {
        // Allowed only to name the default size again before giving its count.
        bool allowed = out.default_size == *size && !index.count(*size);
        if (!allowed) {
          out.problems.push_back(word + " specified twice");
          continue;
        }
      }
      sizes.insert(*size);
      have_size = true;
      current = *size;
      parsed_valid = true;
    } else if (key == "default_hugepagesz") {
      parsed_valid = false;
      if (out.default_size) {
        out.problems.push_back(word + ": default_hugepagesz previously specified");
        continue;
      }
      auto size = parse::Size(value, parse::SizeSyntax::kMemparse);
      if (!size || !ValidHugepageSize(*size)) {
        out.problems.push_back("unsupported " + word);
        continue;
      }
      if (!sizes.count(*size)) {
        sizes.insert(*size);
        have_size = true;
        current = *size;
      }
      parsed_valid = true;
      out.default_size = *size;
      if (pending_default) {
        store(*size, std::move(*pending_default));
        pending_default.reset();
      }
    } else if (key == "hugepages") {
      if (!parsed_valid) {
        out.problems.push_back(word + " follows an unsupported hugepagesz");
        parsed_valid = true;
        continue;
      }
      std::uint64_t slot = have_size ? current : 0;
      if (last_slot == slot) {
        out.problems.push_back(word + " specified twice without interleaving hugepagesz=");
        continue;
      }
      auto r = ParsePagesValue(value);
      if (!r) {
        out.problems.push_back("invalid " + word);
        continue;
      }
      last_slot = slot;
      if (slot == 0) {
        pending_default = std::move(*r);
      } else {
        store(slot, std::move(*r));
      }
    }
  }
  if (pending_default) {
    // Resolved against the running kernel's default size by the caller; an explicit count for
    // that size wins (hugetlb_init).
    out.requests.push_back(std::move(*pending_default));
  }
  return out;
}

std::vector<SysctlAssignment> ParseSysctlConf(std::string_view text,
                                              std::vector<ParseError>* errors) {
  std::vector<SysctlAssignment> out;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    try {
      ParseSysctlLine(n, line, out);
    } catch (const ParseError& e) {
      if (errors == nullptr) throw;
      errors->push_back(e);
    }
  });
  return out;
}

std::vector<std::filesystem::path> SysctlConfFiles(const Context& ctx) {
  static constexpr const char* kDirs[] = {"etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d",
                                          "usr/lib/sysctl.d", "lib/sysctl.d"};
  std::map<std::string, std::filesystem::path> by_name;
  for (const char* dir : kDirs) {
    auto d = ctx.fs().Root(dir);
    auto names = ctx.ReadDir(d);
    if (!names) continue;
    for (const auto& name : *names) {
      if (name.size() <= 5 || !name.ends_with(".conf")) continue;
      by_name.emplace(name, d / name);
    }
  }
  std::vector<std::filesystem::path> files;
  auto add = [&](std::filesystem::path p) {
    std::error_code ec;
    if (std::filesystem::is_symlink(p, ec)) {
      auto target = std::filesystem::read_symlink(p, ec);
      if (!ec && target == "/dev/null") return;  // masked
      // An absolute link means a path on the host: resolve it below --path.rootfs.
      if (!ec && target.is_absolute()) p = ctx.fs().Root(target.string());
    }
    files.push_back(std::move(p));
  };
  for (auto& [name, path] : by_name) add(path);
  add(ctx.fs().Root("etc/sysctl.conf"));
  return files;
}

namespace {

struct Setting {
  std::string value;
  std::filesystem::path file;
  std::size_t line = 0;
};

class HugepagesConfigCollector : public Collector {
 public:
  void Collect(const Context& ctx, MetricSink& out) override {
    auto default_size = ReadMeminfoValue(ctx, "Hugepagesize", out);
    if (default_size) {
      out.Gauge("pagescope_hugepages_default_page_size_bytes",
                "The default hugepage size (Hugepagesize in /proc/meminfo): the size of "
                "vm.nr_hugepages, of hugepages= without hugepagesz=, of shmget(SHM_HUGETLB) and "
                "of hugetlbfs mounts without pagesize=.",
                {}, static_cast<double>(*default_size));
    }
    CollectCmdline(ctx, default_size, out);
    CollectSysctlConf(ctx, default_size, out);
    CollectLive(ctx, out);
  }

 private:
  static constexpr const char* kRequestedHelp =
      "Hugepages of this size requested for the persistent pool: by the kernel command line "
      "(hugepages=, source=\"cmdline\") or by the sysctl configuration files (vm.nr_hugepages, "
      "source=\"sysctl_conf\"). Compare with pagescope_hugepages_pool_pages to see a pool "
      "that came up smaller than requested; the live vm.nr_hugepages is that pool metric.";

  static void CollectCmdline(const Context& ctx, const std::optional<std::uint64_t>& default_size,
                             MetricSink& out) {
    auto path = ctx.fs().Proc("cmdline");
    auto text = ctx.Read(path);
    if (!text) return;
    auto parsed = ParseCmdlineHugepages(*text);
    for (const auto& p : parsed.problems) {
      out.Fail(path.string() + ": " + p + ": the kernel ignores it");
    }
    std::map<std::uint64_t, const CmdlineHugepages::Request*> by_size;
    for (const auto& r : parsed.requests) {
      if (r.page_size) by_size[*r.page_size] = &r;
    }
    for (const auto& r : parsed.requests) {
      if (r.page_size) continue;
      // hugepages= before any size: the default size, unless that size got its own count.
      if (!default_size) continue;
      if (by_size.count(*default_size)) {
        out.Fail(path.string() +
                 ": hugepages= for the default size given twice, the kernel "
                 "uses the one after hugepagesz=");
        continue;
      }
      by_size[*default_size] = &r;
    }
    for (const auto& [size, r] : by_size) {
      std::string ps = parse::PageSizeLabel(size);
      out.Gauge("pagescope_hugepages_requested_pages", kRequestedHelp,
                {{"page_size", ps}, {"source", "cmdline"}}, static_cast<double>(r->pages));
      for (const auto& [node, pages] : r->per_node) {
        out.Gauge("pagescope_numa_hugepages_requested_pages",
                  "Hugepages of this size requested on this NUMA node by the kernel command "
                  "line's per-node form (hugepages=0:512,1:512). Compare with "
                  "pagescope_numa_hugepages_pool_pages.",
                  {{"node", std::to_string(node)}, {"page_size", ps}, {"source", "cmdline"}},
                  static_cast<double>(pages));
      }
    }
  }

  static void CollectSysctlConf(const Context& ctx,
                                const std::optional<std::uint64_t>& default_size, MetricSink& out) {
    std::map<std::string, Setting> settings;
    for (const auto& file : SysctlConfFiles(ctx)) {
      auto text = ctx.Read(file);
      if (!text) continue;
      std::vector<ParseError> errors;
      auto assignments = ParseSysctlConf(*text, &errors);
      for (const auto& e : errors) {
        out.Fail(FileLineError(file, e));
      }
      for (auto& a : assignments) {
        if (a.key != "vm.nr_hugepages" && a.key != "vm.nr_overcommit_hugepages") continue;
        settings[a.key] = Setting{std::move(a.value), file, a.line};
      }
    }
    auto emit = [&](const std::string& key, const char* metric, const char* help) {
      auto it = settings.find(key);
      if (it == settings.end()) return;
      std::uint64_t v = 0;
      try {
        v = parse::U64(it->second.value, it->second.line);
      } catch (const ParseError& e) {
        out.Fail(FileLineError(it->second.file, e.line(), key + ": " + e.what()));
        return;
      }
      if (!default_size) return;  // no hugetlb support: no size to name the pool by
      out.Gauge(metric, help,
                {{"page_size", parse::PageSizeLabel(*default_size)}, {"source", "sysctl_conf"}},
                static_cast<double>(v));
    };
    emit("vm.nr_hugepages", "pagescope_hugepages_requested_pages", kRequestedHelp);
    emit("vm.nr_overcommit_hugepages", "pagescope_hugepages_requested_overcommit_limit_pages",
         "Surplus hugepage limit of the default size requested by the sysctl configuration "
         "files (vm.nr_overcommit_hugepages). The live value is "
         "pagescope_hugepages_overcommit_limit_pages.");
  }

  static void CollectLive(const Context& ctx, MetricSink& out) {
    auto policy_path = ctx.fs().Proc("sys/vm/overcommit_memory");
    if (auto policy = ReadU64File(ctx, policy_path, out)) {
      static const std::vector<std::string> kModes = {"heuristic", "always", "never"};
      if (*policy < kModes.size()) {
        out.StateSet("pagescope_memory_overcommit_policy",
                     "Memory overcommit policy (vm.overcommit_memory): heuristic (0), always (1) "
                     "or never (2, commit limited to CommitLimit).",
                     {}, "mode", kModes, kModes[*policy]);
      } else {
        out.Fail(policy_path.string() + ": unknown overcommit mode " + std::to_string(*policy));
      }
    }
    if (auto gid = ReadU64File(ctx, ctx.fs().Proc("sys/vm/hugetlb_shm_group"), out)) {
      out.Gauge("pagescope_hugepages_shm_group_id",
                "Group allowed to create SysV shared memory segments in hugepages "
                "(vm.hugetlb_shm_group; 0 means only root and CAP_IPC_LOCK).",
                {}, static_cast<double>(*gid));
    }
  }
};

}  // namespace

CollectorSpec HugepagesConfigCollectorSpec() {
  return CollectorSpecWithoutOptions<HugepagesConfigCollector>(
      "hugepages_config",
      "Requested hugepage pools (kernel command line, sysctl configuration files), overcommit "
      "policy, hugetlb_shm_group, default hugepage size",
      "/proc/cmdline, /etc/sysctl.d/*.conf and the other sysctl.d directories, "
      "/etc/sysctl.conf, /proc/sys/vm/{overcommit_memory,hugetlb_shm_group}, /proc/meminfo");
}

}  // namespace pagescope
