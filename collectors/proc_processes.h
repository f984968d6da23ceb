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

#include <functional>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "collectors/proc_pid.h"
#include "exporter/collector.h"

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

// "(?P<vm>x)" and "(?<vm>x)" -> "(x)", with vm -> 1. Throws std::invalid_argument on a
// malformed group name. Exposed for tests.
std::string StripNamedGroups(std::string_view pattern, std::map<std::string, std::size_t>* names);

CollectorSpec ProcessesCollectorSpec();

}  // namespace pagescope
