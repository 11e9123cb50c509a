// Every route through real HTTP: success shapes and every error code of the contract.

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "domain/rules.hpp"
#include "support/server_fixture.hpp"
#include "util/time_format.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;
using std::chrono::hours;

constexpr auto kDay = hours(24);

class ApiTest : public ServerFixture {
 protected:
  HttpReply Subscribe(const TestUser& user, const std::string& nonce = "payment-nonce") {
    return Post("/api/subscriptions/create", {{"tier", "premium"}, {"nonce", nonce}}, user.token);
  }

  HttpReply Convert(const std::string& referred_user_id) {
    return Post("/api/referral/convert", {{"referredUserId", referred_user_id}}, admin_.token);
  }

  json Rewards(const TestUser& user) {
    const auto reply = Get("/api/referral/rewards", user.token);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return reply.Json();
  }

  std::string Now() const { return FormatIso8601(clock_->Now()); }
  std::string NowPlus(std::chrono::milliseconds d) const {
    return FormatIso8601(clock_->Now() + d);
  }

  void SetUp() override {
    ServerFixture::SetUp();
    admin_ = NewUser("admin", /*admin=*/true);
  }

  TestUser admin_;
};

bool IsCodeText(const std::string& code) {
  return code.size() == 8 && std::all_of(code.begin(), code.end(), [](char c) {
           return domain::kCodeAlphabet.find(c) != std::string_view::npos;
         });
}

// --- operations -------------------------------------------------------------------------------

TEST_F(ApiTest, HealthNeedsNoAuthAndReportsTheDatabase) {
  const auto reply = Get("/health", "");
  EXPECT_EQ(reply.status, 200);
  const auto body = reply.Json();
  EXPECT_EQ(body["status"], "ok");
  EXPECT_EQ(body["database"], "ok");
  EXPECT_EQ(reply.Header("Content-Type"), "application/json");
  EXPECT_FALSE(reply.Header("X-Request-Id").empty());
}

TEST_F(ApiTest, UnknownRoutesAnswer404) {
  const auto user = NewUser();
  ExpectError(Get("/api/nope", user.token), 404, "NOT_FOUND");
  ExpectError(Get("/nope", ""), 404, "NOT_FOUND");
  ExpectError(Get("/", ""), 404, "NOT_FOUND");
  ExpectError(Get("/api/referral/stats/extra", user.token), 404, "NOT_FOUND");
  ExpectError(Get("/api/referral//stats", user.token), 404, "NOT_FOUND");
}

TEST_F(ApiTest, KnownPathsWithAnotherMethodAnswer405WithAllowBeforeTheToken) {
  const auto user = NewUser();
  auto reply = PostRaw("/health", "{}", "");
  ExpectError(reply, 405, "METHOD_NOT_ALLOWED");
  EXPECT_EQ(reply.Header("Allow"), "GET, HEAD");
  reply = Get("/api/referral/track", "");  // no token: the method is judged first
  ExpectError(reply, 405, "METHOD_NOT_ALLOWED");
  EXPECT_EQ(reply.Header("Allow"), "POST");
  reply = PostRaw("/api/referral/stats", "{}", user.token);
  ExpectError(reply, 405, "METHOD_NOT_ALLOWED");
  EXPECT_EQ(reply.Header("Allow"), "GET, HEAD");
  reply =
      PostRaw("/api/admin/jobs/expire-codes/run/", "{}", "");  // a trailing slash is the same path
  EXPECT_EQ(reply.status, 401) << reply.body;
  reply = Get("/api/admin/jobs/expire-codes/run", "");
  ExpectError(reply, 405, "METHOD_NOT_ALLOWED");
  EXPECT_EQ(reply.Header("Allow"), "POST");
}

TEST_F(ApiTest, RequestIdIsEchoedWhenSaneAndGeneratedOtherwise) {
  const auto user = NewUser();
  const auto echoed = Get("/api/referral/stats", user.token, {{"X-Request-Id", "abc-123_X.y"}});
  EXPECT_EQ(echoed.Header("X-Request-Id"), "abc-123_X.y");

  const std::string max_len(128, 'a');
  EXPECT_EQ(Get("/health", "", {{"X-Request-Id", max_len}}).Header("X-Request-Id"), max_len);

  for (const std::string& bad : std::vector<std::string>{"bad id!", std::string(129, 'a'),
                                                         std::string("a/b"), std::string("")}) {
    const auto reply = Get("/health", "", {{"X-Request-Id", bad}});
    EXPECT_NE(reply.Header("X-Request-Id"), bad);
    EXPECT_FALSE(reply.Header("X-Request-Id").empty());
  }
  const auto first = Get("/health", "");
  const auto second = Get("/health", "");
  EXPECT_NE(first.Header("X-Request-Id"), second.Header("X-Request-Id"));

  // Errors carry the same id in the body.
  const auto error = Get("/api/referral/code", user.token, {{"X-Request-Id", "trace-42"}});
  ExpectError(error, 404, "CODE_NOT_FOUND");
  EXPECT_EQ(error.Json()["requestId"], "trace-42");
  const auto unauthorized = Get("/api/referral/stats", "", {{"X-Request-Id", "trace-43"}});
  ExpectError(unauthorized, 401, "TOKEN_MISSING");
  EXPECT_EQ(unauthorized.Json()["requestId"], "trace-43");
}

TEST_F(ApiTest, EveryApiRouteNeedsAToken) {
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"POST", "/api/referral/generate-code"}, {"GET", "/api/referral/code"},
      {"POST", "/api/referral/track"},         {"GET", "/api/referral/stats"},
      {"GET", "/api/referral/rewards"},        {"POST", "/api/referral/claim-reward"},
      {"GET", "/api/referral/leaderboard"},    {"GET", "/api/referral/analytics"},
      {"GET", "/api/referral/trends"},         {"POST", "/api/referral/convert"},
      {"POST", "/api/subscriptions/create"},   {"GET", "/api/subscriptions/me"},
      {"POST", "/api/subscriptions/cancel"},
  };
  for (const auto& [method, path] : routes) {
    SCOPED_TRACE(method + " " + path);
    ExpectError(SendRequest(port(), method, path, "{}", ""), 401, "TOKEN_MISSING");
    ExpectError(SendRequest(port(), method, path, "{}", "not-a-token"), 401, "TOKEN_INVALID");
  }
}

TEST_F(ApiTest, AdminRoutesAnswer403ToUsers) {
  const auto user = NewUser();
  ExpectError(Get("/api/referral/analytics", user.token), 403, "FORBIDDEN");
  ExpectError(Get("/api/referral/trends", user.token), 403, "FORBIDDEN");
  ExpectError(Post("/api/referral/convert", {{"referredUserId", NewUserId()}}, user.token), 403,
              "FORBIDDEN");
  EXPECT_EQ(Get("/api/referral/analytics", admin_.token).status, 200);
}

// --- codes ------------------------------------------------------------------------------------

TEST_F(ApiTest, GenerateCodeReturns201WithTheCode) {
  const auto user = NewUser();
  const auto reply = Post("/api/referral/generate-code", json::object(), user.token);
  ASSERT_EQ(reply.status, 201) << reply.body;
  const auto body = reply.Json();
  EXPECT_EQ(body.size(), 4U);
  EXPECT_TRUE(IsCodeText(body["code"])) << body;
  EXPECT_EQ(body["shareUrl"], "http://localhost:0/r/" + body["code"].get<std::string>());
  EXPECT_EQ(body["userId"], user.id);
  EXPECT_EQ(body["expiresAt"], NowPlus(365 * kDay));
  EXPECT_EQ(reply.Header("Content-Type"), "application/json");
}

TEST_F(ApiTest, GenerateCodeAcceptsAnEmptyBodyAndExpiresInDays) {
  const auto a = NewUser();
  EXPECT_EQ(PostRaw("/api/referral/generate-code", "", a.token).status, 201);
  const auto b = NewUser();
  const auto reply = Post("/api/referral/generate-code", {{"expiresInDays", 30}}, b.token);
  ASSERT_EQ(reply.status, 201);
  EXPECT_EQ(reply.Json()["expiresAt"], NowPlus(30 * kDay));
  const auto c = NewUser();
  EXPECT_EQ(Post("/api/referral/generate-code", {{"expiresInDays", 3650}}, c.token).status, 201);
}

TEST_F(ApiTest, SecondActiveCodeIs409CodeExistsCarryingTheCode) {
  const auto user = NewUser();
  const std::string code = GenerateCode(user);
  const auto reply = Post("/api/referral/generate-code", json::object(), user.token);
  ExpectError(reply, 409, "CODE_EXISTS", 1);
  EXPECT_EQ(reply.Json()["referralCode"], code);
}

TEST_F(ApiTest, NewCodeAfterExpiryDeactivatesTheOld) {
  const auto user = NewUser();
  const std::string old_code = GenerateCode(user, {{"expiresInDays", 1}});
  clock_->Advance(2 * kDay);
  const std::string new_code = GenerateCode(user);
  EXPECT_NE(old_code, new_code);
  const auto reply = Get("/api/referral/code", user.token);
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.Json()["code"], new_code);
}

TEST_F(ApiTest, GetCodeReturnsTheNewestCodeOr404) {
  const auto user = NewUser();
  ExpectError(Get("/api/referral/code", user.token), 404, "CODE_NOT_FOUND");
  const std::string code = GenerateCode(user, {{"expiresInDays", 10}});
  auto reply = Get("/api/referral/code", user.token);
  ASSERT_EQ(reply.status, 200);
  json body = reply.Json();
  EXPECT_EQ(body, json({{"code", code},
                        {"userId", user.id},
                        {"expiresAt", NowPlus(10 * kDay)},
                        {"isActive", true},
                        {"shareUrl", "http://localhost:0/r/" + code}}));
  clock_->Advance(11 * kDay);
  reply = Get("/api/referral/code", user.token);
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.Json()["isActive"], false);
}

// --- tracking ---------------------------------------------------------------------------------

TEST_F(ApiTest, TrackReturns201) {
  const auto referrer = NewUser();
  const auto referred = NewUser();
  const std::string code = GenerateCode(referrer);
  const auto reply = Track(referred, code);
  ASSERT_EQ(reply.status, 201) << reply.body;
  const auto body = reply.Json();
  EXPECT_EQ(body["message"], "Referral tracked successfully");
  EXPECT_EQ(body["referrerUserId"], referrer.id);
  EXPECT_EQ(body["referralId"].get<std::string>().size(), 36U);
  EXPECT_EQ(body.size(), 3U);
}

TEST_F(ApiTest, CodeLookupTrimsAndIgnoresCase) {
  const auto referrer = NewUser();
  const std::string code = GenerateCode(referrer);
  std::string lower = code;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return static_cast<char>(std::tolower(c)); });
  EXPECT_EQ(Track(NewUser(), "  " + lower + "\t ").status, 201);
}

TEST_F(ApiTest, UnknownExpiredAndInactiveCodesAreInvalid) {
  const auto referrer = NewUser();
  ExpectError(Track(NewUser(), "ZZZZZZZZ"), 400, "INVALID_CODE");
  ExpectError(Track(NewUser(), ""), 400, "INVALID_CODE");

  const std::string old_code = GenerateCode(referrer, {{"expiresInDays", 1}});
  const TimePoint created = clock_->Now();
  clock_->Advance(2 * kDay);
  ExpectError(Track(NewUser(), old_code), 400, "INVALID_CODE");  // expired

  // A new code deactivates the old one; back before its expiry it is still refused (inactive).
  GenerateCode(referrer);
  clock_->Set(created + hours(1));
  ExpectError(Track(NewUser(), old_code), 400, "INVALID_CODE");
}

TEST_F(ApiTest, SelfReferralIsRefused) {
  const auto user = NewUser();
  const std::string code = GenerateCode(user);
  ExpectError(Track(user, code), 400, "SELF_REFERRAL");
}

TEST_F(ApiTest, CircularReferralIsRefused) {
  const auto a = NewUser();
  const auto b = NewUser();
  const std::string code_a = GenerateCode(a);
  const std::string code_b = GenerateCode(b);
  ASSERT_EQ(Track(b, code_a).status, 201);  // a referred b
  ExpectError(Track(a, code_b), 400, "CIRCULAR_REFERRAL");
}

TEST_F(ApiTest, SecondReferrerIsRefused) {
  const auto a = NewUser();
  const auto b = NewUser();
  const auto c = NewUser();
  const std::string code_a = GenerateCode(a);
  const std::string code_b = GenerateCode(b);
  ASSERT_EQ(Track(c, code_a).status, 201);
  ExpectError(Track(c, code_b), 409, "ALREADY_REFERRED");
  ExpectError(Track(c, code_a), 409, "ALREADY_REFERRED");
}

// --- conversion, rewards, claims -------------------------------------------------------------

TEST_F(ApiTest, SeedManualTestingFlow) {
  const auto a = NewUser("alice");
  const auto b = NewUser("bob");
  // 1. A generates a code.
  const std::string code = GenerateCode(a);
  // 2. B signs up with it.
  ASSERT_EQ(Track(b, code).status, 201);
  auto stats = Get("/api/referral/stats", a.token).Json();
  EXPECT_EQ(stats, json({{"totalReferrals", 1},
                         {"convertedReferrals", 0},
                         {"pendingReferrals", 1},
                         {"totalRewardsEarned", 0},
                         {"clicks", 0}}));
  // 3. B upgrades to premium.
  const auto sub = Subscribe(b);
  ASSERT_EQ(sub.status, 201) << sub.body;
  const auto sub_body = sub.Json();
  EXPECT_EQ(sub_body["userId"], b.id);
  EXPECT_EQ(sub_body["tier"], "premium");
  EXPECT_EQ(sub_body["status"], "active");
  EXPECT_EQ(sub_body["subscriptionId"].get<std::string>().size(), 36U);
  // 4. A checks stats.
  stats = Get("/api/referral/stats", a.token).Json();
  EXPECT_EQ(stats, json({{"totalReferrals", 1},
                         {"convertedReferrals", 1},
                         {"pendingReferrals", 0},
                         {"totalRewardsEarned", 1},
                         {"clicks", 0}}));
  const auto rewards = Rewards(a);
  ASSERT_EQ(rewards.size(), 1U);
  const auto& reward = rewards[0];
  EXPECT_EQ(reward["rewardType"], "free_premium");
  EXPECT_EQ(reward["rewardValue"], json({{"days", 30}}));
  EXPECT_EQ(reward["isClaimed"], false);
  EXPECT_EQ(reward["createdAt"], Now());
  EXPECT_TRUE(reward["claimedAt"].is_null());
  EXPECT_EQ(reward["expiresAt"], NowPlus(90 * kDay));
  // Contract §11: with no hold (the default) a reward is claimable from its creation.
  EXPECT_EQ(reward["status"], "claimable");
  EXPECT_EQ(reward["claimableAt"], Now());
  EXPECT_EQ(reward.size(), 9U);
  // 5. A claims it.
  clock_->Advance(hours(1));
  const auto claim = Post("/api/referral/claim-reward", {{"rewardId", reward["id"]}}, a.token);
  ASSERT_EQ(claim.status, 200) << claim.body;
  EXPECT_EQ(claim.Json(), json({{"message", "Reward claimed successfully"},
                                {"reward",
                                 {{"id", reward["id"]},
                                  {"rewardType", "free_premium"},
                                  {"rewardValue", {{"days", 30}}},
                                  {"claimedAt", Now()}}}}));
  const auto after = Rewards(a);
  EXPECT_EQ(after[0]["isClaimed"], true);
  EXPECT_EQ(after[0]["claimedAt"], Now());
  // The referred user's own view.
  const auto me = Get("/api/subscriptions/me", b.token).Json();
  EXPECT_EQ(me["tier"], "premium");
  EXPECT_EQ(me["status"], "active");
}

TEST_F(ApiTest, ClaimingExtendsPremiumUntil) {
  const auto a = NewUser();
  const std::string code = GenerateCode(a);
  for (int i = 0; i < 2; ++i) {
    const auto b = NewUser();
    ASSERT_EQ(Track(b, code).status, 201);
    ASSERT_EQ(Subscribe(b).status, 201);
  }
  auto me = Get("/api/subscriptions/me", a.token).Json();
  EXPECT_EQ(me, json({{"tier", "free"}, {"status", "none"}, {"premiumUntil", nullptr}}));

  const auto rewards = Rewards(a);
  ASSERT_EQ(rewards.size(), 2U);
  const TimePoint start = clock_->Now();
  ASSERT_EQ(Post("/api/referral/claim-reward", {{"rewardId", rewards[0]["id"]}}, a.token).status,
            200);
  me = Get("/api/subscriptions/me", a.token).Json();
  EXPECT_EQ(me["premiumUntil"], FormatIso8601(start + 30 * kDay));
  EXPECT_EQ(me["tier"], "premium");
  clock_->Advance(5 * kDay);  // premium_until = max(now, premium_until) + days
  ASSERT_EQ(Post("/api/referral/claim-reward", {{"rewardId", rewards[1]["id"]}}, a.token).status,
            200);
  me = Get("/api/subscriptions/me", a.token).Json();
  EXPECT_EQ(me["premiumUntil"], FormatIso8601(start + 60 * kDay));
}

TEST_F(ApiTest, ClaimErrors) {
  const auto a = NewUser();
  const auto b = NewUser();
  const auto other = NewUser();
  ASSERT_EQ(Track(b, GenerateCode(a)).status, 201);
  ASSERT_EQ(Subscribe(b).status, 201);
  const std::string reward_id = Rewards(a)[0]["id"];

  // Unknown, another user's.
  ExpectError(Post("/api/referral/claim-reward", {{"rewardId", NewUserId()}}, a.token), 404,
              "REWARD_NOT_FOUND");
  ExpectError(Post("/api/referral/claim-reward", {{"rewardId", reward_id}}, other.token), 404,
              "REWARD_NOT_FOUND");
  // Claimed once, then already claimed.
  EXPECT_EQ(Post("/api/referral/claim-reward", {{"rewardId", reward_id}}, a.token).status, 200);
  ExpectError(Post("/api/referral/claim-reward", {{"rewardId", reward_id}}, a.token), 404,
              "REWARD_NOT_FOUND");
  // Not a UUID.
  ExpectError(Post("/api/referral/claim-reward", {{"rewardId", "reward-1"}}, a.token), 400,
              "VALIDATION_ERROR");
}

TEST_F(ApiTest, ExpiredRewardCannotBeClaimed) {
  const auto a = NewUser();
  const auto b = NewUser();
  ASSERT_EQ(Track(b, GenerateCode(a)).status, 201);
  ASSERT_EQ(Convert(b.id).status, 200);
  const std::string reward_id = Rewards(a)[0]["id"];
  clock_->Advance(91 * kDay);
  ExpectError(Post("/api/referral/claim-reward", {{"rewardId", reward_id}}, a.token), 400,
              "REWARD_EXPIRED");
  EXPECT_EQ(Rewards(a)[0]["isClaimed"], false);
}

TEST_F(ApiTest, ConvertByAdmin) {
  const auto a = NewUser();
  const auto b = NewUser();
  const auto track = Track(b, GenerateCode(a));
  ASSERT_EQ(track.status, 201);
  const auto reply = Convert(b.id);
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.Json(), json({{"message", "Referral converted successfully"},
                                {"referralId", track.Json()["referralId"]}}));
  ExpectError(Convert(b.id), 409, "ALREADY_CONVERTED");
  ExpectError(Convert(NewUserId()), 404, "REFERRAL_NOT_FOUND");
  // A later subscription of the converted user grants nothing more.
  ASSERT_EQ(Subscribe(b).status, 201);
  EXPECT_EQ(Rewards(a).size(), 1U);
  // Uppercase UUIDs are the same user.
  std::string upper = b.id;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](char c) { return static_cast<char>(std::toupper(c)); });
  ExpectError(Convert(upper), 409, "ALREADY_CONVERTED");
}

// --- subscriptions ----------------------------------------------------------------------------

TEST_F(ApiTest, SubscriptionErrors) {
  const auto a = NewUser();
  const auto b = NewUser();
  ASSERT_EQ(Track(b, GenerateCode(a)).status, 201);

  ExpectError(Subscribe(b, "fake-processor-declined"), 402, "PAYMENT_DECLINED");
  ExpectError(Subscribe(b, "fake-processor-declined-card"), 402, "PAYMENT_DECLINED");
  // Nothing was written: no subscription, no conversion.
  EXPECT_EQ(Get("/api/subscriptions/me", b.token).Json()["tier"], "free");
  EXPECT_EQ(Get("/api/referral/stats", a.token).Json()["pendingReferrals"], 1);
  EXPECT_EQ(Rewards(a).size(), 0U);

  ExpectError(Post("/api/subscriptions/create", {{"tier", "gold"}, {"nonce", "n"}}, b.token), 400,
              "VALIDATION_ERROR");
  ExpectError(Post("/api/subscriptions/create", {{"tier", "premium"}, {"nonce", ""}}, b.token), 400,
              "VALIDATION_ERROR");
  ExpectError(Post("/api/subscriptions/create", {{"tier", "premium"}}, b.token), 400,
              "VALIDATION_ERROR");

  ASSERT_EQ(Subscribe(b).status, 201);
  ExpectError(Subscribe(b), 409, "ALREADY_SUBSCRIBED");
  EXPECT_EQ(Rewards(a).size(), 1U);
  const auto me = Get("/api/subscriptions/me", b.token);
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(me.Json()["tier"], "premium");
  EXPECT_EQ(me.Json()["status"], "active");
  EXPECT_TRUE(me.Json().contains("premiumUntil"));
}

// --- reads ------------------------------------------------------------------------------------

TEST_F(ApiTest, LeaderboardRanksAndMasks) {
  // r1: 2 referrals, 1 converted; r2: the same; r4: 1 and 1; r3: 3 and 0 → ranks 1, 1, 3, 4.
  const auto r1 = NewUser("rone");
  const auto r2 = NewUser("rtwo");
  const auto r3 = NewUser("rthree");
  const auto r4 = NewUser("rfour");
  const auto refer = [&](const TestUser& referrer, int count, int converted) {
    const std::string code = GenerateCode(referrer);
    for (int i = 0; i < count; ++i) {
      const auto referred = NewUser();
      ASSERT_EQ(Track(referred, code).status, 201);
      if (i < converted) {
        ASSERT_EQ(Convert(referred.id).status, 200);
      }
    }
  };
  refer(r1, 2, 1);
  refer(r2, 2, 1);
  refer(r3, 3, 0);
  refer(r4, 1, 1);

  const auto reply = Get("/api/referral/leaderboard", r3.token);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto rows = reply.Json();
  ASSERT_EQ(rows.size(), 4U);
  const std::string first_tie = std::min(r1.id, r2.id);
  const std::string second_tie = std::max(r1.id, r2.id);
  EXPECT_EQ(rows[0]["userId"], first_tie);
  EXPECT_EQ(rows[1]["userId"], second_tie);
  EXPECT_EQ(rows[2]["userId"], r4.id);
  EXPECT_EQ(rows[3]["userId"], r3.id);
  EXPECT_EQ(rows[0]["rank"], 1);
  EXPECT_EQ(rows[1]["rank"], 1);
  EXPECT_EQ(rows[2]["rank"], 3);
  EXPECT_EQ(rows[3]["rank"], 4);
  EXPECT_EQ(rows[3]["totalReferrals"], 3);
  EXPECT_EQ(rows[3]["convertedReferrals"], 0);
  EXPECT_EQ(rows[2]["email"], "r***@example.com");
  EXPECT_EQ(rows[0].size(), 5U);

  const auto admin_rows = Get("/api/referral/leaderboard?limit=2", admin_.token).Json();
  ASSERT_EQ(admin_rows.size(), 2U);
  EXPECT_EQ(admin_rows[0]["email"], first_tie == r1.id ? r1.email : r2.email);

  // A changed email claim updates the user.
  const std::string new_email = "renamed@example.com";
  ASSERT_EQ(Get("/api/referral/stats", Token(r4.id, new_email)).status, 200);
  const auto renamed = Get("/api/referral/leaderboard", admin_.token).Json();
  EXPECT_EQ(renamed[2]["email"], new_email);
}

TEST_F(ApiTest, LeaderboardPeriodsSelectByCreation) {
  const auto old_referrer = NewUser();
  const auto new_referrer = NewUser();
  ASSERT_EQ(Track(NewUser(), GenerateCode(old_referrer)).status, 201);
  clock_->Advance(10 * kDay);
  ASSERT_EQ(Track(NewUser(), GenerateCode(new_referrer)).status, 201);

  EXPECT_EQ(Get("/api/referral/leaderboard?period=all", new_referrer.token).Json().size(), 2U);
  EXPECT_EQ(Get("/api/referral/leaderboard?period=month", new_referrer.token).Json().size(), 2U);
  const auto week = Get("/api/referral/leaderboard?period=week", new_referrer.token).Json();
  ASSERT_EQ(week.size(), 1U);
  EXPECT_EQ(week[0]["userId"], new_referrer.id);
}

TEST_F(ApiTest, AnalyticsComputesTheRate) {
  const auto empty = Get("/api/referral/analytics", admin_.token);
  ASSERT_EQ(empty.status, 200);
  EXPECT_EQ(empty.Json(), json({{"totalReferrals", 0},
                                {"convertedReferrals", 0},
                                {"conversionRate", 0},
                                {"totalRewardsAwarded", 0},
                                {"activeCodes", 0},
                                {"expiredCodes", 0},
                                {"clicks", 0},
                                {"clickToSignupRate", 0}}));

  const auto a = NewUser();
  const std::string code = GenerateCode(a);
  std::vector<TestUser> referred;
  for (int i = 0; i < 3; ++i) {
    referred.push_back(NewUser());
    ASSERT_EQ(Track(referred.back(), code).status, 201);
  }
  ASSERT_EQ(Convert(referred[0].id).status, 200);
  GenerateCode(NewUser(), {{"expiresInDays", 1}});
  clock_->Advance(2 * kDay);

  const auto body = Get("/api/referral/analytics?period=week", admin_.token).Json();
  EXPECT_EQ(body["totalReferrals"], 3);
  EXPECT_EQ(body["convertedReferrals"], 1);
  EXPECT_DOUBLE_EQ(body["conversionRate"].get<double>(), 33.3);
  EXPECT_EQ(body["totalRewardsAwarded"], 1);
  EXPECT_EQ(body["activeCodes"], 1);
  EXPECT_EQ(body["expiredCodes"], 1);
  ExpectError(Get("/api/referral/analytics?period=year", admin_.token), 400, "VALIDATION_ERROR");
}

TEST_F(ApiTest, TrendsHaveExactlyNDaysIncludingZeroDays) {
  const auto a = NewUser();
  const std::string code = GenerateCode(a);
  const TimePoint today = clock_->Now();
  clock_->Set(today - 3 * kDay);
  const auto early = NewUser();
  ASSERT_EQ(Track(early, code).status, 201);
  clock_->Set(today);
  ASSERT_EQ(Track(NewUser(), code).status, 201);
  ASSERT_EQ(Track(NewUser(), code).status, 201);
  ASSERT_EQ(Convert(early.id).status, 200);

  const auto reply = Get("/api/referral/trends?days=7", admin_.token);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto days = reply.Json();
  ASSERT_EQ(days.size(), 7U);
  const auto day = [](TimePoint t, int signups, int conversions) {
    return json({{"date", FormatDate(t)},
                 {"signups", signups},
                 {"conversions", conversions},
                 {"clicks", 0}});
  };
  EXPECT_EQ(days[0], day(today - 6 * kDay, 0, 0));
  EXPECT_EQ(days[3], day(today - 3 * kDay, 1, 0));
  EXPECT_EQ(days[5], day(today - kDay, 0, 0));
  EXPECT_EQ(days[6], day(today, 2, 1));

  EXPECT_EQ(Get("/api/referral/trends", admin_.token).Json().size(), 30U);
  EXPECT_EQ(Get("/api/referral/trends?days=1", admin_.token).Json().size(), 1U);
  EXPECT_EQ(Get("/api/referral/trends?days=365", admin_.token).Json().size(), 365U);
  ExpectError(Get("/api/referral/trends?days=366", admin_.token), 400, "VALIDATION_ERROR");
  ExpectError(Get("/api/referral/trends?days=0", admin_.token), 400, "VALIDATION_ERROR");
}

TEST_F(ApiTest, RewardsAndStatsStartEmpty) {
  const auto user = NewUser();
  EXPECT_EQ(Get("/api/referral/rewards", user.token).Json(), json::array());
  EXPECT_EQ(Get("/api/referral/stats", user.token).Json(), json({{"totalReferrals", 0},
                                                                 {"convertedReferrals", 0},
                                                                 {"pendingReferrals", 0},
                                                                 {"totalRewardsEarned", 0},
                                                                 {"clicks", 0}}));
  EXPECT_EQ(Get("/api/referral/leaderboard", user.token).Json(), json::array());
}

// --- feature switch ---------------------------------------------------------------------------

class DisabledReferralsTest : public ServerFixture {
 protected:
  void Configure(app::Config& config) override { config.referral_enabled = false; }
};

TEST_F(DisabledReferralsTest, ReferralRoutesAnswer503BeforeAuth) {
  const std::string token = Token(NewUserId(), "x@example.com");
  ExpectError(Get("/api/referral/stats", ""), 503, "SERVICE_DISABLED");
  ExpectError(Get("/api/referral/stats", token), 503, "SERVICE_DISABLED");
  ExpectError(Post("/api/referral/generate-code", json::object(), token), 503, "SERVICE_DISABLED");
  ExpectError(Get("/api/referral/unknown", ""), 503, "SERVICE_DISABLED");
  EXPECT_EQ(Get("/health", "").status, 200);
  EXPECT_EQ(Get("/api/subscriptions/me", token).status, 200);
}

TEST_F(DisabledReferralsTest, SubscriptionsStillWorkButConvertNothing) {
  // A referral made while the program was on (through the domain, as the routes are off).
  const std::string referrer = NewUserId();
  const std::string referred = NewUserId();
  auto& store = application().store();
  auto code = application().referrals().GenerateCode({referrer, "r@example.com"}, std::nullopt);
  ASSERT_TRUE(code);
  ASSERT_TRUE(application().referrals().Track({referred, "d@example.com"}, code->code));

  const auto created = Post("/api/subscriptions/create", {{"tier", "premium"}, {"nonce", "ok"}},
                            Token(referred, "d@example.com"));
  EXPECT_EQ(created.status, 201) << created.body;
  const auto stats = store.GetReferrerStats(referrer);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->pending_referrals, 1);
  EXPECT_EQ(stats->converted_referrals, 0);
  EXPECT_TRUE(store.ListRewards(referrer, {})->empty());
}

}  // namespace
}  // namespace referrald::testing
