#include "web/scrape_executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace pagescope {
namespace {

using namespace std::chrono_literals;

TEST(ScrapeExecutor, RunsWorkOnOneThreadAndReturnsBody) {
  ScrapeExecutor ex;
  std::thread::id first;
  auto r1 = ex.Run("a", [&] {
    first = std::this_thread::get_id();
    return std::string("body");
  });
  EXPECT_EQ(r1->value, "body");
  EXPECT_TRUE(r1->error.empty());
  std::thread::id second;
  std::thread([&] {
    ex.Run("b", [&] {
      second = std::this_thread::get_id();
      return std::string();
    });
  }).join();
  EXPECT_EQ(first, second);
  EXPECT_NE(first, std::this_thread::get_id());
}

TEST(ScrapeExecutor, FailureHasNoValue) {
  ScrapeExecutor ex;
  auto fail = ex.Run("a", []() -> std::string { throw std::runtime_error("boom"); });
  EXPECT_FALSE(fail->value.has_value());
  EXPECT_EQ(fail->error, "boom");
  EXPECT_FALSE(fail->shutting_down);
}

// Password checks get a typed verdict, not a body to compare with "ok".
TEST(ScrapeExecutor, TypedResults) {
  enum class Verdict { kYes, kNo };
  Executor<Verdict> ex;
  EXPECT_EQ(ex.Run("a", [] { return Verdict::kNo; })->value, Verdict::kNo);
  EXPECT_EQ(ex.Run("b", [] { return Verdict::kYes; })->value, Verdict::kYes);
  auto fail = ex.Run("c", []() -> Verdict { throw std::runtime_error("SHA-256 failed"); });
  EXPECT_FALSE(fail->value.has_value());
  EXPECT_EQ(fail->error, "SHA-256 failed");
  ex.Stop();
  auto down = ex.Run("d", [] { return Verdict::kYes; });
  EXPECT_TRUE(down->shutting_down);
  EXPECT_FALSE(down->value.has_value());
}

// While one job runs, requests with the same key queue one job and share it; a request never
// gets the result of a job that had started before it arrived.
TEST(ScrapeExecutor, CoalescesQueuedJobsOnlyAndResultsAreFresh) {
  ScrapeExecutor ex;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<int> runs{0};
  auto work = [&] {
    int n = ++runs;
    if (n == 1) released.wait();
    return std::to_string(n);
  };
  auto first =
      std::async(std::launch::async, [&] { return ex.Run("k", work)->value.value_or(""); });
  while (runs.load() == 0) std::this_thread::sleep_for(1ms);
  // Job 1 is running: these arrive after it started and must not get its result.
  std::vector<std::future<std::string>> later;
  for (int i = 0; i < 8; ++i) {
    later.push_back(
        std::async(std::launch::async, [&] { return ex.Run("k", work)->value.value_or(""); }));
  }
  while (ex.waiting() < 8) std::this_thread::sleep_for(1ms);
  auto other =
      std::async(std::launch::async, [&] { return ex.Run("other", work)->value.value_or(""); });
  while (ex.waiting() < 9) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(ex.waiting(), 9u);
  release.set_value();
  EXPECT_EQ(first.get(), "1");
  for (auto& f : later) EXPECT_EQ(f.get(), "2");  // one job shared by all eight
  EXPECT_EQ(other.get(), "3");
  EXPECT_EQ(ex.jobs_run(), 3u);
}

// A request joins a queued job only when the job answers by its own deadline: a later deadline
// joins, an earlier one gets a job of its own (it cannot shorten another client's scrape). A job
// whose deadline passed while it waited is not run.
TEST(ScrapeExecutor, DeadlinesDecideCoalescingAndQueuedJobsExpire) {
  using Clock = std::chrono::steady_clock;
  ScrapeExecutor ex;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<int> runs{0};
  auto work = [&] {
    int n = ++runs;
    if (n == 1) released.wait();
    return std::to_string(n);
  };
  auto first =
      std::async(std::launch::async, [&] { return ex.Run("k", work)->value.value_or(""); });
  while (runs.load() == 0) std::this_thread::sleep_for(1ms);
  const auto now = Clock::now();
  auto run_with = [&](Clock::time_point deadline) {
    return std::async(std::launch::async, [&, deadline] { return ex.Run("k", work, deadline); });
  };
  auto queued = run_with(now + 10s);  // job 2
  while (ex.waiting() < 1) std::this_thread::sleep_for(1ms);
  auto later = run_with(now + 20s);  // joins job 2: answered before its deadline
  while (ex.waiting() < 2) std::this_thread::sleep_for(1ms);
  auto earlier = run_with(now + 50ms);  // its own job 3, queued behind job 2
  while (ex.waiting() < 3) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(100ms);  // job 3's deadline passes in the queue
  release.set_value();
  EXPECT_EQ(first.get(), "1");
  EXPECT_EQ(queued.get()->value, "2");
  EXPECT_EQ(later.get()->value, "2");
  auto expired = earlier.get();
  EXPECT_TRUE(expired->expired);
  EXPECT_FALSE(expired->value.has_value());
  EXPECT_EQ(runs.load(), 2);  // the expired job did not run
  EXPECT_EQ(ex.jobs_run(), 3u);
}

TEST(ScrapeExecutor, ShutdownFailsQueuedJobsAndFinishesTheRunningOne) {
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> started{false};
  auto ex = std::make_unique<ScrapeExecutor>();
  auto running = std::async(std::launch::async, [&] {
    return ex->Run("a", [&] {
      started = true;
      released.wait();
      return std::string("done");
    });
  });
  while (!started) std::this_thread::sleep_for(1ms);
  auto queued = std::async(std::launch::async,
                           [&] { return ex->Run("b", [] { return std::string("never"); }); });
  std::this_thread::sleep_for(50ms);
  std::thread stopper([&] { ex.reset(); });
  std::this_thread::sleep_for(50ms);
  release.set_value();
  stopper.join();
  EXPECT_EQ(running.get()->value, "done");
  auto q = queued.get();
  EXPECT_TRUE(q->shutting_down);
}

// The event loop's way in: Submit returns at once and `done` runs on the executor's thread,
// once per request, also for requests that shared a job.
TEST(ScrapeExecutor, SubmitAnswersEachRequestOnceOnTheExecutorThread) {
  ScrapeExecutor ex;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::mutex mu;
  std::vector<std::pair<std::string, std::thread::id>> answers;
  auto done = [&](std::shared_ptr<const ScrapeExecutor::Result> r) {
    std::lock_guard<std::mutex> lock(mu);
    answers.push_back({r->value.value_or(""), std::this_thread::get_id()});
  };
  ex.Submit(
      "blocker",
      [&] {
        released.wait();
        return std::string("first");
      },
      done);
  for (int i = 0; i < 3; ++i)
    ex.Submit(
        "k", [] { return std::string("shared"); }, done);
  release.set_value();
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (answers.size() == 4) break;
    }
    std::this_thread::sleep_for(1ms);
  }
  ex.Stop();
  EXPECT_EQ(answers[0].first, "first");
  for (int i = 1; i < 4; ++i) EXPECT_EQ(answers[i].first, "shared");
  for (const auto& a : answers) {
    EXPECT_EQ(a.second, answers[0].second);
    EXPECT_NE(a.second, std::this_thread::get_id());
  }
  EXPECT_EQ(ex.jobs_run(), 2u);
}

TEST(ScrapeExecutor, SubmitAfterStopAnswersShuttingDownAtOnce) {
  ScrapeExecutor ex;
  ex.Stop();
  ex.Stop();  // idempotent
  bool called = false;
  ex.Submit(
      "k", [] { return std::string("never"); },
      [&](std::shared_ptr<const ScrapeExecutor::Result> r) {
        called = true;
        EXPECT_TRUE(r->shutting_down);
      });
  EXPECT_TRUE(called);
}

}  // namespace
}  // namespace pagescope
