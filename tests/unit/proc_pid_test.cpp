// Parsers of /proc/<pid>/ files and QEMU command lines, on inline strings.

#include "kernel/proc_pid.h"

#include <gtest/gtest.h>

#include "framework/errors.h"
#include "kernel/parse.h"
#include "kernel/proc_loadavg.h"
#include "kernel/proc_mountinfo.h"
#include "proctable/qemu_cmdline.h"

namespace pagescope {
namespace {

TEST(ProcPidStat, CommWithSpacesAndParentheses) {
  auto s = ParseProcPidStat(
      "4242 (my (weird) proc) S 1 4242 4242 0 -1 4194560 1234 0 7 0 10 5 0 0 20 0 3 0 98765 "
      "10000000 321 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n");
  EXPECT_EQ(s.comm, "my (weird) proc");
  EXPECT_EQ(s.state, 'S');
  EXPECT_EQ(s.minflt, 1234u);
  EXPECT_EQ(s.majflt, 7u);
  EXPECT_EQ(s.num_threads, 3u);
  EXPECT_EQ(s.starttime, 98765u);
  EXPECT_EQ(s.rss_pages, 321u);
  EXPECT_FALSE(s.kernel_thread());
}

TEST(ProcPidStat, KernelThreadAndEmptyComm) {
  auto s = ParseProcPidStat(
      "2 () S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0 18446744073709551615 0 0 0 0 "
      "0 0 0 2147483647 0 0 0 0 0 0 0 0 0\n");
  EXPECT_EQ(s.comm, "");
  EXPECT_TRUE(s.kernel_thread());
}

TEST(ProcPidStat, TruncatedAndCorrupted) {
  EXPECT_THROW(ParseProcPidStat("4242 (cat S 1 2 3"), ParseError);
  EXPECT_THROW(ParseProcPidStat("4242 (cat) S 1 4242 4242 0 -1 4194560 12"), ParseError);
  EXPECT_THROW(ParseProcPidStat("4242 (cat) S 1 4242 4242 0 -1 4194560 x12 0 7 0 10 5 0 0 20 0 "
                                "1 0 98765 10000000 321 1"),
               ParseError);
}

TEST(ProcLoadavg, TasksAndTheirShape) {
  auto l = ParseProcLoadavg("39.82 15.13 5.94 6/133 26634\n");
  EXPECT_DOUBLE_EQ(l.load1, 39.82);
  EXPECT_DOUBLE_EQ(l.load15, 5.94);
  EXPECT_EQ(l.runnable, 6u);
  EXPECT_EQ(l.tasks, 133u);
  EXPECT_EQ(l.last_pid, 26634u);
  EXPECT_EQ(ParseProcLoadavg("0.00 0.00 0.00 1/80 1").tasks, 80u);
  EXPECT_THROW(ParseProcLoadavg(""), ParseError);
  EXPECT_THROW(ParseProcLoadavg("0.00 0.00 0.00 1/80"), ParseError);  // truncated
  EXPECT_THROW(ParseProcLoadavg("0.00 0.00 0.00 180 11206\n"), ParseError);
  EXPECT_THROW(ParseProcLoadavg("0.00 0.00 0.00 1/x 11206\n"), ParseError);
  EXPECT_THROW(ParseProcLoadavg("0.00 0.00 0.00 1/80 11206\n1\n"), ParseError);
  EXPECT_THROW(ParseProcLoadavg("0.00 0.0x 0.00 1/80 11206\n"), ParseError);
}

TEST(ProcPidStatus, KeysInKb) {
  auto s = ParseProcPidStatus(
      "Name:\tqemu-system-x86\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t  200000 kB\n"
      "VmRSS:\t   51200 kB\nRssAnon:\t 100 kB\nVmSwap:\t     128 kB\nHugetlbPages:\t  "
      "131072 kB\nThreads:\t5\n");
  EXPECT_EQ(s.vm_rss, 51200u * 1024);
  EXPECT_EQ(s.vm_swap, 128u * 1024);
  EXPECT_EQ(s.hugetlb_pages, 131072u * 1024);
}

TEST(ProcPidStatus, KernelThreadHasNoVmLines) {
  auto s = ParseProcPidStatus("Name:\tkthreadd\nState:\tS (sleeping)\nThreads:\t1\n");
  EXPECT_FALSE(s.vm_swap);
  EXPECT_FALSE(s.hugetlb_pages);
}

TEST(ProcPidStatus, Corrupted) {
  try {
    ParseProcPidStatus("Name:\tx\nVmSwap:\t12 pages\n");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line(), 2u);
  }
}

TEST(ProcPidSmapsRollup, Fields) {
  auto s = ParseProcPidSmapsRollup(
      "55d0c0a00000-7ffc1c5ff000 ---p 00000000 00:00 0                          [rollup]\n"
      "Rss:                4096 kB\nPss:                1000 kB\nAnonHugePages:      2048 kB\n"
      "Swap:                  8 kB\nPrivate_Hugetlb:    4096 kB\nShared_Hugetlb:        0 kB\n");
  EXPECT_EQ(s.rss, 4096u * 1024);
  EXPECT_EQ(s.anon_huge_pages, 2048u * 1024);
  EXPECT_EQ(s.swap, 8u * 1024);
  EXPECT_EQ(s.private_hugetlb, 4096u * 1024);
  EXPECT_THROW(ParseProcPidSmapsRollup("Rss: lots\n"), ParseError);
}

TEST(ProcPidNumaMaps, HugeEntriesPerNodeAndSize) {
  auto m = ParseProcPidNumaMaps(
      "55d0c0a00000 default file=/usr/bin/qemu-system-x86_64 mapped=100 N0=100 "
      "kernelpagesize_kB=4\n"
      "7f0000000000 bind:0 file=/dev/hugepages/libvirt/qemu/1-a/ram-node0\\040(deleted) huge "
      "dirty=16 N0=16 kernelpagesize_kB=2048\n"
      "7f1000000000 bind:1 file=/mnt/huge1g huge dirty=2 N1=1 N2=1 kernelpagesize_kB=1048576\n"
      "7f2000000000 default file=/anon_hugepage\\040(deleted) huge anon=3 dirty=3 N0=3 "
      "kernelpagesize_kB=2048\n"
      "7f3000000000 default file=/dev/hugepages/lazy huge\n");
  EXPECT_EQ(m.huge_mappings, 4u);
  std::uint64_t two_m = 2u << 20, one_g = 1u << 30;
  EXPECT_EQ((m.huge_pages.at({0, two_m})), 19u);
  EXPECT_EQ((m.huge_pages.at({1, one_g})), 1u);
  EXPECT_EQ((m.huge_pages.at({2, one_g})), 1u);
  EXPECT_EQ(m.huge_pages.size(), 3u);
  EXPECT_THROW(ParseProcPidNumaMaps("7f0 default huge N0=16\n"), ParseError);
  EXPECT_THROW(ParseProcPidNumaMaps("7f0 default huge N0=x kernelpagesize_kB=2048\n"), ParseError);
}

TEST(ProcPidKsmStat, Fields) {
  auto k = ParseProcPidKsmStat(
      "ksm_rmap_items 10\nksm_zero_pages 2\nksm_merging_pages 7\nksm_process_profit -4096\n"
      "ksm_merge_any: no\nksm_mergeable: yes\n");
  EXPECT_EQ(k.merging_pages, 7u);
  EXPECT_EQ(k.zero_pages, 2u);
  EXPECT_EQ(k.process_profit, -4096);
  EXPECT_THROW(ParseProcPidKsmStat("ksm_merging_pages seven\n"), ParseError);
}

constexpr auto kUnits = parse::SizeSyntax::kUnits;

TEST(Size, Units) {
  EXPECT_EQ(parse::Size("4096", kUnits, 1u << 20), 4096ull << 20);
  EXPECT_EQ(parse::Size("4G", kUnits), 4ull << 30);
  EXPECT_EQ(parse::Size("2MiB", kUnits), 2ull << 20);
  EXPECT_EQ(parse::Size("2048kB", kUnits), 2ull << 20);
  EXPECT_EQ(parse::Size("1.5G", kUnits), 3ull << 29);
  EXPECT_EQ(parse::Size("1073741824", kUnits), 1ull << 30);
  EXPECT_FALSE(parse::Size("lots", kUnits));
  EXPECT_FALSE(parse::Size("4Q", kUnits));
}

// Found by fuzz_mem_size: a decimal size beyond 2^64 was cast from double (undefined
// behaviour), and an integer one wrapped around.
TEST(Size, TooLargeIsNoSize) {
  EXPECT_FALSE(
      parse::Size("754270190134542049.", kUnits, 1u << 20));  // the fuzzer's input (QEMU -m)
  EXPECT_FALSE(parse::Size("18446744073709551616", kUnits));
  EXPECT_FALSE(parse::Size("18446744073709551615K", kUnits));
  EXPECT_FALSE(parse::Size("16777216T", kUnits));
  EXPECT_FALSE(parse::Size("99999999999999999999999999.5G", kUnits));
  EXPECT_EQ(parse::Size("18446744073709551615", kUnits), 18446744073709551615ull);
  EXPECT_EQ(parse::Size("16777215T", kUnits), 16777215ull << 40);
  EXPECT_EQ(parse::Size("0.5K", kUnits), 512u);
}

std::vector<std::string> Args(std::string_view nul_separated) {
  return SplitCmdline(nul_separated);
}

TEST(QemuCmdline, Plain) {
  using namespace std::string_literals;
  auto q =
      ParseQemuCmdline(Args("qemu-system-x86_64\0-name\0plainvm,process=qemu-plain\0-uuid\0"
                            "5a0bd0c6-8b71-4b64-9c7f-8a1b2c3d4e5f\0-m\0"
                            "2G\0-mem-path\0/dev/hugepages\0-mem-prealloc\0-display\0none\0"s));
  EXPECT_EQ(q.name, "plainvm");
  EXPECT_EQ(q.uuid, "5a0bd0c6-8b71-4b64-9c7f-8a1b2c3d4e5f");
  EXPECT_EQ(q.memory_bytes, 2ull << 30);
  EXPECT_EQ(q.mem_path, "/dev/hugepages");
  EXPECT_TRUE(q.mem_prealloc);
  EXPECT_TRUE(q.backends.empty());
  EXPECT_TRUE(q.RamBackends().empty());
}

TEST(QemuCmdline, KeyValueBackendsAndNuma) {
  using namespace std::string_literals;
  auto q = ParseQemuCmdline(
      Args("/usr/bin/qemu-system-x86_64\0-name\0guest=kv,,vm,debug-threads=on\0-m\0"
           "size=2048,slots=4,maxmem=8G\0-object\0memory-backend-file,id=ram0,size=1G,"
           "mem-path=/dev/hugepages1G,share=on,prealloc=on,host-nodes=0,policy=bind\0"
           "-object\0memory-backend-ram,id=ram1,size=1024M,host-nodes=1,host-nodes=2\0"
           "-object\0iothread,id=io1\0-numa\0node,nodeid=0,cpus=0,memdev=ram0\0-numa\0"
           "node,nodeid=1,cpus=1,memdev=ram1\0"s));
  EXPECT_EQ(q.name, "kv,vm");
  EXPECT_EQ(q.memory_bytes, 2048ull << 20);
  ASSERT_EQ(q.backends.size(), 2u);
  const auto& b0 = q.backends[0];
  EXPECT_EQ(b0.type, "file");
  EXPECT_EQ(b0.id, "ram0");
  EXPECT_EQ(b0.size, 1ull << 30);
  EXPECT_EQ(b0.mem_path, "/dev/hugepages1G");
  EXPECT_TRUE(b0.share);
  EXPECT_TRUE(b0.prealloc);
  EXPECT_EQ(b0.host_nodes, "0");
  EXPECT_EQ(b0.policy, "bind");
  EXPECT_EQ(q.backends[1].type, "ram");
  EXPECT_EQ(q.backends[1].host_nodes, "1,2");
  EXPECT_EQ(q.RamBackends().size(), 2u);
}

TEST(QemuCmdline, LibvirtJson) {
  using namespace std::string_literals;
  auto q = ParseQemuCmdline(
      Args("/usr/bin/qemu-system-x86_64\0-name\0guest=instance-0000002a,debug-threads=on\0-S\0"
           "-machine\0pc-q35-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram\0-m\0"
           "4096\0-object\0{\"qom-type\":\"memory-backend-file\",\"id\":\"pc.ram\",\"mem-path\":"
           "\"/dev/hugepages/libvirt/qemu/3-instance-0000002a\",\"share\":true,\"prealloc\":true,"
           "\"size\":4294967296,\"host-nodes\":[0,1],\"policy\":\"bind\"}\0-uuid\0"
           "0f6a5b7e-1111-2222-3333-444455556666\0"s));
  EXPECT_EQ(q.name, "instance-0000002a");
  EXPECT_EQ(q.machine_memory_backend, "pc.ram");
  ASSERT_EQ(q.backends.size(), 1u);
  const auto& b = q.backends[0];
  EXPECT_EQ(b.type, "file");
  EXPECT_EQ(b.size, 4ull << 30);
  EXPECT_TRUE(b.share);
  EXPECT_TRUE(b.prealloc);
  EXPECT_EQ(b.host_nodes, "0,1");
  EXPECT_EQ(b.mem_path, "/dev/hugepages/libvirt/qemu/3-instance-0000002a");
  ASSERT_EQ(q.RamBackends().size(), 1u);
  EXPECT_THROW(ParseQemuCmdline(Args("qemu\0-object\0{\"qom-type\":\0"s)), ParseError);
}

TEST(QemuCmdline, MemfdHugetlb) {
  using namespace std::string_literals;
  auto q = ParseQemuCmdline(
      Args("qemu-system-aarch64\0-name\0memfdvm\0-m\0512M\0-object\0memory-backend-memfd,id=mem,"
           "size=512M,hugetlb=on,hugetlbsize=2M,share=on\0-machine\0virt,memory-backend=mem\0"s));
  ASSERT_EQ(q.backends.size(), 1u);
  EXPECT_EQ(q.backends[0].type, "memfd");
  EXPECT_TRUE(q.backends[0].hugetlb);
  EXPECT_EQ(q.backends[0].hugetlbsize, 2ull << 20);
  EXPECT_FALSE(q.backends[0].prealloc);
  EXPECT_THROW(ParseQemuCmdline(Args("qemu\0-m\0lots\0"s)), ParseError);
}

TEST(QemuComm, Names) {
  EXPECT_TRUE(IsQemuComm("qemu-system-x86"));
  EXPECT_TRUE(IsQemuComm("qemu-kvm"));
  EXPECT_FALSE(IsQemuComm("qemu-img"));
}

TEST(Mountinfo, HugetlbfsByLongestPrefix) {
  auto m = ParseMountinfo(
      "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
      "30 22 0:40 / /dev/hugepages rw,relatime shared:12 - hugetlbfs hugetlbfs rw,pagesize=2M\n"
      "31 22 0:41 / /tmp/my\\040huge rw - hugetlbfs none rw,pagesize=1024M\n");
  EXPECT_EQ(FsTypeOf(m, "/dev/hugepages/libvirt/qemu/1-a"), "hugetlbfs");
  EXPECT_EQ(FsTypeOf(m, "/dev/hugepagesX"), "ext4");
  EXPECT_EQ(FsTypeOf(m, "/tmp/my huge/x"), "hugetlbfs");
  EXPECT_THROW(ParseMountinfo("garbage\n"), ParseError);
}

}  // namespace
}  // namespace pagescope
