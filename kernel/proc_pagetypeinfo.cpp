#include "kernel/proc_pagetypeinfo.h"

#include "framework/errors.h"
#include "kernel/parse.h"

namespace pagescope {
namespace {

// "0," -> 0, "DMA32," -> "DMA32": the fields pagetypeinfo ends with a comma.
std::string_view WithoutComma(std::string_view field, std::size_t n) {
  if (field.size() < 2 || field.back() != ',') {
    throw ParseError(n, "expected \"" + std::string(field) + "\" to end with a comma");
  }
  return field.substr(0, field.size() - 1);
}

}  // namespace

std::vector<PagetypeFree> ParsePagetypeinfo(std::string_view text) {
  constexpr std::string_view kFreeHeader = "Free pages count per migrate type at order";
  std::vector<PagetypeFree> out;
  bool in_free_table = false;
  std::size_t orders = 0;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    std::string_view t = parse::Trim(line);
    if (t.starts_with(kFreeHeader)) {
      auto f = parse::Fields(t.substr(kFreeHeader.size()));
      if (f.empty()) throw ParseError(n, "free-block table header without orders");
      for (std::size_t i = 0; i < f.size(); ++i) {
        if (parse::U64(f[i], n) != i) throw ParseError(n, "orders out of sequence");
      }
      orders = f.size();
      in_free_table = true;
      return;
    }
    if (!in_free_table) return;  // "Page block order: 9", "Pages per block: 512"
    if (t.empty() || t.starts_with("Number of ")) {
      in_free_table = false;  // the pageblock tables that follow are not used
      return;
    }
    // "Node    0, zone      DMA, type    Unmovable      0      0 ...      >100000 ..."
    auto f = parse::Fields(t);
    if (f.size() < 7 || f[0] != "Node" || f[2] != "zone" || f[4] != "type") {
      throw ParseError(n, "expected \"Node <id>, zone <zone>, type <type> <counts>\"");
    }
    PagetypeFree row;
    std::uint64_t node = parse::U64(WithoutComma(f[1], n), n);
    if (node > 1 << 20) throw ParseError(n, "node id out of range");
    row.node = static_cast<int>(node);
    row.zone = std::string(WithoutComma(f[3], n));
    row.type = std::string(f[5]);
    for (std::size_t i = 6; i < f.size(); ++i) {
      std::string_view c = f[i];
      if (c.starts_with('>')) {
        row.capped = true;
        c.remove_prefix(1);
      }
      row.free_blocks.push_back(parse::U64(c, n));
    }
    if (row.free_blocks.size() != orders) {
      throw ParseError(n, std::to_string(row.free_blocks.size()) + " counts for " +
                              std::to_string(orders) + " orders");
    }
    out.push_back(std::move(row));
  });
  return out;
}

}  // namespace pagescope
