#include "http/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "http/base64url.hpp"
#include "http/error_mapping.hpp"
#include "util/uuid.hpp"

namespace referrald::http {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxTokenLength = 8192;
constexpr std::size_t kSha256Length = 32;

std::optional<std::array<unsigned char, kSha256Length>> HmacSha256(std::string_view key,
                                                                   std::string_view data) {
  std::array<unsigned char, kSha256Length> mac{};
  unsigned int len = 0;
  const unsigned char* result =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &len);
  if (result == nullptr || len != kSha256Length) return std::nullopt;
  return mac;
}

// Parses a JSON object; nullopt for malformed JSON or anything but an object.
std::optional<json> ParseObject(std::string_view text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) return std::nullopt;
  return value;
}

// A NumericDate claim as seconds; nullopt when absent. TOKEN_CLAIMS_INVALID when present and not
// a number.
Result<std::optional<double>> NumericClaim(const json& payload, const char* name) {
  const auto it = payload.find(name);
  if (it == payload.end()) return std::optional<double>();
  if (!it->is_number() || std::isnan(it->get<double>())) {
    return http_errors::TokenClaimsInvalid(std::string(name) + " must be a number");
  }
  return std::optional<double>(it->get<double>());
}

Result<std::optional<std::string>> StringClaim(const json& payload, const char* name) {
  const auto it = payload.find(name);
  if (it == payload.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) {
    return http_errors::TokenClaimsInvalid(std::string(name) + " must be a string");
  }
  return std::optional<std::string>(it->get<std::string>());
}

std::optional<std::int64_t> ToSeconds(std::optional<double> v) {
  if (!v) return std::nullopt;
  constexpr double kMax = 9.0e15;
  const double clamped = std::fmax(-kMax, std::fmin(kMax, *v));
  return static_cast<std::int64_t>(std::floor(clamped));
}

}  // namespace

std::string SignToken(const Claims& claims, std::string_view secret) {
  const json header = {{"alg", "HS256"}, {"typ", "JWT"}};
  json payload = json::object();
  payload["sub"] = claims.sub;
  if (claims.email) payload["email"] = *claims.email;
  if (claims.role) payload["role"] = *claims.role;
  if (claims.iat) payload["iat"] = *claims.iat;
  if (claims.nbf) payload["nbf"] = *claims.nbf;
  if (claims.exp) payload["exp"] = *claims.exp;
  const auto dump = [](const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
  };
  std::string signing_input = Base64UrlEncode(dump(header)) + "." + Base64UrlEncode(dump(payload));
  const auto mac = HmacSha256(secret, signing_input);
  std::string signature;
  if (mac) {
    signature =
        Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac->data()), mac->size()));
  }
  return signing_input + "." + signature;
}

JwtVerifier::JwtVerifier(std::string secret) : secret_(std::move(secret)) {}

Result<Claims> JwtVerifier::Verify(std::string_view token, TimePoint now) const {
  if (token.empty()) return http_errors::TokenMissing();
  // Checked in the contract's order: the token's form and signature, then exp, then nbf, then the
  // remaining claims.
  if (token.size() > kMaxTokenLength) return http_errors::TokenInvalid("longer than 8 KiB");
  if (secret_.empty()) return http_errors::TokenInvalid("no secret to check it with");
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return http_errors::TokenInvalid("not three dot-separated parts");
  }
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = token.substr(dot2 + 1);
  if (header_b64.empty() || payload_b64.empty() || signature_b64.empty()) {
    return http_errors::TokenInvalid("an empty part");
  }

  // Header first: only HS256 is acceptable, whatever the signature says.
  const auto header_text = Base64UrlDecode(header_b64);
  const auto header = header_text ? ParseObject(*header_text) : std::nullopt;
  if (!header) return http_errors::TokenInvalid("the header is not base64url JSON");
  const auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string() || alg->get<std::string>() != "HS256") {
    return http_errors::TokenInvalid("alg is not HS256");
  }

  const auto signature = Base64UrlDecode(signature_b64);
  if (!signature || signature->size() != kSha256Length) {
    return http_errors::TokenInvalid("bad signature");
  }
  const auto expected = HmacSha256(secret_, token.substr(0, dot2));
  if (!expected || CRYPTO_memcmp(expected->data(), signature->data(), kSha256Length) != 0) {
    return http_errors::TokenInvalid("bad signature");
  }

  const auto payload_text = Base64UrlDecode(payload_b64);
  const auto payload = payload_text ? ParseObject(*payload_text) : std::nullopt;
  if (!payload) return http_errors::TokenInvalid("the payload is not a base64url JSON object");

  // exp and nbf are judged when they are numbers; their absence or another type is a claims
  // error below, after them.
  const auto exp = NumericClaim(*payload, "exp");
  const auto nbf = NumericClaim(*payload, "nbf");
  const double now_seconds =
      static_cast<double>(now.time_since_epoch().count()) / 1000.0;  // ms → s
  if (exp && *exp && **exp <= now_seconds) return http_errors::TokenExpired();
  if (nbf && *nbf && **nbf > now_seconds) return http_errors::TokenNotYetValid();

  if (!exp) return exp.error();
  if (!*exp) return http_errors::TokenClaimsInvalid("exp is missing");
  if (!nbf) return nbf.error();
  const auto sub = payload->find("sub");
  if (sub == payload->end() || !sub->is_string() || !IsUuid(sub->get_ref<const std::string&>())) {
    return http_errors::TokenClaimsInvalid("sub must be a UUID");
  }
  auto iat = NumericClaim(*payload, "iat");
  if (!iat) return iat.error();
  auto email = StringClaim(*payload, "email");
  if (!email) return email.error();
  auto role = StringClaim(*payload, "role");
  if (!role) return role.error();

  Claims claims;
  claims.sub = CanonicalUuid(sub->get_ref<const std::string&>());
  claims.email = std::move(*email);
  claims.role = std::move(*role);
  claims.exp = ToSeconds(*exp);
  claims.nbf = ToSeconds(*nbf);
  claims.iat = ToSeconds(*iat);
  return claims;
}

}  // namespace referrald::http
