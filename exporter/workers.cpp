#include "exporter/workers.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace pagescope {

struct Workers::State {
  std::mutex mu;
  std::condition_variable queued;
  std::deque<std::function<void()>> tasks;  // handed over, not yet taken by a thread
  std::size_t threads = 0;
  std::size_t idle = 0;  // threads waiting for a task
  bool stopping = false;

  static void Loop(std::shared_ptr<State> self) {
    std::unique_lock<std::mutex> lock(self->mu);
    for (;;) {
      if (!self->tasks.empty()) {
        std::function<void()> task = std::move(self->tasks.front());
        self->tasks.pop_front();
        lock.unlock();
        task();
        task = nullptr;  // what it captured goes here, not under the lock
        lock.lock();
        continue;
      }
      if (self->stopping || self->idle >= kKeepIdle) break;
      ++self->idle;
      self->queued.wait(lock, [&] { return !self->tasks.empty() || self->stopping; });
      --self->idle;
    }
    --self->threads;
  }
};

Workers::Workers() : state_(std::make_shared<State>()) {}

Workers::~Workers() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->stopping = true;
  state_->queued.notify_all();
}

void Workers::Run(std::function<void()> task) {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->tasks.push_back(std::move(task));
  // Every queued task needs a thread of its own: a waiting one, or a new one.
  if (state_->idle >= state_->tasks.size()) {
    state_->queued.notify_one();
    return;
  }
  ++state_->threads;
  try {
    std::thread(State::Loop, state_).detach();
  } catch (...) {
    --state_->threads;
    state_->tasks.pop_back();
    throw;
  }
}

std::size_t Workers::threads() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->threads;
}

std::size_t Workers::busy() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->threads - state_->idle;
}

}  // namespace pagescope
