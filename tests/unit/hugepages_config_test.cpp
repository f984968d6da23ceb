#include "collectors/hugepages_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

#include "framework/errors.h"
#include "kernel/parse.h"
#include "test_util.h"

namespace pagescope {
namespace {

constexpr std::uint64_t k2M = 2ull << 20, k1G = 1ull << 30;

TEST(MemSize, KernelSuffixes) {
  EXPECT_EQ(parse::MemSize("2M"), k2M);
  EXPECT_EQ(parse::MemSize("2048K"), k2M);
  EXPECT_EQ(parse::MemSize("2048k"), k2M);
  EXPECT_EQ(parse::MemSize("1G"), k1G);
  EXPECT_EQ(parse::MemSize("1g"), k1G);
  EXPECT_EQ(parse::MemSize("4096"), 4096u);
  EXPECT_EQ(parse::MemSize("0x200000"), k2M);
  EXPECT_EQ(parse::MemSize("1T"), 1ull << 40);
  EXPECT_FALSE(parse::MemSize(""));
  EXPECT_FALSE(parse::MemSize("M"));
  EXPECT_FALSE(parse::MemSize("2MB"));
  EXPECT_FALSE(parse::MemSize("2X"));
  EXPECT_FALSE(parse::MemSize("-2M"));
  EXPECT_FALSE(parse::MemSize("99999999999999999999"));
  EXPECT_FALSE(parse::MemSize("16384E"));  // overflows
}

TEST(CmdlineHugepages, PairsAndDefault) {
  auto c = ParseCmdlineHugepages(
      "BOOT_IMAGE=/vmlinuz root=/dev/sda1 default_hugepagesz=1G hugepagesz=1G hugepages=16 "
      "hugepagesz=2M hugepages=0:512,1:256 quiet\n");
  EXPECT_TRUE(c.problems.empty());
  EXPECT_EQ(c.default_size, k1G);
  ASSERT_EQ(c.requests.size(), 2u);
  EXPECT_EQ(c.requests[0].page_size, k1G);
  EXPECT_EQ(c.requests[0].pages, 16u);
  EXPECT_TRUE(c.requests[0].per_node.empty());
  EXPECT_EQ(c.requests[1].page_size, k2M);
  EXPECT_EQ(c.requests[1].pages, 768u);
  EXPECT_EQ(c.requests[1].per_node, (std::map<int, std::uint64_t>{{0, 512}, {1, 256}}));
}

TEST(CmdlineHugepages, HugepagesBeforeAnySizeIsTheDefaultSize) {
  auto c = ParseCmdlineHugepages("hugepages=64 hugepagesz=1G hugepages=4");
  ASSERT_EQ(c.requests.size(), 2u);
  EXPECT_EQ(c.requests[0].page_size, k1G);
  EXPECT_FALSE(c.requests[1].page_size);  // resolved by the collector against Hugepagesize
  EXPECT_EQ(c.requests[1].pages, 64u);
  // ... unless default_hugepagesz follows: then it is that size.
  c = ParseCmdlineHugepages("hugepages=8 default_hugepagesz=1G");
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_EQ(c.requests[0].page_size, k1G);
  EXPECT_EQ(c.requests[0].pages, 8u);
  // default_hugepagesz followed by hugepages= counts for the default size.
  c = ParseCmdlineHugepages("default_hugepagesz=2M hugepages=100");
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_EQ(c.requests[0].page_size, k2M);
}

TEST(CmdlineHugepages, WhatTheKernelIgnores) {
  auto c = ParseCmdlineHugepages(
      "hugepagesz=3M hugepages=5 hugepagesz=2M hugepages=10 hugepages=20 hugepagesz=2M "
      "hugepages=30 hugepagesz=1G hugepages=x default_hugepagesz=2M default_hugepagesz=1G");
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_EQ(c.requests[0].page_size, k2M);
  EXPECT_EQ(c.requests[0].pages, 10u);
  EXPECT_EQ(c.default_size, k2M);
  // 3M, hugepages=5 after it, hugepages=20 twice, hugepagesz=2M twice, hugepages=30 after the
  // ignored hugepagesz, hugepages=x, the second default_hugepagesz.
  EXPECT_EQ(c.problems.size(), 7u);
}

TEST(CmdlineHugepages, DefaultSizeMayBeNamedAgainOnce) {
  auto c = ParseCmdlineHugepages("default_hugepagesz=1G hugepagesz=1G hugepages=4");
  EXPECT_TRUE(c.problems.empty());
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_EQ(c.requests[0].pages, 4u);
}

TEST(CmdlineHugepages, StopsAtInitArgumentsAndHandlesQuotes) {
  auto c = ParseCmdlineHugepages("root=/dev/vda \"foo=a b\" hugepages=2 -- hugepages=5");
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_EQ(c.requests[0].pages, 2u);
  EXPECT_TRUE(ParseCmdlineHugepages("").requests.empty());
  EXPECT_TRUE(ParseCmdlineHugepages("-- hugepages=5").requests.empty());
  // Truncated or corrupted node lists.
  for (const char* bad : {"hugepages=0:", "hugepages=0:4,", "hugepages=0:4,1", "hugepages=:4",
                          "hugepages=0:4,0:4", "hugepages=4x", "hugepages=", "hugepages=0:4;1:4"}) {
    auto r = ParseCmdlineHugepages(bad);
    EXPECT_TRUE(r.requests.empty()) << bad;
    EXPECT_EQ(r.problems.size(), 1u) << bad;
  }
}

TEST(SysctlConf, AssignmentsCommentsAndKeys) {
  auto a = ParseSysctlConf(
      "# comment\n"
      "; also a comment\n"
      "\n"
      "vm.nr_hugepages = 1024\n"
      "  vm/nr_overcommit_hugepages=16  \n"
      "-vm.swappiness = 10\n"
      "-net.ipv4.conf.lo.rp_filter\n"
      "kernel.core_pattern = |/usr/lib/x %p = y\n");
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0].key, "vm.nr_hugepages");
  EXPECT_EQ(a[0].value, "1024");
  EXPECT_EQ(a[0].line, 4u);
  EXPECT_EQ(a[1].key, "vm.nr_overcommit_hugepages");
  EXPECT_EQ(a[1].value, "16");
  EXPECT_EQ(a[2].key, "vm.swappiness");
  EXPECT_EQ(a[3].value, "|/usr/lib/x %p = y");
}

TEST(SysctlConf, MalformedLinesNameTheLine) {
  auto line_of = [](std::string_view text) -> std::size_t {
    try {
      ParseSysctlConf(text);
    } catch (const ParseError& e) {
      return e.line();
    }
    return 0;
  };
  EXPECT_EQ(line_of("vm.nr_hugepages = 1\nnot an assignment\n"), 2u);
  EXPECT_EQ(line_of("= 5\n"), 1u);
  EXPECT_EQ(line_of("vm.nr_hugepages = 1"), 0u);  // no final newline
  EXPECT_EQ(line_of("vm.nr_hugepages ="), 0u);    // empty value is an assignment
}

}  // namespace
}  // namespace pagescope

namespace pagescope {
namespace {

TEST(SysctlConfFiles, PrecedenceMaskingAndLinks) {
  auto root =
      std::filesystem::temp_directory_path() / ("pagescope-sysctl-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  auto put = [&](const std::string& rel, const std::string& text) {
    testing::WriteText(root / rel, text);
  };
  put("usr/lib/sysctl.d/50-default.conf", "a=1\n");
  put("usr/lib/sysctl.d/80-huge.conf", "vm.nr_hugepages = 4\n");
  put("etc/sysctl.d/80-huge.conf", "vm.nr_hugepages = 8\n");  // hides the /usr/lib one
  put("run/sysctl.d/70-run.conf", "b=2\n");
  put("lib/sysctl.d/10-masked.conf", "c=3\n");
  put("etc/sysctl.d/README", "not a .conf file\n");
  put("etc/sysctl.conf", "d=4\n");
  put("srv/elsewhere.conf", "e=5\n");
  std::filesystem::create_symlink("/dev/null", root / "etc/sysctl.d/10-masked.conf");
  std::filesystem::create_symlink("/srv/elsewhere.conf", root / "etc/sysctl.d/60-abs.conf");
  std::filesystem::create_symlink("../sysctl.conf", root / "etc/sysctl.d/99-sysctl.conf");

  FsRoot fs(root / "proc", root / "sys", root);
  log::RateLimiter limiter(std::chrono::minutes(1));
  Context ctx(fs, limiter);
  std::vector<std::string> got;
  for (const auto& p : SysctlConfFiles(ctx)) {
    got.push_back(p.lexically_relative(root).string());
  }
  EXPECT_EQ(got, (std::vector<std::string>{"usr/lib/sysctl.d/50-default.conf", "srv/elsewhere.conf",
                                           "run/sysctl.d/70-run.conf", "etc/sysctl.d/80-huge.conf",
                                           "etc/sysctl.d/99-sysctl.conf", "etc/sysctl.conf"}));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace pagescope
