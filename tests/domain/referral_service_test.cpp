// The referral use cases with an injected clock and random source, on a real store of the
// backend this run tests.

#include "domain/referral_service.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>

#include "domain/subscription_service.hpp"
#include "support/fake_clock.hpp"
#include "support/scripted_random.hpp"
#include "support/test_database.hpp"
#include "util/time_format.hpp"

namespace referrald::domain {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::milliseconds;

constexpr const char* kAlice = "00000000-0000-4000-8000-00000000000a";
constexpr const char* kBob = "00000000-0000-4000-8000-00000000000b";
constexpr const char* kCarol = "00000000-0000-4000-8000-00000000000c";

class ReferralServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    store_ = db_->Open();
    Rebuild(ReferralSettings{});
  }
  void Rebuild(ReferralSettings settings) {
    service_ = std::make_unique<ReferralService>(*store_, clock_, random_, ids_, settings);
  }
  // The user as their token names them.
  static Actor As(const char* id) { return Actor{id, std::string(id).substr(34) + "@example.com"}; }
  static Actor Admin() { return Actor{"00000000-0000-4000-8000-0000000000ad", std::nullopt}; }
  // Scripts the next GenerateCode: one Uniform draw per character.
  void ScriptCode(const std::vector<std::uint32_t>& chars) { random_.PushUniform(chars); }
  std::int64_t CountAudit(const std::string& action) {
    auto rows = store_->ListAudit(std::string("referral"), {500, std::nullopt});
    std::int64_t n = 0;
    for (const auto& r : *rows) n += r.action == action ? 1 : 0;
    return n;
  }

  testing::FakeClock clock_;
  testing::ScriptedRandom random_;
  SystemRandom id_random_;
  UuidV7Generator ids_{id_random_};
  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ReferralService> service_;
};

TEST_F(ReferralServiceTest, GeneratedCodeExpiresAfterTheDefaultLifetime) {
  auto code = service_->GenerateCode(As(kAlice), std::nullopt);
  ASSERT_TRUE(code) << code.error().message;
  EXPECT_EQ(code->code.size(), 8U);
  EXPECT_EQ(code->expires_at, clock_.Now() + days{365});
  EXPECT_EQ(CountAudit("code_generated"), 1);
}

TEST_F(ReferralServiceTest, CodeLengthFollowsTheSetting) {
  Rebuild(ReferralSettings{.code_length = 12});
  auto code = service_->GenerateCode(As(kAlice), 7);
  ASSERT_TRUE(code);
  EXPECT_EQ(code->code.size(), 12U);
  EXPECT_EQ(code->expires_at, clock_.Now() + days{7});
}

TEST_F(ReferralServiceTest, ExpiresInDaysOutOfRangeIsInvalid) {
  for (std::int64_t bad : {0, -1, 3651}) {
    auto code = service_->GenerateCode(As(kAlice), bad);
    ASSERT_FALSE(code);
    EXPECT_EQ(code.error().machine(), "VALIDATION_ERROR");
  }
  EXPECT_TRUE(service_->GenerateCode(As(kAlice), 3650));
}

TEST_F(ReferralServiceTest, SecondActiveCodeIsRefusedWithTheExistingOne) {
  auto first = service_->GenerateCode(As(kAlice), std::nullopt);
  ASSERT_TRUE(first);
  auto second = service_->GenerateCode(As(kAlice), std::nullopt);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().machine(), "CODE_EXISTS");
  ASSERT_TRUE(second.error().extra);
  EXPECT_EQ(second.error().extra->second, first->code);
}

TEST_F(ReferralServiceTest, CollisionRegeneratesAndIsLogged) {
  ScriptCode({0, 0, 0, 0, 0, 0, 0, 0});
  auto alice = service_->GenerateCode(As(kAlice), std::nullopt);
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->code, "22222222");
  ScriptCode({0, 0, 0, 0, 0, 0, 0, 0});  // Bob's first draw collides; the retry is random
  auto bob = service_->GenerateCode(As(kBob), std::nullopt);
  ASSERT_TRUE(bob) << bob.error().message;
  EXPECT_NE(bob->code, "22222222");
  EXPECT_EQ(CountAudit("code_collision"), 1);
}

TEST_F(ReferralServiceTest, NewCodeAfterExpiryDeactivatesTheOldOne) {
  auto old_code = service_->GenerateCode(As(kAlice), 1);
  ASSERT_TRUE(old_code);
  clock_.Advance(days{1} + milliseconds{1});
  auto new_code = service_->GenerateCode(As(kAlice), std::nullopt);
  ASSERT_TRUE(new_code) << new_code.error().message;
  auto current = service_->GetCode(kAlice);
  ASSERT_TRUE(current);
  EXPECT_EQ(current->code, new_code->code);
  EXPECT_TRUE(current->is_active);
  auto analytics = service_->Analytics(Period::kAll);
  ASSERT_TRUE(analytics);
  EXPECT_EQ(analytics->counts.active_codes, 1);
  EXPECT_EQ(analytics->counts.expired_codes, 1);
}

TEST_F(ReferralServiceTest, GetCodeWithoutOneIsNotFound) {
  auto code = service_->GetCode(kAlice);
  ASSERT_FALSE(code);
  EXPECT_EQ(code.error().machine(), "CODE_NOT_FOUND");
}

TEST_F(ReferralServiceTest, TrackIgnoresCaseAndWhitespace) {
  auto code = service_->GenerateCode(As(kAlice), std::nullopt);
  ASSERT_TRUE(code);
  std::string messy = "  " + code->code + "\t";
  for (char& c : messy) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto referral = service_->Track(As(kBob), messy);
  ASSERT_TRUE(referral) << referral.error().message;
  EXPECT_EQ(referral->referrer_user_id, kAlice);
  EXPECT_EQ(referral->status, ReferralStatus::kPending);
}

TEST_F(ReferralServiceTest, ExpiredCodeIsInvalidAtItsExpiryInstant) {
  auto code = service_->GenerateCode(As(kAlice), 1);
  ASSERT_TRUE(code);
  clock_.Set(code->expires_at);
  auto referral = service_->Track(As(kBob), code->code);
  ASSERT_FALSE(referral);
  EXPECT_EQ(referral.error().machine(), "INVALID_CODE");
  EXPECT_EQ(CountAudit("referral_refused"), 1);
}

TEST_F(ReferralServiceTest, RefusesSelfCircularAndSecondReferrer) {
  auto alice = service_->GenerateCode(As(kAlice), std::nullopt);
  auto bob = service_->GenerateCode(As(kBob), std::nullopt);
  auto carol = service_->GenerateCode(As(kCarol), std::nullopt);
  ASSERT_TRUE(alice && bob && carol);
  EXPECT_EQ(service_->Track(As(kAlice), alice->code).error().machine(), "SELF_REFERRAL");
  ASSERT_TRUE(service_->Track(As(kBob), alice->code));
  EXPECT_EQ(service_->Track(As(kAlice), bob->code).error().machine(), "CIRCULAR_REFERRAL");
  EXPECT_EQ(service_->Track(As(kBob), carol->code).error().machine(), "ALREADY_REFERRED");
  EXPECT_EQ(service_->Track(As(kCarol), "' OR 1=1 --").error().machine(), "INVALID_CODE");
}

TEST_F(ReferralServiceTest, ConversionGrantsOneRewardThatExpiresAfterTheClaimWindow) {
  auto code = service_->GenerateCode(As(kAlice), std::nullopt);
  ASSERT_TRUE(code && service_->Track(As(kBob), code->code));
  auto conversion = service_->Convert(Admin(), kBob);
  ASSERT_TRUE(conversion) << conversion.error().message;
  EXPECT_EQ(conversion->reward.user_id, kAlice);
  EXPECT_EQ(conversion->reward.value.days, 30);
  EXPECT_EQ(conversion->reward.expires_at, clock_.Now() + days{90});
  EXPECT_EQ(service_->Convert(Admin(), kBob).error().machine(), "ALREADY_CONVERTED");
  EXPECT_EQ(service_->Convert(Admin(), kCarol).error().machine(), "REFERRAL_NOT_FOUND");

  clock_.Advance(days{90});
  auto claim = service_->ClaimReward(As(kAlice), conversion->reward.id);
  ASSERT_FALSE(claim);
  EXPECT_EQ(claim.error().machine(), "REWARD_EXPIRED");
}

TEST_F(ReferralServiceTest, ClaimWindowZeroMeansForever) {
  Rebuild(ReferralSettings{.reward_claim_days = 0});
  auto code = service_->GenerateCode(As(kAlice), std::nullopt);
  ASSERT_TRUE(code && service_->Track(As(kBob), code->code));
  auto conversion = service_->Convert(Admin(), kBob);
  ASSERT_TRUE(conversion);
  EXPECT_FALSE(conversion->reward.expires_at);
  clock_.Advance(days{3000});
  auto claim = service_->ClaimReward(As(kAlice), conversion->reward.id);
  ASSERT_TRUE(claim) << claim.error().message;
}

TEST_F(ReferralServiceTest, ClaimingExtendsPremiumFromItsCurrentEnd) {
  auto code = service_->GenerateCode(As(kAlice), std::nullopt);
  ASSERT_TRUE(code && service_->Track(As(kBob), code->code) &&
              service_->Track(As(kCarol), code->code));
  auto first = service_->Convert(Admin(), kBob);
  auto second = service_->Convert(Admin(), kCarol);
  ASSERT_TRUE(first && second);
  const TimePoint t0 = clock_.Now();
  ASSERT_TRUE(service_->ClaimReward(As(kAlice), first->reward.id));
  clock_.Advance(days{10});
  ASSERT_TRUE(service_->ClaimReward(As(kAlice), second->reward.id));
  auto user = store_->FindUser(kAlice);
  ASSERT_TRUE(user && user->has_value());
  EXPECT_EQ((*user)->premium_until, t0 + days{60});
  EXPECT_EQ(service_->ClaimReward(As(kAlice), first->reward.id).error().machine(),
            "REWARD_NOT_FOUND");
  EXPECT_EQ(service_->ClaimReward(As(kBob), second->reward.id).error().machine(),
            "REWARD_NOT_FOUND");
}

TEST_F(ReferralServiceTest, PeriodsSelectReferralsByUtcDay) {
  auto code = service_->GenerateCode(As(kAlice), std::nullopt);
  ASSERT_TRUE(code);
  clock_.Set(*ParseIso8601("2025-03-01T00:00:00.000Z"));  // first instant of the week's first day
  ASSERT_TRUE(service_->Track(As(kBob), code->code));
  clock_.Set(*ParseIso8601("2025-02-28T23:59:59.999Z"));  // last instant before it
  ASSERT_TRUE(service_->Track(As(kCarol), code->code));
  clock_.Set(*ParseIso8601("2025-03-07T23:59:59.999Z"));

  auto week = service_->Leaderboard(Period::kWeek, 10, true);
  ASSERT_TRUE(week);
  ASSERT_EQ(week->size(), 1U);
  EXPECT_EQ((*week)[0].total_referrals, 1);
  auto all = service_->Leaderboard(Period::kAll, 10, false);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1U);
  EXPECT_EQ((*all)[0].total_referrals, 2);
  EXPECT_EQ((*all)[0].rank, 1);
  EXPECT_EQ((*all)[0].email, "0***@example.com");

  auto trend = service_->Trends(7);
  ASSERT_TRUE(trend);
  ASSERT_EQ(trend->size(), 7U);
  EXPECT_EQ(trend->front().date, "2025-03-01");
  EXPECT_EQ(trend->front().signups, 1);
  EXPECT_EQ(trend->back().date, "2025-03-07");
}

TEST_F(ReferralServiceTest, AnalyticsRateAndValidation) {
  auto code = service_->GenerateCode(As(kAlice), std::nullopt);
  ASSERT_TRUE(code && service_->Track(As(kBob), code->code) &&
              service_->Track(As(kCarol), code->code));
  ASSERT_TRUE(service_->Convert(Admin(), kBob));
  auto a = service_->Analytics(Period::kMonth);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->counts.total_referrals, 2);
  EXPECT_EQ(a->counts.converted_referrals, 1);
  EXPECT_DOUBLE_EQ(a->conversion_rate, 50.0);
  EXPECT_EQ(a->counts.total_rewards_awarded, 1);
  EXPECT_EQ(service_->Leaderboard(Period::kAll, 0, true).error().machine(), "VALIDATION_ERROR");
  EXPECT_EQ(service_->Leaderboard(Period::kAll, 101, true).error().machine(), "VALIDATION_ERROR");
  EXPECT_EQ(service_->Trends(0).error().machine(), "VALIDATION_ERROR");
  EXPECT_EQ(service_->Trends(366).error().machine(), "VALIDATION_ERROR");
}

TEST_F(ReferralServiceTest, DeclinedPaymentWritesNoSubscription) {
  SandboxPaymentProvider payments(ids_, clock_);
  SubscriptionService subscriptions(*store_, payments, *service_, clock_, ids_);
  auto declined = subscriptions.Create(As(kBob), "premium", "fake-processor-declined-card");
  ASSERT_FALSE(declined);
  EXPECT_EQ(declined.error().machine(), "PAYMENT_DECLINED");
  auto me = subscriptions.Me(kBob);
  ASSERT_TRUE(me);
  EXPECT_EQ(me->tier, "free");
  EXPECT_EQ(subscriptions.Create(As(kBob), "gold", "nonce").error().machine(), "VALIDATION_ERROR");
  EXPECT_EQ(subscriptions.Create(As(kBob), "premium", "").error().machine(), "VALIDATION_ERROR");
}

TEST_F(ReferralServiceTest, SubscriptionConvertsThePendingReferral) {
  SandboxPaymentProvider payments(ids_, clock_);
  SubscriptionService subscriptions(*store_, payments, *service_, clock_, ids_);
  auto code = service_->GenerateCode(As(kAlice), std::nullopt);
  ASSERT_TRUE(code && service_->Track(As(kBob), code->code));
  auto created = subscriptions.Create(As(kBob), "premium", "nonce-ok");
  ASSERT_TRUE(created) << created.error().message;
  ASSERT_TRUE(created->conversion);
  EXPECT_EQ(created->conversion->reward.user_id, kAlice);
  EXPECT_EQ(subscriptions.Create(As(kBob), "premium", "nonce-ok").error().machine(),
            "ALREADY_SUBSCRIBED");
  auto me = subscriptions.Me(kBob);
  ASSERT_TRUE(me);
  EXPECT_EQ(me->tier, "premium");
  EXPECT_EQ(me->status, "active");
  auto stats = service_->Stats(kAlice);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->total_referrals, 1);
  EXPECT_EQ(stats->converted_referrals, 1);
  EXPECT_EQ(stats->pending_referrals, 0);
  EXPECT_EQ(stats->total_rewards_earned, 1);
}

// Two users track each other's codes at the same moment, from two store handles as two processes
// would: one of them may succeed, never both (the circular-referral rule holds under races).
TEST_F(ReferralServiceTest, RaceCrossedTracksNeverMakeACircle) {
  auto other_store = db_->Open();
  ReferralService other(*other_store, clock_, id_random_, ids_, ReferralSettings{});
  SystemRandom users;
  for (int round = 0; round < 10; ++round) {
    const Actor a{NewUuidV7(clock_.Now(), users), std::nullopt};
    const Actor b{NewUuidV7(clock_.Now(), users), std::nullopt};
    auto code_a = service_->GenerateCode(a, std::nullopt);
    auto code_b = service_->GenerateCode(b, std::nullopt);
    ASSERT_TRUE(code_a && code_b);
    std::latch start(2);
    std::atomic<int> tracked{0};
    std::thread first([&] {
      start.arrive_and_wait();
      if (service_->Track(a, code_b->code)) ++tracked;
    });
    std::thread second([&] {
      start.arrive_and_wait();
      if (other.Track(b, code_a->code)) ++tracked;
    });
    first.join();
    second.join();
    EXPECT_EQ(tracked.load(), 1) << "round " << round;
  }
}

// Subscriptions and manual conversions of one user race from two handles: one reward in all.
TEST_F(ReferralServiceTest, RaceSubscriptionsAndConversionsGrantOneReward) {
  auto other_store = db_->Open();
  ReferralService other_referrals(*other_store, clock_, id_random_, ids_, ReferralSettings{});
  SandboxPaymentProvider payments(ids_, clock_);
  SubscriptionService subscriptions(*store_, payments, *service_, clock_, ids_);
  SubscriptionService other_subscriptions(*other_store, payments, other_referrals, clock_, ids_);
  auto code = service_->GenerateCode(As(kAlice), std::nullopt);
  ASSERT_TRUE(code && service_->Track(As(kBob), code->code));
  std::latch start(20);
  std::atomic<int> subscribed{0};
  std::atomic<int> converted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      const bool mine = i % 2 == 0;
      if (i % 4 < 2) {
        auto r = (mine ? subscriptions : other_subscriptions).Create(As(kBob), "premium", "n");
        if (r) ++subscribed;
        if (r && r->conversion) ++converted;
      } else {
        if ((mine ? *service_ : other_referrals).Convert(Admin(), kBob)) ++converted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(subscribed.load(), 1);
  EXPECT_EQ(converted.load(), 1);
  auto rewards = service_->Rewards(kAlice, PageRequest{});
  ASSERT_TRUE(rewards);
  EXPECT_EQ(rewards->items.size(), 1U);
}

}  // namespace
}  // namespace referrald::domain
