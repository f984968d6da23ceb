#pragma once
// Process groups: /proc/<pid>/{stat,status} of every thread-group leader, plus the opt-in
// /proc/<pid>/smaps_rollup and /proc/<pid>/ksm_stat (Documentation/filesystems/proc.rst).
// Processes are put into groups by the matchers of the `groups` option (first match wins;
// without it every process is grouped by its comm). Kernel threads (PF_KTHREAD) are skipped:
// they own no user memory.
//
// Configuration (collectors.processes.groups), a list of matchers:
//   - name: "{{.Comm}}"          # template: {{.Comm}} {{.ExeBase}} {{.ExeFull}}
//                                #           {{.Matches.<name or number>}} (cmdline captures)
//     comm: [postgres, redis-server]   # any of these comm values (exact)
//     exe: [nginx, /usr/sbin/sshd]      # any: base name, or the full path when it has a '/'
//     cmdline: ['-name guest=(?P<vm>[^,]+)']   # all must match the arguments joined by
//                                               # spaces (ECMAScript, named groups allowed)
// The criteria given in one matcher must all hold; a matcher without criteria matches every
// process. A process no matcher takes is not counted.
//
// Fault counters of a group never go backwards: what a process had counted when it exited
// (keyed by pid and start time, so a reused pid is a new process) stays in its group.
//
// Bounded (GroupPlaces below): at most `max_groups` groups (default 50) hold a place; processes
// of any other group are counted in the overflow group kOverflowGroup. A group with no process
// for `idle_timeout` (default 1h) loses its place and its series. Which groups win: a group
// that holds a place keeps it while it has processes (and for idle_timeout after); free places
// go to waiting groups in the order they first appear, and among groups that appear in the
// same scrape to the one with the most resident memory (then by name). A group therefore
// moves at most once, from the overflow to a place of its own, never back while it lives.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "framework/collector.h"
#include "kernel/proc_pid.h"

namespace pagescope {

// The group matchers, parsed and validated from the `groups` option. Exposed for tests.
class ProcessMatchers {
 public:
  struct Facts {
    std::string_view comm;
    // Loaded on demand (exe is a readlink, cmdline a read): only matchers that need them ask.
    std::function<const std::string&()> exe;
    std::function<const std::string&()> cmdline;  // arguments joined by spaces
    // The process's cgroup path (/proc/<pid>/cgroup: the memory controller's hierarchy, else
    // the v2 one), relative to the root; only for templates that use .Cgroup, .Pod or .Unit.
    std::function<const std::string&()> cgroup;
  };

  // `groups` undefined or null: the default (every process by its comm). Throws ConfigError
  // through options.FailAt naming the file and line of a bad entry.
  static ProcessMatchers FromYaml(const CollectorOptions& options, const std::string& option,
                                  const YAML::Node& groups);
  static ProcessMatchers Default();

  // The group name, or empty when no matcher takes the process.
  std::string Match(const Facts& facts) const;
  // Match for a live process: exe and cmdline are read through `reader` only when a matcher
  // asks for them (`buf` is scratch space for the read).
  std::string MatchProcess(const PidReader& reader, int pid, std::string_view comm,
                           std::string& buf) const;
  bool needs_exe() const { return needs_exe_; }
  bool needs_cmdline() const { return needs_cmdline_; }

 private:
  struct Segment {
    enum Kind { kLiteral, kComm, kExeBase, kExeFull, kMatch, kCgroup, kPod, kUnit } kind = kLiteral;
    std::string text;  // literal text or capture name
  };
  struct Matcher {
    std::vector<Segment> name;
    std::vector<std::string> comm;
    std::vector<std::string> exe;
    struct Pattern {
      std::regex re;
      std::map<std::string, std::size_t> names;  // capture name -> index
    };
    std::vector<Pattern> cmdline;
  };
  std::vector<Matcher> matchers_;
  bool needs_exe_ = false;
  bool needs_cmdline_ = false;
};

// The overflow group. 17 bytes: longer than any comm (TASK_COMM_LEN is 16 with the NUL), so the
// default grouping by comm can never produce it; a matcher template that does is counted in the
// overflow group too (a name spelled like it is taken to mean it), and a literal template that
// spells it is refused at configuration time.
inline constexpr std::string_view kOverflowGroup = "(other processes)";

// Which group names hold one of the bounded places. Pure policy, exposed for tests: the caller
// passes the clock.
class GroupPlaces {
 public:
  using Clock = std::chrono::steady_clock;
  // max_groups 0: no limit. idle 0: groups are never dropped.
  GroupPlaces(std::size_t max_groups, Clock::duration idle) : max_(max_groups), idle_(idle) {}

  // One scrape: every group name that has a process now, with its resident bytes (the order
  // among newcomers of one scrape). Drops groups idle for longer than the timeout, then gives
  // free places to waiting groups (first come; in one scrape the largest first).
  void Update(const std::map<std::string, std::uint64_t>& present, Clock::time_point now);
  bool Placed(const std::string& name) const { return places_.count(name) > 0; }
  // Groups that lost their place in the last Update (idle): their series go.
  const std::vector<std::string>& dropped() const { return dropped_; }
  // Names seen in the last Update that wait in the overflow.
  std::size_t folded() const { return folded_; }
  std::size_t size() const { return places_.size(); }

 private:
  struct Waiting {
    std::uint64_t arrival;  // the Update that first saw it waiting
    Clock::time_point last_seen;
  };
  std::size_t max_;
  Clock::duration idle_;
  std::uint64_t updates_ = 0;
  std::map<std::string, Clock::time_point> places_;  // name -> last scrape that saw a process
  std::map<std::string, Waiting> waiting_;
  std::vector<std::string> dropped_;
  std::size_t folded_ = 0;
};

// "10m", "1h", "90s", "0" (never) -> seconds; nullopt when malformed. Exposed for tests.
std::optional<std::chrono::seconds> ParseDurationText(std::string_view text);

// "(?P<vm>x)" and "(?<vm>x)" -> "(x)", with vm -> 1. Throws std::invalid_argument on a
// malformed group name. Exposed for tests.
std::string StripNamedGroups(std::string_view pattern, std::map<std::string, std::size_t>* names);

// The collector with an injected clock (tests); the spec's make uses the steady clock.
std::unique_ptr<Collector> MakeProcessesCollector(
    const CollectorOptions& options, std::function<GroupPlaces::Clock::time_point()> now);

CollectorSpec ProcessesCollectorSpec();

}  // namespace pagescope
