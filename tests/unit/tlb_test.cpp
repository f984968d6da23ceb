// The tlb collector on a fake perf backend and a process tree written to a temporary directory:
// selection, following threads, carry-over when processes exit, multiplexing, unavailable
// events, the counter bound, option errors.

#include "collectors/tlb.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/perf_event.h>
#include <prometheus/text_serializer.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "collectors/registry.h"
#include "exporter/config.h"
#include "exporter/scraper.h"
#include "framework/errors.h"
#include "test_util.h"

namespace pagescope {
namespace {

using ::testing::HasSubstr;

class FakePerf : public PerfBackend {
 public:
  struct Handle {
    int tid;
    std::vector<PerfEventSpec> events;
    PerfOpenOptions options;
    std::vector<PerfCount> counts;  // a new counter starts at zero
  };
  // Probes run on tid 0: errno per event name, for groups, for inherit_thread.
  std::map<std::string, int> probe_errno;
  int group_errno = 0;
  bool no_inherit_thread = false;
  bool privileged = true;        // CAP_PERFMON or CAP_SYS_ADMIN
  std::map<int, int> tid_errno;  // perf_event_open refused for these threads
  std::map<int, Handle> open;    // handle -> what it counts (not the probes)
  std::vector<int> opened_tids;  // every thread opened, in order
  int next = 0;

  int Open(int tid, const std::vector<PerfEventSpec>& events,
           const PerfOpenOptions& options) override {
    if (no_inherit_thread && options.inherit_thread) return -EINVAL;
    if (tid == 0) {
      for (const auto& e : events) {
        auto it = probe_errno.find(e.name);
        if (it != probe_errno.end()) return -it->second;
      }
      if (events.size() > 1 && options.group && group_errno) {
        // The real backend would fall back to separate counters and hide the refusal.
        EXPECT_FALSE(options.group_fallback) << "the probe must see a group refused";
        return -group_errno;
      }
      return 1000000 + next++;  // a probe: closed right away
    }
    if (tid_errno.count(tid)) return -tid_errno[tid];
    int h = next++;
    open[h] = Handle{tid, events, options, {}};
    opened_tids.push_back(tid);
    return h;
  }
  bool Read(int handle, std::vector<PerfCount>* out) override {
    auto it = open.find(handle);
    if (it == open.end()) return false;
    auto c = it->second.counts;
    c.resize(it->second.events.size());
    *out = c;
    return true;
  }
  void Close(int handle) override { open.erase(handle); }
  bool Privileged() override { return privileged; }

  // The open counters of thread `tid` have counted `value` for every event, over `enabled` ns
  // of which `running` on the PMU.
  void Set(int tid, std::uint64_t value, std::uint64_t enabled = 100, std::uint64_t running = 100) {
    for (auto& [h, o] : open) {
      if (o.tid == tid) o.counts.assign(o.events.size(), PerfCount{value, enabled, running});
    }
  }
  bool IsOpen(int tid) const {
    for (const auto& [h, o] : open) {
      if (o.tid == tid) return true;
    }
    return false;
  }
};

class Tree {
 public:
  Tree() {
    root_ = std::filesystem::temp_directory_path() /
            ("pagescope-tlbtree-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(root_ / "proc" / "sys" / "kernel");
    std::filesystem::create_directories(root_ / "sys");
    Write("proc/sys/kernel/perf_event_paranoid", "2\n");
  }
  ~Tree() { std::filesystem::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text) {
    std::filesystem::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  // A process with `rss_pages` resident pages and these thread ids (the first is the pid).
  void Add(int pid, const std::string& comm, std::uint64_t rss_pages, std::vector<int> tids = {},
           const std::string& cmdline = "", std::uint64_t starttime = 100) {
    auto d = "proc/" + std::to_string(pid);
    std::filesystem::remove_all(root_ / d / "task");
    Write(d + "/stat", std::to_string(pid) + " (" + comm +
                           ") S 1 1 1 0 -1 4194560 0 0 0 0 1 1 0 0 20 0 1 0 " +
                           std::to_string(starttime) + " 1000000 " + std::to_string(rss_pages) +
                           " 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n");
    Write(d + "/status", "Name:\t" + comm + "\nVmRSS:\t40 kB\n");
    std::string args = cmdline.empty() ? comm : cmdline;
    for (auto& c : args) {
      if (c == ' ') c = '\0';
    }
    Write(d + "/cmdline", args + std::string(1, '\0'));
    if (tids.empty()) tids = {pid};
    for (int t : tids) std::filesystem::create_directories(root_ / d / "task" / std::to_string(t));
  }
  void AddThread(int pid, int tid) {
    std::filesystem::create_directories(root_ / "proc" / std::to_string(pid) / "task" /
                                        std::to_string(tid));
  }
  void RemoveThread(int pid, int tid) {
    std::filesystem::remove_all(root_ / "proc" / std::to_string(pid) / "task" /
                                std::to_string(tid));
  }
  void Remove(int pid) { std::filesystem::remove_all(root_ / "proc" / std::to_string(pid)); }
  FsRoot fs() const { return FsRoot(root_ / "proc", root_ / "sys", root_); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path root_;
};

TlbSettings Settings(const std::string& yaml = "") {
  CommandLine cl;
  cl.values["collectors.disable_defaults"] = {"true"};
  cl.values["collectors.tlb.enabled"] = {"true"};
  Config c = LoadConfigFromText(cl, yaml, yaml.empty() ? "" : "test.yml");
  CollectorOptions o("collectors.tlb", c.collectors.at("tlb").options);
  return TlbSettingsFromOptions(o);
}

struct Scrape {
  std::vector<prometheus::MetricFamily> families;
  std::vector<std::string> errors;

  // The value of the sample of `name` with label `label`=`value` (or unlabelled); -1 if none.
  double Get(const std::string& name, const std::string& label = "",
             const std::string& value = "") const {
    for (const auto& f : families) {
      if (f.name != name) continue;
      for (const auto& m : f.metric) {
        bool match = label.empty();
        for (const auto& l : m.label) {
          if (l.name == label && l.value == value) match = true;
        }
        if (!match) continue;
        return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
      }
    }
    return -1;
  }
  std::string Mode(const std::string& event) const {
    for (const auto& f : families) {
      if (f.name != "pagescope_tlb_event_status") continue;
      for (const auto& m : f.metric) {
        if (m.gauge.value != 1) continue;
        std::string ev, mode;
        for (const auto& l : m.label) {
          if (l.name == "event") ev = l.value;
          if (l.name == "mode") mode = l.value;
        }
        if (ev == event) return mode;
      }
    }
    return "";
  }
  bool Has(const std::string& name) const {
    for (const auto& f : families) {
      if (f.name == name) return true;
    }
    return false;
  }
};

class Harness {
 public:
  explicit Harness(TlbSettings s) : perf(std::make_shared<FakePerf>()) {
    collector = MakeTlbCollector(std::move(s), perf);
  }
  Scrape Run() {
    FsRoot fs = tree.fs();
    Context ctx(fs, limiter);
    MetricSink out;
    collector->Collect(ctx, out);
    Scrape s;
    s.errors = out.errors();
    s.families = out.Take();
    return s;
  }
  Tree tree;
  std::shared_ptr<FakePerf> perf;
  std::unique_ptr<Collector> collector;
  log::RateLimiter limiter{std::chrono::minutes(1)};
};

constexpr const char* kInstr = "pagescope_tlb_instructions_total";
constexpr const char* kDtlb = "pagescope_tlb_dtlb_load_misses_total";

TEST(Tlb, SelectsTopGroupsByResidentIncludedGroupsAndVms) {
  Harness h(Settings("collectors:\n  tlb:\n    top_groups: 2\n    include_groups: [tiny]\n"));
  h.tree.Add(10, "big", 5000, {10, 11, 12});
  h.tree.Add(20, "medium", 3000);
  h.tree.Add(21, "medium", 1000);
  h.tree.Add(30, "small", 100);
  h.tree.Add(40, "tiny", 1);
  h.tree.Add(50, "qemu-system-x86", 50, {50, 51},
             "qemu-system-x86_64 -name guest=web1,debug-threads=on -m 1024");
  auto s = h.Run();
  // Counters on every thread of big (3), medium (2), tiny and the guest (2); none on small.
  EXPECT_THAT(h.perf->opened_tids, ::testing::UnorderedElementsAre(10, 11, 12, 20, 21, 40, 50, 51));
  EXPECT_EQ(h.perf->open.size(), 8u);
  EXPECT_EQ(s.Get("pagescope_tlb_open_counters"), 8 * 4);
  EXPECT_EQ(s.Get("pagescope_tlb_counted_processes"), 5);
  EXPECT_EQ(s.Get(kInstr, "group", "big"), 0);
  EXPECT_EQ(s.Get(kInstr, "group", "small"), -1);
  EXPECT_EQ(s.Get(kInstr, "vm", "web1"), 0);
  // Inherit, but not into forked processes; one group per thread.
  const auto& o = h.perf->open.begin()->second.options;
  EXPECT_TRUE(o.inherit && o.inherit_thread && o.group);
  EXPECT_FALSE(o.exclude_kernel);

  h.perf->Set(10, 100);
  h.perf->Set(11, 20);
  h.perf->Set(20, 5);
  h.perf->Set(50, 7);
  h.perf->Set(51, 1000);
  s = h.Run();
  EXPECT_EQ(s.Get(kInstr, "group", "big"), 120);
  EXPECT_EQ(s.Get(kDtlb, "group", "medium"), 5);
  EXPECT_EQ(s.Get(kInstr, "vm", "web1"), 1007);
  // The guest is also a group of its own, below the top 2: counted once, as the VM.
  EXPECT_EQ(s.Get(kInstr, "group", "qemu-system-x86"), -1);
  EXPECT_TRUE(s.errors.empty());
}

TEST(Tlb, GroupOutOfTheTopStaysWithinTwiceTopThenStops) {
  Harness h(Settings("collectors:\n  tlb:\n    top_groups: 1\n    vms: false\n"));
  h.tree.Add(10, "a", 5000);
  h.tree.Add(20, "b", 100);
  h.tree.Add(30, "c", 50);
  h.Run();
  h.perf->Set(10, 30);
  EXPECT_EQ(h.Run().Get(kInstr, "group", "a"), 30);
  h.tree.Add(20, "b", 9000);  // b overtakes a: a is second, within 2 x top
  auto s = h.Run();
  EXPECT_TRUE(h.perf->IsOpen(10));
  EXPECT_TRUE(h.perf->IsOpen(20));
  h.tree.Add(30, "c", 7000);  // a is third: out
  h.perf->Set(10, 50);
  s = h.Run();
  EXPECT_FALSE(h.perf->IsOpen(10));
  EXPECT_EQ(s.Get(kInstr, "group", "a"), -1);
  // Back in the top: its counter continues from what it had counted (the last read included).
  h.tree.Add(10, "a", 99999);
  EXPECT_EQ(h.Run().Get(kInstr, "group", "a"), 50);
  h.perf->Set(10, 5);
  EXPECT_EQ(h.Run().Get(kInstr, "group", "a"), 55);
}

TEST(Tlb, ThreadsCreatedLaterAreCountedThroughInherit) {
  Harness h(Settings("collectors:\n  tlb:\n    vms: false\n"));
  h.tree.Add(10, "server", 100, {10, 11});
  h.Run();
  EXPECT_THAT(h.perf->opened_tids, ::testing::ElementsAre(10, 11));
  h.tree.AddThread(10, 12);  // created by a counted thread: its counter counts it
  h.perf->Set(10, 10);
  h.perf->Set(11, 10);
  auto s = h.Run();
  EXPECT_THAT(h.perf->opened_tids, ::testing::ElementsAre(10, 11));
  EXPECT_EQ(s.Get(kInstr, "group", "server"), 20);
  // A thread that exits keeps its counter open (threads it created may still run).
  h.tree.RemoveThread(10, 11);
  h.perf->Set(11, 15);
  s = h.Run();
  EXPECT_TRUE(h.perf->IsOpen(11));
  EXPECT_EQ(s.Get(kInstr, "group", "server"), 25);
}

TEST(Tlb, WithoutInheritThreadNewThreadsAreOpenedAtTheNextScrape) {
  Harness h(Settings("collectors:\n  tlb:\n    vms: false\n"));
  h.perf->no_inherit_thread = true;  // a kernel before 5.13
  h.tree.Add(10, "server", 100, {10, 11});
  h.Run();
  EXPECT_FALSE(h.perf->open.begin()->second.options.inherit);
  h.tree.AddThread(10, 12);
  h.perf->Set(11, 40);
  auto s = h.Run();
  EXPECT_THAT(h.perf->opened_tids, ::testing::ElementsAre(10, 11, 12));
  EXPECT_EQ(s.Get(kInstr, "group", "server"), 40);
  // Thread 11 exits: its last count is read and its counter closed.
  h.tree.RemoveThread(10, 11);
  h.perf->Set(11, 45);
  h.perf->Set(12, 3);
  s = h.Run();
  EXPECT_FALSE(h.perf->IsOpen(11));
  EXPECT_EQ(s.Get(kInstr, "group", "server"), 48);
  EXPECT_EQ(s.Get("pagescope_tlb_open_counters"), 2 * 4);
}

TEST(Tlb, ExitedProcessesKeepTheirCountsInTheGroup) {
  Harness h(Settings("collectors:\n  tlb:\n    vms: false\n"));
  h.tree.Add(10, "worker", 100);
  h.tree.Add(11, "worker", 100);
  h.Run();
  h.perf->Set(10, 1000);
  h.perf->Set(11, 300);
  EXPECT_EQ(h.Run().Get(kInstr, "group", "worker"), 1300);
  // 10 exits after counting 50 more; the last read happens when it is gone.
  h.perf->Set(10, 1050);
  h.tree.Remove(10);
  h.perf->Set(11, 310);
  auto s = h.Run();
  EXPECT_EQ(s.Get(kInstr, "group", "worker"), 1360);
  EXPECT_FALSE(h.perf->IsOpen(10));
  // pid 11 reused by a new process (another start time): the old one's counts stay.
  h.perf->Set(11, 320);
  h.tree.Add(11, "worker", 100, {}, "", /*starttime=*/900);
  s = h.Run();
  EXPECT_EQ(s.Get(kInstr, "group", "worker"), 1370);
  h.perf->Set(11, 5);  // the new process's counter started at 0
  EXPECT_EQ(h.Run().Get(kInstr, "group", "worker"), 1375);
}

TEST(Tlb, ExecIntoAnotherGroupCountsOnFromThere) {
  Harness h(Settings("collectors:\n  tlb:\n    vms: false\n    top_groups: 5\n"));
  h.tree.Add(20, "sh", 100);
  h.Run();
  h.perf->Set(20, 50);
  h.Run();
  h.tree.Add(20, "make", 100);  // exec: same pid and start time, new comm
  h.perf->Set(20, 80);
  auto s = h.Run();
  EXPECT_EQ(s.Get(kInstr, "group", "make"), 30);
  EXPECT_EQ(s.Get(kInstr, "group", "sh"), -1);  // no process left in it
}

TEST(Tlb, ScalesForMultiplexingPerInterval) {
  Harness h(Settings("collectors:\n  tlb:\n    vms: false\n"));
  h.tree.Add(10, "app", 100);
  h.Run();
  // On the PMU half of the time: 100 counted stands for 200.
  h.perf->Set(10, 100, 1000, 500);
  EXPECT_EQ(h.Run().Get(kInstr, "group", "app"), 200);
  // Next interval: 1000 ns enabled, all running: 50 more, exactly.
  h.perf->Set(10, 150, 2000, 1500);
  EXPECT_EQ(h.Run().Get(kInstr, "group", "app"), 250);
  // Not running at all in an interval: nothing is made up, and nothing goes backwards.
  h.perf->Set(10, 150, 3000, 1500);
  EXPECT_EQ(h.Run().Get(kInstr, "group", "app"), 250);
}

// The kernel can read an inherited counter one low while a thread it sums exits: the dip is
// neither subtracted nor, once the counter recovers, counted a second time.
TEST(Tlb, AReadingThatDipsIsNotCountedTwice) {
  Harness h(Settings("collectors:\n  tlb:\n    vms: false\n"));
  h.tree.Add(10, "app", 100);
  h.Run();
  h.perf->Set(10, 100, 1000, 1000);
  EXPECT_EQ(h.Run().Get(kInstr, "group", "app"), 100);
  h.perf->Set(10, 99, 1100, 1100);
  EXPECT_EQ(h.Run().Get(kInstr, "group", "app"), 100);
  h.perf->Set(10, 120, 1200, 1200);
  EXPECT_EQ(h.Run().Get(kInstr, "group", "app"), 120);
}

TEST(Tlb, NoPmuGivesNoCounterSeriesAndSaysWhy) {
  Harness h(Settings());
  for (const char* e :
       {"instructions", "dtlb_load_misses", "dtlb_store_misses", "itlb_load_misses"}) {
    h.perf->probe_errno[e] = ENOENT;
  }
  h.tree.Add(10, "app", 100);
  h.tree.Write("sys/bus/event_source/devices/software/type", "1\n");
  auto s = h.Run();
  EXPECT_EQ(s.Mode("instructions"), "no_pmu");
  EXPECT_EQ(s.Mode("itlb_load_misses"), "no_pmu");
  EXPECT_FALSE(s.Has(kInstr));
  EXPECT_FALSE(s.Has("pagescope_tlb_open_counters"));
  EXPECT_TRUE(h.perf->open.empty());
  EXPECT_TRUE(s.errors.empty());
  // With a core PMU (type 4) the same error means the CPU lacks the event.
  h.tree.Write("sys/bus/event_source/devices/cpu/type", "4\n");
  EXPECT_EQ(h.Run().Mode("instructions"), "not_supported");
}

TEST(Tlb, ParanoidWithoutCapabilityAndPartialAvailability) {
  Harness h(Settings());
  h.perf->privileged = false;
  h.tree.Write("proc/sys/kernel/perf_event_paranoid", "3\n");
  h.perf->probe_errno["instructions"] = EACCES;
  h.perf->probe_errno["itlb_load_misses"] = EOPNOTSUPP;
  h.tree.Write("sys/bus/event_source/devices/cpu/type", "4\n");
  h.tree.Add(10, "app", 100);
  auto s = h.Run();
  EXPECT_EQ(s.Mode("instructions"), "paranoid");
  EXPECT_EQ(s.Mode("itlb_load_misses"), "not_supported");
  EXPECT_EQ(s.Mode("dtlb_load_misses"), "available");
  // Only the available events are opened and exported.
  ASSERT_EQ(h.perf->open.size(), 1u);
  EXPECT_EQ(h.perf->open.begin()->second.events.size(), 2u);
  h.perf->Set(10, 9);
  s = h.Run();
  EXPECT_EQ(s.Get(kDtlb, "group", "app"), 9);
  EXPECT_EQ(s.Get("pagescope_tlb_dtlb_store_misses_total", "group", "app"), 9);
  EXPECT_FALSE(s.Has(kInstr));
  // With CAP_PERFMON the same refusal is not the paranoid setting.
  h.perf->privileged = true;
  EXPECT_EQ(h.Run().Mode("instructions"), "denied");
  // The event becomes available (the setting was lowered): everything reopens with it, and
  // the counters continue.
  h.perf->probe_errno.erase("instructions");
  h.perf->Set(10, 9);
  s = h.Run();
  EXPECT_EQ(s.Mode("instructions"), "available");
  EXPECT_EQ(s.Get(kDtlb, "group", "app"), 9);
  EXPECT_EQ(s.Get(kInstr, "group", "app"), 0);
}

TEST(Tlb, GroupThatDoesNotFitThePmuFallsBackToSeparateCounters) {
  Harness h(Settings());
  h.perf->group_errno = EINVAL;
  h.tree.Add(10, "app", 100);
  h.Run();
  ASSERT_EQ(h.perf->open.size(), 1u);
  EXPECT_FALSE(h.perf->open.begin()->second.options.group);
}

TEST(Tlb, CounterBoundSkipsWholeProcessesAndRetries) {
  // 3 threads x 4 events = 12 descriptors fit; the next process (2 threads) does not.
  Harness h(Settings("collectors:\n  tlb:\n    vms: false\n    max_counters: 16\n"));
  h.tree.Add(10, "big", 5000, {10, 11, 12});
  h.tree.Add(20, "small", 10, {20, 21});
  auto s = h.Run();
  EXPECT_THAT(h.perf->opened_tids, ::testing::ElementsAre(10, 11, 12));
  EXPECT_EQ(s.Get("pagescope_tlb_open_counters"), 12);
  EXPECT_EQ(s.Get("pagescope_tlb_skipped_processes_total", "reason", "counter_limit"), 1);
  EXPECT_EQ(s.Get(kInstr, "group", "small"), -1);
  // Skipped once per process, not once per scrape.
  EXPECT_EQ(h.Run().Get("pagescope_tlb_skipped_processes_total", "reason", "counter_limit"), 1);
  // big exits: room for small.
  h.tree.Remove(10);
  s = h.Run();
  EXPECT_THAT(h.perf->opened_tids, ::testing::ElementsAre(10, 11, 12, 20, 21));
  EXPECT_EQ(s.Get(kInstr, "group", "small"), 0);
  EXPECT_EQ(s.Get("pagescope_tlb_open_counters"), 8);
}

TEST(Tlb, DeniedProcessIsSkippedAndNotRetried) {
  Harness h(Settings("collectors:\n  tlb:\n    vms: false\n"));
  h.tree.Add(10, "other_user", 100, {10, 11});
  h.perf->tid_errno[10] = EACCES;
  auto s = h.Run();
  EXPECT_TRUE(h.perf->open.empty());
  EXPECT_EQ(s.Get("pagescope_tlb_skipped_processes_total", "reason", "denied"), 1);
  EXPECT_EQ(s.Get(kInstr, "group", "other_user"), -1);
  h.perf->tid_errno.clear();
  h.Run();
  EXPECT_TRUE(h.perf->open.empty());
}

TEST(Tlb, OptionErrorsNameFileAndLine) {
  auto error = [](const std::string& yaml) -> std::string {
    try {
      Settings(yaml);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_THAT(error("collectors:\n  tlb:\n    events: [instructions, bogus]\n"),
              ::testing::AllOf(HasSubstr("test.yml:3:"), HasSubstr("unknown event \"bogus\"")));
  EXPECT_THAT(error("collectors:\n  tlb:\n    raw_events:\n      - {name: walks, config: zz}\n"),
              ::testing::AllOf(HasSubstr("test.yml:4:"), HasSubstr("bad config")));
  EXPECT_THAT(error("collectors:\n  tlb:\n    raw_events:\n      - {name: instructions, "
                    "config: 0x10}\n"),
              HasSubstr("already used"));
  EXPECT_THAT(error("collectors:\n  tlb:\n    top_groups: 500\n"), HasSubstr("top_groups"));
  EXPECT_THAT(error("collectors:\n  tlb:\n    max_counters: 0\n"), HasSubstr("max_counters"));
  EXPECT_THAT(error("collectors:\n  tlb:\n    groups:\n      - comm: [x]\n"),
              HasSubstr("test.yml:4:"));
  auto s = Settings(
      "collectors:\n  tlb:\n    events: [instructions]\n    raw_events:\n"
      "      - {name: dtlb_walk_active_cycles, config: 0x1001008}\n");
  ASSERT_EQ(s.events.size(), 2u);
  EXPECT_EQ(s.events[1].type, static_cast<std::uint32_t>(PERF_TYPE_RAW));
  EXPECT_EQ(s.events[1].config, 0x1001008u);
}

TEST(TlbTarget, GroupsBeforeVmsThenByNameAndTheirLabel) {
  using K = TlbTarget::Kind;
  const TlbTarget vm{K::kVm, "web1"}, group{K::kGroup, "web1"}, other{K::kGroup, "a"};
  EXPECT_EQ(vm.label(), "vm");
  EXPECT_EQ(group.label(), "group");
  EXPECT_NE(vm, group);  // one name, two targets
  EXPECT_LT(other, group);
  EXPECT_LT(group, vm);
  // Names are kept whole, whatever bytes they hold (no separator to split on).
  const TlbTarget odd{K::kGroup, std::string("a\x1f") + "vm"};
  EXPECT_EQ(odd.name.size(), 4u);
  EXPECT_EQ(odd.label(), "group");
}

TEST(Tlb, AVmThatIsAlsoASelectedGroupCountsIntoBothAndTwoGuestsOfOneNameAreTold) {
  Harness h(Settings("collectors:\n  tlb:\n    include_groups: [qemu-system-x86]\n"));
  h.tree.Add(50, "qemu-system-x86", 50, {50}, "qemu-system-x86_64 -name guest=web1");
  h.tree.Add(60, "qemu-system-x86", 50, {60}, "qemu-system-x86_64 -name guest=web1");
  h.Run();
  h.perf->Set(50, 7);
  h.perf->Set(60, 3);
  auto s = h.Run();
  EXPECT_EQ(s.Get(kInstr, "vm", "web1"), 7);
  EXPECT_EQ(s.Get(kInstr, "vm", "web1@60"), 3);
  EXPECT_EQ(s.Get(kInstr, "group", "qemu-system-x86"), 10);
  EXPECT_TRUE(s.errors.empty());
}

TEST(Tlb, DeclaresCapPerfmonAndItsCountersAsOpenFiles) {
  const CollectorSpec* spec = FindCollector(AllCollectors(), "tlb");
  ASSERT_NE(spec, nullptr);
  EXPECT_THAT(spec->capabilities, ::testing::ElementsAre(Capability::kPerfmon));
  EXPECT_EQ(CapabilityName(Capability::kPerfmon), "CAP_PERFMON");
  ASSERT_TRUE(spec->open_files);
  // No other collector asks for a capability or descriptors.
  for (const auto& c : AllCollectors()) {
    if (c.name == "tlb") continue;
    EXPECT_TRUE(c.capabilities.empty()) << c.name;
    EXPECT_FALSE(c.open_files) << c.name;
  }
}

// Every series the collector can export, on the fake backend (perf counters cannot come from
// fixture files). scripts/gen-metric-reference.py runs this with PAGESCOPE_TLB_REFERENCE=<file>
// to list the collector's metrics in docs/metrics.md, and again with
// PAGESCOPE_TLB_REFERENCE_EVENTS=<every generic event, comma-separated> for the opt-in events.
TEST(TlbReference, EveryMetricOnceWithItsLabels) {
  std::string events;
  if (const char* e = std::getenv("PAGESCOPE_TLB_REFERENCE_EVENTS")) {
    events = std::string("    events: [") + e + "]\n";
  }
  Harness h(Settings("collectors:\n  tlb:\n" + events +
                     "    raw_events:\n"
                     "      - {name: dtlb_walk_active_cycles, config: 0x1001008}\n"));
  h.perf->probe_errno["dtlb_walk_active_cycles"] = ENOENT;
  h.tree.Write("sys/bus/event_source/devices/cpu/type", "4\n");
  h.tree.Add(10, "postgres", 100);
  h.tree.Add(20, "qemu-system-x86", 100, {20}, "qemu-system-x86_64 -name guest=vm1");
  h.Run();
  h.perf->Set(10, 5);
  h.perf->Set(20, 7);
  auto s = h.Run();
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, s.families);
  for (const char* name : {"pagescope_tlb_instructions_total{group=\"postgres\"} 5",
                           "pagescope_tlb_dtlb_load_misses_total{vm=\"vm1\"} 7",
                           "pagescope_tlb_dtlb_store_misses_total{group=\"postgres\"}",
                           "pagescope_tlb_itlb_load_misses_total{vm=\"vm1\"}",
                           "pagescope_tlb_event_status{event=\"dtlb_walk_active_cycles\","
                           "mode=\"not_supported\"} 1",
                           "pagescope_tlb_counted_processes 2", "pagescope_tlb_read_errors_total 0",
                           "pagescope_tlb_skipped_processes_total{reason=\"counter_limit\"} 0"}) {
    EXPECT_THAT(text.str(), HasSubstr(name));
  }
  EXPECT_THAT(text.str(), ::testing::Not(HasSubstr("dtlb_walk_active_cycles_total")));
  // Four default events on two processes' threads.
  if (events.empty()) {
    EXPECT_THAT(text.str(), HasSubstr("pagescope_tlb_open_counters 8"));
  }
  if (const char* out = std::getenv("PAGESCOPE_TLB_REFERENCE")) {
    std::ofstream(out) << text.str();
  }
}

}  // namespace
}  // namespace pagescope
