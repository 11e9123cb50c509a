// Exactly-once rules under real concurrent HTTP clients. Threads start together on a latch; no
// sleeps, no timing assumptions.

#include <gtest/gtest.h>

#include <functional>
#include <latch>
#include <map>
#include <thread>
#include <vector>

#include "support/server_fixture.hpp"
#include "util/time_format.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;

class RaceTest : public ServerFixture {
 protected:
  // Runs `request(i)` for i in [0, n) on n threads released together; returns the replies.
  std::vector<HttpReply> RunConcurrently(int n, const std::function<HttpReply(int)>& request) {
    std::vector<HttpReply> replies(static_cast<std::size_t>(n));
    std::latch start(n);
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        replies[static_cast<std::size_t>(i)] = request(i);
      });
    }
    for (auto& t : threads) t.join();
    return replies;
  }

  static std::map<int, int> CountStatuses(const std::vector<HttpReply>& replies) {
    std::map<int, int> counts;
    for (const auto& reply : replies) ++counts[reply.status];
    return counts;
  }

  std::string NewCode(const std::string& token) {
    const auto reply = Post("/api/referral/generate-code", json::object(), token);
    EXPECT_EQ(reply.status, 201) << reply.body;
    return reply.Json().value("code", "");
  }
};

TEST_F(RaceTest, ConcurrentTracksForOneUserYieldExactlyOneReferral) {
  std::vector<std::string> codes;
  std::vector<std::string> referrer_tokens;
  for (int i = 0; i < 5; ++i) {
    referrer_tokens.push_back(Token(NewUserId(), "referrer@example.com"));
    codes.push_back(NewCode(referrer_tokens.back()));
  }
  const std::string token = Token(NewUserId(), "referred@example.com");
  const auto replies = RunConcurrently(50, [&](int i) {
    return SendRequest(
        port(), "POST", "/api/referral/track",
        json({{"referralCode", codes[static_cast<std::size_t>(i) % codes.size()]}}).dump(), token);
  });
  const auto counts = CountStatuses(replies);
  EXPECT_EQ(counts.size(), 2U);
  EXPECT_EQ(counts.count(201) ? counts.at(201) : 0, 1);
  EXPECT_EQ(counts.count(409) ? counts.at(409) : 0, 49);
  for (const auto& reply : replies) {
    if (reply.status == 409) ExpectError(reply, 409, "ALREADY_REFERRED");
  }
  int total = 0;
  for (const auto& referrer_token : referrer_tokens) {
    total += Get("/api/referral/stats", referrer_token).Json()["totalReferrals"].get<int>();
  }
  EXPECT_EQ(total, 1);
}

TEST_F(RaceTest, ConcurrentSubscriptionsAndConvertsGrantExactlyOneReward) {
  const std::string referrer_token = Token(NewUserId(), "referrer@example.com");
  const std::string referred = NewUserId();
  const std::string referred_token = Token(referred, "referred@example.com");
  const std::string admin_token = Token(NewUserId(), "admin@example.com", /*admin=*/true);
  ASSERT_EQ(Post("/api/referral/track", {{"referralCode", NewCode(referrer_token)}}, referred_token)
                .status,
            201);

  const auto replies = RunConcurrently(20, [&](int i) {
    if (i % 2 == 0) {
      return SendRequest(
          port(), "POST", "/api/subscriptions/create",
          json({{"tier", "premium"}, {"nonce", "nonce-" + std::to_string(i)}}).dump(),
          referred_token);
    }
    return SendRequest(port(), "POST", "/api/referral/convert",
                       json({{"referredUserId", referred}}).dump(), admin_token);
  });
  int subscriptions = 0;
  int conversions = 0;
  for (int i = 0; i < 20; ++i) {
    const auto& reply = replies[static_cast<std::size_t>(i)];
    if (i % 2 == 0) {
      EXPECT_TRUE(reply.status == 201 || reply.status == 409) << reply.body;
      if (reply.status == 201) ++subscriptions;
    } else {
      EXPECT_TRUE(reply.status == 200 || reply.status == 409) << reply.body;
      if (reply.status == 200) ++conversions;
    }
  }
  EXPECT_EQ(subscriptions, 1);
  EXPECT_LE(conversions, 1);
  const auto rewards = Get("/api/referral/rewards", referrer_token).Json();
  ASSERT_TRUE(rewards.is_array());
  EXPECT_EQ(rewards.size(), 1U);
  const auto stats = Get("/api/referral/stats", referrer_token).Json();
  EXPECT_EQ(stats["convertedReferrals"], 1);
  EXPECT_EQ(stats["totalRewardsEarned"], 1);
}

TEST_F(RaceTest, ConcurrentClaimsOfOneRewardSucceedOnce) {
  const std::string referrer_token = Token(NewUserId(), "referrer@example.com");
  const std::string referred = NewUserId();
  const std::string admin_token = Token(NewUserId(), "admin@example.com", /*admin=*/true);
  ASSERT_EQ(Post("/api/referral/track", {{"referralCode", NewCode(referrer_token)}},
                 Token(referred, "referred@example.com"))
                .status,
            201);
  ASSERT_EQ(Post("/api/referral/convert", {{"referredUserId", referred}}, admin_token).status, 200);
  const std::string reward_id = Get("/api/referral/rewards", referrer_token).Json()[0]["id"];

  const auto replies = RunConcurrently(20, [&](int) {
    return SendRequest(port(), "POST", "/api/referral/claim-reward",
                       json({{"rewardId", reward_id}}).dump(), referrer_token);
  });
  const auto counts = CountStatuses(replies);
  EXPECT_EQ(counts.count(200) ? counts.at(200) : 0, 1);
  EXPECT_EQ(counts.count(404) ? counts.at(404) : 0, 19);
  // Premium was extended once: 30 days from the (fixed) fake now.
  const auto me = Get("/api/subscriptions/me", referrer_token).Json();
  EXPECT_EQ(me["premiumUntil"], FormatIso8601(clock_->Now() + std::chrono::hours(24 * 30)));
}

TEST_F(RaceTest, ConcurrentGenerateCodeCreatesOneCode) {
  const std::string token = Token(NewUserId(), "codes@example.com");
  const auto replies = RunConcurrently(50, [&](int) {
    return SendRequest(port(), "POST", "/api/referral/generate-code", "{}", token);
  });
  const auto counts = CountStatuses(replies);
  EXPECT_EQ(counts.count(201) ? counts.at(201) : 0, 1);
  EXPECT_EQ(counts.count(409) ? counts.at(409) : 0, 49);
  std::string created;
  for (const auto& reply : replies) {
    if (reply.status == 201) created = reply.Json()["code"];
  }
  for (const auto& reply : replies) {
    if (reply.status == 409) {
      ExpectError(reply, 409, "CODE_EXISTS", 1);
      EXPECT_EQ(reply.Json()["referralCode"], created);
    }
  }
  EXPECT_EQ(Get("/api/referral/code", token).Json()["code"], created);
}

}  // namespace
}  // namespace referrald::testing
