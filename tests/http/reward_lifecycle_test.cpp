// Contract §11 through real HTTP: reward status and claimableAt, the hold (409 REWARD_ON_HOLD),
// POST /api/subscriptions/cancel, the clawback with its events and audit rows, the badge without
// revoked conversions, and the races (cancel vs claim, cancel vs the badge job, two cancels).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/server_fixture.hpp"
#include "util/time_format.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;
using std::chrono::hours;
using std::chrono::milliseconds;

constexpr auto kDay = hours(24);

class RewardLifecycleHttpTest : public ServerFixture {
 protected:
  void Configure(app::Config& config) override {
    config.referral.reward_hold_days = 7;
    config.referral.reward_claim_days = 90;
    config.referral.master_threshold = 2;
  }
  void SetUp() override {
    ServerFixture::SetUp();
    admin_ = NewUser("admin", /*admin=*/true);
  }

  HttpReply Subscribe(const TestUser& user) {
    return Post("/api/subscriptions/create", {{"tier", "premium"}, {"nonce", "nonce-ok"}},
                user.token);
  }
  HttpReply Cancel(const TestUser& user, const json& body) {
    return Post("/api/subscriptions/cancel", body, user.token);
  }
  HttpReply Claim(const TestUser& user, const std::string& reward_id) {
    return Post("/api/referral/claim-reward", {{"rewardId", reward_id}}, user.token);
  }
  json Rewards(const TestUser& user) {
    const auto reply = Get("/api/referral/rewards", user.token);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return reply.Json();
  }
  // `referrer` refers `referred`, who subscribes: the id of the referrer's new reward.
  std::string ReferAndSubscribe(const TestUser& referrer, const TestUser& referred) {
    const auto existing = Get("/api/referral/code", referrer.token);
    const std::string code = existing.status == 200 ? existing.Json()["code"].get<std::string>()
                                                    : GenerateCode(referrer);
    EXPECT_EQ(Track(referred, code).status, 201);
    EXPECT_EQ(Subscribe(referred).status, 201);
    return Rewards(referrer).at(0)["id"];
  }
  json RewardOf(const TestUser& user, const std::string& reward_id) {
    for (const auto& reward : Rewards(user)) {
      if (reward["id"] == reward_id) return reward;
    }
    ADD_FAILURE() << "no reward " << reward_id;
    return {};
  }
  // The committed events of `type`, through HTTP. On PostgreSQL the feed holds an event back while
  // any older transaction on the server runs (other tests' too), so a sentinel change (a new
  // user's code) is made first and the feed read up to its event.
  json Events(const std::string& type) {
    const std::string sentinel = GenerateCode(NewUser("sentinel"));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    json out = json::array();
    std::string cursor;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto reply =
          Get("/api/admin/events" + (cursor.empty() ? "" : "?after=" + cursor), admin_.token);
      EXPECT_EQ(reply.status, 200) << reply.body;
      if (reply.status != 200) return out;
      const auto body = reply.Json();
      for (const auto& event : body["events"]) {
        if (event["type"] == "code.generated" && event["data"]["code"] == sentinel) return out;
        if (event["type"] == type) out.push_back(event);
      }
      cursor = body["nextCursor"];
      if (body["events"].empty()) std::this_thread::sleep_for(milliseconds(2));
    }
    ADD_FAILURE() << "the sentinel event never came";
    return out;
  }
  int CountAudit(const std::string& service, const std::string& action) {
    const auto reply =
        Get("/api/admin/automation-logs?service=" + service + "&limit=500", admin_.token);
    EXPECT_EQ(reply.status, 200) << reply.body;
    int n = 0;
    for (const auto& row : reply.Json()) n += row["action"] == action ? 1 : 0;
    return n;
  }
  std::int64_t BadgesGranted() {
    const auto reply = Post("/api/admin/jobs/award-badges/run", json::object(), admin_.token);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return reply.Json()["details"]["badgesGranted"].get<std::int64_t>();
  }
  std::string At(std::chrono::milliseconds from_now) const {
    return FormatIso8601(clock_->Now() + from_now);
  }

  // Runs `request(i)` for i in [0, n) on n threads released together; returns the replies.
  std::vector<HttpReply> RunConcurrently(int n, const std::function<HttpReply(int)>& request) {
    std::vector<HttpReply> replies(static_cast<std::size_t>(n));
    std::latch start(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        replies[static_cast<std::size_t>(i)] = request(i);
      });
    }
    for (auto& t : threads) t.join();
    return replies;
  }

  TestUser admin_;
};

TEST_F(RewardLifecycleHttpTest, RewardIsOnHoldThenClaimableWithClaimableAt) {
  const auto alice = NewUser("alice");
  const auto bob = NewUser("bob");
  const std::string hold_end = At(7 * kDay);
  const std::string reward_id = ReferAndSubscribe(alice, bob);
  auto reward = RewardOf(alice, reward_id);
  EXPECT_EQ(reward["status"], "on_hold");
  EXPECT_EQ(reward["claimableAt"], hold_end);
  EXPECT_EQ(reward["expiresAt"], At(97 * kDay));  // the claim window starts at the hold's end
  EXPECT_EQ(reward["isClaimed"], false);

  const auto early = Claim(alice, reward_id);
  ExpectError(early, 409, "REWARD_ON_HOLD", 1);
  EXPECT_EQ(early.Json()["claimableAt"], hold_end);

  clock_->Advance(7 * kDay - milliseconds(1));
  EXPECT_EQ(RewardOf(alice, reward_id)["status"], "on_hold");
  ExpectError(Claim(alice, reward_id), 409, "REWARD_ON_HOLD", 1);
  clock_->Advance(milliseconds(1));
  EXPECT_EQ(RewardOf(alice, reward_id)["status"], "claimable");
  const auto claimed = Claim(alice, reward_id);
  ASSERT_EQ(claimed.status, 200) << claimed.body;
  EXPECT_EQ(RewardOf(alice, reward_id)["status"], "claimed");
}

TEST_F(RewardLifecycleHttpTest, UnclaimedRewardExpiresAtTheWindowsEnd) {
  const auto alice = NewUser("alice");
  const auto bob = NewUser("bob");
  const std::string reward_id = ReferAndSubscribe(alice, bob);
  clock_->Advance(97 * kDay);
  EXPECT_EQ(RewardOf(alice, reward_id)["status"], "expired");
  ExpectError(Claim(alice, reward_id), 400, "REWARD_EXPIRED");
}

TEST_F(RewardLifecycleHttpTest, CancelAnswers200Then404AndRefusesBadBodies) {
  const auto bob = NewUser("bob");
  ExpectError(Cancel(bob, json::object()), 404, "SUBSCRIPTION_NOT_FOUND");
  ExpectError(Post("/api/subscriptions/cancel", json::object(), ""), 401, "TOKEN_MISSING");
  ASSERT_EQ(Subscribe(bob).status, 201);

  ExpectError(Cancel(bob, {{"refund", "yes"}}), 400, "VALIDATION_ERROR");
  ExpectError(Cancel(bob, {{"refund", 1}}), 400, "VALIDATION_ERROR");
  ExpectError(Cancel(bob, {{"reason", 5}}), 400, "VALIDATION_ERROR");
  ExpectError(Cancel(bob, {{"reason", std::string(501, 'x')}}), 400, "VALIDATION_ERROR");
  ExpectError(Cancel(bob, {{"reason", "line\nbreak"}}), 400, "VALIDATION_ERROR");
  ExpectError(PostRaw("/api/subscriptions/cancel", "{\"refund\":", bob.token), 400, "INVALID_JSON");
  ExpectError(PostRaw("/api/subscriptions/cancel", "[]", bob.token), 400, "INVALID_JSON");
  EXPECT_EQ(Get("/api/subscriptions/me", bob.token).Json()["status"], "active");

  const auto cancelled = PostRaw("/api/subscriptions/cancel", "", bob.token);  // no body: defaults
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  const auto body = cancelled.Json();
  EXPECT_EQ(body.size(), 2U);
  EXPECT_EQ(body["status"], "cancelled");
  EXPECT_EQ(body["subscriptionId"].get<std::string>().size(), 36U);
  ExpectError(Cancel(bob, json::object()), 404, "SUBSCRIPTION_NOT_FOUND");

  // Nothing was held: the tier is free, the status tells of the cancellation.
  EXPECT_EQ(Get("/api/subscriptions/me", bob.token).Json(),
            json({{"tier", "free"}, {"status", "cancelled"}, {"premiumUntil", nullptr}}));
  const auto events = Events("subscription.cancelled");
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(
      events[0]["data"],
      json({{"subscriptionId", body["subscriptionId"]}, {"userId", bob.id}, {"refund", false}}));
  // A new subscription may follow.
  ASSERT_EQ(Subscribe(bob).status, 201);
  EXPECT_EQ(Get("/api/subscriptions/me", bob.token).Json()["status"], "active");
}

TEST_F(RewardLifecycleHttpTest, CancellationKeepsPremiumAlreadyHeld) {
  const auto alice = NewUser("alice");
  const auto bob = NewUser("bob");
  const std::string reward_id = ReferAndSubscribe(alice, bob);
  clock_->Advance(7 * kDay);
  ASSERT_EQ(Claim(alice, reward_id).status, 200);
  const std::string premium_until = At(30 * kDay);
  ASSERT_EQ(Subscribe(alice).status, 201);
  ASSERT_EQ(Cancel(alice, {{"refund", true}, {"reason", "too expensive"}}).status, 200);
  EXPECT_EQ(Get("/api/subscriptions/me", alice.token).Json(),
            json({{"tier", "premium"}, {"status", "cancelled"}, {"premiumUntil", premium_until}}));
  clock_->Advance(30 * kDay);
  EXPECT_EQ(Get("/api/subscriptions/me", alice.token).Json()["tier"], "free");
}

TEST_F(RewardLifecycleHttpTest, RefundedCancellationRevokesTheHeldRewardOnce) {
  const auto alice = NewUser("alice");
  const auto bob = NewUser("bob");
  const std::string reward_id = ReferAndSubscribe(alice, bob);
  clock_->Advance(hours(1));
  const auto cancelled = Cancel(bob, {{"refund", true}, {"reason", "refund requested"}});
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;

  EXPECT_EQ(RewardOf(alice, reward_id)["status"], "revoked");
  clock_->Advance(7 * kDay);
  EXPECT_EQ(RewardOf(alice, reward_id)["status"], "revoked");
  ExpectError(Claim(alice, reward_id), 404, "REWARD_NOT_FOUND");

  const auto revoked = Events("reward.revoked");
  ASSERT_EQ(revoked.size(), 1U);
  EXPECT_EQ(revoked[0]["data"]["rewardId"], reward_id);
  EXPECT_EQ(revoked[0]["data"]["userId"], alice.id);
  EXPECT_EQ(revoked[0]["data"]["referralId"].get<std::string>().size(), 36U);
  const auto cancellations = Events("subscription.cancelled");
  ASSERT_EQ(cancellations.size(), 1U);
  EXPECT_EQ(cancellations[0]["data"]["refund"], true);
  EXPECT_EQ(CountAudit("referral", "reward_revoked"), 1);
  EXPECT_EQ(CountAudit("subscription", "subscription_cancelled"), 1);

  // The referral stays converted.
  EXPECT_EQ(Get("/api/referral/stats", alice.token).Json()["convertedReferrals"], 1);
  // A second subscription and refund take nothing more.
  ASSERT_EQ(Subscribe(bob).status, 201);
  ASSERT_EQ(Cancel(bob, {{"refund", true}}).status, 200);
  EXPECT_EQ(Events("reward.revoked").size(), 1U);
  EXPECT_EQ(Events("subscription.cancelled").size(), 2U);
}

TEST_F(RewardLifecycleHttpTest, RefundNeverTakesBackAClaimedReward) {
  const auto alice = NewUser("alice");
  const auto bob = NewUser("bob");
  const std::string reward_id = ReferAndSubscribe(alice, bob);
  clock_->Advance(7 * kDay);
  ASSERT_EQ(Claim(alice, reward_id).status, 200);
  ASSERT_EQ(Cancel(bob, {{"refund", true}}).status, 200);
  EXPECT_EQ(RewardOf(alice, reward_id)["status"], "claimed");
  EXPECT_TRUE(Events("reward.revoked").empty());
}

TEST_F(RewardLifecycleHttpTest, BadgeDoesNotCountRevokedConversions) {
  const auto alice = NewUser("alice");
  const auto bob = NewUser("bob");
  const auto carol = NewUser("carol");
  const auto dave = NewUser("dave");
  ReferAndSubscribe(alice, bob);
  ReferAndSubscribe(alice, carol);
  ASSERT_EQ(Cancel(bob, {{"refund", true}}).status, 200);
  EXPECT_EQ(BadgesGranted(), 0);
  ReferAndSubscribe(alice, dave);
  EXPECT_EQ(BadgesGranted(), 1);
  EXPECT_EQ(Events("badge.awarded").size(), 1U);
}

TEST_F(RewardLifecycleHttpTest, CancelWithAnIdempotencyKeyIsAnsweredAgain) {
  const auto bob = NewUser("bob");
  ASSERT_EQ(Subscribe(bob).status, 201);
  const ExtraHeaders key{{"Idempotency-Key", "cancel-1"}};
  const auto first = Post("/api/subscriptions/cancel", {{"refund", true}}, bob.token, key);
  ASSERT_EQ(first.status, 200) << first.body;
  const auto again = Post("/api/subscriptions/cancel", {{"refund", true}}, bob.token, key);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.Header("Idempotent-Replayed"), "true");
  ExpectError(Post("/api/subscriptions/cancel", {{"refund", false}}, bob.token, key), 422,
              "IDEMPOTENCY_KEY_REUSED");
  EXPECT_EQ(Events("subscription.cancelled").size(), 1U);
}

// --- races ----------------------------------------------------------------------------------

// A refunded cancellation and the referrer's claim race while the hold ends (the server's clock
// moves across it meanwhile): the reward is never both claimed and revoked.
TEST_F(RewardLifecycleHttpTest, RaceCancelRacingClaimNeverBoth) {
  for (int round = 0; round < 4; ++round) {
    const auto alice = NewUser("alice");
    const auto bob = NewUser("bob");
    const std::string reward_id = ReferAndSubscribe(alice, bob);
    const TimePoint hold_end =
        *ParseIso8601(RewardOf(alice, reward_id)["claimableAt"].get<std::string>());
    clock_->Set(hold_end - milliseconds(1));
    const auto replies = RunConcurrently(3, [&](int i) {
      if (i == 0) return Cancel(bob, {{"refund", true}});
      if (i == 1) return Claim(alice, reward_id);
      clock_->Set(hold_end);
      return HttpReply{};
    });
    EXPECT_EQ(replies[0].status, 200) << replies[0].body;
    const auto status = RewardOf(alice, reward_id)["status"];
    if (replies[1].status == 200) {
      EXPECT_EQ(status, "claimed");
    } else {
      EXPECT_TRUE(replies[1].status == 404 || replies[1].status == 409) << replies[1].body;
      EXPECT_TRUE(status == "revoked" || status == "claimable") << status;
    }
  }
  // Every revocation has its event, every claim its own; none has both.
  std::set<std::string> revoked;
  for (const auto& e : Events("reward.revoked")) revoked.insert(e["data"]["rewardId"]);
  for (const auto& e : Events("reward.claimed"))
    EXPECT_FALSE(revoked.contains(e["data"]["rewardId"]));
}

TEST_F(RewardLifecycleHttpTest, RaceConcurrentCancelsOneWins) {
  const auto alice = NewUser("alice");
  const auto bob = NewUser("bob");
  const std::string reward_id = ReferAndSubscribe(alice, bob);
  const auto replies = RunConcurrently(6, [&](int) { return Cancel(bob, {{"refund", true}}); });
  int ok = 0;
  int not_found = 0;
  for (const auto& reply : replies) {
    ok += reply.status == 200 ? 1 : 0;
    not_found += reply.status == 404 ? 1 : 0;
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(not_found, 5);
  EXPECT_EQ(RewardOf(alice, reward_id)["status"], "revoked");
  EXPECT_EQ(Events("reward.revoked").size(), 1U);
  EXPECT_EQ(Events("subscription.cancelled").size(), 1U);
  EXPECT_EQ(CountAudit("referral", "reward_revoked"), 1);
}

TEST_F(RewardLifecycleHttpTest, RaceCancelRacingTheBadgeJob) {
  const auto alice = NewUser("alice");
  const auto bob = NewUser("bob");
  const auto carol = NewUser("carol");
  ReferAndSubscribe(alice, bob);
  ReferAndSubscribe(alice, carol);  // at the threshold (2)
  const auto replies = RunConcurrently(2, [&](int i) {
    return i == 0 ? Cancel(bob, {{"refund", true}})
                  : Post("/api/admin/jobs/award-badges/run", json::object(), admin_.token);
  });
  EXPECT_EQ(replies[0].status, 200) << replies[0].body;
  EXPECT_EQ(replies[1].status, 200) << replies[1].body;
  EXPECT_EQ(Events("reward.revoked").size(), 1U);
  // Whichever came first, no badge is granted after the revocation, and never two.
  EXPECT_EQ(BadgesGranted(), 0);
  EXPECT_LE(Events("badge.awarded").size(), 1U);
}

// With no hold (the default) the seed's behaviour holds: a reward is claimable at once and a
// refund revokes nothing.
class NoHoldHttpTest : public ServerFixture {};

TEST_F(NoHoldHttpTest, RewardIsClaimableAtOnceAndRefundRevokesNothing) {
  const auto alice = NewUser("alice");
  const auto bob = NewUser("bob");
  const auto now = FormatIso8601(clock_->Now());
  ASSERT_EQ(Track(bob, GenerateCode(alice)).status, 201);
  ASSERT_EQ(
      Post("/api/subscriptions/create", {{"tier", "premium"}, {"nonce", "n"}}, bob.token).status,
      201);
  ASSERT_EQ(Post("/api/subscriptions/cancel", {{"refund", true}}, bob.token).status, 200);
  const auto reward = Get("/api/referral/rewards", alice.token).Json().at(0);
  EXPECT_EQ(reward["status"], "claimable");
  EXPECT_EQ(reward["claimableAt"], now);
  EXPECT_EQ(reward["createdAt"], now);
  EXPECT_EQ(Post("/api/referral/claim-reward", {{"rewardId", reward["id"]}}, alice.token).status,
            200);
}

}  // namespace
}  // namespace referrald::testing
