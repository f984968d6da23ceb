#pragma once
// The collector framework: what a collector is, how it is declared once (name, default, help,
// options), and the per-scrape context through which it reads the kernel's files.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "framework/errors.h"
#include "framework/fs.h"
#include "framework/log.h"
#include "framework/metric_sink.h"

namespace pagescope {

// What the reads of one collector ran into beyond their content, in one scrape: files it could
// not read because permission was denied, by the kernel file's name (`numa_maps`,
// `memory.numa_stat`), and its page-table walks (numa_maps, smaps_rollup: reads that hold the
// process's mmap_lock for as long as they take) by file and result (`done`, or what was done
// instead: `cgroup`, `sampled`, `skipped`, `cached`), with the seconds they took. The scraper
// keeps one per collector and scrape and turns it into pagescope_scrape_denied_reads,
// pagescope_scrape_walks_total and pagescope_scrape_walk_seconds_total. Thread-safe (the /proc
// walk reads from several threads).
class ReadAccounting {
 public:
  struct Walks {
    std::map<std::string, std::uint64_t> results;  // result -> walks
    double seconds = 0;   // time spent in walks done and samples taken instead
    double max_hold = 0;  // the longest single walk or move_pages call: the longest lock hold
  };
  void Denied(const std::string& file);
  // `count` 0 declares the result without counting one (so its counter exists from the start).
  // `hold`: the longest mmap_lock hold within it (a walk: all of `seconds`).
  void Walk(const std::string& file, const std::string& result, double seconds = 0,
            std::uint64_t count = 1, double hold = -1);
  std::map<std::string, std::uint64_t> denied() const;
  std::map<std::string, Walks> walks() const;  // by file

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> denied_;
  std::map<std::string, Walks> walks_;
};

// When the collectors of a scrape must have stopped, on the steady clock; kNoDeadline: never
// (a scrape without a timeout: tests, golden files).
using Deadline = std::chrono::steady_clock::time_point;
inline constexpr Deadline kNoDeadline = Deadline::max();

// Handed to every Collect call; one per scrape. Reads go through the injected roots.
class Context {
 public:
  // `open_files`, when given, keeps sysfs descriptors open between scrapes (OpenFiles).
  // `deadline`: when the scrape's collectors must have stopped (the scraper derives it from the
  // scraper's timeout, exporter/scraper.h).
  Context(const FsRoot& fs, log::RateLimiter& denied_limiter, OpenFiles* open_files = nullptr,
          Deadline deadline = kNoDeadline)
      : fs_(fs), denied_limiter_(denied_limiter), open_files_(open_files), deadline_(deadline) {}
  // The scrape's Context as one collector sees it: the same roots, deadline and memo (the
  // scrape's walk of /proc, made once), its reads accounted in `accounting` (the scraper makes
  // one per collector: collectors of a scrape may run at the same time). `scrape` must outlive
  // it.
  Context(const Context& scrape, ReadAccounting* accounting)
      : fs_(scrape.fs_),
        denied_limiter_(scrape.denied_limiter_),
        open_files_(scrape.open_files_),
        deadline_(scrape.deadline_),
        accounting_(accounting),
        memo_owner_(scrape.memo_owner_ != nullptr ? scrape.memo_owner_ : &scrape) {}

  const FsRoot& fs() const { return fs_; }

  // The scrape's deadline, kNoDeadline when it has none.
  Deadline deadline() const { return deadline_; }
  // True once the deadline has passed. A collector whose work grows with the host (processes,
  // guests, cgroups, anything walked one by one) checks it between those units and returns when
  // it is true: the scraper then marks it failed for this scrape ("deadline exceeded",
  // pagescope_scrape_collector_success 0, pagescope_scrape_collector_deadline_exceeded_total),
  // keeps what it emitted before (so emit nothing a later part would have to correct: no partial
  // sums of counters) and answers in time. A collector need not check it around single small
  // reads. Costs one clock read (a few tens of nanoseconds).
  bool Expired() const {
    return deadline_ != kNoDeadline && std::chrono::steady_clock::now() >= deadline_;
  }

  // The whole file, or nullopt when it is missing (the kernel lacks it; logged at debug) or
  // permission is denied (warned at most once a minute per path). Other failures (a directory,
  // an I/O error, a file too large) throw CollectError naming the file.
  std::optional<std::string> Read(const std::filesystem::path& path) const;
  // Like Read, but a missing file is also reported as nullopt without any log line: for files
  // that vanish routinely (processes that exited).
  std::optional<std::string> ReadQuiet(const std::filesystem::path& path,
                                       ReadStatus* status = nullptr) const;
  // For a file only root may read (mode 0400) where running without root is a supported
  // setup: like Read, but permission denied is logged at debug level, not warned about.
  std::optional<std::string> ReadRootOnly(const std::filesystem::path& path) const;
  // For a file read on speculation (one a newer kernel added that this version does not know,
  // where some are write-only or not text): the whole file, or nullopt without any log line or
  // error when it cannot be read for any reason.
  std::optional<std::string> TryRead(const std::filesystem::path& path) const;
  // Like ReadSubdirs, for a directory that may well not be there (a hierarchy probed for, a
  // cgroup that may vanish): nullopt without any log line or error when it cannot be listed.
  std::optional<std::vector<std::string>> TryReadSubdirs(const std::filesystem::path& path) const;
  // Sorted entry names, or nullopt when missing or denied (same rules as Read).
  std::optional<std::vector<std::string>> ReadDir(const std::filesystem::path& path) const;
  // Like ReadDir, only the entries that are directories (FsRoot::ReadSubdirs).
  std::optional<std::vector<std::string>> ReadSubdirs(const std::filesystem::path& path) const;

  // A file not read because permission was denied: counted for the running collector under
  // the file's name (the last component of `path`) and warned about at most once a minute per
  // kind of file (below procfs the pid and a task's id count as one: /proc/<pid>/numa_maps).
  // `path` may already be such a pattern: then `actual`, when given, names the file in the
  // warning.
  void WarnDenied(const std::filesystem::path& path, const std::string& error,
                  const std::filesystem::path& actual = {}) const;
  // A page-table walk of `file` (numa_maps, smaps_rollup) with its result: `done` (it took
  // `seconds`), or what was done instead (ReadAccounting); `hold`, when not all of `seconds`,
  // is the longest lock hold within it (a sample's longest move_pages call).
  void CountWalk(const std::string& file, const std::string& result, double seconds = 0,
                 double hold = -1) const;
  // Declares the walk results a collector may report, so their counters exist from its first
  // scrape (counted 0 until they happen).
  void DeclareWalks(const std::string& file, std::initializer_list<const char*> results) const;

  // Per-scrape memo for work several collectors share (the walk of /proc): `make()` runs once
  // per scrape and key. Collectors of one scrape may run at the same time: a second caller
  // waits for the first one's result (or gets its exception). Collectors that must find the
  // memo made a certain way run after the collector that makes it (CollectorSpec::after).
  template <typename T, typename F>
  const T& Memo(const std::string& key, F&& make) const {
    if (memo_owner_ != nullptr) return memo_owner_->Memo<T>(key, std::forward<F>(make));
    std::promise<std::shared_ptr<const void>> promise;
    std::shared_future<std::shared_ptr<const void>> made;
    bool mine = false;
    {
      std::lock_guard<std::mutex> lock(memo_mu_);
      auto it = memo_.find(key);
      if (it == memo_.end()) {
        it = memo_.emplace(key, promise.get_future().share()).first;
        mine = true;
      }
      made = it->second;
    }
    if (mine) {
      try {
        promise.set_value(std::make_shared<const T>(make()));
      } catch (...) {
        promise.set_exception(std::current_exception());
      }
    }
    return *static_cast<const T*>(made.get().get());
  }

 private:
  ReadResult Fetch(const std::filesystem::path& path) const;
  // The error taxonomy: true for kOk; false for a missing file (no series) or a denied one
  // (warned about); throws CollectError naming the path for any other error.
  bool Usable(ReadStatus status, const std::string& error, const std::filesystem::path& path) const;
  std::optional<std::vector<std::string>> DirNames(DirResult r,
                                                   const std::filesystem::path& path) const;
  const FsRoot& fs_;
  log::RateLimiter& denied_limiter_;
  OpenFiles* open_files_;
  Deadline deadline_;
  ReadAccounting* accounting_ = nullptr;
  const Context* memo_owner_ = nullptr;  // a collector's view: the scrape's Context holds the memo
  mutable std::mutex memo_mu_;
  mutable std::map<std::string, std::shared_future<std::shared_ptr<const void>>> memo_;
};

// Runs `parse` and turns a ParseError into a CollectError "path:line: message".
template <typename F>
auto ParseFile(const std::filesystem::path& path, F&& parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const ParseError& e) {
    throw CollectError(FileLineError(path, e));
  }
}

class Collector {
 public:
  virtual ~Collector() = default;
  // Called once per scrape, possibly from several threads at once: a collector with state
  // guards it. Throwing (CollectError or anything else) makes the collector's success 0; what
  // it put into `out` before is kept. `out.Fail()` does the same without stopping it.
  virtual void Collect(const Context& ctx, MetricSink& out) = 0;
};

enum class OptionType {
  kString,
  kInt,
  kBool,
  kRegex,       // a string holding an ECMAScript regular expression
  kStringList,  // YAML list; on the command line a comma-separated list
  kYaml,        // structured, YAML only (no flag)
};

struct OptionSpec {
  std::string name;  // snake_case; YAML key collectors.<collector>.<name>,
                     // flag --collector.<collector>.<name with '-' for '_'>
  OptionType type = OptionType::kString;
  std::string default_value;  // YAML text; empty for kYaml means "not set"
  std::string help;
};

// An option's value and where it came from, so errors can name the file and line or the flag.
struct OptionValue {
  YAML::Node node;
  std::string origin;  // "path/to/config.yml:12:5" or "flag --collector.x.y" or "default"
};

class CollectorOptions {
 public:
  // `prefix` is the YAML path of the section, e.g. "collectors.vmstat" or "web".
  CollectorOptions(std::string prefix, std::map<std::string, OptionValue> values)
      : prefix_(std::move(prefix)), values_(std::move(values)) {}

  std::string String(const std::string& name) const;
  long long Int(const std::string& name) const;
  bool Bool(const std::string& name) const;
  std::vector<std::string> StringList(const std::string& name) const;
  // Undefined node when not set.
  YAML::Node Yaml(const std::string& name) const;
  // Where the option was set ("file:line:col", "flag --…", "default").
  std::string Origin(const std::string& name) const;

  // Throws ConfigError "origin: <prefix>.<name>: message".
  [[noreturn]] void Fail(const std::string& name, const std::string& message) const;
  // Same, for a node inside a structured option (uses that node's own line).
  [[noreturn]] void FailAt(const std::string& name, const YAML::Node& node,
                           const std::string& message) const;

  // A stable text form of all values, to tell whether a reload changed anything.
  std::string Fingerprint() const;

 private:
  const OptionValue& Get(const std::string& name) const;
  std::string Key(const std::string& name) const;
  std::string prefix_;
  std::map<std::string, OptionValue> values_;
};

// A Linux capability a collector needs beyond reading files (the exporter keeps CAP_SYS_PTRACE
// and CAP_DAC_READ_SEARCH in any case). The value is the kernel's capability number
// (linux/capability.h).
enum class Capability : int {
  kPerfmon = 38,  // perf_event_open on other users' processes and despite perf_event_paranoid
  kBpf = 39,      // loading BPF programs (the processes collector's source=bpf)
};
// "CAP_PERFMON".
std::string_view CapabilityName(Capability cap);

struct CollectorSpec {
  std::string
      name;  // [a-z0-9_]+; flag --collector.<name>, YAML collectors.<name>, collect[]=<name>
  bool default_enabled = true;
  std::string help;     // one line: what it exports
  std::string sources;  // the kernel files it reads, for the README table
  std::vector<OptionSpec> options;
  std::function<std::unique_ptr<Collector>(const CollectorOptions&)> make;
  // What the process must grant the collector when it is enabled, applied once at start-up by
  // the executable (exporter/privileges.h): capabilities kept when --web.drop-privileges-to
  // drops the others, and how many file descriptors it may hold open at once, from its options
  // (the RLIMIT_NOFILE soft limit is raised to make room). Unset: nothing beyond the defaults.
  std::vector<Capability> capabilities;
  // Capabilities that depend on its options (as processes' source=bpf), added to `capabilities`.
  std::function<std::vector<Capability>(const CollectorOptions&)> capabilities_for;
  std::function<std::uint64_t(const CollectorOptions&)> open_files;
  // Optional: looks at the running kernel once, when the collector is made (start-up, or a
  // reload that changed its options), through the injected roots, and logs a warning about
  // options that make it export nothing here (options that can never work are a ConfigError
  // of `make`).
  std::function<void(const CollectorOptions&, const FsRoot&)> check;
  // Collectors that run before this one when both are in a scrape, because this one uses what
  // they leave in the scrape's Context::Memo (the qemu and tlb collectors take the process
  // table the processes collector made from its configured source). Collectors without such
  // an order may run at the same time (exporter/scraper.h).
  std::vector<std::string> after;
};

// The spec of a collector that takes no options and is on by default.
template <class C>
CollectorSpec CollectorSpecWithoutOptions(std::string name, std::string help, std::string sources) {
  CollectorSpec spec;
  spec.name = std::move(name);
  spec.help = std::move(help);
  spec.sources = std::move(sources);
  spec.make = [](const CollectorOptions&) { return std::make_unique<C>(); };
  return spec;
}

// The spec called `name` in `all` (the exporter passes collectors/registry.h's AllCollectors()),
// or nullptr.
const CollectorSpec* FindCollector(const std::vector<CollectorSpec>& all, std::string_view name);

}  // namespace pagescope
