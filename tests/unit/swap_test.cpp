#include "collectors/swap.h"

#include <gtest/gtest.h>

#include "framework/errors.h"
#include "kernel/parse.h"
#include "kernel/sys_module_zswap.h"
#include "test_util.h"

namespace pagescope {
namespace {

TEST(Swaps, TwoDevicesOneWithASpace) {
  auto d = ParseSwaps(
      "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
      "/dev/nvme0n1p3                          partition\t6291456\t\t262144\t\t-2\n"
      "/var/lib/swap\\040file                   file\t\t2097148\t\t0\t\t10\n");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].path, "/dev/nvme0n1p3");
  EXPECT_EQ(d[0].type, "partition");
  EXPECT_EQ(d[0].size_bytes, 6291456ull << 10);
  EXPECT_EQ(d[0].used_bytes, 262144ull << 10);
  EXPECT_EQ(d[0].priority, -2);
  EXPECT_EQ(d[1].path, "/var/lib/swap file");
  EXPECT_EQ(d[1].type, "file");
  EXPECT_EQ(d[1].priority, 10);
}

TEST(Swaps, HeaderOnlyOrEmpty) {
  EXPECT_TRUE(ParseSwaps("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n").empty());
  EXPECT_TRUE(ParseSwaps("").empty());
}

TEST(Swaps, Malformed) {
  auto line_of = [](std::string_view text) -> std::size_t {
    try {
      ParseSwaps(text);
    } catch (const ParseError& e) {
      return e.line();
    }
    return 0;
  };
  std::string h = "Filename Type Size Used Priority\n";
  EXPECT_EQ(line_of(h + "/dev/sda2 partition 1048572 0\n"), 2u);  // truncated
  EXPECT_EQ(line_of(h + "/dev/sda2 partition 1048572 0 -2 x\n"), 2u);
  EXPECT_EQ(line_of(h + "/dev/sda2 partition big 0 -2\n"), 2u);
  EXPECT_EQ(line_of(h + "/dev/sda2 partition 1 -1 -2\n"), 2u);                 // negative used
  EXPECT_EQ(line_of(h + "/dev/sda2 partition 18014398509481984 0 -2\n"), 2u);  // overflow
  EXPECT_EQ(line_of("/dev/sda2 partition 1 0 -2\nFilename Type Size Used Priority\n"), 2u);
}

TEST(Swaps, UnescapeOctal) {
  EXPECT_EQ(parse::UnescapeOctal("/swap\\040file"), "/swap file");
  EXPECT_EQ(parse::UnescapeOctal("a\\011b\\012c\\134d"), "a\tb\nc\\d");
  EXPECT_EQ(parse::UnescapeOctal("trailing\\04"), "trailing\\04");  // truncated escape kept
  EXPECT_EQ(parse::UnescapeOctal("\\9xx"), "\\9xx");
  EXPECT_EQ(parse::UnescapeOctal(""), "");
}

TEST(Zswap, ModuleBool) {
  EXPECT_EQ(ParseModuleBool("Y\n"), true);
  EXPECT_EQ(ParseModuleBool("N"), false);
  EXPECT_EQ(ParseModuleBool("1"), std::nullopt);
  EXPECT_EQ(ParseModuleBool("maybe\n"), std::nullopt);
  EXPECT_EQ(ParseModuleBool(""), std::nullopt);
}

TEST(SwapCollector, Fixtures) {
  std::string two = testing::ScrapeText(testing::FixtureConfig("two_nodes", {"swap"}));
  EXPECT_NE(
      two.find("pagescope_swap_device_size_bytes{device=\"/var/lib/swap file\",type=\"file\"} "
               "2147479552"),
      std::string::npos);
  EXPECT_NE(two.find("pagescope_swap_zswap_max_pool_ratio 0.2"), std::string::npos);
  EXPECT_NE(two.find("pagescope_swap_zswap_info{compressor=\"zstd\",zpool=\"zsmalloc\"} 1"),
            std::string::npos);
  EXPECT_NE(two.find("pagescope_swap_zswap_exclusive_loads_enabled 0"), std::string::npos);
  EXPECT_NE(two.find("pagescope_swap_swappiness 10"), std::string::npos);
  EXPECT_NE(two.find("pagescope_scrape_collector_success{collector=\"swap\"} 1"),
            std::string::npos);

  std::string none = testing::ScrapeText(testing::FixtureConfig("no_numa", {"swap"}));
  EXPECT_EQ(none.find("pagescope_swap_device"), std::string::npos);
  EXPECT_NE(none.find("pagescope_swap_zswap_enabled 0"), std::string::npos);
  EXPECT_NE(none.find("pagescope_scrape_collector_success{collector=\"swap\"} 1"),
            std::string::npos);

  std::string bad = testing::ScrapeText(testing::FixtureConfig("malformed", {"swap"}));
  EXPECT_NE(bad.find("pagescope_scrape_collector_success{collector=\"swap\"} 0"),
            std::string::npos);
  EXPECT_EQ(bad.find("pagescope_swap_device"), std::string::npos);
  EXPECT_EQ(bad.find("pagescope_swap_swappiness"), std::string::npos);
  EXPECT_EQ(bad.find("pagescope_swap_zswap_enabled"), std::string::npos);
  EXPECT_EQ(bad.find("pagescope_swap_zswap_max_pool_ratio"), std::string::npos);
  EXPECT_NE(bad.find("pagescope_swap_zswap_accept_threshold_ratio 0.9"), std::string::npos);
}

}  // namespace
}  // namespace pagescope
