#include "web/web_config.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "framework/errors.h"
#include "tests/unit/test_util.h"
#include "web/basic_auth.h"
#include "web/tls.h"

namespace pagescope {
namespace {

// "secret" at cost 4 ($2b$) and the same hash spelled $2y$ and $2a$ (libxcrypt verifies all).
constexpr const char* kSecret = "$2b$04$X1ILmlzmdlLOGC9YKYzfTOCHhVYG0pkilSzCbf1QJmrKBqE/GK0HS";

// A self-signed P-256 certificate with these subjectAltName entries (OpenSSL's syntax:
// "DNS:a,IP:127.0.0.1") and its key, written to dir/<name>.crt and dir/<name>.key.
void WriteCertificate(const std::filesystem::path& dir, const std::string& name,
                      const std::string& sans) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* subject = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, subject);
  if (!sans.empty()) {
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, sans.c_str());
    ASSERT_NE(ext, nullptr) << sans;
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  FILE* f = fopen((dir / (name + ".crt")).c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_X509(f, cert);
  fclose(f);
  f = fopen((dir / (name + ".key")).c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
}

// A temporary directory with server.crt and server.key, removed at the end of the test.
class TlsFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pagescope-web-config-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    WriteCertificate(dir_, "server", "DNS:localhost");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // tls_server_config with the certificate and these lines ("  key: value\n").
  WebConfig Parse(const std::string& lines) {
    return ParseWebConfig(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n" + lines,
        (dir_ / "web.yml").string());
  }
  std::filesystem::path dir_;
};

std::string ErrorOf(const std::string& text) {
  try {
    ParseWebConfig(text, "/etc/pagescope/web.yml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(WebConfig, BcryptHashShape) {
  EXPECT_TRUE(IsBcryptHash(kSecret));
  EXPECT_FALSE(IsBcryptHash("$1$abc$def"));
  EXPECT_FALSE(IsBcryptHash("secret"));
  EXPECT_FALSE(IsBcryptHash(std::string(kSecret).substr(0, 59)));
  EXPECT_FALSE(IsBcryptHash(std::string("$2x$") + std::string(kSecret).substr(4)));
  EXPECT_FALSE(IsBcryptHash(std::string("$2b$99$") + std::string(kSecret).substr(7)));
  EXPECT_FALSE(IsBcryptHash(std::string(kSecret).substr(0, 59) + "!"));
}

TEST(WebConfig, VerifyBcrypt) {
  EXPECT_TRUE(VerifyBcrypt("secret", kSecret));
  EXPECT_TRUE(VerifyBcrypt("secret", std::string("$2y$") + std::string(kSecret).substr(4)));
  EXPECT_TRUE(VerifyBcrypt("secret", std::string("$2a$") + std::string(kSecret).substr(4)));
  EXPECT_FALSE(VerifyBcrypt("Secret", kSecret));
  EXPECT_FALSE(VerifyBcrypt("", kSecret));
  EXPECT_FALSE(VerifyBcrypt(std::string("secret\0x", 8), kSecret));
  EXPECT_FALSE(VerifyBcrypt("secret", "secret"));
}

TEST(WebConfig, BasicAuthCachesOnlySuccess) {
  WebConfig c = ParseWebConfig(std::string("basic_auth_users:\n  alice: '") + kSecret + "'\n", "w");
  BasicAuthChecker checker;
  EXPECT_FALSE(checker.Check(c, "alice", "wrong"));
  EXPECT_FALSE(checker.Check(c, "bob", "secret"));
  EXPECT_EQ(checker.cached(), 0u);
  EXPECT_TRUE(checker.Check(c, "alice", "secret"));
  EXPECT_TRUE(checker.Check(c, "alice", "secret"));
  EXPECT_EQ(checker.cached(), 1u);
  // The cache is keyed by the hash too: a new hash (reload) means a fresh check.
  WebConfig other = ParseWebConfig(
      "basic_auth_users:\n  alice: "
      "'$2b$04$X1ILmlzmdlLOGC9YKYzfTOCHhVYG0pkilSzCbf1QJmrKBqE/GK0HX'\n",
      "w");
  EXPECT_FALSE(checker.Check(other, "alice", "secret"));
}

TEST(WebConfig, ParseBasicAuthorization) {
  std::string u, p;
  ASSERT_TRUE(ParseBasicAuthorization("Basic YWxpY2U6c2VjcmV0", &u, &p));  // alice:secret
  EXPECT_EQ(u, "alice");
  EXPECT_EQ(p, "secret");
  ASSERT_TRUE(ParseBasicAuthorization("basic YTpiOmM=", &u, &p));  // a:b:c
  EXPECT_EQ(u, "a");
  EXPECT_EQ(p, "b:c");
  EXPECT_FALSE(ParseBasicAuthorization("Bearer YWxpY2U6c2VjcmV0", &u, &p));
  EXPECT_FALSE(ParseBasicAuthorization("Basic YWxpY2U", &u, &p));
  EXPECT_FALSE(ParseBasicAuthorization("Basic !!!!", &u, &p));
  EXPECT_FALSE(ParseBasicAuthorization("Basic YQ==YQ==", &u, &p));
  EXPECT_FALSE(ParseBasicAuthorization("Basic YWxpY2U=", &u, &p));  // no colon
  EXPECT_FALSE(ParseBasicAuthorization("", &u, &p));
}

TEST(WebConfig, DecodeBase64) {
  const std::pair<const char*, const char*> good[] = {
      {"", ""}, {"YQ==", "a"}, {"YWI=", "ab"}, {"YWJj", "abc"}, {"+/+/", "\xfb\xff\xbf"}};
  for (const auto& [text, decoded] : good) EXPECT_EQ(DecodeBase64(text), decoded) << text;
  for (const char* bad : {"YQ", "YQ=", "Y===", "YQ==YQ==", "Y=Q=", "!!!!", "YW J"}) {
    EXPECT_FALSE(DecodeBase64(bad).has_value()) << bad;
  }
}

TEST(WebConfig, TlsProtocolVersions) {
  EXPECT_EQ(TlsProtocolVersion("TLS10"), TLS1_VERSION);
  EXPECT_EQ(TlsProtocolVersion("TLS11"), TLS1_1_VERSION);
  EXPECT_EQ(TlsProtocolVersion("TLS12"), TLS1_2_VERSION);
  EXPECT_EQ(TlsProtocolVersion("TLS13"), TLS1_3_VERSION);
  EXPECT_FALSE(TlsProtocolVersion("TLS14").has_value());
  EXPECT_FALSE(TlsProtocolVersion("tls12").has_value());
  TlsConfig none;
  none.cert_file = "/nonexistent/a.crt";
  auto loaded = LoadTlsMaterial(none);
  ASSERT_TRUE(std::holds_alternative<TlsFileError>(loaded));
  EXPECT_EQ(std::get<TlsFileError>(loaded).key, "cert_file");
  EXPECT_NE(std::get<TlsFileError>(loaded).message.find("cannot open \"/nonexistent/a.crt\""),
            std::string::npos);
}

// TLS and basic auth (OpenSSL, libxcrypt) stay in the module: only its own sources include
// their headers, never the executable's (exporter/, the server) nor the collectors.
TEST(WebConfig, ModulePrivateHeadersStayInTheModule) {
  const std::filesystem::path root = testing::SourceDir();
  const std::set<std::string> module = {"web/basic_auth.cpp", "web/basic_auth.h",
                                        "web/tls.cpp",        "web/tls.h",
                                        "web/web_config.cpp", "web/web_security.cpp"};
  int files = 0;
  for (const char* dir : {"exporter", "web", "framework", "collectors", "kernel", "proctable"}) {
    if (!std::filesystem::is_directory(root / dir)) continue;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root / dir)) {
      const std::string rel = std::filesystem::relative(entry.path(), root).string();
      if (!entry.is_regular_file() || module.count(rel) != 0) continue;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      ++files;
      for (const char* header :
           {"\"web/tls.h\"", "\"web/basic_auth.h\"", "<openssl/", "<crypt.h>"}) {
        EXPECT_EQ(text.str().find(header), std::string::npos) << rel << " includes " << header;
      }
    }
  }
  EXPECT_GT(files, 10);
}

TEST(WebConfig, EmptyAndHeaders) {
  EXPECT_FALSE(ParseWebConfig("", "w").tls.has_value());
  EXPECT_FALSE(ParseWebConfig("tls_server_config: {}\n", "w").tls.has_value());
  WebConfig c = ParseWebConfig(
      "http_server_config:\n  headers:\n    x-frame-options: SAMEORIGIN\n"
      "    Strict-Transport-Security: max-age=31536000\n",
      "w");
  ASSERT_EQ(c.headers.size(), 2u);
  EXPECT_EQ(c.headers[0].first, "X-Frame-Options");
  EXPECT_FALSE(c.RequiresAuth());
}

TEST(WebConfig, ErrorsNameFileLineAndKey) {
  EXPECT_EQ(ErrorOf("basic_auth_users:\n  alice: plain\n"),
            "/etc/pagescope/web.yml:2:10: basic_auth_users.alice: expected a bcrypt hash ($2a$, "
            "$2b$ or $2y$, 60 characters)");
  EXPECT_NE(ErrorOf("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites:\n"
                    "    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n    - ECDHE-RSA-AES128-SHA\n")
                .find("/etc/pagescope/web.yml:6:7: tls_server_config.cipher_suites: unknown "
                      "cipher suite \"ECDHE-RSA-AES128-SHA\"; known: TLS_AES_128_GCM_SHA256, "),
            std::string::npos);
  EXPECT_NE(ErrorOf("tls_server_config:\n  cert_file: a\n  key_file: b\n"
                    "  cipher_suites: [TLS_RSA_WITH_AES_128_GCM_SHA256]\n")
                .find("web.yml:4:19: tls_server_config.cipher_suites: unknown cipher suite "
                      "\"TLS_RSA_WITH_AES_128_GCM_SHA256\" (one of Go's insecure suites"),
            std::string::npos);
  EXPECT_EQ(ErrorOf("tls_server_config:\n  cert_file: a\n  key_file: b\n"
                    "  curve_preferences: [X25519, P-256]\n"),
            "/etc/pagescope/web.yml:4:31: tls_server_config.curve_preferences: unknown curve "
            "\"P-256\"; known: CurveP256, CurveP384, CurveP521, X25519");
  EXPECT_NE(ErrorOf("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: x\n")
                .find("web.yml:4:18: tls_server_config.cipher_suites: expected a list"),
            std::string::npos);
  EXPECT_NE(ErrorOf("tls_server_config:\n  cert_file: a\n  key_file: b\n  cert: x\n")
                .find("web.yml:4:3: tls_server_config.cert: inline PEM is not supported"),
            std::string::npos);
  EXPECT_NE(ErrorOf("tls_server_config:\n  cert_file: a\n  key_file: b\n  max_version: TLS14\n")
                .find("web.yml:4:16: tls_server_config.max_version: expected TLS10"),
            std::string::npos);
  EXPECT_NE(ErrorOf("tls_server_config:\n  key_file: b\n").find("cert_file: missing"),
            std::string::npos);
  EXPECT_NE(ErrorOf("tls_server_config:\n  cert_file: nope.crt\n  key_file: b\n")
                .find("cannot open \"/etc/pagescope/nope.crt\""),
            std::string::npos);
  EXPECT_NE(ErrorOf("http_server_config:\n  headers:\n    X-Frame-Options: \"a\\r\\nb\"\n")
                .find("web.yml:3:"),
            std::string::npos);
  EXPECT_NE(ErrorOf("http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n")
                .find("expected nosniff"),
            std::string::npos);
  EXPECT_NE(ErrorOf("basic_auth_users:\n  'a:b': x\n").find("must not contain ':'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("- a\n").find("expected a mapping"), std::string::npos);
  EXPECT_NE(ErrorOf("a: [\n").find("invalid YAML"), std::string::npos);
  EXPECT_NE(ErrorOf("basic_auth_users: [a]\n").find("expected a mapping"), std::string::npos);
}

// Every cipher suite name exporter-toolkit accepts maps to the suite OpenSSL names so
// (OPENSSL_cipher_name reads the standard name) and OpenSSL accepts it; every curve's group too.
TEST(WebConfig, GoNamesMapToOpenSsl) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  ASSERT_NE(ctx, nullptr);
  int tls12 = 0;
  for (const auto& c : GoCipherSuites()) {
    const std::string go(c.go), openssl(c.openssl);
    EXPECT_EQ(std::string(OPENSSL_cipher_name(go.c_str())), openssl) << go;
    EXPECT_FALSE(IsGoInsecureCipherSuite(go)) << go;
    if (c.tls13) {
      EXPECT_EQ(SSL_CTX_set_ciphersuites(ctx, openssl.c_str()), 1) << go;
    } else {
      EXPECT_EQ(SSL_CTX_set_cipher_list(ctx, openssl.c_str()), 1) << go;
      ++tls12;
    }
  }
  EXPECT_EQ(GoCipherSuites().size(), 13u);
  EXPECT_EQ(tls12, 10);
  EXPECT_TRUE(IsGoInsecureCipherSuite("TLS_RSA_WITH_AES_128_CBC_SHA"));
  for (const char* go : {"CurveP256", "CurveP384", "CurveP521", "X25519"}) {
    auto group = OpenSslGroupName(go);
    ASSERT_TRUE(group.has_value()) << go;
    EXPECT_EQ(SSL_CTX_set1_groups_list(ctx, std::string(*group).c_str()), 1) << go;
  }
  EXPECT_EQ(OpenSslGroupName("P-256"), std::nullopt);
  EXPECT_EQ(OpenSslGroupName("X448"), std::nullopt);
  SSL_CTX_free(ctx);
}

TEST_F(TlsFiles, CipherSuitesCurvesAndSans) {
  WebConfig c = Parse(
      "  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n"
      "    - TLS_AES_128_GCM_SHA256\n    - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n"
      "  curve_preferences: [X25519, CurveP384]\n"
      "  client_auth_type: RequireAnyClientCert\n"
      "  client_allowed_sans: [client.example, 10.0.0.1]\n");
  ASSERT_TRUE(c.tls.has_value());
  // The TLS 1.2 suites in the file's order; the TLS 1.3 one is not configurable.
  EXPECT_EQ(c.tls->cipher_list, "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305");
  EXPECT_EQ(c.tls->groups, "X25519:P-384");
  EXPECT_EQ(c.tls->allowed_sans, (std::vector<std::string>{"client.example", "10.0.0.1"}));
  EXPECT_EQ(c.tls->min_version, TLS1_2_VERSION);
  // Defaults: none of them.
  WebConfig d = Parse("  cipher_suites: []\n");
  EXPECT_EQ(d.tls->cipher_list, "");
  EXPECT_EQ(d.tls->groups, "");
  EXPECT_TRUE(d.tls->allowed_sans.empty());
  // Only TLS 1.3 suites: as in Go, no TLS 1.2 suite is left, so only TLS 1.3 connects.
  WebConfig t = Parse("  cipher_suites: [TLS_AES_256_GCM_SHA384]\n");
  EXPECT_EQ(t.tls->cipher_list, "");
  EXPECT_EQ(t.tls->min_version, TLS1_3_VERSION);
  // exporter-toolkit's old name for RequireAnyClientCert.
  EXPECT_EQ(Parse("  client_auth_type: RequireClientCert\n").tls->client_auth,
            ClientAuth::kRequireAnyClientCert);
}

TEST_F(TlsFiles, ImpossibleCombinationsAreRefused) {
  auto error = [&](const std::string& lines) {
    try {
      Parse(lines);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error("  client_allowed_sans: [a.example]\n")
                .find("web.yml:4:3: tls_server_config.client_allowed_sans: needs "
                      "client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert"),
            std::string::npos);
  EXPECT_NE(error("  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: server.crt\n"
                  "  client_allowed_sans: [a.example]\n")
                .find("client_allowed_sans: needs client_auth_type"),
            std::string::npos);
  EXPECT_NE(error("  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: []\n")
                .find("web.yml:5:3: tls_server_config.client_allowed_sans: an empty list would "
                      "refuse every client"),
            std::string::npos);
  EXPECT_NE(error("  max_version: TLS12\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n")
                .find("web.yml:5:3: tls_server_config.cipher_suites: names no TLS 1.2 suite"),
            std::string::npos);
}

// The SAN values client_allowed_sans compares with, as Go's crypto/x509 gives them.
TEST_F(TlsFiles, SubjectAltNamesAsGoPrintsThem) {
  WriteCertificate(dir_, "client",
                   "DNS:client.example,email:ops@example.org,IP:192.0.2.7,IP:2001:db8:0:0:0:0:0:1,"
                   "IP:::ffff:198.51.100.9,URI:spiffe://example.org/scraper");
  FILE* f = fopen((dir_ / "client.crt").c_str(), "r");
  ASSERT_NE(f, nullptr);
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  fclose(f);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(
      SubjectAltNames(cert),
      (std::vector<std::string>{"client.example", "ops@example.org", "192.0.2.7", "2001:db8::1",
                                "198.51.100.9", "spiffe://example.org/scraper"}));
  X509_free(cert);
}

}  // namespace
}  // namespace pagescope
