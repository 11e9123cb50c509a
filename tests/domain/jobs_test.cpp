// The worker's jobs on a real store of the backend this run tests, with a fake clock.

#include "domain/jobs.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "domain/referral_service.hpp"
#include "support/fake_clock.hpp"
#include "support/test_database.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::domain {
namespace {

using std::chrono::days;

class JobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    store_ = db_->Open();
    settings_.master_threshold = 2;
    referrals_ = std::make_unique<ReferralService>(*store_, clock_, random_, ids_, settings_);
    jobs_ = std::make_unique<JobRunner>(*store_, clock_, ids_, settings_,
                                        clock_.Now() - std::chrono::seconds{90});
  }
  void TearDown() override {
    jobs_.reset();
    referrals_.reset();
    store_.reset();
    db_.reset();
  }
  Actor NewUser() {
    std::string id = NewUuidV7(clock_.Now(), random_);
    return Actor{id, id.substr(0, 4) + "@example.com"};
  }
  // A referrer with `conversions` converted referrals.
  std::string Referrer(int conversions) {
    const Actor referrer = NewUser();
    auto code = referrals_->GenerateCode(referrer, std::nullopt);
    EXPECT_TRUE(code);
    for (int i = 0; i < conversions; ++i) {
      const Actor referred = NewUser();
      EXPECT_TRUE(referrals_->Track(referred, code->code));
      EXPECT_TRUE(referrals_->Convert(NewUser(), referred.id));
    }
    return referrer.id;
  }
  int Badges(const std::string& user) {
    int n = 0;
    for (const auto& r : *store_->ListRewards(user, {})) {
      if (r.type == RewardType::kBadge) {
        ++n;
        EXPECT_TRUE(r.is_claimed);
        EXPECT_EQ(r.value.badge, "Referral Master");
      }
    }
    return n;
  }
  std::vector<AuditEntry> WorkerLog() {
    return *store_->ListAudit(std::string("automation_worker"), {100, std::nullopt});
  }
  static std::int64_t Detail(const JobResult& r, const std::string& key) {
    for (const auto& [k, v] : r.details) {
      if (k == key) return std::get<std::int64_t>(v);
    }
    ADD_FAILURE() << "no detail " << key;
    return -1;
  }

  testing::FakeClock clock_;
  SystemRandom random_;
  UuidV7Generator ids_{random_};
  ReferralSettings settings_;
  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ReferralService> referrals_;
  std::unique_ptr<JobRunner> jobs_;
};

TEST_F(JobsTest, ExpireCodesDeactivatesOnlyCodesPastExpiry) {
  const Actor a = NewUser();
  const Actor b = NewUser();
  ASSERT_TRUE(referrals_->GenerateCode(a, 1));
  ASSERT_TRUE(referrals_->GenerateCode(b, 30));
  clock_.Advance(days{2});
  auto run = jobs_->Run(kJobExpireCodes);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, AuditStatus::kSuccess);
  EXPECT_EQ(Detail(*run, "codesDeactivated"), 1);
  EXPECT_FALSE(referrals_->GetCode(a.id)->is_active);
  EXPECT_TRUE(referrals_->GetCode(b.id)->is_active);
  EXPECT_EQ(Detail(*jobs_->Run(kJobExpireCodes), "codesDeactivated"), 0);

  const auto log = WorkerLog();
  ASSERT_EQ(log.size(), 4U);  // two runs: started + success each
  EXPECT_EQ(log[0].action, "expire-codes");
  EXPECT_EQ(log[0].status, AuditStatus::kSuccess);
}

TEST_F(JobsTest, AwardBadgesGrantsOnceAtTheThreshold) {
  const std::string master = Referrer(2);
  const std::string almost = Referrer(1);
  auto run = jobs_->Run(kJobAwardBadges);
  ASSERT_TRUE(run);
  EXPECT_EQ(Detail(*run, "badgesGranted"), 1);
  EXPECT_EQ(Badges(master), 1);
  EXPECT_EQ(Badges(almost), 0);
  EXPECT_EQ(Detail(*jobs_->Run(kJobAwardBadges), "badgesGranted"), 0);
  EXPECT_EQ(Badges(master), 1);
}

TEST_F(JobsTest, OverlappingAwardBadgesRunsGrantOneBadge) {
  const std::string master = Referrer(3);
  // A second instance on the same database.
  auto other_store = db_->Open();
  JobRunner other(*other_store, clock_, ids_, settings_, clock_.Now());
  std::int64_t granted_a = 0;
  std::int64_t granted_b = 0;
  std::thread t1([&] { granted_a = Detail(*jobs_->Run(kJobAwardBadges), "badgesGranted"); });
  std::thread t2([&] { granted_b = Detail(*other.Run(kJobAwardBadges), "badgesGranted"); });
  t1.join();
  t2.join();
  EXPECT_EQ(granted_a + granted_b, 1);
  EXPECT_EQ(Badges(master), 1);
}

TEST_F(JobsTest, HealthCheckLogsUptimeAndMemory) {
  auto run = jobs_->Run(kJobHealthCheck);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, AuditStatus::kSuccess);
  EXPECT_EQ(Detail(*run, "uptimeSeconds"), 90);
  EXPECT_GT(Detail(*run, "residentMemoryBytes"), 0);
  const auto log = WorkerLog();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log[0].action, "health-check");
  EXPECT_EQ(log[0].status, AuditStatus::kSuccess);
}

TEST_F(JobsTest, UnknownJobIsNotFound) {
  auto run = jobs_->Run("make-coffee");
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().machine(), "JOB_NOT_FOUND");
  EXPECT_TRUE(WorkerLog().empty());
}

TEST_F(JobsTest, AFailingJobIsReportedAndLoggedWithItsMessage) {
  // Break the table the job needs, through a separate real connection.
  ASSERT_TRUE(db_->TryExec("ALTER TABLE referral_codes RENAME TO referral_codes_gone"));
  auto run = jobs_->Run(kJobExpireCodes);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, AuditStatus::kFailed);
  EXPECT_FALSE(run->error.empty());
  const auto log = WorkerLog();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log[0].status, AuditStatus::kFailed);
  ASSERT_TRUE(log[0].error_message);
  // The next job still runs.
  EXPECT_EQ(jobs_->Run(kJobHealthCheck)->status, AuditStatus::kSuccess);
}

TEST_F(JobsTest, AScheduledSlotRunsOnceAcrossInstances) {
  auto other_store = db_->Open();
  JobRunner other(*other_store, clock_, ids_, settings_, clock_.Now());
  const TimePoint slot = *ParseIso8601("2025-06-15T12:05:00.000Z");
  std::optional<JobResult> a;
  std::optional<JobResult> b;
  std::thread t1([&] { a = jobs_->RunScheduled(kJobHealthCheck, slot); });
  std::thread t2([&] { b = other.RunScheduled(kJobHealthCheck, slot); });
  t1.join();
  t2.join();
  EXPECT_EQ(static_cast<int>(a.has_value()) + static_cast<int>(b.has_value()), 1);
  int successes = 0;
  for (const auto& e : WorkerLog()) successes += e.status == AuditStatus::kSuccess ? 1 : 0;
  EXPECT_EQ(successes, 1);
  // The next slot is free again.
  EXPECT_TRUE(jobs_->RunScheduled(kJobHealthCheck, slot + std::chrono::minutes{5}));
}

TEST_F(JobsTest, AFailedSlotClaimIsLoggedAsAFailedRun) {
  ASSERT_TRUE(db_->TryExec("DROP TABLE job_runs"));
  auto run = jobs_->RunScheduled(kJobExpireCodes, *ParseIso8601("2025-06-16T02:00:00.000Z"));
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, AuditStatus::kFailed);
  const auto log = WorkerLog();
  ASSERT_EQ(log.size(), 1U);
  EXPECT_EQ(log[0].action, "expire-codes");
  EXPECT_EQ(log[0].status, AuditStatus::kFailed);
  EXPECT_TRUE(log[0].error_message);
}

}  // namespace
}  // namespace referrald::domain
