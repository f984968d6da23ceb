#pragma once
// --web.config.file: the Prometheus exporter-toolkit web configuration format
// (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md):
//
//   tls_server_config: {cert_file, key_file, client_auth_type, client_ca_file,
//                       min_version, max_version, cipher_suites, curve_preferences,
//                       client_allowed_sans, prefer_server_cipher_suites}
//   http_server_config: {headers: {Name: value}, http2: bool}
//   basic_auth_users: {user: bcrypt-hash}
//
// Unknown keys and bad values are ConfigErrors naming file:line:column and the key. TLS files are
// loaded (and the key checked against the certificate) when the file is parsed, so a reload with
// a broken certificate fails before anything changes.
//
// This header is what the executable sees of the web configuration: data types and the parser.
// The parser is defined in the module lib/pagescope/pagescope-web.so (it loads TLS files with
// OpenSSL), with TLS (web/tls.h) and basic auth (web/basic_auth.h), which only the module
// includes; the executable reaches all three through web/web_security.h.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pagescope {

enum class ClientAuth {
  kNoClientCert,
  kRequestClientCert,
  kRequireAnyClientCert,
  kVerifyClientCertIfGiven,
  kRequireAndVerifyClientCert,
};

// Certificates and keys loaded into OpenSSL objects (web/tls.h, inside the module).
struct TlsMaterial;

struct TlsConfig {
  std::string cert_file, key_file, client_ca_file;  // resolved against the config file's directory
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  int min_version = 0;  // OpenSSL protocol constants (TLS1_2_VERSION ...)
  int max_version = 0;  // 0: the newest the library supports
  // cipher_suites' TLS 1.2 suites as an OpenSSL cipher list ("ECDHE-RSA-AES128-GCM-SHA256:…",
  // in the file's order, the server's preference); empty: OpenSSL's defaults. TLS 1.3 suites
  // are not configurable (as in Go): OpenSSL's defaults.
  std::string cipher_list;
  // curve_preferences as an OpenSSL groups list ("X25519:P-256"); empty: OpenSSL's defaults.
  std::string groups;
  // client_allowed_sans: a client certificate must carry one of these as a DNS name, email
  // address, IP address or URI SAN (checked after chain verification); empty: no SAN check.
  std::vector<std::string> allowed_sans;
  std::shared_ptr<const TlsMaterial> material;
};

struct WebConfig {
  std::string file;
  std::optional<TlsConfig> tls;
  std::vector<std::pair<std::string, std::string>> users;    // user -> bcrypt hash
  std::vector<std::pair<std::string, std::string>> headers;  // added to every response
  bool RequiresAuth() const { return !users.empty(); }
};

// Parses the text of a web configuration file (`file` names it in messages and is the base for
// relative paths) and loads its TLS files. Throws ConfigError.
WebConfig ParseWebConfig(const std::string& text, const std::string& file);
// Reads and parses `file`. Throws ConfigError.
WebConfig LoadWebConfig(const std::string& file);

}  // namespace pagescope
