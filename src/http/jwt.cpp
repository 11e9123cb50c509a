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
#include "util/uuid.hpp"

namespace referrald::http {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxTokenLength = 8192;
constexpr std::size_t kSha256Length = 32;

Error Unauthorized() {
  return MakeError(ErrorCode::kUnauthenticated, Reason::kUnauthorized,
                   "Missing or invalid authentication token");
}

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

// A NumericDate claim as seconds; nullopt when absent. Error when present and not a number.
Result<std::optional<double>> NumericClaim(const json& payload, const char* name) {
  const auto it = payload.find(name);
  if (it == payload.end()) return std::optional<double>();
  if (!it->is_number()) return Unauthorized();
  const double value = it->get<double>();
  if (std::isnan(value)) return Unauthorized();
  return std::optional<double>(value);
}

Result<std::optional<std::string>> StringClaim(const json& payload, const char* name) {
  const auto it = payload.find(name);
  if (it == payload.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return Unauthorized();
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
  if (token.empty() || token.size() > kMaxTokenLength || secret_.empty()) return Unauthorized();
  const std::size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return Unauthorized();
  const std::size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Unauthorized();
  }
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = token.substr(dot2 + 1);
  if (header_b64.empty() || payload_b64.empty() || signature_b64.empty()) return Unauthorized();

  // Header first: only HS256 is acceptable, whatever the signature says.
  const auto header_text = Base64UrlDecode(header_b64);
  if (!header_text) return Unauthorized();
  const auto header = ParseObject(*header_text);
  if (!header) return Unauthorized();
  const auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string() || alg->get<std::string>() != "HS256") {
    return Unauthorized();
  }

  const auto signature = Base64UrlDecode(signature_b64);
  if (!signature || signature->size() != kSha256Length) return Unauthorized();
  const auto expected = HmacSha256(secret_, token.substr(0, dot2));
  if (!expected || CRYPTO_memcmp(expected->data(), signature->data(), kSha256Length) != 0) {
    return Unauthorized();
  }

  const auto payload_text = Base64UrlDecode(payload_b64);
  if (!payload_text) return Unauthorized();
  const auto payload = ParseObject(*payload_text);
  if (!payload) return Unauthorized();

  const auto sub = payload->find("sub");
  if (sub == payload->end() || !sub->is_string()) return Unauthorized();
  const auto& sub_text = sub->get_ref<const std::string&>();
  if (!IsUuid(sub_text)) return Unauthorized();

  auto email = StringClaim(*payload, "email");
  auto role = StringClaim(*payload, "role");
  auto exp = NumericClaim(*payload, "exp");
  auto nbf = NumericClaim(*payload, "nbf");
  auto iat = NumericClaim(*payload, "iat");
  if (!email || !role || !exp || !nbf || !iat) return Unauthorized();

  const double now_seconds =
      static_cast<double>(now.time_since_epoch().count()) / 1000.0;  // ms → s
  if (*exp && **exp <= now_seconds) return Unauthorized();
  if (*nbf && **nbf > now_seconds) return Unauthorized();

  Claims claims;
  claims.sub = CanonicalUuid(sub_text);
  claims.email = std::move(*email);
  claims.role = std::move(*role);
  claims.exp = ToSeconds(*exp);
  claims.nbf = ToSeconds(*nbf);
  claims.iat = ToSeconds(*iat);
  return claims;
}

}  // namespace referrald::http
