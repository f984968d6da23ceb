// NUMA locality: the parsers (task stat's processor, Cpus_allowed_list, PCI numa_node, vCPU
// thread names, numa_maps policies, vfio-pci devices on QEMU's command line) and the figures.

#include "proctable/numa_locality.h"

#include <gtest/gtest.h>

#include "framework/errors.h"
#include "proctable/qemu_cmdline.h"

namespace pagescope {
namespace {

template <std::size_t N>
std::vector<std::string> Args(const char (&nul_separated)[N]) {
  return SplitCmdline(std::string_view(nul_separated, N - 1));
}

TEST(NumaLocality, VcpuThreadNames) {
  EXPECT_TRUE(IsVcpuThreadComm("CPU 0/KVM"));
  EXPECT_TRUE(IsVcpuThreadComm("CPU 127/TCG"));
  EXPECT_FALSE(IsVcpuThreadComm("qemu-system-x86"));
  EXPECT_FALSE(IsVcpuThreadComm("CPU /KVM"));
  EXPECT_FALSE(IsVcpuThreadComm("CPU 1/"));
  EXPECT_FALSE(IsVcpuThreadComm("CPU 1"));
  EXPECT_FALSE(IsVcpuThreadComm("IO mon_iothread"));
}

TEST(NumaLocality, TaskStatProcessor) {
  // A vCPU thread: comm with a space and a slash; processor (39) is 5.
  auto t = ParseTaskStat(
      "4711 (CPU 1/KVM) S 1 4700 4700 0 -1 4194368 12 0 0 0 1000 50 0 0 20 0 9 0 5000 "
      "4000000000 100000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 -1 5 0 0 0 0 0\n");
  EXPECT_EQ(t.comm, "CPU 1/KVM");
  ASSERT_TRUE(t.processor);
  EXPECT_EQ(*t.processor, 5);
  // A line that stops before (39): no processor.
  EXPECT_FALSE(ParseTaskStat("4711 (x) S 1 4700 4700 0 -1 4194368 12 0 0 0").processor);
  EXPECT_THROW(ParseTaskStat("4711 x S 1"), ParseError);
  EXPECT_THROW(ParseTaskStat(
                   "4711 (CPU 1/KVM) S 1 4700 4700 0 -1 4194368 12 0 0 0 1000 50 0 0 20 0 9 0 5000 "
                   "4000000000 100000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 -1 cpu 0 0 0 "
                   "0 0\n"),
               ParseError);
}

TEST(NumaLocality, CpusAllowedList) {
  auto l = ParseCpusAllowedList(
      "Name:\tCPU 0/KVM\nCpus_allowed:\tff00ff\nCpus_allowed_list:\t0-7,16-23\n"
      "Mems_allowed_list:\t0-1\n");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->size(), 16u);
  EXPECT_EQ(l->front(), 0);
  EXPECT_EQ(l->back(), 23);
  EXPECT_EQ(*ParseCpusAllowedList("Cpus_allowed_list:\t3\n"), std::vector<int>{3});
  EXPECT_FALSE(ParseCpusAllowedList("Name:\tx\nCpus_allowed:\tf\n"));
  try {
    ParseCpusAllowedList("Name:\tx\nCpus_allowed_list:\t0-x\n");
    FAIL() << "no error";
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line(), 2u);
  }
}

TEST(NumaLocality, PciNumaNode) {
  EXPECT_EQ(ParsePciNumaNode("1\n"), 1);
  EXPECT_EQ(ParsePciNumaNode("-1\n"), -1);
  EXPECT_THROW(ParsePciNumaNode("-2\n"), ParseError);
  EXPECT_THROW(ParsePciNumaNode("node1\n"), ParseError);
}

TEST(NumaLocality, NumaMapsPolicyAndNodes) {
  auto m = ParseProcPidNumaMaps(
      "55d0c0a00000 default file=/usr/bin/qemu mapped=200 N0=200 kernelpagesize_kB=4\n"
      "7f0000000000 bind:0 file=/dev/hugepages/a huge dirty=512 N0=512 kernelpagesize_kB=2048\n"
      "7f1000000000 prefer:1 file=/dev/hugepages/b huge dirty=512 N0=12 N1=500 "
      "kernelpagesize_kB=2048\n"
      "7f2000000000 interleave:0-1 anon=10 dirty=10 N0=5 N1=5 kernelpagesize_kB=4\n"
      "7f3000000000 bind=static:2 anon=4 dirty=4 N2=1 N3=3 kernelpagesize_kB=4\n"
      "7f4000000000 prefer (many):0-1 anon=2 dirty=2 N2=2 kernelpagesize_kB=4\n"
      "7f5000000000 weighted interleave:1 anon=1 dirty=1 N1=1 kernelpagesize_kB=4\n"
      "7f6000000000 bind:1 anon=0\n"
      "7f7000000000 bind:1 file=/usr/lib/libc.so.6 mapped=100 N0=100 kernelpagesize_kB=4\n"
      "7f8000000000 bind:1 file=/memfd:ram\\040(deleted) dirty=3 N0=3 kernelpagesize_kB=4\n");
  const std::uint64_t huge = 2u << 20;
  EXPECT_EQ(m.node_bytes.at(0), 200 * 4096 + 512 * huge + 12 * huge + 5 * 4096 + 103 * 4096);
  EXPECT_EQ(m.node_bytes.at(1), 500 * huge + 5 * 4096 + 4096);
  EXPECT_EQ(m.node_bytes.at(2), 3 * 4096);  // bind=static:2 N2=1, prefer (many) N2=2
  EXPECT_EQ(m.node_bytes.at(3), 3 * 4096);
  // bind:1 with nothing faulted counts too; libc's page cache does not, the memfd does.
  EXPECT_EQ(m.policy_mappings, 8u);
  // Outside: prefer:1 N0=12 (huge), bind=static:2 N3=3, prefer (many):0-1 N2=2, memfd N0=3.
  EXPECT_EQ(m.outside_policy_bytes, 12 * huge + 3 * 4096 + 2 * 4096 + 3 * 4096);
  EXPECT_EQ(m.huge_pages.at({1, huge}), 500u);
}

TEST(NumaLocality, QemuVfioDevicesBothForms) {
  auto q = ParseQemuCmdline(
      Args("qemu-system-x86_64\0-name\0guest=a,debug-threads=on\0"
           "-device\0vfio-pci,host=3B:00.0,id=hostdev0,bus=pci.0,addr=0x5\0"
           "-device\0virtio-net-pci,netdev=n0\0"
           "-device\0{\"driver\":\"vfio-pci\",\"host\":\"0000:5e:00.1\","
           "\"id\":\"hostdev1\",\"bus\":\"pci.3\",\"addr\":\"0x0\"}\0"
           "-device\0{\"driver\":\"virtio-blk-pci\",\"id\":\"v\"}\0"
           "-device\0vfio-pci,sysfsdev=/sys/bus/pci/devices/0001:af:10.2\0"
           "-object\0{\"qom-type\":\"memory-backend-file\",\"id\":\"ram-node0\","
           "\"size\":1073741824,\"host-nodes\":[0,1],\"policy\":\"preferred\"}\0"
           "-object\0memory-backend-ram,id=ram1,size=1G,host-nodes=1,policy=bind\0"));
  EXPECT_EQ(q.vfio_devices,
            (std::vector<std::string>{"0000:3b:00.0", "0000:5e:00.1", "0001:af:10.2"}));
  ASSERT_EQ(q.backends.size(), 2u);
  EXPECT_EQ(q.backends[0].host_nodes, "0,1");
  EXPECT_EQ(q.backends[0].policy, "preferred");
  EXPECT_EQ(q.backends[1].host_nodes, "1");
  EXPECT_EQ(q.backends[1].policy, "bind");
  EXPECT_THROW(ParseQemuCmdline(Args("q\0-device\0{\"driver\":")), ParseError);
}

TEST(NumaLocality, PciAddress) {
  EXPECT_EQ(NormalizePciAddress("3b:00.0"), "0000:3b:00.0");
  EXPECT_EQ(NormalizePciAddress("0000:3B:1f.7"), "0000:3b:1f.7");
  EXPECT_EQ(NormalizePciAddress("0000:3b:00.8"), "");
  EXPECT_EQ(NormalizePciAddress("../../etc:00.0"), "");
  EXPECT_EQ(NormalizePciAddress("3b:00"), "");
}

NodeCpus TwoNodes() {
  NodeCpus t;
  t.nodes = {0, 1};
  for (int c = 0; c < 4; ++c) t.cpu_node[c] = c < 2 ? 0 : 1;
  return t;
}

TEST(NumaLocality, RemoteMemoryDeviceAndVcpus) {
  LocalityInput in;
  in.threads.allowed_cpus = {{0, 1}, {0, 1}};
  in.threads.last_cpus = {0, 1};
  in.memory = {{0, 30}, {1, 970}};
  in.devices = {{"0000:18:00.0", 0}, {"0000:5e:00.1", -1}, {"0000:99:00.0", std::nullopt}};
  in.policy_mappings = 1;
  in.outside_policy_bytes = 24;
  auto l = ComputeLocality(TwoNodes(), in);
  EXPECT_EQ(l.allowed_nodes, (std::set<int>{0}));
  EXPECT_EQ(l.memory_nodes, (std::set<int>{1}));  // node 0 holds 3%, under 5%
  ASSERT_TRUE(l.local_ratio);
  EXPECT_DOUBLE_EQ(*l.local_ratio, 0.03);
  EXPECT_EQ(l.threads_allowed.at(0), 2u);
  EXPECT_EQ(l.threads_last.at(0), 2u);
  EXPECT_EQ(l.threads_remote, 2u);
  EXPECT_EQ(l.devices_remote, 1u);  // -1 and a missing device do not count
  EXPECT_EQ(*l.unrequested_bytes, 24u);
}

TEST(NumaLocality, SpanningGuestIsLocal) {
  // hw:numa_nodes=2: vCPUs 0-1 on node 0, 2-3 on node 1, memory on both, a NIC on node 1.
  LocalityInput in;
  in.threads.allowed_cpus = {{0, 1}, {0, 1}, {2, 3}, {2, 3}};
  in.memory = {{0, 500}, {1, 500}};
  in.devices = {{"0000:3b:00.0", 1}};
  auto l = ComputeLocality(TwoNodes(), in);
  EXPECT_DOUBLE_EQ(*l.local_ratio, 1.0);
  EXPECT_EQ(l.threads_remote, 0u);
  EXPECT_EQ(l.devices_remote, 0u);
  EXPECT_FALSE(l.unrequested_bytes);  // no policy asked for
}

TEST(NumaLocality, NoNumaDirectoriesIsOneNode) {
  LocalityInput in;
  in.threads.allowed_cpus = {{0}};
  in.memory = {{0, 100}};
  auto l = ComputeLocality(NodeCpus{}, in);
  EXPECT_DOUBLE_EQ(*l.local_ratio, 1.0);
  // No threads known: no ratio.
  in.threads.allowed_cpus.clear();
  EXPECT_FALSE(ComputeLocality(NodeCpus{}, in).local_ratio);
  // No memory: no ratio.
  LocalityInput empty;
  empty.threads.allowed_cpus = {{0}};
  EXPECT_FALSE(ComputeLocality(NodeCpus{}, empty).local_ratio);
}

}  // namespace
}  // namespace pagescope
