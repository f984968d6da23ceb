#include "exporter/scrape_executor.h"

#include <stdexcept>

namespace pagescope {

ScrapeExecutor::ScrapeExecutor() : thread_([this] { Loop(); }) {}

ScrapeExecutor::~ScrapeExecutor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  queued_.notify_all();
  thread_.join();
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return callers_ == 0; });
}

std::shared_ptr<const ScrapeExecutor::Result> ScrapeExecutor::Run(const std::string& key,
                                                                  Work work) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) {
    auto r = std::make_shared<Result>();
    r->error = "shutting down";
    r->shutting_down = true;
    return r;
  }
  std::shared_ptr<Job> job;
  for (const auto& queued : queue_) {  // the queue holds only jobs not yet started
    if (queued->key == key) {
      job = queued;
      break;
    }
  }
  if (!job) {
    job = std::make_shared<Job>();
    job->key = key;
    job->work = std::move(work);
    queue_.push_back(job);
    queued_.notify_one();
  }
  ++callers_;
  done_.wait(lock, [&] { return job->result != nullptr; });
  --callers_;
  if (stopping_) done_.notify_all();  // the destructor may be waiting for callers to leave
  return job->result;
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
    job->result = std::move(result);
    ++jobs_run_;
    done_.notify_all();
  }
  for (auto& job : queue_) {
    auto r = std::make_shared<Result>();
    r->error = "shutting down";
    r->shutting_down = true;
    job->result = std::move(r);
  }
  queue_.clear();
  done_.notify_all();
}

}  // namespace pagescope
