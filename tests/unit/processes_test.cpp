// Process grouping (matchers, templates, config errors) and fault counters carried over when
// processes exit, on a process tree written to a temporary directory.

#include "collectors/processes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <fstream>
#include <sstream>

#include "exporter/config.h"
#include "exporter/scraper.h"
#include "framework/errors.h"
#include "framework/metric_sink.h"
#include "test_util.h"

namespace pagescope {
namespace {

using ::testing::HasSubstr;

Config TreeConfig(const std::filesystem::path& root, const std::string& yaml) {
  CommandLine cl;
  cl.values["path.procfs"] = {(root / "proc").string()};
  cl.values["path.sysfs"] = {(root / "sys").string()};
  cl.values["path.rootfs"] = {root.string()};
  cl.values["collectors.disable_defaults"] = {"true"};
  cl.values["collectors.processes.enabled"] = {"true"};
  return LoadConfigFromText(cl, yaml, yaml.empty() ? "" : "test.yml");
}

std::string ConfigError(const std::string& yaml) {
  try {
    TreeConfig("/nonexistent", yaml);
    Scraper s(TreeConfig("/nonexistent", yaml));
  } catch (const pagescope::ConfigError& e) {
    return e.what();
  }
  return "";
}

ProcessMatchers FromText(const std::string& yaml) {
  YAML::Node n = YAML::Load(yaml);
  CollectorOptions o("collectors.processes", {{"groups", {n, "test.yml:1:1"}}});
  return ProcessMatchers::FromYaml(o, "groups", n);
}

std::string MatchOf(const ProcessMatchers& m, std::string comm, std::string exe,
                    std::string cmdline, std::string cgroup = "") {
  ProcessMatchers::Facts f{comm, [&]() -> const std::string& { return exe; },
                           [&]() -> const std::string& { return cmdline; },
                           [&]() -> const std::string& { return cgroup; }};
  return m.Match(f);
}

TEST(ProcessMatchers, CgroupPodAndUnitTemplates) {
  auto m = FromText(
      "- {name: 'pod:{{.Pod}}', comm: [java]}\n"
      "- {name: '{{.Unit}}', comm: [qemu-system-x86, postgres]}\n"
      "- {name: 'cg:{{ .Cgroup }}'}\n");
  EXPECT_EQ(MatchOf(m, "java", "", "",
                    "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice/"
                    "cri-containerd-ab.scope"),
            "pod:12-34");
  EXPECT_EQ(MatchOf(m, "postgres", "", "", "system.slice/postgresql.service"),
            "postgresql.service");
  EXPECT_EQ(MatchOf(m, "qemu-system-x86", "", "",
                    "machine.slice/machine-qemu\\x2d3\\x2dweb1.scope/libvirt/emulator"),
            "web1");
  EXPECT_EQ(MatchOf(m, "bash", "", "", "user.slice/user-0.slice/session-1.scope"),
            "cg:user.slice/user-0.slice/session-1.scope");
  EXPECT_EQ(MatchOf(m, "bash", "", "", ""), "cg:");
}

TEST(ProcPidCgroup, PathOfTheMemoryHierarchy) {
  // Hybrid (this machine): the memory controller on v1, v2 beside it.
  EXPECT_EQ(ProcPidCgroupPath("12:pids:/a\n7:memory:/pagescope-test/job.service\n"
                              "1:name=systemd:/init.scope\n0::/other\n"),
            "pagescope-test/job.service");
  EXPECT_EQ(ProcPidCgroupPath("4:cpu,memory:/x/y\n"), "x/y");
  EXPECT_EQ(ProcPidCgroupPath("0::/system.slice/sshd.service\n"), "system.slice/sshd.service");
  EXPECT_EQ(ProcPidCgroupPath("1:name=systemd:/user.slice\n"), "user.slice");
  EXPECT_EQ(ProcPidCgroupPath("0::/\n"), "");
  EXPECT_EQ(ProcPidCgroupPath(""), "");
  EXPECT_THROW(ProcPidCgroupPath("garbage\n"), ParseError);
  EXPECT_THROW(ProcPidCgroupPath("0::relative\n"), ParseError);
}

TEST(ProcessMatchers, DefaultGroupsByComm) {
  auto m = ProcessMatchers::Default();
  EXPECT_EQ(MatchOf(m, "bash", "/bin/bash", "bash -l"), "bash");
}

TEST(ProcessMatchers, FirstMatchWinsWithTemplates) {
  auto m = FromText(R"(
- name: "vm:{{.Matches.vm}}"
  comm: [qemu-system-x86]
  cmdline: ['-name (?:guest=)?(?P<vm>[^, ]+)']
- name: "db"
  exe: [postgres, /usr/sbin/mysqld]
- name: "{{.ExeBase}}-{{.Matches.1}}"
  cmdline: ['--role=(\w+)']
- name: "other:{{.Comm}}"
)");
  EXPECT_EQ(MatchOf(m, "qemu-system-x86", "/usr/bin/qemu-system-x86_64",
                    "qemu-system-x86_64 -name guest=web1,debug-threads=on -m 1G"),
            "vm:web1");
  EXPECT_EQ(MatchOf(m, "postgres", "/usr/lib/postgresql/15/bin/postgres", "postgres -D x"), "db");
  EXPECT_EQ(MatchOf(m, "mysqld", "/usr/sbin/mysqld", "mysqld"), "db");
  EXPECT_EQ(MatchOf(m, "mysqld", "/opt/mysqld", "mysqld"), "other:mysqld");  // full path differs
  EXPECT_EQ(MatchOf(m, "python3", "/usr/bin/python3.11", "python3 app.py --role=worker"),
            "python3.11-worker");
  EXPECT_EQ(MatchOf(m, "qemu-system-x86", "/usr/bin/qemu", "qemu -m 1G"), "other:qemu-system-x86");
}

TEST(ProcessMatchers, UnmatchedIsNotCounted) {
  auto m = FromText("- name: sshd\n  comm: sshd\n");
  EXPECT_EQ(MatchOf(m, "bash", "", ""), "");
}

TEST(ProcessMatchers, NamedGroupsStripped) {
  std::map<std::string, std::size_t> names;
  EXPECT_EQ(StripNamedGroups(R"((?:a)(?P<x>b)[(](?<y>c)\(d)", &names), R"((?:a)(b)[(](c)\(d)");
  EXPECT_EQ(names["x"], 1u);
  EXPECT_EQ(names["y"], 2u);
}

TEST(ProcessMatchers, NumaLocalityConfigErrors) {
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    numa_locality:\n      - group: db\n"
                          "        devices: [nic0]\n"),
              HasSubstr("test.yml:5:"));
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    numa_locality:\n      - group: db\n"
                          "        threads: '('\n"),
              HasSubstr("bad threads pattern"));
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    numa_locality:\n      - devices: []\n"),
              HasSubstr("needs a group"));
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    numa_locality:\n      - group: a\n"
                          "      - group: a\n"),
              HasSubstr("listed twice"));
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    numa_locality:\n      - group: a\n"
                          "        nodes: 1\n"),
              HasSubstr("unknown key"));
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    numa_max_resident: big\n"),
              HasSubstr("numa_max_resident"));
}

TEST(ProcessMatchers, ConfigErrorsNameFileAndLine) {
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    groups:\n      - name: x\n"
                          "        bogus: 1\n"),
              HasSubstr("test.yml:5:"));
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    groups:\n      - comm: [a]\n"),
              HasSubstr("needs a name"));
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    groups:\n      - name: x\n"
                          "        cmdline: ['(']\n"),
              HasSubstr("test.yml:5:"));
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    groups:\n      - name: '{{.Nope}}'\n"),
              HasSubstr("unknown template variable"));
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    groups:\n      - name: "
                          "'{{.Matches.vm}}'\n        cmdline: ['(x)']\n"),
              HasSubstr("names no capture"));
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    smaps_max_resident: lots\n"),
              HasSubstr("smaps_max_resident"));
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    max_groups: -1\n"),
              HasSubstr("max_groups"));
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    idle_timeout: soon\n"),
              HasSubstr("idle_timeout"));
  EXPECT_THAT(ConfigError("collectors:\n  processes:\n    groups:\n      - name: '(other "
                          "processes)'\n"),
              HasSubstr("overflow group"));
}

TEST(ProcessDuration, ParsesUnits) {
  EXPECT_EQ(ParseDurationText("10m"), std::chrono::seconds(600));
  EXPECT_EQ(ParseDurationText("1h"), std::chrono::seconds(3600));
  EXPECT_EQ(ParseDurationText("90s"), std::chrono::seconds(90));
  EXPECT_EQ(ParseDurationText("0"), std::chrono::seconds(0));
  EXPECT_EQ(ParseDurationText("5"), std::nullopt);
  EXPECT_EQ(ParseDurationText("m"), std::nullopt);
  EXPECT_EQ(ParseDurationText("1w"), std::nullopt);
}

class ProcTree {
 public:
  ProcTree() {
    root_ = std::filesystem::temp_directory_path() /
            ("pagescope-proctree-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(root_ / "proc");
  }
  ~ProcTree() { std::filesystem::remove_all(root_); }
  void Add(int pid, const std::string& comm, std::uint64_t minflt, std::uint64_t majflt,
           std::uint64_t starttime = 100, std::uint64_t rss_pages = 10) {
    auto d = root_ / "proc" / std::to_string(pid);
    std::filesystem::create_directories(d);
    std::ofstream(d / "stat") << pid << " (" << comm << ") S 1 1 1 0 -1 4194560 " << minflt << " 0 "
                              << majflt << " 0 1 1 0 0 20 0 1 0 " << starttime << " 1000000 "
                              << rss_pages
                              << " 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 "
                                 "0 0 0 0 0 0\n";
    std::ofstream(d / "status") << "Name:\t" << comm << "\nVmRSS:\t40 kB\nVmSwap:\t4 kB\n"
                                << "HugetlbPages:\t0 kB\n";
  }
  void AddSmaps(int pid, std::uint64_t anon_huge_kb) {
    std::ofstream(root_ / "proc" / std::to_string(pid) / "smaps_rollup")
        << "00400000-7fff00000000 ---p 00000000 00:00 0   [rollup]\nRss:  40 kB\n"
        << "AnonHugePages:  " << anon_huge_kb << " kB\n";
  }
  // Rewrites status with these figures (kB), leaving stat as it is.
  void SetStatus(int pid, const std::string& comm, std::uint64_t swap_kb, std::uint64_t hugetlb_kb,
                 std::uint64_t lck_kb) {
    std::ofstream(root_ / "proc" / std::to_string(pid) / "status")
        << "Name:\t" << comm << "\nVmLck:\t" << lck_kb << " kB\nVmPin:\t0 kB\nVmRSS:\t40 kB\n"
        << "VmSwap:\t" << swap_kb << " kB\nHugetlbPages:\t" << hugetlb_kb << " kB\n";
  }
  void Remove(int pid) { std::filesystem::remove_all(root_ / "proc" / std::to_string(pid)); }
  const std::filesystem::path& root() const { return root_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path root_;
};

double Sample(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
              const std::string& group) {
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      for (const auto& l : m.label) {
        if (l.name == "group" && l.value == group) {
          return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
        }
      }
    }
  }
  return -1;
}

TEST(ProcessCarryOver, ExitedProcessKeepsItsFaultsInTheGroup) {
  ProcTree tree;
  tree.Add(10, "worker", 1000, 5);
  tree.Add(11, "worker", 300, 1);
  tree.Add(12, "other", 7, 0);
  Scraper scraper(TreeConfig(tree.root(), ""));
  auto first = scraper.Scrape();
  EXPECT_EQ(Sample(first, "pagescope_process_minor_faults_total", "worker"), 1300);
  EXPECT_EQ(Sample(first, "pagescope_process_major_faults_total", "worker"), 6);
  EXPECT_EQ(Sample(first, "pagescope_process_num_procs", "worker"), 2);

  // 10 exits, 11 keeps faulting, a new worker starts.
  tree.Remove(10);
  tree.Add(11, "worker", 350, 1);
  tree.Add(13, "worker", 20, 0);
  auto second = scraper.Scrape();
  EXPECT_EQ(Sample(second, "pagescope_process_minor_faults_total", "worker"), 1000 + 350 + 20);
  EXPECT_EQ(Sample(second, "pagescope_process_major_faults_total", "worker"), 6);
  EXPECT_EQ(Sample(second, "pagescope_process_num_procs", "worker"), 2);

  // pid 11 is reused by a new process (another start time): the old one's faults stay.
  tree.Add(11, "worker", 2, 0, /*starttime=*/500);
  tree.Remove(13);
  tree.Remove(12);
  auto third = scraper.Scrape();
  EXPECT_EQ(Sample(third, "pagescope_process_minor_faults_total", "worker"), 1000 + 350 + 20 + 2);
  EXPECT_EQ(Sample(third, "pagescope_process_num_procs", "worker"), 1);
  // A group whose processes all exited keeps its counters, with no processes.
  EXPECT_EQ(Sample(third, "pagescope_process_minor_faults_total", "other"), 7);
  EXPECT_EQ(Sample(third, "pagescope_process_num_procs", "other"), 0);
}

TEST(ProcessCarryOver, ExecIntoAnotherGroupKeepsCountsWhereTheyWere) {
  ProcTree tree;
  tree.Add(20, "sh", 500, 0);
  Scraper scraper(TreeConfig(tree.root(), ""));
  scraper.Scrape();
  tree.Add(20, "make", 600, 0);  // same pid and start time, new comm: exec
  auto after = scraper.Scrape();
  EXPECT_EQ(Sample(after, "pagescope_process_minor_faults_total", "sh"), 500);
  EXPECT_EQ(Sample(after, "pagescope_process_minor_faults_total", "make"), 0);
  tree.Add(20, "make", 650, 0);
  EXPECT_EQ(Sample(scraper.Scrape(), "pagescope_process_minor_faults_total", "make"), 50);
}

// pagescope_scrape_walks_total{collector="processes",file,result}; -1 when absent.
double Walks(const std::vector<prometheus::MetricFamily>& families, const std::string& file,
             const std::string& result) {
  for (const auto& f : families) {
    if (f.name != "pagescope_scrape_walks_total") continue;
    for (const auto& m : f.metric) {
      std::map<std::string, std::string> l;
      for (const auto& p : m.label) l[p.name] = p.value;
      if (l["collector"] == "processes" && l["file"] == file && l["result"] == result) {
        return m.counter.value;
      }
    }
  }
  return -1;
}

TEST(ProcessSmaps, WalkRuleSkipsLargeProcessesAndCache) {
  ProcTree tree;
  tree.Add(30, "small", 1, 0);  // rss 10 pages
  tree.AddSmaps(30, 2048);
  // 31 holds 1,000,000 resident pages: a walk estimated far above walk_max_ms (25 ms; 260 ns a
  // page); 32 holds 1,000 pages (4 MB): within it, but above the deprecated smaps_max_resident.
  tree.Add(31, "big", 1, 0, 100, 1000000);
  tree.AddSmaps(31, 4096);
  tree.Add(32, "middle", 1, 0, 100, 1000);
  tree.AddSmaps(32, 1024);
  Scraper scraper(TreeConfig(tree.root(),
                             "collectors:\n  processes:\n    smaps: true\n"
                             "    smaps_max_resident: 1MiB\n"));
  auto first = scraper.Scrape();
  EXPECT_EQ(Sample(first, "pagescope_process_anon_huge_pages_bytes", "small"), 2048 * 1024);
  EXPECT_EQ(Sample(first, "pagescope_process_anon_huge_pages_bytes", "big"), 0);
  EXPECT_EQ(Sample(first, "pagescope_process_anon_huge_pages_bytes", "middle"), 0);
  EXPECT_EQ(Walks(first, "smaps_rollup", "done"), 1);
  EXPECT_EQ(Walks(first, "smaps_rollup", "skipped"), 2);
  EXPECT_EQ(Walks(first, "smaps_rollup", "cached"), 0);
  tree.AddSmaps(30, 4096);  // changed, but read again only after the minimum interval
  auto second = scraper.Scrape();
  EXPECT_EQ(Sample(second, "pagescope_process_anon_huge_pages_bytes", "small"), 2048 * 1024);
  EXPECT_EQ(Walks(second, "smaps_rollup", "cached"), 1);
  EXPECT_EQ(Walks(second, "smaps_rollup", "done"), 1);
  EXPECT_EQ(Walks(second, "smaps_rollup", "skipped"), 4);
}

double Plain(const std::vector<prometheus::MetricFamily>& families, const std::string& name) {
  for (const auto& f : families) {
    if (f.name != name || f.metric.empty()) continue;
    const auto& m = f.metric[0];
    return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
  }
  return -1;
}

// The place policy on its own, with a clock the test moves.
using TP = GroupPlaces::Clock::time_point;
TP At(int seconds) { return TP(std::chrono::seconds(seconds)); }

TEST(GroupPlaces, FirstScrapeGivesPlacesByResidentThenName) {
  GroupPlaces p(2, std::chrono::hours(1));
  p.Update({{"small", 10}, {"big", 1000}, {"mid", 100}, {"mid2", 100}}, At(0));
  EXPECT_TRUE(p.Placed("big"));
  EXPECT_TRUE(p.Placed("mid"));  // ties go by name
  EXPECT_FALSE(p.Placed("mid2"));
  EXPECT_FALSE(p.Placed("small"));
  EXPECT_EQ(p.folded(), 2u);
  EXPECT_EQ(p.size(), 2u);
}

TEST(GroupPlaces, AGroupKeepsItsPlaceWhateverItsSize) {
  GroupPlaces p(2, std::chrono::hours(1));
  p.Update({{"a", 10}, {"b", 20}}, At(0));
  // c is now far larger than both: it still waits, scrape after scrape; nobody flips.
  for (int i = 1; i < 50; ++i) {
    p.Update({{"a", 1}, {"b", 1}, {"c", 1u << 30}}, At(15 * i));
    ASSERT_TRUE(p.Placed("a"));
    ASSERT_TRUE(p.Placed("b"));
    ASSERT_FALSE(p.Placed("c"));
  }
}

TEST(GroupPlaces, FreedPlaceGoesToTheFirstWaitingGroup) {
  GroupPlaces p(1, std::chrono::minutes(10));
  p.Update({{"a", 10}}, At(0));
  p.Update({{"a", 10}, {"early", 1}}, At(15));
  p.Update({{"a", 10}, {"early", 1}, {"late", 1000}}, At(30));
  // a has no process: it keeps its place for the idle time, then goes.
  p.Update({{"early", 1}, {"late", 1000}}, At(45));
  EXPECT_TRUE(p.Placed("a"));
  EXPECT_TRUE(p.dropped().empty());
  p.Update({{"early", 1}, {"late", 1000}}, At(30 + 599));
  EXPECT_TRUE(p.Placed("a"));
  p.Update({{"early", 1}, {"late", 1000}}, At(30 + 600));
  EXPECT_FALSE(p.Placed("a"));
  EXPECT_EQ(p.dropped(), std::vector<std::string>{"a"});
  EXPECT_TRUE(p.Placed("early"));  // first come, although late is larger
  EXPECT_FALSE(p.Placed("late"));
  EXPECT_EQ(p.folded(), 1u);
}

TEST(GroupPlaces, IdleGroupsDropWithoutALimitAndNeverWithZero) {
  GroupPlaces p(0, std::chrono::hours(1));
  p.Update({{"cron", 1}, {"sshd", 1}}, At(0));
  p.Update({{"sshd", 1}}, At(3599));
  EXPECT_TRUE(p.Placed("cron"));
  p.Update({{"sshd", 1}}, At(3600));
  EXPECT_FALSE(p.Placed("cron"));
  EXPECT_TRUE(p.Placed("sshd"));
  GroupPlaces never(0, std::chrono::seconds(0));
  never.Update({{"cron", 1}}, At(0));
  never.Update({}, At(1000000));
  EXPECT_TRUE(never.Placed("cron"));
}

// The collector with an injected clock: folding, counters, idle drop, a later place.
class GroupedCollector {
 public:
  explicit GroupedCollector(const std::string& yaml) {
    CommandLine cl;
    cl.values["collectors.disable_defaults"] = {"true"};
    cl.values["collectors.processes.enabled"] = {"true"};
    Config c = LoadConfigFromText(cl, yaml, "test.yml");
    CollectorOptions o("collectors.processes", c.collectors.at("processes").options);
    collector_ = MakeProcessesCollector(o, [this] { return now; });
  }
  std::vector<prometheus::MetricFamily> Run(const ProcTree& tree) {
    FsRoot fs(tree.root() / "proc", tree.root() / "sys", tree.root());
    Context ctx(fs, limiter_);
    MetricSink out;
    collector_->Collect(ctx, out);
    return out.Take();
  }
  TP now = At(0);

 private:
  std::unique_ptr<Collector> collector_;
  log::RateLimiter limiter_{std::chrono::minutes(1)};
};

const std::string kOther(kOverflowGroup);

TEST(ProcessGroupsBounded, FoldsBeyondMaxGroupsAndCountsIt) {
  ProcTree tree;
  tree.Add(1, "big", 100, 1, 100, 5000);
  tree.Add(2, "mid", 200, 2, 100, 500);
  tree.Add(3, "small", 300, 3, 100, 5);
  tree.Add(4, "tiny", 400, 4, 100, 1);
  GroupedCollector c("collectors:\n  processes:\n    max_groups: 2\n    idle_timeout: 10m\n");
  auto s = c.Run(tree);
  EXPECT_EQ(Sample(s, "pagescope_process_num_procs", "big"), 1);
  EXPECT_EQ(Sample(s, "pagescope_process_num_procs", "mid"), 1);
  EXPECT_EQ(Sample(s, "pagescope_process_num_procs", "small"), -1);  // no series of its own
  EXPECT_EQ(Sample(s, "pagescope_process_num_procs", kOther), 2);
  EXPECT_EQ(Sample(s, "pagescope_process_minor_faults_total", kOther), 700);
  EXPECT_EQ(Plain(s, "pagescope_process_folded_processes_total"), 2);
  EXPECT_EQ(Plain(s, "pagescope_process_groups_dropped_total"), 0);

  // big exits; 10 minutes later it is dropped and small (first of the waiting by size) moves
  // out of the overflow. The overflow keeps what small counted there; small counts from now.
  tree.Remove(1);
  c.now = At(15);
  s = c.Run(tree);
  EXPECT_EQ(Sample(s, "pagescope_process_num_procs", "big"), 0);
  EXPECT_EQ(Sample(s, "pagescope_process_minor_faults_total", "big"), 100);
  tree.Add(3, "small", 350, 3, 100, 5);
  c.now = At(15 + 600);
  s = c.Run(tree);
  EXPECT_EQ(Sample(s, "pagescope_process_num_procs", "big"), -1);
  EXPECT_EQ(Plain(s, "pagescope_process_groups_dropped_total"), 1);
  EXPECT_EQ(Sample(s, "pagescope_process_num_procs", "small"), 1);
  EXPECT_EQ(Sample(s, "pagescope_process_minor_faults_total", "small"), 0);
  EXPECT_EQ(Sample(s, "pagescope_process_num_procs", kOther), 1);
  EXPECT_EQ(Sample(s, "pagescope_process_minor_faults_total", kOther), 750);  // 350 + 400
  tree.Add(3, "small", 360, 3, 100, 5);
  tree.Add(4, "tiny", 410, 4, 100, 1);
  c.now = At(630);
  s = c.Run(tree);
  EXPECT_EQ(Sample(s, "pagescope_process_minor_faults_total", "small"), 10);
  EXPECT_EQ(Sample(s, "pagescope_process_minor_faults_total", kOther), 760);

  // big comes back: a new series from 0 (it waits: no place is free).
  tree.Add(5, "big", 7, 0, 900, 5000);
  c.now = At(645);
  s = c.Run(tree);
  EXPECT_EQ(Sample(s, "pagescope_process_num_procs", "big"), -1);
  EXPECT_EQ(Sample(s, "pagescope_process_num_procs", kOther), 2);
  EXPECT_EQ(Sample(s, "pagescope_process_minor_faults_total", kOther), 767);
  EXPECT_EQ(Plain(s, "pagescope_process_folded_processes_total"), 3);
  EXPECT_EQ(Plain(s, "pagescope_process_folded_groups"), 2);
  EXPECT_EQ(Plain(s, "pagescope_process_groups"), 2);
}

TEST(ProcessGroupsBounded, IdleGroupIsDroppedAndComesBackFromZero) {
  ProcTree tree;
  tree.Add(1, "sshd", 10, 0);
  tree.Add(2, "cron-job", 500, 0);
  GroupedCollector c("collectors:\n  processes:\n    idle_timeout: 1h\n");
  c.Run(tree);
  tree.Remove(2);
  c.now = At(60);
  auto s = c.Run(tree);
  EXPECT_EQ(Sample(s, "pagescope_process_minor_faults_total", "cron-job"), 500);
  // Last seen with a process at 0: kept for the hour, then dropped.
  c.now = At(3599);
  s = c.Run(tree);
  EXPECT_EQ(Sample(s, "pagescope_process_num_procs", "cron-job"), 0);
  c.now = At(3600);
  s = c.Run(tree);
  EXPECT_EQ(Sample(s, "pagescope_process_num_procs", "cron-job"), -1);
  EXPECT_EQ(Sample(s, "pagescope_process_num_procs", "sshd"), 1);
  tree.Add(3, "cron-job", 20, 0, 7000);
  c.now = At(7200);
  s = c.Run(tree);
  EXPECT_EQ(Sample(s, "pagescope_process_minor_faults_total", "cron-job"), 20);
}

TEST(ProcessGroupsBounded, DroppedWhenScrapesAreFurtherApartThanTheIdleTime) {
  // The last process exits between two scrapes further apart than idle_timeout: the group goes
  // at once and does not come back from what its process had counted.
  ProcTree tree;
  tree.Add(1, "sshd", 10, 0);
  tree.Add(2, "job", 500, 0);
  GroupedCollector c("collectors:\n  processes:\n    idle_timeout: 10s\n");
  c.Run(tree);
  tree.Remove(2);
  c.now = At(20);
  auto s = c.Run(tree);
  EXPECT_EQ(Sample(s, "pagescope_process_num_procs", "job"), -1);
  EXPECT_EQ(Sample(s, "pagescope_process_minor_faults_total", "job"), -1);
  c.now = At(40);
  s = c.Run(tree);
  EXPECT_EQ(Sample(s, "pagescope_process_minor_faults_total", "job"), -1);
  EXPECT_EQ(Plain(s, "pagescope_process_groups"), 1);
}

TEST(ProcessGroupsBounded, ManyOneOffNamesStayBounded) {
  ProcTree tree;
  GroupedCollector c("collectors:\n  processes:\n    max_groups: 5\n    idle_timeout: 1m\n");
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < 20; ++i) {
      int pid = 1000 + round * 20 + i;
      tree.Add(pid, "job" + std::to_string(round * 20 + i), 1, 0, 100 + round);
    }
    c.now = At(round * 30);
    auto s = c.Run(tree);
    std::size_t groups = 0;
    for (const auto& f : s) {
      if (f.name == "pagescope_process_num_procs") groups = f.metric.size();
    }
    ASSERT_LE(groups, 6u) << "round " << round;
    for (int i = 0; i < 20; ++i) tree.Remove(1000 + round * 20 + i);
  }
}

}  // namespace
}  // namespace pagescope

namespace pagescope {
namespace {

// From 1,000 processes on the walk is split among threads (one per CPU, at most 4): every
// process is still seen once, with its own figures.
TEST(ProcessScan, SplitWalkSeesEveryProcessOnce) {
  ProcTree tree;
  const int n = 2500;
  std::uint64_t minflt = 0;
  for (int pid = 100; pid < 100 + n; ++pid) {
    tree.Add(pid, pid % 2 == 0 ? "even" : "odd", static_cast<std::uint64_t>(pid), 1);
    minflt += static_cast<std::uint64_t>(pid);
  }
  Scraper scraper(TreeConfig(tree.root(), ""));
  auto got = scraper.Scrape();
  EXPECT_EQ(Sample(got, "pagescope_process_num_procs", "even") +
                Sample(got, "pagescope_process_num_procs", "odd"),
            n);
  EXPECT_EQ(Sample(got, "pagescope_process_minor_faults_total", "even") +
                Sample(got, "pagescope_process_minor_faults_total", "odd"),
            static_cast<double>(minflt));
  EXPECT_EQ(Sample(got, "pagescope_process_major_faults_total", "odd"), n / 2);
}

// The status interval (collectors.processes.status_interval_seconds): status of a process
// whose stat text is unchanged is reused while younger than the interval.
class StatusWalk {
 public:
  explicit StatusWalk(int interval_seconds)
      : cache_(std::chrono::seconds(interval_seconds), [this] { return now; }) {}
  ProcessTable Walk(const ProcTree& tree) {
    FsRoot fs(tree.root() / "proc", tree.root() / "sys", tree.root());
    Context ctx(fs, limiter_);
    ProcessTable t;
    WalkProcfs(ctx, t, &cache_);
    return t;
  }
  const StatusCache& cache() const { return cache_; }
  StatusCache::Clock::time_point now{};

 private:
  StatusCache cache_;
  log::RateLimiter limiter_{std::chrono::minutes(1)};
};

std::uint64_t SwapOf(const ProcessTable& t, int pid) {
  for (const auto& p : t.processes) {
    if (p.pid == pid) return p.status.vm_swap.value_or(~0ull);
  }
  return ~0ull;
}

TEST(StatusInterval, UnchangedStatReusesStatusUntilTheInterval) {
  ProcTree tree;
  tree.Add(10, "idle", 5, 0);
  tree.SetStatus(10, "idle", 8, 2048, 4);
  StatusWalk w(60);
  w.now = StatusCache::Clock::time_point(std::chrono::seconds(1000));
  auto first = w.Walk(tree);
  EXPECT_EQ(SwapOf(first, 10), 8u * 1024);
  EXPECT_EQ(w.cache().read(), 1u);
  // status changes behind an unchanged stat (as an mlock by a process that then sleeps).
  tree.SetStatus(10, "idle", 16, 4096, 8);
  w.now += std::chrono::seconds(59);
  auto second = w.Walk(tree);
  EXPECT_EQ(w.cache().reused(), 1u);
  EXPECT_EQ(w.cache().read(), 0u);
  ASSERT_EQ(second.processes.size(), 1u);
  const ProcessEntry& p = second.processes[0];
  EXPECT_TRUE(p.has_status);
  EXPECT_EQ(p.status.vm_swap, 8u * 1024);
  EXPECT_EQ(p.status.hugetlb_pages, 2048u * 1024);
  EXPECT_EQ(p.status.vm_lck, 4u * 1024);
  EXPECT_EQ(p.status.vm_pin, 0u);
  EXPECT_FALSE(p.status.vm_rss.has_value());  // not kept (no collector uses it)
  // At the interval it is read again.
  w.now += std::chrono::seconds(1);
  auto third = w.Walk(tree);
  EXPECT_EQ(w.cache().read(), 1u);
  EXPECT_EQ(SwapOf(third, 10), 16u * 1024);
  EXPECT_EQ(third.processes[0].status.vm_lck, 8u * 1024);
}

TEST(StatusInterval, ChangedStatReadsStatusAgain) {
  ProcTree tree;
  tree.Add(10, "busy", 5, 0);
  tree.Add(11, "idle", 5, 0);
  StatusWalk w(60);
  w.Walk(tree);
  EXPECT_EQ(w.cache().read(), 2u);
  tree.Add(10, "busy", 6, 0);  // a fault: stat differs
  tree.SetStatus(10, "busy", 12, 0, 0);
  tree.SetStatus(11, "idle", 12, 0, 0);
  auto t = w.Walk(tree);
  EXPECT_EQ(w.cache().read(), 1u);
  EXPECT_EQ(w.cache().reused(), 1u);
  EXPECT_EQ(SwapOf(t, 10), 12u * 1024);
  EXPECT_EQ(SwapOf(t, 11), 4u * 1024);  // ProcTree::Add's status: VmSwap 4 kB
  // A process that went away and a new one with its pid and another start time.
  tree.Remove(11);
  tree.Add(11, "idle", 5, 0, 200);
  t = w.Walk(tree);
  EXPECT_EQ(w.cache().read(), 1u);
  EXPECT_EQ(SwapOf(t, 11), 4u * 1024);
}

TEST(StatusInterval, ZeroReadsEveryScrape) {
  ProcTree tree;
  tree.Add(10, "idle", 5, 0);
  StatusWalk w(0);
  w.Walk(tree);
  tree.SetStatus(10, "idle", 16, 0, 0);
  auto t = w.Walk(tree);
  EXPECT_EQ(SwapOf(t, 10), 16u * 1024);
  EXPECT_EQ(w.cache().reused(), 0u);
}

// Through the collector's options: the default interval (60 s) and 0, with its injected clock.
TEST(StatusInterval, CollectorOption) {
  ProcTree tree;
  tree.Add(10, "idle", 5, 0);
  GroupedCollector def("");
  GroupedCollector every("collectors:\n  processes:\n    status_interval_seconds: 0\n");
  EXPECT_EQ(Sample(def.Run(tree), "pagescope_process_swap_bytes", "idle"), 4096);
  EXPECT_EQ(Sample(every.Run(tree), "pagescope_process_swap_bytes", "idle"), 4096);
  tree.SetStatus(10, "idle", 16, 0, 0);
  def.now = At(30);
  every.now = At(30);
  EXPECT_EQ(Sample(def.Run(tree), "pagescope_process_swap_bytes", "idle"), 4096);
  EXPECT_EQ(Sample(every.Run(tree), "pagescope_process_swap_bytes", "idle"), 16384);
  def.now = At(60);
  EXPECT_EQ(Sample(def.Run(tree), "pagescope_process_swap_bytes", "idle"), 16384);
}

TEST(ProcessSourceOption, BadValuesNameTheOption) {
  auto error = [](const std::string& yaml) {
    try {
      GroupedCollector c(yaml);
    } catch (const pagescope::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_THAT(error("collectors:\n  processes:\n    source: ebpf\n"),
              ::testing::AllOf(::testing::HasSubstr("collectors.processes.source"),
                               ::testing::HasSubstr("expected procfs or bpf")));
  EXPECT_THAT(error("collectors:\n  processes:\n    status_interval_seconds: -1\n"),
              ::testing::HasSubstr("status_interval_seconds"));
}

}  // namespace
}  // namespace pagescope
