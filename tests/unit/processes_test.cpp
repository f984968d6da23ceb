// Process grouping (matchers, templates, config errors) and fault counters carried over when
// processes exit, on a process tree written to a temporary directory.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <fstream>
#include <sstream>

#include "collectors/proc_processes.h"
#include "exporter/config.h"
#include "exporter/errors.h"
#include "exporter/scraper.h"
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
           std::uint64_t starttime = 100) {
    auto d = root_ / "proc" / std::to_string(pid);
    std::filesystem::create_directories(d);
    std::ofstream(d / "stat") << pid << " (" << comm << ") S 1 1 1 0 -1 4194560 " << minflt << " 0 "
                              << majflt << " 0 1 1 0 0 20 0 1 0 " << starttime
                              << " 1000000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 "
                                 "0 0 0 0 0 0\n";
    std::ofstream(d / "status") << "Name:\t" << comm << "\nVmRSS:\t40 kB\nVmSwap:\t4 kB\n"
                                << "HugetlbPages:\t0 kB\n";
  }
  void AddSmaps(int pid, std::uint64_t anon_huge_kb) {
    std::ofstream(root_ / "proc" / std::to_string(pid) / "smaps_rollup")
        << "00400000-7fff00000000 ---p 00000000 00:00 0   [rollup]\nRss:  40 kB\n"
        << "AnonHugePages:  " << anon_huge_kb << " kB\n";
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

double Unlabelled(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
                  const std::string& reason = "") {
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      if (!reason.empty() && (m.label.empty() || m.label[0].value != reason)) continue;
      return m.counter.value;
    }
  }
  return -1;
}

TEST(ProcessSmaps, GuardsSkipLargeProcessesAndCache) {
  ProcTree tree;
  tree.Add(30, "small", 1, 0);  // rss 10 pages
  tree.AddSmaps(30, 2048);
  tree.Add(31, "big", 1, 0);
  tree.AddSmaps(31, 4096);
  // Make 31 large: rewrite its stat with 100000 resident pages.
  {
    std::ofstream(tree.root() / "proc" / "31" / "stat")
        << "31 (big) S 1 1 1 0 -1 4194560 1 0 0 0 1 1 0 0 20 0 1 0 100 1000000 100000 "
           "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
  }
  Scraper scraper(TreeConfig(tree.root(),
                             "collectors:\n  processes:\n    smaps: true\n"
                             "    smaps_max_resident: 1MiB\n"));
  auto first = scraper.Scrape();
  EXPECT_EQ(Sample(first, "pagescope_process_anon_huge_pages_bytes", "small"), 2048 * 1024);
  EXPECT_EQ(Sample(first, "pagescope_process_anon_huge_pages_bytes", "big"), 0);
  EXPECT_EQ(Unlabelled(first, "pagescope_process_smaps_reads_total"), 1);
  EXPECT_EQ(Unlabelled(first, "pagescope_process_smaps_skipped_total", "resident_limit"), 1);
  tree.AddSmaps(30, 4096);  // changed, but read again only after the minimum interval
  auto second = scraper.Scrape();
  EXPECT_EQ(Sample(second, "pagescope_process_anon_huge_pages_bytes", "small"), 2048 * 1024);
  EXPECT_EQ(Unlabelled(second, "pagescope_process_smaps_cached_total"), 1);
  EXPECT_EQ(Unlabelled(second, "pagescope_process_smaps_reads_total"), 1);
}

}  // namespace
}  // namespace pagescope
