#pragma once
// TLS for the server, inside the web module only (OpenSSL): the certificate, key and client CAs
// of a TlsConfig loaded into OpenSSL objects, and the SSL_CTX that applies the current ones to
// each new connection. Never included by the executable (see web/web_security.h).

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "web/web_config.h"

namespace pagescope {

// Certificates and keys loaded into OpenSSL objects; applied to each TLS connection.
struct TlsMaterial {
  X509* cert = nullptr;
  STACK_OF(X509) * chain = nullptr;
  EVP_PKEY* key = nullptr;
  X509_STORE* ca_store = nullptr;
  STACK_OF(X509_NAME) * ca_names = nullptr;
  TlsMaterial() = default;
  TlsMaterial(const TlsMaterial&) = delete;
  TlsMaterial& operator=(const TlsMaterial&) = delete;
  ~TlsMaterial();
};

// What is wrong with one of a TlsConfig's files: the key that names it (cert_file, key_file,
// client_ca_file) and why.
struct TlsFileError {
  std::string key;
  std::string message;
};

// Loads the files `config` names and checks the key against the certificate.
std::variant<std::shared_ptr<const TlsMaterial>, TlsFileError> LoadTlsMaterial(
    const TlsConfig& config);

// OpenSSL's protocol version for "TLS10", "TLS11", "TLS12" or "TLS13"; nullopt otherwise.
std::optional<int> TlsProtocolVersion(std::string_view name);

// The names exporter-toolkit accepts in cipher_suites: Go's crypto/tls CipherSuites() (its
// secure suites), each with OpenSSL's name; TLS 1.3 suites are listed but, as in Go, not
// configurable (`tls13`: accepted and left to the library's defaults).
struct CipherSuiteName {
  std::string_view go;
  std::string_view openssl;
  bool tls13;
};
const std::vector<CipherSuiteName>& GoCipherSuites();
// Go's InsecureCipherSuites() (RSA key exchange, RC4, 3DES, CBC-SHA256): exporter-toolkit
// refuses them in cipher_suites (Go 1.22 and later moved the RSA key exchange ones here).
bool IsGoInsecureCipherSuite(std::string_view name);
// curve_preferences: exporter-toolkit's names CurveP256, CurveP384, CurveP521 and X25519 as
// OpenSSL group names (P-256, P-384, P-521, X25519); nullopt for any other name.
std::optional<std::string_view> OpenSslGroupName(std::string_view go_name);

// The subject alternative names client_allowed_sans compares with, as Go's crypto/x509 gives
// them to exporter-toolkit: DNS names, email addresses, IP addresses (dotted IPv4, including
// IPv4-mapped IPv6; RFC 5952 IPv6) and URIs.
std::vector<std::string> SubjectAltNames(X509* cert);

// TLS on a live server: one SSL_CTX whose client-hello callback applies the current TlsConfig
// (certificate, key, client verification, protocol versions, TLS 1.2 cipher suites, groups)
// to each new connection, so a reload changes them without a restart; its certificate
// verification callback checks client_allowed_sans after OpenSSL verified the chain.
class TlsServerContext {
 public:
  TlsServerContext();  // throws std::runtime_error
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  SSL_CTX* ssl_ctx() const { return ctx_; }  // owned here
  void Set(const TlsConfig& config);
  std::shared_ptr<const TlsConfig> Get() const;
  // Handshakes that failed (no common protocol version or cipher, a client certificate missing
  // or not verified, plain HTTP on the TLS port, a client that does not trust the certificate),
  // since the context was made; not connections closed before sending anything (TCP probes).
  std::uint64_t handshake_failures() const { return handshake_failures_.load(); }

 private:
  static void Info(const SSL* ssl, int where, int ret);
  SSL_CTX* ctx_ = nullptr;
  std::atomic<std::uint64_t> handshake_failures_{0};
  mutable std::mutex mu_;
  std::shared_ptr<const TlsConfig> current_;
};

}  // namespace pagescope
