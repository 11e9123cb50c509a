// The storage port's contract (domain/store.hpp), on the backend this run tests (sqlite or
// postgres, see support/test_database.hpp): every write step and read, and the exactly-once steps
// raced from many threads over one handle and over two handles, as two processes would.

#include "domain/store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <variant>
#include <vector>

#include "domain/errors.hpp"
#include "domain/events.hpp"
#include "domain/read_model_check.hpp"
#include "domain/rules.hpp"
#include "support/test_database.hpp"
#include "util/random.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::storage {
namespace {

using domain::CodeInsert;
using domain::Store;
using domain::WriteTx;
using testing::TestDatabase;

TimePoint At(std::string_view iso) {
  auto t = ParseIso8601(iso);
  if (!t) throw std::invalid_argument("bad timestamp in test");
  return *t;
}

const TimePoint kNow = At("2025-06-15T12:00:00.000Z");

TimePoint Hours(TimePoint t, int hours) { return t + std::chrono::hours{hours}; }

// The value of a Result that must have succeeded; fails the test (by exception) otherwise.
template <typename T>
T Must(Result<T> result) {
  if (!result) {
    ADD_FAILURE() << "unexpected error " << result.error().machine();
    throw std::runtime_error("unexpected error " + std::string(result.error().machine()));
  }
  return std::move(*result);
}

void MustOk(const Status& status) {
  if (!status) {
    ADD_FAILURE() << "unexpected error " << status.error().machine();
    throw std::runtime_error("unexpected error " + std::string(status.error().machine()));
  }
}

// Runs body(i) for i in [0, threads) on that many threads released at once.
void RunConcurrently(int threads, const std::function<void(int)>& body) {
  std::latch start(threads);
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&start, &body, i] {
      start.arrive_and_wait();
      body(i);
    });
  }
  for (auto& t : pool) t.join();
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::Create();
    store_ = db_->Open();
  }

  // One step in a transaction of its own.
  template <typename F>
  auto Step(F&& f, Store* store = nullptr) {
    return domain::Transact(store ? *store : *store_, std::forward<F>(f));
  }

  std::string NewId() { return NewUuidV7(kNow, random_); }

  std::string NewCodeText() {
    std::string text;
    for (int i = 0; i < 10; ++i) text += domain::kCodeAlphabet[random_.Uniform(32)];
    return text;
  }

  std::string NewUser(std::optional<std::string> email = std::nullopt, TimePoint now = kNow) {
    std::string id = NewId();
    MustOk(Step([&](WriteTx& tx) { return tx.UpsertUser({id, email}, now); }));
    return id;
  }

  domain::ReferralCode MakeCode(const std::string& user_id, TimePoint created = Hours(kNow, -240),
                                TimePoint expires_at = AddDays(kNow, 365)) {
    return domain::ReferralCode{NewId(), user_id, NewCodeText(), true, created, expires_at};
  }

  domain::ReferralCode NewCode(const std::string& user_id, TimePoint created = Hours(kNow, -240),
                               TimePoint expires_at = AddDays(kNow, 365)) {
    auto code = MakeCode(user_id, created, expires_at);
    EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.InsertCode(code); })), CodeInsert::kInserted);
    return code;
  }

  domain::Referral MakeReferral(const domain::ReferralCode& code, const std::string& referred,
                                TimePoint now = kNow) {
    return domain::Referral{
        NewId(), code.user_id, referred, code.id, domain::ReferralStatus::kPending,
        now,     std::nullopt};
  }

  // Inserts a referral; true when it was inserted.
  bool Track(const domain::ReferralCode& code, const std::string& referred, TimePoint now = kNow,
             Store* store = nullptr) {
    auto referral = MakeReferral(code, referred, now);
    return Must(Step([&](WriteTx& tx) { return tx.InsertReferral(referral); }, store));
  }

  domain::Reward MakeReward(const domain::Referral& referral, TimePoint now,
                            std::optional<TimePoint> expires) {
    domain::Reward reward;
    reward.id = NewId();
    reward.user_id = referral.referrer_user_id;
    reward.type = domain::RewardType::kFreePremium;
    reward.value.days = 30;
    reward.created_at = now;
    reward.expires_at = expires;
    reward.source_referral_id = referral.id;
    return reward;
  }

  // Converts the pending referral of `referred` and inserts its reward, as the domain does.
  std::optional<domain::Conversion> Convert(const std::string& referred, TimePoint now = kNow,
                                            std::optional<TimePoint> expires = AddDays(kNow, 90),
                                            Store* store = nullptr) {
    return Must(Step(
        [&](WriteTx& tx) -> Result<std::optional<domain::Conversion>> {
          auto referral = tx.ConvertPendingReferral(referred, now);
          if (!referral) return referral.error();
          if (!*referral) return std::optional<domain::Conversion>();
          auto reward = MakeReward(**referral, now, expires);
          if (auto inserted = tx.InsertReward(reward); !inserted) return inserted.error();
          return std::optional<domain::Conversion>(domain::Conversion{**referral, reward});
        },
        store));
  }

  bool Claim(const std::string& user, const std::string& reward_id, TimePoint now,
             Store* store = nullptr) {
    return Must(
        Step([&](WriteTx& tx) { return tx.MarkRewardClaimed(reward_id, user, now); }, store));
  }

  domain::Reward MakeBadge(const std::string& user, TimePoint now) {
    domain::Reward badge;
    badge.id = NewId();
    badge.user_id = user;
    badge.type = domain::RewardType::kBadge;
    badge.value.badge = "Referral Master";
    badge.is_claimed = true;
    badge.created_at = now;
    badge.claimed_at = now;
    return badge;
  }

  // A referrer with a code, and a referred user with a pending referral from it.
  struct Pair {
    std::string referrer;
    std::string referred;
    domain::ReferralCode code;
  };
  Pair NewPendingPair() {
    Pair p{NewUser("referrer@example.com"), NewUser(), {}};
    p.code = NewCode(p.referrer);
    EXPECT_TRUE(Track(p.code, p.referred));
    return p;
  }

  // An in-progress Idempotency-Key row of `user` created at `now` with a lease of a minute (as an
  // earlier version reserved keys).
  domain::IdempotencyRecord NewKeyRecord(const std::string& user, const std::string& key,
                                         TimePoint now = kNow, std::string body = "abc") {
    return domain::IdempotencyRecord{user,
                                     key,
                                     "POST",
                                     "/api/referral/track",
                                     std::string(64 - body.size(), '0') + body,
                                     domain::IdempotencyState::kInProgress,
                                     NewId(),
                                     now + std::chrono::minutes{1},
                                     now,
                                     std::nullopt};
  }
  // A completed row, stored with `response`, as the service writes them.
  domain::IdempotencyRecord NewCompletedKey(const std::string& user, const std::string& key,
                                            const domain::StoredResponse& response,
                                            TimePoint now = kNow, std::string body = "abc") {
    auto record = NewKeyRecord(user, key, now, std::move(body));
    record.state = domain::IdempotencyState::kCompleted;
    record.lease_until = now;
    record.response = response;
    return record;
  }
  bool InsertKey(const domain::IdempotencyRecord& record, Store* store = nullptr) {
    return Must(Step([&](WriteTx& tx) { return tx.InsertIdempotencyKey(record); }, store));
  }
  std::optional<domain::IdempotencyRecord> FindKey(const std::string& user,
                                                   const std::string& key) {
    return Must(Step([&](WriteTx& tx) { return tx.FindIdempotencyKey(user, key); }));
  }

  std::vector<Store*> Handles(int count) {
    std::vector<Store*> handles{store_.get()};
    while (static_cast<int>(handles.size()) < count) {
      extra_.push_back(db_->Open());
      handles.push_back(extra_.back().get());
    }
    return handles;
  }

  // An event of a type chosen by `n` (code.generated, badge.awarded or subscription.created).
  domain::Event MakeEvent(int n = 0, TimePoint now = kNow) {
    switch (n % 3) {
      case 0:
        return domain::MakeEvent(NewId(), now,
                                 domain::events::CodeGenerated{NewCodeText(), NewId(), now});
      case 1:
        return domain::MakeEvent(NewId(), now,
                                 domain::events::BadgeAwarded{NewId(), NewId(), "Referral Master"});
      default:
        return domain::MakeEvent(NewId(), now,
                                 domain::events::SubscriptionCreated{NewId(), NewId(), "premium"});
    }
  }

  // Appends `events` in one transaction.
  void AppendEvents(const std::vector<domain::Event>& events, Store* store = nullptr) {
    MustOk(Step(
        [&](WriteTx& tx) -> Status {
          for (const auto& e : events) {
            if (auto appended = tx.AppendEvent(e); !appended) return appended;
          }
          return {};
        },
        store));
  }

  // Every event from `next` on, page by page (`limit` each); `next` ends where the last page
  // said the feed goes on.
  std::vector<domain::Event> ReadAll(domain::EventPosition& next, int limit,
                                     std::optional<domain::EventType> type = std::nullopt) {
    std::vector<domain::Event> all;
    while (true) {
      const auto page = Must(store_->ListEvents(next, type, limit));
      EXPECT_LE(page.events.size(), static_cast<std::size_t>(limit));
      all.insert(all.end(), page.events.begin(), page.events.end());
      next = page.next;
      if (page.events.empty()) return all;
    }
  }

  // ReadAll until at least `count` events came (or a minute passed): on PostgreSQL a committed
  // event is listed once every transaction older than its own has ended — on the whole server,
  // so the other tests' transactions (in other databases) may delay it a little.
  std::vector<domain::Event> ReadAtLeast(domain::EventPosition& next, std::size_t count,
                                         std::optional<domain::EventType> type = std::nullopt) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    std::vector<domain::Event> all = ReadAll(next, 100, type);
    while (all.size() < count && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      const auto more = ReadAll(next, 100, type);
      all.insert(all.end(), more.begin(), more.end());
    }
    return all;
  }

  SystemRandom random_;
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<Store> store_;
  std::vector<std::unique_ptr<Store>> extra_;
};

TEST_F(StoreTest, PingAnswers) { EXPECT_TRUE(store_->Ping().has_value()); }

TEST_F(StoreTest, WriteCommitsOnSuccessAndRollsBackOnError) {
  const std::string kept = NewId();
  const std::string dropped = NewId();
  MustOk(Step([&](WriteTx& tx) { return tx.UpsertUser({kept, std::nullopt}, kNow); }));
  const auto refused = Step([&](WriteTx& tx) -> Status {
    if (auto s = tx.UpsertUser({dropped, std::nullopt}, kNow); !s) return s;
    return domain::errors::Invalid("refused by the use case");
  });
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().machine(), "VALIDATION_ERROR");  // the work's own error comes back
  EXPECT_TRUE(Must(store_->FindUser(kept)).has_value());
  EXPECT_EQ(Must(store_->FindUser(dropped)), std::nullopt);

  // A typed result comes back through Transact.
  const auto value = Step([&](WriteTx& tx) -> Result<int> {
    if (auto s = tx.UpsertUser({NewId(), std::nullopt}, kNow); !s) return s.error();
    return 42;
  });
  EXPECT_EQ(Must(value), 42);
}

// Concurrent writes succeed or fail alone, whether or not the backend commits them together
// (SQLite's group commit runs them in one transaction, each in a savepoint): a work that fails or
// throws after writing leaves nothing, and every other one commits.
TEST_F(StoreTest, ConcurrentWritesSucceedOrFailAlone) {
  constexpr int kThreads = 24;
  std::vector<Status> results(kThreads);
  const auto handles = Handles(2);
  for (int round = 0; round < 3; ++round) {
    std::vector<std::string> ids;
    for (int i = 0; i < kThreads; ++i) ids.push_back(NewId());
    RunConcurrently(kThreads, [&](int i) {
      const auto idx = static_cast<std::size_t>(i);
      const std::string& id = ids[idx];
      results[idx] = handles[idx % 2]->Write([&](WriteTx& tx) -> Status {
        if (auto s = tx.UpsertUser({id, std::nullopt}, kNow); !s) return s;
        if (i % 3 == 1) return domain::errors::Invalid("refused by the use case");
        if (i % 3 == 2) throw std::runtime_error("a bug in the use case");
        return {};
      });
    });
    for (int i = 0; i < kThreads; ++i) {
      const auto idx = static_cast<std::size_t>(i);
      const std::string& id = ids[idx];
      SCOPED_TRACE(i);
      if (i % 3 == 0) {
        EXPECT_TRUE(results[idx].has_value());
        EXPECT_TRUE(Must(store_->FindUser(id)).has_value());
      } else {
        ASSERT_FALSE(results[idx].has_value());
        EXPECT_EQ(results[idx].error().machine(),
                  i % 3 == 1 ? "VALIDATION_ERROR" : "INTERNAL_ERROR");
        EXPECT_EQ(Must(store_->FindUser(id)), std::nullopt);
      }
    }
  }
}

TEST_F(StoreTest, UpsertUserCreatesThenUpdatesEmail) {
  EXPECT_EQ(Must(store_->FindUser(NewId())), std::nullopt);

  const TimePoint created = At("2025-06-15T12:00:00.123Z");
  const std::string id = NewUser("a@example.com", created);
  auto user = Must(store_->FindUser(id));
  ASSERT_TRUE(user.has_value());
  EXPECT_EQ(user->id, id);
  EXPECT_EQ(user->email, "a@example.com");
  EXPECT_EQ(user->created_at, created);  // milliseconds survive the round trip
  EXPECT_EQ(user->premium_until, std::nullopt);

  auto upsert = [&](std::optional<std::string> email) {
    MustOk(Step([&](WriteTx& tx) { return tx.UpsertUser({id, email}, Hours(kNow, 5)); }));
  };
  upsert(std::nullopt);
  EXPECT_EQ(Must(store_->FindUser(id))->email, "a@example.com");
  upsert("b@example.com");
  user = Must(store_->FindUser(id));
  EXPECT_EQ(user->email, "b@example.com");
  EXPECT_EQ(user->created_at, created);

  const std::string anonymous = NewUser();
  EXPECT_EQ(Must(store_->FindUser(anonymous))->email, std::nullopt);
}

TEST_F(StoreTest, PremiumUntilIsReadLockedAndSet) {
  const std::string user = NewUser();
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.LockPremiumUntil(user); })), std::nullopt);
  const TimePoint until = At("2025-07-15T12:00:00.250Z");
  MustOk(Step([&](WriteTx& tx) { return tx.SetPremiumUntil(user, until); }));
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.LockPremiumUntil(user); })), until);
  EXPECT_EQ(Must(store_->FindUser(user))->premium_until, until);
  const std::string other = NewUser();
  MustOk(Step([&](WriteTx& tx) { return tx.LockUserPair(user, other); }));
}

TEST_F(StoreTest, InsertCodeFindAndNewest) {
  const std::string user = NewUser();
  EXPECT_EQ(Must(store_->FindNewestCode(user)), std::nullopt);
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.FindActiveCode(user); })), std::nullopt);

  const domain::ReferralCode code{NewId(), user, "ABCD2345", true, kNow, AddDays(kNow, 365)};
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.InsertCode(code); })), CodeInsert::kInserted);

  const auto found = Must(store_->FindNewestCode(user));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, code.id);
  EXPECT_EQ(found->user_id, user);
  EXPECT_EQ(found->code, "ABCD2345");
  EXPECT_TRUE(found->is_active);
  EXPECT_EQ(found->created_at, kNow);
  EXPECT_EQ(found->expires_at, code.expires_at);

  const auto active = Must(Step([&](WriteTx& tx) { return tx.FindActiveCode(user); }));
  ASSERT_TRUE(active.has_value());
  EXPECT_EQ(active->id, code.id);
  const auto by_text = Must(Step([&](WriteTx& tx) { return tx.FindCodeByText("ABCD2345"); }));
  ASSERT_TRUE(by_text.has_value());
  EXPECT_EQ(by_text->user_id, user);
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.FindCodeByText("ABCD234"); })), std::nullopt);
}

TEST_F(StoreTest, InsertCodeTellsTakenTextFromASecondActiveCode) {
  const std::string user = NewUser();
  const auto first = NewCode(user);
  // The same user again: refused by the one-active-code index.
  const auto second = MakeCode(user);
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.InsertCode(second); })),
            CodeInsert::kUserHasActiveCode);
  // Another user, the same text: refused by the unique code index.
  auto taken = MakeCode(NewUser());
  taken.code = first.code;
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.InsertCode(taken); })), CodeInsert::kCodeTaken);
  EXPECT_EQ(Must(store_->FindNewestCode(user))->id, first.id);

  // Deactivated, the user may have a new active code; the old one stays, inactive.
  MustOk(Step([&](WriteTx& tx) { return tx.DeactivateCode(first.id); }));
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.FindActiveCode(user); })), std::nullopt);
  auto replacement = MakeCode(user, kNow, AddDays(kNow, 30));
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.InsertCode(replacement); })),
            CodeInsert::kInserted);
  EXPECT_EQ(Must(store_->FindNewestCode(user))->id, replacement.id);
  EXPECT_FALSE(Must(Step([&](WriteTx& tx) { return tx.FindCodeByText(first.code); }))->is_active);
}

TEST_F(StoreTest, ExpireCodesDeactivatesDueCodes) {
  NewCode(NewUser(), Hours(kNow, -10), Hours(kNow, -1));
  NewCode(NewUser(), Hours(kNow, -10), kNow);
  const auto live = NewCode(NewUser(), Hours(kNow, -10), Hours(kNow, 1));
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.ExpireCodes(kNow); })), 2);
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.ExpireCodes(kNow); })), 0);
  EXPECT_TRUE(Must(store_->FindNewestCode(live.user_id))->is_active);
  const auto counts = Must(store_->Analytics(std::nullopt, kNow));
  EXPECT_EQ(counts.active_codes, 1);
  EXPECT_EQ(counts.expired_codes, 2);
}

TEST_F(StoreTest, InsertReferralOncePerReferredUser) {
  const std::string referrer = NewUser();
  const std::string referred = NewUser();
  const auto code = NewCode(referrer);
  const auto referral = MakeReferral(code, referred, kNow);
  EXPECT_TRUE(Must(Step([&](WriteTx& tx) { return tx.InsertReferral(referral); })));

  const auto found = Must(Step([&](WriteTx& tx) { return tx.FindReferralOf(referred); }));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, referral.id);
  EXPECT_EQ(found->referrer_user_id, referrer);
  EXPECT_EQ(found->referred_user_id, referred);
  EXPECT_EQ(found->referral_code_id, code.id);
  EXPECT_EQ(found->status, domain::ReferralStatus::kPending);
  EXPECT_EQ(found->created_at, kNow);
  EXPECT_EQ(found->converted_at, std::nullopt);
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.FindReferralOf(referrer); })), std::nullopt);

  // A second referrer for the same user is a no-op, whoever it is.
  const auto other_code = NewCode(NewUser());
  EXPECT_FALSE(Track(other_code, referred));

  const auto stats = Must(store_->GetReferrerStats(referrer));
  EXPECT_EQ(stats.total_referrals, 1);
  EXPECT_EQ(stats.pending_referrals, 1);
  EXPECT_EQ(stats.converted_referrals, 0);
  EXPECT_EQ(stats.total_rewards_earned, 0);
  EXPECT_EQ(Must(store_->GetReferrerStats(other_code.user_id)).total_referrals, 0);
}

TEST_F(StoreTest, ConvertPendingReferralOnce) {
  const auto p = NewPendingPair();
  const TimePoint when = Hours(kNow, 3);
  const auto conversion = Convert(p.referred, when, AddDays(when, 90));
  ASSERT_TRUE(conversion.has_value());
  EXPECT_EQ(conversion->referral.referrer_user_id, p.referrer);
  EXPECT_EQ(conversion->referral.referred_user_id, p.referred);
  EXPECT_EQ(conversion->referral.referral_code_id, p.code.id);
  EXPECT_EQ(conversion->referral.status, domain::ReferralStatus::kConverted);
  EXPECT_EQ(conversion->referral.created_at, kNow);
  EXPECT_EQ(conversion->referral.converted_at, when);

  EXPECT_EQ(Convert(p.referred), std::nullopt);  // already converted
  EXPECT_EQ(Convert(NewUser()), std::nullopt);   // no referral
  EXPECT_EQ(Convert(NewId()), std::nullopt);     // no such user

  const auto stored = Must(Step([&](WriteTx& tx) { return tx.FindReferralOf(p.referred); }));
  EXPECT_EQ(stored->status, domain::ReferralStatus::kConverted);
  EXPECT_EQ(stored->converted_at, when);

  const auto stats = Must(store_->GetReferrerStats(p.referrer));
  EXPECT_EQ(stats.total_referrals, 1);
  EXPECT_EQ(stats.converted_referrals, 1);
  EXPECT_EQ(stats.pending_referrals, 0);
  EXPECT_EQ(stats.total_rewards_earned, 1);
}

TEST_F(StoreTest, RewardsRoundTripAndOnePerSourceReferral) {
  const auto p = NewPendingPair();
  const TimePoint when = Hours(kNow, 3);
  const auto conversion = *Convert(p.referred, when, AddDays(when, 90));
  const auto rewards = Must(store_->ListRewards(p.referrer, {}));
  ASSERT_EQ(rewards.size(), 1U);
  EXPECT_EQ(rewards[0].id, conversion.reward.id);
  EXPECT_EQ(rewards[0].user_id, p.referrer);
  EXPECT_EQ(rewards[0].type, domain::RewardType::kFreePremium);
  EXPECT_EQ(rewards[0].value.days, 30);
  EXPECT_EQ(rewards[0].value.badge, std::nullopt);
  EXPECT_FALSE(rewards[0].is_claimed);
  EXPECT_EQ(rewards[0].created_at, when);
  EXPECT_EQ(rewards[0].claimed_at, std::nullopt);
  EXPECT_EQ(rewards[0].expires_at, AddDays(when, 90));
  EXPECT_EQ(rewards[0].source_referral_id, conversion.referral.id);
  const auto found = Must(Step([&](WriteTx& tx) { return tx.FindReward(conversion.reward.id); }));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->source_referral_id, conversion.referral.id);
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.FindReward(NewId()); })), std::nullopt);

  // A second reward for one referral is refused by the database (a bug if it ever happens).
  auto duplicate = MakeReward(conversion.referral, when, std::nullopt);
  const auto refused = Step([&](WriteTx& tx) { return tx.InsertReward(duplicate); });
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kInternal);
  EXPECT_EQ(Must(store_->ListRewards(p.referrer, {})).size(), 1U);
}

TEST_F(StoreTest, MarkRewardClaimedOnlyForItsUserUnclaimedAndUnexpired) {
  const auto p = NewPendingPair();
  const auto reward = Convert(p.referred, kNow, AddDays(kNow, 10))->reward;

  EXPECT_FALSE(Claim(p.referrer, NewId(), kNow));
  EXPECT_FALSE(Claim(p.referred, reward.id, kNow));               // another user's
  EXPECT_FALSE(Claim(p.referrer, reward.id, AddDays(kNow, 10)));  // expires at that instant
  EXPECT_FALSE(Claim(p.referrer, reward.id, AddDays(kNow, 11)));
  EXPECT_FALSE(Must(store_->ListRewards(p.referrer, {}))[0].is_claimed);

  const TimePoint when = Hours(AddDays(kNow, 10), -1);
  EXPECT_TRUE(Claim(p.referrer, reward.id, when));
  EXPECT_FALSE(Claim(p.referrer, reward.id, when));  // once
  const auto claimed = Must(store_->ListRewards(p.referrer, {}))[0];
  EXPECT_TRUE(claimed.is_claimed);
  EXPECT_EQ(claimed.claimed_at, when);

  // Without an expiry a reward is claimable forever.
  const auto q = NewPendingPair();
  const auto forever = Convert(q.referred, kNow, std::nullopt)->reward;
  EXPECT_EQ(Must(store_->ListRewards(q.referrer, {}))[0].expires_at, std::nullopt);
  EXPECT_TRUE(Claim(q.referrer, forever.id, AddDays(kNow, 5000)));
}

TEST_F(StoreTest, ListRewardsNewestFirst) {
  const std::string referrer = NewUser();
  const auto code = NewCode(referrer);
  const std::vector<TimePoint> times{Hours(kNow, 1), Hours(kNow, 3), Hours(kNow, 2),
                                     Hours(kNow, 3)};
  std::vector<std::pair<TimePoint, std::string>> expected;
  for (TimePoint t : times) {
    const std::string referred = NewUser();
    EXPECT_TRUE(Track(code, referred));
    expected.emplace_back(t, Convert(referred, t)->reward.id);
  }
  std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second > b.second;
  });
  const auto rewards = Must(store_->ListRewards(referrer, {}));
  ASSERT_EQ(rewards.size(), expected.size());
  for (std::size_t i = 0; i < rewards.size(); ++i) {
    EXPECT_EQ(rewards[i].id, expected[i].second) << i;
    EXPECT_EQ(rewards[i].created_at, expected[i].first) << i;
  }
  EXPECT_TRUE(Must(store_->ListRewards(NewUser(), {})).empty());
}

TEST_F(StoreTest, InsertBadgeAtTheThresholdOncePerUser) {
  const std::string master = NewUser();
  const std::string almost = NewUser();
  const auto master_code = NewCode(master);
  const auto almost_code = NewCode(almost);
  for (int i = 0; i < 2; ++i) {
    const std::string referred = NewUser();
    EXPECT_TRUE(Track(master_code, referred));
    EXPECT_TRUE(Convert(referred).has_value());
  }
  const std::string converted = NewUser();
  EXPECT_TRUE(Track(almost_code, converted));
  EXPECT_TRUE(Convert(converted).has_value());
  EXPECT_TRUE(Track(almost_code, NewUser()));  // pending does not count

  EXPECT_EQ(Must(store_->BadgeCandidates(2)), std::vector<std::string>{master});
  auto insert = [&](const std::string& user, std::int64_t threshold, TimePoint at) {
    const auto badge = MakeBadge(user, at);
    return Must(Step([&](WriteTx& tx) { return tx.InsertBadge(badge, threshold); }));
  };
  EXPECT_FALSE(insert(almost, 2, Hours(kNow, 1)));  // below the threshold
  EXPECT_TRUE(insert(master, 2, Hours(kNow, 1)));
  EXPECT_FALSE(insert(master, 2, Hours(kNow, 2)));  // once
  EXPECT_TRUE(Must(store_->BadgeCandidates(2)).empty());

  const auto rewards = Must(store_->ListRewards(master, {}));
  ASSERT_EQ(rewards.size(), 3U);
  const auto& badge = rewards[0];  // newest
  EXPECT_EQ(badge.type, domain::RewardType::kBadge);
  EXPECT_EQ(badge.value.badge, "Referral Master");
  EXPECT_EQ(badge.value.days, std::nullopt);
  EXPECT_TRUE(badge.is_claimed);
  EXPECT_EQ(badge.claimed_at, Hours(kNow, 1));
  EXPECT_EQ(badge.created_at, Hours(kNow, 1));
  EXPECT_EQ(badge.expires_at, std::nullopt);
  EXPECT_EQ(badge.source_referral_id, std::nullopt);
  EXPECT_FALSE(Claim(master, badge.id, Hours(kNow, 3)));

  // Every reward created counts as awarded, badges included: 3 free_premium + 1 badge.
  EXPECT_EQ(Must(store_->Analytics(std::nullopt, kNow)).total_rewards_awarded, 4);
  EXPECT_EQ(Must(store_->GetReferrerStats(master)).total_rewards_earned, 3);

  // A lower threshold reaches the other referrer, still once.
  EXPECT_EQ(Must(store_->BadgeCandidates(1)), std::vector<std::string>{almost});
  EXPECT_TRUE(insert(almost, 1, Hours(kNow, 3)));
}

TEST_F(StoreTest, SubscriptionsOneActivePerUser) {
  const std::string user = NewUser();
  EXPECT_EQ(Must(store_->FindActiveSubscription(user)), std::nullopt);
  const domain::Subscription sub{NewId(), user, "premium", "active", "sandbox", "ref-1", kNow};
  EXPECT_TRUE(Must(Step([&](WriteTx& tx) { return tx.InsertSubscription(sub); })));
  const auto active = Must(store_->FindActiveSubscription(user));
  ASSERT_TRUE(active.has_value());
  EXPECT_EQ(active->id, sub.id);
  EXPECT_EQ(active->user_id, user);
  EXPECT_EQ(active->tier, "premium");
  EXPECT_EQ(active->status, "active");
  EXPECT_EQ(active->provider, "sandbox");
  EXPECT_EQ(active->provider_ref, "ref-1");
  EXPECT_EQ(active->created_at, kNow);

  const domain::Subscription second{NewId(), user, "premium", "active", "sandbox", "ref-2", kNow};
  EXPECT_FALSE(Must(Step([&](WriteTx& tx) { return tx.InsertSubscription(second); })));
  EXPECT_EQ(Must(store_->FindActiveSubscription(user))->id, sub.id);
}

TEST_F(StoreTest, LeaderboardOrdersFiltersAndLimits) {
  // referrer -> (referral created_at, converted?) list
  struct Spec {
    std::string email;
    std::vector<std::pair<TimePoint, bool>> referrals;
  };
  const TimePoint old = AddDays(kNow, -60);
  const std::vector<Spec> specs{
      {"a@example.com", {{kNow, true}, {kNow, false}, {kNow, false}}},  // 1 of 3
      {"b@example.com", {{kNow, true}, {kNow, true}}},                  // 2 of 2
      {"c@example.com", {{kNow, true}, {old, false}}},                  // 1 of 2 (1 of 1 recent)
      {"d@example.com", {{old, false}}},                                // 0 of 1, old
  };
  std::vector<std::string> ids;
  for (const auto& spec : specs) {
    const std::string referrer = NewUser(spec.email);
    ids.push_back(referrer);
    const auto code = NewCode(referrer, AddDays(kNow, -100));
    for (const auto& [created, converted] : spec.referrals) {
      const std::string referred = NewUser();
      EXPECT_TRUE(Track(code, referred, created));
      if (converted) {
        EXPECT_TRUE(Convert(referred).has_value());
      }
    }
  }
  const auto all = Must(store_->Leaderboard(std::nullopt, kNow, 10));
  ASSERT_EQ(all.size(), 4U);
  EXPECT_EQ(all[0].user_id, ids[1]);
  EXPECT_EQ(all[0].email, "b@example.com");
  EXPECT_EQ(all[0].converted_referrals, 2);
  EXPECT_EQ(all[0].total_referrals, 2);
  EXPECT_EQ(all[0].rank, 0);
  EXPECT_EQ(all[1].user_id, ids[0]);  // 1 of 3 beats 1 of 2
  EXPECT_EQ(all[1].total_referrals, 3);
  EXPECT_EQ(all[2].user_id, ids[2]);
  EXPECT_EQ(all[3].user_id, ids[3]);

  const auto top2 = Must(store_->Leaderboard(std::nullopt, kNow, 2));
  ASSERT_EQ(top2.size(), 2U);
  EXPECT_EQ(top2[1].user_id, ids[0]);

  const auto recent = Must(store_->Leaderboard(7, kNow, 10));
  ASSERT_EQ(recent.size(), 3U);  // d has nothing recent
  EXPECT_EQ(recent[2].user_id, ids[2]);
  EXPECT_EQ(recent[2].total_referrals, 1);
  EXPECT_EQ(recent[2].converted_referrals, 1);
}

// The week leaderboard is right at every instant, across UTC midnight, without any job: a referral
// made on the last millisecond of a day counts for exactly seven UTC days.
TEST_F(StoreTest, WindowLeaderboardsAreRightAcrossMidnightWithoutAJob) {
  const TimePoint made = At("2025-06-10T23:59:59.999Z");
  const std::string referrer = NewUser();
  const auto code = NewCode(referrer, AddDays(made, -1));
  const std::string referred = NewUser();
  EXPECT_TRUE(Track(code, referred, made));
  const TimePoint converted = At("2025-06-12T00:00:00.000Z");
  EXPECT_TRUE(Convert(referred, converted).has_value());

  auto week_at = [&](TimePoint t) { return Must(store_->Leaderboard(7, t, 10)); };
  EXPECT_EQ(week_at(made).size(), 1U);
  const auto last_day = week_at(At("2025-06-16T23:59:59.999Z"));
  ASSERT_EQ(last_day.size(), 1U);
  EXPECT_EQ(last_day[0].total_referrals, 1);
  EXPECT_EQ(last_day[0].converted_referrals, 1);
  EXPECT_TRUE(week_at(At("2025-06-17T00:00:00.000Z")).empty());
  // The month is 30 days: 2025-07-09 is its last.
  EXPECT_EQ(Must(store_->Leaderboard(30, At("2025-07-09T12:00:00.000Z"), 10)).size(), 1U);
  EXPECT_TRUE(Must(store_->Leaderboard(30, At("2025-07-10T00:00:00.000Z"), 10)).empty());
  // Analytics of the period follow the same days.
  EXPECT_EQ(Must(store_->Analytics(7, At("2025-06-16T23:00:00.000Z"))).total_referrals, 1);
  EXPECT_EQ(Must(store_->Analytics(7, At("2025-06-17T00:00:00.000Z"))).total_referrals, 0);
}

// Past 16 a window total shares its rank bucket with its neighbours; the leaderboard still
// orders exactly, also when its limit cuts through such a bucket.
TEST_F(StoreTest, WindowLeaderboardsOrderExactlyInsideCoarseBuckets) {
  std::vector<std::pair<std::string, int>> referrers;
  std::string last_referred;
  for (int total : {33, 17, 34, 30, 32, 31, 35, 3}) {
    const std::string referrer = NewUser();
    const auto code = NewCode(referrer);
    for (int i = 0; i < total; ++i) {
      last_referred = NewUser();
      EXPECT_TRUE(Track(code, last_referred, kNow));
    }
    referrers.emplace_back(referrer, total);
  }
  std::sort(referrers.begin(), referrers.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  auto expect_order = [&](int window) {
    for (int limit = 1; limit <= 8; ++limit) {
      const auto rows = Must(store_->Leaderboard(window, kNow, limit));
      ASSERT_EQ(rows.size(), static_cast<std::size_t>(limit));
      for (int i = 0; i < limit; ++i) {
        const auto& expected = referrers[static_cast<std::size_t>(i)];
        EXPECT_EQ(rows[static_cast<std::size_t>(i)].user_id, expected.first)
            << "window " << window << ", limit " << limit << ", row " << i;
        EXPECT_EQ(rows[static_cast<std::size_t>(i)].total_referrals, expected.second);
      }
    }
  };
  expect_order(7);
  expect_order(30);
  // A conversion outranks any number of referrals: the referrer with 3 (the last one made)
  // moves to the top of both windows.
  ASSERT_TRUE(Convert(last_referred).has_value());
  std::rotate(referrers.rbegin(), referrers.rbegin() + 1, referrers.rend());
  expect_order(7);
  expect_order(30);
}

// A referrer's window row is counted as of the day of their last change: reads recount the stale
// rows they meet (a stale row only overstates), and the daily refresh changes no answer.
TEST_F(StoreTest, StaleWindowTotalsAreRecountedByReadsAndByTheRefresh) {
  const std::string a = NewUser();  // 5 referrals 10 days ago: gone from the week, not the month
  const std::string b = NewUser();  // 2 referrals 8 days ago, 1 three days ago
  const std::string c = NewUser();  // 2 referrals today
  const auto code_a = NewCode(a, AddDays(kNow, -40));
  const auto code_b = NewCode(b, AddDays(kNow, -40));
  const auto code_c = NewCode(c, AddDays(kNow, -40));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Track(code_a, NewUser(), AddDays(kNow, -10)));
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(Track(code_b, NewUser(), AddDays(kNow, -8)));
  EXPECT_TRUE(Track(code_b, NewUser(), AddDays(kNow, -3)));
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(Track(code_c, NewUser(), kNow));

  const auto totals = [](const std::vector<domain::LeaderboardEntry>& rows) {
    std::vector<std::pair<std::string, std::int64_t>> out;
    for (const auto& row : rows) out.emplace_back(row.user_id, row.total_referrals);
    return out;
  };
  using Totals = std::vector<std::pair<std::string, std::int64_t>>;
  const Totals week = {{c, 2}, {b, 1}};
  const Totals month = {{a, 5}, {b, 3}, {c, 2}};
  EXPECT_EQ(totals(Must(store_->Leaderboard(7, kNow, 10))), week);
  EXPECT_EQ(totals(Must(store_->Leaderboard(30, kNow, 10))), month);
  // A limit that cuts between the stale rows still finds the true top.
  EXPECT_EQ(totals(Must(store_->Leaderboard(7, kNow, 1))), Totals({{c, 2}}));

  const auto refreshed =
      Must(Step([&](WriteTx& tx) { return tx.RefreshAggregates(UtcDayNumber(kNow)); }));
  EXPECT_GT(refreshed, 0);
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.RefreshAggregates(UtcDayNumber(kNow)); })), 0);
  EXPECT_EQ(totals(Must(store_->Leaderboard(7, kNow, 10))), week);
  EXPECT_EQ(totals(Must(store_->Leaderboard(30, kNow, 10))), month);
  // Tomorrow, without a write or a refresh, the windows have moved on.
  const TimePoint tomorrow = AddDays(kNow, 1);
  EXPECT_EQ(totals(Must(store_->Leaderboard(7, tomorrow, 10))), Totals({{c, 2}, {b, 1}}));
  EXPECT_EQ(totals(Must(store_->Leaderboard(7, AddDays(kNow, 4), 10))), Totals({{c, 2}}));
  EXPECT_EQ(totals(Must(store_->Leaderboard(30, AddDays(kNow, 21), 10))), Totals({{b, 3}, {c, 2}}));
}

TEST_F(StoreTest, LeaderboardTiesByUserId) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    const std::string referrer = NewUser();
    ids.push_back(referrer);
    EXPECT_TRUE(Track(NewCode(referrer), NewUser()));
  }
  std::sort(ids.begin(), ids.end());
  const auto rows = Must(store_->Leaderboard(std::nullopt, kNow, 10));
  ASSERT_EQ(rows.size(), 3U);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rows[i].user_id, ids[i]);
    EXPECT_EQ(rows[i].email, std::nullopt);
  }
}

TEST_F(StoreTest, AnalyticsCountsCohortAndCodes) {
  const TimePoint old = AddDays(kNow, -40);
  const std::string referrer = NewUser();
  const auto code = NewCode(referrer, AddDays(kNow, -100));
  const std::vector<std::pair<TimePoint, bool>> referrals{
      {old, true}, {old, false}, {kNow, true}, {kNow, false}, {kNow, false}};
  for (const auto& [created, converted] : referrals) {
    const std::string referred = NewUser();
    EXPECT_TRUE(Track(code, referred, created));
    if (converted) {
      EXPECT_TRUE(Convert(referred, created).has_value());
    }
  }
  NewCode(NewUser(), kNow, Hours(kNow, 1));  // active now, expired in two hours
  NewCode(NewUser(), old, AddDays(old, 1));  // expired but still flagged active

  const auto all = Must(store_->Analytics(std::nullopt, kNow));
  EXPECT_EQ(all.total_referrals, 5);
  EXPECT_EQ(all.converted_referrals, 2);
  EXPECT_EQ(all.total_rewards_awarded, 2);
  EXPECT_EQ(all.active_codes, 2);
  EXPECT_EQ(all.expired_codes, 1);

  const auto month = Must(store_->Analytics(30, Hours(kNow, 2)));
  EXPECT_EQ(month.total_referrals, 3);
  EXPECT_EQ(month.converted_referrals, 1);
  EXPECT_EQ(month.total_rewards_awarded, 1);
  EXPECT_EQ(month.active_codes, 1);
  EXPECT_EQ(month.expired_codes, 2);

  const auto empty = Must(store_->Analytics(7, AddDays(kNow, 100)));
  EXPECT_EQ(empty.total_referrals, 0);
  EXPECT_EQ(empty.total_rewards_awarded, 0);
}

TEST_F(StoreTest, DailyCountsGroupsByUtcDay) {
  const TimePoint day1 = At("2025-06-10T23:59:59.999Z");
  const TimePoint day1b = At("2025-06-10T00:00:00.000Z");
  const TimePoint day3 = At("2025-06-12T08:00:00.000Z");
  const std::string referrer = NewUser();
  const auto code = NewCode(referrer, AddDays(kNow, -30));
  const std::string r1 = NewUser();
  const std::string r2 = NewUser();
  const std::string r3 = NewUser();
  EXPECT_TRUE(Track(code, r1, day1));
  EXPECT_TRUE(Track(code, r2, day1b));
  EXPECT_TRUE(Track(code, r3, day3));
  EXPECT_TRUE(Convert(r1, day3).has_value());
  EXPECT_TRUE(Convert(r3, kNow).has_value());

  const auto counts =
      Must(store_->DailyCounts(UtcDayNumber(At("2025-06-09T00:00:00.000Z")), UtcDayNumber(kNow)));
  ASSERT_EQ(counts.size(), 3U);
  EXPECT_EQ(counts[0].date, "2025-06-10");
  EXPECT_EQ(counts[0].signups, 2);
  EXPECT_EQ(counts[0].conversions, 0);
  EXPECT_EQ(counts[1].date, "2025-06-12");
  EXPECT_EQ(counts[1].signups, 1);
  EXPECT_EQ(counts[1].conversions, 1);
  EXPECT_EQ(counts[2].date, "2025-06-15");
  EXPECT_EQ(counts[2].signups, 0);
  EXPECT_EQ(counts[2].conversions, 1);

  const auto from_day2 =
      Must(store_->DailyCounts(UtcDayNumber(At("2025-06-11T00:00:00.000Z")), UtcDayNumber(kNow)));
  ASSERT_EQ(from_day2.size(), 2U);
  EXPECT_EQ(from_day2[0].date, "2025-06-12");

  // Nothing after now's day.
  const auto until_day1 = Must(store_->DailyCounts(UtcDayNumber(At("2025-06-01T00:00:00.000Z")),
                                                   UtcDayNumber(At("2025-06-10T01:00:00.000Z"))));
  ASSERT_EQ(until_day1.size(), 1U);
  EXPECT_EQ(until_day1[0].signups, 2);
}

// --- referral links: clicks (contract section 12) ----------------------------------------------

// Counts a click; true when it was counted now.
bool Click(Store& store, const domain::ReferralCode& code, std::int64_t day,
           const std::string& visitor) {
  const domain::Click click{code.id, code.user_id, day, visitor};
  return Must(domain::Transact(store, [&](WriteTx& tx) { return tx.InsertClick(click); }));
}

TEST_F(StoreTest, LookupLinkFindsTheCodeAndWhetherTheVisitorsClickIsCounted) {
  const auto code = NewCode(NewUser());
  const std::int64_t today = UtcDayNumber(kNow);
  EXPECT_FALSE(Must(store_->LookupLink("NOSUCHCODE", today, "v1")).has_value());
  auto found = Must(store_->LookupLink(code.code, today, "v1"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->code.id, code.id);
  EXPECT_EQ(found->code.user_id, code.user_id);
  EXPECT_TRUE(found->code.is_active);
  EXPECT_FALSE(found->counted);
  EXPECT_TRUE(Click(*store_, code, today, "v1"));
  EXPECT_TRUE(Must(store_->LookupLink(code.code, today, "v1"))->counted);
  EXPECT_FALSE(Must(store_->LookupLink(code.code, today, "v2"))->counted);
  EXPECT_FALSE(Must(store_->LookupLink(code.code, today + 1, "v1"))->counted);
  // Inactive codes are found too: the domain decides.
  MustOk(Step([&](WriteTx& tx) { return tx.DeactivateCode(code.id); }));
  EXPECT_FALSE(Must(store_->LookupLink(code.code, today, "v1"))->code.is_active);
}

TEST_F(StoreTest, ClicksCountOncePerCodeVisitorAndDay) {
  const std::string referrer = NewUser();
  const auto code = NewCode(referrer);
  const auto other = NewCode(NewUser());
  const std::int64_t today = UtcDayNumber(kNow);
  EXPECT_TRUE(Click(*store_, code, today, "visitor-a"));
  EXPECT_FALSE(Click(*store_, code, today, "visitor-a"));     // same visitor, same day
  EXPECT_TRUE(Click(*store_, code, today, "visitor-b"));      // another visitor
  EXPECT_TRUE(Click(*store_, code, today + 1, "visitor-a"));  // the next UTC day
  EXPECT_TRUE(Click(*store_, other, today, "visitor-a"));     // another code
  EXPECT_FALSE(Click(*store_, other, today, "visitor-a"));

  EXPECT_EQ(Must(store_->GetReferrerStats(referrer)).clicks, 3);
  EXPECT_EQ(Must(store_->GetReferrerStats(other.user_id)).clicks, 1);
  // Clicks alone make no referrer of the leaderboard.
  EXPECT_TRUE(Must(store_->Leaderboard(std::nullopt, kNow, 10)).empty());

  const TimePoint tomorrow = AddDays(kNow, 1);
  EXPECT_EQ(Must(store_->Analytics(std::nullopt, tomorrow)).clicks, 4);
  EXPECT_EQ(Must(store_->Analytics(domain::kWeekDays, tomorrow)).clicks, 4);
  EXPECT_EQ(Must(store_->Analytics(domain::kWeekDays, AddDays(kNow, 7))).clicks, 1);
  EXPECT_EQ(Must(store_->Analytics(domain::kWeekDays, AddDays(kNow, 8))).clicks, 0);
  EXPECT_EQ(Must(store_->Analytics(std::nullopt, AddDays(kNow, 8))).clicks, 4);

  const auto days = Must(store_->DailyCounts(today - 1, today + 1));
  ASSERT_EQ(days.size(), 2U);
  EXPECT_EQ(days[0], (domain::DailyCount{FormatDate(kNow), 0, 0, 3}));
  EXPECT_EQ(days[1], (domain::DailyCount{FormatDate(tomorrow), 0, 0, 1}));

  // The aggregates agree with a recount, and a rebuild keeps them.
  EXPECT_EQ(Must(domain::CheckReadModels(*store_, tomorrow)), std::vector<std::string>{});
  MustOk(store_->RebuildAggregates(tomorrow));
  EXPECT_EQ(Must(store_->GetReferrerStats(referrer)).clicks, 3);
  EXPECT_EQ(Must(store_->Analytics(std::nullopt, tomorrow)).clicks, 4);
  EXPECT_EQ(Must(store_->DailyCounts(today - 1, today + 1)), days);
  EXPECT_EQ(Must(domain::CheckReadModels(*store_, tomorrow)), std::vector<std::string>{});
}

TEST_F(StoreTest, RaceInsertClickCountsOnce) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const auto code = NewCode(NewUser());
    std::atomic<int> counted{0};
    RunConcurrently(40, [&](int i) {
      if (Click(*stores[static_cast<std::size_t>(i) % stores.size()], code, UtcDayNumber(kNow),
                "the-same-visitor")) {
        ++counted;
      }
    });
    EXPECT_EQ(counted.load(), 1);
    EXPECT_EQ(Must(store_->GetReferrerStats(code.user_id)).clicks, 1);
  }
}

TEST_F(StoreTest, AuditRoundTripFilterOrderAndLimit) {
  domain::AuditEntry entry;
  entry.id = NewId();
  entry.service = "automation_worker";
  entry.action = "job_run";
  entry.status = domain::AuditStatus::kFailed;
  entry.user_id = std::nullopt;
  entry.details = {{"count", std::int64_t{42}},
                   {"dry", true},
                   {"job", std::string("expire_codes")},
                   {"quote", std::string("\"{}'; --")},
                   {"ratio", 0.5}};
  entry.error_message = "boom";
  entry.created_at = At("2025-06-15T12:00:00.007Z");
  auto append = [&](const domain::AuditEntry& e) {
    MustOk(Step([&](WriteTx& tx) { return tx.AppendAudit(e); }));
  };
  append(entry);

  const std::string user = NewUser();
  const domain::AuditEntry later{
      NewId(), "referral", "referral_refused", domain::AuditStatus::kFailed,
      user,    {},         std::nullopt,       Hours(kNow, 1)};
  append(later);

  const auto all = Must(store_->ListAudit(std::nullopt, {10, std::nullopt}));
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0].id, later.id);
  EXPECT_EQ(all[0].user_id, user);
  EXPECT_TRUE(all[0].details.empty());
  EXPECT_EQ(all[0].error_message, std::nullopt);

  const auto& got = all[1];
  EXPECT_EQ(got.id, entry.id);
  EXPECT_EQ(got.service, entry.service);
  EXPECT_EQ(got.action, entry.action);
  EXPECT_EQ(got.status, entry.status);
  EXPECT_EQ(got.user_id, std::nullopt);
  EXPECT_EQ(got.details, entry.details);  // every type survives (keys come back sorted)
  EXPECT_EQ(got.error_message, "boom");
  EXPECT_EQ(got.created_at, entry.created_at);

  const auto worker = Must(store_->ListAudit(std::string("automation_worker"), {10, std::nullopt}));
  ASSERT_EQ(worker.size(), 1U);
  EXPECT_EQ(worker[0].id, entry.id);
  EXPECT_EQ(Must(store_->ListAudit(std::nullopt, {1, std::nullopt})).size(), 1U);
  EXPECT_TRUE(Must(store_->ListAudit(std::string("nobody"), {10, std::nullopt})).empty());

  // Equal timestamps: newest id first.
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    const domain::AuditEntry same{NewId(),      "tie", "x",          domain::AuditStatus::kSuccess,
                                  std::nullopt, {},    std::nullopt, kNow};
    ids.push_back(same.id);
    append(same);
  }
  std::sort(ids.rbegin(), ids.rend());
  const auto ties = Must(store_->ListAudit(std::string("tie"), {10, std::nullopt}));
  ASSERT_EQ(ties.size(), 3U);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(ties[i].id, ids[i]);
}

// --- paged lists (keyset, newest first) and personal data --------------------------------------

// A reward of `user` created at `at` (no source referral: as many as a test wants).
domain::Reward LooseReward(const std::string& id, const std::string& user, TimePoint at) {
  domain::Reward reward;
  reward.id = id;
  reward.user_id = user;
  reward.type = domain::RewardType::kFreePremium;
  reward.value.days = 30;
  reward.created_at = at;
  return reward;
}

TEST_F(StoreTest, RewardsArePagedNewestFirstAndPagesStayPutWhileRowsAreInserted) {
  const std::string user = NewUser();
  std::vector<domain::Reward> rewards;
  // Seven rewards, three of them at one instant (ordered by id among themselves).
  for (int i = 0; i < 7; ++i) {
    rewards.push_back(LooseReward(NewId(), user, Hours(kNow, i < 3 ? 0 : i)));
  }
  const auto insert = [&](const domain::Reward& r) {
    MustOk(Step([&](WriteTx& tx) { return tx.InsertReward(r); }));
  };
  for (const auto& r : rewards) insert(r);
  auto expected = rewards;
  std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
    return std::tie(a.created_at, a.id) > std::tie(b.created_at, b.id);
  });

  const auto page1 = Must(store_->ListRewards(user, {3, std::nullopt}));
  ASSERT_EQ(page1.size(), 3U);
  std::vector<std::string> seen;
  for (const auto& r : page1) seen.push_back(r.id);
  // Rows inserted between pages: newer ones, and one at the instant of the page's last row.
  insert(LooseReward(NewId(), user, Hours(kNow, 100)));
  insert(LooseReward("ffffffff-ffff-7fff-bfff-ffffffffffff", user, page1.back().created_at));
  std::optional<domain::PageKey> after = domain::PageKey{page1.back().created_at, page1.back().id};
  while (after) {
    const auto page = Must(store_->ListRewards(user, {3, after}));
    for (const auto& r : page) seen.push_back(r.id);
    after = page.size() == 3 ? std::optional<domain::PageKey>(
                                   domain::PageKey{page.back().created_at, page.back().id})
                             : std::nullopt;
  }
  std::vector<std::string> want;
  for (const auto& r : expected) want.push_back(r.id);
  EXPECT_EQ(seen, want);  // every row that existed at the first page, once, in order
  EXPECT_EQ(Must(store_->ListRewards(user, {500, std::nullopt})).size(), 9U);
  EXPECT_TRUE(Must(store_->ListRewards(NewUser(), {5, std::nullopt})).empty());
}

TEST_F(StoreTest, ReferralsAreListedWithTheirCodeAndReferredEmailFilteredAndPaged) {
  const std::string alice = NewUser("alice@example.com");
  const std::string bob = NewUser("bob@example.com");
  const auto alice_code = NewCode(alice);
  const auto bob_code = NewCode(bob);
  std::vector<std::string> referred;
  for (int i = 0; i < 4; ++i) {
    referred.push_back(NewUser("r" + std::to_string(i) + "@example.com"));
    ASSERT_TRUE(Track(alice_code, referred.back(), Hours(kNow, i)));
  }
  ASSERT_TRUE(Track(bob_code, NewUser(), Hours(kNow, 10)));
  ASSERT_TRUE(Convert(referred[1], Hours(kNow, 20)));

  const auto mine = Must(store_->ListReferrals({alice, std::nullopt}, {10, std::nullopt}));
  ASSERT_EQ(mine.size(), 4U);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(mine[i].referral.referred_user_id, referred[3 - i]);  // newest first
    EXPECT_EQ(mine[i].code, alice_code.code);
    EXPECT_EQ(mine[i].referred_email, "r" + std::to_string(3 - i) + "@example.com");
  }
  EXPECT_EQ(mine[2].referral.status, domain::ReferralStatus::kConverted);
  EXPECT_EQ(mine[2].referral.converted_at, Hours(kNow, 20));

  const auto all = Must(store_->ListReferrals({}, {10, std::nullopt}));
  ASSERT_EQ(all.size(), 5U);
  EXPECT_EQ(all[0].code, bob_code.code);
  EXPECT_EQ(all[0].referred_email, std::nullopt);  // a user without an email

  const auto converted =
      Must(store_->ListReferrals({std::nullopt, domain::ReferralStatus::kConverted}, {10, {}}));
  ASSERT_EQ(converted.size(), 1U);
  EXPECT_EQ(converted[0].referral.referred_user_id, referred[1]);
  EXPECT_EQ(Must(store_->ListReferrals({alice, domain::ReferralStatus::kPending}, {10, {}})).size(),
            3U);

  const auto first = Must(store_->ListReferrals({alice, std::nullopt}, {3, std::nullopt}));
  const auto rest = Must(store_->ListReferrals(
      {alice, std::nullopt},
      {3, domain::PageKey{first.back().referral.created_at, first.back().referral.id}}));
  ASSERT_EQ(rest.size(), 1U);
  EXPECT_EQ(rest[0].referral.referred_user_id, referred[0]);
  EXPECT_EQ(Must(store_->FindReferralOf(referred[2]))->referrer_user_id, alice);
  EXPECT_EQ(Must(store_->FindReferralOf(alice)), std::nullopt);
}

TEST_F(StoreTest, AuditIsPagedAfterAKey) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    const domain::AuditEntry e{NewId(),      "paged", "x",          domain::AuditStatus::kSuccess,
                               std::nullopt, {},      std::nullopt, Hours(kNow, i % 2)};
    ids.push_back(e.id);
    MustOk(Step([&](WriteTx& tx) { return tx.AppendAudit(e); }));
  }
  const auto all = Must(store_->ListAudit(std::string("paged"), {10, std::nullopt}));
  ASSERT_EQ(all.size(), 5U);
  const auto after_two = Must(
      store_->ListAudit(std::string("paged"), {2, domain::PageKey{all[1].created_at, all[1].id}}));
  ASSERT_EQ(after_two.size(), 2U);
  EXPECT_EQ(after_two[0].id, all[2].id);
  EXPECT_EQ(after_two[1].id, all[3].id);
}

TEST_F(StoreTest, UpsertUserRefusesAnErasedUserAndErasingIsIdempotent) {
  const std::string user = NewUser("gone@example.com");
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.MarkUserErased(NewId(), kNow); })),
            std::nullopt);
  const auto first = Must(Step([&](WriteTx& tx) { return tx.MarkUserErased(user, kNow); }));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->email, "gone@example.com");
  EXPECT_FALSE(first->already_erased);
  EXPECT_EQ(first->erased_at, kNow);
  const auto again =
      Must(Step([&](WriteTx& tx) { return tx.MarkUserErased(user, Hours(kNow, 1)); }));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->email, std::nullopt);
  EXPECT_TRUE(again->already_erased);
  EXPECT_EQ(again->erased_at, kNow);  // the first erasure's time stays

  const auto stored = Must(store_->FindUser(user));
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->email, std::nullopt);
  EXPECT_EQ(stored->erased_at, kNow);
  // The provisioning step refuses it, with or without an email claim, and writes nothing.
  for (const auto& email :
       {std::optional<std::string>("gone@example.com"), std::optional<std::string>()}) {
    const Status upserted = Step([&](WriteTx& tx) { return tx.UpsertUser({user, email}, kNow); });
    ASSERT_FALSE(upserted);
    EXPECT_EQ(upserted.error().reason, Reason::kUserErased);
  }
  EXPECT_EQ(Must(store_->FindUser(user))->email, std::nullopt);
  // Everyone else is provisioned as before.
  const std::string other = NewUser("other@example.com");
  MustOk(Step([&](WriteTx& tx) { return tx.UpsertUser({other, "new@example.com"}, kNow); }));
  EXPECT_EQ(Must(store_->FindUser(other))->email, "new@example.com");
}

TEST_F(StoreTest, ErasureScrubsTheEmailFromEveryTableAndKeepsTheCounts) {
  const std::string email = "erase.me+tag@example.com";
  const auto p = NewPendingPair();
  const std::string user = NewUser(email);
  const auto code = NewCode(user);
  ASSERT_TRUE(Track(p.code, user));  // the user is referred by p.referrer
  ASSERT_TRUE(Convert(user));
  const std::string bystander = NewUser("bystander@example.com");

  // Free text that holds the email (as an earlier version, or a message, might have stored it).
  const domain::AuditEntry about{NewId(),
                                 "referral",
                                 "note",
                                 domain::AuditStatus::kFailed,
                                 user,
                                 {{"contact", email}, {"text", "mail " + email + " today"}},
                                 "could not reach " + email,
                                 kNow};
  const domain::AuditEntry other{NewId(),      "referral",
                                 "note",       domain::AuditStatus::kSuccess,
                                 bystander,    {{"contact", std::string("bystander@example.com")}},
                                 std::nullopt, kNow};
  MustOk(Step([&](WriteTx& tx) { return tx.AppendAudit(about); }));
  MustOk(Step([&](WriteTx& tx) { return tx.AppendAudit(other); }));
  const auto event =
      domain::MakeEvent(NewId(), kNow, domain::events::BadgeAwarded{NewId(), user, "for " + email});
  AppendEvents({event});
  ASSERT_TRUE(InsertKey(NewCompletedKey(user, "k1", {201, "", "{\"email\":\"" + email + "\"}"})));
  ASSERT_TRUE(InsertKey(NewCompletedKey(bystander, "k2", {200, "", "{\"to\":\"" + email + "\"}"})));

  const auto stats_before = Must(store_->GetReferrerStats(p.referrer));
  const auto analytics_before = Must(store_->Analytics(std::nullopt, kNow));

  const auto erase = [&] {
    return Must(Step([&](WriteTx& tx) -> Result<std::int64_t> {
      auto erased = tx.MarkUserErased(user, kNow);
      if (!erased) return erased.error();
      if ((*erased)->email) {
        if (auto scrubbed = tx.ScrubEmail(*(*erased)->email); !scrubbed) return scrubbed.error();
      }
      auto deactivated = tx.DeactivateCodesOf(user);
      if (!deactivated) return deactivated;
      if (auto dropped = tx.DeleteIdempotencyKeysOf(user); !dropped) return dropped.error();
      return deactivated;
    }));
  };
  EXPECT_EQ(erase(), 1);
  EXPECT_EQ(erase(), 0);  // again: nothing left to do

  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM users WHERE email = '" + email + "'"), "0");
  EXPECT_EQ(Must(store_->FindUser(bystander))->email, "bystander@example.com");
  for (const auto& entry : Must(store_->ListAudit(std::nullopt, {100, std::nullopt}))) {
    for (const auto& [key, value] : entry.details) {
      if (const auto* text = std::get_if<std::string>(&value)) {
        EXPECT_EQ(text->find(email), std::string::npos) << key;
      }
    }
    EXPECT_EQ(entry.error_message.value_or("").find(email), std::string::npos);
    if (entry.id == about.id) {
      EXPECT_EQ(entry.details, (domain::Details{{"contact", std::string("[erased]")},
                                                {"text", std::string("mail [erased] today")}}));
    }
    if (entry.id == other.id) {
      EXPECT_EQ(entry.details, other.details);
    }
  }
  domain::EventPosition next;
  const auto events = ReadAtLeast(next, 1);
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(std::get<domain::events::BadgeAwarded>(events[0].data).badge, "for [erased]");
  EXPECT_EQ(FindKey(user, "k1"), std::nullopt);  // the user's own keys are dropped
  const auto kept = FindKey(bystander, "k2");
  ASSERT_TRUE(kept && kept->response);
  EXPECT_EQ(kept->response->body, "{\"to\":\"[erased]\"}");

  EXPECT_EQ(Must(store_->FindNewestCode(user))->is_active, false);
  EXPECT_EQ(code.user_id, user);
  EXPECT_EQ(Must(store_->GetReferrerStats(p.referrer)), stats_before);
  auto analytics_after = Must(store_->Analytics(std::nullopt, kNow));
  EXPECT_EQ(analytics_after.active_codes, analytics_before.active_codes - 1);
  EXPECT_EQ(analytics_after.expired_codes, analytics_before.expired_codes + 1);
  analytics_after.active_codes = analytics_before.active_codes;
  analytics_after.expired_codes = analytics_before.expired_codes;
  EXPECT_EQ(analytics_after, analytics_before);
  // The aggregates still agree with a recount of the base tables.
  EXPECT_EQ(Must(store_->RecountReadModels(kNow)).analytics.at(0),
            Must(store_->Analytics(std::nullopt, kNow)));
}

TEST_F(StoreTest, ExportHoldsEveryRowThatConcernsTheUser) {
  EXPECT_EQ(Must(store_->ExportUser(NewId())), std::nullopt);
  const auto p = NewPendingPair();
  const std::string user = p.referred;
  const auto code = NewCode(user);
  const std::string friend_id = NewUser();
  ASSERT_TRUE(Track(code, friend_id, Hours(kNow, 1)));
  ASSERT_TRUE(Convert(friend_id, Hours(kNow, 2)));  // a reward for the user
  ASSERT_TRUE(Must(Step([&](WriteTx& tx) {
    return tx.InsertSubscription({NewId(), user, "premium", "active", "sandbox", "ref", kNow});
  })));
  const domain::AuditEntry mine{NewId(), "referral", "x",          domain::AuditStatus::kSuccess,
                                user,    {},         std::nullopt, kNow};
  const domain::AuditEntry naming{NewId(),      "referral",
                                  "y",          domain::AuditStatus::kSuccess,
                                  friend_id,    {{"referrerUserId", user}},
                                  std::nullopt, kNow};
  const domain::AuditEntry unrelated{
      NewId(), "referral", "z", domain::AuditStatus::kSuccess, friend_id, {}, std::nullopt, kNow};
  for (const auto& e : {mine, naming, unrelated}) {
    MustOk(Step([&](WriteTx& tx) { return tx.AppendAudit(e); }));
  }
  AppendEvents(
      {domain::MakeEvent(NewId(), kNow, domain::events::CodeGenerated{code.code, user, kNow}),
       MakeEvent(2)});

  const auto exported = Must(store_->ExportUser(user));
  ASSERT_TRUE(exported);
  EXPECT_EQ(exported->user.id, user);
  ASSERT_EQ(exported->codes.size(), 1U);
  EXPECT_EQ(exported->codes[0].id, code.id);
  ASSERT_EQ(exported->referrals_made.size(), 1U);
  EXPECT_EQ(exported->referrals_made[0].referred_user_id, friend_id);
  ASSERT_TRUE(exported->referred_by);
  EXPECT_EQ(exported->referred_by->referrer_user_id, p.referrer);
  ASSERT_EQ(exported->rewards.size(), 1U);
  EXPECT_EQ(exported->subscriptions.size(), 1U);
  std::set<std::string> logs;
  for (const auto& e : exported->automation_logs) logs.insert(e.id);
  EXPECT_EQ(logs, (std::set<std::string>{mine.id, naming.id}));
  ASSERT_EQ(exported->events.size(), 1U);
  EXPECT_EQ(exported->events[0].type(), domain::EventType::kCodeGenerated);
}

// --- races: exactly once, within one handle and across two (as two processes would) ----------

TEST_F(StoreTest, RaceInsertReferralOneWinner) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const auto code = NewCode(NewUser());
    const std::string referred = NewUser();
    std::atomic<int> inserted{0};
    RunConcurrently(50, [&](int i) {
      if (Track(code, referred, kNow, stores[static_cast<std::size_t>(i) % stores.size()])) {
        ++inserted;
      }
    });
    EXPECT_EQ(inserted.load(), 1);
    EXPECT_EQ(Must(store_->GetReferrerStats(code.user_id)).total_referrals, 1);
  }
}

TEST_F(StoreTest, RaceConversionOneReward) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const auto p = NewPendingPair();
    std::atomic<int> conversions{0};
    RunConcurrently(20, [&](int i) {
      Store* store = stores[static_cast<std::size_t>(i) % stores.size()];
      if (Convert(p.referred, kNow, AddDays(kNow, 90), store)) ++conversions;
    });
    EXPECT_EQ(conversions.load(), 1);
    EXPECT_EQ(Must(store_->ListRewards(p.referrer, {})).size(), 1U);
    EXPECT_EQ(Must(store_->GetReferrerStats(p.referrer)).converted_referrals, 1);
  }
}

TEST_F(StoreTest, RaceClaimRewardOneWinner) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const auto p = NewPendingPair();
    const auto reward = Convert(p.referred)->reward;
    std::atomic<int> claimed{0};
    RunConcurrently(20, [&](int i) {
      if (Claim(p.referrer, reward.id, kNow, stores[static_cast<std::size_t>(i) % stores.size()])) {
        ++claimed;
      }
    });
    EXPECT_EQ(claimed.load(), 1);
  }
}

TEST_F(StoreTest, RaceInsertCodeOneActivePerUser) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const std::string user = NewUser();
    std::vector<domain::ReferralCode> codes;
    for (int i = 0; i < 50; ++i) codes.push_back(MakeCode(user, kNow, AddDays(kNow, 30)));
    std::vector<CodeInsert> outcomes(50);
    RunConcurrently(50, [&](int i) {
      const auto idx = static_cast<std::size_t>(i);
      outcomes[idx] = Must(Step([&](WriteTx& tx) { return tx.InsertCode(codes[idx]); },
                                stores[idx % stores.size()]));
    });
    EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), CodeInsert::kInserted), 1);
    EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), CodeInsert::kUserHasActiveCode), 49);
    const auto winner = Must(store_->FindNewestCode(user));
    ASSERT_TRUE(winner.has_value());
    for (std::size_t i = 0; i < 50; ++i) {
      if (outcomes[i] == CodeInsert::kInserted) {
        EXPECT_EQ(codes[i].id, winner->id);
      }
    }
  }
}

TEST_F(StoreTest, RaceInsertBadgeOneBadge) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const std::string master = NewUser();
    const auto code = NewCode(master);
    for (int i = 0; i < 3; ++i) {
      const std::string referred = NewUser();
      EXPECT_TRUE(Track(code, referred));
      EXPECT_TRUE(Convert(referred).has_value());
    }
    std::atomic<int> granted{0};
    RunConcurrently(8, [&](int i) {
      const auto badge = MakeBadge(master, kNow);
      if (Must(Step([&](WriteTx& tx) { return tx.InsertBadge(badge, 3); },
                    stores[static_cast<std::size_t>(i) % stores.size()]))) {
        ++granted;
      }
    });
    EXPECT_EQ(granted.load(), 1);
    int badges = 0;
    for (const auto& r : Must(store_->ListRewards(master, {}))) {
      if (r.type == domain::RewardType::kBadge) ++badges;
    }
    EXPECT_EQ(badges, 1);
  }
}

TEST_F(StoreTest, RaceInsertSubscriptionOneActive) {
  const auto stores = Handles(2);
  const std::string user = NewUser();
  std::atomic<int> inserted{0};
  RunConcurrently(16, [&](int i) {
    const domain::Subscription sub{
        NewUuidV7(kNow, random_), user, "premium", "active", "sandbox", "ref", kNow};
    if (Must(Step([&](WriteTx& tx) { return tx.InsertSubscription(sub); },
                  stores[static_cast<std::size_t>(i) % stores.size()]))) {
      ++inserted;
    }
  });
  EXPECT_EQ(inserted.load(), 1);
}

TEST_F(StoreTest, RaceClaimScheduledRunOneInstanceRunsEachSlot) {
  const auto stores = Handles(2);
  const TimePoint slot = At("2025-06-15T02:00:00.000Z");
  auto claim = [&](const std::string& job, TimePoint s, Store* store) {
    return Must(Step([&](WriteTx& tx) { return tx.ClaimScheduledRun(job, s, kNow); }, store));
  };
  std::atomic<int> claimed{0};
  RunConcurrently(16, [&](int i) {
    if (claim("expire-codes", slot, stores[static_cast<std::size_t>(i) % stores.size()])) {
      ++claimed;
    }
  });
  EXPECT_EQ(claimed.load(), 1);
  // Another job, or the same job's next slot, is a separate claim.
  EXPECT_TRUE(claim("award-badges", slot, store_.get()));
  EXPECT_TRUE(claim("expire-codes", slot + std::chrono::hours{24}, store_.get()));
  EXPECT_FALSE(claim("expire-codes", slot, store_.get()));
}

// --- the event outbox ----------------------------------------------------------------------

TEST_F(StoreTest, EventsArePagedInCommitOrderAndTheEndCursorSeesOnlyNewerOnes) {
  const auto empty = Must(store_->ListEvents({}, std::nullopt, 100));
  EXPECT_TRUE(empty.events.empty());
  EXPECT_EQ(empty.next, domain::EventPosition{});  // nothing listed: where it was asked from

  std::vector<domain::Event> appended;
  for (const int count : {2, 1, 3}) {
    std::vector<domain::Event> batch;
    for (int i = 0; i < count; ++i) batch.push_back(MakeEvent(static_cast<int>(appended.size())));
    AppendEvents(batch);
    appended.insert(appended.end(), batch.begin(), batch.end());
  }
  domain::EventPosition end;
  EXPECT_EQ(ReadAtLeast(end, appended.size()), appended);
  // Every field round-trips, in the order appended, and once listed the feed does not change.
  const auto page = Must(store_->ListEvents({}, std::nullopt, 100));
  EXPECT_EQ(page.events, appended);
  EXPECT_EQ(page.next, end);

  // The end of the feed: listing from there again gives nothing, then only what comes next.
  auto tail = Must(store_->ListEvents(end, std::nullopt, 100));
  EXPECT_TRUE(tail.events.empty());
  EXPECT_EQ(tail.next, end);
  const std::vector<domain::Event> later{MakeEvent(1), MakeEvent(2)};
  AppendEvents(later);
  domain::EventPosition next = end;
  EXPECT_EQ(ReadAtLeast(next, later.size()), later);
  EXPECT_NE(next, end);
}

TEST_F(StoreTest, EventPagesFollowTheCursorTheLimitAndTheType) {
  std::vector<domain::Event> appended;
  for (int i = 0; i < 10; ++i) appended.push_back(MakeEvent(i));
  for (const auto& e : appended) AppendEvents({e});
  domain::EventPosition end;
  ASSERT_EQ(ReadAtLeast(end, appended.size()), appended);

  for (const int limit : {1, 3, 10, 500}) {
    SCOPED_TRACE(limit);
    domain::EventPosition next;
    EXPECT_EQ(ReadAll(next, limit), appended);
  }
  const auto first = Must(store_->ListEvents({}, std::nullopt, 4));
  ASSERT_EQ(first.events.size(), 4U);
  const auto second = Must(store_->ListEvents(first.next, std::nullopt, 4));
  ASSERT_EQ(second.events.size(), 4U);
  EXPECT_EQ(second.events.front(), appended[4]);
  // A cursor read again gives the same page.
  EXPECT_EQ(Must(store_->ListEvents(first.next, std::nullopt, 4)).events, second.events);

  // By type: only that type's events, in the same order, paged the same way.
  std::vector<domain::Event> badges;
  for (const auto& e : appended) {
    if (e.type() == domain::EventType::kBadgeAwarded) badges.push_back(e);
  }
  ASSERT_EQ(badges.size(), 3U);
  domain::EventPosition next;
  EXPECT_EQ(ReadAll(next, 2, domain::EventType::kBadgeAwarded), badges);
  EXPECT_TRUE(Must(store_->ListEvents({}, domain::EventType::kRewardRevoked, 10)).events.empty());
  // A badge appended after the filtered feed's end comes next, past the other types before it.
  const std::vector<domain::Event> more{MakeEvent(0), MakeEvent(1)};
  AppendEvents(more);
  EXPECT_EQ(ReadAtLeast(next, 1, domain::EventType::kBadgeAwarded),
            std::vector<domain::Event>{more[1]});
}

TEST_F(StoreTest, EventsOfARolledBackTransactionAreNeverListed) {
  const auto dropped = MakeEvent(0);
  const auto refused = Step([&](WriteTx& tx) -> Status {
    if (auto appended = tx.AppendEvent(dropped); !appended) return appended;
    return domain::errors::Invalid("refused by the use case");
  });
  ASSERT_FALSE(refused.has_value());
  const auto kept = MakeEvent(1);
  AppendEvents({kept});
  domain::EventPosition next;
  EXPECT_EQ(ReadAtLeast(next, 1), std::vector<domain::Event>{kept});
  // Rolled back before `kept` began, so ordered before it: once `kept` is listed, it never comes.
  domain::EventPosition start;
  EXPECT_EQ(ReadAll(start, 10), std::vector<domain::Event>{kept});
  // An event id is unique.
  const auto again = Step([&](WriteTx& tx) { return tx.AppendEvent(kept); });
  EXPECT_FALSE(again.has_value());
}

// Runs one transaction on `store` that appends `event`, counts `appended` down, then stays open
// until `release` is counted down.
std::thread HoldOpen(Store* store, const domain::Event& event, std::latch& appended,
                     std::latch& release) {
  return std::thread([store, event, &appended, &release] {
    const Status written = store->Write([&](WriteTx& tx) -> Status {
      if (auto done = tx.AppendEvent(event); !done) return done;
      appended.count_down();
      release.wait();
      return {};
    });
    EXPECT_TRUE(written.has_value());
  });
}

// A transaction that appended an event stays open while a younger one commits. On PostgreSQL the
// younger one's event is committed first but ordered after the open one's, so it is held back;
// the open one's event is listed once it commits, never passed over. On SQLite the younger writer
// waits for the open one (one writer at a time). Either way the feed lists both, once, in order.
TEST_F(StoreTest, RaceEventOfAnOlderOpenTransactionIsHeldBackNeverSkipped) {
  const auto stores = Handles(2);
  const auto older = MakeEvent(0);
  const auto younger = MakeEvent(1);
  std::latch appended(1);
  std::latch release(1);
  std::thread open = HoldOpen(stores[0], older, appended, release);
  appended.wait();
  std::thread fast([&] { AppendEvents({younger}, stores[1]); });
  const bool postgres = testing::CurrentBackend() == testing::Backend::kPostgres;
  if (postgres) fast.join();  // committed while the older transaction is open
  const auto page = Must(store_->ListEvents({}, std::nullopt, 100));
  EXPECT_TRUE(page.events.empty()) << "listed past a transaction still running";
  release.count_down();
  open.join();
  if (!postgres) fast.join();
  domain::EventPosition next = page.next;
  EXPECT_EQ(ReadAtLeast(next, 2), (std::vector<domain::Event>{older, younger}));
}

// The other way round: the younger transaction stays open after the older one commits. The older
// one's event is listed, the younger one's only once it commits.
TEST_F(StoreTest, RaceEventOfAYoungerOpenTransactionIsListedWhenItCommits) {
  const auto stores = Handles(2);
  const auto older = MakeEvent(0);
  const auto younger = MakeEvent(1);
  std::latch older_appended(1);
  std::latch older_release(1);
  std::latch younger_appended(1);
  std::latch younger_release(1);
  std::thread first = HoldOpen(stores[0], older, older_appended, older_release);
  older_appended.wait();
  std::thread second = HoldOpen(stores[1], younger, younger_appended, younger_release);
  // PostgreSQL: both are open now. SQLite: the younger one waits for the older one's commit.
  if (testing::CurrentBackend() == testing::Backend::kPostgres) younger_appended.wait();
  older_release.count_down();
  first.join();
  younger_appended.wait();
  domain::EventPosition next;
  EXPECT_EQ(ReadAtLeast(next, 1), std::vector<domain::Event>{older});
  EXPECT_TRUE(ReadAll(next, 100).empty()) << "listed a transaction still running";
  younger_release.count_down();
  second.join();
  EXPECT_EQ(ReadAtLeast(next, 1), std::vector<domain::Event>{younger});
}

// Writers on two handles (as two processes) commit, roll back and hold transactions open while a
// reader pages through the feed with its cursor the whole time: in the end the reader has seen
// every committed event exactly once, none rolled back, each transaction's events together and in
// their order, and each writer's transactions in the order it committed them.
TEST_F(StoreTest, RaceEventFeedReadWhileWritingSeesEveryCommittedEventOnce) {
  const auto stores = Handles(2);
  constexpr int kWriters = 4;
  constexpr int kTransactions = 30;
  std::atomic<int> pages{0};
  std::atomic<bool> writers_done{false};
  // Per writer, its committed transactions' events, in commit order.
  std::vector<std::vector<std::vector<std::string>>> committed(kWriters);
  std::set<std::string> rolled_back;
  std::mutex rolled_back_mu;

  // Set once the writers are done: how many events they committed.
  std::atomic<std::size_t> expected{0};
  std::vector<std::string> seen;
  std::thread reader([&] {
    domain::EventPosition next;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    while (std::chrono::steady_clock::now() < give_up) {
      const bool done = writers_done.load();
      const auto page = Must(stores[1]->ListEvents(next, std::nullopt, 7));
      for (const auto& e : page.events) seen.push_back(e.id);
      next = page.next;
      ++pages;
      if (done && seen.size() >= expected.load() && page.events.empty()) return;
    }
  });
  RunConcurrently(kWriters, [&](int w) {
    Store* store = stores[static_cast<std::size_t>(w) % stores.size()];
    for (int t = 0; t < kTransactions; ++t) {
      std::vector<std::string> ids;
      const bool roll_back = t % 7 == 3;
      // Half the writers hold every fourth transaction open until the reader has read two more
      // pages (on PostgreSQL, other writers commit meanwhile; on SQLite they wait for it).
      const bool slow = w % 2 == 0 && t % 4 == 1;
      const auto written = Step(
          [&](WriteTx& tx) -> Status {
            ids.clear();
            for (int i = 0; i <= (w + t) % 3; ++i) {
              const auto e = MakeEvent(w + t + i);
              if (auto done = tx.AppendEvent(e); !done) return done;
              ids.push_back(e.id);
            }
            if (slow) {
              const int until = pages.load() + 2;
              while (pages.load() < until) std::this_thread::yield();
            }
            if (roll_back) return domain::errors::Invalid("rolled back on purpose");
            return {};
          },
          store);
      if (roll_back) {
        EXPECT_FALSE(written.has_value());
        std::lock_guard lock(rolled_back_mu);
        rolled_back.insert(ids.begin(), ids.end());
      } else {
        MustOk(written);
        committed[static_cast<std::size_t>(w)].push_back(ids);
      }
    }
  });
  std::size_t committed_events = 0;
  for (const auto& transactions : committed) {
    for (const auto& ids : transactions) committed_events += ids.size();
  }
  expected = committed_events;
  writers_done = true;
  reader.join();

  std::map<std::string, std::size_t> position;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_TRUE(position.emplace(seen[i], i).second) << "listed twice: " << seen[i];
    EXPECT_EQ(rolled_back.count(seen[i]), 0U) << "rolled back but listed: " << seen[i];
  }
  std::size_t total = 0;
  for (const auto& transactions : committed) {
    std::size_t previous_end = 0;
    for (const auto& ids : transactions) {
      total += ids.size();
      for (std::size_t i = 0; i < ids.size(); ++i) {
        const auto found = position.find(ids[i]);
        ASSERT_NE(found, position.end()) << "committed but never listed: " << ids[i];
        if (i > 0) {
          EXPECT_EQ(found->second, position.at(ids[i - 1]) + 1) << "a transaction split";
        } else {
          // Committed before the writer's next transaction began: listed before it.
          EXPECT_GE(found->second, previous_end) << "listed before an earlier transaction";
        }
      }
      previous_end = position.at(ids.back()) + 1;
    }
  }
  EXPECT_EQ(seen.size(), total);
  EXPECT_GT(pages.load(), 2);
}

// --- idempotency keys --------------------------------------------------------------------------

TEST_F(StoreTest, IdempotencyKeyInsertAndFind) {
  const std::string user = NewId();  // no foreign key: a key may come before the user row
  // The response comes back byte for byte, from the write side and the read side.
  const domain::StoredResponse response{
      201, "Content-Type: application/json\nX-Extra: a: b\n",
      "{\"message\":\"caf\u00e9 \u2713\",\"requestId\":\"r-1\"}\n\ttail"};
  const auto first = NewCompletedKey(user, "key-1", response);
  EXPECT_TRUE(InsertKey(first));
  EXPECT_EQ(FindKey(user, "key-1"), first);
  EXPECT_EQ(Must(store_->FindIdempotencyKey(user, "key-1")), first);
  EXPECT_FALSE(InsertKey(NewCompletedKey(user, "key-1", {400, "", "{}"})));  // already has it
  EXPECT_EQ(FindKey(user, "key-1"), first);
  EXPECT_TRUE(InsertKey(NewCompletedKey(NewId(), "key-1", response)));  // another caller's
  EXPECT_EQ(FindKey(user, "key-2"), std::nullopt);
  EXPECT_EQ(Must(store_->FindIdempotencyKey(user, "key-2")), std::nullopt);
  // A reservation of an earlier version reads back in progress, without a response.
  const auto reserved = NewKeyRecord(user, "key-3");
  EXPECT_TRUE(InsertKey(reserved));
  EXPECT_EQ(Must(store_->FindIdempotencyKey(user, "key-3")), reserved);
}

TEST_F(StoreTest, IdempotencyKeyReplaceIsConditionalOnTheOwner) {
  const std::string user = NewId();
  const auto first = NewCompletedKey(user, "k", {200, "", "{}"});
  EXPECT_TRUE(InsertKey(first));
  // A replacement replaces everything, the stored response included.
  auto taker = NewCompletedKey(user, "k", {201, "X-A: b\n", "taker"}, Hours(kNow, 30), "def");
  taker.method = "PUT";
  taker.path = "/api/other";
  EXPECT_TRUE(
      Must(Step([&](WriteTx& tx) { return tx.ReplaceIdempotencyKey(taker, first.owner); })));
  EXPECT_EQ(FindKey(user, "k"), taker);
  // A second one who saw the first owner changes nothing.
  const auto late = NewCompletedKey(user, "k", {201, "", "late"}, Hours(kNow, 30), "fff");
  EXPECT_FALSE(
      Must(Step([&](WriteTx& tx) { return tx.ReplaceIdempotencyKey(late, first.owner); })));
  EXPECT_FALSE(Must(Step([&](WriteTx& tx) {
    return tx.ReplaceIdempotencyKey(NewKeyRecord(user, "gone"), first.owner);
  })));
  EXPECT_EQ(FindKey(user, "k"), taker);
}

TEST_F(StoreTest, DeleteExpiredIdempotencyKeysKeepsYoungAndRunningOnes) {
  const std::string user = NewId();
  const TimePoint cutoff = Hours(kNow, -24);
  const auto old_done = NewCompletedKey(user, "old-done", {201, "", "{}"}, Hours(kNow, -25));
  const auto old_dead = NewKeyRecord(user, "old-dead", cutoff);  // at the cutoff: expired
  auto old_running = NewKeyRecord(user, "old-running", Hours(kNow, -25));
  old_running.lease_until = kNow + std::chrono::seconds{1};
  const auto young = NewKeyRecord(user, "young", Hours(kNow, -23));
  for (const auto& r : {old_done, old_dead, old_running, young}) EXPECT_TRUE(InsertKey(r));
  auto purge = [&](int limit) {
    return Must(
        Step([&](WriteTx& tx) { return tx.DeleteExpiredIdempotencyKeys(cutoff, kNow, limit); }));
  };
  EXPECT_EQ(purge(1), 1);  // a batch at most
  EXPECT_EQ(purge(100), 1);
  EXPECT_EQ(purge(100), 0);
  EXPECT_EQ(FindKey(user, "old-done"), std::nullopt);
  EXPECT_EQ(FindKey(user, "old-dead"), std::nullopt);
  EXPECT_TRUE(FindKey(user, "old-running").has_value());
  EXPECT_TRUE(FindKey(user, "young").has_value());
}

TEST_F(StoreTest, RaceInsertIdempotencyKeyOneWinner) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const std::string user = NewId();
    std::vector<domain::IdempotencyRecord> records;
    for (int i = 0; i < 40; ++i) records.push_back(NewKeyRecord(user, "raced"));
    std::atomic<int> inserted{0};
    RunConcurrently(40, [&](int i) {
      const auto idx = static_cast<std::size_t>(i);
      if (InsertKey(records[idx], stores[idx % stores.size()])) ++inserted;
    });
    EXPECT_EQ(inserted.load(), 1);
  }
}

TEST_F(StoreTest, RaceReplaceIdempotencyKeyOneTaker) {
  const auto stores = Handles(2);
  const std::string user = NewId();
  const auto dead = NewKeyRecord(user, "taken-over", Hours(kNow, -1));
  EXPECT_TRUE(InsertKey(dead));
  std::vector<domain::IdempotencyRecord> takers;
  for (int i = 0; i < 20; ++i) takers.push_back(NewKeyRecord(user, "taken-over"));
  std::atomic<int> replaced{0};
  RunConcurrently(20, [&](int i) {
    const auto idx = static_cast<std::size_t>(i);
    if (Must(Step([&](WriteTx& tx) { return tx.ReplaceIdempotencyKey(takers[idx], dead.owner); },
                  stores[idx % stores.size()]))) {
      ++replaced;
    }
  });
  EXPECT_EQ(replaced.load(), 1);
}

// --- the schema itself: constraints refuse what the steps never write ------------------------

TEST_F(StoreTest, SchemaEnforcesExactlyOnce) {
  const auto p = NewPendingPair();
  const auto conversion = *Convert(p.referred);
  const auto badge = MakeBadge(p.referrer, kNow);
  EXPECT_TRUE(Must(Step([&](WriteTx& tx) { return tx.InsertBadge(badge, 1); })));
  const domain::Subscription sub{NewId(), p.referred, "premium", "active", "sandbox", "r", kNow};
  EXPECT_TRUE(Must(Step([&](WriteTx& tx) { return tx.InsertSubscription(sub); })));

  const std::string ts = "'" + FormatIso8601(kNow) + "'";
  const std::string t = testing::CurrentBackend() == testing::Backend::kPostgres ? "TRUE" : "1";
  const std::string f = testing::CurrentBackend() == testing::Backend::kPostgres ? "FALSE" : "0";
  auto q = [](const std::string& s) { return "'" + s + "'"; };
  // Second active code for the referrer.
  EXPECT_FALSE(db_->TryExec(
      "INSERT INTO referral_codes (id, user_id, code, is_active, created_at, expires_at) VALUES (" +
      q(NewId()) + ", " + q(p.referrer) + ", 'OTHER222', " + t + ", " + ts + ", " + ts + ")"));
  // Same code text.
  EXPECT_FALSE(db_->TryExec(
      "INSERT INTO referral_codes (id, user_id, code, is_active, created_at, expires_at) VALUES (" +
      q(NewId()) + ", " + q(p.referred) + ", " + q(p.code.code) + ", " + f + ", " + ts + ", " + ts +
      ")"));
  // Second referrer for the referred user.
  EXPECT_FALSE(db_->TryExec(
      "INSERT INTO referrals (id, referrer_user_id, referred_user_id, referral_code_id, status, "
      "created_at) VALUES (" +
      q(NewId()) + ", " + q(p.referrer) + ", " + q(p.referred) + ", " + q(p.code.id) +
      ", 'pending', " + ts + ")"));
  // Second reward for the same referral.
  EXPECT_FALSE(db_->TryExec(
      "INSERT INTO user_rewards (id, user_id, reward_type, reward_value, is_claimed, created_at, "
      "source_referral_id) VALUES (" +
      q(NewId()) + ", " + q(p.referrer) + ", 'free_premium', '{\"days\":30}', " + f + ", " + ts +
      ", " + q(conversion.referral.id) + ")"));
  // Second badge.
  EXPECT_FALSE(db_->TryExec(
      "INSERT INTO user_rewards (id, user_id, reward_type, reward_value, is_claimed, created_at) "
      "VALUES (" +
      q(NewId()) + ", " + q(p.referrer) + ", 'badge', '{\"badge\":\"x\"}', " + t + ", " + ts +
      ")"));
  // Second active subscription.
  EXPECT_FALSE(db_->TryExec(
      "INSERT INTO subscriptions (id, user_id, tier, status, provider, provider_ref, created_at) "
      "VALUES (" +
      q(NewId()) + ", " + q(p.referred) + ", 'premium', 'active', 'sandbox', 'r', " + ts + ")"));
  // Enum checks and foreign keys.
  EXPECT_FALSE(db_->TryExec("UPDATE referrals SET status = 'weird'"));
  EXPECT_FALSE(db_->TryExec(
      "INSERT INTO referral_codes (id, user_id, code, is_active, created_at, expires_at) VALUES (" +
      q(NewId()) + ", " + q(NewId()) + ", 'NOBODY22', " + f + ", " + ts + ", " + ts + ")"));
  // The seed's "Database Validation" queries run unchanged.
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM (SELECT rc.code, r.status, u1.email AS referrer, "
                        "u2.email AS referred, r.converted_at FROM referrals r "
                        "JOIN referral_codes rc ON r.referral_code_id = rc.id "
                        "JOIN users u1 ON r.referrer_user_id = u1.id "
                        "JOIN users u2 ON r.referred_user_id = u2.id) AS chain"),
            "1");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM (SELECT u.email, ur.reward_type, ur.reward_value, "
                        "ur.is_claimed, ur.created_at FROM user_rewards ur "
                        "JOIN users u ON ur.user_id = u.id) AS rewards"),
            "2");
}

// --- the reward lifecycle (contract §11): hold, revocation, cancellation ------------------------

class RewardLifecycleStoreTest : public StoreTest {
 protected:
  // Converts the pending referral of `referred` with a reward on hold until `claimable`.
  domain::Conversion ConvertHeld(const std::string& referred, TimePoint now, TimePoint claimable,
                                 Store* store = nullptr) {
    return *Must(Step(
        [&](WriteTx& tx) -> Result<std::optional<domain::Conversion>> {
          auto referral = tx.ConvertPendingReferral(referred, now);
          if (!referral) return referral.error();
          if (!*referral) return std::optional<domain::Conversion>();
          auto reward = MakeReward(**referral, now, AddDays(claimable, 90));
          reward.claimable_at = claimable;
          if (auto inserted = tx.InsertReward(reward); !inserted) return inserted.error();
          return std::optional<domain::Conversion>(domain::Conversion{**referral, reward});
        },
        store));
  }

  std::optional<domain::Reward> Revoke(const std::string& referral_id, TimePoint now,
                                       Store* store = nullptr) {
    return Must(Step([&](WriteTx& tx) { return tx.RevokeHeldReward(referral_id, now); }, store));
  }

  std::optional<domain::Subscription> Cancel(const std::string& user, TimePoint now,
                                             bool refund = false, Store* store = nullptr) {
    return Must(Step(
        [&](WriteTx& tx) {
          return tx.CancelActiveSubscription(user, now, refund, std::string("too expensive"));
        },
        store));
  }

  domain::Subscription Subscribe(const std::string& user, TimePoint now) {
    const domain::Subscription sub{NewId(), user, "premium", "active", "sandbox", "ref", now};
    EXPECT_TRUE(Must(Step([&](WriteTx& tx) { return tx.InsertSubscription(sub); })));
    return sub;
  }

  // The aggregates agree with a recount over the base tables.
  void ExpectReadModelsRight(TimePoint now) {
    const auto differences = Must(domain::CheckReadModels(*store_, now));
    EXPECT_TRUE(differences.empty()) << differences.front();
  }
};

TEST_F(RewardLifecycleStoreTest, HeldRewardKeepsItsHoldAndClaimsOnlyFromItsEnd) {
  const auto p = NewPendingPair();
  const TimePoint claimable = AddDays(kNow, 7);
  const auto reward = ConvertHeld(p.referred, kNow, claimable).reward;
  const auto stored = Must(store_->ListRewards(p.referrer, {}));
  ASSERT_EQ(stored.size(), 1U);
  EXPECT_EQ(stored[0].claimable_at, claimable);
  EXPECT_EQ(stored[0].expires_at, AddDays(claimable, 90));
  EXPECT_EQ(stored[0].revoked_at, std::nullopt);
  EXPECT_EQ(domain::RewardStatusAt(stored[0], kNow), domain::RewardStatus::kOnHold);

  const TimePoint just_before = claimable - std::chrono::milliseconds(1);
  EXPECT_FALSE(Claim(p.referrer, reward.id, just_before));  // still on hold
  EXPECT_TRUE(Claim(p.referrer, reward.id, claimable));     // the hold ends at claimable_at
}

TEST_F(RewardLifecycleStoreTest, RevokeHeldRewardOnceAndCountsTheRevokedConversion) {
  const auto p = NewPendingPair();
  const auto conversion = ConvertHeld(p.referred, kNow, AddDays(kNow, 7));
  const auto revoked = Revoke(conversion.referral.id, Hours(kNow, 1));
  ASSERT_TRUE(revoked.has_value());
  EXPECT_EQ(revoked->id, conversion.reward.id);
  EXPECT_EQ(revoked->user_id, p.referrer);
  EXPECT_EQ(revoked->revoked_at, Hours(kNow, 1));
  EXPECT_FALSE(revoked->is_claimed);
  EXPECT_EQ(Revoke(conversion.referral.id, Hours(kNow, 2)), std::nullopt);  // once

  const auto found = Must(Step([&](WriteTx& tx) { return tx.FindReward(conversion.reward.id); }));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->revoked_at, Hours(kNow, 1));
  EXPECT_EQ(domain::RewardStatusAt(*found, AddDays(kNow, 30)), domain::RewardStatus::kRevoked);
  // A revoked reward is never claimed, not even past its hold.
  EXPECT_FALSE(Claim(p.referrer, conversion.reward.id, AddDays(kNow, 8)));

  // The referral stays converted; the badge rule sees the revocation.
  const auto stats = Must(store_->GetReferrerStats(p.referrer));
  EXPECT_EQ(stats.converted_referrals, 1);
  EXPECT_EQ(stats.revoked_conversions, 1);
  EXPECT_EQ(stats.total_rewards_earned, 1);
  EXPECT_EQ(Must(Step([&](WriteTx& tx) { return tx.FindReferralOf(p.referred); }))->status,
            domain::ReferralStatus::kConverted);
  ExpectReadModelsRight(Hours(kNow, 2));
  MustOk(store_->RebuildAggregates(Hours(kNow, 2)));
  EXPECT_EQ(Must(store_->GetReferrerStats(p.referrer)).revoked_conversions, 1);
  ExpectReadModelsRight(Hours(kNow, 2));
}

TEST_F(RewardLifecycleStoreTest, RevokeHeldRewardLeavesClaimableAndClaimedRewards) {
  const auto p = NewPendingPair();
  const TimePoint claimable = AddDays(kNow, 7);
  const auto held = ConvertHeld(p.referred, kNow, claimable);
  EXPECT_EQ(Revoke(held.referral.id, claimable), std::nullopt);  // the hold is over at its end
  EXPECT_TRUE(Claim(p.referrer, held.reward.id, claimable));
  EXPECT_EQ(Revoke(held.referral.id, Hours(kNow, 1)), std::nullopt);  // claimed: never taken back

  const auto q = NewPendingPair();
  const auto unheld = Convert(q.referred)->reward;  // no hold: claimable from created_at
  EXPECT_EQ(Revoke(*unheld.source_referral_id, kNow), std::nullopt);
  EXPECT_EQ(Revoke(NewId(), kNow), std::nullopt);  // no such referral
  EXPECT_EQ(Must(store_->GetReferrerStats(p.referrer)).revoked_conversions, 0);
  EXPECT_EQ(Must(store_->GetReferrerStats(q.referrer)).revoked_conversions, 0);
}

TEST_F(RewardLifecycleStoreTest, RewardStoredWithoutClaimableAtReadsAsClaimableFromCreation) {
  const auto p = NewPendingPair();
  const auto reward = ConvertHeld(p.referred, kNow, AddDays(kNow, 7)).reward;
  ASSERT_TRUE(db_->TryExec("UPDATE user_rewards SET claimable_at = NULL WHERE id = '" + reward.id +
                           "'"));  // a row from before the hold existed
  const auto stored = Must(store_->ListRewards(p.referrer, {}));
  ASSERT_EQ(stored.size(), 1U);
  EXPECT_EQ(stored[0].claimable_at, kNow);
  EXPECT_EQ(Revoke(*reward.source_referral_id, Hours(kNow, 1)), std::nullopt);
  EXPECT_TRUE(Claim(p.referrer, reward.id, Hours(kNow, 1)));
}

TEST_F(RewardLifecycleStoreTest, BadgeCountsConversionsWhoseRewardWasNotRevoked) {
  const std::string master = NewUser();
  const auto code = NewCode(master);
  std::vector<domain::Conversion> conversions;
  for (int i = 0; i < 3; ++i) {
    const std::string referred = NewUser();
    EXPECT_TRUE(Track(code, referred));
    conversions.push_back(ConvertHeld(referred, kNow, AddDays(kNow, 7)));
  }
  EXPECT_EQ(Must(store_->BadgeCandidates(3)), std::vector<std::string>{master});
  ASSERT_TRUE(Revoke(conversions[0].referral.id, Hours(kNow, 1)).has_value());
  EXPECT_TRUE(Must(store_->BadgeCandidates(3)).empty());
  EXPECT_EQ(Must(store_->BadgeCandidates(2)), std::vector<std::string>{master});
  const auto badge = MakeBadge(master, Hours(kNow, 2));
  EXPECT_FALSE(Must(Step([&](WriteTx& tx) { return tx.InsertBadge(badge, 3); })));
  EXPECT_TRUE(Must(Step([&](WriteTx& tx) { return tx.InsertBadge(badge, 2); })));
  // Converted still counts everywhere else: stats and the leaderboard.
  EXPECT_EQ(Must(store_->GetReferrerStats(master)).converted_referrals, 3);
  EXPECT_EQ(Must(store_->Leaderboard(std::nullopt, kNow, 10)).at(0).converted_referrals, 3);
  ExpectReadModelsRight(Hours(kNow, 2));
}

TEST_F(RewardLifecycleStoreTest, CancelActiveSubscriptionOnceThenSubscribeAgain) {
  const std::string user = NewUser();
  EXPECT_EQ(Cancel(user, kNow), std::nullopt);  // none to cancel
  EXPECT_EQ(Must(store_->FindNewestSubscription(user)), std::nullopt);
  const auto sub = Subscribe(user, kNow);
  const auto cancelled = Cancel(user, Hours(kNow, 1), true);
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->id, sub.id);
  EXPECT_EQ(cancelled->status, "cancelled");
  EXPECT_EQ(cancelled->created_at, kNow);
  EXPECT_EQ(Cancel(user, Hours(kNow, 2)), std::nullopt);  // once
  EXPECT_EQ(Must(store_->FindActiveSubscription(user)), std::nullopt);
  EXPECT_EQ(Must(store_->FindNewestSubscription(user))->status, "cancelled");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM subscriptions WHERE refunded AND cancel_reason = "
                        "'too expensive' AND cancelled_at IS NOT NULL"),
            "1");

  const auto again = Subscribe(user, kNow);  // the same instant: active still comes first
  EXPECT_EQ(Must(store_->FindNewestSubscription(user))->id, again.id);
  EXPECT_EQ(Must(store_->FindActiveSubscription(user))->id, again.id);
}

TEST_F(RewardLifecycleStoreTest, RaceRevokeAndClaimOneWinner) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const auto p = NewPendingPair();
    const TimePoint claimable = AddDays(kNow, 7);
    const auto held = ConvertHeld(p.referred, kNow, claimable);
    // Claims at the hold's end race revocations an instant before it: one of them changes the row.
    std::atomic<int> claimed{0};
    std::atomic<int> revoked{0};
    RunConcurrently(20, [&](int i) {
      Store* store = stores[static_cast<std::size_t>(i) % stores.size()];
      if (i % 2 == 0) {
        if (Claim(p.referrer, held.reward.id, claimable, store)) ++claimed;
      } else if (Revoke(held.referral.id, claimable - std::chrono::milliseconds(1), store)) {
        ++revoked;
      }
    });
    EXPECT_EQ(claimed.load() + revoked.load(), 1);
    const auto stored = Must(store_->ListRewards(p.referrer, {})).at(0);
    EXPECT_EQ(stored.is_claimed, claimed.load() == 1);
    EXPECT_EQ(stored.revoked_at.has_value(), revoked.load() == 1);
    EXPECT_EQ(Must(store_->GetReferrerStats(p.referrer)).revoked_conversions, revoked.load());
  }
}

TEST_F(RewardLifecycleStoreTest, RaceRevokeHeldRewardOnce) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const auto p = NewPendingPair();
    const auto held = ConvertHeld(p.referred, kNow, AddDays(kNow, 7));
    std::atomic<int> revoked{0};
    RunConcurrently(20, [&](int i) {
      if (Revoke(held.referral.id, Hours(kNow, 1),
                 stores[static_cast<std::size_t>(i) % stores.size()])) {
        ++revoked;
      }
    });
    EXPECT_EQ(revoked.load(), 1);
    EXPECT_EQ(Must(store_->GetReferrerStats(p.referrer)).revoked_conversions, 1);
  }
  ExpectReadModelsRight(Hours(kNow, 1));
}

TEST_F(RewardLifecycleStoreTest, RaceCancelSubscriptionOnce) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const std::string user = NewUser();
    Subscribe(user, kNow);
    std::atomic<int> cancelled{0};
    RunConcurrently(16, [&](int i) {
      if (Cancel(user, Hours(kNow, 1), true, stores[static_cast<std::size_t>(i) % stores.size()])) {
        ++cancelled;
      }
    });
    EXPECT_EQ(cancelled.load(), 1);
    EXPECT_EQ(db_->Scalar("SELECT count(*) FROM subscriptions WHERE user_id = '" + user +
                          "' AND status = 'cancelled'"),
              "1");
  }
}

TEST_F(RewardLifecycleStoreTest, RaceRevokeAndInsertBadgeNeverBadgeBelowThresholdAfterward) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const std::string master = NewUser();
    const auto code = NewCode(master);
    std::vector<domain::Conversion> conversions;
    for (int i = 0; i < 3; ++i) {
      const std::string referred = NewUser();
      EXPECT_TRUE(Track(code, referred));
      conversions.push_back(ConvertHeld(referred, kNow, AddDays(kNow, 7)));
    }
    // Exactly at the threshold: a revocation races the badge. Either order is a serial one (a
    // badge granted first is claimed, and a claimed reward is never taken back); the revocation
    // happens once whatever, and no badge is granted after it.
    std::atomic<int> revoked{0};
    std::atomic<int> granted{0};
    RunConcurrently(8, [&](int i) {
      Store* store = stores[static_cast<std::size_t>(i) % stores.size()];
      if (i % 2 == 0) {
        if (Revoke(conversions[0].referral.id, Hours(kNow, 1), store)) ++revoked;
      } else {
        const auto badge = MakeBadge(master, Hours(kNow, 1));
        if (Must(Step([&](WriteTx& tx) { return tx.InsertBadge(badge, 3); }, store))) ++granted;
      }
    });
    EXPECT_EQ(revoked.load(), 1);
    EXPECT_LE(granted.load(), 1);
    EXPECT_TRUE(Must(store_->BadgeCandidates(3)).empty());
    const auto late = MakeBadge(master, Hours(kNow, 2));
    EXPECT_FALSE(Must(Step([&](WriteTx& tx) { return tx.InsertBadge(late, 3); })));
  }
  ExpectReadModelsRight(Hours(kNow, 2));
}

// --- webhooks ---------------------------------------------------------------------------------

domain::WebhookEndpoint MakeWebhook(const std::string& id,
                                    std::optional<std::vector<domain::EventType>> types,
                                    TimePoint created = kNow) {
  return domain::WebhookEndpoint{id,
                                 "https://hooks.example.com/" + id,
                                 std::move(types),
                                 types ? std::optional<std::string>("filtered") : std::nullopt,
                                 "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                 created};
}

class WebhookStoreTest : public StoreTest {
 protected:
  // Fans out (on `store`) until the endpoint has at least `count` deliveries or a minute passed
  // (on PostgreSQL events wait for older transactions anywhere on the server).
  std::vector<domain::WebhookDelivery> FanOutUntil(const std::string& endpoint_id,
                                                   std::size_t count, Store* store = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (true) {
      Must((store ? store : store_.get())->FanOutEvents(kNow, 2));
      auto deliveries = Must(store_->ListDeliveries(endpoint_id, {500, std::nullopt}));
      if (deliveries.size() >= count || std::chrono::steady_clock::now() > deadline) {
        return deliveries;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  static std::set<std::string> EventIds(const std::vector<domain::WebhookDelivery>& deliveries) {
    std::set<std::string> ids;
    for (const auto& d : deliveries) ids.insert(d.event_id);
    return ids;
  }
  static std::set<std::string> EventIds(const std::vector<domain::Event>& events) {
    std::set<std::string> ids;
    for (const auto& e : events) ids.insert(e.id);
    return ids;
  }
};

TEST_F(WebhookStoreTest, EndpointsAreStoredListedOldestFirstAndDeleted) {
  const auto all = MakeWebhook(NewId(), std::nullopt, kNow);
  const auto some = MakeWebhook(
      NewId(), std::vector{domain::EventType::kRewardGranted, domain::EventType::kCodeGenerated},
      Hours(kNow, 1));
  MustOk(store_->InsertWebhook(some));
  MustOk(store_->InsertWebhook(all));
  EXPECT_EQ(Must(store_->ListWebhooks()), (std::vector{all, some}));
  EXPECT_EQ(Must(store_->FindWebhook(some.id)), some);
  EXPECT_TRUE(Must(store_->DeleteWebhook(some.id)));
  EXPECT_FALSE(Must(store_->DeleteWebhook(some.id)));
  EXPECT_EQ(Must(store_->FindWebhook(some.id)), std::nullopt);
  EXPECT_EQ(Must(store_->ListWebhooks()), std::vector{all});
  EXPECT_EQ(Must(store_->RequeueDeliveries(some.id, {}, kNow)), std::nullopt);
}

TEST_F(WebhookStoreTest, AnEndpointGetsTheEventsAfterItsRegistrationOfTheTypesItWants) {
  std::vector<domain::Event> before{MakeEvent(0), MakeEvent(1)};
  AppendEvents(before);
  domain::EventPosition seen;
  ReadAtLeast(seen, before.size());  // listed: now before any endpoint's start
  const auto all = MakeWebhook(NewId(), std::nullopt);
  const auto codes = MakeWebhook(NewId(), std::vector{domain::EventType::kCodeGenerated});
  MustOk(store_->InsertWebhook(all));
  MustOk(store_->InsertWebhook(codes));
  std::vector<domain::Event> after;
  for (int i = 0; i < 7; ++i) after.push_back(MakeEvent(i));
  AppendEvents({after[0], after[1]});
  for (std::size_t i = 2; i < after.size(); ++i) AppendEvents({after[i]});

  const auto delivered = FanOutUntil(all.id, after.size());
  EXPECT_EQ(EventIds(delivered), EventIds(after));
  EXPECT_EQ(delivered.size(), after.size());
  for (const auto& d : delivered) {
    EXPECT_EQ(d.endpoint_id, all.id);
    EXPECT_EQ(d.status, domain::DeliveryStatus::kPending);
    EXPECT_EQ(d.attempt, 0);
    EXPECT_EQ(d.next_attempt_at, kNow);
    EXPECT_EQ(d.last_attempt_at, std::nullopt);
    EXPECT_EQ(d.response_status, std::nullopt);
  }
  // Newest first: the last event appended leads.
  EXPECT_EQ(delivered.front().event_id, after.back().id);
  EXPECT_EQ(Must(store_->ListDeliveries(all.id, {3, std::nullopt})).size(), 3U);
  // Paged after a (created_at, event_seq) key, the pages add up to the whole listing.
  std::vector<std::string> paged;
  std::optional<domain::PageKey> cursor;
  do {
    const auto page = Must(store_->ListDeliveries(all.id, {2, cursor}));
    for (const auto& d : page) paged.push_back(d.event_id);
    cursor = page.size() == 2 ? std::optional<domain::PageKey>(domain::PageKey{
                                    page.back().created_at, std::to_string(page.back().event_seq)})
                              : std::nullopt;
  } while (cursor);
  std::vector<std::string> whole;
  for (const auto& d : delivered) whole.push_back(d.event_id);
  EXPECT_EQ(paged, whole);

  std::vector<domain::Event> wanted;
  for (const auto& e : after) {
    if (e.type() == domain::EventType::kCodeGenerated) wanted.push_back(e);
  }
  const auto filtered = FanOutUntil(codes.id, wanted.size());
  EXPECT_EQ(EventIds(filtered), EventIds(wanted));
  // Nothing more to do: a further fan-out creates nothing.
  EXPECT_EQ(Must(store_->FanOutEvents(kNow, 100)).created, 0);
}

TEST_F(WebhookStoreTest, FanOutRacedOverFourHandlesCreatesEachDeliveryOnce) {
  const auto endpoint = MakeWebhook(NewId(), std::nullopt);
  MustOk(store_->InsertWebhook(endpoint));
  const auto handles = Handles(4);
  std::vector<domain::Event> appended;
  std::mutex mu;
  std::atomic<std::int64_t> created{0};
  std::atomic<bool> writing{true};
  RunConcurrently(5, [&](int i) {
    if (i == 4) {
      for (int n = 0; n < 40; ++n) {
        const auto e = MakeEvent(n);
        AppendEvents({e}, handles[static_cast<std::size_t>(n % 4)]);
        std::lock_guard lock(mu);
        appended.push_back(e);
      }
      writing = false;
      return;
    }
    while (writing) {
      created += Must(handles[static_cast<std::size_t>(i)]->FanOutEvents(kNow, 3)).created;
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (created < 40 && std::chrono::steady_clock::now() < deadline) {
    created += Must(store_->FanOutEvents(kNow, 3)).created;
  }
  EXPECT_EQ(created.load(), 40);
  const auto delivered = Must(store_->ListDeliveries(endpoint.id, {500, std::nullopt}));
  EXPECT_EQ(delivered.size(), 40U);
  EXPECT_EQ(EventIds(delivered), EventIds(appended));
}

TEST_F(WebhookStoreTest, AClaimIsExclusiveUntilItsLeaseExpiresAndOnlyItsHolderRecords) {
  const auto endpoint = MakeWebhook(NewId(), std::nullopt);
  MustOk(store_->InsertWebhook(endpoint));
  const auto event = MakeEvent(0);
  AppendEvents({event});
  ASSERT_EQ(FanOutUntil(endpoint.id, 1).size(), 1U);

  // Nothing is due before its time.
  EXPECT_EQ(Must(store_->ClaimDelivery(kNow - std::chrono::seconds(1), Hours(kNow, 1), NewId())),
            std::nullopt);
  // Eight handles race for it: one wins.
  const auto handles = Handles(8);
  std::vector<std::optional<domain::ClaimedDelivery>> claims(8);
  std::vector<std::string> leases(8);
  for (auto& lease : leases) lease = NewId();
  const TimePoint lease_until = kNow + std::chrono::seconds(60);
  RunConcurrently(8, [&](int i) {
    const auto k = static_cast<std::size_t>(i);
    claims[k] = Must(handles[k]->ClaimDelivery(kNow, lease_until, leases[k]));
  });
  const auto won = std::count_if(claims.begin(), claims.end(), [](const auto& c) { return c; });
  ASSERT_EQ(won, 1);
  const auto& claimed =
      **std::find_if(claims.begin(), claims.end(), [](const auto& c) { return c; });
  EXPECT_EQ(claimed.event, event);
  EXPECT_EQ(claimed.url, endpoint.url);
  EXPECT_EQ(claimed.secret, endpoint.secret);
  EXPECT_EQ(claimed.endpoint_id, endpoint.id);
  EXPECT_EQ(claimed.attempts_made, 0);

  // Held until the lease ends; then another sender takes it over.
  EXPECT_EQ(Must(store_->ClaimDelivery(lease_until - std::chrono::milliseconds(1), Hours(kNow, 1),
                                       NewId())),
            std::nullopt);
  const std::string second_lease = NewId();
  const auto retaken = Must(store_->ClaimDelivery(lease_until, Hours(kNow, 1), second_lease));
  ASSERT_TRUE(retaken.has_value());
  EXPECT_EQ(retaken->lease, second_lease);

  domain::DeliveryAttempt attempt{endpoint.id,
                                  event.id,
                                  claimed.lease,
                                  domain::DeliveryStatus::kPending,
                                  500,
                                  lease_until,
                                  lease_until + std::chrono::seconds(5)};
  EXPECT_FALSE(Must(store_->RecordDeliveryAttempt(attempt)));  // the first claim lost it
  attempt.lease = second_lease;
  EXPECT_TRUE(Must(store_->RecordDeliveryAttempt(attempt)));
  EXPECT_FALSE(Must(store_->RecordDeliveryAttempt(attempt)));  // recorded once: lease dropped
  auto listed = Must(store_->ListDeliveries(endpoint.id, {10, std::nullopt}));
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0].attempt, 1);
  EXPECT_EQ(listed[0].status, domain::DeliveryStatus::kPending);
  EXPECT_EQ(listed[0].response_status, 500);
  EXPECT_EQ(listed[0].last_attempt_at, lease_until);
  EXPECT_EQ(listed[0].next_attempt_at, lease_until + std::chrono::seconds(5));

  // Due again at next_attempt_at; a released claim is free at once; then it succeeds.
  EXPECT_EQ(Must(store_->ClaimDelivery(lease_until, Hours(kNow, 2), NewId())), std::nullopt);
  const TimePoint due = lease_until + std::chrono::seconds(5);
  const auto third = Must(store_->ClaimDelivery(due, due + std::chrono::seconds(60), NewId()));
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->attempts_made, 1);
  MustOk(store_->ReleaseDelivery(endpoint.id, event.id, third->lease));
  const auto fourth = Must(store_->ClaimDelivery(due, due + std::chrono::seconds(60), NewId()));
  ASSERT_TRUE(fourth.has_value());
  EXPECT_TRUE(Must(store_->RecordDeliveryAttempt(
      domain::DeliveryAttempt{endpoint.id, event.id, fourth->lease,
                              domain::DeliveryStatus::kSucceeded, 204, due, std::nullopt})));
  listed = Must(store_->ListDeliveries(endpoint.id, {10, std::nullopt}));
  EXPECT_EQ(listed[0].attempt, 2);
  EXPECT_EQ(listed[0].status, domain::DeliveryStatus::kSucceeded);
  EXPECT_EQ(listed[0].response_status, 204);
  EXPECT_EQ(listed[0].next_attempt_at, std::nullopt);
  EXPECT_EQ(Must(store_->ClaimDelivery(Hours(kNow, 48), Hours(kNow, 49), NewId())), std::nullopt);
}

TEST_F(WebhookStoreTest, RequeueStartsTheEndpointsEventsAfterTheCursorOverAndDeleteDropsThem) {
  std::vector<domain::Event> before{MakeEvent(0), MakeEvent(1), MakeEvent(2)};
  AppendEvents(before);
  domain::EventPosition cursor;
  const auto listed = ReadAtLeast(cursor, before.size());
  ASSERT_EQ(listed.size(), 3U);
  const auto endpoint = MakeWebhook(NewId(), std::nullopt);
  MustOk(store_->InsertWebhook(endpoint));
  const auto other = MakeWebhook(NewId(), std::nullopt);
  MustOk(store_->InsertWebhook(other));
  EXPECT_TRUE(Must(store_->ListDeliveries(endpoint.id, {10, std::nullopt})).empty());

  // From the start: every event, although registered after them; again from the first one's
  // position: the two after it, started over.
  EXPECT_EQ(Must(store_->RequeueDeliveries(endpoint.id, {}, kNow)), std::optional<std::int64_t>(3));
  auto claimed = Must(store_->ClaimDelivery(kNow, Hours(kNow, 1), NewId()));
  ASSERT_TRUE(claimed.has_value());
  EXPECT_TRUE(Must(store_->RecordDeliveryAttempt(
      domain::DeliveryAttempt{endpoint.id, claimed->event.id, claimed->lease,
                              domain::DeliveryStatus::kFailed, 500, kNow, std::nullopt})));
  domain::EventPosition after_first;
  ASSERT_EQ(Must(store_->ListEvents({}, std::nullopt, 1)).events.size(), 1U);
  after_first = Must(store_->ListEvents({}, std::nullopt, 1)).next;
  const TimePoint later = Hours(kNow, 1);
  EXPECT_EQ(Must(store_->RequeueDeliveries(endpoint.id, after_first, later)),
            std::optional<std::int64_t>(2));
  const auto deliveries = Must(store_->ListDeliveries(endpoint.id, {10, std::nullopt}));
  ASSERT_EQ(deliveries.size(), 3U);
  for (const auto& d : deliveries) {
    if (d.event_id == before[0].id) continue;
    EXPECT_EQ(d.status, domain::DeliveryStatus::kPending);
    EXPECT_EQ(d.attempt, 0);
    EXPECT_EQ(d.next_attempt_at, later);
    EXPECT_EQ(d.response_status, std::nullopt);
  }
  EXPECT_TRUE(Must(store_->ListDeliveries(other.id, {10, std::nullopt})).empty());

  // Deleting the endpoint drops its deliveries: none is claimed any more.
  EXPECT_TRUE(Must(store_->DeleteWebhook(endpoint.id)));
  EXPECT_TRUE(Must(store_->ListDeliveries(endpoint.id, {10, std::nullopt})).empty());
  EXPECT_EQ(Must(store_->ClaimDelivery(Hours(kNow, 2), Hours(kNow, 3), NewId())), std::nullopt);
}

}  // namespace
}  // namespace referrald::storage
