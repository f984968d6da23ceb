#pragma once
// HTTP basic auth, inside the web module only (libxcrypt's bcrypt, OpenSSL's SHA-256 and
// cleansing): the Authorization header, bcrypt hashes and the cache of checked credentials.
// Never included by the executable (see web/web_security.h).

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "web/web_config.h"

namespace pagescope {

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

// Standard base64 (RFC 4648, padded); nullopt when malformed.
std::optional<std::string> DecodeBase64(std::string_view text);

// Parses an "Authorization: Basic ..." header value into user and password; false if malformed.
bool ParseBasicAuthorization(std::string_view header, std::string* user, std::string* password);

}  // namespace pagescope
