#pragma once
// Runs scrapes on one dedicated thread. The web server has hundreds of worker threads (so idle
// and slow connections cannot block scrapes); if each ran scrapes itself, each would grow its
// stack and heap to the size of the largest scrape. Here only this thread does.
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

  // No malloc_trim after jobs: measured at 10,000 processes it returned nothing worth having
  // (main.cpp already sends buffers above 64 KiB to mmap), see docs/security.md.
  ScrapeExecutor();
  ~ScrapeExecutor();  // finishes the running job, fails queued ones with shutting_down
  ScrapeExecutor(const ScrapeExecutor&) = delete;
  ScrapeExecutor& operator=(const ScrapeExecutor&) = delete;

  // Blocks until the result for `key` is ready; `work` runs unless a queued job shares the key.
  std::shared_ptr<const Result> Run(const std::string& key, Work work);

  // Jobs run so far (coalesced requests do not count): for tests.
  unsigned long jobs_run() const;

 private:
  struct Job {
    std::string key;
    Work work;
    std::shared_ptr<const Result> result;  // set when done
  };
  void Loop();

  mutable std::mutex mu_;
  std::condition_variable queued_;  // the thread waits for jobs
  std::condition_variable done_;    // callers wait for results
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  unsigned long jobs_run_ = 0;
  int callers_ = 0;  // inside Run; the destructor waits for them to leave
  std::thread thread_;
};

}  // namespace pagescope
