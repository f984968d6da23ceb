#include "framework/collector.h"

#include <algorithm>
#include <sstream>

#include "framework/yaml_errors.h"

namespace pagescope {

ReadResult Context::Fetch(const std::filesystem::path& path) const {
  return open_files_ != nullptr ? open_files_->Read(path) : FsRoot::ReadFile(path);
}

std::optional<std::string> Context::ReadQuiet(const std::filesystem::path& path,
                                              ReadStatus* status) const {
  ReadResult r = Fetch(path);
  if (status != nullptr) *status = r.status;
  if (!Usable(r.status, r.error, path)) return std::nullopt;
  return std::move(r.content);
}

bool Context::Usable(ReadStatus status, const std::string& error,
                     const std::filesystem::path& path) const {
  switch (status) {
    case ReadStatus::kOk:
      return true;
    case ReadStatus::kMissing:
      return false;
    case ReadStatus::kDenied:
      WarnDenied(path, error);
      return false;
    case ReadStatus::kError:
      break;
  }
  throw CollectError(path.string() + ": " + error);
}

std::optional<std::string> Context::Read(const std::filesystem::path& path) const {
  ReadStatus status;
  auto content = ReadQuiet(path, &status);
  if (status == ReadStatus::kMissing && log::Enabled(log::Level::kDebug)) {
    log::Debug("file not present, no series", {{"path", path.string()}});
  }
  return content;
}

std::optional<std::string> Context::ReadRootOnly(const std::filesystem::path& path) const {
  ReadResult r = Fetch(path);
  if (r.status == ReadStatus::kMissing || r.status == ReadStatus::kDenied) {
    if (log::Enabled(log::Level::kDebug)) {
      log::Debug("file not readable, no series", {{"path", path.string()}, {"err", r.error}});
    }
    return std::nullopt;
  }
  if (!Usable(r.status, r.error, path)) return std::nullopt;  // kError throws
  return std::move(r.content);
}

std::optional<std::string> Context::TryRead(const std::filesystem::path& path) const {
  ReadResult r = Fetch(path);
  if (r.status != ReadStatus::kOk) return std::nullopt;
  return std::move(r.content);
}

std::optional<std::vector<std::string>> Context::TryReadSubdirs(
    const std::filesystem::path& path) const {
  auto r = FsRoot::ReadSubdirs(path);
  if (r.status != ReadStatus::kOk) return std::nullopt;
  return std::move(r.names);
}

std::optional<std::vector<std::string>> Context::ReadDir(const std::filesystem::path& path) const {
  return DirNames(FsRoot::ReadDir(path), path);
}

std::optional<std::vector<std::string>> Context::ReadSubdirs(
    const std::filesystem::path& path) const {
  return DirNames(FsRoot::ReadSubdirs(path), path);
}

std::optional<std::vector<std::string>> Context::DirNames(DirResult r,
                                                          const std::filesystem::path& path) const {
  if (r.status == ReadStatus::kMissing && log::Enabled(log::Level::kDebug)) {
    log::Debug("directory not present, no series", {{"path", path.string()}});
  }
  if (!Usable(r.status, r.error, path)) return std::nullopt;
  return std::move(r.names);
}

namespace {

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The kind of a per-process path: below procfs, the pid becomes "<pid>" and a task's id
// "<tid>" (/proc/42/task/43/stat -> /proc/<pid>/task/<tid>/stat); other paths stay.
std::filesystem::path KindOf(const std::filesystem::path& path,
                             const std::filesystem::path& procfs) {
  auto rel = path.lexically_relative(procfs);
  if (rel.empty() || *rel.begin() == "..") return path;
  std::filesystem::path out = procfs;
  bool first = true, after_task = false;
  for (const auto& part : rel) {
    const std::string s = part.string();
    if (first && AllDigits(s)) {
      out /= "<pid>";
    } else if (after_task && AllDigits(s)) {
      out /= "<tid>";
    } else {
      out /= part;
    }
    after_task = !first && s == "task";
    first = false;
  }
  return out;
}

}  // namespace

void Context::WarnDenied(const std::filesystem::path& path, const std::string& error,
                         const std::filesystem::path& actual) const {
  const std::filesystem::path kind = KindOf(path, fs_.procfs());
  if (accounting_ != nullptr) accounting_->Denied(kind.filename().string());
  if (denied_limiter_.Allow(kind.string())) {
    log::Warn("cannot read, no series (logged at most once a minute per kind of file)",
              {{"path", (actual.empty() ? path : actual).string()}, {"err", error}});
  }
}

void Context::CountWalk(const std::string& file, const std::string& result, double seconds,
                        double hold) const {
  if (accounting_ != nullptr) accounting_->Walk(file, result, seconds, 1, hold);
}

void Context::DeclareWalks(const std::string& file,
                           std::initializer_list<const char*> results) const {
  if (accounting_ == nullptr) return;
  for (const char* r : results) accounting_->Walk(file, r, 0, 0);
}

void ReadAccounting::Denied(const std::string& file) {
  std::lock_guard lock(mu_);
  ++denied_[file];
}

void ReadAccounting::Walk(const std::string& file, const std::string& result, double seconds,
                          std::uint64_t count, double hold) {
  std::lock_guard lock(mu_);
  Walks& w = walks_[file];
  w.results[result] += count;
  w.seconds += seconds;
  w.max_hold = std::max(w.max_hold, hold < 0 ? seconds : hold);
}

std::map<std::string, std::uint64_t> ReadAccounting::denied() const {
  std::lock_guard lock(mu_);
  return denied_;
}

std::map<std::string, ReadAccounting::Walks> ReadAccounting::walks() const {
  std::lock_guard lock(mu_);
  return walks_;
}

const OptionValue& CollectorOptions::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    throw std::logic_error(Key(name) + " is not a declared option");
  }
  return it->second;
}

void CollectorOptions::Fail(const std::string& name, const std::string& message) const {
  throw ConfigError(Origin(name) + ": " + Key(name) + ": " + message);
}

void CollectorOptions::FailAt(const std::string& name, const YAML::Node& node,
                              const std::string& message) const {
  std::string origin = Origin(name);
  if (node.IsDefined() && !node.Mark().is_null()) {
    // Keep the file name of the option's origin, with the node's own line and column.
    auto colon = origin.find(':');
    std::string file = colon == std::string::npos ? origin : origin.substr(0, colon);
    origin = MarkText(file, node.Mark());
  }
  throw ConfigError(origin + ": " + Key(name) + ": " + message);
}

std::string CollectorOptions::Key(const std::string& name) const {
  return prefix_.empty() ? name : prefix_ + "." + name;
}

std::string CollectorOptions::Origin(const std::string& name) const { return Get(name).origin; }

std::string CollectorOptions::String(const std::string& name) const {
  const auto& v = Get(name);
  if (!v.node.IsDefined() || v.node.IsNull()) return "";
  if (!v.node.IsScalar()) Fail(name, "expected a string");
  return v.node.Scalar();
}

long long CollectorOptions::Int(const std::string& name) const {
  const auto& v = Get(name);
  try {
    return v.node.as<long long>();
  } catch (const YAML::Exception&) {
    Fail(name, "expected an integer, got \"" + (v.node.IsScalar() ? v.node.Scalar() : "") + "\"");
  }
}

bool CollectorOptions::Bool(const std::string& name) const {
  const auto& v = Get(name);
  try {
    return v.node.as<bool>();
  } catch (const YAML::Exception&) {
    Fail(name,
         "expected true or false, got \"" + (v.node.IsScalar() ? v.node.Scalar() : "") + "\"");
  }
}

std::vector<std::string> CollectorOptions::StringList(const std::string& name) const {
  const auto& v = Get(name);
  std::vector<std::string> out;
  if (!v.node.IsDefined() || v.node.IsNull()) return out;
  if (v.node.IsScalar()) {
    std::stringstream ss(v.node.Scalar());
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (!item.empty()) out.push_back(item);
    }
    return out;
  }
  if (!v.node.IsSequence()) Fail(name, "expected a list of strings");
  for (const auto& item : v.node) {
    if (!item.IsScalar()) FailAt(name, item, "expected a string in the list");
    out.push_back(item.Scalar());
  }
  return out;
}

YAML::Node CollectorOptions::Yaml(const std::string& name) const { return Get(name).node; }

std::string CollectorOptions::Fingerprint() const {
  std::string out;
  for (const auto& [name, value] : values_) {
    YAML::Emitter e;
    e.SetMapFormat(YAML::Flow);
    e.SetSeqFormat(YAML::Flow);
    if (value.node.IsDefined()) e << value.node;
    out += name + "=" + e.c_str() + "\n";
  }
  return out;
}

std::string_view CapabilityName(Capability cap) {
  switch (cap) {
    case Capability::kPerfmon:
      return "CAP_PERFMON";
    case Capability::kBpf:
      return "CAP_BPF";
  }
  return "CAP_UNKNOWN";
}

const CollectorSpec* FindCollector(const std::vector<CollectorSpec>& all, std::string_view name) {
  for (const auto& spec : all) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

}  // namespace pagescope
