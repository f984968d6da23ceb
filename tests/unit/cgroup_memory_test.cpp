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

TEST(CgroupIdentity, KubeletLibvirtAndSystemd) {
  struct Case {
    const char* path;
    const char* pod;
    const char* qos;
    const char* container;
    const char* vm;
    const char* unit;
    bool below_identity;
  };  // path, then the identity: pod, qos, container, vm, unit, below_identity
  for (const auto& c : std::initializer_list<Case>{
           // kubelet, systemd driver
           {"kubepods.slice/kubepods-burstable.slice/"
            "kubepods-burstable-pod7c9e6f1a_2b3c_4d5e_8f90_123456789abc.slice/"
            "cri-containerd-4f3c2b1a.scope",
            "7c9e6f1a-2b3c-4d5e-8f90-123456789abc", "burstable", "4f3c2b1a", "", "", false},
           {"kubepods.slice/kubepods-pod0d1e_2f3a.slice/crio-abc.scope", "0d1e-2f3a", "guaranteed",
            "abc", "", "", false},
           {"kubepods.slice/kubepods-besteffort.slice", "", "besteffort", "", "", "", false},
           // kubelet, cgroupfs driver
           {"kubepods/burstable/pod5a6b7c8d-1e2f/4f3c2b1a", "5a6b7c8d-1e2f", "burstable",
            "4f3c2b1a", "", "", false},
           {"kubepods/pod5a6b", "5a6b", "guaranteed", "", "", "", false},
           // libvirt: systemd scopes (inner cgroups below the guest's identity), cgroupfs layout
           {"machine.slice/machine-qemu\\x2d12\\x2dinstance\\x2d0000002a.scope", "", "", "",
            "instance-0000002a", "", false},
           {"machine.slice/machine-qemu\\x2d1\\x2dvm1.scope/libvirt/emulator", "", "", "", "vm1",
            "", true},
           {"machine/vm1.libvirt-qemu", "", "", "", "vm1", "", false},
           {"machine", "", "", "", "", "", false},
           // systemd units: the deepest unit in the path (an LXC scope is not a guest)
           {"machine.slice", "", "", "", "", "machine.slice", false},
           {"machine.slice/machine-lxc\\x2d3\\x2dct.scope", "", "", "", "",
            "machine-lxc\\x2d3\\x2dct.scope", false},
           {"system.slice/system-getty.slice/getty@tty1.service", "", "", "", "",
            "getty@tty1.service", false},
           {"system.slice", "", "", "", "", "system.slice", false},
           {"custom/group", "", "", "", "", "", false},
       }) {
    const CgroupIdentity id = ParseCgroupIdentity(c.path);
    EXPECT_EQ(id.pod, c.pod) << c.path;
    EXPECT_EQ(id.qos, c.qos) << c.path;
    EXPECT_EQ(id.container, c.container) << c.path;
    EXPECT_EQ(id.vm, c.vm) << c.path;
    EXPECT_EQ(id.unit, c.unit) << c.path;
    EXPECT_EQ(id.below_identity, c.below_identity) << c.path;
  }
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
