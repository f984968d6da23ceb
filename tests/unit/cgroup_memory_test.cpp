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

// Which cgroups are a pod, a container, a guest or a unit themselves (they get the OOM kill
// series by default), and which are slices or QoS levels above them or cgroups below them.
TEST(CgroupIdentity, NamesWorkload) {
  for (const char* yes : {
           "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c9e_2b3c.slice",
           "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod8f7e_4b3a.slice",
           "kubepods.slice/kubepods-pod0d1e_2f3a.slice",
           "kubepods.slice/kubepods-pod0d1e_2f3a.slice/crio-abc.scope",
           "kubepods/burstable/pod5a6b7c8d-1e2f",
           "kubepods/besteffort/pod5a6b7c8d-1e2f/4f3c2b1a",
           "kubepods/pod5a6b",
           "machine.slice/machine-qemu\\x2d12\\x2dinstance\\x2d0000002a.scope",
           "machine/vm1.libvirt-qemu",
           "machine.slice/machine-lxc\\x2d3\\x2dct.scope",
           "system.slice/postgresql.service",
           "system.slice/system-getty.slice/getty@tty1.service",
           "pagescope-test-1/kubepods/besteffort/pod5a6b",
       }) {
    EXPECT_TRUE(ParseCgroupIdentity(yes).names_workload) << yes;
  }
  for (const char* no : {
           "kubepods.slice",
           "kubepods.slice/kubepods-burstable.slice",
           "kubepods",
           "kubepods/besteffort",
           "machine.slice",
           "machine",
           "system.slice",
           "system.slice/system-getty.slice",
           "machine.slice/machine-qemu\\x2d1\\x2dvm1.scope/libvirt/emulator",
           "system.slice/docker.service/inner",
           "custom/group",
           "pagescope-test-1",
       }) {
    EXPECT_FALSE(ParseCgroupIdentity(no).names_workload) << no;
  }
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
  // No limit of its own: oom_kill only (vm1); memory.max set: max and oom_kill (postgresql).
  EXPECT_THAT(lean, HasSubstr("vm=\"vm1\",event=\"oom_kill\"} 0"));
  EXPECT_THAT(lean, Not(HasSubstr("vm=\"vm1\",event=\"max\"")));
  EXPECT_THAT(lean, Not(HasSubstr("vm=\"vm1\",event=\"high\"")));
  EXPECT_THAT(lean, HasSubstr("unit=\"postgresql.service\",event=\"oom_kill\"} 1"));
  EXPECT_THAT(lean, HasSubstr("unit=\"postgresql.service\",event=\"max\"} 31"));
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

// Issue 23: on kubelet-shaped v2 trees (systemd and cgroupfs drivers) a Burstable and a
// BestEffort pod without memory.max, each with OOM kills, show them by default; the slices and
// QoS levels above them have no oom_kill series, even with a limit of their own.
TEST(CgroupMemory, OomKillsOfPodsWithoutLimitsByDefault) {
  using testing::FixtureConfig;
  using testing::ScrapeText;
  std::string lean = ScrapeText(FixtureConfig("cgroup_v2", {"cgroup_memory"}));
  auto kills = [](const std::string& cgroup, const std::string& pod, const std::string& qos,
                  int n) {
    return "pagescope_cgroup_memory_events_total{cgroup=\"" + cgroup + "\",pod=\"" + pod +
           "\",qos=\"" + qos + "\",event=\"oom_kill\"} " + std::to_string(n) + "\n";
  };
  // systemd driver
  EXPECT_THAT(lean, HasSubstr(kills("kubepods.slice/kubepods-burstable.slice/"
                                    "kubepods-burstable-pod3c4d5e6f_7a8b_4c9d_8e0f_1a2b3c4d5e6f."
                                    "slice",
                                    "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "burstable", 3)));
  EXPECT_THAT(lean, HasSubstr(kills("kubepods.slice/kubepods-besteffort.slice/"
                                    "kubepods-besteffort-pod8f7e6d5c_4b3a_4921_8f0e_d1c2b3a4f5e6."
                                    "slice",
                                    "8f7e6d5c-4b3a-4921-8f0e-d1c2b3a4f5e6", "besteffort", 1)));
  // cgroupfs driver
  EXPECT_THAT(lean, HasSubstr(kills("kubepods/burstable/pod6e5d4c3b-2a19-4807-b6a5-948372615a0b",
                                    "6e5d4c3b-2a19-4807-b6a5-948372615a0b", "burstable", 2)));
  EXPECT_THAT(lean, HasSubstr(kills("kubepods/besteffort/pod2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901",
                                    "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901", "besteffort", 1)));
  // Without memory.max the pods have no max event or limit series.
  EXPECT_THAT(lean, Not(HasSubstr("3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\",qos=\"burstable\","
                                  "event=\"max\"")));
  EXPECT_THAT(lean, Not(HasSubstr("3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\",qos=\"burstable\","
                                  "limit=")));
  // Slices and QoS levels: none (kubepods.slice has memory.max: its max event only).
  EXPECT_THAT(lean, HasSubstr("pagescope_cgroup_memory_events_total{cgroup=\"kubepods.slice\","
                              "event=\"max\"} 0"));
  for (const char* slice :
       {"{cgroup=\"kubepods.slice\",", "{cgroup=\"kubepods\",",
        "{cgroup=\"kubepods.slice/kubepods-burstable.slice\",", "{cgroup=\"kubepods/besteffort\",",
        "{cgroup=\"machine.slice\",", "{cgroup=\"system.slice\",",
        "{cgroup=\"system.slice/system-getty.slice\","}) {
    auto pos = lean.find(std::string("pagescope_cgroup_memory_events_total") + slice);
    while (pos != std::string::npos) {
      auto end = lean.find('\n', pos);
      EXPECT_THAT(lean.substr(pos, end - pos), Not(HasSubstr("oom_kill"))) << slice;
      pos = lean.find(std::string("pagescope_cgroup_memory_events_total") + slice, end);
    }
  }
  // Units and guests without limits too.
  EXPECT_THAT(lean, HasSubstr("{cgroup=\"system.slice/sshd.service\",unit=\"sshd.service\","
                              "event=\"oom_kill\"} 0"));
  EXPECT_THAT(lean, HasSubstr("vm=\"vm2\",event=\"oom_kill\"} 0"));
  // With the containers option the containers carry their own kills as well (v2 counts a kill
  // in the container and in every ancestor).
  std::string containers = ScrapeText(FixtureConfig(
      "cgroup_v2", {"cgroup_memory"}, "collectors:\n  cgroup_memory:\n    containers: true\n"));
  EXPECT_THAT(containers,
              HasSubstr("container=\"9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9"
                        "a8b\",event=\"oom_kill\"} 3"));
}

// v1 counts a kill only in the killed task's cgroup (a pod's container): the pod's series sums
// the cgroups below it, so that it means what it means on v2.
TEST(CgroupMemory, V1PodOomKillsIncludeTheirContainers) {
  std::string lean = testing::ScrapeText(testing::FixtureConfig("cgroup_v1", {"cgroup_memory"}));
  EXPECT_THAT(lean, HasSubstr("pagescope_cgroup_memory_events_total{cgroup=\"kubepods/besteffort/"
                              "pod3f2e1d0c-9b8a-7f6e-5d4c-3b2a1f0e9d8c\",pod=\"3f2e1d0c-9b8a-"
                              "7f6e-5d4c-3b2a1f0e9d8c\",qos=\"besteffort\",event=\"oom_kill\"} 2"));
  EXPECT_THAT(lean, HasSubstr("pod=\"9e8d7c6b-5a4f-3e2d-1c0b-a9f8e7d6c5b4\",qos=\"burstable\","
                              "event=\"oom_kill\"} 3"));
  EXPECT_THAT(lean, Not(HasSubstr("{cgroup=\"kubepods/besteffort\",qos=\"besteffort\",event=")));
  // With the events option a QoS level shows its own count only (v1): 0 here.
  std::string all = testing::ScrapeText(testing::FixtureConfig(
      "cgroup_v1", {"cgroup_memory"}, "collectors:\n  cgroup_memory:\n    events: true\n"));
  EXPECT_THAT(all, HasSubstr("{cgroup=\"kubepods/besteffort\",qos=\"besteffort\",event=\""
                             "oom_kill\"} 0"));
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
