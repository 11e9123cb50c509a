#include "http/jwt.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "util/time_format.hpp"

namespace referrald::http {
namespace {

constexpr const char* kSecret = "unit-test-secret-0123456789abcdef-0123";
constexpr const char* kSub = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

TimePoint Now() { return *ParseIso8601("2025-06-15T12:00:00.000Z"); }
std::int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(Now().time_since_epoch()).count();
}

std::string B64Url(const std::string& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  int val = 0;
  int bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(kAlphabet[(val >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(kAlphabet[((val << 8) >> (bits + 8)) & 0x3F]);
  return out;
}

std::string Hs256(const std::string& input, const std::string& secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return B64Url(std::string(reinterpret_cast<const char*>(mac), len));
}

// A token with arbitrary header and payload JSON, correctly signed with `secret`.
std::string Forge(const std::string& header, const std::string& payload,
                  const std::string& secret = kSecret) {
  const std::string input = B64Url(header) + "." + B64Url(payload);
  return input + "." + Hs256(input, secret);
}

Claims ValidClaims() {
  Claims claims;
  claims.sub = kSub;
  claims.email = "alice@example.com";
  claims.role = "admin";
  claims.iat = NowSeconds();
  claims.exp = NowSeconds() + 3600;
  return claims;
}

class JwtTest : public ::testing::Test {
 protected:
  JwtVerifier verifier_{kSecret};
};

TEST_F(JwtTest, SignVerifyRoundTrip) {
  const auto verified = verifier_.Verify(SignToken(ValidClaims(), kSecret), Now());
  ASSERT_TRUE(verified.has_value());
  EXPECT_EQ(verified->sub, kSub);
  EXPECT_EQ(verified->email, "alice@example.com");
  EXPECT_EQ(verified->role, "admin");
  EXPECT_EQ(verified->exp, NowSeconds() + 3600);
}

TEST_F(JwtTest, MinimalTokenWithOnlySubAndExp) {
  Claims claims;
  claims.sub = kSub;
  claims.exp = NowSeconds() + 60;
  const auto verified = verifier_.Verify(SignToken(claims, kSecret), Now());
  ASSERT_TRUE(verified.has_value());
  EXPECT_FALSE(verified->email.has_value());
  EXPECT_FALSE(verified->role.has_value());
}

TEST_F(JwtTest, UppercaseSubIsCanonicalised) {
  Claims claims;
  claims.sub = "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B";
  claims.exp = NowSeconds() + 60;
  const auto verified = verifier_.Verify(SignToken(claims, kSecret), Now());
  ASSERT_TRUE(verified.has_value());
  EXPECT_EQ(verified->sub, kSub);
}

void ExpectRefused(const Result<Claims>& result, Reason reason) {
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(result.error().reason, reason) << result.error().machine();
}
void ExpectUnauthorized(const Result<Claims>& result) {
  ExpectRefused(result, Reason::kTokenInvalid);
}

TEST_F(JwtTest, AlgNoneIsRejected) {
  const std::string payload = R"({"sub":")" + std::string(kSub) + R"(","exp":9999999999})";
  ExpectUnauthorized(verifier_.Verify(
      B64Url(R"({"alg":"none","typ":"JWT"})") + "." + B64Url(payload) + ".", Now()));
  // Even with a valid HS256 MAC attached, alg none is refused.
  ExpectUnauthorized(verifier_.Verify(Forge(R"({"alg":"none"})", payload), Now()));
}

TEST_F(JwtTest, OtherAlgorithmsAndMissingAlgAreRejected) {
  const std::string payload = R"({"sub":")" + std::string(kSub) + R"(","exp":9999999999})";
  ExpectUnauthorized(verifier_.Verify(Forge(R"({"alg":"RS256","typ":"JWT"})", payload), Now()));
  ExpectUnauthorized(verifier_.Verify(Forge(R"({"alg":"HS512"})", payload), Now()));
  ExpectUnauthorized(verifier_.Verify(Forge(R"({"alg":"hs256"})", payload), Now()));
  ExpectUnauthorized(verifier_.Verify(Forge(R"({"typ":"JWT"})", payload), Now()));
  ExpectUnauthorized(verifier_.Verify(Forge(R"({"alg":256})", payload), Now()));
  ExpectUnauthorized(verifier_.Verify(Forge(R"(["HS256"])", payload), Now()));
}

TEST_F(JwtTest, BadSignatureIsRejected) {
  ExpectUnauthorized(
      verifier_.Verify(SignToken(ValidClaims(), "another-secret-0123456789abcdef-01"), Now()));
  std::string token = SignToken(ValidClaims(), kSecret);
  token.back() = token.back() == 'A' ? 'B' : 'A';
  ExpectUnauthorized(verifier_.Verify(token, Now()));
  const std::string unsigned_token = token.substr(0, token.rfind('.') + 1);
  ExpectUnauthorized(verifier_.Verify(unsigned_token, Now()));
}

TEST_F(JwtTest, TamperedPayloadIsRejected) {
  const std::string token = SignToken(ValidClaims(), kSecret);
  Claims other = ValidClaims();
  other.sub = "0190a1b2-c3d4-7e5f-8a9b-000000000000";
  const std::string other_token = SignToken(other, kSecret);
  // Header and signature of the first, payload of the second.
  const auto d1 = token.find('.');
  const auto d2 = token.rfind('.');
  const auto o1 = other_token.find('.');
  const auto o2 = other_token.rfind('.');
  const std::string spliced =
      token.substr(0, d1) + other_token.substr(o1, o2 - o1) + token.substr(d2);
  ExpectUnauthorized(verifier_.Verify(spliced, Now()));
}

TEST_F(JwtTest, ExpiredTokenIsRejected) {
  Claims claims = ValidClaims();
  claims.exp = NowSeconds() - 1;
  ExpectRefused(verifier_.Verify(SignToken(claims, kSecret), Now()), Reason::kTokenExpired);
  claims.exp = NowSeconds();  // exp <= now
  ExpectRefused(verifier_.Verify(SignToken(claims, kSecret), Now()), Reason::kTokenExpired);
}

TEST_F(JwtTest, NotYetValidTokenIsRejected) {
  Claims claims = ValidClaims();
  claims.nbf = NowSeconds() + 60;
  ExpectRefused(verifier_.Verify(SignToken(claims, kSecret), Now()), Reason::kTokenNotYetValid);
  claims.nbf = NowSeconds();
  EXPECT_TRUE(verifier_.Verify(SignToken(claims, kSecret), Now()).has_value());
}

TEST_F(JwtTest, ClaimsOfTheWrongShapeAreRejected) {
  const std::string header = R"({"alg":"HS256","typ":"JWT"})";
  const std::string exp = R"("exp":9999999999)";
  const auto claims_invalid = [&](const std::string& payload) {
    SCOPED_TRACE(payload);
    ExpectRefused(verifier_.Verify(Forge(header, payload), Now()), Reason::kTokenClaimsInvalid);
  };
  claims_invalid("{" + exp + R"(,"sub":"user-42"})");
  claims_invalid("{" + exp + R"(,"sub":42})");
  claims_invalid("{" + exp + R"(,"email":"a@b.c"})");
  ExpectUnauthorized(verifier_.Verify(Forge(header, R"([1,2,3])"), Now()));
  ExpectUnauthorized(verifier_.Verify(Forge(header, "not json"), Now()));
  const std::string sub = R"("sub":")" + std::string(kSub) + R"(")";
  claims_invalid("{" + sub + R"(,"exp":"never"})");
  claims_invalid("{" + sub + R"(,"exp":null})");
  claims_invalid("{" + sub + "," + exp + R"(,"email":7})");
  claims_invalid("{" + sub + "," + exp + R"(,"role":true})");
  claims_invalid("{" + sub + "," + exp + R"(,"nbf":"soon"})");
  EXPECT_TRUE(verifier_.Verify(Forge(header, "{" + sub + "," + exp + "}"), Now()).has_value());
}

// Contract section 13: a token without exp is refused, whatever else it has.
TEST_F(JwtTest, ATokenWithoutExpIsRefused) {
  Claims claims = ValidClaims();
  claims.exp.reset();
  ExpectRefused(verifier_.Verify(SignToken(claims, kSecret), Now()), Reason::kTokenClaimsInvalid);
}

// The checks run in the contract's order: the first failing one names the 401.
TEST_F(JwtTest, FailuresAreReportedInTheContractsOrder) {
  ExpectRefused(verifier_.Verify("", Now()), Reason::kTokenMissing);
  // A bad signature wins over an expired exp.
  Claims expired = ValidClaims();
  expired.exp = NowSeconds() - 10;
  ExpectRefused(verifier_.Verify(SignToken(expired, "another-secret-0123456789abcdef-01"), Now()),
                Reason::kTokenInvalid);
  // Expired wins over not yet valid and over a sub that is not a UUID.
  expired.nbf = NowSeconds() + 10;
  expired.sub = "user-1";
  ExpectRefused(verifier_.Verify(SignToken(expired, kSecret), Now()), Reason::kTokenExpired);
  // Not yet valid wins over a bad sub.
  Claims early = ValidClaims();
  early.nbf = NowSeconds() + 10;
  early.sub = "user-1";
  ExpectRefused(verifier_.Verify(SignToken(early, kSecret), Now()), Reason::kTokenNotYetValid);
}

TEST_F(JwtTest, GarbageAndWrongSegmentCountsAreRejected) {
  const std::string token = SignToken(ValidClaims(), kSecret);
  ExpectRefused(verifier_.Verify("", Now()), Reason::kTokenMissing);
  ExpectUnauthorized(verifier_.Verify("garbage", Now()));
  ExpectUnauthorized(verifier_.Verify("a.b", Now()));
  ExpectUnauthorized(verifier_.Verify("a.b.c.d", Now()));
  ExpectUnauthorized(verifier_.Verify("...", Now()));
  ExpectUnauthorized(verifier_.Verify(token + ".extra", Now()));
  ExpectUnauthorized(verifier_.Verify("!!!." + token.substr(token.find('.') + 1), Now()));
  ExpectUnauthorized(verifier_.Verify(std::string(10000, 'a'), Now()));
  ExpectUnauthorized(verifier_.Verify(std::string("a\0b.c.d", 7), Now()));
}

TEST_F(JwtTest, EmptySecretVerifiesNothing) {
  const JwtVerifier empty{""};
  ExpectUnauthorized(empty.Verify(SignToken(ValidClaims(), ""), Now()));
}

}  // namespace
}  // namespace referrald::http
