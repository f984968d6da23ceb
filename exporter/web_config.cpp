#include "exporter/web_config.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "framework/errors.h"

namespace pagescope {

struct TlsMaterial {
  X509* cert = nullptr;
  STACK_OF(X509) * chain = nullptr;
  EVP_PKEY* key = nullptr;
  X509_STORE* ca_store = nullptr;
  STACK_OF(X509_NAME) * ca_names = nullptr;
  ~TlsMaterial() {
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    X509_STORE_free(ca_store);
    sk_X509_NAME_pop_free(ca_names, X509_NAME_free);
  }
};

namespace {

std::string Where(const std::string& file, const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return file;
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

[[noreturn]] void Fail(const std::string& file, const YAML::Node& node, const std::string& key,
                       const std::string& message) {
  throw ConfigError(Where(file, node) + ": " + key + ": " + message);
}

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

std::string Scalar(const std::string& file, const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) Fail(file, node, key, "expected a string");
  return node.Scalar();
}

void CheckMap(const std::string& file, const YAML::Node& node, const std::string& key) {
  if (!node.IsMap()) Fail(file, node, key, "expected a mapping");
}

int TlsVersion(const std::string& file, const YAML::Node& node, const std::string& key) {
  static const std::map<std::string, int> kVersions = {
      {"TLS10", TLS1_VERSION},
      {"TLS11", TLS1_1_VERSION},
      {"TLS12", TLS1_2_VERSION},
      {"TLS13", TLS1_3_VERSION},
  };
  std::string v = Scalar(file, node, key);
  auto it = kVersions.find(v);
  if (it == kVersions.end())
    Fail(file, node, key, "expected TLS10, TLS11, TLS12 or TLS13, got \"" + v + "\"");
  return it->second;
}

std::string Resolve(const std::string& config_file, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return (std::filesystem::path(config_file).parent_path() / path).string();
}

std::shared_ptr<const TlsMaterial> LoadTls(const std::string& file, const YAML::Node& where,
                                           const TlsConfig& c) {
  auto m = std::make_shared<TlsMaterial>();
  auto fail = [&](const std::string& key, const std::string& msg) {
    Fail(file, where, "tls_server_config." + key, msg);
  };
  ERR_clear_error();
  BIO* bio = BIO_new_file(c.cert_file.c_str(), "r");
  if (bio == nullptr) fail("cert_file", "cannot open \"" + c.cert_file + "\": " + OpenSslError());
  m->cert = PEM_read_bio_X509_AUX(bio, nullptr, nullptr, nullptr);
  if (m->cert == nullptr) {
    BIO_free(bio);
    fail("cert_file", "no PEM certificate in \"" + c.cert_file + "\": " + OpenSslError());
  }
  m->chain = sk_X509_new_null();
  while (X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr))
    sk_X509_push(m->chain, extra);
  ERR_clear_error();  // the end of the file
  BIO_free(bio);

  bio = BIO_new_file(c.key_file.c_str(), "r");
  if (bio == nullptr) fail("key_file", "cannot open \"" + c.key_file + "\": " + OpenSslError());
  m->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (m->key == nullptr)
    fail("key_file", "no PEM private key in \"" + c.key_file + "\": " + OpenSslError());
  if (X509_check_private_key(m->cert, m->key) != 1) {
    ERR_clear_error();
    fail("key_file",
         "\"" + c.key_file + "\" does not match the certificate in \"" + c.cert_file + "\"");
  }
  if (!c.client_ca_file.empty()) {
    m->ca_store = X509_STORE_new();
    if (X509_STORE_load_file(m->ca_store, c.client_ca_file.c_str()) != 1) {
      fail("client_ca_file", "cannot load \"" + c.client_ca_file + "\": " + OpenSslError());
    }
    m->ca_names = SSL_load_client_CA_file(c.client_ca_file.c_str());
    if (m->ca_names == nullptr) {
      fail("client_ca_file", "no certificates in \"" + c.client_ca_file + "\": " + OpenSslError());
    }
  }
  return m;
}

TlsConfig ParseTls(const std::string& file, const YAML::Node& node) {
  const std::string p = "tls_server_config.";
  TlsConfig c;
  c.min_version = TLS1_2_VERSION;
  c.max_version = TLS1_3_VERSION;
  bool auth_given = false;
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
          {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
          {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert},
      };
      std::string s = Scalar(file, v, p + k);
      auto it = kTypes.find(s);
      if (it == kTypes.end()) {
        Fail(file, v, p + k,
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
        Fail(file, v, p + k, "expected true or false");
      }
    } else if (k == "cipher_suites" || k == "curve_preferences" || k == "cert" || k == "key" ||
               k == "client_allowed_sans") {
      Fail(file, kv.first, p + k, "not supported by pagescope (OpenSSL's defaults are used)");
    } else {
      Fail(file, kv.first, p + k,
           "unknown key (known: cert_file, key_file, client_auth_type, client_ca_file, "
           "min_version, max_version, prefer_server_cipher_suites)");
    }
  }
  if (c.cert_file.empty())
    Fail(file, node, p + "cert_file", "missing (needed with tls_server_config)");
  if (c.key_file.empty())
    Fail(file, node, p + "key_file", "missing (needed with tls_server_config)");
  if (c.min_version > c.max_version) Fail(file, node, p + "min_version", "is above max_version");
  bool verifies = c.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
                  c.client_auth == ClientAuth::kRequireAndVerifyClientCert;
  if (verifies && c.client_ca_file.empty()) {
    Fail(file, node, p + "client_ca_file", "needed to verify client certificates");
  }
  if (!c.client_ca_file.empty() && !auth_given)
    c.client_auth = ClientAuth::kRequireAndVerifyClientCert;
  if (!c.client_ca_file.empty() && c.client_auth == ClientAuth::kNoClientCert) {
    Fail(file, node, p + "client_ca_file", "given but client_auth_type is NoClientCert");
  }
  c.material = LoadTls(file, node, c);
  return c;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
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
        Fail(file, kv.second, p + k, "expected true or false");
      }
      continue;
    }
    if (k != "headers") Fail(file, kv.first, p + k, "unknown key (known: headers, http2)");
    if (kv.second.IsNull()) continue;
    CheckMap(file, kv.second, p + k);
    for (const auto& h : kv.second) {
      std::string name = h.first.Scalar();
      std::string key = p + "headers." + name;
      auto it = std::find_if(kAllowed.begin(), kAllowed.end(),
                             [&](const std::string& a) { return EqualsIgnoreCase(a, name); });
      if (it == kAllowed.end()) {
        Fail(file, h.first, key,
             "header not allowed (allowed: Strict-Transport-Security, X-Content-Type-Options, "
             "X-Frame-Options, X-XSS-Protection, Content-Security-Policy)");
      }
      std::string value = Scalar(file, h.second, key);
      if (value.find_first_of("\r\n") != std::string::npos ||
          value.find('\0') != std::string::npos) {
        Fail(file, h.second, key, "line breaks are not allowed in header values");
      }
      if (*it == "X-Content-Type-Options" && !EqualsIgnoreCase(value, "nosniff")) {
        Fail(file, h.second, key, "expected nosniff");
      }
      if (*it == "X-Frame-Options" && !EqualsIgnoreCase(value, "deny") &&
          !EqualsIgnoreCase(value, "sameorigin")) {
        Fail(file, h.second, key, "expected deny or sameorigin");
      }
      c.headers.emplace_back(*it, value);
    }
  }
}

}  // namespace

WebConfig ParseWebConfig(const std::string& text, const std::string& file) {
  WebConfig c;
  c.file = file;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    std::string where = e.mark.is_null() ? file
                                         : file + ":" + std::to_string(e.mark.line + 1) + ":" +
                                               std::to_string(e.mark.column + 1);
    throw ConfigError(where + ": invalid YAML: " + e.msg);
  }
  if (root.IsNull() || !root.IsDefined()) return c;
  if (!root.IsMap()) Fail(file, root, "(top level)", "expected a mapping");
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
          Fail(file, u.first, key, "user names must be non-empty and must not contain ':'");
        }
        std::string hash = Scalar(file, u.second, key);
        if (!IsBcryptHash(hash)) {
          Fail(file, u.second, key, "expected a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters)");
        }
        c.users.emplace_back(user, hash);
      }
    } else {
      Fail(file, kv.first, k,
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

bool IsBcryptHash(std::string_view h) {
  if (h.size() != 60) return false;
  if (!(h.starts_with("$2a$") || h.starts_with("$2b$") || h.starts_with("$2y$"))) return false;
  if (!std::isdigit(static_cast<unsigned char>(h[4])) ||
      !std::isdigit(static_cast<unsigned char>(h[5])) || h[6] != '$') {
    return false;
  }
  int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > 31) return false;
  return std::all_of(h.begin() + 7, h.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '/';
  });
}

bool VerifyBcrypt(std::string_view password, std::string_view hash) {
  if (!IsBcryptHash(hash)) return false;
  // crypt takes C strings: a NUL would cut the password short and let a longer one through.
  if (password.find('\0') != std::string_view::npos) return false;
  std::string pw(password), setting(hash);
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_rn(pw.c_str(), setting.c_str(), data.get(), sizeof(crypt_data));
  OPENSSL_cleanse(pw.data(), pw.size());
  bool ok = out != nullptr && std::strlen(out) == hash.size() &&
            CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return ok;
}

namespace {
// A valid cost-10 hash of a random password, checked when the user is unknown so that the
// answer takes as long as for a known user.
constexpr std::string_view kDummyHash =
    "$2b$10$u0I/q4.glSV7ay60fuy7eebOhIBipQjtTUSDILn6q3klIXc39xs06";

std::string CacheKey(std::string_view user, std::string_view password, std::string_view hash) {
  std::string input;
  for (std::string_view part : {user, password, hash}) {
    input += std::to_string(part.size());
    input += ':';
    input += part;
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  OPENSSL_cleanse(input.data(), input.size());
  return std::string(reinterpret_cast<const char*>(md.data()), len);
}
}  // namespace

bool BasicAuthChecker::Check(const WebConfig& config, std::string_view user,
                             std::string_view password) {
  const std::string* hash = nullptr;
  for (const auto& [u, h] : config.users) {
    if (u == user) hash = &h;
  }
  if (hash == nullptr) {
    (void)VerifyBcrypt(password, kDummyHash);
    return false;
  }
  std::string key = CacheKey(user, password, *hash);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ok_.count(key) != 0) return true;
  }
  if (!VerifyBcrypt(password, *hash)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (ok_.size() >= kMaxCached) ok_.clear();
  ok_.insert(std::move(key));
  return true;
}

bool BasicAuthChecker::IsCached(const WebConfig& config, std::string_view user,
                                std::string_view password) const {
  const std::string* hash = nullptr;
  for (const auto& [u, h] : config.users) {
    if (u == user) hash = &h;  // the same choice as Check
  }
  if (hash == nullptr) return false;
  std::string key = CacheKey(user, password, *hash);
  std::lock_guard<std::mutex> lock(mu_);
  return ok_.count(key) != 0;
}

std::size_t BasicAuthChecker::cached() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ok_.size();
}

bool ParseBasicAuthorization(std::string_view header, std::string* user, std::string* password) {
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  if (header.size() < 6 || !EqualsIgnoreCase(header.substr(0, 6), "basic ")) return false;
  header.remove_prefix(6);
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  if (header.empty() || header.size() % 4 != 0) return false;
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string decoded;
  for (std::size_t i = 0; i < header.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char ch = header[i + j];
      if (ch == '=') {
        if (i + 4 != header.size() || j < 2) return false;
        ++pad;
        v[j] = 0;
        continue;
      }
      if (pad > 0) return false;
      v[j] = sextet(ch);
      if (v[j] < 0) return false;
    }
    unsigned triple = (static_cast<unsigned>(v[0]) << 18) | (static_cast<unsigned>(v[1]) << 12) |
                      (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
    decoded += static_cast<char>((triple >> 16) & 0xff);
    if (pad < 2) decoded += static_cast<char>((triple >> 8) & 0xff);
    if (pad < 1) decoded += static_cast<char>(triple & 0xff);
  }
  auto colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  *user = decoded.substr(0, colon);
  *password = decoded.substr(colon + 1);
  OPENSSL_cleanse(decoded.data(), decoded.size());
  return true;
}

namespace {

int AcceptAnyCertificate(int, X509_STORE_CTX*) { return 1; }

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
      SSL_use_cert_and_key(ssl, m.cert, m.key, m.chain, 1) != 1) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  switch (config->client_auth) {
    case ClientAuth::kNoClientCert:
      SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
      break;
    case ClientAuth::kRequestClientCert:
      SSL_set_verify(ssl, SSL_VERIFY_PEER, AcceptAnyCertificate);
      break;
    case ClientAuth::kRequireAnyClientCert:
      SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, AcceptAnyCertificate);
      break;
    case ClientAuth::kVerifyClientCertIfGiven:
      SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
      break;
    case ClientAuth::kRequireAndVerifyClientCert:
      SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      break;
  }
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
  ctx_ = ctx;
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

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
