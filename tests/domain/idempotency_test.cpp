// The Idempotency-Key rules (domain/idempotency.hpp) on a real store of the backend this run
// tests, with a fake clock: reserve, replay, reuse with another request, in progress, a lease that
// ends and is taken over, the TTL and its purge job, and a change that cannot commit without its
// response.

#include "domain/idempotency.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "domain/jobs.hpp"
#include "domain/referral_service.hpp"
#include "support/fake_clock.hpp"
#include "support/test_database.hpp"
#include "util/uuid.hpp"

namespace referrald::domain {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

class IdempotencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    store_ = db_->Open();
    service_ = std::make_unique<IdempotencyService>(*store_, clock_, ids_, settings_);
  }

  IdempotentRequest Keyed(const std::string& key, const std::string& body = "{}",
                          const std::string& path = "/api/referral/generate-code") {
    return IdempotentRequest{user_, key, "POST", path, std::string(64 - body.size(), '0') + body};
  }
  // A reservation that must be a fresh claim.
  IdempotencyClaim Claim(const IdempotentRequest& request) {
    auto reserved = service_->Reserve(request);
    EXPECT_TRUE(reserved.has_value()) << (reserved ? "" : reserved.error().machine());
    if (!reserved) return {};
    EXPECT_FALSE(reserved->replay.has_value());
    return reserved->claim;
  }
  static Reason ErrorOf(const Result<Reservation>& reserved) {
    EXPECT_FALSE(reserved.has_value());
    return reserved ? Reason::kInternalError : reserved.error().reason;
  }
  std::int64_t Keys() { return std::stoll(db_->Scalar("SELECT count(*) FROM idempotency_keys")); }

  testing::FakeClock clock_;
  SystemRandom random_;
  UuidV7Generator ids_{random_};
  IdempotencySettings settings_;
  std::string user_ = NewUuidV7(clock_.Now(), random_);
  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<IdempotencyService> service_;
};

TEST_F(IdempotencyTest, KeysAreOneToTwoHundredFiftyFiveVisibleAsciiCharacters) {
  EXPECT_TRUE(IsValidIdempotencyKey("a"));
  EXPECT_TRUE(IsValidIdempotencyKey(std::string(255, '~')));
  EXPECT_TRUE(IsValidIdempotencyKey("!\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~"));
  EXPECT_FALSE(IsValidIdempotencyKey(""));
  EXPECT_FALSE(IsValidIdempotencyKey(std::string(256, 'a')));
  EXPECT_FALSE(IsValidIdempotencyKey("with space"));
  EXPECT_FALSE(IsValidIdempotencyKey("tab\there"));
  EXPECT_FALSE(IsValidIdempotencyKey(std::string("nul\0", 4)));
  EXPECT_FALSE(IsValidIdempotencyKey("del\x7f"));
  EXPECT_FALSE(IsValidIdempotencyKey("caf\xc3\xa9"));
  EXPECT_EQ(ErrorOf(service_->Reserve(Keyed("bad key"))), Reason::kInvalidIdempotencyKey);
  EXPECT_EQ(Keys(), 0);
}

TEST_F(IdempotencyTest, ReserveCompleteThenReplayTheSameResponse) {
  const IdempotencyClaim claim = Claim(Keyed("k1"));
  EXPECT_EQ(claim.user_id, user_);
  EXPECT_EQ(claim.key, "k1");
  const StoredResponse response{201, "Content-Type: application/json\n", R"({"code":"ABC"})"};
  ASSERT_TRUE(service_->Remember(claim, response));
  for (int i = 0; i < 2; ++i) {
    auto again = service_->Reserve(Keyed("k1"));
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->replay, response);
  }
  // Another caller's "k1" is another key.
  const std::string other = user_;
  user_ = NewUuidV7(clock_.Now(), random_);
  Claim(Keyed("k1"));
  EXPECT_EQ(Keys(), 2);
  user_ = other;
}

TEST_F(IdempotencyTest, AnotherBodyPathOrMethodUnderTheKeyIsRefused) {
  const IdempotencyClaim claim = Claim(Keyed("k"));
  // Refused while the first runs, and after it finished.
  EXPECT_EQ(ErrorOf(service_->Reserve(Keyed("k", "{x}"))), Reason::kIdempotencyKeyReused);
  ASSERT_TRUE(service_->Remember(claim, {400, "", "{}"}));
  EXPECT_EQ(ErrorOf(service_->Reserve(Keyed("k", "{x}"))), Reason::kIdempotencyKeyReused);
  EXPECT_EQ(ErrorOf(service_->Reserve(Keyed("k", "{}", "/api/referral/track"))),
            Reason::kIdempotencyKeyReused);
  auto other_method = Keyed("k");
  other_method.method = "DELETE";
  EXPECT_EQ(ErrorOf(service_->Reserve(other_method)), Reason::kIdempotencyKeyReused);
  EXPECT_TRUE(service_->Reserve(Keyed("k"))->replay.has_value());
}

TEST_F(IdempotencyTest, InProgressUntilTheLeaseEndsThenTakenOver) {
  const IdempotencyClaim first = Claim(Keyed("k"));
  EXPECT_EQ(ErrorOf(service_->Reserve(Keyed("k"))), Reason::kIdempotencyInProgress);
  clock_.Advance(settings_.lease - seconds{1});
  EXPECT_EQ(ErrorOf(service_->Reserve(Keyed("k"))), Reason::kIdempotencyInProgress);
  // The first request's instance died: once its lease ends a retry takes the key over.
  clock_.Advance(seconds{1});
  const IdempotencyClaim second = Claim(Keyed("k"));
  EXPECT_NE(second.owner, first.owner);
  EXPECT_EQ(ErrorOf(service_->Reserve(Keyed("k"))), Reason::kIdempotencyInProgress);
  // The first, if it was only slow, can no longer store its answer (nor give the key up).
  const auto late = service_->Remember(first, {201, "", "first"});
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().reason, Reason::kIdempotencyInProgress);
  service_->Release(first);
  ASSERT_TRUE(service_->Remember(second, {201, "", "second"}));
  EXPECT_EQ(service_->Reserve(Keyed("k"))->replay->body, "second");
  // A finished key is never taken over, however old its lease.
  clock_.Advance(hours{1});
  EXPECT_EQ(service_->Reserve(Keyed("k"))->replay->body, "second");
}

TEST_F(IdempotencyTest, AReleasedKeyRunsAgain) {
  const IdempotencyClaim first = Claim(Keyed("k"));
  service_->Release(first);
  EXPECT_EQ(Keys(), 0);
  const IdempotencyClaim again = Claim(Keyed("k", "{other}"));  // a fresh start: any request
  EXPECT_NE(again.owner, first.owner);
}

TEST_F(IdempotencyTest, KeysAreForgottenAfterTheTtlAndPurgedByTheJob) {
  const IdempotencyClaim old = Claim(Keyed("old"));
  ASSERT_TRUE(service_->Remember(old, {201, "", "old"}));
  clock_.Advance(settings_.ttl - hours{1});
  const IdempotencyClaim young = Claim(Keyed("young"));
  ASSERT_TRUE(service_->Remember(young, {201, "", "young"}));
  clock_.Advance(hours{1} - seconds{1});
  EXPECT_EQ(service_->Reserve(Keyed("old"))->replay->body, "old");  // still within the TTL
  clock_.Advance(seconds{1});

  // Past the TTL the key is unknown: any request under it runs afresh.
  const IdempotencyClaim reused = Claim(Keyed("old", "{new}"));
  EXPECT_NE(reused.owner, old.owner);
  service_->Release(reused);

  Claim(Keyed("old2"));  // in progress: never purged while it may run
  const IdempotencyClaim purged = Claim(Keyed("purged"));
  ASSERT_TRUE(service_->Remember(purged, {201, "", "gone"}));
  clock_.Advance(settings_.ttl);
  JobRunner jobs(*store_, clock_, ids_, ReferralSettings{}, clock_.Now(), nullptr, settings_);
  auto run = jobs.Run(kJobPurgeIdempotencyKeys);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->status, AuditStatus::kSuccess);
  std::int64_t deleted = -1;
  std::int64_t ttl_hours = -1;
  for (const auto& [name, value] : run->details) {
    if (name == "keysDeleted") deleted = std::get<std::int64_t>(value);
    if (name == "ttlHours") ttl_hours = std::get<std::int64_t>(value);
  }
  EXPECT_EQ(deleted, 3);  // young, old2 (its lease ended long ago), purged
  EXPECT_EQ(ttl_hours, 24);
  EXPECT_EQ(Keys(), 0);
  // Logged like every job.
  int logged = 0;
  for (const auto& entry : *store_->ListAudit(std::string("automation_worker"), 10)) {
    if (entry.action == kJobPurgeIdempotencyKeys && entry.status == AuditStatus::kSuccess) {
      ++logged;
    }
  }
  EXPECT_EQ(logged, 1);
}

TEST_F(IdempotencyTest, TheResponseCommitsWithTheChangeOrNeither) {
  ReferralService referrals(*store_, clock_, random_, ids_, ReferralSettings{});
  const Actor referrer{NewUuidV7(clock_.Now(), random_), std::string("r@example.com")};
  auto code = referrals.GenerateCode(referrer, std::nullopt);
  ASSERT_TRUE(code.has_value());
  const Actor actor{user_, std::string("k@example.com")};
  const auto complete_with = [&](const IdempotencyClaim& claim) -> OnCommit<Referral> {
    return [&, claim](WriteTx& tx, const Referral& referral) {
      return service_->Complete(tx, claim, {201, "", referral.id});
    };
  };

  // A request that lost its key (its lease ended, a retry took it over) cannot commit its change,
  // and that is no refusal of the referral rules to audit.
  const IdempotencyClaim lost = Claim(Keyed("k"));
  clock_.Advance(settings_.lease);
  const IdempotencyClaim retry = Claim(Keyed("k"));
  auto refused = referrals.Track(actor, code->code, complete_with(lost));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().reason, Reason::kIdempotencyInProgress);
  EXPECT_EQ(store_->GetReferrerStats(referrer.id)->total_referrals, 0);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM automation_logs WHERE action = 'referral_refused'"),
            "0");

  // The holder's change commits with its response, in one transaction.
  auto tracked = referrals.Track(actor, code->code, complete_with(retry));
  ASSERT_TRUE(tracked.has_value());
  EXPECT_EQ(store_->GetReferrerStats(referrer.id)->total_referrals, 1);
  EXPECT_EQ(service_->Reserve(Keyed("k"))->replay->body, tracked->id);
}

TEST_F(IdempotencyTest, ConcurrentReservationsOverTwoHandlesClaimOnce) {
  auto other_store = db_->Open();
  IdempotencyService other(*other_store, clock_, ids_, settings_);
  constexpr int kThreads = 24;
  std::atomic<int> claimed{0};
  std::atomic<int> in_progress{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      IdempotencyService& service = i % 2 == 0 ? *service_ : other;
      start.arrive_and_wait();
      auto reserved = service.Reserve(Keyed("raced"));
      if (reserved && !reserved->replay) ++claimed;
      if (!reserved && reserved.error().reason == Reason::kIdempotencyInProgress) ++in_progress;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(claimed.load(), 1);
  EXPECT_EQ(in_progress.load(), kThreads - 1);
}

}  // namespace
}  // namespace referrald::domain
