#pragma once
// --web.config.file: the Prometheus exporter-toolkit web configuration format
// (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md):
//
//   tls_server_config: {cert_file, key_file, client_auth_type, client_ca_file,
//                       min_version, max_version}
//   http_server_config: {headers: {Name: value}, http2: bool}
//   basic_auth_users: {user: bcrypt-hash}
//
// Unknown keys and bad values are ConfigErrors naming file:line:column and the key. TLS files are
// loaded (and the key checked against the certificate) when the file is parsed, so a reload with
// a broken certificate fails before anything changes.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
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

// Certificates and keys loaded into OpenSSL objects; applied to each TLS connection.
struct TlsMaterial;

struct TlsConfig {
  std::string cert_file, key_file, client_ca_file;  // resolved against the config file's directory
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  int min_version = 0;  // OpenSSL protocol constants (TLS1_2_VERSION ...)
  int max_version = 0;  // 0: the newest the library supports
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

// True for a 60-character "$2a$", "$2b$" or "$2y$" bcrypt hash with a two-digit cost.
bool IsBcryptHash(std::string_view hash);
// Verifies `password` against a bcrypt `hash` with libxcrypt, comparing in constant time.
bool VerifyBcrypt(std::string_view password, std::string_view hash);

// Checks HTTP basic-auth credentials against a WebConfig's users. Successful checks are
// remembered (by the SHA-256 of user, password and hash) so a scrape pays bcrypt once; failures
// are never cached. An unknown user still pays one bcrypt, so timing does not reveal user names.
class BasicAuthChecker {
 public:
  bool Check(const WebConfig& config, std::string_view user, std::string_view password);
  // True when Check would succeed from the cache alone (no bcrypt): cheap enough for the
  // event loop.
  bool IsCached(const WebConfig& config, std::string_view user, std::string_view password) const;
  std::size_t cached() const;

 private:
  static constexpr std::size_t kMaxCached = 4096;
  mutable std::mutex mu_;
  std::unordered_set<std::string> ok_;  // binary SHA-256 digests
};

// Parses an "Authorization: Basic ..." header value into user and password; false if malformed.
bool ParseBasicAuthorization(std::string_view header, std::string* user, std::string* password);

// TLS on a live server: one SSL_CTX whose client-hello callback applies the current TlsConfig
// (certificate, key, client verification, protocol versions) to each new connection, so a
// reload changes them without a restart.
class TlsServerContext {
 public:
  TlsServerContext();  // throws std::runtime_error
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  void* ssl_ctx() const { return ctx_; }  // SSL_CTX*, owned here
  void Set(const TlsConfig& config);
  std::shared_ptr<const TlsConfig> Get() const;

 private:
  void* ctx_ = nullptr;
  mutable std::mutex mu_;
  std::shared_ptr<const TlsConfig> current_;
};

}  // namespace pagescope
