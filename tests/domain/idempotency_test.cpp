// The Idempotency-Key rules (domain/idempotency.hpp) on a real store of the backend this run
// tests, with a fake clock: remember and replay, reuse with another request, one run at a time in
// an instance, the first stored response wins (also over two handles at once), a reservation row
// of an earlier version, the TTL and its purge job, and a change that cannot commit without its
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
  // The response Find gives for `request`: must be no error.
  std::optional<StoredResponse> Found(const IdempotentRequest& request) {
    auto found = service_->Find(request);
    EXPECT_TRUE(found.has_value()) << (found ? "" : found.error().machine());
    return found ? *found : std::nullopt;
  }
  template <typename T>
  static Reason ErrorOf(const Result<T>& result) {
    EXPECT_FALSE(result.has_value());
    return result ? Reason::kInternalError : result.error().reason;
  }
  // A row as an earlier version wrote it when a request reserved its key: in progress, held until
  // `lease_until`.
  void InsertReservation(const IdempotentRequest& request, TimePoint lease_until) {
    const IdempotencyRecord row{request.user_id,        request.key,
                                request.method,         request.path,
                                request.body_sha256,    IdempotencyState::kInProgress,
                                ids_.New(clock_.Now()), lease_until,
                                clock_.Now(),           std::nullopt};
    ASSERT_TRUE(Transact(*store_, [&](WriteTx& tx) -> Status {
      auto inserted = tx.InsertIdempotencyKey(row);
      if (!inserted) return inserted.error();
      EXPECT_TRUE(*inserted);
      return {};
    }));
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
  EXPECT_EQ(ErrorOf(service_->Enter(Keyed("bad key"))), Reason::kInvalidIdempotencyKey);
  EXPECT_EQ(Keys(), 0);
}

TEST_F(IdempotencyTest, RememberedThenReplayedWithTheSameResponse) {
  EXPECT_EQ(Found(Keyed("k1")), std::nullopt);
  const StoredResponse response{201, "Content-Type: application/json\n", R"({"code":"ABC"})"};
  ASSERT_TRUE(service_->Remember(Keyed("k1"), response));
  for (int i = 0; i < 2; ++i) EXPECT_EQ(Found(Keyed("k1")), response);
  // Another caller's "k1" is another key.
  const std::string other = user_;
  user_ = NewUuidV7(clock_.Now(), random_);
  EXPECT_EQ(Found(Keyed("k1")), std::nullopt);
  ASSERT_TRUE(service_->Remember(Keyed("k1"), {400, "", "{}"}));
  EXPECT_EQ(Keys(), 2);
  user_ = other;
  EXPECT_EQ(Found(Keyed("k1")), response);
}

TEST_F(IdempotencyTest, AnotherBodyPathOrMethodUnderTheKeyIsRefused) {
  ASSERT_TRUE(service_->Remember(Keyed("k"), {400, "", "{}"}));
  EXPECT_EQ(ErrorOf(service_->Find(Keyed("k", "{x}"))), Reason::kIdempotencyKeyReused);
  EXPECT_EQ(ErrorOf(service_->Find(Keyed("k", "{}", "/api/referral/track"))),
            Reason::kIdempotencyKeyReused);
  auto other_method = Keyed("k");
  other_method.method = "DELETE";
  EXPECT_EQ(ErrorOf(service_->Find(other_method)), Reason::kIdempotencyKeyReused);
  EXPECT_TRUE(Found(Keyed("k")).has_value());
}

TEST_F(IdempotencyTest, AKeyRunsOnceAtATimeInAnInstance) {
  {
    auto first = service_->Enter(Keyed("k"));
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(ErrorOf(service_->Enter(Keyed("k"))), Reason::kIdempotencyInProgress);
    EXPECT_EQ(ErrorOf(service_->Enter(Keyed("k", "{other}"))), Reason::kIdempotencyInProgress);
    EXPECT_TRUE(service_->Enter(Keyed("k2")).has_value());  // another key
    const std::string mine = user_;
    user_ = NewUuidV7(clock_.Now(), random_);
    EXPECT_TRUE(service_->Enter(Keyed("k")).has_value());  // another caller's
    user_ = mine;
    // Moved, it still holds the key, once.
    IdempotencyService::Running moved(std::move(*first));
    EXPECT_EQ(ErrorOf(service_->Enter(Keyed("k"))), Reason::kIdempotencyInProgress);
  }
  EXPECT_TRUE(service_->Enter(Keyed("k")).has_value());
  EXPECT_EQ(Keys(), 0);  // nothing is written for a run
}

TEST_F(IdempotencyTest, TheFirstStoredResponseWins) {
  ASSERT_TRUE(service_->Remember(Keyed("k"), {201, "", "first"}));
  EXPECT_EQ(ErrorOf(service_->Remember(Keyed("k"), {201, "", "second"})),
            Reason::kIdempotencyInProgress);
  EXPECT_EQ(Found(Keyed("k"))->body, "first");
  EXPECT_EQ(Keys(), 1);
}

TEST_F(IdempotencyTest, AReservationOfAnEarlierVersionIsInProgressUntilItsLeaseEnds) {
  InsertReservation(Keyed("k"), clock_.Now() + seconds{60});
  EXPECT_EQ(ErrorOf(service_->Find(Keyed("k"))), Reason::kIdempotencyInProgress);
  EXPECT_EQ(ErrorOf(service_->Remember(Keyed("k"), {201, "", "early"})),
            Reason::kIdempotencyInProgress);
  clock_.Advance(seconds{59});
  EXPECT_EQ(ErrorOf(service_->Find(Keyed("k"))), Reason::kIdempotencyInProgress);
  // Its request never finished (that version's instance died): once the lease ends, it is gone.
  clock_.Advance(seconds{1});
  EXPECT_EQ(Found(Keyed("k", "{any}")), std::nullopt);
  ASSERT_TRUE(service_->Remember(Keyed("k", "{any}"), {201, "", "now"}));
  EXPECT_EQ(Found(Keyed("k", "{any}"))->body, "now");
  EXPECT_EQ(Keys(), 1);
}

TEST_F(IdempotencyTest, KeysAreForgottenAfterTheTtlAndPurgedByTheJob) {
  ASSERT_TRUE(service_->Remember(Keyed("old"), {201, "", "old"}));
  clock_.Advance(settings_.ttl - hours{1});
  ASSERT_TRUE(service_->Remember(Keyed("young"), {201, "", "young"}));
  clock_.Advance(hours{1} - seconds{1});
  EXPECT_EQ(Found(Keyed("old"))->body, "old");  // still within the TTL
  clock_.Advance(seconds{1});

  // Past the TTL the key is unknown: any request under it runs afresh and is remembered anew.
  EXPECT_EQ(Found(Keyed("old", "{new}")), std::nullopt);
  ASSERT_TRUE(service_->Remember(Keyed("old", "{new}"), {201, "", "new"}));
  EXPECT_EQ(Found(Keyed("old", "{new}"))->body, "new");

  InsertReservation(Keyed("held"), clock_.Now() + 3 * settings_.ttl);  // may still run: kept
  InsertReservation(Keyed("dead"), clock_.Now() + seconds{60});
  ASSERT_TRUE(service_->Remember(Keyed("purged"), {201, "", "gone"}));
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
  EXPECT_EQ(deleted, 4);  // young, old (renewed), dead (its lease ended long ago), purged
  EXPECT_EQ(ttl_hours, 24);
  EXPECT_EQ(Keys(), 1);
  // Logged like every job.
  int logged = 0;
  for (const auto& entry :
       *store_->ListAudit(std::string("automation_worker"), {10, std::nullopt})) {
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
  const auto complete_with = [&](const IdempotentRequest& request) -> OnCommit<Referral> {
    return [&, request](WriteTx& tx, const Referral& referral) {
      return service_->Complete(tx, request, {201, "", referral.id});
    };
  };

  // Another request stored the key while this one ran: this one's change cannot commit, and that
  // is no refusal of the referral rules to audit.
  ASSERT_TRUE(service_->Remember(Keyed("k"), {201, "", "the other's"}));
  auto refused = referrals.Track(actor, code->code, complete_with(Keyed("k")));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().reason, Reason::kIdempotencyInProgress);
  EXPECT_EQ(store_->GetReferrerStats(referrer.id)->total_referrals, 0);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM automation_logs WHERE action = 'referral_refused'"),
            "0");
  EXPECT_EQ(Found(Keyed("k"))->body, "the other's");

  // Under a key of its own the change commits with its response, in one transaction.
  auto tracked = referrals.Track(actor, code->code, complete_with(Keyed("k2")));
  ASSERT_TRUE(tracked.has_value());
  EXPECT_EQ(store_->GetReferrerStats(referrer.id)->total_referrals, 1);
  EXPECT_EQ(Found(Keyed("k2"))->body, tracked->id);
}

TEST_F(IdempotencyTest, ConcurrentStoresOverTwoHandlesStoreOnce) {
  auto other_store = db_->Open();
  IdempotencyService other(*other_store, clock_, ids_, settings_);
  constexpr int kThreads = 24;
  std::atomic<int> stored{0};
  std::atomic<int> in_progress{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      IdempotencyService& service = i % 2 == 0 ? *service_ : other;
      start.arrive_and_wait();
      const Status remembered = service.Remember(Keyed("raced"), {201, "", std::to_string(i)});
      if (remembered) ++stored;
      if (!remembered && remembered.error().reason == Reason::kIdempotencyInProgress) {
        ++in_progress;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(stored.load(), 1);
  EXPECT_EQ(in_progress.load(), kThreads - 1);
  EXPECT_EQ(Keys(), 1);
}

}  // namespace
}  // namespace referrald::domain
