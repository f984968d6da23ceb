#include "web/web_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <variant>

#include "framework/yaml_errors.h"
#include "web/ascii.h"
#include "web/basic_auth.h"
#include "web/tls.h"

namespace pagescope {
namespace {

std::string Scalar(const std::string& file, const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) FailNode(file, node, key, "expected a string");
  return node.Scalar();
}

void CheckMap(const std::string& file, const YAML::Node& node, const std::string& key) {
  if (!node.IsMap()) FailNode(file, node, key, "expected a mapping");
}

int TlsVersion(const std::string& file, const YAML::Node& node, const std::string& key) {
  std::string v = Scalar(file, node, key);
  std::optional<int> version = TlsProtocolVersion(v);
  if (!version)
    FailNode(file, node, key, "expected TLS10, TLS11, TLS12 or TLS13, got \"" + v + "\"");
  return *version;
}

// A list of strings (null or [] : empty); each item with its node, for messages.
std::vector<std::pair<std::string, YAML::Node>> StringList(const std::string& file,
                                                           const YAML::Node& node,
                                                           const std::string& key) {
  std::vector<std::pair<std::string, YAML::Node>> out;
  if (node.IsNull()) return out;
  if (!node.IsSequence()) FailNode(file, node, key, "expected a list");
  for (const auto& item : node) out.emplace_back(Scalar(file, item, key), item);
  return out;
}

std::string Join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : separator) + p;
  return out;
}

// cipher_suites: Go's names (exporter-toolkit's) to an OpenSSL cipher list of the TLS 1.2
// suites (TLS 1.3 suites are accepted and, as in Go, not configurable); `given`: any named.
std::string CipherList(const std::string& file, const YAML::Node& node, const std::string& key,
                       bool* given) {
  std::vector<std::string> tls12;
  for (const auto& entry : StringList(file, node, key)) {
    const std::string& name = entry.first;  // a named variable: lambdas cannot capture bindings
    const auto& item = entry.second;
    *given = true;
    const auto& suites = GoCipherSuites();
    auto it = std::find_if(suites.begin(), suites.end(),
                           [&](const CipherSuiteName& c) { return c.go == name; });
    if (it == suites.end()) {
      std::vector<std::string> known;
      for (const auto& c : suites) known.emplace_back(c.go);
      FailNode(file, item, key,
               "unknown cipher suite \"" + name + "\"" +
                   (IsGoInsecureCipherSuite(name)
                        ? " (one of Go's insecure suites, which exporter-toolkit refuses too)"
                        : "") +
                   "; known: " + Join(known, ", "));
    }
    if (!it->tls13) tls12.emplace_back(it->openssl);
  }
  return Join(tls12, ":");
}

std::string GroupList(const std::string& file, const YAML::Node& node, const std::string& key) {
  std::vector<std::string> groups;
  for (const auto& [name, item] : StringList(file, node, key)) {
    auto group = OpenSslGroupName(name);
    if (!group) {
      FailNode(file, item, key,
               "unknown curve \"" + name + "\"; known: CurveP256, CurveP384, CurveP521, X25519");
    }
    groups.emplace_back(*group);
  }
  return Join(groups, ":");
}

std::string Resolve(const std::string& config_file, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return (std::filesystem::path(config_file).parent_path() / path).string();
}

TlsConfig ParseTls(const std::string& file, const YAML::Node& node) {
  const std::string p = "tls_server_config.";
  TlsConfig c;
  c.min_version = *TlsProtocolVersion("TLS12");  // exporter-toolkit's defaults
  c.max_version = *TlsProtocolVersion("TLS13");
  bool auth_given = false;
  bool suites_given = false, sans_given = false;
  std::optional<YAML::Node> suites_key, sans_key;  // for messages (copies bind, = would assign)
  for (const auto& kv : node) {
    std::string k = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (k == "cert_file") {
      c.cert_file = Resolve(file, Scalar(file, v, p + k));
    } else if (k == "key_file") {
      c.key_file = Resolve(file, Scalar(file, v, p + k));
    } else if (k == "client_ca_file") {
      c.client_ca_file = Resolve(file, Scalar(file, v, p + k));
    } else if (k == "client_auth_type") {
      static const std::map<std::string, ClientAuth> kTypes = {
          {"NoClientCert", ClientAuth::kNoClientCert},
          {"RequestClientCert", ClientAuth::kRequestClientCert},
          {"RequireAnyClientCert", ClientAuth::kRequireAnyClientCert},
          {"RequireClientCert", ClientAuth::kRequireAnyClientCert},  // exporter-toolkit's alias
          {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
          {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert},
      };
      std::string s = Scalar(file, v, p + k);
      auto it = kTypes.find(s);
      if (it == kTypes.end()) {
        FailNode(file, v, p + k,
                 "expected NoClientCert, RequestClientCert, RequireAnyClientCert, "
                 "VerifyClientCertIfGiven or RequireAndVerifyClientCert, got \"" +
                     s + "\"");
      }
      c.client_auth = it->second;
      auth_given = true;
    } else if (k == "min_version") {
      c.min_version = TlsVersion(file, v, p + k);
    } else if (k == "max_version") {
      c.max_version = TlsVersion(file, v, p + k);
    } else if (k == "prefer_server_cipher_suites") {
      try {
        (void)v.as<bool>();
      } catch (const YAML::Exception&) {
        FailNode(file, v, p + k, "expected true or false");
      }
    } else if (k == "cipher_suites") {
      c.cipher_list = CipherList(file, v, p + k, &suites_given);
      suites_key.emplace(kv.first);
    } else if (k == "curve_preferences") {
      c.groups = GroupList(file, v, p + k);
    } else if (k == "client_allowed_sans") {
      for (auto& [san, item] : StringList(file, v, p + k)) c.allowed_sans.push_back(san);
      sans_given = !v.IsNull();
      sans_key.emplace(kv.first);
    } else if (k == "cert" || k == "key" || k == "client_ca") {
      FailNode(file, kv.first, p + k,
               "inline PEM is not supported by pagescope: use cert_file, key_file, "
               "client_ca_file");
    } else {
      FailNode(file, kv.first, p + k,
               "unknown key (known: cert_file, key_file, client_auth_type, client_ca_file, "
               "min_version, max_version, cipher_suites, curve_preferences, "
               "client_allowed_sans, prefer_server_cipher_suites)");
    }
  }
  if (c.cert_file.empty())
    FailNode(file, node, p + "cert_file", "missing (needed with tls_server_config)");
  if (c.key_file.empty())
    FailNode(file, node, p + "key_file", "missing (needed with tls_server_config)");
  if (c.min_version > c.max_version)
    FailNode(file, node, p + "min_version", "is above max_version");
  bool verifies = c.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
                  c.client_auth == ClientAuth::kRequireAndVerifyClientCert;
  if (verifies && c.client_ca_file.empty()) {
    FailNode(file, node, p + "client_ca_file", "needed to verify client certificates");
  }
  if (!c.client_ca_file.empty() && !auth_given)
    c.client_auth = ClientAuth::kRequireAndVerifyClientCert;
  if (!c.client_ca_file.empty() && c.client_auth == ClientAuth::kNoClientCert) {
    FailNode(file, node, p + "client_ca_file", "given but client_auth_type is NoClientCert");
  }
  if (sans_given && c.allowed_sans.empty()) {
    FailNode(file, *sans_key, p + "client_allowed_sans",
             "an empty list would refuse every client (leave the key out for no SAN check)");
  }
  // As exporter-toolkit: the SANs can only be checked when a certificate must be sent.
  if (sans_given && c.client_auth != ClientAuth::kRequireAnyClientCert &&
      c.client_auth != ClientAuth::kRequireAndVerifyClientCert) {
    FailNode(file, *sans_key, p + "client_allowed_sans",
             "needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert");
  }
  // Only TLS 1.3 suites named: Go has no TLS 1.2 suite left, so TLS 1.2 clients are refused
  // (TLS 1.3 suites are not configurable).
  if (suites_given && c.cipher_list.empty()) {
    if (c.max_version < *TlsProtocolVersion("TLS13")) {
      FailNode(file, *suites_key, p + "cipher_suites",
               "names no TLS 1.2 suite (TLS 1.3 suites are not configurable) and max_version "
               "is below TLS13: no client could connect");
    }
    c.min_version = *TlsProtocolVersion("TLS13");
  }
  auto loaded = LoadTlsMaterial(c);
  if (const auto* error = std::get_if<TlsFileError>(&loaded)) {
    FailNode(file, node, p + error->key, error->message);
  }
  c.material = std::get<std::shared_ptr<const TlsMaterial>>(std::move(loaded));
  return c;
}

void ParseHttp(const std::string& file, const YAML::Node& node, WebConfig& c) {
  const std::string p = "http_server_config.";
  static const std::vector<std::string> kAllowed = {"Strict-Transport-Security",
                                                    "X-Content-Type-Options", "X-Frame-Options",
                                                    "X-XSS-Protection", "Content-Security-Policy"};
  for (const auto& kv : node) {
    std::string k = kv.first.Scalar();
    if (k == "http2") {
      try {
        (void)kv.second.as<bool>();
      } catch (const YAML::Exception&) {
        FailNode(file, kv.second, p + k, "expected true or false");
      }
      continue;
    }
    if (k != "headers") FailNode(file, kv.first, p + k, "unknown key (known: headers, http2)");
    if (kv.second.IsNull()) continue;
    CheckMap(file, kv.second, p + k);
    for (const auto& h : kv.second) {
      std::string name = h.first.Scalar();
      std::string key = p + "headers." + name;
      auto it = std::find_if(kAllowed.begin(), kAllowed.end(),
                             [&](const std::string& a) { return EqualsIgnoreCase(a, name); });
      if (it == kAllowed.end()) {
        FailNode(file, h.first, key,
                 "header not allowed (allowed: Strict-Transport-Security, X-Content-Type-Options, "
                 "X-Frame-Options, X-XSS-Protection, Content-Security-Policy)");
      }
      std::string value = Scalar(file, h.second, key);
      if (value.find_first_of("\r\n") != std::string::npos ||
          value.find('\0') != std::string::npos) {
        FailNode(file, h.second, key, "line breaks are not allowed in header values");
      }
      if (*it == "X-Content-Type-Options" && !EqualsIgnoreCase(value, "nosniff")) {
        FailNode(file, h.second, key, "expected nosniff");
      }
      if (*it == "X-Frame-Options" && !EqualsIgnoreCase(value, "deny") &&
          !EqualsIgnoreCase(value, "sameorigin")) {
        FailNode(file, h.second, key, "expected deny or sameorigin");
      }
      c.headers.emplace_back(*it, value);
    }
  }
}

}  // namespace

WebConfig ParseWebConfig(const std::string& text, const std::string& file) {
  WebConfig c;
  c.file = file;
  YAML::Node root = LoadYaml(text, file);
  if (root.IsNull() || !root.IsDefined()) return c;
  if (!root.IsMap()) FailNode(file, root, "(top level)", "expected a mapping");
  for (const auto& kv : root) {
    std::string k = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (k == "tls_server_config") {
      if (v.IsNull() || (v.IsMap() && v.size() == 0)) continue;
      CheckMap(file, v, k);
      c.tls = ParseTls(file, v);
    } else if (k == "http_server_config") {
      if (v.IsNull()) continue;
      CheckMap(file, v, k);
      ParseHttp(file, v, c);
    } else if (k == "basic_auth_users") {
      if (v.IsNull()) continue;
      CheckMap(file, v, k);
      for (const auto& u : v) {
        std::string user = u.first.Scalar();
        std::string key = k + "." + user;
        if (user.empty() || user.find(':') != std::string::npos) {
          FailNode(file, u.first, key, "user names must be non-empty and must not contain ':'");
        }
        std::string hash = Scalar(file, u.second, key);
        if (!IsBcryptHash(hash)) {
          FailNode(file, u.second, key,
                   "expected a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters)");
        }
        c.users.emplace_back(user, hash);
      }
    } else {
      FailNode(file, kv.first, k,
               "unknown key (known: tls_server_config, http_server_config, basic_auth_users)");
    }
  }
  return c;
}

WebConfig LoadWebConfig(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw ConfigError(file + ": cannot open web configuration file");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ConfigError(file + ": cannot read web configuration file");
  return ParseWebConfig(ss.str(), file);
}

}  // namespace pagescope
