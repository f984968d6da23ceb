#include "web/basic_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "web/ascii.h"

namespace pagescope {

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

// The hash of `user` (the last entry when a name repeats); null for an unknown user.
const std::string* HashOf(const WebConfig& config, std::string_view user) {
  const std::string* hash = nullptr;
  for (const auto& [u, h] : config.users) {
    if (u == user) hash = &h;
  }
  return hash;
}

}  // namespace

bool BasicAuthChecker::Check(const WebConfig& config, std::string_view user,
                             std::string_view password) {
  const std::string* hash = HashOf(config, user);
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
  const std::string* hash = HashOf(config, user);
  if (hash == nullptr) return false;
  std::string key = CacheKey(user, password, *hash);
  std::lock_guard<std::mutex> lock(mu_);
  return ok_.count(key) != 0;
}

std::size_t BasicAuthChecker::cached() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ok_.size();
}

std::optional<std::string> DecodeBase64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string decoded;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char ch = text[i + j];
      if (ch == '=') {
        if (i + 4 != text.size() || j < 2) return std::nullopt;
        ++pad;
        v[j] = 0;
        continue;
      }
      if (pad > 0) return std::nullopt;
      v[j] = sextet(ch);
      if (v[j] < 0) return std::nullopt;
    }
    unsigned triple = (static_cast<unsigned>(v[0]) << 18) | (static_cast<unsigned>(v[1]) << 12) |
                      (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
    decoded += static_cast<char>((triple >> 16) & 0xff);
    if (pad < 2) decoded += static_cast<char>((triple >> 8) & 0xff);
    if (pad < 1) decoded += static_cast<char>(triple & 0xff);
  }
  return decoded;
}

bool ParseBasicAuthorization(std::string_view header, std::string* user, std::string* password) {
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  if (header.size() < 6 || !EqualsIgnoreCase(header.substr(0, 6), "basic ")) return false;
  header.remove_prefix(6);
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  if (header.empty()) return false;
  std::optional<std::string> decoded = DecodeBase64(header);
  if (!decoded) return false;
  auto colon = decoded->find(':');
  bool ok = colon != std::string::npos;
  if (ok) {
    *user = decoded->substr(0, colon);
    *password = decoded->substr(colon + 1);
  }
  OPENSSL_cleanse(decoded->data(), decoded->size());
  return ok;
}

}  // namespace pagescope
