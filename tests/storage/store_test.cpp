// The storage contract (domain/store.hpp), run against every backend in Backends(), plus tests
// specific to SQLite (migrations, ":memory:", the raw constraints).

#include "domain/store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "domain/audit.hpp"
#include "domain/errors.hpp"
#include "domain/rules.hpp"
#include "storage/migrations.hpp"
#include "storage/sqlite_store.hpp"
#include "util/random.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::storage {
namespace {

using domain::Store;

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
    ADD_FAILURE() << "unexpected error " << result.error().machine;
    throw std::runtime_error("unexpected error " + result.error().machine);
  }
  return std::move(*result);
}

void MustOk(const Status& status) {
  if (!status) {
    ADD_FAILURE() << "unexpected error " << status.error().machine;
    throw std::runtime_error("unexpected error " + status.error().machine);
  }
}

template <typename T>
std::string MachineOf(const Result<T>& result) {
  return result ? "OK" : result.error().machine;
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

std::map<std::string, int> Tally(const std::vector<std::string>& outcomes) {
  std::map<std::string, int> tally;
  for (const auto& o : outcomes) ++tally[o];
  return tally;
}

// --- backends ---------------------------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    std::string templ =
        (std::filesystem::temp_directory_path() / "referrald-store-XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// One fresh database. Every Open() is another handle on it, as a second process would have.
class TestDatabase {
 public:
  virtual ~TestDatabase() = default;
  virtual std::unique_ptr<Store> Open() = 0;
};

class SqliteTestDatabase final : public TestDatabase {
 public:
  explicit SqliteTestDatabase(RandomSource& random)
      : random_(random), path_(dir_.path() / "data" / "referrald.db") {}
  std::unique_ptr<Store> Open() override {
    auto store = SqliteStore::Open(path_.string(), random_);
    if (!store) {
      ADD_FAILURE() << "open failed: " << store.error().machine;
      return nullptr;
    }
    return std::move(*store);
  }

 private:
  RandomSource& random_;
  TempDir dir_;
  std::filesystem::path path_;
};

struct Backend {
  std::string name;
  std::function<std::unique_ptr<TestDatabase>(RandomSource&)> make;
};

// Add PostgreSQL here when its store exists.
std::vector<Backend> Backends() {
  return {{"Sqlite", [](RandomSource& random) -> std::unique_ptr<TestDatabase> {
             return std::make_unique<SqliteTestDatabase>(random);
           }}};
}

// --- the contract -----------------------------------------------------------------------------

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = GetParam().make(random_);
    store_ = db_->Open();
    ASSERT_NE(store_, nullptr);
  }

  std::string NewId() { return NewUuidV7(kNow, random_); }

  std::string NewCodeText() {
    std::string text;
    for (int i = 0; i < 10; ++i) text += domain::kCodeAlphabet[random_.Uniform(32)];
    return text;
  }

  std::string NewUser(std::optional<std::string> email = std::nullopt, TimePoint now = kNow) {
    std::string id = NewId();
    MustOk(store_->UpsertUser(id, email, now));
    return id;
  }

  domain::ReferralCode NewCode(const std::string& user_id, TimePoint now = Hours(kNow, -240),
                               TimePoint expires_at = AddDays(kNow, 365)) {
    return Must(store_->CreateCode({NewId(), user_id, NewCodeText(), now, expires_at}));
  }

  Result<domain::Referral> Track(const std::string& referred, const std::string& code,
                                 TimePoint now = kNow, Store* store = nullptr) {
    return (store ? store : store_.get())->TrackReferral({NewId(), referred, code, now});
  }

  domain::ConversionGrant Grant(const std::string& referred, TimePoint now = kNow,
                                std::optional<TimePoint> expires = AddDays(kNow, 90)) {
    return {referred, NewId(), 30, expires, now};
  }

  domain::Subscription NewSubscription(const std::string& user_id, TimePoint now = kNow) {
    return {NewId(), user_id, "premium", "active", "sandbox", "ref-" + NewId(), now};
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
    Must(Track(p.referred, p.code.code));
    return p;
  }

  std::vector<Store*> Handles(int count) {
    std::vector<Store*> handles{store_.get()};
    while (static_cast<int>(handles.size()) < count) {
      extra_.push_back(db_->Open());
      handles.push_back(extra_.back().get());
    }
    return handles;
  }

  std::vector<domain::AuditEntry> Audit(std::string_view action) {
    std::vector<domain::AuditEntry> out;
    for (auto& e : Must(store_->ListAudit(std::nullopt, 1000))) {
      if (e.action == action) out.push_back(e);
    }
    return out;
  }

  SystemRandom random_;
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<Store> store_;
  std::vector<std::unique_ptr<Store>> extra_;
};

std::optional<std::string> DetailString(const domain::AuditEntry& e, const std::string& key) {
  for (const auto& [k, v] : e.details) {
    if (k == key) {
      if (const auto* s = std::get_if<std::string>(&v)) return *s;
    }
  }
  return std::nullopt;
}

TEST_P(StoreTest, PingAnswers) { EXPECT_TRUE(store_->Ping().has_value()); }

TEST_P(StoreTest, UpsertUserCreatesThenUpdatesEmail) {
  EXPECT_EQ(Must(store_->FindUser(NewId())), std::nullopt);

  const TimePoint created = At("2025-06-15T12:00:00.123Z");
  const std::string id = NewUser("a@example.com", created);
  auto user = Must(store_->FindUser(id));
  ASSERT_TRUE(user.has_value());
  EXPECT_EQ(user->id, id);
  EXPECT_EQ(user->email, "a@example.com");
  EXPECT_EQ(user->created_at, created);  // milliseconds survive the round trip
  EXPECT_EQ(user->premium_until, std::nullopt);

  MustOk(store_->UpsertUser(id, std::nullopt, Hours(kNow, 5)));
  EXPECT_EQ(Must(store_->FindUser(id))->email, "a@example.com");

  MustOk(store_->UpsertUser(id, "b@example.com", Hours(kNow, 5)));
  user = Must(store_->FindUser(id));
  EXPECT_EQ(user->email, "b@example.com");
  EXPECT_EQ(user->created_at, created);

  const std::string anonymous = NewUser();
  EXPECT_EQ(Must(store_->FindUser(anonymous))->email, std::nullopt);
  MustOk(store_->UpsertUser(anonymous, "c@example.com", kNow));
  EXPECT_EQ(Must(store_->FindUser(anonymous))->email, "c@example.com");
}

TEST_P(StoreTest, CreateCodeAndFindNewest) {
  const std::string user = NewUser();
  EXPECT_EQ(Must(store_->FindNewestCode(user)), std::nullopt);

  const domain::NewCode input{NewId(), user, "ABCD2345", kNow, AddDays(kNow, 365)};
  const auto code = Must(store_->CreateCode(input));
  EXPECT_EQ(code.id, input.id);
  EXPECT_EQ(code.user_id, user);
  EXPECT_EQ(code.code, "ABCD2345");
  EXPECT_TRUE(code.is_active);
  EXPECT_EQ(code.created_at, kNow);
  EXPECT_EQ(code.expires_at, AddDays(kNow, 365));

  const auto found = Must(store_->FindNewestCode(user));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, code.id);
  EXPECT_EQ(found->code, code.code);
  EXPECT_TRUE(found->is_active);
  EXPECT_EQ(found->created_at, kNow);
  EXPECT_EQ(found->expires_at, code.expires_at);

  const auto audit = Audit(domain::audit::kCodeGenerated);
  ASSERT_EQ(audit.size(), 1U);
  EXPECT_EQ(audit[0].service, domain::audit::kServiceReferral);
  EXPECT_EQ(audit[0].status, domain::audit::kSuccess);
  EXPECT_EQ(audit[0].user_id, user);
  EXPECT_EQ(DetailString(audit[0], "code"), "ABCD2345");
  EXPECT_EQ(DetailString(audit[0], "codeId"), code.id);
  EXPECT_EQ(DetailString(audit[0], "expiresAt"), FormatIso8601(code.expires_at));
  EXPECT_EQ(audit[0].created_at, kNow);
}

TEST_P(StoreTest, CreateCodeRefusesSecondActiveCode) {
  const std::string user = NewUser();
  const auto first = NewCode(user);
  const auto second = store_->CreateCode({NewId(), user, NewCodeText(), kNow, AddDays(kNow, 5)});
  ASSERT_EQ(MachineOf(second), "CODE_EXISTS");
  ASSERT_TRUE(second.error().extra.has_value());
  EXPECT_EQ(second.error().extra->first, "referralCode");
  EXPECT_EQ(second.error().extra->second, first.code);
  EXPECT_EQ(Must(store_->FindNewestCode(user))->id, first.id);
}

TEST_P(StoreTest, CreateCodeReportsCollision) {
  const auto taken = NewCode(NewUser());
  const auto result = store_->CreateCode({NewId(), NewUser(), taken.code, kNow, AddDays(kNow, 5)});
  EXPECT_EQ(MachineOf(result), "CODE_COLLISION");
}

TEST_P(StoreTest, CreateCodeReplacesExpiredCode) {
  const std::string user = NewUser();
  const auto old_code = NewCode(user, kNow, AddDays(kNow, 1));
  const TimePoint later = AddDays(kNow, 2);
  const auto new_code =
      Must(store_->CreateCode({NewId(), user, NewCodeText(), later, AddDays(later, 30)}));
  const auto newest = Must(store_->FindNewestCode(user));
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->id, new_code.id);
  EXPECT_TRUE(newest->is_active);

  const auto counts = Must(store_->Analytics(std::nullopt, later));
  EXPECT_EQ(counts.active_codes, 1);
  EXPECT_EQ(counts.expired_codes, 1);
  // The old code was deactivated: even a clock before its expiry cannot use it.
  EXPECT_EQ(MachineOf(Track(NewUser(), old_code.code, Hours(kNow, 1))), "INVALID_CODE");
}

TEST_P(StoreTest, TrackReferralSucceeds) {
  const std::string referrer = NewUser();
  const std::string referred = NewUser();
  const auto code = NewCode(referrer);
  const auto referral = Must(Track(referred, code.code, kNow));
  EXPECT_EQ(referral.referrer_user_id, referrer);
  EXPECT_EQ(referral.referred_user_id, referred);
  EXPECT_EQ(referral.referral_code_id, code.id);
  EXPECT_EQ(referral.status, domain::ReferralStatus::kPending);
  EXPECT_EQ(referral.created_at, kNow);
  EXPECT_EQ(referral.converted_at, std::nullopt);

  const auto stats = Must(store_->GetReferrerStats(referrer));
  EXPECT_EQ(stats.total_referrals, 1);
  EXPECT_EQ(stats.pending_referrals, 1);
  EXPECT_EQ(stats.converted_referrals, 0);
  EXPECT_EQ(stats.total_rewards_earned, 0);

  const auto audit = Audit(domain::audit::kReferralTracked);
  ASSERT_EQ(audit.size(), 1U);
  EXPECT_EQ(audit[0].user_id, referred);
  EXPECT_EQ(DetailString(audit[0], "referralId"), referral.id);
  EXPECT_EQ(DetailString(audit[0], "referrerUserId"), referrer);
  EXPECT_EQ(DetailString(audit[0], "code"), code.code);
}

TEST_P(StoreTest, TrackReferralRefusals) {
  const std::string a = NewUser();
  const std::string b = NewUser();
  const std::string c = NewUser();
  const auto code_a = NewCode(a);

  EXPECT_EQ(MachineOf(Track(b, "NOSUCHCODE")), "INVALID_CODE");
  EXPECT_EQ(MachineOf(Track(b, code_a.code, AddDays(kNow, 400))), "INVALID_CODE");  // expired
  EXPECT_EQ(MachineOf(Track(b, code_a.code.substr(1))), "INVALID_CODE");
  EXPECT_EQ(MachineOf(Track(a, code_a.code)), "SELF_REFERRAL");

  Must(Track(b, code_a.code));  // a referred b
  EXPECT_EQ(MachineOf(Track(b, code_a.code)), "ALREADY_REFERRED");
  const auto code_b = NewCode(b);
  EXPECT_EQ(MachineOf(Track(a, code_b.code)), "CIRCULAR_REFERRAL");
  EXPECT_EQ(MachineOf(Track(b, code_b.code)), "SELF_REFERRAL");  // checked before referred
  Must(Track(c, code_b.code));
  EXPECT_EQ(MachineOf(Track(c, code_a.code)), "ALREADY_REFERRED");

  // A code expiring exactly now is expired; a deactivated code is invalid.
  const std::string d = NewUser();
  const auto code_d = NewCode(d, Hours(kNow, -5), kNow);
  EXPECT_EQ(MachineOf(Track(NewUser(), code_d.code, kNow)), "INVALID_CODE");
  EXPECT_EQ(Must(store_->ExpireCodes(kNow)), 1);
  EXPECT_EQ(MachineOf(Track(NewUser(), code_d.code, Hours(kNow, -1))), "INVALID_CODE");

  const auto stats = Must(store_->GetReferrerStats(a));
  EXPECT_EQ(stats.total_referrals, 1);
}

TEST_P(StoreTest, TrackReferralForUnknownUserIsAFailure) {
  // The HTTP layer provisions users first; a missing one is a storage failure, not a refusal.
  const auto code = NewCode(NewUser());
  const auto result = Track(NewId(), code.code);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kInternal);
  EXPECT_EQ(result.error().message.find("FOREIGN"), std::string::npos);
}

TEST_P(StoreTest, ConvertReferralGrantsRewardOnce) {
  const auto p = NewPendingPair();
  const TimePoint when = Hours(kNow, 3);
  const auto grant = Grant(p.referred, when, AddDays(when, 90));
  const auto conversion = Must(store_->ConvertReferral(grant));
  EXPECT_EQ(conversion.referral.referrer_user_id, p.referrer);
  EXPECT_EQ(conversion.referral.referred_user_id, p.referred);
  EXPECT_EQ(conversion.referral.referral_code_id, p.code.id);
  EXPECT_EQ(conversion.referral.status, domain::ReferralStatus::kConverted);
  EXPECT_EQ(conversion.referral.created_at, kNow);
  EXPECT_EQ(conversion.referral.converted_at, when);
  EXPECT_EQ(conversion.reward.id, grant.reward_id);
  EXPECT_EQ(conversion.reward.user_id, p.referrer);
  EXPECT_EQ(conversion.reward.type, domain::RewardType::kFreePremium);
  EXPECT_EQ(conversion.reward.value.days, 30);
  EXPECT_FALSE(conversion.reward.is_claimed);
  EXPECT_EQ(conversion.reward.expires_at, AddDays(when, 90));
  EXPECT_EQ(conversion.reward.source_referral_id, conversion.referral.id);

  const auto rewards = Must(store_->ListRewards(p.referrer));
  ASSERT_EQ(rewards.size(), 1U);
  EXPECT_EQ(rewards[0].id, grant.reward_id);
  EXPECT_EQ(rewards[0].type, domain::RewardType::kFreePremium);
  EXPECT_EQ(rewards[0].value.days, 30);
  EXPECT_EQ(rewards[0].value.badge, std::nullopt);
  EXPECT_FALSE(rewards[0].is_claimed);
  EXPECT_EQ(rewards[0].created_at, when);
  EXPECT_EQ(rewards[0].claimed_at, std::nullopt);
  EXPECT_EQ(rewards[0].expires_at, AddDays(when, 90));
  EXPECT_EQ(rewards[0].source_referral_id, conversion.referral.id);

  EXPECT_EQ(MachineOf(store_->ConvertReferral(Grant(p.referred))), "ALREADY_CONVERTED");
  EXPECT_EQ(MachineOf(store_->ConvertReferral(Grant(NewUser()))), "REFERRAL_NOT_FOUND");
  EXPECT_EQ(MachineOf(store_->ConvertReferral(Grant(NewId()))), "REFERRAL_NOT_FOUND");
  EXPECT_EQ(Must(store_->ListRewards(p.referrer)).size(), 1U);

  const auto stats = Must(store_->GetReferrerStats(p.referrer));
  EXPECT_EQ(stats.total_referrals, 1);
  EXPECT_EQ(stats.converted_referrals, 1);
  EXPECT_EQ(stats.pending_referrals, 0);
  EXPECT_EQ(stats.total_rewards_earned, 1);

  const auto converted = Audit(domain::audit::kReferralConverted);
  ASSERT_EQ(converted.size(), 1U);
  EXPECT_EQ(converted[0].user_id, p.referred);
  EXPECT_EQ(DetailString(converted[0], "referralId"), conversion.referral.id);
  const auto granted = Audit(domain::audit::kRewardGranted);
  ASSERT_EQ(granted.size(), 1U);
  EXPECT_EQ(granted[0].user_id, p.referrer);
  EXPECT_EQ(DetailString(granted[0], "rewardId"), grant.reward_id);
}

TEST_P(StoreTest, ConvertReferralWithoutRewardExpiry) {
  const auto p = NewPendingPair();
  const auto conversion = Must(store_->ConvertReferral(Grant(p.referred, kNow, std::nullopt)));
  EXPECT_EQ(conversion.reward.expires_at, std::nullopt);
  EXPECT_EQ(Must(store_->ListRewards(p.referrer))[0].expires_at, std::nullopt);
  // Claimable forever.
  Must(store_->ClaimReward(p.referrer, conversion.reward.id, AddDays(kNow, 5000)));
}

TEST_P(StoreTest, CreateSubscriptionConvertsPendingReferral) {
  const auto p = NewPendingPair();
  const auto sub = NewSubscription(p.referred);
  const auto created = Must(store_->CreateSubscription(sub, Grant(p.referred)));
  EXPECT_EQ(created.subscription.id, sub.id);
  ASSERT_TRUE(created.conversion.has_value());
  EXPECT_EQ(created.conversion->referral.referrer_user_id, p.referrer);
  EXPECT_EQ(created.conversion->reward.user_id, p.referrer);

  const auto active = Must(store_->FindActiveSubscription(p.referred));
  ASSERT_TRUE(active.has_value());
  EXPECT_EQ(active->id, sub.id);
  EXPECT_EQ(active->user_id, p.referred);
  EXPECT_EQ(active->tier, "premium");
  EXPECT_EQ(active->status, "active");
  EXPECT_EQ(active->provider, "sandbox");
  EXPECT_EQ(active->provider_ref, sub.provider_ref);
  EXPECT_EQ(active->created_at, kNow);

  EXPECT_EQ(MachineOf(store_->CreateSubscription(NewSubscription(p.referred), Grant(p.referred))),
            "ALREADY_SUBSCRIBED");
  EXPECT_EQ(Must(store_->ListRewards(p.referrer)).size(), 1U);
  EXPECT_EQ(MachineOf(store_->ConvertReferral(Grant(p.referred))), "ALREADY_CONVERTED");

  const auto audit = Audit(domain::audit::kSubscriptionCreated);
  ASSERT_EQ(audit.size(), 1U);
  EXPECT_EQ(audit[0].service, domain::audit::kServiceSubscription);
  EXPECT_EQ(audit[0].user_id, p.referred);
  EXPECT_EQ(DetailString(audit[0], "subscriptionId"), sub.id);
}

TEST_P(StoreTest, CreateSubscriptionWithoutPendingReferral) {
  const std::string user = NewUser();
  EXPECT_EQ(Must(store_->FindActiveSubscription(user)), std::nullopt);
  const auto created = Must(store_->CreateSubscription(NewSubscription(user), Grant(user)));
  EXPECT_EQ(created.conversion, std::nullopt);
  EXPECT_TRUE(Must(store_->FindActiveSubscription(user)).has_value());

  // Already converted through /convert: subscribing grants nothing more.
  const auto p = NewPendingPair();
  Must(store_->ConvertReferral(Grant(p.referred)));
  const auto again =
      Must(store_->CreateSubscription(NewSubscription(p.referred), Grant(p.referred)));
  EXPECT_EQ(again.conversion, std::nullopt);
  EXPECT_EQ(Must(store_->ListRewards(p.referrer)).size(), 1U);
}

TEST_P(StoreTest, ClaimRewardExtendsPremium) {
  const std::string referrer = NewUser();
  const auto code = NewCode(referrer);
  std::vector<std::string> reward_ids;
  for (int i = 0; i < 2; ++i) {
    const std::string referred = NewUser();
    Must(Track(referred, code.code));
    reward_ids.push_back(Must(store_->ConvertReferral(Grant(referred))).reward.id);
  }

  const auto claimed = Must(store_->ClaimReward(referrer, reward_ids[0], kNow));
  EXPECT_EQ(claimed.id, reward_ids[0]);
  EXPECT_TRUE(claimed.is_claimed);
  EXPECT_EQ(claimed.claimed_at, kNow);
  EXPECT_EQ(claimed.value.days, 30);
  EXPECT_EQ(Must(store_->FindUser(referrer))->premium_until, AddDays(kNow, 30));

  // premium_until = max(now, premium_until) + days
  Must(store_->ClaimReward(referrer, reward_ids[1], AddDays(kNow, 1)));
  EXPECT_EQ(Must(store_->FindUser(referrer))->premium_until, AddDays(kNow, 60));

  EXPECT_EQ(MachineOf(store_->ClaimReward(referrer, reward_ids[0], kNow)), "REWARD_NOT_FOUND");
  for (const auto& r : Must(store_->ListRewards(referrer))) {
    EXPECT_TRUE(r.is_claimed);
    EXPECT_TRUE(r.claimed_at.has_value());
  }
  const auto audit = Audit(domain::audit::kRewardClaimed);
  ASSERT_EQ(audit.size(), 2U);
  EXPECT_EQ(audit[0].user_id, referrer);
}

TEST_P(StoreTest, ClaimRewardLaterPremiumStartsFromNow) {
  const auto p = NewPendingPair();
  const auto reward = Must(store_->ConvertReferral(Grant(p.referred))).reward;
  MustOk(store_->UpsertUser(p.referrer, std::nullopt, kNow));
  Must(store_->ClaimReward(p.referrer, reward.id, AddDays(kNow, 10)));
  EXPECT_EQ(Must(store_->FindUser(p.referrer))->premium_until, AddDays(kNow, 40));
}

TEST_P(StoreTest, ClaimRewardRefusals) {
  const auto p = NewPendingPair();
  const auto reward =
      Must(store_->ConvertReferral(Grant(p.referred, kNow, AddDays(kNow, 10)))).reward;

  EXPECT_EQ(MachineOf(store_->ClaimReward(p.referrer, NewId(), kNow)), "REWARD_NOT_FOUND");
  EXPECT_EQ(MachineOf(store_->ClaimReward(p.referred, reward.id, kNow)), "REWARD_NOT_FOUND");
  EXPECT_EQ(MachineOf(store_->ClaimReward(p.referrer, reward.id, AddDays(kNow, 10))),
            "REWARD_EXPIRED");
  EXPECT_EQ(MachineOf(store_->ClaimReward(p.referrer, reward.id, AddDays(kNow, 11))),
            "REWARD_EXPIRED");
  EXPECT_FALSE(Must(store_->ListRewards(p.referrer))[0].is_claimed);
  EXPECT_EQ(Must(store_->FindUser(p.referrer))->premium_until, std::nullopt);
  Must(store_->ClaimReward(p.referrer, reward.id, Hours(AddDays(kNow, 10), -1)));
}

TEST_P(StoreTest, ListRewardsNewestFirst) {
  const std::string referrer = NewUser();
  const auto code = NewCode(referrer);
  const std::vector<TimePoint> times{Hours(kNow, 1), Hours(kNow, 3), Hours(kNow, 2),
                                     Hours(kNow, 3)};
  std::vector<std::pair<TimePoint, std::string>> expected;
  for (TimePoint t : times) {
    const std::string referred = NewUser();
    Must(Track(referred, code.code));
    expected.emplace_back(t, Must(store_->ConvertReferral(Grant(referred, t))).reward.id);
  }
  std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second > b.second;
  });
  const auto rewards = Must(store_->ListRewards(referrer));
  ASSERT_EQ(rewards.size(), expected.size());
  for (std::size_t i = 0; i < rewards.size(); ++i) {
    EXPECT_EQ(rewards[i].id, expected[i].second) << i;
    EXPECT_EQ(rewards[i].created_at, expected[i].first) << i;
  }
  EXPECT_TRUE(Must(store_->ListRewards(NewUser())).empty());
}

TEST_P(StoreTest, LeaderboardOrdersFiltersAndLimits) {
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
      Must(Track(referred, code.code, created));
      if (converted) Must(store_->ConvertReferral(Grant(referred)));
    }
  }
  const auto all = Must(store_->Leaderboard(std::nullopt, 10));
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

  const auto top2 = Must(store_->Leaderboard(std::nullopt, 2));
  ASSERT_EQ(top2.size(), 2U);
  EXPECT_EQ(top2[1].user_id, ids[0]);

  const auto recent = Must(store_->Leaderboard(AddDays(kNow, -7), 10));
  ASSERT_EQ(recent.size(), 3U);  // d has nothing recent
  EXPECT_EQ(recent[2].user_id, ids[2]);
  EXPECT_EQ(recent[2].total_referrals, 1);
  EXPECT_EQ(recent[2].converted_referrals, 1);
}

TEST_P(StoreTest, LeaderboardTiesByUserId) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    const std::string referrer = NewUser();
    ids.push_back(referrer);
    Must(Track(NewUser(), NewCode(referrer).code));
  }
  std::sort(ids.begin(), ids.end());
  const auto rows = Must(store_->Leaderboard(std::nullopt, 10));
  ASSERT_EQ(rows.size(), 3U);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rows[i].user_id, ids[i]);
    EXPECT_EQ(rows[i].email, std::nullopt);
  }
}

TEST_P(StoreTest, AnalyticsCountsCohortAndCodes) {
  const TimePoint old = AddDays(kNow, -40);
  const std::string referrer = NewUser();
  const auto code = NewCode(referrer, AddDays(kNow, -100));
  const std::vector<std::pair<TimePoint, bool>> referrals{
      {old, true}, {old, false}, {kNow, true}, {kNow, false}, {kNow, false}};
  for (const auto& [created, converted] : referrals) {
    const std::string referred = NewUser();
    Must(Track(referred, code.code, created));
    if (converted) Must(store_->ConvertReferral(Grant(referred, created)));
  }
  NewCode(NewUser(), kNow, Hours(kNow, 1));  // active now, expired in two hours
  NewCode(NewUser(), old, AddDays(old, 1));  // expired but still flagged active

  const auto all = Must(store_->Analytics(std::nullopt, kNow));
  EXPECT_EQ(all.total_referrals, 5);
  EXPECT_EQ(all.converted_referrals, 2);
  EXPECT_EQ(all.total_rewards_awarded, 2);
  EXPECT_EQ(all.active_codes, 2);
  EXPECT_EQ(all.expired_codes, 1);

  const auto month = Must(store_->Analytics(AddDays(kNow, -29), Hours(kNow, 2)));
  EXPECT_EQ(month.total_referrals, 3);
  EXPECT_EQ(month.converted_referrals, 1);
  EXPECT_EQ(month.total_rewards_awarded, 1);
  EXPECT_EQ(month.active_codes, 1);
  EXPECT_EQ(month.expired_codes, 2);

  const auto empty = Must(store_->Analytics(AddDays(kNow, 1), kNow));
  EXPECT_EQ(empty.total_referrals, 0);
  EXPECT_EQ(empty.total_rewards_awarded, 0);
}

TEST_P(StoreTest, DailyCountsGroupsByUtcDay) {
  const TimePoint day1 = At("2025-06-10T23:59:59.999Z");
  const TimePoint day1b = At("2025-06-10T00:00:00.000Z");
  const TimePoint day3 = At("2025-06-12T08:00:00.000Z");
  const std::string referrer = NewUser();
  const auto code = NewCode(referrer, AddDays(kNow, -30));
  const std::string r1 = NewUser();
  const std::string r2 = NewUser();
  const std::string r3 = NewUser();
  Must(Track(r1, code.code, day1));
  Must(Track(r2, code.code, day1b));
  Must(Track(r3, code.code, day3));
  Must(store_->ConvertReferral(Grant(r1, day3)));
  Must(store_->ConvertReferral(Grant(r3, kNow)));

  const auto counts = Must(store_->DailyCounts(At("2025-06-09T00:00:00.000Z"), kNow));
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

  const auto from_day2 = Must(store_->DailyCounts(At("2025-06-11T00:00:00.000Z"), kNow));
  ASSERT_EQ(from_day2.size(), 2U);
  EXPECT_EQ(from_day2[0].date, "2025-06-12");

  // Nothing after now's day.
  const auto until_day1 =
      Must(store_->DailyCounts(At("2025-06-01T00:00:00.000Z"), At("2025-06-10T01:00:00.000Z")));
  ASSERT_EQ(until_day1.size(), 1U);
  EXPECT_EQ(until_day1[0].signups, 2);
}

TEST_P(StoreTest, ExpireCodesDeactivatesDueCodes) {
  NewCode(NewUser(), Hours(kNow, -10), Hours(kNow, -1));
  NewCode(NewUser(), Hours(kNow, -10), kNow);
  const auto live = NewCode(NewUser(), Hours(kNow, -10), Hours(kNow, 1));
  EXPECT_EQ(Must(store_->ExpireCodes(kNow)), 2);
  EXPECT_EQ(Must(store_->ExpireCodes(kNow)), 0);
  EXPECT_TRUE(Must(store_->FindNewestCode(live.user_id))->is_active);
  const auto counts = Must(store_->Analytics(std::nullopt, kNow));
  EXPECT_EQ(counts.active_codes, 1);
  EXPECT_EQ(counts.expired_codes, 2);
}

TEST_P(StoreTest, AwardBadgesOncePerUser) {
  const std::string master = NewUser();
  const std::string almost = NewUser();
  const auto master_code = NewCode(master);
  const auto almost_code = NewCode(almost);
  for (int i = 0; i < 2; ++i) {
    const std::string referred = NewUser();
    Must(Track(referred, master_code.code));
    Must(store_->ConvertReferral(Grant(referred)));
  }
  {
    const std::string converted = NewUser();
    Must(Track(converted, almost_code.code));
    Must(store_->ConvertReferral(Grant(converted)));
    Must(Track(NewUser(), almost_code.code));  // pending does not count
  }

  const auto granted = Must(store_->AwardBadges(2, "Referral Master", Hours(kNow, 1)));
  ASSERT_EQ(granted.size(), 1U);
  EXPECT_EQ(granted[0], master);
  EXPECT_TRUE(Must(store_->AwardBadges(2, "Referral Master", Hours(kNow, 2))).empty());

  const auto rewards = Must(store_->ListRewards(master));
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
  EXPECT_EQ(MachineOf(store_->ClaimReward(master, badge.id, Hours(kNow, 3))), "REWARD_NOT_FOUND");

  // Every reward created counts as awarded, badges included (contract: "counts rewards created
  // in the period"): 3 free_premium + 1 badge.
  EXPECT_EQ(Must(store_->Analytics(std::nullopt, kNow)).total_rewards_awarded, 4);
  EXPECT_EQ(Must(store_->GetReferrerStats(master)).total_rewards_earned, 3);

  // Lowering the threshold later reaches the other referrer, still once.
  const auto second = Must(store_->AwardBadges(1, "Referral Master", Hours(kNow, 3)));
  ASSERT_EQ(second.size(), 1U);
  EXPECT_EQ(second[0], almost);
}

TEST_P(StoreTest, AuditRoundTripFilterOrderAndLimit) {
  domain::AuditEntry entry;
  entry.id = NewId();
  entry.service = "automation_worker";
  entry.action = "job_run";
  entry.status = "failed";
  entry.user_id = std::nullopt;
  entry.details = {{"job", std::string("expire_codes")},
                   {"count", std::int64_t{42}},
                   {"ratio", 0.5},
                   {"dry", true},
                   {"quote", std::string("\"{}'; --")}};
  entry.error_message = "boom";
  entry.created_at = At("2025-06-15T12:00:00.007Z");
  MustOk(store_->AppendAudit(entry));

  const std::string user = NewUser();
  domain::AuditEntry later{"",   "referral", "referral_refused", "failed",
                           user, {},         std::nullopt,       Hours(kNow, 1)};
  MustOk(store_->AppendAudit(later));  // an empty id gets one

  const auto all = Must(store_->ListAudit(std::nullopt, 10));
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0].action, "referral_refused");
  EXPECT_FALSE(all[0].id.empty());
  EXPECT_EQ(all[0].user_id, user);
  EXPECT_TRUE(all[0].details.empty());
  EXPECT_EQ(all[0].error_message, std::nullopt);

  const auto& got = all[1];
  EXPECT_EQ(got.id, entry.id);
  EXPECT_EQ(got.service, entry.service);
  EXPECT_EQ(got.action, entry.action);
  EXPECT_EQ(got.status, entry.status);
  EXPECT_EQ(got.user_id, std::nullopt);
  EXPECT_EQ(got.details, entry.details);  // types and order preserved
  EXPECT_EQ(got.error_message, "boom");
  EXPECT_EQ(got.created_at, entry.created_at);

  const auto worker = Must(store_->ListAudit(std::string("automation_worker"), 10));
  ASSERT_EQ(worker.size(), 1U);
  EXPECT_EQ(worker[0].id, entry.id);
  EXPECT_EQ(Must(store_->ListAudit(std::nullopt, 1)).size(), 1U);
  EXPECT_TRUE(Must(store_->ListAudit(std::string("nobody"), 10)).empty());

  // Equal timestamps: newest id first.
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    domain::AuditEntry same{NewId(), "tie", "x", "success", std::nullopt, {}, std::nullopt, kNow};
    ids.push_back(same.id);
    MustOk(store_->AppendAudit(same));
  }
  std::sort(ids.rbegin(), ids.rend());
  const auto ties = Must(store_->ListAudit(std::string("tie"), 10));
  ASSERT_EQ(ties.size(), 3U);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(ties[i].id, ids[i]);
}

// --- races: exactly once, within one handle and across two (as two processes would) ----------

TEST_P(StoreTest, RaceTrackReferralOneWinner) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const std::string referrer = NewUser();
    const auto code = NewCode(referrer);
    const std::string referred = NewUser();
    std::vector<std::string> outcomes(50);
    RunConcurrently(50, [&](int i) {
      Store* store = stores[static_cast<std::size_t>(i) % stores.size()];
      outcomes[static_cast<std::size_t>(i)] =
          MachineOf(store->TrackReferral({NewUuidV7(kNow, random_), referred, code.code, kNow}));
    });
    const auto tally = Tally(outcomes);
    EXPECT_EQ(tally.at("OK"), 1);
    EXPECT_EQ(tally.at("ALREADY_REFERRED"), 49);
    EXPECT_EQ(Must(store_->GetReferrerStats(referrer)).total_referrals, 1);
  }
}

TEST_P(StoreTest, RaceConversionOneReward) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const auto p = NewPendingPair();
    std::vector<std::string> outcomes(20);
    std::atomic<int> conversions{0};
    RunConcurrently(20, [&](int i) {
      Store* store = stores[static_cast<std::size_t>(i) % stores.size()];
      const domain::ConversionGrant grant{p.referred, NewUuidV7(kNow, random_), 30,
                                          AddDays(kNow, 90), kNow};
      if (i % 2 == 0) {
        auto r = store->ConvertReferral(grant);
        if (r) ++conversions;
        outcomes[static_cast<std::size_t>(i)] = "convert:" + MachineOf(r);
      } else {
        const domain::Subscription sub{
            NewUuidV7(kNow, random_), p.referred, "premium", "active", "sandbox", "ref", kNow};
        auto r = store->CreateSubscription(sub, grant);
        if (r && r->conversion) ++conversions;
        outcomes[static_cast<std::size_t>(i)] = "subscribe:" + MachineOf(r);
      }
    });
    const auto tally = Tally(outcomes);
    EXPECT_EQ(conversions.load(), 1);
    EXPECT_EQ(tally.count("subscribe:OK") ? tally.at("subscribe:OK") : 0, 1);
    EXPECT_EQ(tally.at("subscribe:ALREADY_SUBSCRIBED"), 9);
    const int convert_ok = tally.count("convert:OK") ? tally.at("convert:OK") : 0;
    EXPECT_EQ(convert_ok + tally.at("convert:ALREADY_CONVERTED"), 10);
    EXPECT_EQ(Must(store_->ListRewards(p.referrer)).size(), 1U);
    EXPECT_EQ(Must(store_->GetReferrerStats(p.referrer)).converted_referrals, 1);
  }
}

TEST_P(StoreTest, RaceClaimRewardOneWinner) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const auto p = NewPendingPair();
    const auto reward = Must(store_->ConvertReferral(Grant(p.referred))).reward;
    std::vector<std::string> outcomes(20);
    RunConcurrently(20, [&](int i) {
      Store* store = stores[static_cast<std::size_t>(i) % stores.size()];
      outcomes[static_cast<std::size_t>(i)] =
          MachineOf(store->ClaimReward(p.referrer, reward.id, kNow));
    });
    const auto tally = Tally(outcomes);
    EXPECT_EQ(tally.at("OK"), 1);
    EXPECT_EQ(tally.at("REWARD_NOT_FOUND"), 19);
    EXPECT_EQ(Must(store_->FindUser(p.referrer))->premium_until, AddDays(kNow, 30));
  }
}

TEST_P(StoreTest, RaceCreateCodeOneWinner) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const std::string user = NewUser();
    std::vector<std::string> texts;
    for (int i = 0; i < 50; ++i) texts.push_back(NewCodeText());
    std::vector<std::string> outcomes(50);
    std::vector<std::string> reported(50);
    RunConcurrently(50, [&](int i) {
      const auto idx = static_cast<std::size_t>(i);
      Store* store = stores[idx % stores.size()];
      auto r =
          store->CreateCode({NewUuidV7(kNow, random_), user, texts[idx], kNow, AddDays(kNow, 30)});
      outcomes[idx] = MachineOf(r);
      if (!r && r.error().extra) reported[idx] = r.error().extra->second;
    });
    const auto tally = Tally(outcomes);
    EXPECT_EQ(tally.at("OK"), 1);
    EXPECT_EQ(tally.at("CODE_EXISTS"), 49);
    const auto winner = Must(store_->FindNewestCode(user));
    ASSERT_TRUE(winner.has_value());
    for (std::size_t i = 0; i < 50; ++i) {
      if (outcomes[i] == "CODE_EXISTS") {
        EXPECT_EQ(reported[i], winner->code);
      }
      if (outcomes[i] == "OK") {
        EXPECT_EQ(texts[i], winner->code);
      }
    }
  }
}

TEST_P(StoreTest, RaceAwardBadgesOneBadge) {
  for (int handles : {1, 2}) {
    SCOPED_TRACE(handles);
    const auto stores = Handles(handles);
    const std::string master = NewUser();
    const auto code = NewCode(master);
    for (int i = 0; i < 3; ++i) {
      const std::string referred = NewUser();
      Must(Track(referred, code.code));
      Must(store_->ConvertReferral(Grant(referred)));
    }
    std::atomic<int> granted{0};
    RunConcurrently(8, [&](int i) {
      Store* store = stores[static_cast<std::size_t>(i) % stores.size()];
      auto r = store->AwardBadges(3, "Referral Master", kNow);
      if (r) {
        granted += static_cast<int>(std::count(r->begin(), r->end(), master));
      } else {
        ADD_FAILURE() << r.error().machine;
      }
    });
    EXPECT_EQ(granted.load(), 1);
    int badges = 0;
    for (const auto& r : Must(store_->ListRewards(master))) {
      if (r.type == domain::RewardType::kBadge) ++badges;
    }
    EXPECT_EQ(badges, 1);
  }
}

TEST_P(StoreTest, RaceClaimScheduledRunOneInstanceRunsEachSlot) {
  const auto stores = Handles(2);
  const TimePoint slot = *ParseIso8601("2025-06-15T02:00:00.000Z");
  std::atomic<int> claimed{0};
  RunConcurrently(16, [&](int i) {
    Store* store = stores[static_cast<std::size_t>(i) % stores.size()];
    auto r = store->ClaimScheduledRun("expire-codes", slot, kNow);
    if (!r) {
      ADD_FAILURE() << r.error().machine;
    } else if (*r) {
      ++claimed;
    }
  });
  EXPECT_EQ(claimed.load(), 1);
  // Another job, or the same job's next slot, is a separate claim.
  EXPECT_TRUE(Must(store_->ClaimScheduledRun("award-badges", slot, kNow)));
  EXPECT_TRUE(Must(store_->ClaimScheduledRun("expire-codes", slot + std::chrono::hours{24}, kNow)));
  EXPECT_FALSE(Must(store_->ClaimScheduledRun("expire-codes", slot, kNow)));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::ValuesIn(Backends()),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return param_info.param.name;
                         });

// --- SQLite specifics --------------------------------------------------------------------------

// A raw connection for inspecting what the store wrote.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      throw std::runtime_error("cannot open test database");
    }
    sqlite3_busy_timeout(db_, 5000);
    sqlite3_exec(db_, "PRAGMA foreign_keys = ON", nullptr, nullptr, nullptr);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  int Exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }
  std::string Scalar(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

TEST(SqliteStoreTest, OpenCreatesDirectoryAndMigratesOnce) {
  SystemRandom random;
  TempDir dir;
  const std::string path = (dir.path() / "a" / "b" / "referrald.db").string();
  const std::string user = NewUuidV7(kNow, random);
  {
    auto store = SqliteStore::Open(path, random);
    ASSERT_TRUE(store.has_value()) << store.error().machine;
    MustOk((*store)->UpsertUser(user, "x@example.com", kNow));
    MustOk((*store)->Migrate());  // again: nothing to do
  }
  {
    auto store = SqliteStore::Open(path, random);  // reopening re-applies nothing
    ASSERT_TRUE(store.has_value()) << store.error().machine;
    EXPECT_EQ(Must((*store)->FindUser(user))->email, "x@example.com");
  }
  RawDb raw(path);
  EXPECT_EQ(raw.Scalar("SELECT count(*) FROM schema_migrations"),
            std::to_string(SqliteMigrations().size()));
  EXPECT_EQ(raw.Scalar("SELECT name FROM schema_migrations WHERE version = 1"), "0001_init");
  EXPECT_EQ(raw.Scalar("SELECT length(applied_at) FROM schema_migrations WHERE version = 1"), "24");
  EXPECT_EQ(raw.Scalar("PRAGMA journal_mode"), "wal");
  for (const char* index :
       {"idx_referral_codes_code", "idx_referral_codes_user_id", "idx_referrals_referrer_user_id",
        "idx_referrals_referred_user_id", "idx_referrals_status", "idx_user_rewards_user_id",
        "idx_user_rewards_is_claimed", "idx_automation_logs_service",
        "idx_automation_logs_created_at"}) {
    EXPECT_EQ(raw.Scalar(std::string("SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                     "AND name = '") +
                         index + "'"),
              "1")
        << index;
  }
}

TEST(SqliteStoreTest, ConcurrentOpensMigrateOnce) {
  SystemRandom random;
  TempDir dir;
  const std::string path = (dir.path() / "referrald.db").string();
  // A fresh file: every opener races to create the schema and to switch it to WAL.
  std::vector<std::string> outcomes(6);
  RunConcurrently(6, [&](int i) {
    auto store = SqliteStore::Open(path, random);
    outcomes[static_cast<std::size_t>(i)] = MachineOf(store);
  });
  for (const auto& o : outcomes) EXPECT_EQ(o, "OK");
  RawDb raw(path);
  EXPECT_EQ(raw.Scalar("SELECT count(*) FROM schema_migrations"),
            std::to_string(SqliteMigrations().size()));
}

TEST(SqliteStoreTest, InMemoryDatabaseWorks) {
  SystemRandom random;
  auto opened = SqliteStore::Open(":memory:", random);
  ASSERT_TRUE(opened.has_value()) << opened.error().machine;
  SqliteStore& store = **opened;
  EXPECT_TRUE(store.Ping().has_value());
  const std::string referrer = NewUuidV7(kNow, random);
  const std::string referred = NewUuidV7(kNow, random);
  MustOk(store.UpsertUser(referrer, "r@example.com", kNow));
  MustOk(store.UpsertUser(referred, std::nullopt, kNow));
  const auto code = Must(
      store.CreateCode({NewUuidV7(kNow, random), referrer, "MEMCODE2", kNow, AddDays(kNow, 1)}));
  Must(store.TrackReferral({NewUuidV7(kNow, random), referred, code.code, kNow}));
  EXPECT_EQ(Must(store.GetReferrerStats(referrer)).total_referrals, 1);

  // Reads and writes from many threads share the one connection safely.
  std::atomic<int> failures{0};
  RunConcurrently(8, [&](int i) {
    for (int k = 0; k < 20; ++k) {
      const std::string id = NewUuidV7(kNow, random);
      if (!store.UpsertUser(id, "t" + std::to_string(i) + "@example.com", kNow)) ++failures;
      auto found = store.FindUser(id);
      if (!found || !found->has_value()) ++failures;
      if (!store.Leaderboard(std::nullopt, 10)) ++failures;
    }
  });
  EXPECT_EQ(failures.load(), 0);

  // Each ":memory:" store is its own database.
  auto other = SqliteStore::Open(":memory:", random);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(Must((*other)->FindUser(referrer)), std::nullopt);
}

TEST(SqliteStoreTest, OpenFailuresAreStorageErrors) {
  SystemRandom random;
  TempDir dir;
  // A parent that is a file cannot become a directory.
  const auto blocker = dir.path() / "file";
  std::ofstream(blocker) << "x";
  auto no_dir = SqliteStore::Open((blocker / "referrald.db").string(), random);
  ASSERT_FALSE(no_dir.has_value());
  EXPECT_EQ(no_dir.error().machine, "DATABASE_UNAVAILABLE");

  // Not a database.
  const auto garbage = dir.path() / "garbage.db";
  std::ofstream(garbage) << std::string(8192, 'g');
  auto not_db = SqliteStore::Open(garbage.string(), random);
  ASSERT_FALSE(not_db.has_value());
  EXPECT_EQ(not_db.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(not_db.error().message.find("SELECT"), std::string::npos);
  EXPECT_EQ(not_db.error().message.find("sqlite"), std::string::npos);
}

TEST(SqliteStoreTest, SchemaEnforcesExactlyOnce) {
  SystemRandom random;
  TempDir dir;
  const std::string path = (dir.path() / "referrald.db").string();
  auto opened = SqliteStore::Open(path, random);
  ASSERT_TRUE(opened.has_value());
  SqliteStore& store = **opened;
  const std::string a = NewUuidV7(kNow, random);
  const std::string b = NewUuidV7(kNow, random);
  MustOk(store.UpsertUser(a, std::nullopt, kNow));
  MustOk(store.UpsertUser(b, std::nullopt, kNow));
  const auto code =
      Must(store.CreateCode({NewUuidV7(kNow, random), a, "SCHEMA22", kNow, AddDays(kNow, 9)}));
  const auto referral = Must(store.TrackReferral({NewUuidV7(kNow, random), b, code.code, kNow}));
  Must(store.ConvertReferral({b, NewUuidV7(kNow, random), 30, std::nullopt, kNow}));
  Must(store.AwardBadges(1, "Referral Master", kNow));
  Must(store.CreateSubscription(
      {NewUuidV7(kNow, random), b, "premium", "active", "sandbox", "r", kNow},
      domain::ConversionGrant{b, NewUuidV7(kNow, random), 30, std::nullopt, kNow}));

  RawDb raw(path);
  const std::string ts = "'" + FormatIso8601(kNow) + "'";
  // Second active code for a.
  EXPECT_EQ(raw.Exec("INSERT INTO referral_codes VALUES ('c2', '" + a + "', 'OTHER222', 1, " + ts +
                     ", " + ts + ")"),
            SQLITE_CONSTRAINT);
  // Same code text.
  EXPECT_EQ(raw.Exec("INSERT INTO referral_codes VALUES ('c3', '" + b + "', 'SCHEMA22', 0, " + ts +
                     ", " + ts + ")"),
            SQLITE_CONSTRAINT);
  // Second referrer for b.
  EXPECT_EQ(raw.Exec("INSERT INTO referrals VALUES ('r2', '" + a + "', '" + b + "', '" + code.id +
                     "', 'pending', " + ts + ", NULL)"),
            SQLITE_CONSTRAINT);
  // Second reward for the same referral.
  EXPECT_EQ(raw.Exec("INSERT INTO user_rewards VALUES ('w2', '" + a +
                     "', 'free_premium', '{\"days\":30}', 0, " + ts + ", NULL, NULL, '" +
                     referral.id + "')"),
            SQLITE_CONSTRAINT);
  // Second badge.
  EXPECT_EQ(raw.Exec("INSERT INTO user_rewards VALUES ('w3', '" + a +
                     "', 'badge', '{\"badge\":\"x\"}', 1, " + ts + ", " + ts + ", NULL, NULL)"),
            SQLITE_CONSTRAINT);
  // Second active subscription.
  EXPECT_EQ(raw.Exec("INSERT INTO subscriptions VALUES ('s2', '" + b +
                     "', 'premium', 'active', 'sandbox', 'r', " + ts + ")"),
            SQLITE_CONSTRAINT);
  // Enum checks and foreign keys.
  EXPECT_EQ(raw.Exec("UPDATE referrals SET status = 'weird'"), SQLITE_CONSTRAINT);
  EXPECT_EQ(raw.Exec("INSERT INTO referral_codes VALUES ('c4', 'nobody', 'NOBODY22', 0, " + ts +
                     ", " + ts + ")"),
            SQLITE_CONSTRAINT);
  // The seed's validation queries run.
  EXPECT_EQ(raw.Scalar("SELECT count(*) FROM referrals r "
                       "JOIN referral_codes rc ON r.referral_code_id = rc.id "
                       "JOIN users u1 ON r.referrer_user_id = u1.id "
                       "JOIN users u2 ON r.referred_user_id = u2.id"),
            "1");
}

}  // namespace
}  // namespace referrald::storage
