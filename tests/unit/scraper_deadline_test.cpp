// The scrape's deadline: collectors slowed on purpose through the Scraper's test seam (its
// constructor that takes the list of collector specs), one of them stuck in a call until the
// test lets it go.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "collectors/registry.h"
#include "exporter/scraper.h"
#include "test_util.h"

namespace pagescope::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The value of the sample of `name` whose first label has `label_value` ("" for no label).
std::optional<double> Sample(const std::vector<prometheus::MetricFamily>& fams,
                             const std::string& name, const std::string& label_value = "") {
  for (const auto& f : fams) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      const std::string v = m.label.empty() ? "" : m.label.front().value;
      if (v != label_value) continue;
      return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return std::nullopt;
}

std::optional<double> Success(const std::vector<prometheus::MetricFamily>& fams,
                              const std::string& collector) {
  return Sample(fams, "pagescope_scrape_collector_success", collector);
}

std::optional<double> Cuts(const std::vector<prometheus::MetricFamily>& fams,
                           const std::string& collector) {
  return Sample(fams, "pagescope_scrape_collector_deadline_exceeded_total", collector);
}

// Emits a sample, then works in small steps until the scrape's deadline, as a walk of many
// processes does.
class UntilDeadline : public Collector {
 public:
  void Collect(const Context& ctx, MetricSink& out) override {
    out.Gauge("pagescope_test_before_deadline", "test", {}, 1);
    while (!ctx.Expired()) std::this_thread::sleep_for(milliseconds(1));
  }
};

// Blocks in Collect until released, like a read of a file whose read never returns; counts the
// calls that entered and returned. Shared with the test, which outlives nothing: a run left
// behind holds it through the collector.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int entered = 0;
  int returned = 0;
  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
    cv.notify_all();
  }
  // Waits until `returned` reaches `n` (at most 10 s).
  bool WaitReturned(int n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return returned >= n; });
  }
};

class Stuck : public Collector {
 public:
  explicit Stuck(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}
  void Collect(const Context&, MetricSink& out) override {
    std::unique_lock<std::mutex> lock(gate_->mu);
    ++gate_->entered;
    gate_->cv.wait(lock, [&] { return gate_->open; });
    ++gate_->returned;
    gate_->cv.notify_all();
    out.Gauge("pagescope_test_stuck_output", "test", {}, 1);
  }

 private:
  std::shared_ptr<Gate> gate_;
};

// Waits until the scraper's collector threads are idle (a released run has fully returned).
bool WaitIdle(const Scraper& s) {
  for (int i = 0; i < 1000; ++i) {
    if (s.workers().busy() == 0) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

// AllCollectors() with some collectors made by the test (the Scraper's test seam).
std::vector<CollectorSpec> With(
    const std::vector<std::pair<std::string, std::function<std::unique_ptr<Collector>()>>>& fakes) {
  auto specs = AllCollectors();
  for (auto& spec : specs) {
    for (const auto& [name, make] : fakes) {
      if (spec.name == name) spec.make = [make](const CollectorOptions&) { return make(); };
    }
  }
  return specs;
}

// The two_nodes fixture with these collectors.
Config Fixture(const std::vector<std::string>& collectors) {
  return FixtureConfig("two_nodes", collectors);
}

TEST(ScraperDeadline, ContextCarriesTheDeadline) {
  FsRoot fs("/nonexistent", "/nonexistent", "/nonexistent");
  log::RateLimiter limiter(std::chrono::minutes(1));
  Context none(fs, limiter);
  EXPECT_EQ(none.deadline(), kNoDeadline);
  EXPECT_FALSE(none.Expired());
  auto soon = Clock::now() + milliseconds(20);
  Context ctx(fs, limiter, nullptr, soon);
  EXPECT_EQ(ctx.deadline(), soon);
  EXPECT_FALSE(ctx.Expired());
  std::this_thread::sleep_for(milliseconds(25));
  EXPECT_TRUE(ctx.Expired());
}

TEST(ScraperDeadline, ACollectorThatStopsAtTheDeadlineFailsKeepsItsOutputAndIsCounted) {
  Scraper s(Fixture({"hugepages", "meminfo", "vmstat"}),
            With({{"meminfo", [] { return std::make_unique<UntilDeadline>(); }}}));
  const auto deadline = Clock::now() + milliseconds(200);
  auto fams = s.Scrape({}, {}, deadline);
  EXPECT_LT(Clock::now(), deadline + milliseconds(50));
  EXPECT_EQ(Success(fams, "meminfo"), 0);
  EXPECT_EQ(Cuts(fams, "meminfo"), 1);
  EXPECT_EQ(Sample(fams, "pagescope_test_before_deadline"), 1);  // emitted before: kept
  for (const char* other : {"hugepages", "vmstat"}) {
    EXPECT_EQ(Success(fams, other), 1) << other;
    EXPECT_EQ(Cuts(fams, other), 0) << other;
  }
  EXPECT_EQ(Sample(fams, "pagescope_hugepages_pool_pages", "2MiB"), 1024);
  // The counter counts scrapes.
  fams = s.Scrape({}, {}, Clock::now() + milliseconds(100));
  EXPECT_EQ(Cuts(fams, "meminfo"), 2);
}

TEST(ScraperDeadline, WithoutADeadlineNothingIsCut) {
  Scraper s(Fixture({"hugepages", "meminfo"}));
  auto fams = s.Scrape();
  EXPECT_EQ(Success(fams, "meminfo"), 1);
  EXPECT_EQ(Cuts(fams, "meminfo"), 0);
}

TEST(ScraperDeadline, APassedDeadlineRunsNothing) {
  Scraper s(Fixture({"hugepages", "meminfo"}));
  auto fams = s.Scrape({}, {}, Clock::now());
  EXPECT_EQ(Success(fams, "meminfo"), 0);
  EXPECT_EQ(Success(fams, "hugepages"), 0);
  EXPECT_EQ(Cuts(fams, "hugepages"), 1);
  EXPECT_EQ(Sample(fams, "pagescope_hugepages_pool_pages", "2MiB"), std::nullopt);
}

// A collector stuck in a call (the first in registry order, so every other one comes after it):
// the scrape answers by its deadline with every other collector's output, the stuck one failed;
// the next scrapes skip it without waiting for it; once it returns it runs again.
TEST(ScraperDeadline, AStuckCollectorDoesNotHoldUpTheAnswerNorTheOthers) {
  auto gate = std::make_shared<Gate>();
  const std::vector<std::string> names = {"hugepages", "numa_hugepages", "meminfo", "vmstat",
                                          "numa"};
  Scraper s(Fixture(names),
            With({{"hugepages", [gate] { return std::make_unique<Stuck>(gate); }}}));
  auto deadline = Clock::now() + milliseconds(300);
  auto fams = s.Scrape({}, {}, deadline);
  EXPECT_LT(Clock::now(), deadline + milliseconds(50));
  EXPECT_EQ(Success(fams, "hugepages"), 0);
  EXPECT_EQ(Cuts(fams, "hugepages"), 1);
  EXPECT_EQ(Sample(fams, "pagescope_test_stuck_output"), std::nullopt);
  for (const auto& n : names) {
    if (n != "hugepages") {
      EXPECT_EQ(Success(fams, n), 1) << n;
    }
  }
  EXPECT_EQ(Sample(fams, "pagescope_memory_total_bytes"), 270185926656.0);

  // The next scrape waits at most kLateGrace for the stuck run, then skips it.
  auto start = Clock::now();
  fams = s.Scrape({}, {}, start + std::chrono::seconds(5));
  auto took = Clock::now() - start;
  EXPECT_LT(took, Scraper::kLateGrace + milliseconds(200));
  EXPECT_EQ(Success(fams, "hugepages"), 0);
  EXPECT_EQ(Cuts(fams, "hugepages"), 2);
  EXPECT_EQ(Success(fams, "meminfo"), 1);
  // Later scrapes do not wait for it at all.
  start = Clock::now();
  fams = s.Scrape({}, {}, start + std::chrono::seconds(5));
  EXPECT_LT(Clock::now() - start, milliseconds(150));
  EXPECT_EQ(Success(fams, "hugepages"), 0);
  {
    std::lock_guard<std::mutex> lock(gate->mu);
    EXPECT_EQ(gate->entered, 1);  // never a second call into the stuck collector
  }

  // Let it go: its late output is discarded, and the next scrape runs it again.
  gate->Release();
  ASSERT_TRUE(gate->WaitReturned(1));
  ASSERT_TRUE(WaitIdle(s));
  fams = s.Scrape({}, {}, Clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(Success(fams, "hugepages"), 1);
  EXPECT_EQ(Sample(fams, "pagescope_test_stuck_output"), 1);
  EXPECT_EQ(Cuts(fams, "hugepages"), 3);
}

// Walks a page-table file (counted as a walk done of 0.25 s), then blocks at the gate the first
// time, as a collector cut in the middle of its guests does.
class WalksThenStuck : public Collector {
 public:
  explicit WalksThenStuck(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}
  void Collect(const Context& ctx, MetricSink&) override {
    ctx.CountWalk("numa_maps", "done", 0.25);
    std::unique_lock<std::mutex> lock(gate_->mu);
    ++gate_->entered;
    gate_->cv.wait(lock, [&] { return gate_->open; });
    ++gate_->returned;
    gate_->cv.notify_all();
  }

 private:
  std::shared_ptr<Gate> gate_;
};

// pagescope_scrape_walks_total{collector,file="numa_maps",result="done"}, and the seconds.
std::pair<std::optional<double>, std::optional<double>> Walks(
    const std::vector<prometheus::MetricFamily>& fams, const std::string& collector) {
  std::optional<double> walks, seconds;
  for (const auto& f : fams) {
    for (const auto& m : f.metric) {
      std::map<std::string, std::string> l;
      for (const auto& lp : m.label) l[lp.name] = lp.value;
      if (l["collector"] != collector || l["file"] != "numa_maps") continue;
      if (f.name == "pagescope_scrape_walks_total" && l["result"] == "done") {
        walks = m.counter.value;
      }
      if (f.name == "pagescope_scrape_walk_seconds_total") seconds = m.counter.value;
    }
  }
  return {walks, seconds};
}

// A collector the deadline cut had walked processes already: those walks held their mmap_lock
// as much as any, and are counted once it returns (its output is still discarded).
TEST(ScraperDeadline, WalksOfACutCollectorAreCountedOnceItReturns) {
  auto gate = std::make_shared<Gate>();
  Scraper s(Fixture({"hugepages", "meminfo"}),
            With({{"meminfo", [gate] { return std::make_unique<WalksThenStuck>(gate); }}}));
  auto fams = s.Scrape({}, {}, Clock::now() + milliseconds(200));
  EXPECT_EQ(Success(fams, "meminfo"), 0);
  EXPECT_EQ(Walks(fams, "meminfo").first, std::nullopt);  // not returned: not shown yet
  gate->Release();
  ASSERT_TRUE(gate->WaitReturned(1));
  ASSERT_TRUE(WaitIdle(s));
  // It runs again (one more walk) and returns: both walks and their time are counted.
  fams = s.Scrape({}, {}, Clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(Success(fams, "meminfo"), 1);
  auto [walks, seconds] = Walks(fams, "meminfo");
  EXPECT_EQ(walks, 2);
  EXPECT_EQ(seconds, 0.5);
}

// Stuck, then its Scraper replaced by a reload and destroyed: the run left behind still has its
// Context, memo, roots and collector (checked under AddressSanitizer), and the new Scraper skips
// the collector it took over until that run returns.
TEST(ScraperDeadline, ALateRunOutlivesItsScraperAcrossAReload) {
  auto gate = std::make_shared<Gate>();
  auto config = Fixture({"hugepages", "meminfo"});
  auto specs = With({{"meminfo", [gate] { return std::make_unique<Stuck>(gate); }}});
  auto old = std::make_unique<Scraper>(config, specs);
  auto fams = old->Scrape({}, {}, Clock::now() + milliseconds(100));
  EXPECT_EQ(Success(fams, "meminfo"), 0);
  Scraper reloaded(config, specs, old.get());
  old.reset();
  std::this_thread::sleep_for(Scraper::kLateGrace);
  fams = reloaded.Scrape({}, {}, Clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(Success(fams, "meminfo"), 0);  // the same collector object, still stuck
  EXPECT_EQ(Cuts(fams, "meminfo"), 2);     // the counter survives the reload
  EXPECT_EQ(Success(fams, "hugepages"), 1);
  gate->Release();
  ASSERT_TRUE(gate->WaitReturned(1));
  ASSERT_TRUE(WaitIdle(reloaded));
  fams = reloaded.Scrape({}, {}, Clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(Success(fams, "meminfo"), 1);
}

// A scrape answers in time while its stuck collector is in a Context read's memo (the walk of
// /proc other collectors of the scrape wait for): they are cut too, and nothing is freed under
// them.
TEST(ScraperDeadline, CollectorsWaitingForAStuckMemoAreCutToo) {
  auto gate = std::make_shared<Gate>();
  struct MemoUser : Collector {
    explicit MemoUser(std::shared_ptr<Gate> g) : gate(std::move(g)) {}
    void Collect(const Context& ctx, MetricSink& out) override {
      const int& v = ctx.Memo<int>("test.memo", [&] {
        Stuck(gate).Collect(ctx, out);
        return 42;
      });
      out.Gauge("pagescope_test_memo", "test", {}, v);
    }
    std::shared_ptr<Gate> gate;
  };
  Scraper s(Fixture({"hugepages", "meminfo", "vmstat"}),
            With({{"hugepages", [gate] { return std::make_unique<MemoUser>(gate); }},
                  {"vmstat", [gate] { return std::make_unique<MemoUser>(gate); }}}));
  const auto deadline = Clock::now() + milliseconds(300);
  auto fams = s.Scrape({}, {}, deadline);
  EXPECT_LT(Clock::now(), deadline + milliseconds(50));
  EXPECT_EQ(Success(fams, "hugepages"), 0);
  EXPECT_EQ(Success(fams, "vmstat"), 0);
  EXPECT_EQ(Success(fams, "meminfo"), 1);
  gate->Release();
  ASSERT_TRUE(gate->WaitReturned(1));
  // Both late runs return (one made the memo, the other waited for it).
  for (int i = 0; i < 100 && s.workers().busy() > 0; ++i)
    std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(s.workers().busy(), 0u);
}

// A collector named in another's `after` runs first (the qemu and tlb collectors take the
// processes collector's table); collectors without such an order may overlap when one is slow.
TEST(ScraperDeadline, AfterOrdersCollectorsOfAScrape) {
  std::atomic<bool> first_done{false};
  std::atomic<bool> order_kept{false};
  struct First : Collector {
    explicit First(std::atomic<bool>* d) : done(d) {}
    void Collect(const Context&, MetricSink&) override {
      std::this_thread::sleep_for(milliseconds(3 * Scraper::kMoveOn.count()));
      done->store(true);
    }
    std::atomic<bool>* done;
  };
  struct Second : Collector {
    Second(std::atomic<bool>* d, std::atomic<bool>* ok) : done(d), kept(ok) {}
    void Collect(const Context&, MetricSink&) override { kept->store(done->load()); }
    std::atomic<bool>* done;
    std::atomic<bool>* kept;
  };
  auto specs = With({{"processes", [&] { return std::make_unique<First>(&first_done); }},
                     {"qemu", [&] { return std::make_unique<Second>(&first_done, &order_kept); }}});
  Scraper s(Fixture({"processes", "qemu", "meminfo"}), specs);
  auto fams = s.Scrape({}, {}, Clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(Success(fams, "qemu"), 1);
  EXPECT_TRUE(order_kept.load());
  // Without the processes collector in the scrape, qemu runs on its own.
  fams = s.Scrape({"qemu"}, {}, Clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(Success(fams, "qemu"), 1);
}

TEST(ScraperDeadline, TheMemoIsMadeOnceForConcurrentCollectors) {
  FsRoot fs("/nonexistent", "/nonexistent", "/nonexistent");
  log::RateLimiter limiter(std::chrono::minutes(1));
  Context ctx(fs, limiter);
  std::atomic<int> made{0};
  std::vector<std::thread> threads;
  std::atomic<int> sum{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      sum += ctx.Memo<int>("k", [&] {
        ++made;
        std::this_thread::sleep_for(milliseconds(20));
        return 5;
      });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(made.load(), 1);
  EXPECT_EQ(sum.load(), 40);
  // An exception reaches every caller of the key.
  EXPECT_THROW(ctx.Memo<int>("bad", []() -> int { throw std::runtime_error("x"); }),
               std::runtime_error);
  EXPECT_THROW(ctx.Memo<int>("bad", [] { return 1; }), std::runtime_error);
}

// The collectors' threads are reused from scrape to scrape.
TEST(ScraperDeadline, ThreadsAreReused) {
  Scraper s(Fixture({"hugepages", "meminfo", "vmstat", "numa", "thp", "ksm"}));
  for (int i = 0; i < 20; ++i) s.Scrape({}, {}, Clock::now() + std::chrono::seconds(5));
  EXPECT_LE(s.workers().threads(), Workers::kKeepIdle + 1);
}

}  // namespace
}  // namespace pagescope::testing
