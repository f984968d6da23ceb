#include "collectors/cgroup_hugetlb.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "exporter/scraper.h"
#include "framework/errors.h"
#include "test_util.h"

namespace pagescope {
namespace {

TEST(CgroupHugetlb, SizeNames) {
  EXPECT_EQ(CgroupHugetlbSizeName(2ull << 20), "2MB");
  EXPECT_EQ(CgroupHugetlbSizeName(1ull << 30), "1GB");
  EXPECT_EQ(CgroupHugetlbSizeName(16ull << 30), "16GB");
  EXPECT_EQ(CgroupHugetlbSizeName(64ull << 10), "64KB");
  EXPECT_EQ(CgroupHugetlbSizeName(32ull << 20), "32MB");
  EXPECT_EQ(ParseCgroupHugetlbSizeName("2MB"), 2ull << 20);
  EXPECT_EQ(ParseCgroupHugetlbSizeName("1GB"), 1ull << 30);
  EXPECT_EQ(ParseCgroupHugetlbSizeName("64KB"), 64ull << 10);
  EXPECT_FALSE(ParseCgroupHugetlbSizeName("2M"));
  EXPECT_FALSE(ParseCgroupHugetlbSizeName("MB"));
  EXPECT_FALSE(ParseCgroupHugetlbSizeName("0MB"));
  EXPECT_FALSE(ParseCgroupHugetlbSizeName("x2MB"));
}

TEST(CgroupHugetlb, Events) {
  EXPECT_EQ(ParseHugetlbEventsMax("max 3\n"), 3u);
  EXPECT_EQ(ParseHugetlbEventsMax("other 1\nmax 0\n"), 0u);
  EXPECT_THROW(ParseHugetlbEventsMax(""), ParseError);
  EXPECT_THROW(ParseHugetlbEventsMax("max\n"), ParseError);
  EXPECT_THROW(ParseHugetlbEventsMax("max x\n"), ParseError);
  EXPECT_THROW(ParseHugetlbEventsMax("max 1 2\n"), ParseError);
  EXPECT_THROW(ParseHugetlbEventsMax("limit 3\n"), ParseError);
}

TEST(CgroupHugetlb, NumaStatV2AndV1) {
  auto s = ParseHugetlbNumaStat("total=6291456 N0=2097152 N1=4194304\n");
  EXPECT_EQ(s.total, 6291456u);
  EXPECT_EQ(s.nodes, (std::map<int, std::uint64_t>{{0, 2097152}, {1, 4194304}}));
  // v1: the hierarchical line wins whatever its position.
  s = ParseHugetlbNumaStat("total=0 N0=0\nhierarchical_total=2097152 N0=2097152\n");
  EXPECT_EQ(s.total, 2097152u);
  EXPECT_EQ(s.nodes.at(0), 2097152u);
  s = ParseHugetlbNumaStat("total=5 N3=5");
  EXPECT_EQ(s.nodes.at(3), 5u);
  for (const char* bad : {"", "\n", "N0=1\n", "total=1 N0=x\n", "total=1 N0\n", "total=1 M0=1\n",
                          "total=1 total=2\n", "total=1 N=1\n", "total=1 N-1=1\n"}) {
    EXPECT_THROW(ParseHugetlbNumaStat(bad), ParseError) << bad;
  }
}

TEST(CgroupHugetlb, MaxCgroupsBoundsTheWalk) {
  auto text = testing::ScrapeText(testing::FixtureConfig(
      "cgroup_v2", {"cgroup_hugetlb"},
      "collectors:\n  cgroup_hugetlb:\n    parents: [machine.slice, kubepods.slice]\n"
      "    max_cgroups: 3\n    max_depth: 1\n"));
  // Breadth first: both parents, then the first child of machine.slice in name order (the
  // container without the controller); the two VMs and the three kubepods children are skipped.
  EXPECT_NE(text.find("pagescope_cgroup_hugetlb_scanned_cgroups 3"), std::string::npos) << text;
  EXPECT_NE(text.find("pagescope_cgroup_hugetlb_skipped_cgroups{reason=\"max_cgroups\"} 5"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("cgroup=\"kubepods.slice\""), std::string::npos) << text;
  EXPECT_EQ(text.find("burstable"), std::string::npos) << text;
  EXPECT_EQ(text.find("vm1"), std::string::npos) << text;
}

TEST(CgroupHugetlb, DepthZeroReadsOnlyTheParents) {
  auto text = testing::ScrapeText(testing::FixtureConfig(
      "cgroup_v1", {"cgroup_hugetlb"}, "collectors:\n  cgroup_hugetlb:\n    max_depth: 0\n"));
  EXPECT_NE(text.find("pagescope_cgroup_hugetlb_scanned_cgroups 2"), std::string::npos) << text;
  EXPECT_NE(text.find("pagescope_cgroup_hugetlb_skipped_cgroups{reason=\"max_depth\"} 2"),
            std::string::npos)
      << text;
}

// Issue 23: services under system.slice are read by default; a unit that holds nothing costs
// no series; reservations show where they exceed the usage (pages reserved at mmap time, not
// yet touched), the reservation option shows them everywhere; a size a pod may not use
// (kubelet's limit 0) says nothing until it is hit.
TEST(CgroupHugetlb, ServicesReservationsAndSilentSizes) {
  using ::testing::HasSubstr;
  using ::testing::Not;
  auto lean = testing::ScrapeText(testing::FixtureConfig(
      "cgroup_v2", {"cgroup_hugetlb"}, "collectors:\n  cgroup_hugetlb:\n    max_depth: 2\n"));
  const std::string pg =
      "{cgroup=\"system.slice/postgresql.service\",unit=\"postgresql.service\","
      "page_size=\"2MiB\"} ";
  EXPECT_THAT(lean, HasSubstr("pagescope_cgroup_hugetlb_usage_bytes" + pg + "4194304\n"));
  EXPECT_THAT(lean, HasSubstr("pagescope_cgroup_hugetlb_reserved_bytes" + pg + "67108864\n"));
  EXPECT_THAT(lean, Not(HasSubstr("sshd")));
  EXPECT_THAT(lean, Not(HasSubstr("unit=\"postgresql.service\",page_size=\"1GiB\"")));
  // No limit and no limit hit: no limit-hit counter.
  EXPECT_THAT(lean, Not(HasSubstr("pagescope_cgroup_hugetlb_max_events_total" + pg)));
  // Preallocated guests: reservations equal the usage, no series by default.
  EXPECT_THAT(lean, Not(HasSubstr("pagescope_cgroup_hugetlb_reserved_bytes{cgroup=\"machine.slice/"
                                  "machine-qemu")));
  // The pod's 1 GiB limit of 0 (not requested) costs its limit-hit counter only, there before
  // its first hit; its 2 MiB reservation limit shows.
  const std::string pod_1g =
      "{cgroup=\"kubepods.slice/kubepods-burstable.slice/kubepods-"
      "burstable-poda1b2.slice\",pod=\"a1b2\",qos=\"burstable\","
      "page_size=\"1GiB\"} ";
  EXPECT_THAT(lean, HasSubstr("pagescope_cgroup_hugetlb_max_events_total" + pod_1g + "0\n"));
  EXPECT_THAT(lean, Not(HasSubstr("pagescope_cgroup_hugetlb_usage_bytes" + pod_1g)));
  EXPECT_THAT(lean, Not(HasSubstr("pagescope_cgroup_hugetlb_limit_bytes" + pod_1g)));
  EXPECT_THAT(lean, HasSubstr("pagescope_cgroup_hugetlb_reserved_limit_bytes{cgroup=\"kubepods."
                              "slice/kubepods-burstable.slice/kubepods-burstable-poda1b2.slice\","
                              "pod=\"a1b2\",qos=\"burstable\",page_size=\"2MiB\"} 4194304\n"));

  auto all = testing::ScrapeText(testing::FixtureConfig(
      "cgroup_v2", {"cgroup_hugetlb"},
      "collectors:\n  cgroup_hugetlb:\n    max_depth: 2\n    reservations: true\n"
      "    zero_sizes: true\n"));
  EXPECT_THAT(all,
              HasSubstr("pagescope_cgroup_hugetlb_reserved_bytes{cgroup=\"machine.slice/"
                        "machine-qemu\\\\x2d1\\\\x2dvm1.scope\",vm=\"vm1\",page_size=\"2MiB\"} "
                        "8589934592\n"));
  EXPECT_THAT(all, HasSubstr("pagescope_cgroup_hugetlb_usage_bytes{cgroup=\"system.slice/"
                             "sshd.service\",unit=\"sshd.service\",page_size=\"2MiB\"} 0\n"));
  EXPECT_THAT(all, HasSubstr("pagescope_cgroup_hugetlb_max_events_total" + pg + "0\n"));
}

// The default parents include system.slice (databases, DPDK services).
TEST(CgroupHugetlb, DefaultParentsReadSystemSlice) {
  auto text = testing::ScrapeText(testing::FixtureConfig("cgroup_v2", {"cgroup_hugetlb"}, ""));
  EXPECT_NE(text.find("cgroup=\"system.slice/postgresql.service\""), std::string::npos) << text;
}

TEST(CgroupHugetlb, OptionsAreValidated) {
  auto config = [](const std::string& opts) {
    return testing::FixtureConfig("cgroup_v2", {"cgroup_hugetlb"},
                                  "collectors:\n  cgroup_hugetlb:\n" + opts);
  };
  EXPECT_THROW(Scraper(config("    parents: [../etc]\n")), ConfigError);
  EXPECT_THROW(Scraper(config("    parents: [a/../../b]\n")), ConfigError);
  EXPECT_THROW(Scraper(config("    parents: [/]\n")), ConfigError);
  EXPECT_THROW(Scraper(config("    max_depth: -1\n")), ConfigError);
  EXPECT_THROW(Scraper(config("    max_cgroups: 0\n")), ConfigError);
  EXPECT_NO_THROW(Scraper(config("    parents: [/machine.slice/]\n")));
}

}  // namespace
}  // namespace pagescope
