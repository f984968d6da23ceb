#include "collectors/cgroup_memory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "framework/errors.h"
#include "kernel/sys_fs_cgroup.h"
#include "test_util.h"

namespace pagescope {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(CgroupIdentity, KubeletSystemdDriver) {
  auto id = ParseCgroupIdentity(
      "kubepods.slice/kubepods-burstable.slice/"
      "kubepods-burstable-pod7c9e6f1a_2b3c_4d5e_8f90_123456789abc.slice/"
      "cri-containerd-4f3c2b1a.scope");
  EXPECT_EQ(id.pod, "7c9e6f1a-2b3c-4d5e-8f90-123456789abc");
  EXPECT_EQ(id.qos, "burstable");
  EXPECT_EQ(id.container, "4f3c2b1a");
  EXPECT_EQ(id.unit, "");
  EXPECT_FALSE(id.below_identity);
  auto g = ParseCgroupIdentity("kubepods.slice/kubepods-pod0d1e_2f3a.slice/crio-abc.scope");
  EXPECT_EQ(g.pod, "0d1e-2f3a");
  EXPECT_EQ(g.qos, "guaranteed");
  EXPECT_EQ(g.container, "abc");
  auto q = ParseCgroupIdentity("kubepods.slice/kubepods-besteffort.slice");
  EXPECT_EQ(q.qos, "besteffort");
  EXPECT_EQ(q.pod, "");
  EXPECT_EQ(q.unit, "");
}

TEST(CgroupIdentity, KubeletCgroupfsDriver) {
  auto id = ParseCgroupIdentity("kubepods/burstable/pod5a6b7c8d-1e2f/4f3c2b1a");
  EXPECT_EQ(id.pod, "5a6b7c8d-1e2f");
  EXPECT_EQ(id.qos, "burstable");
  EXPECT_EQ(id.container, "4f3c2b1a");
  auto g = ParseCgroupIdentity("kubepods/pod5a6b");
  EXPECT_EQ(g.pod, "5a6b");
  EXPECT_EQ(g.qos, "guaranteed");
  EXPECT_EQ(g.container, "");
}

TEST(CgroupIdentity, LibvirtAndSystemd) {
  auto vm =
      ParseCgroupIdentity("machine.slice/machine-qemu\\x2d12\\x2dinstance\\x2d0000002a.scope");
  EXPECT_EQ(vm.vm, "instance-0000002a");
  EXPECT_EQ(vm.unit, "");
  auto inner =
      ParseCgroupIdentity("machine.slice/machine-qemu\\x2d1\\x2dvm1.scope/libvirt/emulator");
  EXPECT_EQ(inner.vm, "vm1");
  EXPECT_TRUE(inner.below_identity);
  EXPECT_EQ(ParseCgroupIdentity("machine/vm1.libvirt-qemu").vm, "vm1");
  EXPECT_EQ(ParseCgroupIdentity("machine").unit, "");  // libvirt's cgroupfs layout: no unit
  EXPECT_EQ(ParseCgroupIdentity("machine.slice").unit, "machine.slice");
  auto lxc = ParseCgroupIdentity("machine.slice/machine-lxc\\x2d3\\x2dct.scope");
  EXPECT_EQ(lxc.vm, "");
  EXPECT_EQ(lxc.unit, "machine-lxc\\x2d3\\x2dct.scope");
  auto svc = ParseCgroupIdentity("system.slice/system-getty.slice/getty@tty1.service");
  EXPECT_EQ(svc.unit, "getty@tty1.service");
  EXPECT_EQ(ParseCgroupIdentity("system.slice").unit, "system.slice");
  EXPECT_EQ(ParseCgroupIdentity("custom/group").unit, "");
  EXPECT_EQ(UnescapeSystemd("a\\x2db\\x2"), "a-b\\x2");
  EXPECT_EQ(UnescapeSystemd("\\x41\\xzz"), "A\\xzz");
}

TEST(CgroupIdentity, Labels) {
  EXPECT_EQ(CgroupLabels("machine.slice/machine-qemu\\x2d1\\x2dvm1.scope"),
            (Labels{{"cgroup", "machine.slice/machine-qemu\\x2d1\\x2dvm1.scope"}, {"vm", "vm1"}}));
  EXPECT_EQ(
      CgroupLabels("kubepods/besteffort/podab"),
      (Labels{{"cgroup", "kubepods/besteffort/podab"}, {"pod", "ab"}, {"qos", "besteffort"}}));
}

TEST(CgroupMemory, Limits) {
  EXPECT_EQ(ParseCgroupMemoryLimit("max\n"), std::nullopt);
  EXPECT_EQ(ParseCgroupMemoryLimit("1073741824\n"), 1073741824u);
  EXPECT_EQ(ParseCgroupMemoryLimit("9223372036854771712\n"), std::nullopt);  // v1 no limit
  EXPECT_THROW(ParseCgroupMemoryLimit("maxx\n"), ParseError);
  EXPECT_THROW(ParseCgroupMemoryLimit(""), ParseError);
  EXPECT_THROW(ParseCgroupMemoryLimit("12 13\n"), ParseError);
}

// Options change what one cgroup costs: the defaults are lean, each option adds its lines.
TEST(CgroupMemory, OptionsOnTheV2Fixture) {
  using testing::FixtureConfig;
  using testing::ScrapeText;
  std::string lean = ScrapeText(FixtureConfig("cgroup_v2", {"cgroup_memory"}));
  EXPECT_THAT(lean, HasSubstr("pagescope_cgroup_memory_usage_bytes{cgroup=\"machine.slice/"
                              "machine-qemu\\\\x2d2\\\\x2dvm2.scope\",vm=\"vm2\"} 2168455168"));
  EXPECT_THAT(lean, HasSubstr("pagescope_cgroup_memory_events_total{cgroup=\"machine.slice/"
                              "machine-qemu\\\\x2d2\\\\x2dvm2.scope\",vm=\"vm2\",event=\"high\"} "
                              "4711"));
  EXPECT_THAT(lean, Not(HasSubstr("emulator")));       // inside a guest's scope
  EXPECT_THAT(lean, Not(HasSubstr("container=")));     // containers only on request
  EXPECT_THAT(lean, Not(HasSubstr("event=\"low\"")));  // all events only on request
  EXPECT_THAT(lean, Not(HasSubstr("_stat_")));
  EXPECT_THAT(lean, Not(HasSubstr("swap_usage")));
  EXPECT_THAT(lean, Not(HasSubstr("pressure_memory_full")));
  // No limit of its own: no event series (vm1); memory.max set: max and oom_kill (oom.service).
  EXPECT_THAT(lean, Not(HasSubstr("vm=\"vm1\",event=")));
  EXPECT_THAT(lean, HasSubstr("unit=\"postgresql.service\",event=\"oom_kill\"} 1"));
  std::string full = ScrapeText(FixtureConfig(
      "cgroup_v2", {"cgroup_memory"},
      "collectors:\n  cgroup_memory:\n    containers: true\n    limits: true\n    events: true\n"
      "    swap: true\n    stat: true\n    pressure_full: true\n"));
  EXPECT_THAT(full, HasSubstr("pagescope_cgroup_pressure_memory_full_seconds_total"));
  EXPECT_THAT(full, HasSubstr("vm=\"vm1\",event=\"oom_kill\"} 0"));
  EXPECT_THAT(full, HasSubstr("container=\"4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a"
                              "7f6e5d4c3b\""));
  EXPECT_THAT(full, HasSubstr("limit=\"min\"} 536870912"));
  EXPECT_THAT(full, HasSubstr("event=\"oom_group_kill\"} 0"));
  EXPECT_THAT(full, HasSubstr("pagescope_cgroup_memory_swap_usage_bytes{cgroup=\"system.slice/"
                              "postgresql.service\",unit=\"postgresql.service\"} 67108864"));
  EXPECT_THAT(full, HasSubstr("pagescope_cgroup_memory_stat_pgscan_total{cgroup=\"machine.slice/"
                              "machine-qemu\\\\x2d2\\\\x2dvm2.scope\",vm=\"vm2\"} 50000"));
  EXPECT_THAT(full, HasSubstr("pagescope_cgroup_memory_stat_anon_thp_bytes{cgroup=\"machine.slice/"
                              "machine-qemu\\\\x2d1\\\\x2dvm1.scope\",vm=\"vm1\"} 2147483648"));
  EXPECT_THAT(full, Not(HasSubstr("emulator")));
}

TEST(CgroupMemory, V1StatAndSwap) {
  std::string full = testing::ScrapeText(
      testing::FixtureConfig("cgroup_v1", {"cgroup_memory"},
                             "collectors:\n  cgroup_memory:\n    swap: true\n    stat: true\n"));
  EXPECT_THAT(full, HasSubstr("pagescope_cgroup_memory_stat_anon_thp_bytes{cgroup=\"machine/"
                              "vm1.libvirt-qemu\",vm=\"vm1\"} 1073741824"));
  EXPECT_THAT(full,
              HasSubstr("pagescope_cgroup_memory_swap_usage_bytes{cgroup=\"kubepods/burstable/"
                        "pod9e8d7c6b-5a4f-3e2d-1c0b-a9f8e7d6c5b4\",pod=\"9e8d7c6b-5a4f-3e2d-"
                        "1c0b-a9f8e7d6c5b4\",qos=\"burstable\"} 104857600"));
}

}  // namespace
}  // namespace pagescope
