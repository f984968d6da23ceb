// Capacity per flavor in Nova's terms (hw:mem_page_size, hw:numa_nodes), worked by hand on a
// two-node host with 2 MiB and 1 GiB pools, then through the collector on a fixture tree.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collectors/qemu.h"
#include "exporter/config.h"
#include "exporter/scraper.h"
#include "framework/errors.h"
#include "test_util.h"

namespace pagescope {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20, kGiB = 1ull << 30, k4K = 4096;
constexpr std::uint64_t k2M = 2 * kMiB;

// Node 0: 1000 free 2 MiB pages, 4 free 1 GiB pages, 8 GiB MemFree.
// Node 1: 3000 free 2 MiB pages, 1 free 1 GiB page, 2 GiB MemFree.
// 100 2 MiB pages are reserved (per size, not per node): taken from both nodes.
std::vector<CapacityNode> Host() {
  return {{0, {{k2M, 1000 - 100}, {kGiB, 4}}, 8 * kGiB},
          {1, {{k2M, 3000 - 100}, {kGiB, 1}}, 2 * kGiB}};
}

CapacityFlavor F(CapacityFlavor::Kind kind, std::uint64_t memory, std::uint64_t page = 0,
                 int nodes = 1) {
  CapacityFlavor f;
  f.name = "f";
  f.kind = kind;
  f.memory = memory;
  f.page_size = page;
  f.numa_nodes = nodes;
  return f;
}

TEST(Capacity, ExplicitSizes) {
  auto f = F(CapacityFlavor::kSize, 4 * kGiB, k2M);                 // 2048 pages a guest
  EXPECT_EQ(CellsOnNode(f, Host()[0], f.memory, k4K).at(k2M), 0u);  // 900 / 2048
  EXPECT_EQ(CellsOnNode(f, Host()[1], f.memory, k4K).at(k2M), 1u);  // 2900 / 2048
  EXPECT_EQ(HostSlots(f, Host(), k4K), 1u);
  auto g = F(CapacityFlavor::kSize, 4 * kGiB, kGiB);          // 4 pages a guest
  EXPECT_EQ(HostSlots(g, Host(), k4K), 1u);                   // node 0: 4/4, node 1: 1/4
  auto none = F(CapacityFlavor::kSize, 4 * kGiB, 16 * kGiB);  // no such pool
  EXPECT_EQ(HostSlots(none, Host(), k4K), 0u);
}

TEST(Capacity, LargeTakesEveryHugepageSizeThatDividesTheCell) {
  auto f = F(CapacityFlavor::kLarge, 2 * kGiB);
  // Node 0: 1 GiB 4/2 = 2, 2 MiB 900/1024 = 0. Node 1: 1 GiB 1/2 = 0, 2 MiB 2900/1024 = 2.
  auto n0 = CellsOnNode(f, Host()[0], f.memory, k4K);
  EXPECT_EQ(n0.at(kGiB), 2u);
  EXPECT_EQ(n0.at(k2M), 0u);
  EXPECT_EQ(n0.count(k4K), 0u);  // never base pages
  EXPECT_EQ(HostSlots(f, Host(), k4K), 4u);
  // 1536 MiB does not divide by 1 GiB: 2 MiB pages only (768 a guest): 900/768 + 2900/768.
  auto odd = F(CapacityFlavor::kLarge, 1536 * kMiB);
  EXPECT_EQ(CellsOnNode(odd, Host()[0], odd.memory, k4K).count(kGiB), 0u);
  EXPECT_EQ(HostSlots(odd, Host(), k4K), 1u + 3u);
}

TEST(Capacity, AnyFallsBackToBasePagesAndSmallUsesOnlyThem) {
  auto any = F(CapacityFlavor::kAny, 2 * kGiB);
  // large as above (2 + 2) plus MemFree: 8 GiB / 2 GiB = 4 on node 0, 1 on node 1.
  EXPECT_EQ(CellsOnNode(any, Host()[0], any.memory, k4K).at(k4K), 4u);
  EXPECT_EQ(HostSlots(any, Host(), k4K), 2u + 2u + 4u + 1u);
  auto small = F(CapacityFlavor::kSmall, 2 * kGiB);
  EXPECT_EQ(HostSlots(small, Host(), k4K), 4u + 1u);
  auto unknown = Host();
  unknown[0].free_small_bytes.reset();
  EXPECT_EQ(HostSlots(small, unknown, k4K), 1u);  // no MemFree, no base-page cells there
}

TEST(Capacity, NumaNodesSplitTheGuestOverDistinctNodes) {
  // 4 GiB over 2 nodes: 2 GiB cells. large: 2 cells on node 0, 2 on node 1: 2 guests.
  auto two = F(CapacityFlavor::kLarge, 4 * kGiB, 0, 2);
  EXPECT_EQ(HostSlots(two, Host(), k4K), 2u);
  // any: 6 cells on node 0, 3 on node 1. Every guest needs one cell on each: 3 guests, although
  // 9 cells are free (4 guests would need 4 on node 1).
  auto any = F(CapacityFlavor::kAny, 4 * kGiB, 0, 2);
  EXPECT_EQ(HostSlots(any, Host(), k4K), 3u);
  // A single-node 4 GiB any guest: node 0 takes 1 GiB 4/4 + 2 MiB 0 + base 2, node 1 takes
  // 2 MiB 2900/2048 + base 0.
  EXPECT_EQ(HostSlots(F(CapacityFlavor::kAny, 4 * kGiB), Host(), k4K), 1u + 2u + 1u);
  // More cells than nodes: never fits.
  EXPECT_EQ(HostSlots(F(CapacityFlavor::kAny, 3 * kGiB, 0, 3), Host(), k4K), 0u);
  // Three nodes of 2, 2 and 1 cells, 2 cells a guest: 2 guests (5 cells, not 2.5 -> 2).
  std::vector<CapacityNode> three = {
      {0, {{k2M, 2048}}, 0}, {1, {{k2M, 2048}}, 0}, {2, {{k2M, 1024}}, 0}};
  EXPECT_EQ(HostSlots(F(CapacityFlavor::kSize, 4 * kGiB, k2M, 2), three, k4K), 2u);
}

std::string ConfigError(const std::string& yaml) {
  try {
    CommandLine cl;
    cl.values["collectors.disable_defaults"] = {"true"};
    cl.values["collectors.qemu.enabled"] = {"true"};
    Scraper s(LoadConfigFromText(cl, yaml, "test.yml"));
  } catch (const pagescope::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Capacity, FlavorConfig) {
  using ::testing::HasSubstr;
  auto flavor = [](const std::string& body) {
    return "collectors:\n  qemu:\n    flavors:\n      - " + body + "\n";
  };
  EXPECT_EQ(ConfigError(flavor("{name: a, memory: 4096, page_size: large, numa_nodes: 2}")), "");
  EXPECT_EQ(ConfigError(flavor("{name: a, memory: 4GiB, page_size: 2048}")), "");  // KiB
  EXPECT_THAT(ConfigError(flavor("{name: a, memory: 4GiB, page_size: huge}")),
              HasSubstr("test.yml:4:"));
  EXPECT_THAT(ConfigError(flavor("{name: a, memory: 4GiB, page_size: 3MiB}")),
              HasSubstr("bad page_size"));
  EXPECT_THAT(ConfigError(flavor("{name: a, memory: 3, page_size: small, numa_nodes: 2}")),
              HasSubstr("split evenly"));
  EXPECT_THAT(ConfigError(flavor("{name: a, memory: 4GiB, page_size: small, numa_nodes: 0}")),
              HasSubstr("numa_nodes"));
  EXPECT_THAT(ConfigError("collectors:\n  qemu:\n    flavors:\n      - {name: a, memory: 1GiB, "
                          "page_size: small}\n      - {name: a, memory: 2GiB, page_size: any}\n"),
              HasSubstr("listed twice"));
}

// The collector on the two_nodes fixture: node 0 has 100 free 2 MiB and no free 1 GiB pages,
// node 2 has 500 and 4 (see its files); the global pools reserve 100 and 2. Usable: node 0
// none, node 2 400 x 2 MiB and 2 x 1 GiB.
TEST(Capacity, CollectorOnTwoNodes) {
  std::string got = testing::ScrapeText(
      testing::FixtureConfig("two_nodes", {"qemu"},
                             "collectors:\n  qemu:\n    flavors:\n"
                             "      - {name: big, memory: 2GiB, page_size: large, numa_nodes: 2}\n"
                             "      - {name: tiny, memory: 64MiB, page_size: 2MiB}\n"
                             "      - {name: none, memory: 64GiB, page_size: 1GiB}\n"));
  EXPECT_NE(got.find("pagescope_capacity_host_vm_slots{flavor=\"none\"} 0\n"), std::string::npos)
      << got;
  // 1 GiB cells on two nodes: node 2 could hold 2, node 0 none.
  EXPECT_NE(got.find("pagescope_capacity_host_vm_slots{flavor=\"big\"} 0\n"), std::string::npos);
  // 32 pages a guest: 400 / 32 on node 2.
  EXPECT_NE(got.find("pagescope_capacity_host_vm_slots{flavor=\"tiny\"} 12\n"), std::string::npos);
  EXPECT_NE(
      got.find("pagescope_capacity_vm_slots{flavor=\"tiny\",node=\"2\",page_size=\"2MiB\"} 12\n"),
      std::string::npos);
  EXPECT_NE(
      got.find("pagescope_capacity_vm_slots{flavor=\"tiny\",node=\"0\",page_size=\"2MiB\"} 0\n"),
      std::string::npos);
  EXPECT_EQ(got.find("pagescope_capacity_vm_slots{flavor=\"big\""), std::string::npos);
}

}  // namespace
}  // namespace pagescope
