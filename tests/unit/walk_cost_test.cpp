// The walk rule (proctable/walk_cost.h), the own-cgroup decision (proctable/own_cgroup.h) and
// the sampled estimate (proctable/placement.h), on inline figures and small trees.

#include "proctable/walk_cost.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "collectors/registry.h"
#include "exporter/config.h"
#include "exporter/scraper.h"
#include "framework/errors.h"
#include "proctable/own_cgroup.h"
#include "proctable/placement.h"
#include "test_util.h"

namespace pagescope::testing {
namespace {

constexpr std::uint64_t kPage = 4096, k2M = 2u << 20, k1G = 1u << 30, kMiB = 1u << 20;

ProcessEntry Process(std::uint64_t rss_bytes, std::uint64_t hugetlb_bytes, std::uint64_t swap = 0) {
  ProcessEntry p;
  p.pid = 100;
  p.stat.rss_pages = rss_bytes / kPage;
  p.status.hugetlb_pages = hugetlb_bytes;
  p.status.vm_swap = swap;
  p.has_status = true;
  return p;
}

TEST(WalkCost, EntriesFromStatusFigures) {
  // Resident base pages and swap entries; hugetlb over the smallest size in use, rounded up.
  auto s = WalkSizeOf(Process(300 * kMiB, 5 * k2M + 1, 8 * kMiB), kPage, k2M);
  EXPECT_EQ(s.base_pages, 300 * 256 + 8 * 256u);
  EXPECT_EQ(s.huge_pages, 6u);
  // 1 GiB pages counted as 2 MiB entries when 2 MiB pages are in use too: over, never under.
  EXPECT_EQ(WalkSizeOf(Process(0, 4 * k1G), kPage, k2M).huge_pages, 2048u);
  EXPECT_EQ(WalkSizeOf(Process(0, 4 * k1G), kPage, k1G).huge_pages, 4u);
  // No hugepage size known: HugetlbPages counts as base pages.
  EXPECT_EQ(WalkSizeOf(Process(0, kMiB), kPage, 0).huge_pages, 256u);
}

TEST(WalkCost, TheDefaultRuleWalksHugepageGuestsNotBig4KiBOnes) {
  const WalkRule rule;  // walk_max_ms 25
  const std::uint64_t hp = k2M;
  // The stand-in guests of 4 KiB pages: 1, 4 and 16 GiB are never walked.
  for (std::uint64_t gib : {1, 4, 16}) {
    EXPECT_FALSE(rule.Allows(WalkFile::kNumaMaps, WalkSizeOf(Process(gib * k1G, 0), kPage, hp)))
        << gib;
    EXPECT_FALSE(rule.Allows(WalkFile::kSmapsRollup, WalkSizeOf(Process(gib * k1G, 0), kPage, hp)));
  }
  // A hugepage-backed guest with QEMU's own few hundred MiB of 4 KiB pages is walked exactly:
  // 64 GiB in 2 MiB pages with 300 MiB, 1 TiB in 1 GiB pages with 400 MiB.
  EXPECT_TRUE(
      rule.Allows(WalkFile::kNumaMaps, WalkSizeOf(Process(300 * kMiB, 64 * k1G), kPage, k2M)));
  EXPECT_TRUE(
      rule.Allows(WalkFile::kNumaMaps, WalkSizeOf(Process(400 * kMiB, 1024 * k1G), kPage, k1G)));
  // The estimate is the measured cost per entry times the entries.
  const WalkSize size{1000, 10};
  const auto c = WalkCost(WalkFile::kNumaMaps);
  EXPECT_DOUBLE_EQ(EstimateWalkSeconds(WalkFile::kNumaMaps, size),
                   (1000 * c.base_page_ns + 10 * c.huge_page_ns) * 1e-9);
  // At the boundary: exactly the budget is allowed, one entry more is not.
  const auto per = static_cast<std::uint64_t>(c.base_page_ns);
  const WalkRule one_ms(std::chrono::microseconds(1000));
  EXPECT_TRUE(one_ms.Allows(WalkFile::kNumaMaps, {1000000 / per, 0}));
  EXPECT_FALSE(one_ms.Allows(WalkFile::kNumaMaps, {1000000 / per + 1, 0}));
  // 0: never walk, not even a tiny process.
  EXPECT_FALSE(WalkRule(std::chrono::microseconds(0)).Allows(WalkFile::kNumaMaps, {1, 0}));
  EXPECT_TRUE(WalkRule(std::chrono::microseconds(0)).Allows(WalkFile::kNumaMaps, {0, 0}));
}

CollectorOptions WalkOptions(const std::string& value) {
  std::map<std::string, OptionValue> v;
  v["walk_max_ms"] = OptionValue{YAML::Load(value), "test.yml:3:5"};
  return CollectorOptions("collectors.qemu", v);
}

TEST(WalkCost, OptionIsMilliseconds) {
  EXPECT_EQ(WalkRuleFromOptions(WalkOptions("0.5")).max_walk(), std::chrono::microseconds(500));
  EXPECT_EQ(WalkRuleFromOptions(WalkOptions("25")).max_walk(), std::chrono::microseconds(25000));
  EXPECT_EQ(WalkRuleFromOptions(WalkOptions("0")).max_walk(), std::chrono::microseconds(0));
  for (const char* bad : {"-1", "abc", "70000", "5ms", "\"\""}) {
    try {
      WalkRuleFromOptions(WalkOptions(bad));
      ADD_FAILURE() << bad;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("test.yml:3:5: collectors.qemu.walk_max_ms"),
                std::string::npos)
          << e.what();
    }
  }
}

// A fake /proc and /sys/fs/cgroup for the own-cgroup decision and the hugepage sizes.
class Tree {
 public:
  Tree()
      : root_(std::filesystem::temp_directory_path() /
              ("pagescope-own-" + std::to_string(::getpid()) + "-" + std::to_string(n_++))),
        fs_(root_ / "proc", root_ / "sys", root_),
        limiter_(std::chrono::minutes(1)),
        ctx_(fs_, limiter_) {
    std::filesystem::create_directories(root_ / "proc");
  }
  ~Tree() { std::filesystem::remove_all(root_); }
  // A process with its parent (stat field 4).
  void Process(int pid, int ppid) {
    auto d = root_ / "proc" / std::to_string(pid);
    std::filesystem::create_directories(d);
    std::ofstream(d / "stat") << pid << " (p" << pid << ") S " << ppid
                              << " 1 1 0 -1 4194560 0 0 0 0 1 1 0 0 20 0 1 0 100 1000000 10 "
                                 "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
  }
  // A cgroup of the v2 hierarchy with these processes.
  void Cgroup(const std::string& rel, std::vector<int> pids) {
    auto d = Hierarchy() / rel;
    std::filesystem::create_directories(d);
    std::ofstream out(d / "cgroup.procs");
    for (int p : pids) out << p << "\n";
  }
  std::filesystem::path Hierarchy() const { return root_ / "sys" / "fs" / "cgroup"; }
  const Context& ctx() const { return ctx_; }
  std::optional<std::string> Own(const std::string& rel, int pid, const std::string& vm) const {
    PidReader reader(ctx_);
    return FindOwnCgroup(ctx_, reader, Hierarchy(), rel, pid, vm);
  }
  std::filesystem::path root() const { return root_; }

 private:
  static inline int n_ = 0;
  std::filesystem::path root_;
  FsRoot fs_;
  log::RateLimiter limiter_;
  Context ctx_;
};

TEST(OwnCgroup, LibvirtScopeEvenWithHelpersAndQemuInItsEmulatorChild) {
  Tree t;
  t.Process(500, 1);  // QEMU, started by libvirtd (not in the cgroup)
  t.Process(501, 1);  // swtpm, started by libvirtd into the guest's scope
  const std::string scope = "machine.slice/machine-qemu\\x2d3\\x2dweb01.scope";
  t.Cgroup(scope, {});
  t.Cgroup(scope + "/libvirt", {});
  t.Cgroup(scope + "/libvirt/emulator", {500});
  t.Cgroup(scope + "/libvirt/swtpm", {501});
  EXPECT_EQ(t.Own(scope + "/libvirt/emulator", 500, "web01"), scope);
  // Another guest's name is not this scope's: then only rule (b) holds, for the emulator
  // cgroup that holds QEMU alone (its parent also holds swtpm, which QEMU did not start).
  EXPECT_EQ(t.Own(scope + "/libvirt/emulator", 500, "db01"), scope + "/libvirt/emulator");
  // libvirt shortens and cleans names: the scope's is a prefix of the guest's, cleaned.
  EXPECT_TRUE(LibvirtScopeNames("web01", "web01"));
  EXPECT_TRUE(LibvirtScopeNames("instance-0000002a-v", "instance-0000002a-very-long-name"));
  EXPECT_TRUE(LibvirtScopeNames("guestone", "guest one!"));
  EXPECT_FALSE(LibvirtScopeNames("web02", "web01"));
  EXPECT_FALSE(LibvirtScopeNames("", "web01"));
}

TEST(OwnCgroup, ASystemdRunScopeOfItsOwnButNotTheSliceAboveIt) {
  Tree t;
  t.Process(600, 1);
  t.Process(700, 1);  // sshd, in another unit of the same slice
  t.Cgroup("system.slice/run-r5.scope", {600});
  t.Cgroup("system.slice/ssh.service", {700});
  EXPECT_EQ(t.Own("system.slice/run-r5.scope", 600, "g"), "system.slice/run-r5.scope");
  // A unit shared with an unrelated process is not own.
  t.Cgroup("system.slice/run-r5.scope", {600, 700});
  EXPECT_EQ(t.Own("system.slice/run-r5.scope", 600, "g"), std::nullopt);
}

TEST(OwnCgroup, KinOnlyUpToTheHighestCgroupThatHoldsNothingElse) {
  Tree t;
  t.Process(800, 1);    // the container's init (catatonit)
  t.Process(801, 800);  // QEMU
  t.Process(802, 801);  // a helper QEMU started
  t.Process(803, 802);  // and its child
  t.Process(900, 1);    // another container
  t.Cgroup("machine.slice/libpod-abc.scope", {});
  t.Cgroup("machine.slice/libpod-abc.scope/container", {800, 801, 802, 803});
  t.Cgroup("machine.slice/libpod-def.scope", {900});
  EXPECT_EQ(t.Own("machine.slice/libpod-abc.scope/container", 801, "g"),
            "machine.slice/libpod-abc.scope");
  // The root is never a process's own cgroup.
  t.Cgroup("", {801});
  EXPECT_EQ(t.Own("", 801, "g"), std::nullopt);
}

TEST(OwnCgroup, BoundedChecks) {
  Tree t;
  t.Process(1000, 1);
  // More cgroups below than kOwnCgroupMaxCgroups: not own, however empty.
  t.Cgroup("big.scope", {1000});
  for (int i = 0; i < kOwnCgroupMaxCgroups; ++i) t.Cgroup("big.scope/c" + std::to_string(i), {});
  EXPECT_EQ(t.Own("big.scope", 1000, "g"), std::nullopt);
  // More processes than kOwnCgroupMaxProcesses, even if all kin.
  std::vector<int> many{1000};
  for (int i = 1; i <= kOwnCgroupMaxProcesses; ++i) {
    t.Process(1000 + i, 1000);
    many.push_back(1000 + i);
  }
  t.Cgroup("many.scope", many);
  EXPECT_EQ(t.Own("many.scope", 1000, "g"), std::nullopt);
  many.pop_back();
  t.Cgroup("many.scope", many);
  EXPECT_EQ(t.Own("many.scope", 1000, "g"), "many.scope");
  // A cgroup.procs that is not a list of pids: not own.
  std::ofstream(t.Hierarchy() / "many.scope" / "cgroup.procs") << "1000\nx\n";
  EXPECT_EQ(t.Own("many.scope", 1000, "g"), std::nullopt);
  // A cgroup that vanished.
  EXPECT_EQ(t.Own("gone.scope", 1000, "g"), std::nullopt);
}

TEST(WalkCost, HugetlbEntrySizeIsTheSmallestSizeInUse) {
  Tree t;
  auto pools = t.root() / "sys" / "kernel" / "mm" / "hugepages";
  for (auto [dir, nr] : {std::pair{"hugepages-2048kB", 0}, {"hugepages-1048576kB", 4}}) {
    std::filesystem::create_directories(pools / dir);
    std::ofstream(pools / dir / "nr_hugepages") << nr << "\n";
  }
  EXPECT_EQ(HugetlbEntrySize(t.ctx()), k1G);
  Tree none;
  EXPECT_EQ(HugetlbEntrySize(none.ctx()), 0u);
  Tree unused;
  auto p = unused.root() / "sys" / "kernel" / "mm" / "hugepages";
  for (const char* dir : {"hugepages-2048kB", "hugepages-1048576kB"}) {
    std::filesystem::create_directories(p / dir);
    std::ofstream(p / dir / "nr_hugepages") << "0\n";
  }
  EXPECT_EQ(HugetlbEntrySize(unused.ctx()), k2M);
}

TEST(Placement, SampleScaledToStatus) {
  PageSample sample;
  PageClassSample base;
  base.page_size = kPage;
  base.mapped_bytes = 1024 * kMiB;
  base.asked = 4000;
  base.present_by_node = {{0, 3000}, {1, 1000}};  // all present: 3/4 on node 0
  PageClassSample huge;
  huge.page_size = k2M;
  huge.mapped_bytes = 64 * kMiB;
  huge.asked = 32;                           // every page asked: exact
  huge.present_by_node = {{0, 8}, {1, 16}};  // 8 not faulted
  sample.classes = {base, huge};
  // status: 48 MiB of hugetlb mapped, 800 MiB resident (the sampled mappings' share is scaled to
  // the whole: the unsampled small mappings are assumed to lie alike).
  ProcessEntry p;
  p.stat.rss_pages = 800 * kMiB / kPage;
  p.status.hugetlb_pages = 48 * kMiB;
  auto e = EstimatePlacement(sample, p, kPage);
  EXPECT_EQ(e.asked, 4032u);
  EXPECT_EQ(e.hugetlb, (std::map<std::pair<int, std::uint64_t>, std::uint64_t>{
                           {{0, k2M}, 16 * kMiB}, {{1, k2M}, 32 * kMiB}}));
  EXPECT_EQ(e.memory.at(0), 600 * kMiB + 16 * kMiB);
  EXPECT_EQ(e.memory.at(1), 200 * kMiB + 32 * kMiB);
  // Nothing present in a class: no figure for it (not a zero on every node).
  sample.classes[1].present_by_node.clear();
  e = EstimatePlacement(sample, p, kPage);
  EXPECT_TRUE(e.hugetlb.empty());
}

}  // namespace
}  // namespace pagescope::testing

namespace pagescope::testing {
namespace {

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A collector whose reads are denied, as the per-process readers report them (for the
// reference: pagescope_scrape_denied_reads comes from the framework, not from a fixture).
class Denied : public Collector {
 public:
  void Collect(const Context& ctx, MetricSink&) override {
    ctx.WarnDenied(ctx.fs().Proc("42/numa_maps"), "permission denied");
  }
};

// This test process as a QEMU guest and a process group too large to walk, in a tree whose
// /proc/<pid> has this process's real maps: the walk rule refuses, so the placement is sampled
// with move_pages on this very process. Writes every family to $PAGESCOPE_HARM_REFERENCE when
// set (scripts/gen-metric-reference.py documents the series fixtures cannot produce from it).
TEST(HarmReference, SampledPlacementAndDeniedReads) {
  Tree t;
  const int pid = ::getpid();
  auto d = t.root() / "proc" / std::to_string(pid);
  std::filesystem::create_directories(d);
  // 4,000,000 resident pages (16 GB): a walk of about a second, far above walk_max_ms.
  std::ofstream(d / "stat") << pid
                            << " (qemu-system-x86) S 1 1 1 0 -1 4194560 10 0 0 0 1 1 0 0 20 0 1 0 "
                               "100 1000000 4000000 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 "
                               "17 0 0 0 0 0 0\n";
  std::ofstream(d / "status") << "Name:\tqemu-system-x86\nVmRSS:\t16000000 kB\nVmSwap:\t0 kB\n"
                              << "HugetlbPages:\t2048 kB\n";
  const std::string cmdline =
      std::string("qemu-system-x86_64\0-name\0guest=sampled\0-m\0", 41) + std::string("16384\0", 6);
  std::ofstream(d / "cmdline") << cmdline;
  std::ofstream(d / "maps") << ReadAll("/proc/self/maps");
  std::ofstream(d / "cgroup") << "0::/\n";
  std::filesystem::create_directories(d / "task" / std::to_string(pid));
  std::ofstream(d / "task" / std::to_string(pid) / "stat")
      << pid << " (qemu-system-x86) S 1 1 1 0 -1 4194560 10 0 0 0 1 1 0 0 20 0 1 0 100 1000000 "
      << "4000000 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
  std::ofstream(d / "task" / std::to_string(pid) / "status") << "Cpus_allowed_list:\t0\n";
  CommandLine cl;
  cl.values["path.procfs"] = {(t.root() / "proc").string()};
  cl.values["path.sysfs"] = {(t.root() / "sys").string()};
  cl.values["path.rootfs"] = {t.root().string()};
  cl.values["collectors.disable_defaults"] = {"true"};
  cl.values["collectors.processes.enabled"] = {"true"};
  cl.values["collectors.qemu.enabled"] = {"true"};
  cl.values["collectors.meminfo.enabled"] = {"true"};
  const std::string yaml =
      "collectors:\n  qemu:\n    numa_locality: true\n  processes:\n    hugetlb_numa: true\n"
      "    numa_locality:\n      - {group: qemu-system-x86}\n";
  auto specs = AllCollectors();
  for (auto& spec : specs) {
    if (spec.name == "meminfo") {
      spec.make = [](const CollectorOptions&) { return std::make_unique<Denied>(); };
    }
  }
  Scraper scraper(LoadConfigFromText(cl, yaml, "test.yml"), specs);
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, scraper.Scrape());
  const std::string out = text.str();
  for (const char* want :
       {"pagescope_vm_info{vm=\"sampled\"", "hugetlb_source=\"unknown\"",
        "memory_source=\"sampled\"", "pagescope_vm_placement_sample_pages{vm=\"sampled\"}",
        "pagescope_process_placement_sampled_processes{group=\"qemu-system-x86\"} 1",
        "pagescope_process_placement_sample_pages{group=\"qemu-system-x86\"}",
        "pagescope_scrape_walks_total{collector=\"qemu\",file=\"numa_maps\",result=\"sampled\"} 1",
        "pagescope_scrape_walks_total{collector=\"processes\",file=\"numa_maps\",result="
        "\"sampled\"}"
        " 1",
        "pagescope_scrape_walk_max_seconds{collector=\"qemu\",file=\"numa_maps\"}",
        "pagescope_scrape_denied_reads{collector=\"meminfo\",file=\"numa_maps\"} 1"}) {
    EXPECT_NE(out.find(want), std::string::npos) << want << "\n" << out;
  }
  if (const char* path = std::getenv("PAGESCOPE_HARM_REFERENCE")) std::ofstream(path) << out;
}

}  // namespace
}  // namespace pagescope::testing
