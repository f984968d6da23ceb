#include <gtest/gtest.h>

#include "framework/errors.h"
#include "kernel/proc_pid.h"
#include "kernel/sys_fs_cgroup_numa_stat.h"
#include "test_util.h"

namespace pagescope::testing {
namespace {

using NodeMap = std::map<int, std::uint64_t>;

TEST(HugetlbNumaStat, V2AndV1Hierarchical) {
  // v2 (hierarchical already), as 6.1 and 6.18 write it.
  auto s = ParseHugetlbNumaStat("total=6291456 N0=2097152 N1=4194304\n");
  EXPECT_EQ(s.total, 6291456u);
  EXPECT_EQ(s.nodes, (NodeMap{{0, 2097152}, {1, 4194304}}));
  // v1: the cgroup's own line, then the hierarchical one, which is taken.
  s = ParseHugetlbNumaStat("total=0 N0=0 N1=0\nhierarchical_total=1073741824 N0=0 N1=1073741824\n");
  EXPECT_EQ(s.total, 1073741824u);
  EXPECT_EQ(s.nodes, (NodeMap{{0, 0}, {1, 1073741824}}));
  // Sparse node ids (only nodes with memory are listed).
  EXPECT_EQ(ParseHugetlbNumaStat("total=0 N0=0 N3=0\n").nodes, (NodeMap{{0, 0}, {3, 0}}));
}

TEST(HugetlbNumaStat, GarbageNamesTheLine) {
  for (const char* bad : {"", "N0=1\n", "total=x N0=1\n", "total=1 N0\n", "total=1 X0=1\n",
                          "total=1 N0=1 N0=2\n", "total=1\ntotal=2\n", "total=1 Nx=1\n"}) {
    EXPECT_THROW(ParseHugetlbNumaStat(bad), ParseError) << bad;
  }
  EXPECT_EQ(LineOfError([] { ParseHugetlbNumaStat("total=1 N0=1\nhierarchical_total=1 N0=-1\n"); }),
            2u);
}

TEST(MemoryNumaStat, V2BytesPerKey) {
  auto s = ParseMemoryNumaStat(
      "anon N0=1048576 N1=3145728\nfile N0=4096 N1=0\nkernel_stack N0=16384 N1=0\n"
      "shmem N0=0 N1=2097152\nfile_mapped N0=4096 N1=0\nanon_thp N0=0 N1=2097152\n");
  EXPECT_FALSE(s.v1);
  EXPECT_EQ(s.keys.at("anon"), (NodeMap{{0, 1048576}, {1, 3145728}}));
  // Guest RAM: anonymous and shared memory (memfd, share=on), hierarchical in v2.
  EXPECT_EQ(MemoryNumaStatAnonShmemBytes(s, 4096), (NodeMap{{0, 1048576}, {1, 5242880}}));
}

TEST(MemoryNumaStat, V1PagesHierarchicalLinesWin) {
  // As the hybrid host's v1 memory controller writes it (pages).
  auto s = ParseMemoryNumaStat(
      "total=0 N0=0\nfile=0 N0=0\nanon=0 N0=0\nunevictable=0 N0=0\n"
      "hierarchical_total=598493 N0=598493\nhierarchical_file=596390 N0=596390\n"
      "hierarchical_anon=2103 N0=2103\nhierarchical_unevictable=5 N0=5\n");
  EXPECT_TRUE(s.v1);
  // anon (which includes shmem on v1's LRU lists) + unevictable (mlocked guest RAM).
  EXPECT_EQ(MemoryNumaStatAnonShmemBytes(s, 4096), (NodeMap{{0, (2103 + 5) * 4096ull}}));
  // A kernel without the hierarchical lines: the cgroup's own.
  s = ParseMemoryNumaStat(
      "total=10 N0=4 N1=6\nfile=2 N0=2 N1=0\nanon=7 N0=1 N1=6\n"
      "unevictable=1 N0=1 N1=0\n");
  EXPECT_EQ(MemoryNumaStatAnonShmemBytes(s, 4096), (NodeMap{{0, 8192}, {1, 6 * 4096}}));
  // Keys missing: nothing rather than a partial figure.
  EXPECT_TRUE(MemoryNumaStatAnonShmemBytes(ParseMemoryNumaStat("file N0=1\n"), 4096).empty());
  EXPECT_TRUE(MemoryNumaStatAnonShmemBytes(ParseMemoryNumaStat(""), 4096).empty());
}

TEST(MemoryNumaStat, GarbageNamesTheLine) {
  for (const char* bad : {"anon N0=x\n", "anon N0=1 N0=2\n", "anon M0=1\n", "anon=x N0=1\n",
                          "anon N0=1\nanon N0=2\n", "=1 N0=1\n", "anon N0\n"}) {
    EXPECT_THROW(ParseMemoryNumaStat(bad), ParseError) << bad;
  }
  // v1 and v2 lines in one file.
  EXPECT_EQ(LineOfError([] { ParseMemoryNumaStat("anon N0=1\nfile=1 N0=1\n"); }), 2u);
}

TEST(ProcPidCgroup, EveryHierarchy) {
  auto lines = ParseProcPidCgroup(
      "12:hugetlb:/machine.slice/machine-qemu\\x2d1\\x2dweb.scope\n"
      "4:memory:/machine.slice/machine-qemu\\x2d1\\x2dweb.scope\n"
      "2:cpu,cpuacct:/machine.slice/machine-qemu\\x2d1\\x2dweb.scope/emulator\n"
      "1:name=systemd:/machine.slice/machine-qemu\\x2d1\\x2dweb.scope\n"
      "0::/machine.slice/machine-qemu\\x2d1\\x2dweb.scope/libvirt/emulator\n");
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(FindProcPidCgroup(lines, "hugetlb")->path,
            "machine.slice/machine-qemu\\x2d1\\x2dweb.scope");
  EXPECT_EQ(FindProcPidCgroup(lines, "cpuacct")->hierarchy_id, 2);
  EXPECT_EQ(FindProcPidCgroup(lines, "")->path,
            "machine.slice/machine-qemu\\x2d1\\x2dweb.scope/libvirt/emulator");
  EXPECT_TRUE(FindProcPidCgroup(lines, "")->v2());
  EXPECT_EQ(FindProcPidCgroup(lines, "pids"), nullptr);
  EXPECT_EQ(FindProcPidCgroup(ParseProcPidCgroup("0::/\n"), "")->path, "");
  EXPECT_TRUE(ParseProcPidCgroup("").empty());
  for (const char* bad : {"x:memory:/a\n", "4:memory\n", "4:memory:a\n", "0::\n"}) {
    EXPECT_THROW(ParseProcPidCgroup(bad), ParseError) << bad;
  }
}

}  // namespace
}  // namespace pagescope::testing
