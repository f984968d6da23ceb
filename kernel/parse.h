#pragma once
// Small text helpers shared by the parsers. Pure: no files, no metrics.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pagescope::parse {

// Splits on runs of spaces and tabs.
std::vector<std::string_view> Fields(std::string_view line);
std::string_view Trim(std::string_view s);

// Calls fn(line_number, line) for each line; line numbers start at 1; a final newline does not
// make an extra empty line.
template <typename F>
void ForEachLine(std::string_view text, F&& fn) {
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    fn(number, line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

// Strict numbers: the whole token must be the number. Throw ParseError(line, …) otherwise.
std::uint64_t U64(std::string_view token, std::size_t line);
std::int64_t I64(std::string_view token, std::size_t line);
double Double(std::string_view token, std::size_t line);
// A sysfs file holding one unsigned number (and a newline).
std::uint64_t SingleU64(std::string_view text);
std::int64_t SingleI64(std::string_view text);

// "always [madvise] never" -> states {always, madvise, never}, active "madvise".
struct Choice {
  std::vector<std::string> states;
  std::string active;
};
Choice BracketChoice(std::string_view text);

// True when `part` (a kernel file or field name) can go into a metric name as it is: only
// [a-z0-9_], starting with a letter, no segment that `promtool check metrics` flags as an
// abbreviated or non-base unit ("ms", "sec", "kb", "minutes", ...), and no ending that
// Prometheus reserves for other types (_total, _count, _sum, _bucket, _created, _info).
bool MetricNamePartOk(std::string_view part);

// Hugepage sizes. "hugepages-2048kB" -> 2097152 bytes; nullopt when the name is not of that form.
std::optional<std::uint64_t> HugepageDirBytes(std::string_view dir_name);
// IEC label for a page size: 65536 -> "64KiB", 2097152 -> "2MiB", 1073741824 -> "1GiB".
std::string PageSizeLabel(std::uint64_t bytes);
// A size as the kernel's memparse() reads it from the command line and mount options: a
// decimal (or 0x hexadecimal) number with an optional K, M, G, T, P or E suffix (either case,
// binary multiples): "2M" -> 2097152, "1G", "2048K", "4096". nullopt for anything else or on
// overflow.
std::optional<std::uint64_t> MemSize(std::string_view token);
// "node2" -> 2; nullopt when not of that form.
std::optional<int> NodeDirId(std::string_view dir_name);

// The kernel's list format for CPU and node masks (cpulist, node/online, has_memory):
// "0-3,8,10-11\n" -> {0, 1, 2, 3, 8, 10, 11}, sorted and without duplicates; "" or "\n" -> {}.
// Throws ParseError(1, …) on anything else, and on ranges wider than `max_ids` ids.
std::vector<int> IdList(std::string_view text, std::size_t max_ids = 1 << 16);

// Undoes the kernel's octal escapes in paths of /proc files (seq_file's mangle_path, used by
// /proc/swaps and /proc/self/mountinfo): "\040" -> " ". A backslash not followed by three
// octal digits is kept as it is.
std::string UnescapeOctal(std::string_view text);

}  // namespace pagescope::parse
