#include "kernel/parse.h"

#include <gtest/gtest.h>

#include "framework/errors.h"

namespace pagescope::parse {
namespace {

TEST(Parse, Fields) {
  auto f = Fields("  a\tbb   c ");
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0], "a");
  EXPECT_EQ(f[1], "bb");
  EXPECT_EQ(f[2], "c");
  EXPECT_TRUE(Fields("   ").empty());
}

TEST(Parse, ForEachLineNumbersLines) {
  std::vector<std::pair<std::size_t, std::string>> got;
  ForEachLine("a\nb\n\nc", [&](std::size_t n, std::string_view l) { got.emplace_back(n, l); });
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3], (std::pair<std::size_t, std::string>{4, "c"}));
  got.clear();
  ForEachLine("a\n", [&](std::size_t n, std::string_view l) { got.emplace_back(n, l); });
  EXPECT_EQ(got.size(), 1u);
}

TEST(Parse, StrictNumbers) {
  EXPECT_EQ(U64("18446744073709551615", 1), 18446744073709551615ull);
  EXPECT_THROW(U64("18446744073709551616", 1), ParseError);
  EXPECT_THROW(U64("-1", 1), ParseError);
  EXPECT_THROW(U64("12a", 1), ParseError);
  EXPECT_THROW(U64("", 1), ParseError);
  EXPECT_EQ(I64("-42", 1), -42);
  EXPECT_DOUBLE_EQ(Double("1.5", 1), 1.5);
  EXPECT_THROW(Double("1.5x", 1), ParseError);
  try {
    U64("banana", 7);
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line(), 7u);
    EXPECT_NE(std::string(e.what()).find("banana"), std::string::npos);
  }
}

TEST(Parse, SingleValueFiles) {
  EXPECT_EQ(SingleU64("1024\n"), 1024u);
  EXPECT_EQ(SingleU64("  7 \n"), 7u);
  EXPECT_THROW(SingleU64(""), ParseError);
  EXPECT_THROW(SingleU64("1\n2\n"), ParseError);
  EXPECT_EQ(SingleI64("-5\n"), -5);
}

TEST(Parse, BracketChoice) {
  auto c = BracketChoice("always [madvise] never\n");
  EXPECT_EQ(c.active, "madvise");
  EXPECT_EQ(c.states, (std::vector<std::string>{"always", "madvise", "never"}));
  EXPECT_THROW(BracketChoice("always madvise never"), ParseError);
  EXPECT_THROW(BracketChoice("[always] [madvise]"), ParseError);
  EXPECT_THROW(BracketChoice("[always"), ParseError);
  EXPECT_THROW(BracketChoice(""), ParseError);
}

TEST(Parse, HugepageSizes) {
  EXPECT_EQ(HugepageDirBytes("hugepages-2048kB"), 2097152u);
  EXPECT_EQ(HugepageDirBytes("hugepages-1048576kB"), 1073741824u);
  EXPECT_EQ(HugepageDirBytes("hugepages-64kB"), 65536u);
  EXPECT_FALSE(HugepageDirBytes("hugepages-kB"));
  EXPECT_FALSE(HugepageDirBytes("hugepages-0kB"));
  EXPECT_FALSE(HugepageDirBytes("hugepages-2048"));
  EXPECT_FALSE(HugepageDirBytes("hugepages-20x48kB"));
  EXPECT_FALSE(HugepageDirBytes("nr_hugepages"));
  EXPECT_EQ(PageSizeLabel(2097152), "2MiB");
  EXPECT_EQ(PageSizeLabel(1073741824), "1GiB");
  EXPECT_EQ(PageSizeLabel(65536), "64KiB");
  EXPECT_EQ(PageSizeLabel(32ull << 20), "32MiB");
  EXPECT_EQ(PageSizeLabel(16ull << 30), "16GiB");
  EXPECT_EQ(PageSizeLabel(1536ull << 10), "1536KiB");
}

TEST(Parse, MetricNameParts) {
  EXPECT_TRUE(MetricNamePartOk("pages_sharing"));
  EXPECT_TRUE(MetricNamePartOk("nr_anon_transparent_hugepages"));
  EXPECT_TRUE(MetricNamePartOk("sleep_millisecs"));  // converted by the callers
  EXPECT_FALSE(MetricNamePartOk(""));
  EXPECT_FALSE(MetricNamePartOk("Pages"));
  EXPECT_FALSE(MetricNamePartOk("_x"));
  EXPECT_FALSE(MetricNamePartOk("9x"));
  EXPECT_FALSE(MetricNamePartOk("a-b"));
  EXPECT_FALSE(MetricNamePartOk("a.b"));
  EXPECT_FALSE(MetricNamePartOk("events_total"));
  EXPECT_FALSE(MetricNamePartOk("x_count"));
  EXPECT_FALSE(MetricNamePartOk("nr_sec_page_table_pages"));
  EXPECT_FALSE(MetricNamePartOk("timeout_ms"));
  EXPECT_FALSE(MetricNamePartOk("size_kb"));
  EXPECT_FALSE(MetricNamePartOk("age_minutes"));
}

TEST(Parse, NodeIds) {
  EXPECT_EQ(NodeDirId("node0"), 0);
  EXPECT_EQ(NodeDirId("node12"), 12);
  EXPECT_FALSE(NodeDirId("node"));
  EXPECT_FALSE(NodeDirId("nodex"));
  EXPECT_FALSE(NodeDirId("node-1"));
  EXPECT_FALSE(NodeDirId("possible"));
}

}  // namespace
}  // namespace pagescope::parse
