#pragma once
// Runs jobs (scrapes, password checks) on one dedicated thread, so the web server's event loop
// never blocks and only this thread grows its stack and heap to the size of the largest scrape.
//
// Requests with the same key (collect[]/exclude[]) that arrive while a job with that key is
// queued but not yet started share its result: a result is always computed after the request
// that receives it arrived.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pagescope {

class ScrapeExecutor {
 public:
  struct Result {
    // Set on success: the serialized exposition.
    std::string body;
    // Set on failure; `bad_request` tells a caller error (unknown collector, 400) from
    // anything else (500, or shutting down: 503).
    std::string error;
    bool bad_request = false;
    bool shutting_down = false;
  };
  // Computes a body; throws std::invalid_argument for a bad request.
  using Work = std::function<std::string()>;
  // Receives the result, on the executor's thread (or, once stopped, on the caller's).
  using Done = std::function<void(std::shared_ptr<const Result>)>;

  // No malloc_trim after jobs: measured at 10,000 processes it returned nothing worth having
  // (main.cpp already sends buffers above 64 KiB to mmap), see docs/security.md.
  ScrapeExecutor();
  ~ScrapeExecutor();  // Stop()
  ScrapeExecutor(const ScrapeExecutor&) = delete;
  ScrapeExecutor& operator=(const ScrapeExecutor&) = delete;

  // Queues `work` unless a queued job shares `key`; `done` is called exactly once with the
  // result. After Stop(), `done` is called at once with a shutting_down result.
  void Submit(const std::string& key, Work work, Done done);
  // Submit and wait for the result (tests, and callers that may block).
  std::shared_ptr<const Result> Run(const std::string& key, Work work);

  // Finishes the running job, answers queued ones with shutting_down and joins the thread.
  // Idempotent.
  void Stop();

  // Jobs run so far (coalesced requests do not count): for tests.
  unsigned long jobs_run() const;

 private:
  struct Job {
    std::string key;
    Work work;
    std::vector<Done> waiters;
  };
  void Loop();
  static std::shared_ptr<const Result> ShuttingDown();

  mutable std::mutex mu_;
  std::condition_variable queued_;  // the thread waits for jobs
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  unsigned long jobs_run_ = 0;
  std::mutex stop_mu_;  // serializes Stop()
  std::thread thread_;
};

}  // namespace pagescope
