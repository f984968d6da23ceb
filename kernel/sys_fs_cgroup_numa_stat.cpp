#include "kernel/sys_fs_cgroup_numa_stat.h"

#include <optional>
#include <utility>

#include "framework/errors.h"
#include "kernel/parse.h"

namespace pagescope {
namespace {

// "N2=123" -> (2, 123); throws ParseError naming the token otherwise.
std::pair<int, std::uint64_t> NodeValue(std::string_view token, std::size_t line) {
  auto eq = token.find('=');
  std::optional<int> id;
  if (eq != std::string_view::npos && eq > 1 && token[0] == 'N') {
    id = parse::NodeDirId("node" + std::string(token.substr(1, eq - 1)));
  }
  if (!id) throw ParseError(line, "expected N<node>=<value>, got \"" + std::string(token) + "\"");
  return {*id, parse::U64(token.substr(eq + 1), line)};
}

}  // namespace

HugetlbNumaStat ParseHugetlbNumaStat(std::string_view text) {
  std::optional<HugetlbNumaStat> local, hierarchical;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    auto f = parse::Fields(line);
    if (f.empty()) return;
    auto eq = f[0].find('=');
    std::string_view key = f[0].substr(0, eq);
    if (eq == std::string_view::npos || (key != "total" && key != "hierarchical_total")) {
      throw ParseError(n, "expected total=<bytes> or hierarchical_total=<bytes> first, got \"" +
                              std::string(f[0]) + "\"");
    }
    auto& slot = key == "total" ? local : hierarchical;
    if (slot) throw ParseError(n, "a second \"" + std::string(key) + "\" line");
    HugetlbNumaStat s;
    s.total = parse::U64(f[0].substr(eq + 1), n);
    for (std::size_t i = 1; i < f.size(); ++i) {
      auto [node, v] = NodeValue(f[i], n);
      if (!s.nodes.emplace(node, v).second) throw ParseError(n, "node listed twice");
    }
    slot = std::move(s);
  });
  if (hierarchical) return *hierarchical;
  if (local) return *local;
  throw ParseError(1, "empty");
}

MemoryNumaStat ParseMemoryNumaStat(std::string_view text) {
  MemoryNumaStat s;
  std::optional<bool> v1;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    auto f = parse::Fields(line);
    if (f.empty()) return;
    auto eq = f[0].find('=');
    const bool line_v1 = eq != std::string_view::npos;
    if (v1 && *v1 != line_v1) {
      throw ParseError(n, "mixes \"key=value\" (cgroup v1) and \"key N0=\" (v2) lines");
    }
    v1 = line_v1;
    std::string_view key = f[0].substr(0, eq);
    if (key.empty()) throw ParseError(n, "empty key");
    if (line_v1) (void)parse::U64(f[0].substr(eq + 1), n);  // the key's total
    auto [it, inserted] = s.keys.try_emplace(std::string(key));
    if (!inserted) throw ParseError(n, "key \"" + std::string(key) + "\" listed twice");
    for (std::size_t i = 1; i < f.size(); ++i) {
      auto [node, v] = NodeValue(f[i], n);
      if (!it->second.emplace(node, v).second) throw ParseError(n, "node listed twice");
    }
  });
  s.v1 = v1.value_or(false);
  return s;
}

std::map<int, std::uint64_t> MemoryNumaStatAnonShmemBytes(const MemoryNumaStat& stat,
                                                          std::uint64_t page_size) {
  std::map<int, std::uint64_t> out;
  auto add = [&](std::string_view key, std::uint64_t unit) {
    auto it = stat.keys.find(key);
    if (it == stat.keys.end()) return false;
    for (const auto& [node, v] : it->second) out[node] += v * unit;
    return true;
  };
  if (!stat.v1) {
    if (add("anon", 1) && add("shmem", 1)) return out;
  } else if (stat.keys.count("hierarchical_anon")) {
    if (add("hierarchical_anon", page_size) && add("hierarchical_unevictable", page_size)) {
      return out;
    }
  } else if (add("anon", page_size) && add("unevictable", page_size)) {
    return out;
  }
  return {};
}

}  // namespace pagescope
