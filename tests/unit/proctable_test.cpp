#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "proctable/bpf_tasks.h"
#include "proctable/identity.h"
#include "proctable/proc_key.h"
#include "proctable/proc_states.h"
#include "proctable/walk.h"

namespace pagescope {
namespace {

ProcessEntry Entry(int pid, std::uint64_t starttime, const std::string& comm) {
  ProcessEntry e;
  e.pid = pid;
  e.stat.starttime = starttime;
  e.stat.comm = comm;
  return e;
}

TEST(ProcKey, ReusedPidIsAnotherProcess) {
  EXPECT_EQ(KeyOf(Entry(7, 100, "a")), (ProcKey{7, 100}));
  EXPECT_NE(KeyOf(Entry(7, 100, "a")), KeyOf(Entry(7, 101, "a")));
  EXPECT_LT((ProcKey{7, 900}), (ProcKey{8, 1}));
  EXPECT_NE(ProcKeyHash()(ProcKey{7, 100}), ProcKeyHash()(ProcKey{7, 101}));
}

TEST(ProcStates, NewExecAndGone) {
  ProcStates<int> states;
  std::vector<int> gone;
  states.Begin();
  {
    auto a = states.See(Entry(1, 10, "init"));
    EXPECT_TRUE(a.is_new);
    EXPECT_FALSE(a.exec);
    a.state = 1;
    auto b = states.See(Entry(2, 20, "sh"));
    EXPECT_TRUE(b.fresh());
    b.state = 2;
  }
  states.End([&](const ProcKey&, int& s) { gone.push_back(s); });
  EXPECT_TRUE(gone.empty());

  states.Begin();
  auto a = states.See(Entry(1, 10, "init"));
  EXPECT_FALSE(a.fresh());
  EXPECT_EQ(a.state, 1);
  auto b = states.See(Entry(2, 20, "python3"));  // exec: same key, new comm
  EXPECT_FALSE(b.is_new);
  EXPECT_TRUE(b.exec);
  EXPECT_EQ(b.state, 2);
  states.End([&](const ProcKey&, int& s) { gone.push_back(s); });
  EXPECT_TRUE(gone.empty());

  states.Begin();
  auto reused = states.See(Entry(2, 30, "python3"));  // pid 2 reused by a new process
  EXPECT_TRUE(reused.is_new);
  EXPECT_EQ(reused.state, 0);
  states.End([&](const ProcKey& k, int& s) {
    gone.push_back(s);
    EXPECT_TRUE(k == (ProcKey{1, 10}) || k == (ProcKey{2, 20}));
  });
  EXPECT_EQ(gone.size(), 2u);
  EXPECT_EQ(states.size(), 1u);
}

// The BPF task iterator's records.
using Figures = TaskFigures;

TEST(TableFromFigures, TaskFiguresMakeTheEntriesTheWalkMakes) {
  std::vector<Figures> records(3);
  records[0].pid = 2;
  records[0].kernel_thread = true;
  std::strcpy(records[0].comm, "kthreadd");
  records[1] = {.pid = 40,
                .start_time = 1234,
                .minflt = 5,
                .majflt = 1,
                .rss_pages = 3,
                .rss_sum_pages = 4,
                .swap_pages = 2,
                .hugetlb_pages = 512,
                .locked_pages = 1,
                .pinned_pages = 0,
                .kernel_thread = false,
                .has_mm = true,
                .comm = {}};
  std::strcpy(records[1].comm, "postgres");
  records[2].pid = 41;  // a zombie: no mm, status without Vm lines
  std::strcpy(records[2].comm, "defunct");
  ProcessTable t;
  TableFromFigures(records, 4096, t);
  EXPECT_EQ(t.kernel_threads, 1u);
  ASSERT_EQ(t.processes.size(), 2u);
  const ProcessEntry& p = t.processes[0];
  EXPECT_EQ(p.pid, 40);
  EXPECT_EQ(p.stat.comm, "postgres");
  EXPECT_EQ(KeyOf(p), (ProcKey{40, 1234}));
  EXPECT_EQ(p.stat.minflt, 5u);
  EXPECT_EQ(p.stat.majflt, 1u);
  EXPECT_EQ(p.stat.rss_pages, 3u);
  EXPECT_TRUE(p.has_status);
  EXPECT_EQ(p.status.vm_rss, 4u * 4096);
  EXPECT_EQ(p.status.vm_swap, 2u * 4096);
  EXPECT_EQ(p.status.hugetlb_pages, 512u * 4096);
  EXPECT_EQ(p.status.vm_lck, 4096u);
  EXPECT_EQ(p.status.vm_pin, 0u);
  EXPECT_EQ(t.processes[1].stat.comm, "defunct");
  EXPECT_FALSE(t.processes[1].status.vm_swap.has_value());
}

TEST(VmNames, SecondGuestOfANameGetsItsPid) {
  VmNames names;
  EXPECT_EQ(names.Unique("web", 100), "web");
  EXPECT_EQ(names.Unique("db", 101), "db");
  EXPECT_EQ(names.Unique("web", 102), "web@102");
}

}  // namespace
}  // namespace pagescope
