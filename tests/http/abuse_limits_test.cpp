// Contract section 9 over real HTTP: 429 RATE_LIMITED with Retry-After, a refused request changes
// nothing, a guessed code cannot be told apart once the failed-track budget is spent, admins are
// exempt from the write budget, and the client address follows TRUST_FORWARDED_FOR.

#include <gtest/gtest.h>

#include <string>

#include "support/server_fixture.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;
using std::chrono::minutes;
using std::chrono::seconds;

class AbuseLimitsTest : public ServerFixture {
 protected:
  void Configure(app::Config& config) override {
    config.abuse.failed_tracks_per_hour = 3;
    config.abuse.failed_tracks_per_ip_per_hour = 5;
    config.abuse.writes_per_minute = 4;
    config.trust_forwarded_for = trust_forwarded_for_;
  }

  void ExpectRateLimited(const HttpReply& reply, int max_wait_seconds) {
    ExpectError(reply, 429, "RATE_LIMITED");
    const std::string retry_after = reply.Header("Retry-After");
    ASSERT_FALSE(retry_after.empty()) << "no Retry-After header";
    const int wait = std::stoi(retry_after);
    EXPECT_GE(wait, 1);
    EXPECT_LE(wait, max_wait_seconds);
    EXPECT_EQ(std::to_string(wait), retry_after) << "whole seconds";
  }

  bool trust_forwarded_for_ = false;
};

TEST_F(AbuseLimitsTest, SpentFailedTrackBudgetRefusesEvenAValidCodeUntilTheHourFrees) {
  const auto referrer = NewUser("referrer");
  const std::string code = GenerateCode(referrer);
  const auto guesser = NewUser("guesser");
  for (int i = 0; i < 3; ++i) {
    ExpectError(Track(guesser, "NOPE" + std::to_string(i) + "XYZ"), 400, "INVALID_CODE");
    clock_->Advance(minutes(1));
  }
  // The budget (3 per hour) is spent: a valid code is refused like an invalid one ...
  ExpectRateLimited(Track(guesser, code), 3600);
  ExpectRateLimited(Track(guesser, "NOPE9XYZ"), 3600);
  // ... and the refusal changed nothing.
  const auto stats = Get("/api/referral/stats", referrer.token).Json();
  EXPECT_EQ(stats["totalReferrals"], 0) << stats;

  // The first failure leaves the rolling hour 57 minutes from now.
  clock_->Advance(minutes(57));
  const auto tracked = Track(guesser, code);
  EXPECT_EQ(tracked.status, 201) << tracked.body;
}

TEST_F(AbuseLimitsTest, FailedTrackBudgetIsAlsoPerClientAddress) {
  // Five failures from this address (127.0.0.1), spread over users with budget left.
  for (int i = 0; i < 5; ++i) {
    const auto user = NewUser("spread");
    ExpectError(Track(user, "BADCODE" + std::to_string(i)), 400, "INVALID_CODE");
  }
  const auto fresh = NewUser("fresh");
  ExpectRateLimited(Track(fresh, "BADCODE9"), 3600);
}

TEST_F(AbuseLimitsTest, WritesPerMinuteCountEveryAnswerButNotThe429s) {
  const auto user = NewUser("writer");
  ASSERT_EQ(Post("/api/referral/generate-code", json::object(), user.token).status, 201);
  clock_->Advance(seconds(10));
  ExpectError(Post("/api/referral/generate-code", json::object(), user.token), 409, "CODE_EXISTS",
              1);
  ExpectError(PostRaw("/api/referral/track", "{", user.token), 400, "INVALID_JSON");
  // A non-admin POST to an admin route is refused, and still counts.
  ExpectError(Post("/api/referral/convert", {{"referredUserId", user.id}}, user.token), 403,
              "FORBIDDEN");
  clock_->Advance(seconds(20));
  // Four writes in the last 30 s: the first leaves the minute in 30 s.
  ExpectRateLimited(Post("/api/referral/claim-reward", json::object(), user.token), 30);
  ExpectRateLimited(Post("/api/referral/claim-reward", json::object(), user.token), 30);
  // Reads are not writes.
  EXPECT_EQ(Get("/api/referral/code", user.token).status, 200);
  // Another user has a budget of their own.
  const auto other = NewUser("other");
  EXPECT_EQ(Post("/api/referral/generate-code", json::object(), other.token).status, 201);
  // 30 s later the first write has left the minute, and the 429s took nothing: one more fits.
  clock_->Advance(seconds(30));
  ExpectError(Post("/api/referral/generate-code", json::object(), user.token), 409, "CODE_EXISTS",
              1);
  // The other three, made at 10 s, leave at 70 s: 10 s from now.
  ExpectRateLimited(Post("/api/referral/generate-code", json::object(), user.token), 10);
}

TEST_F(AbuseLimitsTest, AdminsAreExemptFromTheWriteBudget) {
  const auto admin = NewUser("admin", /*admin=*/true);
  for (int i = 0; i < 10; ++i) {
    const auto reply =
        Post("/api/referral/convert", {{"referredUserId", NewUserId()}}, admin.token);
    ExpectError(reply, 404, "REFERRAL_NOT_FOUND");
  }
}

TEST_F(AbuseLimitsTest, ForwardedForIsIgnoredUnlessTrusted) {
  // Not trusted: a client cannot escape the address budget by inventing X-Forwarded-For.
  for (int i = 0; i < 5; ++i) {
    const auto user = NewUser("spoof");
    const auto reply = Post("/api/referral/track", {{"referralCode", "BADCODE1"}}, user.token,
                            {{"X-Forwarded-For", "203.0.113." + std::to_string(i)}});
    ExpectError(reply, 400, "INVALID_CODE");
  }
  const auto user = NewUser("spoof");
  ExpectRateLimited(Post("/api/referral/track", {{"referralCode", "BADCODE1"}}, user.token,
                         {{"X-Forwarded-For", "203.0.113.77"}}),
                    3600);
}

class TrustedForwardedForTest : public AbuseLimitsTest {
 protected:
  TrustedForwardedForTest() { trust_forwarded_for_ = true; }
};

TEST_F(TrustedForwardedForTest, TheLastHopIsTheClientAddress) {
  for (int i = 0; i < 5; ++i) {
    const auto user = NewUser("proxied");
    // The load balancer appended 198.51.100.7; what the client wrote before it is not trusted.
    const auto reply =
        Post("/api/referral/track", {{"referralCode", "BADCODE1"}}, user.token,
             {{"X-Forwarded-For", "203.0.113." + std::to_string(i) + ", 198.51.100.7"}});
    ExpectError(reply, 400, "INVALID_CODE");
  }
  const auto blocked = NewUser("proxied");
  ExpectRateLimited(Post("/api/referral/track", {{"referralCode", "BADCODE1"}}, blocked.token,
                         {{"X-Forwarded-For", "10.1.1.1, 198.51.100.7"}}),
                    3600);
  // Another client behind the same balancer has its own budget.
  const auto neighbour = NewUser("proxied");
  ExpectError(Post("/api/referral/track", {{"referralCode", "BADCODE1"}}, neighbour.token,
                   {{"X-Forwarded-For", "198.51.100.8"}}),
              400, "INVALID_CODE");
}

}  // namespace
}  // namespace referrald::testing
