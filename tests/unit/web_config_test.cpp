#include "web/web_config.h"

#include <gtest/gtest.h>

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
  EXPECT_EQ(ErrorOf("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [x]\n"),
            "/etc/pagescope/web.yml:4:3: tls_server_config.cipher_suites: not supported by "
            "pagescope (OpenSSL's defaults are used)");
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

}  // namespace
}  // namespace pagescope
