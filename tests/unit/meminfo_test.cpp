#include "collectors/meminfo.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace pagescope {
namespace {

TEST(Meminfo, ParsesUnitsAndCounts) {
  auto e = ParseMeminfo(
      "MemTotal:       24684084 kB\n"
      "HugePages_Total:       8\n"
      "Active(anon):       1504 kB\n"
      "Committed_AS:      48296 kB\n");
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].key, "MemTotal");
  EXPECT_EQ(e[0].value, 24684084ull * 1024);
  EXPECT_TRUE(e[0].has_unit);
  EXPECT_EQ(e[1].key, "HugePages_Total");
  EXPECT_EQ(e[1].value, 8u);
  EXPECT_FALSE(e[1].has_unit);
  EXPECT_EQ(e[2].key, "Active(anon)");
  EXPECT_EQ(e[3].key, "Committed_AS");
}

TEST(Meminfo, EmptyAndBlankLines) {
  EXPECT_TRUE(ParseMeminfo("").empty());
  EXPECT_EQ(ParseMeminfo("\nMemFree: 1 kB\n\n").size(), 1u);
}

TEST(Meminfo, MalformedLinesNameTheLine) {
  auto line_of = [](std::string_view text) {
    return testing::LineOfError([&] { ParseMeminfo(text); });
  };
  EXPECT_EQ(line_of("MemTotal: 1 kB\nMemFree: 500 MB\n"), 2u);  // unknown unit
  EXPECT_EQ(line_of("MemTotal: 1 kB\ngarbage\n"), 2u);          // no colon
  EXPECT_EQ(line_of("MemTotal:\n"), 1u);                        // no value
  EXPECT_EQ(line_of("MemTotal: x kB\n"), 1u);                   // not a number
  EXPECT_EQ(line_of("MemTotal: 1 kB extra\n"), 1u);             // too many fields
  EXPECT_EQ(line_of("MemTotal: 18014398509481984 kB\n"), 1u);   // overflows in bytes
  EXPECT_EQ(line_of("MemTotal: 12"), 0u);                       // truncated: still a value
}

TEST(Meminfo, FieldTableCoversMetricsMd) {
  std::set<std::string> metrics;
  for (const auto& f : MeminfoFields()) metrics.insert(f.metric);
  for (const char* m :
       {"total", "free", "available", "anon_huge_pages", "shmem_huge_pages", "shmem_pmd_mapped",
        "file_huge_pages", "file_pmd_mapped", "hugetlb", "swap_total", "swap_free", "swap_cached",
        "zswap", "zswapped", "committed_as", "commit_limit"}) {
    EXPECT_TRUE(metrics.count(m)) << m;
  }
}

}  // namespace
}  // namespace pagescope
