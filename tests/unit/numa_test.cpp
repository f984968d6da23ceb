#include "collectors/numa.h"

#include <gtest/gtest.h>

#include "kernel/parse.h"
#include "test_util.h"

namespace pagescope {
namespace {

using testing::LineOfError;

TEST(Numastat, ParsesKernelFormat) {
  auto e = ParseNumastat(
      "numa_hit 8206150\nnuma_miss 0\nnuma_foreign 0\ninterleave_hit 1134\n"
      "local_node 8206150\nother_node 0\n");
  ASSERT_EQ(e.size(), 6u);
  EXPECT_EQ(e[0], (std::pair<std::string, std::uint64_t>{"numa_hit", 8206150}));
  EXPECT_EQ(e[3], (std::pair<std::string, std::uint64_t>{"interleave_hit", 1134}));
  EXPECT_TRUE(ParseNumastat("").empty());
}

TEST(Numastat, Malformed) {
  EXPECT_EQ(LineOfError([] { ParseNumastat("numa_hit 1\nnuma_miss banana\n"); }), 2u);
  EXPECT_EQ(LineOfError([] { ParseNumastat("numa_hit\n"); }), 1u);      // truncated
  EXPECT_EQ(LineOfError([] { ParseNumastat("numa_hit 1 2\n"); }), 1u);  // extra field
  EXPECT_EQ(LineOfError([] { ParseNumastat("numa_hit -1\n"); }), 1u);   // negative
  EXPECT_EQ(LineOfError([] { ParseNumastat("numa_hit 12"); }), 0u);     // no newline: fine
}

TEST(NodeMeminfo, StripsNodePrefix) {
  auto e = ParseNodeMeminfo(
      "Node 2 MemTotal:        4679884 kB\n"
      "Node 2 AnonHugePages:         0 kB\n"
      "Node 2 HugePages_Total:     16\n",
      2);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].key, "MemTotal");
  EXPECT_EQ(e[0].value, 4679884ull * 1024);
  EXPECT_TRUE(e[0].has_unit);
  EXPECT_EQ(e[2].key, "HugePages_Total");
  EXPECT_EQ(e[2].value, 16u);
  EXPECT_FALSE(e[2].has_unit);
}

TEST(NodeMeminfo, Malformed) {
  EXPECT_EQ(
      LineOfError([] { ParseNodeMeminfo("Node 0 MemTotal: 1 kB\nNode 1 MemFree: 1 kB\n", 0); }),
      2u);  // another node's line
  EXPECT_EQ(LineOfError([] { ParseNodeMeminfo("MemTotal: 1 kB\n", 0); }), 1u);  // no prefix
  EXPECT_EQ(LineOfError([] { ParseNodeMeminfo("Node x MemTotal: 1 kB\n", 0); }), 1u);
  EXPECT_EQ(LineOfError([] { ParseNodeMeminfo("Node 0\n", 0); }), 1u);            // truncated
  EXPECT_EQ(LineOfError([] { ParseNodeMeminfo("Node 0 MemTotal:\n", 0); }), 1u);  // truncated
  EXPECT_EQ(LineOfError([] { ParseNodeMeminfo("Node 0 MemTotal: 1 MB\n", 0); }), 1u);
}

TEST(NodeDistance, Row) {
  EXPECT_EQ(ParseNodeDistance("10 21 21 32\n"), (std::vector<std::uint64_t>{10, 21, 21, 32}));
  EXPECT_EQ(ParseNodeDistance("10"), (std::vector<std::uint64_t>{10}));
  EXPECT_THROW(ParseNodeDistance(""), ParseError);
  EXPECT_THROW(ParseNodeDistance("10 x\n"), ParseError);
  EXPECT_THROW(ParseNodeDistance("10\n20\n"), ParseError);
}

TEST(NodeIdList, KernelListFormat) {
  EXPECT_EQ(parse::IdList("0-3,8,10-11\n"), (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_EQ(parse::IdList("0,2\n"), (std::vector<int>{0, 2}));
  EXPECT_EQ(parse::IdList("\n"), (std::vector<int>{}));  // a node without CPUs
  EXPECT_EQ(parse::IdList("3,1-2,2"), (std::vector<int>{1, 2, 3}));
  EXPECT_THROW(parse::IdList("0-x"), ParseError);
  EXPECT_THROW(parse::IdList("3-1"), ParseError);
  EXPECT_THROW(parse::IdList("0,"), ParseError);  // truncated
  EXPECT_THROW(parse::IdList("-1"), ParseError);
  EXPECT_THROW(parse::IdList("0-2147483647"), ParseError);  // implausibly long
  EXPECT_THROW(parse::IdList("0\n1\n"), ParseError);
}

// The numa collector on the two_nodes fixture: sparse ids 0 and 2, distance columns mapped
// through the online mask.
TEST(NumaCollector, SparseNodesAndDistanceColumns) {
  std::string got = testing::ScrapeText(testing::FixtureConfig("two_nodes", {"numa"}));
  EXPECT_NE(got.find("pagescope_numa_distance{node=\"0\",to_node=\"2\"} 21"), std::string::npos);
  EXPECT_NE(got.find("pagescope_numa_distance{node=\"2\",to_node=\"2\"} 10"), std::string::npos);
  EXPECT_EQ(got.find("to_node=\"1\""), std::string::npos);
  EXPECT_NE(got.find("pagescope_numa_node_info{node=\"2\",cpus=\"8-15,24-31\"} 1"),
            std::string::npos);
  EXPECT_NE(got.find("pagescope_numa_hit_total{node=\"2\"} 987654321"), std::string::npos);
  EXPECT_NE(got.find("pagescope_scrape_collector_success{collector=\"numa\"} 1"),
            std::string::npos);
}

TEST(NumaCollector, NoNodeDirectoryNoSeries) {
  std::string got = testing::ScrapeText(testing::FixtureConfig("no_numa", {"numa"}));
  EXPECT_EQ(got.find("pagescope_numa_"), std::string::npos);
  EXPECT_NE(got.find("pagescope_scrape_collector_success{collector=\"numa\"} 1"),
            std::string::npos);
}

TEST(NumaCollector, MalformedFilesFailButKeepTheRest) {
  std::string got = testing::ScrapeText(testing::FixtureConfig("malformed", {"numa"}));
  EXPECT_NE(got.find("pagescope_scrape_collector_success{collector=\"numa\"} 0"),
            std::string::npos);
  EXPECT_EQ(got.find("pagescope_numa_distance"), std::string::npos);   // 2 columns, 1 online
  EXPECT_EQ(got.find("pagescope_numa_node_info"), std::string::npos);  // cpulist "0-x"
  EXPECT_EQ(got.find("pagescope_numa_hit_total"), std::string::npos);  // numa_miss banana
}

}  // namespace
}  // namespace pagescope
