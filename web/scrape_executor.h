#pragma once
// Runs jobs (scrapes, password checks) on one dedicated thread, so the web server's event loop
// never blocks and only this thread grows its stack and heap to the size of the largest scrape.
//
// Requests with the same key (collect[]/exclude[]) that arrive while a job with that key is
// queued but not yet started share its result: a result is always computed after the request
// that receives it arrived.
//
// A job may have a deadline (a scrape's: its request's arrival plus its scraper's timeout less
// the offset). A request joins a queued job only when the job's deadline is not later than its
// own, so a job answers every request in time; a request with an earlier deadline gets a job
// of its own (it cannot shorten another client's scrape). A job whose deadline has passed when
// its turn comes (it waited behind others) is not run: its result is `expired`.
//
// A job computes a T: the serialized exposition of a scrape (ScrapeExecutor), the verdict of a
// password check.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pagescope {

template <typename T>
class Executor {
 public:
  struct Result {
    // Set on success: what the job computed.
    std::optional<T> value;
    // Set on failure: the exception's message (or "shutting down").
    std::string error;
    // Not run: the executor stopped first.
    bool shutting_down = false;
    // Not run: its deadline had passed when its turn came.
    bool expired = false;
  };
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::time_point kNoDeadline = Clock::time_point::max();
  // Computes the value; an exception makes a failed Result.
  using Work = std::function<T()>;
  // Receives the result, on the executor's thread (or, once stopped, on the caller's).
  using Done = std::function<void(std::shared_ptr<const Result>)>;

  // No malloc_trim after jobs: measured at 10,000 processes it returned nothing worth having
  // (main.cpp already sends buffers above 64 KiB to mmap), see docs/security.md.
  Executor() : thread_([this] { Loop(); }) {}
  ~Executor() { Stop(); }
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `work` unless a queued job shares `key` and its deadline is not later than
  // `deadline`; `done` is called exactly once with the result. After Stop(), `done` is called at
  // once with a shutting_down result.
  void Submit(const std::string& key, Work work, Done done,
              Clock::time_point deadline = kNoDeadline) {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) {
      lock.unlock();
      done(ShuttingDown());
      return;
    }
    for (const auto& queued : queue_) {  // the queue holds only jobs not yet started
      if (queued->key == key && queued->deadline <= deadline) {
        queued->waiters.push_back(std::move(done));
        return;
      }
    }
    auto job = std::make_shared<Job>();
    job->key = key;
    job->deadline = deadline;
    job->work = std::move(work);
    job->waiters.push_back(std::move(done));
    queue_.push_back(std::move(job));
    queued_.notify_one();
  }

  // Submit and wait for the result (tests, and callers that may block).
  std::shared_ptr<const Result> Run(const std::string& key, Work work,
                                    Clock::time_point deadline = kNoDeadline) {
    std::promise<std::shared_ptr<const Result>> promise;
    auto future = promise.get_future();
    Submit(
        key, std::move(work),
        [&promise](std::shared_ptr<const Result> r) { promise.set_value(std::move(r)); }, deadline);
    return future.get();
  }

  // Finishes the running job, answers queued ones with shutting_down and joins the thread.
  // Idempotent.
  void Stop() {
    std::lock_guard<std::mutex> stop_lock(stop_mu_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    queued_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // Jobs run so far (coalesced requests do not count): for tests.
  unsigned long jobs_run() const {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_run_;
  }

  // Requests waiting for a job that has not started yet (coalesced ones each count): for tests.
  std::size_t waiting() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::size_t n = 0;
    for (const auto& job : queue_) n += job->waiters.size();
    return n;
  }

 private:
  struct Job {
    std::string key;
    Clock::time_point deadline = kNoDeadline;
    Work work;
    std::vector<Done> waiters;
  };

  static std::shared_ptr<const Result> ShuttingDown() {
    auto r = std::make_shared<Result>();
    r->error = "shutting down";
    r->shutting_down = true;
    return r;
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      queued_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      std::shared_ptr<Job> job = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      auto result = std::make_shared<Result>();
      if (job->deadline != kNoDeadline && Clock::now() >= job->deadline) {
        result->expired = true;
        result->error = "its deadline passed while it waited behind other requests";
      } else {
        try {
          result->value = job->work();
        } catch (const std::exception& e) {
          result->error = e.what();
        } catch (...) {
          result->error = "unknown exception";
        }
      }
      job->work = nullptr;  // release what the work captured (the scraper) on this thread
      lock.lock();
      ++jobs_run_;
      // The job left the queue, so no one adds waiters any more.
      std::vector<Done> waiters = std::move(job->waiters);
      lock.unlock();
      std::shared_ptr<const Result> shared = std::move(result);
      for (auto& done : waiters) done(shared);
      lock.lock();
    }
    std::deque<std::shared_ptr<Job>> left = std::move(queue_);
    queue_.clear();
    lock.unlock();
    auto down = ShuttingDown();
    for (auto& job : left) {
      for (auto& done : job->waiters) done(down);
    }
  }

  mutable std::mutex mu_;
  std::condition_variable queued_;  // the thread waits for jobs
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  unsigned long jobs_run_ = 0;
  std::mutex stop_mu_;  // serializes Stop()
  std::thread thread_;  // last: starts after everything it uses
};

// Scrapes: the serialized (and, when asked, gzipped) exposition.
using ScrapeExecutor = Executor<std::string>;

}  // namespace pagescope
