#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "collectors/pressure.h"
#include "collectors/vmstat.h"
#include "exporter/config.h"
#include "test_util.h"

namespace pagescope {
namespace {

template <typename F>
std::size_t LineOf(F&& parse) {
  try {
    parse();
  } catch (const ParseError& e) {
    return e.line();
  }
  return 0;
}

TEST(Vmstat, ParsesNameValueLines) {
  auto e = ParseVmstat(
      "nr_free_pages 1108789\n"
      "pgfault 7663922\n"
      "\n"
      "thp_fault_alloc 18446744073709551615\n");
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].name, "nr_free_pages");
  EXPECT_EQ(e[0].value, 1108789u);
  EXPECT_EQ(e[2].name, "thp_fault_alloc");
  EXPECT_EQ(e[2].value, 18446744073709551615ull);
  EXPECT_TRUE(ParseVmstat("").empty());
  EXPECT_EQ(ParseVmstat("pgfault 1").size(), 1u);  // no final newline
}

TEST(Vmstat, MalformedAndTruncatedInputNamesTheLine) {
  EXPECT_EQ(LineOf([] { ParseVmstat("pgfault 1\npgmajfault\n"); }), 2u);  // truncated
  EXPECT_EQ(LineOf([] { ParseVmstat("pgfault 1\npgmajfault 2 3\n"); }), 2u);
  EXPECT_EQ(LineOf([] { ParseVmstat("pgfault -1\n"); }), 1u);
  EXPECT_EQ(LineOf([] { ParseVmstat("pgfault 12x\n"); }), 1u);
  EXPECT_EQ(LineOf([] { ParseVmstat("pgfault 1\npg{fault} 2\n"); }), 2u);
  EXPECT_EQ(LineOf([] { ParseVmstat("pgfault 1\n\xff\xfe 2\n"); }), 2u);  // binary garbage
}

TEST(Vmstat, GaugesAndCounters) {
  for (const char* g : {"nr_free_pages", "nr_anon_transparent_hugepages", "nr_shmem_hugepages",
                        "nr_file_hugepages", "nr_zspages", "nr_hugetlb", "workingset_nodes"}) {
    EXPECT_TRUE(VmstatFieldIsGauge(g)) << g;
  }
  for (const char* c : {"pgfault", "pgmajfault", "thp_fault_alloc", "numa_hit", "oom_kill",
                        "nr_dirtied", "nr_written", "nr_vmscan_write", "nr_foll_pin_acquired",
                        "workingset_refault_file", "compact_stall"}) {
    EXPECT_FALSE(VmstatFieldIsGauge(c)) << c;
  }
}

TEST(Vmstat, DefaultFieldsCoverTheAreasAndNothingElse) {
  std::regex re(kVmstatDefaultFields, std::regex::ECMAScript);
  for (const char* f :
       {"pgfault", "pgmajfault", "pswpin", "pswpout", "thp_fault_alloc", "thp_fault_fallback",
        "thp_collapse_alloc", "thp_split_page", "compact_stall", "compact_fail",
        "htlb_buddy_alloc_fail", "numa_hint_faults", "numa_pages_migrated", "ksm_swpin_copy",
        "cow_ksm", "zswpin", "zswpout", "oom_kill", "nr_anon_transparent_hugepages",
        "nr_shmem_hugepages", "nr_file_hugepages", "nr_free_pages", "nr_zspages",
        // reclaim: kernel 6.18 names and pre-4.8 ones
        "pgscan_kswapd", "pgscan_direct", "pgscan_khugepaged", "pgsteal_kswapd", "pgsteal_direct",
        "pgscan_kswapd_normal", "allocstall", "allocstall_normal", "allocstall_movable", "pgrefill",
        "workingset_refault_anon", "workingset_refault_file", "workingset_refault",
        "workingset_activate_file", "workingset_restore_anon", "kswapd_low_wmark_hit_quickly",
        "drop_pagecache", "drop_slab"}) {
    EXPECT_TRUE(std::regex_match(f, re)) << f;
  }
  // numa_hit and friends are the sums of the numa collector's per-node counters.
  for (const char* f : {"numa_hit", "numa_miss", "numa_local", "pgpgin", "nr_dirty",
                        "pgalloc_normal", "workingset_nodes", "nr_free_pages_blocks", "xpgfault",
                        "pgfaults", "workingset_refault_files", "pgscanx", "nr_kswapd"}) {
    EXPECT_FALSE(std::regex_match(f, re)) << f;
  }
}

TEST(Vmstat, FieldsOptionFromFileAndFlag) {
  // YAML: only the fields the expression matches as a whole.
  auto text = testing::ScrapeText(testing::FixtureConfig(
      "two_nodes", {"vmstat"}, "collectors:\n  vmstat:\n    fields: 'pgfault|nr_dirty'\n"));
  EXPECT_NE(text.find("pagescope_vmstat_pgfault_total 98812233411"), std::string::npos);
  EXPECT_NE(text.find("# TYPE pagescope_vmstat_nr_dirty gauge"), std::string::npos);
  EXPECT_EQ(text.find("pgmajfault"), std::string::npos);
  EXPECT_EQ(text.find("thp_"), std::string::npos);
  // The flag wins over the file.
  auto cl = ParseCommandLine({"--collector.vmstat.fields=oom_kill"});
  cl.values["path.procfs"] = {(testing::FixtureDir("two_nodes") / "proc").string()};
  cl.values["collectors.disable_defaults"] = {"true"};
  cl.values["collectors.vmstat.enabled"] = {"true"};
  text = testing::ScrapeText(
      LoadConfigFromText(cl, "collectors:\n  vmstat:\n    fields: pgfault\n", "x.yml"));
  EXPECT_NE(text.find("pagescope_vmstat_oom_kill_total 1"), std::string::npos);
  EXPECT_EQ(text.find("pgfault"), std::string::npos);
}

// An expression that selects nothing is told apart from one that selects something, and the
// anchoring mistake (^pg: matched inside names, never a whole one) says so.
TEST(Vmstat, FieldsThatSelectNothing) {
  std::ifstream in(testing::FixtureDir("two_nodes") / "proc" / "vmstat");
  std::stringstream text;
  text << in.rdbuf();
  const auto entries = ParseVmstat(text.str());
  ASSERT_GT(entries.size(), 100u);
  EXPECT_EQ(VmstatFieldsSelectNothing(kVmstatDefaultFields, entries), std::nullopt);
  EXPECT_EQ(VmstatFieldsSelectNothing("pg.*", entries), std::nullopt);
  EXPECT_EQ(VmstatFieldsSelectNothing("oom_kill", entries), std::nullopt);
  auto why = VmstatFieldsSelectNothing("^pg", entries);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("it matches part of "), std::string::npos) << *why;
  EXPECT_NE(why->find("must match the whole name"), std::string::npos) << *why;
  why = VmstatFieldsSelectNothing("zswp(in|out)x", entries);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why, "it matches none of the " + std::to_string(entries.size()) + " fields");
  EXPECT_TRUE(VmstatFieldsSelectNothing("x", {}).has_value());
}

TEST(Vmstat, BadFieldsExpressionNamesTheOption) {
  try {
    LoadConfigFromText(ParseCommandLine({}), "collectors:\n  vmstat:\n    fields: 'pg(fault'\n",
                       "x.yml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("x.yml:3:13: collectors.vmstat.fields: invalid", 0), 0u)
        << e.what();
  }
  try {
    LoadConfigFromText(ParseCommandLine({"--collector.vmstat.fields=[a-"}), "", "");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--collector.vmstat.fields"), std::string::npos)
        << e.what();
  }
}

TEST(Pressure, ParsesTotals) {
  auto t = ParsePressure(
      "some avg10=0.12 avg60=0.08 avg300=0.03 total=81234567\n"
      "full avg10=0.00 avg60=0.01 avg300=0.00 total=12345678\n");
  EXPECT_EQ(t.some_us, 81234567u);
  EXPECT_EQ(t.full_us, 12345678u);
  auto only_some = ParsePressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n");
  EXPECT_EQ(only_some.some_us, 5u);
  EXPECT_FALSE(only_some.full_us.has_value());
  EXPECT_FALSE(ParsePressure("").some_us.has_value());
}

TEST(Pressure, MalformedAndTruncatedInputNamesTheLine) {
  // Truncated in the middle of the second line: no total.
  EXPECT_EQ(LineOf([] { ParsePressure("some avg10=0.00 total=1\nfull avg10=0.0"); }), 2u);
  EXPECT_EQ(LineOf([] { ParsePressure("some avg10=0.00 total=1\nfull total=\n"); }), 2u);
  EXPECT_EQ(LineOf([] { ParsePressure("some avg10=x total=1\n"); }), 1u);
  EXPECT_EQ(LineOf([] { ParsePressure("some avg10 total=1\n"); }), 1u);
  EXPECT_EQ(LineOf([] { ParsePressure("some total=-1\n"); }), 1u);
  EXPECT_EQ(LineOf([] { ParsePressure("some total=1\nsome total=2\n"); }), 2u);
}

}  // namespace
}  // namespace pagescope
