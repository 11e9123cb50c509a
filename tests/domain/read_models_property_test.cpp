// The maintained aggregates equal a from-scratch recount at every instant: long random sequences of
// operations (generate, track, convert, subscribe, claim, expire, badge, link clicks; with a reward
// hold also cancel, with or without a refund that claws back a held reward) under a fake clock that
// spans months and crosses UTC midnights, and after every step every read the routes make is
// compared with a GROUP BY over the base tables. On the backend this run tests.

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "domain/jobs.hpp"
#include "domain/read_model_check.hpp"
#include "domain/referral_service.hpp"
#include "domain/subscription_service.hpp"
#include "support/fake_clock.hpp"
#include "support/test_database.hpp"
#include "util/time_format.hpp"

namespace referrald::domain {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;

constexpr int kUsers = 40;
constexpr int kSteps = 300;
// Seeds from this one on run with a reward hold (contract §11) and cancellations among the steps;
// the seeds below it run exactly the operations they always did.
constexpr unsigned kFirstHoldSeed = 4;

class ReadModelsPropertyTest : public ::testing::TestWithParam<unsigned> {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    store_ = db_->Open();
    settings_.reward_claim_days = 20;  // rewards expire within the run
    settings_.master_threshold = 3;
    with_hold_ = GetParam() >= kFirstHoldSeed;
    if (with_hold_) settings_.reward_hold_days = 5;
    referrals_ = std::make_unique<ReferralService>(*store_, clock_, random_, ids_, settings_);
    subscriptions_ =
        std::make_unique<SubscriptionService>(*store_, payments_, *referrals_, clock_, ids_);
    jobs_ = std::make_unique<JobRunner>(*store_, clock_, ids_, settings_, clock_.Now());
    for (int i = 0; i < kUsers; ++i) {
      char id[37];
      std::snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", i + 1);
      users_.push_back(Actor{id, "user" + std::to_string(i) + "@example.com"});
    }
  }

  const Actor& AnyUser() { return users_[static_cast<std::size_t>(Pick(kUsers))]; }
  // Usually a user with a referral, so that conversions are frequent.
  const Actor& MostlyReferred() {
    if (referred_.empty() || Pick(4) == 0) return AnyUser();
    return referred_[static_cast<std::size_t>(Pick(static_cast<int>(referred_.size())))];
  }
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  // One random operation; refusals are expected and fine, storage failures are not.
  void Step() {
    auto ok_or_refused = [](const auto& result) {
      if (!result) {
        EXPECT_NE(result.error().code, ErrorCode::kInternal) << result.error().machine();
        EXPECT_NE(result.error().code, ErrorCode::kUnavailable) << result.error().machine();
      }
    };
    switch (Pick(with_hold_ ? 15 : 14)) {
      case 0:
      case 1: {  // time passes: minutes, hours, or days; sometimes to just before midnight
        const int how = Pick(4);
        if (how == 0) {
          clock_.Set(AddDays(StartOfUtcDay(clock_.Now()), 1) - milliseconds(1 + Pick(500)));
        } else if (how == 1) {
          clock_.Advance(hours(24 * (3 + Pick(12))));
        } else {
          clock_.Advance(minutes(1 + Pick(600)));
        }
        break;
      }
      case 2: {
        auto code = referrals_->GenerateCode(AnyUser(), 1 + Pick(40));
        ok_or_refused(code);
        if (code) codes_.push_back(code->code);
        break;
      }
      case 3:
      case 4:
      case 5:
        if (!codes_.empty()) {
          const Actor& user = AnyUser();
          auto tracked = referrals_->Track(
              user, codes_[static_cast<std::size_t>(Pick(static_cast<int>(codes_.size())))]);
          ok_or_refused(tracked);
          if (tracked) referred_.push_back(user);
        }
        break;
      case 6:
        ok_or_refused(referrals_->Convert(users_[0], MostlyReferred().id));
        break;
      case 7:
        ok_or_refused(subscriptions_->Create(MostlyReferred(), "premium",
                                             Pick(5) == 0 ? "fake-processor-declined" : "ok"));
        break;
      case 8:
      case 9: {
        const Actor& user = AnyUser();
        auto page = referrals_->Rewards(user.id, PageRequest{kMaxPageLimit, std::nullopt});
        ASSERT_TRUE(page);
        const auto& rewards = page->items;
        if (!rewards.empty()) {
          const auto& reward =
              rewards[static_cast<std::size_t>(Pick(static_cast<int>(rewards.size())))];
          ok_or_refused(referrals_->ClaimReward(user, reward.id));
        }
        break;
      }
      case 10:
        ASSERT_TRUE(jobs_->Run(kJobExpireCodes));
        break;
      case 11:
        ASSERT_TRUE(jobs_->Run(kJobAwardBadges));
        break;
      case 12:
      case 13:  // a referral link followed by one of a few visitors: repeats of a day count once
        if (!codes_.empty()) {
          const std::string& code =
              codes_[static_cast<std::size_t>(Pick(static_cast<int>(codes_.size())))];
          ok_or_refused(referrals_->FollowLink(code, "visitor-" + std::to_string(Pick(4))));
        }
        break;
      case 14:  // with a hold only: a cancellation, half of them refunded (a clawback)
        ok_or_refused(subscriptions_->Cancel(MostlyReferred(), Pick(2) == 0, std::nullopt));
        break;
    }
  }

  // Every read the routes make, through the aggregates, against the recount — plus what the use
  // cases add on top (ranks, limits, the filled trend).
  void ExpectReadsMatchTheRecount(int step) {
    const TimePoint now = clock_.Now();
    auto differences = CheckReadModels(*store_, now);
    ASSERT_TRUE(differences) << differences.error().machine();
    for (const auto& difference : *differences) {
      ADD_FAILURE() << "seed " << GetParam() << ", step " << step << " at " << FormatIso8601(now)
                    << ": " << difference;
    }
    auto recount = store_->RecountReadModels(now);
    ASSERT_TRUE(recount);
    for (const auto& [period, days] : std::vector<std::pair<Period, int>>{
             {Period::kAll, 0}, {Period::kWeek, kWeekDays}, {Period::kMonth, kMonthDays}}) {
      auto board = referrals_->Leaderboard(period, 10, true);
      ASSERT_TRUE(board);
      auto expected = recount->leaderboards[days];
      if (expected.size() > 10) expected.resize(10);
      AssignCompetitionRanks(expected);
      EXPECT_EQ(*board, expected) << "leaderboard " << days << " at step " << step;
      auto analytics = referrals_->Analytics(period);
      ASSERT_TRUE(analytics);
      EXPECT_EQ(analytics->counts, recount->analytics[days]) << "analytics at step " << step;
    }
    auto trend = referrals_->Trends(kMonthDays);
    ASSERT_TRUE(trend);
    EXPECT_EQ(*trend, FillTrend(recount->days, kMonthDays, now)) << "trends at step " << step;
    for (const auto& user : users_) {
      auto stats = referrals_->Stats(user.id);
      ASSERT_TRUE(stats);
      const auto it = recount->stats.find(user.id);
      EXPECT_EQ(*stats, it == recount->stats.end() ? ReferrerStats{} : it->second)
          << user.id << " at step " << step;
    }
  }

  testing::FakeClock clock_{*ParseIso8601("2025-01-30T08:00:00.000Z")};
  SystemRandom random_;
  UuidV7Generator ids_{random_};
  SandboxPaymentProvider payments_{ids_, clock_};
  ReferralSettings settings_;
  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ReferralService> referrals_;
  std::unique_ptr<SubscriptionService> subscriptions_;
  std::unique_ptr<JobRunner> jobs_;
  std::vector<Actor> users_;
  std::vector<std::string> codes_;
  std::vector<Actor> referred_;
  bool with_hold_ = false;
  std::mt19937 rng_{GetParam()};
};

TEST_P(ReadModelsPropertyTest, AggregatesEqualARecountAfterEveryStep) {
  const TimePoint start = clock_.Now();
  for (int step = 0; step < kSteps && !HasFailure(); ++step) {
    Step();
    ExpectReadsMatchTheRecount(step);
  }
  // The run covered months and crossed many UTC midnights.
  EXPECT_GT(clock_.Now() - start, hours(24 * 60));
  // And a rebuild from the base tables gives the same aggregates back.
  ASSERT_TRUE(store_->RebuildAggregates(clock_.Now()));
  ExpectReadsMatchTheRecount(kSteps);
}

INSTANTIATE_TEST_SUITE_P(Seeds, ReadModelsPropertyTest, ::testing::Values(1U, 2U, 3U, 4U, 5U));

}  // namespace
}  // namespace referrald::domain
