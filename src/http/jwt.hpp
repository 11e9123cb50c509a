#pragma once
// HS256 JSON Web Tokens (RFC 7519) over OpenSSL HMAC-SHA256. Only HS256 is accepted.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/clock.hpp"
#include "util/result.hpp"

namespace referrald::http {

struct Claims {
  std::string sub;                   // the user's id; a UUID
  std::optional<std::string> email;  // the user's email
  std::optional<std::string> role;   // "admin" marks an administrator
  std::optional<std::int64_t> iat;   // seconds since the epoch
  std::optional<std::int64_t> nbf;
  std::optional<std::int64_t> exp;
};

// A signed compact token for `claims` (header {"alg":"HS256","typ":"JWT"}).
std::string SignToken(const Claims& claims, std::string_view secret);

class JwtVerifier {
 public:
  explicit JwtVerifier(std::string secret);
  // Checks, in this order, that there is a token (TOKEN_MISSING), its structure, alg == HS256 and
  // signature (constant time; TOKEN_INVALID), exp against `now` (TOKEN_EXPIRED), nbf
  // (TOKEN_NOT_YET_VALID), then the claims: exp present and numeric, sub a UUID, email and role
  // strings (TOKEN_CLAIMS_INVALID). Every failure is kUnauthenticated. Thread-safe.
  [[nodiscard]] Result<Claims> Verify(std::string_view token, TimePoint now) const;

 private:
  std::string secret_;
};

}  // namespace referrald::http
