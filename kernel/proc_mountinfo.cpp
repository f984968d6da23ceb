#include "kernel/proc_mountinfo.h"

#include "framework/errors.h"
#include "kernel/parse.h"

namespace pagescope {

std::vector<MountinfoEntry> ParseMountinfo(std::string_view text) {
  std::vector<MountinfoEntry> entries;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    if (parse::Trim(line).empty()) return;
    auto f = parse::Fields(line);
    // id parent major:minor root mount_point options [optional fields…] - type source super
    std::size_t sep = 6;
    while (sep < f.size() && f[sep] != "-") ++sep;
    if (f.size() < 7 || sep == f.size()) {
      throw ParseError(n,
                       "expected \"ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [FIELDS] - TYPE "
                       "SOURCE OPTIONS\"");
    }
    // The source and the super options may be missing on some kernels' odd mounts; the type
    // never is.
    if (sep + 1 >= f.size()) throw ParseError(n, "no filesystem type after \"-\"");
    std::size_t colon = f[2].find(':');
    if (colon == std::string_view::npos) {
      throw ParseError(n, "expected MAJOR:MINOR, got \"" + std::string(f[2]) + "\"");
    }
    parse::U64(f[0], n);
    parse::U64(f[1], n);
    MountinfoEntry e;
    std::uint64_t major = parse::U64(f[2].substr(0, colon), n);
    std::uint64_t minor = parse::U64(f[2].substr(colon + 1), n);
    if (major > UINT32_MAX || minor > UINT32_MAX) {
      throw ParseError(n, "device number out of range \"" + std::string(f[2]) + "\"");
    }
    e.dev_major = static_cast<std::uint32_t>(major);
    e.dev_minor = static_cast<std::uint32_t>(minor);
    e.mount_point = parse::UnescapeOctal(f[4]);
    e.mount_options = std::string(f[5]);
    e.fs_type = parse::UnescapeOctal(f[sep + 1]);
    if (sep + 2 < f.size()) e.source = parse::UnescapeOctal(f[sep + 2]);
    if (sep + 3 < f.size()) e.super_options = parse::UnescapeOctal(f[sep + 3]);
    entries.push_back(std::move(e));
  });
  return entries;
}

std::string FsTypeOf(const std::vector<MountinfoEntry>& mounts, std::string_view path) {
  std::size_t best = 0;
  std::string type;
  for (const auto& m : mounts) {
    const std::string& mp = m.mount_point;
    bool under = path == mp || mp == "/" ||
                 (path.starts_with(mp) && path.size() > mp.size() && path[mp.size()] == '/');
    // The last mount of the longest prefix wins (mounts stack in mountinfo order).
    if (under && mp.size() >= best) {
      best = mp.size();
      type = m.fs_type;
    }
  }
  return type;
}

HugetlbfsOptions ParseHugetlbfsOptions(std::string_view super_options) {
  HugetlbfsOptions o;
  while (!super_options.empty()) {
    auto comma = super_options.find(',');
    std::string_view opt = super_options.substr(0, comma);
    super_options = comma == std::string_view::npos ? "" : super_options.substr(comma + 1);
    auto eq = opt.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = opt.substr(0, eq);
    std::string_view value = opt.substr(eq + 1);
    std::optional<std::uint64_t>* target = nullptr;
    if (key == "pagesize") {
      target = &o.page_size;
    } else if (key == "size") {
      target = &o.size;
    } else if (key == "min_size") {
      target = &o.min_size;
    } else {
      continue;
    }
    auto v = parse::Size(value, parse::SizeSyntax::kMemparse);
    if (!v || (key == "pagesize" && *v == 0)) {
      throw ParseError(
          1, "hugetlbfs option " + std::string(key) + "=" + std::string(value) + " is not a size");
    }
    *target = v;
  }
  return o;
}

}  // namespace pagescope
