#pragma once
// What a collector keeps per process from one scrape to the next, keyed by ProcKey: the
// identity it found when it first saw the process (its group, its guest), the counters it
// carries over. One scrape:
//   Begin();
//   for each process of the table: auto seen = states.See(p);
//       seen.is_new: first seen now; seen.exec: seen before under another comm (it ran exec():
//       identify it again); seen.state: the collector's T, default-constructed when new;
//   End(on_gone): every process not seen since Begin() is handed to on_gone(key, state) (read
//       its last counts, carry them over, close what it holds) and forgotten.
// Not thread-safe: the collector holds its own lock over a scrape.

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "kernel/proc_pid.h"
#include "proctable/proc_key.h"

namespace pagescope {

template <typename T>
class ProcStates {
 public:
  struct Seen {
    T& state;
    bool is_new;
    bool exec;
    bool fresh() const { return is_new || exec; }  // identity to be found (again)
  };

  void Begin() { ++generation_; }

  Seen See(const ProcessEntry& p) {
    auto [it, is_new] = slots_.try_emplace(KeyOf(p));
    Slot& s = it->second;
    const std::uint64_t comm_hash = std::hash<std::string>()(p.stat.comm);
    const bool exec = !is_new && s.comm_hash != comm_hash;
    s.comm_hash = comm_hash;
    s.generation = generation_;
    return Seen{s.state, is_new, exec};
  }

  template <typename F>
  void End(F&& on_gone) {
    for (auto it = slots_.begin(); it != slots_.end();) {
      if (it->second.generation == generation_) {
        ++it;
        continue;
      }
      on_gone(it->first, it->second.state);
      it = slots_.erase(it);
    }
  }
  void End() {
    End([](const ProcKey&, T&) {});
  }

  // The state of a process seen in this scrape (after See); throws std::out_of_range otherwise.
  T& at(const ProcKey& key) { return slots_.at(key).state; }
  const T& at(const ProcKey& key) const { return slots_.at(key).state; }
  // fn(key, state) for every process held (seen now, or not yet ended).
  template <typename F>
  void ForEach(F&& fn) {
    for (auto& [key, slot] : slots_) fn(key, slot.state);
  }
  std::size_t size() const { return slots_.size(); }

 private:
  struct Slot {
    T state{};
    std::uint64_t comm_hash = 0;
    std::uint32_t generation = 0;
  };
  std::unordered_map<ProcKey, Slot, ProcKeyHash> slots_;
  std::uint32_t generation_ = 0;
};

}  // namespace pagescope
