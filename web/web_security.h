#pragma once
// Everything of the web configuration that needs OpenSSL (TLS, certificate files, the SHA-256
// credential cache) or libxcrypt (bcrypt), behind one interface. It lives in a module,
// lib/pagescope/pagescope-web.so, that the exporter loads only when --web.config.file is given:
// merely linking libssl and libcrypto costs every process about 1.9 MiB of resident memory, which
// the exporter without a web configuration does not pay.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "web/web_config.h"

struct bufferevent;
struct event_base;

namespace pagescope {

class WebSecurity {
 public:
  virtual ~WebSecurity() = default;

  // LoadWebConfig; on a mistake returns null and sets `error` (the ConfigError's message).
  virtual std::shared_ptr<const WebConfig> Load(const std::string& file, std::string* error) = 0;

  // Basic auth (BasicAuthChecker and ParseBasicAuthorization in web/basic_auth.h).
  virtual bool ParseAuthorization(std::string_view header, std::string* user,
                                  std::string* password) = 0;
  virtual bool IsCached(const WebConfig& config, std::string_view user,
                        std::string_view password) = 0;
  virtual bool Check(const WebConfig& config, std::string_view user, std::string_view password) = 0;

  // TLS for the server (TlsServerContext in web/tls.h): the first call creates the SSL_CTX, later
  // ones (reloads) change the certificate, verification and versions for new connections. Throws
  // std::runtime_error.
  virtual void SetTls(const TlsConfig& config) = 0;
  // A bufferevent that accepts TLS on the socket libevent gives it later (for evhttp_set_bevcb).
  // Never null: without memory it aborts rather than let libevent fall back to plain text.
  virtual bufferevent* NewTlsConnection(event_base* base) = 0;
  // Sends close_notify before libevent closes a TLS connection (libevent itself does not).
  virtual void CloseTls(bufferevent* bev) = 0;
  // TLS handshakes that failed since SetTls was first called (0 before): TlsServerContext.
  virtual std::uint64_t TlsHandshakeFailures() = 0;
};

// The implementation (linked into the module; tests link it directly).
std::unique_ptr<WebSecurity> MakeWebSecurity();

// Loads the module once (lib/pagescope/ next to the build's binary, ../lib/pagescope/ when
// installed) and returns its WebSecurity. Throws std::runtime_error naming the module when it
// cannot be loaded.
std::shared_ptr<WebSecurity> LoadWebSecurity();

}  // namespace pagescope

// The module's entry point.
extern "C" pagescope::WebSecurity* pagescope_web_security_new();
