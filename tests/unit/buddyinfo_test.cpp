#include "collectors/buddyinfo.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "exporter/config.h"
#include "exporter/scraper.h"
#include "framework/errors.h"
#include "kernel/proc_pagetypeinfo.h"
#include "test_util.h"

namespace pagescope {
namespace {

// This machine's /proc/buddyinfo (kernel 6.18, x86-64).
constexpr const char* kBuddyinfo =
    "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1 "
    "     3 \n"
    "Node 0, zone    DMA32      1      1      4      2      5      4      3      3      4      2 "
    "   752 \n"
    "Node 0, zone   Normal      1      1      2      0     52     51     25     18      9      1 "
    "    80 \n";

using testing::LineOfError;

TEST(Buddyinfo, ParsesZones) {
  auto z = ParseBuddyinfo(kBuddyinfo);
  ASSERT_EQ(z.size(), 3u);
  EXPECT_EQ(z[0].node, 0);
  EXPECT_EQ(z[0].zone, "DMA");
  EXPECT_EQ(z[1].zone, "DMA32");
  ASSERT_EQ(z[2].free_blocks.size(), 11u);
  EXPECT_EQ(z[2].free_blocks[4], 52u);
  EXPECT_EQ(z[2].free_blocks[10], 80u);
  auto two = ParseBuddyinfo("Node 0, zone Normal 1 2\nNode 2, zone Normal 3 4\n");
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].node, 2);
}

TEST(Buddyinfo, Malformed) {
  EXPECT_EQ(LineOfError([] { ParseBuddyinfo("Node 0, zone DMA 1 2\nNode 0, zone DMA32 1 -2\n"); }),
            2u);
  EXPECT_EQ(LineOfError([] { ParseBuddyinfo("Node 0, zone\n"); }), 1u);       // truncated
  EXPECT_EQ(LineOfError([] { ParseBuddyinfo("Node 0 zone DMA 1\n"); }), 1u);  // no comma
  EXPECT_EQ(LineOfError([] { ParseBuddyinfo("Node x, zone DMA 1\n"); }), 1u);
  EXPECT_EQ(LineOfError([] { ParseBuddyinfo("garbage\n"); }), 1u);
  EXPECT_EQ(LineOfError([] { ParseBuddyinfo("Node 0, zone DMA 1\n\n"); }), 0u);
}

TEST(Buddyinfo, PageOrder) {
  EXPECT_EQ(PageOrder(2 << 20, 4096), 9u);
  EXPECT_EQ(PageOrder(1 << 30, 4096), 18u);
  EXPECT_EQ(PageOrder(4096, 4096), 0u);
  EXPECT_EQ(PageOrder(2 << 20, 65536), 5u);     // arm64 with 64 KiB pages: 2 MiB is order 5
  EXPECT_EQ(PageOrder(512 << 20, 65536), 13u);  // and 512 MiB order 13
  EXPECT_EQ(PageOrder(2048, 4096), std::nullopt);
  EXPECT_EQ(PageOrder(3 << 20, 4096), std::nullopt);
  EXPECT_EQ(PageOrder(1 << 20, 0), std::nullopt);
}

TEST(Buddyinfo, ObtainablePagesFromThisMachinesFile) {
  auto z = ParseBuddyinfo(kBuddyinfo);
  double two_mib = 0;
  double one_gib = 0;
  double four_kib = 0;
  for (const auto& zone : z) {
    two_mib += ObtainablePages(zone.free_blocks, 9);
    one_gib += ObtainablePages(zone.free_blocks, 18);
    four_kib += ObtainablePages(zone.free_blocks, 0);
  }
  // Order 9: 1 + 2 + 1 blocks; order 10: 3 + 752 + 80 blocks of two 2 MiB pages each.
  EXPECT_EQ(two_mib, 4 + 2 * 835);
  EXPECT_EQ(one_gib, 0);  // above the buddy allocator's largest order
  // Order 0 counts every free base page.
  double free_pages = 0;
  for (const auto& zone : z) {
    for (std::size_t k = 0; k < zone.free_blocks.size(); ++k) {
      free_pages += static_cast<double>(zone.free_blocks[k] << k);
    }
  }
  EXPECT_EQ(four_kib, free_pages);
  EXPECT_EQ(ObtainablePages({}, 9), 0);
  EXPECT_EQ(ObtainablePages({0, 0, 1}, 1), 2);
}

// This machine's /proc/pagetypeinfo, shortened to two zones, plus a capped count.
constexpr const char* kPagetypeinfo =
    "Page block order: 9\n"
    "Pages per block:  512\n"
    "\n"
    "Free pages count per migrate type at order       0      1      2      3      4      5      6 "
    "     7      8      9     10 \n"
    "Node    0, zone      DMA, type    Unmovable      0      0      0      0      0      0      0 "
    "     0      1      0      0 \n"
    "Node    0, zone      DMA, type      Movable      0      0      0      0      0      0      0 "
    "     0      0      1      3 \n"
    "Node    0, zone   Normal, type      Movable >100000      1      0      1      0      1      1 "
    "     1      0      0     80 \n"
    "Node    0, zone   Normal, type  Reclaimable      0      0      1      0      1      0      4 "
    "     5      2      0      0 \n"
    "\n"
    "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate \n"
    "Node 0, zone      DMA            1            7            0            0            0 \n"
    "Node 0, zone   Normal           48          683           37            0            0 \n";

TEST(Pagetypeinfo, ParsesFreeTableOnly) {
  auto rows = ParsePagetypeinfo(kPagetypeinfo);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[1].zone, "DMA");
  EXPECT_EQ(rows[1].type, "Movable");
  EXPECT_EQ(rows[1].free_blocks[10], 3u);
  EXPECT_FALSE(rows[1].capped);
  EXPECT_EQ(rows[2].zone, "Normal");
  EXPECT_EQ(rows[2].free_blocks[0], 100000u);
  EXPECT_TRUE(rows[2].capped);
  EXPECT_EQ(rows[3].type, "Reclaimable");
  EXPECT_TRUE(ParsePagetypeinfo("").empty());
}

TEST(Pagetypeinfo, Malformed) {
  std::string header = "Free pages count per migrate type at order 0 1 2\n";  // line 1
  EXPECT_EQ(
      LineOfError([&] { ParsePagetypeinfo(header + "Node 0, zone Normal, type Movable 1 2\n"); }),
      2u);  // truncated row: 2 counts for 3 orders
  EXPECT_EQ(
      LineOfError([&] { ParsePagetypeinfo(header + "Node 0, zone Normal, type Movable 1 2 x\n"); }),
      2u);
  EXPECT_EQ(
      LineOfError([&] { ParsePagetypeinfo(header + "Node 0, zone Normal type Movable 1 2 3\n"); }),
      2u);  // zone without comma
  EXPECT_EQ(LineOfError([&] { ParsePagetypeinfo(header + "garbage\n"); }), 2u);
  EXPECT_EQ(
      LineOfError([] { ParsePagetypeinfo("Free pages count per migrate type at order 0 2\n"); }),
      1u);
}

// Worked by hand from tests/fixtures/two_nodes/proc/{buddyinfo,pagetypeinfo} (4 KiB pages).
TEST(BuddyinfoCollector, ObtainableOnTwoNodes) {
  std::string got = testing::ScrapeText(testing::FixtureConfig("two_nodes", {"buddyinfo"}));
  auto has = [&](const std::string& line) {
    EXPECT_NE(got.find(line + "\n"), std::string::npos) << line;
  };
  // Node 0: DMA 1 + 2*3, DMA32 2 + 2*752, Normal 120 + 2*9000.
  has("pagescope_hugepages_obtainable_pages{node=\"0\",page_size=\"2MiB\"} 19633");
  // Node 2: Normal 33 + 2*14000.
  has("pagescope_hugepages_obtainable_pages{node=\"2\",page_size=\"2MiB\"} 28033");
  has("pagescope_hugepages_obtainable_pages{node=\"0\",page_size=\"1GiB\"} 0");
  // Movable lists only: DMA 1 + 2*3, DMA32 2 + 2*752, Normal 112 + 2*8990.
  has("pagescope_hugepages_obtainable_movable_pages{node=\"0\",page_size=\"2MiB\"} 19605");
  has("pagescope_hugepages_obtainable_movable_pages{node=\"2\",page_size=\"2MiB\"} 28033");
  // Free blocks by default only from the smallest hugepage order (9 for 2 MiB) up.
  has("pagescope_buddyinfo_free_blocks{node=\"2\",zone=\"Normal\",order=\"9\"} 33");
  has("pagescope_buddyinfo_free_blocks{node=\"2\",zone=\"Normal\",order=\"10\"} 14000");
  EXPECT_EQ(got.find("order=\"8\""), std::string::npos);
  has("pagescope_scrape_collector_success{collector=\"buddyinfo\"} 1");
}

TEST(BuddyinfoCollector, FreeBlocksOfEveryOrderOnRequest) {
  std::string all = testing::ScrapeText(testing::FixtureConfig(
      "two_nodes", {"buddyinfo"}, "collectors:\n  buddyinfo:\n    free_blocks: all\n"));
  EXPECT_NE(all.find("pagescope_buddyinfo_free_blocks{node=\"2\",zone=\"Normal\",order=\"0\"} "
                     "251558\n"),
            std::string::npos);
  std::string none = testing::ScrapeText(testing::FixtureConfig(
      "two_nodes", {"buddyinfo"}, "collectors:\n  buddyinfo:\n    free_blocks: none\n"));
  EXPECT_EQ(none.find("pagescope_buddyinfo_free_blocks"), std::string::npos);
  EXPECT_NE(none.find("pagescope_hugepages_obtainable_pages"), std::string::npos);
}

TEST(BuddyinfoCollector, NoPagetypeinfoNoMovableFigure) {
  std::string got = testing::ScrapeText(testing::FixtureConfig("no_numa", {"buddyinfo"}));
  EXPECT_NE(got.find("pagescope_hugepages_obtainable_pages{node=\"0\",page_size=\"2MiB\"} 1674\n"),
            std::string::npos);
  EXPECT_EQ(got.find("obtainable_movable"), std::string::npos);
  EXPECT_NE(got.find("pagescope_scrape_collector_success{collector=\"buddyinfo\"} 1"),
            std::string::npos);
}

TEST(BuddyinfoCollector, PagetypeinfoCanBeSwitchedOff) {
  std::string got = testing::ScrapeText(testing::FixtureConfig(
      "two_nodes", {"buddyinfo"}, "collectors:\n  buddyinfo:\n    pagetypeinfo: false\n"));
  EXPECT_EQ(got.find("obtainable_movable"), std::string::npos);
  EXPECT_NE(got.find("pagescope_hugepages_obtainable_pages{node=\"0\",page_size=\"2MiB\"} 19633"),
            std::string::npos);
}

// /proc/pagetypeinfo is read at most once per pagetypeinfo_interval_seconds: a second scrape
// within the interval shows the first read's figure although the file changed; with 0 it
// shows the new one. (The default interval, 300 s, never runs out within the test.)
std::string PagetypeinfoTwice(const std::string& yaml) {
  auto dir = std::filesystem::temp_directory_path() /
             ("pagescope-pti-" + std::to_string(::getpid()) + "-" + std::to_string(yaml.size()));
  std::filesystem::remove_all(dir);
  std::filesystem::copy(
      testing::FixtureDir("two_nodes"), dir,
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::copy_symlinks);
  CommandLine cl;
  cl.values["path.procfs"] = {(dir / "proc").string()};
  cl.values["path.sysfs"] = {(dir / "sys").string()};
  cl.values["path.rootfs"] = {(dir / "root").string()};
  cl.values["collectors.disable_defaults"] = {"true"};
  cl.values["collectors.buddyinfo.enabled"] = {"true"};
  Scraper scraper(LoadConfigFromText(cl, yaml, yaml.empty() ? "" : "test.yml"));
  auto text = [&] {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, scraper.Scrape());
    return out.str();
  };
  const std::string movable2 =
      "pagescope_hugepages_obtainable_movable_pages{node=\"2\",page_size=\"2MiB\"} ";
  std::string first = text();
  EXPECT_NE(first.find(movable2 + "28033\n"), std::string::npos) << first;
  // Node 2's Normal Movable list now has 15000 free blocks of order 10 (was 14000).
  auto pti = dir / "proc" / "pagetypeinfo";
  std::string content = testing::ReadText(pti);
  auto at = content.find("   220     33  14000");
  EXPECT_NE(at, std::string::npos);
  content.replace(at, 20, "   220     33  15000");
  testing::WriteText(pti, content);
  std::string second = text();
  std::filesystem::remove_all(dir);
  auto line = second.find(movable2);
  EXPECT_NE(line, std::string::npos) << second;
  return second.substr(line + movable2.size(), second.find('\n', line) - line - movable2.size());
}

TEST(BuddyinfoCollector, PagetypeinfoReadAtMostOncePerInterval) {
  EXPECT_EQ(PagetypeinfoTwice(""), "28033");
}

TEST(BuddyinfoCollector, PagetypeinfoIntervalZeroReadsEveryScrape) {
  EXPECT_EQ(PagetypeinfoTwice("collectors:\n  buddyinfo:\n    pagetypeinfo_interval_seconds: 0\n"),
            "30033");
}

TEST(BuddyinfoCollector, NegativePagetypeinfoIntervalIsAConfigError) {
  auto cl = ParseCommandLine({"--collector.buddyinfo.pagetypeinfo-interval-seconds=-1"});
  EXPECT_THROW(Scraper(LoadConfigFromText(cl, "", "")), ConfigError);
}

TEST(BuddyinfoCollector, MalformedFails) {
  std::string got = testing::ScrapeText(testing::FixtureConfig("malformed", {"buddyinfo"}));
  EXPECT_NE(got.find("pagescope_scrape_collector_success{collector=\"buddyinfo\"} 0"),
            std::string::npos);
  EXPECT_EQ(got.find("pagescope_buddyinfo_free_blocks"), std::string::npos);
}

}  // namespace
}  // namespace pagescope
