#include "web/web_security.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

#include "framework/errors.h"
#include "web/basic_auth.h"
#include "web/tls.h"

namespace pagescope {
namespace {

class OpenSslWebSecurity : public WebSecurity {
 public:
  std::shared_ptr<const WebConfig> Load(const std::string& file, std::string* error) override {
    try {
      return std::make_shared<const WebConfig>(LoadWebConfig(file));
    } catch (const ConfigError& e) {
      *error = e.what();
    } catch (const std::exception& e) {
      *error = file + ": " + e.what();
    }
    return nullptr;
  }

  bool ParseAuthorization(std::string_view header, std::string* user,
                          std::string* password) override {
    return ParseBasicAuthorization(header, user, password);
  }
  bool IsCached(const WebConfig& config, std::string_view user,
                std::string_view password) override {
    return auth_.IsCached(config, user, password);
  }
  bool Check(const WebConfig& config, std::string_view user, std::string_view password) override {
    return auth_.Check(config, user, password);
  }

  void SetTls(const TlsConfig& config) override {
    std::call_once(tls_once_, [this] { tls_ = std::make_unique<TlsServerContext>(); });
    tls_->Set(config);
  }

  bufferevent* NewTlsConnection(event_base* base) override {
    SSL* ssl = tls_ ? SSL_new(tls_->ssl_ctx()) : nullptr;
    bufferevent* bev = ssl == nullptr
                           ? nullptr
                           : bufferevent_openssl_socket_new(
                                 base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev == nullptr) {
      // Returning null would make libevent serve this connection in plain text.
      std::fputs("pagescope: cannot set up a TLS connection (out of memory)\n", stderr);
      std::abort();
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
  }

  void CloseTls(bufferevent* bev) override {
    SSL* ssl = bev != nullptr ? bufferevent_openssl_get_ssl(bev) : nullptr;
    if (ssl != nullptr && SSL_is_init_finished(ssl)) SSL_shutdown(ssl);
  }

  // tls_ is made once, by the first SetTls (before the server serves), and never replaced.
  std::uint64_t TlsHandshakeFailures() override { return tls_ ? tls_->handshake_failures() : 0; }

 private:
  BasicAuthChecker auth_;
  std::once_flag tls_once_;
  std::unique_ptr<TlsServerContext> tls_;
};

}  // namespace

std::unique_ptr<WebSecurity> MakeWebSecurity() { return std::make_unique<OpenSslWebSecurity>(); }

}  // namespace pagescope

extern "C" __attribute__((visibility("default"))) pagescope::WebSecurity*
pagescope_web_security_new() {
  return pagescope::MakeWebSecurity().release();
}
