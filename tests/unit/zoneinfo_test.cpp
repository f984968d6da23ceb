#include "collectors/zoneinfo.h"

#include <gtest/gtest.h>

#include "framework/errors.h"
#include "test_util.h"

namespace pagescope {
namespace {

using testing::LineOfError;

// Cut from this machine's /proc/zoneinfo (kernel 6.18, x86-64): a populated zone with the
// per-node statistics and pagesets, then an unpopulated one.
constexpr const char* kZoneinfo =
    "Node 0, zone      DMA\n"
    "  per-node stats\n"
    "      nr_inactive_anon 8776\n"
    "      workingset_refault_file 27083\n"
    "  pages free     3840\n"
    "        boost    0\n"
    "        min      43\n"
    "        low      53\n"
    "        high     63\n"
    "        promo    73\n"
    "        spanned  4095\n"
    "        present  3998\n"
    "        managed  3840\n"
    "        cma      0\n"
    "        protection: (0, 3019, 5835, 5835, 5835)\n"
    "      nr_free_pages 3840\n"
    "      nr_free_pages_blocks 3584\n"
    "      numa_hit     0\n"
    "  pagesets\n"
    "    cpu: 0\n"
    "              count:    0\n"
    "              high:     0\n"
    "              batch:    1\n"
    "              high_min: 26\n"
    "  vm stats threshold: 4\n"
    "  node_unreclaimable:  0\n"
    "  start_pfn:           1\n"
    "Node 0, zone  Movable\n"
    "  pages free     0\n"
    "        boost    0\n"
    "        min      32\n"
    "        low      32\n"
    "        high     32\n"
    "        promo    32\n"
    "        spanned  0\n"
    "        present  0\n"
    "        managed  0\n"
    "        cma      0\n"
    "        protection: (0, 0, 0, 0, 0)\n";

TEST(Zoneinfo, ParsesZones) {
  auto z = ParseZoneinfo(kZoneinfo);
  ASSERT_EQ(z.size(), 2u);
  EXPECT_EQ(z[0].node, 0);
  EXPECT_EQ(z[0].zone, "DMA");
  EXPECT_EQ(z[0].free, 3840u);
  EXPECT_EQ(z[0].nr_free_pages, 3840u);
  EXPECT_EQ(z[0].boost, 0u);
  EXPECT_EQ(z[0].min, 43u);
  EXPECT_EQ(z[0].low, 53u);
  EXPECT_EQ(z[0].high, 63u);  // not the pageset's "high:"
  EXPECT_EQ(z[0].spanned, 4095u);
  EXPECT_EQ(z[0].present, 3998u);
  EXPECT_EQ(z[0].managed, 3840u);
  EXPECT_EQ(z[0].protection, (std::vector<std::uint64_t>{0, 3019, 5835, 5835, 5835}));
  EXPECT_EQ(z[1].zone, "Movable");
  EXPECT_EQ(z[1].present, 0u);
  EXPECT_EQ(z[1].nr_free_pages, std::nullopt);
}

TEST(Zoneinfo, SparseNodesAndOldKernel) {
  // Node 2 without node 1; a kernel before 5.0 prints no boost.
  auto z = ParseZoneinfo(
      "Node 2, zone   Normal\n  pages free     10\n        min      1\n        low      2\n"
      "        high     3\n        scanned  0\n        spanned  100\n        present  100\n"
      "        managed  90\n        protection: (0, 0)\n");
  ASSERT_EQ(z.size(), 1u);
  EXPECT_EQ(z[0].node, 2);
  EXPECT_EQ(z[0].boost, std::nullopt);
  EXPECT_EQ(z[0].managed, 90u);
}

TEST(Zoneinfo, TruncatedAtALineKeepsWhatItHas) {
  std::string text(kZoneinfo);
  text = text.substr(0, text.find("        spanned  4095"));
  auto z = ParseZoneinfo(text);
  ASSERT_EQ(z.size(), 1u);
  EXPECT_EQ(z[0].high, 63u);
  EXPECT_EQ(z[0].present, std::nullopt);
  EXPECT_TRUE(z[0].protection.empty());
  EXPECT_TRUE(ParseZoneinfo("").empty());
}

TEST(Zoneinfo, Malformed) {
  // Truncated in the middle of a line.
  EXPECT_EQ(
      LineOfError([] { ParseZoneinfo("Node 0, zone DMA\n  pages free 3\n  protection: (0, 30"); }),
      3u);
  EXPECT_EQ(LineOfError([] { ParseZoneinfo("Node 0, zone\n"); }), 1u);
  EXPECT_EQ(LineOfError([] { ParseZoneinfo("Node x, zone DMA\n"); }), 1u);
  EXPECT_EQ(LineOfError([] { ParseZoneinfo("  pages free 3\n"); }), 1u);  // before any zone
  EXPECT_EQ(LineOfError([] { ParseZoneinfo("Node 0, zone DMA\n  pages free\n"); }), 2u);
  EXPECT_EQ(LineOfError([] { ParseZoneinfo("Node 0, zone DMA\n        min 4x3\n"); }), 2u);
  EXPECT_EQ(LineOfError([] { ParseZoneinfo("Node 0, zone DMA\n  min 1\n  min 2\n"); }), 3u);
  EXPECT_EQ(LineOfError([] { ParseZoneinfo("Node 0, zone DMA\n  protection: (0, -1)\n"); }), 2u);
  EXPECT_EQ(LineOfError([] { ParseZoneinfo(kZoneinfo); }), 0u);
}

}  // namespace
}  // namespace pagescope
