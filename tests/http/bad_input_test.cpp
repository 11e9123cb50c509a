// Hostile and malformed input: always a 4xx with the contract's error body, never a 5xx.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/jwt.hpp"
#include "support/server_fixture.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;

class BadInputTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    user_id_ = NewUserId();
    token_ = Token(user_id_, "bad.input@example.com");
    admin_token_ = Token(NewUserId(), "admin@example.com", /*admin=*/true);
  }

  std::string user_id_;
  std::string token_;
  std::string admin_token_;
};

const std::vector<std::string> kJsonBodyRoutes = {
    "/api/referral/generate-code", "/api/referral/track",       "/api/referral/claim-reward",
    "/api/referral/convert",       "/api/subscriptions/create", "/api/subscriptions/cancel"};

TEST_F(BadInputTest, MalformedJsonIsInvalidJson) {
  const std::vector<std::string> bodies = {"{",
                                           "{\"referralCode\":",
                                           "not json",
                                           "{'a':1}",
                                           "{\"a\":1,}",
                                           "{\"a\" 1}",
                                           std::string("{\"a\":\"\0\"}", 9),
                                           "\xff\xfe{}",
                                           "{\"a\":\"\xc3\x28\"}",
                                           "{\"a\":\"\xed\xa0\x80\"}",
                                           "{\"a\":\"\\ud800\"}",
                                           "{} {}",
                                           "[",
                                           "nul"};
  for (const auto& route : kJsonBodyRoutes) {
    for (const auto& body : bodies) {
      SCOPED_TRACE(route + " body=" + body);
      ExpectError(PostRaw(route, body, admin_token_), 400, "INVALID_JSON");
    }
  }
}

TEST_F(BadInputTest, JsonThatIsNotAnObjectIsInvalidJson) {
  for (const auto& route : kJsonBodyRoutes) {
    for (const std::string body :
         {"[]", "[{\"referralCode\":\"X\"}]", "\"text\"", "42", "true", "null"}) {
      SCOPED_TRACE(route + " body=" + body);
      ExpectError(PostRaw(route, body, admin_token_), 400, "INVALID_JSON");
    }
  }
  // Only generate-code and subscriptions/cancel (every field optional) accept an empty body.
  ExpectError(PostRaw("/api/referral/track", "", token_), 400, "INVALID_JSON");
  ExpectError(PostRaw("/api/subscriptions/create", "", token_), 400, "INVALID_JSON");
}

TEST_F(BadInputTest, WrongTypesAndMissingFieldsAreValidationErrors) {
  const std::vector<std::pair<std::string, json>> cases = {
      {"/api/referral/track", json::object()},
      {"/api/referral/track", {{"referralCode", 12345678}}},
      {"/api/referral/track", {{"referralCode", json::array({"AB"})}}},
      {"/api/referral/track", {{"referralCode", true}}},
      {"/api/referral/claim-reward", json::object()},
      {"/api/referral/claim-reward", {{"rewardId", 7}}},
      {"/api/referral/claim-reward", {{"rewardId", "not-a-uuid"}}},
      {"/api/referral/claim-reward", {{"rewardId", "' OR 1=1 --"}}},
      {"/api/referral/claim-reward", {{"rewardId", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5"}}},
      {"/api/referral/convert", json::object()},
      {"/api/referral/convert", {{"referredUserId", "admin"}}},
      {"/api/referral/convert", {{"referredUserId", json::object()}}},
      {"/api/subscriptions/create", {{"tier", "premium"}, {"nonce", 5}}},
      {"/api/subscriptions/create", {{"tier", 1}, {"nonce", "n"}}},
      {"/api/subscriptions/create", {{"tier", "PREMIUM"}, {"nonce", "n"}}},
      {"/api/subscriptions/create", {{"tier", "premium"}, {"nonce", std::string(257, 'n')}}},
      {"/api/subscriptions/create", {{"nonce", "n"}}},
  };
  for (const auto& [route, body] : cases) {
    SCOPED_TRACE(route + " body=" + body.dump());
    ExpectError(Post(route, body, admin_token_), 400, "VALIDATION_ERROR");
  }
}

TEST_F(BadInputTest, ExpiresInDaysMustBeAnIntegerInRange) {
  for (const std::string bad :
       {"0", "-1", "3651", "1.5", "30.0", "\"30\"", "true", "1e400", "99999999999999999999",
        "-99999999999999999999", "[30]", "{\"days\":30}", "1e2"}) {
    SCOPED_TRACE(bad);
    ExpectError(PostRaw("/api/referral/generate-code", "{\"expiresInDays\":" + bad + "}", token_),
                400, "VALIDATION_ERROR");
  }
  // Nothing was created by the refusals.
  EXPECT_EQ(Get("/api/referral/code", token_).status, 404);
}

TEST_F(BadInputTest, QueryParametersAreValidated) {
  for (const std::string query :
       {"limit=abc", "limit=0", "limit=101", "limit=5x", "limit=", "limit=-1", "limit=1.5",
        "limit=%20%35", "limit=99999999999999999999", "period=year", "period=", "period=ALL",
        "period=all%00", "period=%ff", "limit=%zz", "limit=%"}) {
    SCOPED_TRACE(query);
    ExpectError(Get("/api/referral/leaderboard?" + query, token_), 400, "VALIDATION_ERROR");
  }
  for (const std::string query :
       {"days=abc", "days=0", "days=366", "days=", "days=7d", "days=%00"}) {
    SCOPED_TRACE(query);
    ExpectError(Get("/api/referral/trends?" + query, admin_token_), 400, "VALIDATION_ERROR");
  }
  EXPECT_EQ(Get("/api/referral/leaderboard?limit=100&period=month", token_).status, 200);
  EXPECT_EQ(Get("/api/referral/leaderboard?limit=1&period=week", token_).status, 200);
  EXPECT_EQ(Get("/api/referral/leaderboard?unknown=1", token_).status, 200);
}

TEST_F(BadInputTest, SqlInjectionAsCodeIsJustAnInvalidCode) {
  const std::string owner_token = Token(NewUserId(), "owner@example.com");
  const auto generated = Post("/api/referral/generate-code", json::object(), owner_token);
  ASSERT_EQ(generated.status, 201);
  const std::string code = generated.Json()["code"];

  for (const std::string& attack : std::vector<std::string>{
           "' OR 1=1 --", "'; DROP TABLE referrals; --", "\" OR \"\"=\"", code + "' OR '1'='1", "%",
           "_", "*", std::string("AB\0CD", 5), "\xe2\x80\x8b" + code, std::string(65, 'A'),
           std::string(100000 / 2, 'B')}) {
    SCOPED_TRACE(attack.substr(0, 40));
    ExpectError(Post("/api/referral/track", {{"referralCode", attack}}, token_), 400,
                "INVALID_CODE");
  }
  // The data is intact: the real code still works, once.
  EXPECT_EQ(Post("/api/referral/track", {{"referralCode", code}}, token_).status, 201);
  const auto stats = Get("/api/referral/stats", owner_token).Json();
  EXPECT_EQ(stats["totalReferrals"], 1);
}

TEST_F(BadInputTest, InvalidUtf8InQueryAndHeadersNeverBreaksTheServer) {
  ExpectError(Get("/api/referral/leaderboard?period=%c3%28", token_), 400, "VALIDATION_ERROR");
  // Percent-decoding yields invalid UTF-8: the query is malformed.
  ExpectError(Get("/api/referral/leaderboard?%ff=%fe", token_), 400, "VALIDATION_ERROR");
  EXPECT_EQ(Get("/api/referral/leaderboard?limit=5&limit=abc", token_).status, 200);  // first wins
  const auto odd_id = Get("/health", "", {{"X-Request-Id", "caf\xc3\xa9"}});
  EXPECT_EQ(odd_id.status, 200);
  EXPECT_NE(odd_id.Header("X-Request-Id"), "caf\xc3\xa9");
}

TEST_F(BadInputTest, OversizedBodyIs413BeforeAuth) {
  const std::string big = "{\"referralCode\":\"" + std::string(65 * 1024, 'A') + "\"}";
  ExpectError(PostRaw("/api/referral/track", big, token_), 413, "PAYLOAD_TOO_LARGE");
  ExpectError(PostRaw("/api/referral/track", big, ""), 413, "PAYLOAD_TOO_LARGE");
  ExpectError(PostRaw("/api/referral/generate-code", std::string(64 * 1024 + 1, ' '), token_), 413,
              "PAYLOAD_TOO_LARGE");
  // Exactly 64 KiB is fine (as far as size goes).
  const std::string at_limit = "{\"expiresInDays\":30}" + std::string(64 * 1024 - 20, ' ');
  ASSERT_EQ(at_limit.size(), 64U * 1024U);
  EXPECT_EQ(PostRaw("/api/referral/generate-code", at_limit, token_).status, 201);
}

TEST_F(BadInputTest, BadTokensAre401) {
  const std::string sub = NewUserId();
  const auto now_s =
      std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch()).count();
  http::Claims expired;
  expired.sub = sub;
  expired.exp = now_s - 10;
  http::Claims future;
  future.sub = sub;
  future.nbf = now_s + 3600;
  future.exp = now_s + 7200;
  http::Claims not_uuid;
  not_uuid.sub = "user-1";
  not_uuid.exp = now_s + 3600;
  http::Claims valid;
  valid.sub = sub;
  valid.exp = now_s + 3600;
  const std::string good = http::SignToken(valid, kTestJwtSecret);
  const std::string alg_none =
      "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." +
      good.substr(good.find('.') + 1, good.rfind('.') - good.find('.') - 1) + ".";

  const std::vector<std::pair<std::string, std::string>> tokens = {
      {"garbage", "TOKEN_INVALID"},
      {"a.b.c", "TOKEN_INVALID"},
      {http::SignToken(expired, kTestJwtSecret), "TOKEN_EXPIRED"},
      {http::SignToken(future, kTestJwtSecret), "TOKEN_NOT_YET_VALID"},
      {http::SignToken(not_uuid, kTestJwtSecret), "TOKEN_CLAIMS_INVALID"},
      {http::SignToken(valid, "wrong-secret-0123456789abcdef-0123456789"), "TOKEN_INVALID"},
      {alg_none, "TOKEN_INVALID"},
      {good + "x", "TOKEN_INVALID"},
  };
  for (const auto& [token, code] : tokens) {
    SCOPED_TRACE(token);
    ExpectError(Get("/api/referral/stats", token), 401, code);
  }
  // Other schemes and malformed headers.
  for (const auto& [header, code] : std::vector<std::pair<std::string, std::string>>{
           {"Basic dXNlcjpwYXNz", "TOKEN_MISSING"},
           {"Bearer", "TOKEN_MISSING"},
           {"Bearer ", "TOKEN_MISSING"},
           {good, "TOKEN_MISSING"},
           {"Token " + good, "TOKEN_MISSING"},
           {"Bearer  " + good + " extra", "TOKEN_INVALID"}}) {
    SCOPED_TRACE(header);
    ExpectError(Get("/api/referral/stats", "", {{"Authorization", header}}), 401, code);
  }
  // The scheme is case-insensitive.
  EXPECT_EQ(Get("/api/referral/stats", "", {{"Authorization", "bearer " + good}}).status, 200);
  EXPECT_EQ(Get("/api/referral/stats", good).status, 200);
}

TEST_F(BadInputTest, ErrorsNeverLeakInternals) {
  const auto reply = PostRaw("/api/referral/track", "{\"referralCode\":\"' OR 1=1 --\"}", token_);
  ExpectError(reply, 400, "INVALID_CODE");
  EXPECT_EQ(reply.body.find("SELECT"), std::string::npos);
  EXPECT_EQ(reply.body.find("sqlite"), std::string::npos);
  EXPECT_EQ(reply.body.find(kTestJwtSecret), std::string::npos);
}

}  // namespace
}  // namespace referrald::testing
