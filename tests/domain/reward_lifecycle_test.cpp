// The reward lifecycle (contract §11) — the hold, the claim window from its end, cancellation and
// clawback — through the use cases with fake clocks, on a real store of the backend this run
// tests. Races run over two store handles, as two processes would.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "domain/errors.hpp"
#include "domain/events.hpp"
#include "domain/jobs.hpp"
#include "domain/read_model_check.hpp"
#include "domain/referral_service.hpp"
#include "domain/rules.hpp"
#include "domain/subscription_service.hpp"
#include "support/fake_clock.hpp"
#include "support/test_database.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::domain {
namespace {

using std::chrono::days;
using std::chrono::milliseconds;

// The services of one store handle and one clock.
struct Services {
  Services(Store& store, const Clock& clock, IdGenerator& ids, RandomSource& random,
           ReferralSettings settings)
      : payments(ids, clock),
        referrals(store, clock, random, ids, settings),
        subscriptions(store, payments, referrals, clock, ids),
        jobs(store, clock, ids, settings, clock.Now()) {}
  SandboxPaymentProvider payments;
  ReferralService referrals;
  SubscriptionService subscriptions;
  JobRunner jobs;
};

class RewardLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    store_ = db_->Open();
    Rebuild(ReferralSettings{.reward_claim_days = 90, .reward_hold_days = 7});
  }
  void Rebuild(ReferralSettings settings) {
    settings_ = settings;
    services_ = std::make_unique<Services>(*store_, clock_, ids_, random_, settings);
  }
  ReferralService& Referrals() { return services_->referrals; }
  SubscriptionService& Subscriptions() { return services_->subscriptions; }

  Actor NewActor() { return Actor{NewUuidV7(clock_.Now(), random_), std::nullopt}; }

  // `referrer` gets a code (once) and `referred` tracks it.
  void Refer(const Actor& referrer, const Actor& referred) {
    auto code = Referrals().GetCode(referrer.id);
    if (!code) code = Referrals().GenerateCode(referrer, std::nullopt);
    ASSERT_TRUE(code) << code.error().message;
    ASSERT_TRUE(Referrals().Track(referred, code->code));
  }
  // `referred` subscribes (converting the referral); the reward it earned.
  Reward Subscribe(const Actor& referred) {
    auto created = Subscriptions().Create(referred, "premium", "nonce-ok");
    EXPECT_TRUE(created) << created.error().message;
    EXPECT_TRUE(created->conversion.has_value());
    return created->conversion->reward;
  }
  Reward StoredReward(const std::string& user_id, const std::string& reward_id) {
    auto rewards = Referrals().Rewards(user_id, {});
    EXPECT_TRUE(rewards);
    for (const auto& r : rewards->items) {
      if (r.id == reward_id) return r;
    }
    ADD_FAILURE() << "no reward " << reward_id;
    return {};
  }
  // The committed events of `type`. On PostgreSQL the feed holds an event back while any older
  // transaction on the server runs (other tests' too), so a sentinel event is written first and
  // the feed read up to it: every event committed before it is listed by then.
  std::vector<Event> EventsOf(EventType type) {
    const std::string sentinel = NewUuidV7(clock_.Now(), random_);
    EXPECT_TRUE(Transact(*store_, [&](WriteTx& tx) {
      return tx.AppendEvent(MakeEvent(NewUuidV7(clock_.Now(), random_), clock_.Now(),
                                      events::CodeGenerated{sentinel, sentinel, clock_.Now()}));
    }));
    std::vector<Event> out;
    EventPosition after;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (std::chrono::steady_clock::now() < deadline) {
      auto page = store_->ListEvents(after, std::nullopt, 500);
      EXPECT_TRUE(page);
      if (!page) return out;
      for (const auto& event : page->events) {
        const auto* code = std::get_if<events::CodeGenerated>(&event.data);
        if (code != nullptr && code->code == sentinel) return out;
        if (event.type() == type) out.push_back(event);
      }
      after = page->next;
      if (page->events.empty()) std::this_thread::sleep_for(milliseconds(2));
    }
    ADD_FAILURE() << "the sentinel event never came";
    return out;
  }
  std::size_t CountEvents(EventType type) { return EventsOf(type).size(); }
  std::int64_t CountAudit(const std::string& service, const std::string& action) {
    auto rows = store_->ListAudit(service, {500, std::nullopt});
    std::int64_t n = 0;
    for (const auto& r : *rows) n += r.action == action ? 1 : 0;
    return n;
  }
  void ExpectReadModelsRight() {
    auto differences = CheckReadModels(*store_, clock_.Now());
    ASSERT_TRUE(differences);
    EXPECT_TRUE(differences->empty()) << differences->front();
  }

  testing::FakeClock clock_;
  SystemRandom random_;
  UuidV7Generator ids_{random_};
  ReferralSettings settings_;
  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Services> services_;
};

// --- the hold and the claim window ----------------------------------------------------------

TEST_F(RewardLifecycleTest, HoldZeroKeepsTheClaimableRewardOfBefore) {
  Rebuild(ReferralSettings{});
  const Actor alice = NewActor();
  const Actor bob = NewActor();
  Refer(alice, bob);
  const TimePoint t0 = clock_.Now();
  const Reward reward = Subscribe(bob);
  EXPECT_EQ(reward.claimable_at, t0);
  EXPECT_EQ(reward.expires_at, t0 + days{90});
  EXPECT_EQ(RewardStatusAt(StoredReward(alice.id, reward.id), t0), RewardStatus::kClaimable);
  ASSERT_TRUE(Referrals().ClaimReward(alice, reward.id));
  EXPECT_EQ(RewardStatusAt(StoredReward(alice.id, reward.id), t0), RewardStatus::kClaimed);
}

TEST_F(RewardLifecycleTest, HeldRewardIsOnHoldUntilItsEndThenClaimable) {
  const Actor alice = NewActor();
  const Actor bob = NewActor();
  Refer(alice, bob);
  const TimePoint t0 = clock_.Now();
  const Reward reward = Subscribe(bob);
  const TimePoint end = t0 + days{7};
  EXPECT_EQ(reward.claimable_at, end);
  EXPECT_EQ(RewardStatusAt(StoredReward(alice.id, reward.id), t0), RewardStatus::kOnHold);

  auto early = Referrals().ClaimReward(alice, reward.id);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().machine(), "REWARD_ON_HOLD");
  ASSERT_TRUE(early.error().extra);
  EXPECT_EQ(early.error().extra->first, "claimableAt");
  EXPECT_EQ(early.error().extra->second, FormatIso8601(end));
  EXPECT_EQ(CountAudit("referral", "reward_claim_refused"), 1);

  clock_.Set(end - milliseconds{1});
  EXPECT_EQ(RewardStatusAt(StoredReward(alice.id, reward.id), clock_.Now()), RewardStatus::kOnHold);
  EXPECT_EQ(Referrals().ClaimReward(alice, reward.id).error().machine(), "REWARD_ON_HOLD");

  // No job runs: the status turns at the instant the hold ends.
  clock_.Set(end);
  EXPECT_EQ(RewardStatusAt(StoredReward(alice.id, reward.id), clock_.Now()),
            RewardStatus::kClaimable);
  auto claimed = Referrals().ClaimReward(alice, reward.id);
  ASSERT_TRUE(claimed) << claimed.error().message;
  auto user = store_->FindUser(alice.id);
  ASSERT_TRUE(user && user->has_value());
  EXPECT_EQ((*user)->premium_until, end + days{30});
}

TEST_F(RewardLifecycleTest, ClaimWindowStartsWhenTheHoldEnds) {
  Rebuild(ReferralSettings{.reward_claim_days = 10, .reward_hold_days = 7});
  const Actor alice = NewActor();
  const Actor bob = NewActor();
  const Actor carol = NewActor();
  Refer(alice, bob);
  Refer(alice, carol);
  const TimePoint t0 = clock_.Now();
  const Reward first = Subscribe(bob);
  const Reward second = Subscribe(carol);
  const TimePoint expiry = t0 + days{17};
  EXPECT_EQ(first.expires_at, expiry);

  // Past created_at + claim days (where the window would have closed without a hold): claimable.
  clock_.Set(t0 + days{12});
  EXPECT_EQ(RewardStatusAt(StoredReward(alice.id, first.id), clock_.Now()),
            RewardStatus::kClaimable);
  clock_.Set(expiry - milliseconds{1});
  ASSERT_TRUE(Referrals().ClaimReward(alice, first.id));
  clock_.Set(expiry);
  EXPECT_EQ(RewardStatusAt(StoredReward(alice.id, second.id), clock_.Now()),
            RewardStatus::kExpired);
  EXPECT_EQ(Referrals().ClaimReward(alice, second.id).error().machine(), "REWARD_EXPIRED");
  EXPECT_EQ(RewardStatusAt(StoredReward(alice.id, first.id), clock_.Now()), RewardStatus::kClaimed);
}

TEST_F(RewardLifecycleTest, HeldRewardWithoutAClaimWindowNeverExpires) {
  Rebuild(ReferralSettings{.reward_claim_days = 0, .reward_hold_days = 3});
  const Actor alice = NewActor();
  const Actor bob = NewActor();
  Refer(alice, bob);
  const Reward reward = Subscribe(bob);
  EXPECT_EQ(reward.expires_at, std::nullopt);
  clock_.Advance(days{3000});
  EXPECT_EQ(RewardStatusAt(StoredReward(alice.id, reward.id), clock_.Now()),
            RewardStatus::kClaimable);
  EXPECT_TRUE(Referrals().ClaimReward(alice, reward.id));
}

// --- cancellation and clawback --------------------------------------------------------------

TEST_F(RewardLifecycleTest, RefundedCancellationRevokesTheHeldRewardOnce) {
  const Actor alice = NewActor();
  const Actor bob = NewActor();
  Refer(alice, bob);
  const Reward reward = Subscribe(bob);
  clock_.Advance(days{1});

  auto cancelled = Subscriptions().Cancel(bob, true, std::string("changed my mind"));
  ASSERT_TRUE(cancelled) << cancelled.error().message;
  EXPECT_EQ(cancelled->subscription.status, "cancelled");
  EXPECT_TRUE(cancelled->refund);
  ASSERT_TRUE(cancelled->revoked.has_value());
  EXPECT_EQ(cancelled->revoked->id, reward.id);
  EXPECT_EQ(cancelled->revoked->revoked_at, clock_.Now());

  const Reward stored = StoredReward(alice.id, reward.id);
  EXPECT_EQ(RewardStatusAt(stored, clock_.Now()), RewardStatus::kRevoked);
  EXPECT_EQ(RewardStatusAt(stored, clock_.Now() + days{30}), RewardStatus::kRevoked);
  clock_.Advance(days{7});  // past the hold: still nothing to claim
  EXPECT_EQ(Referrals().ClaimReward(alice, reward.id).error().machine(), "REWARD_NOT_FOUND");

  EXPECT_EQ(CountEvents(EventType::kSubscriptionCancelled), 1U);
  EXPECT_EQ(CountEvents(EventType::kRewardRevoked), 1U);
  const auto revoked_events = EventsOf(EventType::kRewardRevoked);
  ASSERT_EQ(revoked_events.size(), 1U);
  EXPECT_EQ(std::get<events::RewardRevoked>(revoked_events.at(0).data),
            (events::RewardRevoked{reward.id, alice.id, *reward.source_referral_id}));
  const auto cancelled_events = EventsOf(EventType::kSubscriptionCancelled);
  ASSERT_EQ(cancelled_events.size(), 1U);
  EXPECT_EQ(std::get<events::SubscriptionCancelled>(cancelled_events.at(0).data),
            (events::SubscriptionCancelled{cancelled->subscription.id, bob.id, true}));
  EXPECT_EQ(CountAudit("referral", "reward_revoked"), 1);
  EXPECT_EQ(CountAudit("subscription", "subscription_cancelled"), 1);

  // The referral stays converted.
  auto stats = Referrals().Stats(alice.id);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->converted_referrals, 1);
  EXPECT_EQ(stats->revoked_conversions, 1);

  // Nothing left to cancel; a new subscription and its refund take nothing more.
  EXPECT_EQ(Subscriptions().Cancel(bob, true, std::nullopt).error().machine(),
            "SUBSCRIPTION_NOT_FOUND");
  auto again = Subscriptions().Create(bob, "premium", "nonce-2");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->conversion.has_value());
  auto second = Subscriptions().Cancel(bob, true, std::nullopt);
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->revoked.has_value());
  EXPECT_EQ(CountEvents(EventType::kRewardRevoked), 1U);
  EXPECT_EQ(CountEvents(EventType::kSubscriptionCancelled), 2U);
  ExpectReadModelsRight();
}

TEST_F(RewardLifecycleTest, CancellationWithoutRefundKeepsTheReward) {
  const Actor alice = NewActor();
  const Actor bob = NewActor();
  Refer(alice, bob);
  const Reward reward = Subscribe(bob);
  auto cancelled = Subscriptions().Cancel(bob, false, std::nullopt);
  ASSERT_TRUE(cancelled);
  EXPECT_FALSE(cancelled->revoked.has_value());
  EXPECT_EQ(RewardStatusAt(StoredReward(alice.id, reward.id), clock_.Now()), RewardStatus::kOnHold);
  EXPECT_EQ(CountEvents(EventType::kRewardRevoked), 0U);
  clock_.Advance(days{7});
  EXPECT_TRUE(Referrals().ClaimReward(alice, reward.id));
}

TEST_F(RewardLifecycleTest, RefundAfterTheHoldTakesNothingBack) {
  const Actor alice = NewActor();
  const Actor bob = NewActor();
  const Actor carol = NewActor();
  Refer(alice, bob);
  Refer(alice, carol);
  const Reward claimed = Subscribe(bob);
  const Reward unclaimed = Subscribe(carol);
  clock_.Advance(days{7});
  ASSERT_TRUE(Referrals().ClaimReward(alice, claimed.id));

  auto bob_refund = Subscriptions().Cancel(bob, true, std::nullopt);
  ASSERT_TRUE(bob_refund);
  EXPECT_FALSE(bob_refund->revoked.has_value());  // claimed: never taken back
  auto carol_refund = Subscriptions().Cancel(carol, true, std::nullopt);
  ASSERT_TRUE(carol_refund);
  EXPECT_FALSE(carol_refund->revoked.has_value());  // past its hold: claimable, kept
  EXPECT_EQ(RewardStatusAt(StoredReward(alice.id, claimed.id), clock_.Now()),
            RewardStatus::kClaimed);
  EXPECT_EQ(RewardStatusAt(StoredReward(alice.id, unclaimed.id), clock_.Now()),
            RewardStatus::kClaimable);
  EXPECT_EQ(CountEvents(EventType::kRewardRevoked), 0U);
}

TEST_F(RewardLifecycleTest, HoldZeroRefundRevokesNothing) {
  Rebuild(ReferralSettings{});
  const Actor alice = NewActor();
  const Actor bob = NewActor();
  Refer(alice, bob);
  const Reward reward = Subscribe(bob);
  auto refund = Subscriptions().Cancel(bob, true, std::nullopt);
  ASSERT_TRUE(refund);
  EXPECT_FALSE(refund->revoked.has_value());
  EXPECT_TRUE(Referrals().ClaimReward(alice, reward.id));
}

TEST_F(RewardLifecycleTest, CancelRefusesABadReasonAndAMissingSubscription) {
  const Actor bob = NewActor();
  EXPECT_EQ(Subscriptions().Cancel(bob, false, std::nullopt).error().machine(),
            "SUBSCRIPTION_NOT_FOUND");
  ASSERT_TRUE(Subscriptions().Create(bob, "premium", "nonce"));
  EXPECT_EQ(Subscriptions().Cancel(bob, false, std::string(501, 'x')).error().machine(),
            "VALIDATION_ERROR");
  EXPECT_EQ(Subscriptions().Cancel(bob, false, std::string("a\x01z")).error().machine(),
            "VALIDATION_ERROR");
  EXPECT_TRUE(Subscriptions().Cancel(bob, false, std::string(500, 'x')));
}

TEST_F(RewardLifecycleTest, MeAfterCancellationKeepsPremiumAlreadyHeld) {
  Rebuild(ReferralSettings{});
  const Actor alice = NewActor();
  const Actor bob = NewActor();
  Refer(alice, bob);
  const Reward reward = Subscribe(bob);
  ASSERT_TRUE(Referrals().ClaimReward(alice, reward.id));  // 30 days of premium for alice
  ASSERT_TRUE(Subscriptions().Create(alice, "premium", "nonce"));
  ASSERT_TRUE(Subscriptions().Cancel(alice, true, std::nullopt));
  ASSERT_TRUE(Subscriptions().Cancel(bob, false, std::nullopt));

  auto alice_me = Subscriptions().Me(alice.id);
  ASSERT_TRUE(alice_me);
  EXPECT_EQ(alice_me->tier, "premium");
  EXPECT_EQ(alice_me->status, "cancelled");
  EXPECT_EQ(alice_me->premium_until, clock_.Now() + days{30});
  auto bob_me = Subscriptions().Me(bob.id);
  ASSERT_TRUE(bob_me);
  EXPECT_EQ(bob_me->tier, "free");
  EXPECT_EQ(bob_me->status, "cancelled");

  clock_.Advance(days{30});
  EXPECT_EQ(Subscriptions().Me(alice.id)->tier, "free");
  ASSERT_TRUE(Subscriptions().Create(alice, "premium", "nonce-2"));
  EXPECT_EQ(Subscriptions().Me(alice.id)->status, "active");
  EXPECT_EQ(Subscriptions().Me(alice.id)->tier, "premium");
}

TEST_F(RewardLifecycleTest, RevokedConversionsDoNotCountTowardTheBadge) {
  Rebuild(ReferralSettings{.reward_hold_days = 7, .master_threshold = 2});
  const Actor alice = NewActor();
  const Actor bob = NewActor();
  const Actor carol = NewActor();
  const Actor dave = NewActor();
  Refer(alice, bob);
  Refer(alice, carol);
  Refer(alice, dave);
  Subscribe(bob);
  Subscribe(carol);
  ASSERT_TRUE(Subscriptions().Cancel(bob, true, std::nullopt));
  auto run = services_->jobs.Run(kJobAwardBadges);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->details.at(0),
            (std::pair<std::string, AuditValue>{"badgesGranted", std::int64_t{0}}));
  Subscribe(dave);
  run = services_->jobs.Run(kJobAwardBadges);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->details.at(0),
            (std::pair<std::string, AuditValue>{"badgesGranted", std::int64_t{1}}));
  ExpectReadModelsRight();
}

// --- races ----------------------------------------------------------------------------------

// A refund an instant before the hold ends races the referrer's claim at its end (each process
// reads its own clock): the reward is either claimed or revoked, never both, never neither.
TEST_F(RewardLifecycleTest, RaceCancelAndClaimAtTheHoldsEnd) {
  auto other_store = db_->Open();
  testing::FakeClock cancel_clock;
  testing::FakeClock claim_clock;
  Services cancelling(*store_, cancel_clock, ids_, random_, settings_);
  Services claiming(*other_store, claim_clock, ids_, random_, settings_);
  int claims = 0;
  int revocations = 0;
  for (int round = 0; round < 8; ++round) {
    const Actor alice = NewActor();
    const Actor bob = NewActor();
    Refer(alice, bob);
    const Reward reward = Subscribe(bob);
    cancel_clock.Set(reward.claimable_at - milliseconds{1});
    claim_clock.Set(reward.claimable_at);
    std::latch start(2);
    Result<SubscriptionCancellation> cancelled = errors::StorageFailure();
    Result<Reward> claimed = errors::StorageFailure();
    std::thread cancel([&] {
      start.arrive_and_wait();
      cancelled = cancelling.subscriptions.Cancel(bob, true, std::nullopt);
    });
    std::thread claim([&] {
      start.arrive_and_wait();
      claimed = claiming.referrals.ClaimReward(alice, reward.id);
    });
    cancel.join();
    claim.join();
    ASSERT_TRUE(cancelled) << cancelled.error().message;  // the cancellation itself always holds
    const bool revoked = cancelled->revoked.has_value();
    EXPECT_NE(revoked, claimed.has_value()) << "round " << round;
    if (!claimed) {
      EXPECT_EQ(claimed.error().machine(), "REWARD_NOT_FOUND");
    }
    const Reward stored = StoredReward(alice.id, reward.id);
    EXPECT_EQ(stored.is_claimed, claimed.has_value());
    EXPECT_EQ(stored.revoked_at.has_value(), revoked);
    claims += claimed ? 1 : 0;
    revocations += revoked ? 1 : 0;
  }
  EXPECT_EQ(claims + revocations, 8);
  EXPECT_EQ(static_cast<int>(CountEvents(EventType::kRewardRevoked)), revocations);
  EXPECT_EQ(static_cast<int>(CountEvents(EventType::kRewardClaimed)), claims);
  ExpectReadModelsRight();
}

// Concurrent refunded cancellations of one subscription: one cancels and revokes, once.
TEST_F(RewardLifecycleTest, RaceTwoCancelsRevokeOnce) {
  auto other_store = db_->Open();
  Services other(*other_store, clock_, ids_, random_, settings_);
  const Actor alice = NewActor();
  const Actor bob = NewActor();
  Refer(alice, bob);
  Subscribe(bob);
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::atomic<int> cancelled{0};
  std::atomic<int> revoked{0};
  std::atomic<int> not_found{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto r = (i % 2 == 0 ? Subscriptions() : other.subscriptions).Cancel(bob, true, std::nullopt);
      if (r) {
        ++cancelled;
        if (r->revoked) ++revoked;
      } else if (r.error().machine() == "SUBSCRIPTION_NOT_FOUND") {
        ++not_found;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(cancelled.load(), 1);
  EXPECT_EQ(revoked.load(), 1);
  EXPECT_EQ(not_found.load(), kThreads - 1);
  EXPECT_EQ(CountEvents(EventType::kSubscriptionCancelled), 1U);
  EXPECT_EQ(CountEvents(EventType::kRewardRevoked), 1U);
  EXPECT_EQ(CountAudit("referral", "reward_revoked"), 1);
  ExpectReadModelsRight();
}

// A refund that takes a referrer below the threshold races the badge job: either order is a
// serial one (a badge granted first is already claimed and stays), and no badge is granted once
// the revocation has committed.
TEST_F(RewardLifecycleTest, RaceCancelAndBadgeJob) {
  Rebuild(ReferralSettings{.reward_hold_days = 7, .master_threshold = 2});
  auto other_store = db_->Open();
  Services other(*other_store, clock_, ids_, random_, settings_);
  for (int round = 0; round < 6; ++round) {
    const Actor alice = NewActor();
    const Actor bob = NewActor();
    const Actor carol = NewActor();
    Refer(alice, bob);
    Refer(alice, carol);
    Subscribe(bob);
    Subscribe(carol);
    std::latch start(2);
    Result<SubscriptionCancellation> cancelled = errors::StorageFailure();
    std::thread cancel([&] {
      start.arrive_and_wait();
      cancelled = Subscriptions().Cancel(bob, true, std::nullopt);
    });
    std::thread job([&] {
      start.arrive_and_wait();
      EXPECT_TRUE(other.jobs.Run(kJobAwardBadges));
    });
    cancel.join();
    job.join();
    ASSERT_TRUE(cancelled) << cancelled.error().message;
    EXPECT_TRUE(cancelled->revoked.has_value()) << "round " << round;
    auto candidates = store_->BadgeCandidates(2);
    ASSERT_TRUE(candidates);
    EXPECT_TRUE(std::find(candidates->begin(), candidates->end(), alice.id) == candidates->end());
    auto rerun = services_->jobs.Run(kJobAwardBadges);
    ASSERT_TRUE(rerun);
    EXPECT_EQ(rerun->details.at(0),
              (std::pair<std::string, AuditValue>{"badgesGranted", std::int64_t{0}}));
    int badges = 0;
    const auto alice_rewards = Referrals().Rewards(alice.id, {});
    EXPECT_TRUE(alice_rewards);
    for (const auto& r : alice_rewards->items) badges += r.type == RewardType::kBadge ? 1 : 0;
    EXPECT_LE(badges, 1);
  }
  ExpectReadModelsRight();
}

}  // namespace
}  // namespace referrald::domain
