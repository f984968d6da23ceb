#include "proctable/qemu_cmdline.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>

#include "framework/errors.h"
#include "kernel/parse.h"
#include "kernel/proc_pid.h"

namespace pagescope {
namespace {

// QemuOpts "a,b=c,d=e,,f": the first element without '=' is the implied key; ",," is a comma.
std::vector<std::pair<std::string, std::string>> SplitOpts(std::string_view text,
                                                           const std::string& implied) {
  std::vector<std::pair<std::string, std::string>> out;
  std::string cur;
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == ',') {
      if (i + 1 < text.size() && text[i + 1] == ',') {
        cur += ',';
        ++i;
        continue;
      }
      parts.push_back(cur);
      cur.clear();
      continue;
    }
    cur += text[i];
  }
  parts.push_back(cur);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto eq = parts[i].find('=');
    if (eq == std::string::npos) {
      out.emplace_back(i == 0 ? implied : parts[i], i == 0 ? parts[i] : "on");
    } else {
      out.emplace_back(parts[i].substr(0, eq), parts[i].substr(eq + 1));
    }
  }
  return out;
}

bool Bool(std::string_view v) { return v == "on" || v == "yes" || v == "true" || v == "1"; }

std::uint64_t Size(std::string_view v, std::size_t arg, std::uint64_t default_unit = 1) {
  auto s = ParseSize(v, default_unit);
  if (!s) throw ParseError(arg, "bad size \"" + std::string(v) + "\"");
  return *s;
}

void SetBackendKey(QemuMemoryBackend& b, const std::string& key, const std::string& v,
                   std::size_t arg) {
  if (key == "qom-type") {
    b.type = v.starts_with("memory-backend-") ? v.substr(15) : v;
  } else if (key == "id") {
    b.id = v;
  } else if (key == "size") {
    b.size = Size(v, arg);
  } else if (key == "mem-path") {
    b.mem_path = v;
  } else if (key == "share") {
    b.share = Bool(v);
  } else if (key == "prealloc") {
    b.prealloc = Bool(v);
  } else if (key == "hugetlb") {
    b.hugetlb = Bool(v);
  } else if (key == "hugetlbsize") {
    b.hugetlbsize = Size(v, arg);
  } else if (key == "host-nodes") {
    b.host_nodes = b.host_nodes.empty() ? v : b.host_nodes + "," + v;
  } else if (key == "policy") {
    b.policy = v;
  }
}

bool IsMemoryBackend(std::string_view qom_type) {
  return qom_type == "memory-backend-file" || qom_type == "memory-backend-ram" ||
         qom_type == "memory-backend-memfd";
}

// The PCI address of a vfio-pci device's host= or sysfsdev= value.
void AddVfio(QemuCmdline& q, const std::string& key, const std::string& v) {
  std::string addr;
  if (key == "host") {
    addr = NormalizePciAddress(v);
  } else if (key == "sysfsdev") {
    auto slash = v.rfind('/');
    addr = NormalizePciAddress(slash == std::string::npos ? v : v.substr(slash + 1));
  }
  if (!addr.empty()) q.vfio_devices.push_back(addr);
}

}  // namespace

std::string NormalizePciAddress(std::string_view text) {
  // [dddd:]bb:dd.f
  auto hex = [](std::string_view s, std::size_t max) {
    if (s.empty() || s.size() > max) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(c) != 0; });
  };
  std::string_view domain = "0000";
  auto first = text.find(':');
  if (first == std::string_view::npos) return "";
  auto second = text.find(':', first + 1);
  if (second != std::string_view::npos) {
    domain = text.substr(0, first);
    text.remove_prefix(first + 1);
  }
  auto colon = text.find(':');
  auto dot = text.find('.');
  if (colon == std::string_view::npos || dot == std::string_view::npos || dot < colon) return "";
  auto bus = text.substr(0, colon), dev = text.substr(colon + 1, dot - colon - 1),
       fn = text.substr(dot + 1);
  if (!hex(domain, 4) || !hex(bus, 2) || !hex(dev, 2) || fn.size() != 1 || fn[0] < '0' ||
      fn[0] > '7') {
    return "";
  }
  auto pad = [](std::string_view s, std::size_t n) {
    std::string out(n - s.size(), '0');
    for (char c : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  return pad(domain, 4) + ":" + pad(bus, 2) + ":" + pad(dev, 2) + "." + std::string(fn);
}

bool IsQemuComm(std::string_view comm) {
  return comm.starts_with("qemu-system-") || comm == "qemu-kvm";
}

std::string VmLabel(const QemuCmdline& q, int pid) {
  return !q.name.empty() ? q.name : !q.uuid.empty() ? q.uuid : "pid-" + std::to_string(pid);
}

std::vector<const QemuMemoryBackend*> QemuCmdline::RamBackends() const {
  std::vector<const QemuMemoryBackend*> out;
  auto add = [&](const std::string& id) {
    for (const auto& b : backends) {
      if (b.id == id && std::find(out.begin(), out.end(), &b) == out.end()) out.push_back(&b);
    }
  };
  if (!machine_memory_backend.empty()) add(machine_memory_backend);
  for (const auto& id : numa_memdevs) add(id);
  return out;
}

QemuCmdline ParseQemuCmdline(const std::vector<std::string>& args) {
  QemuCmdline q;
  for (std::size_t i = 1; i < args.size(); ++i) {
    std::string opt = args[i];
    if (opt.starts_with("--")) opt.erase(0, 1);
    if (opt.empty() || opt[0] != '-') continue;
    bool has_value = i + 1 < args.size();
    std::size_t arg = i + 1;  // 1-based number of the value argument
    if (opt == "-mem-prealloc") {
      q.mem_prealloc = true;
      continue;
    }
    if (!has_value) continue;
    const std::string& v = args[i + 1];
    if (opt == "-name") {
      for (const auto& [k, val] : SplitOpts(v, "guest")) {
        if (k == "guest") q.name = val;
      }
      ++i;
    } else if (opt == "-uuid") {
      q.uuid = v;
      ++i;
    } else if (opt == "-m") {
      for (const auto& [k, val] : SplitOpts(v, "size")) {
        if (k == "size") q.memory_bytes = Size(val, arg, 1u << 20);
      }
      ++i;
    } else if (opt == "-mem-path") {
      q.mem_path = v;
      ++i;
    } else if (opt == "-object") {
      ++i;
      QemuMemoryBackend b;
      if (!v.empty() && v[0] == '{') {
        YAML::Node n;
        try {
          n = YAML::Load(v);
        } catch (const YAML::Exception& e) {
          throw ParseError(arg, std::string("bad JSON object: ") + e.what());
        }
        if (!n.IsMap()) throw ParseError(arg, "JSON object expected");
        if (!n["qom-type"] || !IsMemoryBackend(n["qom-type"].Scalar())) continue;
        for (const auto& kv : n) {
          const std::string key = kv.first.Scalar();
          if (kv.second.IsSequence()) {
            for (const auto& item : kv.second) SetBackendKey(b, key, item.Scalar(), arg);
          } else if (kv.second.IsScalar()) {
            SetBackendKey(b, key, kv.second.Scalar(), arg);
          }
        }
      } else {
        auto kvs = SplitOpts(v, "qom-type");
        if (kvs.empty() || !IsMemoryBackend(kvs[0].second)) continue;
        for (const auto& [k, val] : kvs) SetBackendKey(b, k, val, arg);
      }
      q.backends.push_back(std::move(b));
    } else if (opt == "-numa") {
      ++i;
      auto kvs = SplitOpts(v, "type");
      if (kvs.empty() || kvs[0].second != "node") continue;
      for (const auto& [k, val] : kvs) {
        if (k == "memdev") q.numa_memdevs.push_back(val);
      }
    } else if (opt == "-device") {
      ++i;
      if (!v.empty() && v[0] == '{') {
        YAML::Node n;
        try {
          n = YAML::Load(v);
        } catch (const YAML::Exception& e) {
          throw ParseError(arg, std::string("bad JSON object: ") + e.what());
        }
        if (!n.IsMap()) throw ParseError(arg, "JSON object expected");
        if (!n["driver"] || n["driver"].Scalar() != "vfio-pci") continue;
        for (const auto& kv : n) {
          if (kv.second.IsScalar()) AddVfio(q, kv.first.Scalar(), kv.second.Scalar());
        }
      } else {
        auto kvs = SplitOpts(v, "driver");
        if (kvs.empty() || kvs[0].second != "vfio-pci") continue;
        for (const auto& [k, val] : kvs) AddVfio(q, k, val);
      }
    } else if (opt == "-machine" || opt == "-M") {
      ++i;
      for (const auto& [k, val] : SplitOpts(v, "type")) {
        if (k == "memory-backend") q.machine_memory_backend = val;
      }
    }
  }
  return q;
}

}  // namespace pagescope
