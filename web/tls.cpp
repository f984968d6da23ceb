#include "web/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <map>
#include <stdexcept>

namespace pagescope {
namespace {

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

}  // namespace

TlsMaterial::~TlsMaterial() {
  X509_free(cert);
  sk_X509_pop_free(chain, X509_free);
  EVP_PKEY_free(key);
  X509_STORE_free(ca_store);
  sk_X509_NAME_pop_free(ca_names, X509_NAME_free);
}

std::variant<std::shared_ptr<const TlsMaterial>, TlsFileError> LoadTlsMaterial(const TlsConfig& c) {
  auto m = std::make_shared<TlsMaterial>();
  ERR_clear_error();
  BIO* bio = BIO_new_file(c.cert_file.c_str(), "r");
  if (bio == nullptr) {
    return TlsFileError{"cert_file", "cannot open \"" + c.cert_file + "\": " + OpenSslError()};
  }
  m->cert = PEM_read_bio_X509_AUX(bio, nullptr, nullptr, nullptr);
  if (m->cert == nullptr) {
    BIO_free(bio);
    return TlsFileError{"cert_file",
                        "no PEM certificate in \"" + c.cert_file + "\": " + OpenSslError()};
  }
  m->chain = sk_X509_new_null();
  while (X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr))
    sk_X509_push(m->chain, extra);
  ERR_clear_error();  // the end of the file
  BIO_free(bio);

  bio = BIO_new_file(c.key_file.c_str(), "r");
  if (bio == nullptr) {
    return TlsFileError{"key_file", "cannot open \"" + c.key_file + "\": " + OpenSslError()};
  }
  m->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (m->key == nullptr) {
    return TlsFileError{"key_file",
                        "no PEM private key in \"" + c.key_file + "\": " + OpenSslError()};
  }
  if (X509_check_private_key(m->cert, m->key) != 1) {
    ERR_clear_error();
    return TlsFileError{"key_file", "\"" + c.key_file + "\" does not match the certificate in \"" +
                                        c.cert_file + "\""};
  }
  if (!c.client_ca_file.empty()) {
    m->ca_store = X509_STORE_new();
    if (X509_STORE_load_file(m->ca_store, c.client_ca_file.c_str()) != 1) {
      return TlsFileError{"client_ca_file",
                          "cannot load \"" + c.client_ca_file + "\": " + OpenSslError()};
    }
    m->ca_names = SSL_load_client_CA_file(c.client_ca_file.c_str());
    if (m->ca_names == nullptr) {
      return TlsFileError{"client_ca_file",
                          "no certificates in \"" + c.client_ca_file + "\": " + OpenSslError()};
    }
  }
  return m;
}

std::optional<int> TlsProtocolVersion(std::string_view name) {
  static const std::map<std::string, int, std::less<>> kVersions = {
      {"TLS10", TLS1_VERSION},
      {"TLS11", TLS1_1_VERSION},
      {"TLS12", TLS1_2_VERSION},
      {"TLS13", TLS1_3_VERSION},
  };
  auto it = kVersions.find(name);
  if (it == kVersions.end()) return std::nullopt;
  return it->second;
}

const std::vector<CipherSuiteName>& GoCipherSuites() {
  // Go's crypto/tls CipherSuites() (Go 1.22 and later), in its order; the OpenSSL names are
  // what OPENSSL_cipher_name() gives for these standard names (a unit test checks).
  static const std::vector<CipherSuiteName> kSuites = {
      {"TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", true},
      {"TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", true},
      {"TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256", true},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA", false},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA", false},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA", false},
      {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA", false},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", false},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384", false},
      {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", false},
      {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", false},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305", false},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305", false},
  };
  return kSuites;
}

bool IsGoInsecureCipherSuite(std::string_view name) {
  static const std::string_view kInsecure[] = {
      "TLS_RSA_WITH_RC4_128_SHA",
      "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
      "TLS_RSA_WITH_AES_128_CBC_SHA",
      "TLS_RSA_WITH_AES_256_CBC_SHA",
      "TLS_RSA_WITH_AES_128_CBC_SHA256",
      "TLS_RSA_WITH_AES_128_GCM_SHA256",
      "TLS_RSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
      "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
      "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
      "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
      "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
  };
  return std::find(std::begin(kInsecure), std::end(kInsecure), name) != std::end(kInsecure);
}

std::optional<std::string_view> OpenSslGroupName(std::string_view go_name) {
  static const std::map<std::string_view, std::string_view> kGroups = {
      {"CurveP256", "P-256"},
      {"CurveP384", "P-384"},
      {"CurveP521", "P-521"},
      {"X25519", "X25519"},
  };
  auto it = kGroups.find(go_name);
  if (it == kGroups.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> SubjectAltNames(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    const ASN1_STRING* s = nullptr;
    if (n->type == GEN_DNS) {
      s = n->d.dNSName;
    } else if (n->type == GEN_EMAIL) {
      s = n->d.rfc822Name;
    } else if (n->type == GEN_URI) {
      s = n->d.uniformResourceIdentifier;
    } else if (n->type == GEN_IPADD) {
      const unsigned char* ip = ASN1_STRING_get0_data(n->d.iPAddress);
      const int len = ASN1_STRING_length(n->d.iPAddress);
      static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
      char text[INET6_ADDRSTRLEN] = {};
      // Go prints an IPv4-mapped IPv6 address as IPv4 (net.IP.String).
      if (len == 4 || (len == 16 && std::equal(kMapped, kMapped + 12, ip))) {
        inet_ntop(AF_INET, ip + (len - 4), text, sizeof text);
        out.emplace_back(text);
      } else if (len == 16) {
        inet_ntop(AF_INET6, ip, text, sizeof text);
        out.emplace_back(text);
      }
      continue;
    }
    if (s != nullptr) {
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<std::size_t>(ASN1_STRING_length(s)));
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

namespace {

int AcceptAnyCertificate(int, X509_STORE_CTX*) { return 1; }

// The TlsConfig a connection's handshake uses, kept with the SSL object (its ex_data) so that a
// reload during the handshake does not free it under the verification callback.
void FreeConnectionConfig(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::shared_ptr<const TlsConfig>*>(ptr);
}

int ConfigIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeConnectionConfig);
  return index;
}

// OpenSSL's verification of the client's chain (as SSL_set_verify asked for), then
// client_allowed_sans on the client's own certificate (exporter-toolkit's
// VerifyPeerCertificate, which Go calls after its verification).
int VerifyClientCertificate(X509_STORE_CTX* store, void*) {
  const int ok = X509_verify_cert(store);
  if (ok <= 0) return ok;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* config =
      ssl == nullptr
          ? nullptr
          : static_cast<std::shared_ptr<const TlsConfig>*>(SSL_get_ex_data(ssl, ConfigIndex()));
  if (config == nullptr || !*config || (*config)->allowed_sans.empty()) return ok;
  const auto& allowed = (*config)->allowed_sans;
  for (const std::string& san : SubjectAltNames(X509_STORE_CTX_get0_cert(store))) {
    if (std::find(allowed.begin(), allowed.end(), san) != allowed.end()) return ok;
  }
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

int ClientHello(SSL* ssl, int* alert, void* arg) {
  auto* self = static_cast<TlsServerContext*>(arg);
  auto config = self->Get();
  if (!config || !config->material) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  const TlsMaterial& m = *config->material;
  if (SSL_set_min_proto_version(ssl, config->min_version) != 1 ||
      SSL_set_max_proto_version(ssl, config->max_version) != 1 ||
      SSL_use_cert_and_key(ssl, m.cert, m.key, m.chain, 1) != 1 ||
      (!config->cipher_list.empty() &&
       SSL_set_cipher_list(ssl, config->cipher_list.c_str()) != 1) ||
      (!config->groups.empty() && SSL_set1_groups_list(ssl, config->groups.c_str()) != 1)) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  // For client_allowed_sans (VerifyClientCertificate). A second ClientHello (after a TLS 1.3
  // HelloRetryRequest) finds the first one's.
  if (auto* kept =
          static_cast<std::shared_ptr<const TlsConfig>*>(SSL_get_ex_data(ssl, ConfigIndex()))) {
    *kept = config;
  } else {
    auto held = std::make_unique<std::shared_ptr<const TlsConfig>>(config);
    if (SSL_set_ex_data(ssl, ConfigIndex(), held.get()) != 1) {
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
    held.release();  // freed with the SSL object (FreeConnectionConfig)
  }
  // How each client_auth_type verifies, indexed by ClientAuth.
  static constexpr struct {
    int mode;
    SSL_verify_cb callback;
  } kVerify[] = {
      {SSL_VERIFY_NONE, nullptr},               // kNoClientCert
      {SSL_VERIFY_PEER, AcceptAnyCertificate},  // kRequestClientCert
      {SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, AcceptAnyCertificate},  // kRequireAny...
      {SSL_VERIFY_PEER, nullptr},                                    // kVerifyClientCertIfGiven
      {SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr},  // kRequireAndVerify...
  };
  static_assert(std::size(kVerify) ==
                static_cast<std::size_t>(ClientAuth::kRequireAndVerifyClientCert) + 1);
  const auto& verify = kVerify[static_cast<int>(config->client_auth)];
  SSL_set_verify(ssl, verify.mode, verify.callback);
  if (m.ca_store != nullptr) {
    SSL_set1_verify_cert_store(ssl, m.ca_store);
    SSL_set_client_CA_list(ssl, SSL_dup_CA_list(m.ca_names));
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

}  // namespace

TlsServerContext::TlsServerContext() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) throw std::runtime_error("SSL_CTX_new: " + OpenSslError());
  SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET |
                               SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // No resumption: every connection is checked against the current configuration.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  static const unsigned char kSessionId[] = "pagescope";
  SSL_CTX_set_session_id_context(ctx, kSessionId, sizeof(kSessionId) - 1);
  SSL_CTX_set_client_hello_cb(ctx, ClientHello, this);
  SSL_CTX_set_cert_verify_callback(ctx, VerifyClientCertificate, nullptr);
  SSL_CTX_set_app_data(ctx, this);
  SSL_CTX_set_info_callback(ctx, Info);
  ctx_ = ctx;
}

// A handshake step that failed (not one that waits for more data) counts once per connection,
// unless the client went away before sending anything that failed: a TCP connection without TLS
// (a port probe, a load balancer's check) is no failed handshake.
void TlsServerContext::Info(const SSL* ssl, int where, int ret) {
  static const int counted_index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  // A step that waits for data also returns -1: only the error state ("SSLERR") is a failure.
  if ((where & SSL_CB_EXIT) == 0 || ret > 0 || std::strcmp(SSL_state_string(ssl), "SSLERR") != 0 ||
      SSL_is_init_finished(ssl) || SSL_get_ex_data(ssl, counted_index) != nullptr) {
    return;
  }
  if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) return;
  SSL_set_ex_data(const_cast<SSL*>(ssl), counted_index, const_cast<SSL*>(ssl));
  auto* self = static_cast<TlsServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (self != nullptr) ++self->handshake_failures_;
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

void TlsServerContext::Set(const TlsConfig& config) {
  auto next = std::make_shared<const TlsConfig>(config);
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(next);
}

std::shared_ptr<const TlsConfig> TlsServerContext::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

}  // namespace pagescope
