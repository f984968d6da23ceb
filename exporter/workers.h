#pragma once
// Threads that run collectors for the scraper (exporter/scraper.h), so that a scrape can stop
// waiting for a collector that is stuck (a read that blocks, a long walk) and answer in time.
//
// Run() hands a task to an idle thread, or starts a thread when none is idle: a thread stuck in
// a task never holds up another task. Up to kKeepIdle idle threads are kept for the next tasks;
// more exit when their task is done. Threads are detached and share the pool's state, so a task
// still running when the pool is destroyed (a collector stuck since a scrape that has long
// answered) finishes safely later; what a task uses it must own (shared pointers).

#include <cstddef>
#include <functional>
#include <memory>

namespace pagescope {

class Workers {
 public:
  static constexpr std::size_t kKeepIdle = 4;

  Workers();
  // Idle threads exit; busy ones exit when their task returns.
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Runs `task` on a pool thread. Throws std::system_error when no thread can be started.
  void Run(std::function<void()> task);

  // Threads that exist now, and how many of them run a task (tests).
  std::size_t threads() const;
  std::size_t busy() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace pagescope
