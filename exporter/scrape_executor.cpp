#include "exporter/scrape_executor.h"

#include <future>
#include <stdexcept>

namespace pagescope {

ScrapeExecutor::ScrapeExecutor() : thread_([this] { Loop(); }) {}

ScrapeExecutor::~ScrapeExecutor() { Stop(); }

std::shared_ptr<const ScrapeExecutor::Result> ScrapeExecutor::ShuttingDown() {
  auto r = std::make_shared<Result>();
  r->error = "shutting down";
  r->shutting_down = true;
  return r;
}

void ScrapeExecutor::Stop() {
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  queued_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ScrapeExecutor::Submit(const std::string& key, Work work, Done done) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) {
    lock.unlock();
    done(ShuttingDown());
    return;
  }
  for (const auto& queued : queue_) {  // the queue holds only jobs not yet started
    if (queued->key == key) {
      queued->waiters.push_back(std::move(done));
      return;
    }
  }
  auto job = std::make_shared<Job>();
  job->key = key;
  job->work = std::move(work);
  job->waiters.push_back(std::move(done));
  queue_.push_back(std::move(job));
  queued_.notify_one();
}

std::shared_ptr<const ScrapeExecutor::Result> ScrapeExecutor::Run(const std::string& key,
                                                                  Work work) {
  std::promise<std::shared_ptr<const Result>> promise;
  auto future = promise.get_future();
  Submit(key, std::move(work),
         [&promise](std::shared_ptr<const Result> r) { promise.set_value(std::move(r)); });
  return future.get();
}

unsigned long ScrapeExecutor::jobs_run() const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_run_;
}

void ScrapeExecutor::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    queued_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    std::shared_ptr<Job> job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    auto result = std::make_shared<Result>();
    try {
      result->body = job->work();
    } catch (const std::invalid_argument& e) {
      result->error = e.what();
      result->bad_request = true;
    } catch (const std::exception& e) {
      result->error = e.what();
    } catch (...) {
      result->error = "unknown exception";
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

}  // namespace pagescope
