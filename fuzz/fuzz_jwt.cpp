// JwtVerifier::Verify on arbitrary tokens, at a fixed instant. Two kinds of input:
//   a raw compact token ("eyJ…"): structure, base64url, alg and signature checks;
//   an input starting with '{': JSON that the target signs with the verifier's key, so that the
//   claim checks behind the signature are reached — "HEADER\nPAYLOAD" when it has a newline,
//   else the payload under {"alg":"HS256","typ":"JWT"}.
// Invariants: Verify never crashes or throws; what it accepts has a canonical (lowercase) UUID
// sub, an exp, in the future, and nbf not in it; and signing the accepted claims again verifies to
// the same claims.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "http/jwt.hpp"
#include "util/uuid.hpp"

namespace {

namespace fuzz = referrald::fuzz;
namespace http = referrald::http;

bool SameClaims(const http::Claims& a, const http::Claims& b) {
  return a.sub == b.sub && a.email == b.email && a.role == b.role && a.iat == b.iat &&
         a.nbf == b.nbf && a.exp == b.exp;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const http::JwtVerifier kVerifier{std::string(fuzz::kJwtSecret)};
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string token;
  if (!input.empty() && input.front() == '{') {
    const std::size_t newline = input.find('\n');
    token = newline == std::string_view::npos
                ? fuzz::SignPayload(R"({"alg":"HS256","typ":"JWT"})", input)
                : fuzz::SignPayload(input.substr(0, newline), input.substr(newline + 1));
  } else {
    token = std::string(input);
  }

  const referrald::TimePoint now = fuzz::FixedNow();
  const auto claims = kVerifier.Verify(token, now);
  if (!claims) return 0;

  const std::int64_t now_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (!referrald::IsUuid(claims->sub) || referrald::CanonicalUuid(claims->sub) != claims->sub) {
    fuzz::Fail("accepted a token whose sub is not a canonical UUID: " + claims->sub);
  }
  if (!claims->exp) fuzz::Fail("accepted a token without exp");
  if (*claims->exp <= now_seconds) fuzz::Fail("accepted an expired token");
  if (claims->nbf && *claims->nbf > now_seconds) fuzz::Fail("accepted a token not yet valid");

  const std::string again = http::SignToken(*claims, fuzz::kJwtSecret);
  const auto round_trip = kVerifier.Verify(again, now);
  if (!round_trip) fuzz::Fail("the accepted claims, signed again, do not verify: " + again);
  if (!SameClaims(*claims, *round_trip)) {
    fuzz::Fail("the accepted claims, signed again, verify to other claims: " + again);
  }
  return 0;
}
