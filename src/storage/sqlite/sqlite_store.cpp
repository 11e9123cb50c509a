#include "storage/sqlite/sqlite_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "codec/json_codec.hpp"
#include "domain/errors.hpp"
#include "storage/common/guard.hpp"
#include "storage/common/readers.hpp"
#include "storage/common/storage_error.hpp"
#include "storage/migrations.hpp"
#include "storage/sqlite/connection.hpp"
#include "util/time_format.hpp"

namespace referrald::storage {
namespace {

using sqlite::Connection;
using sqlite::QueryExists;
using sqlite::Stmt;

constexpr std::string_view kBackend = "sqlite";

// Timestamps are TEXT in exactly the FormatIso8601 form, so text order is time order.
// Ids are TEXT lowercase UUIDs; booleans INTEGER 0/1; JSON TEXT.

constexpr char kPing[] = "SELECT 1";

// --- migrations -------------------------------------------------------------------------------
constexpr char kCreateSchemaMigrations[] = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at TEXT NOT NULL
))sql";
constexpr char kSelectMigrationApplied[] = "SELECT 1 FROM schema_migrations WHERE version = ?1";
// applied_at is bookkeeping only, so the database's clock is good enough here.
constexpr char kInsertMigration[] = R"sql(
INSERT INTO schema_migrations (version, name, applied_at)
VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))sql";

// --- users ------------------------------------------------------------------------------------
constexpr char kSelectUser[] =
    "SELECT id, email, created_at, premium_until FROM users WHERE id = ?1";
constexpr char kUpsertUser[] = R"sql(
INSERT INTO users (id, email, created_at) VALUES (?1, ?2, ?3)
ON CONFLICT (id) DO UPDATE SET email = excluded.email
WHERE excluded.email IS NOT NULL AND users.email IS NOT excluded.email)sql";
constexpr char kSelectPremiumUntil[] = "SELECT premium_until FROM users WHERE id = ?1";
constexpr char kUpdatePremiumUntil[] = "UPDATE users SET premium_until = ?2 WHERE id = ?1";

// --- referral codes ---------------------------------------------------------------------------
constexpr char kSelectActiveCodeOfUser[] = R"sql(
SELECT id, user_id, code, is_active, created_at, expires_at FROM referral_codes
WHERE user_id = ?1 AND is_active = 1)sql";
constexpr char kDeactivateCode[] = "UPDATE referral_codes SET is_active = 0 WHERE id = ?1";
// DO NOTHING on either unique index (the code's text, the user's one active code): the caller
// tells which from what is stored, without aborting the transaction.
constexpr char kInsertCode[] = R"sql(
INSERT INTO referral_codes (id, user_id, code, is_active, created_at, expires_at)
VALUES (?1, ?2, ?3, 1, ?4, ?5)
ON CONFLICT DO NOTHING)sql";
constexpr char kSelectCodeTaken[] = "SELECT 1 FROM referral_codes WHERE code = ?1";
constexpr char kSelectCodeByText[] = R"sql(
SELECT id, user_id, code, is_active, created_at, expires_at FROM referral_codes
WHERE code = ?1)sql";
constexpr char kSelectNewestCode[] = R"sql(
SELECT id, user_id, code, is_active, created_at, expires_at FROM referral_codes
WHERE user_id = ?1 ORDER BY created_at DESC, id DESC LIMIT 1)sql";
constexpr char kExpireCodes[] =
    "UPDATE referral_codes SET is_active = 0 WHERE is_active = 1 AND expires_at <= ?1";

// --- referrals --------------------------------------------------------------------------------
constexpr char kSelectReferralOfReferred[] = R"sql(
SELECT id, referrer_user_id, referred_user_id, referral_code_id, status, created_at, converted_at
FROM referrals WHERE referred_user_id = ?1)sql";
// The unique index on referred_user_id makes a second referrer a no-op.
constexpr char kInsertReferral[] = R"sql(
INSERT INTO referrals (id, referrer_user_id, referred_user_id, referral_code_id, status,
                       created_at)
VALUES (?1, ?2, ?3, ?4, 'pending', ?5)
ON CONFLICT DO NOTHING)sql";
// The single conditional statement that makes a conversion happen once.
constexpr char kConvertPendingReferral[] = R"sql(
UPDATE referrals SET status = 'converted', converted_at = ?2
WHERE referred_user_id = ?1 AND status = 'pending'
RETURNING id, referrer_user_id, referred_user_id, referral_code_id, status, created_at,
          converted_at)sql";

// --- rewards ----------------------------------------------------------------------------------
constexpr char kInsertReward[] = R"sql(
INSERT INTO user_rewards (id, user_id, reward_type, reward_value, is_claimed, created_at,
                          claimed_at, expires_at, source_referral_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9))sql";
// Re-checks the threshold in the statement itself; the partial unique index on (user_id) WHERE
// reward_type = 'badge' makes it a no-op for a user who already has a badge, whoever inserted it.
constexpr char kInsertBadge[] = R"sql(
INSERT INTO user_rewards (id, user_id, reward_type, reward_value, is_claimed, created_at,
                          claimed_at, expires_at, source_referral_id)
SELECT ?1, ?2, 'badge', ?3, 1, ?4, ?4, NULL, NULL
WHERE (SELECT count(*) FROM referrals WHERE referrer_user_id = ?2 AND status = 'converted') >= ?5
ON CONFLICT DO NOTHING)sql";
constexpr char kSelectReward[] = R"sql(
SELECT id, user_id, reward_type, reward_value, is_claimed, created_at, claimed_at, expires_at,
       source_referral_id
FROM user_rewards WHERE id = ?1)sql";
constexpr char kSelectRewardsOfUser[] = R"sql(
SELECT id, user_id, reward_type, reward_value, is_claimed, created_at, claimed_at, expires_at,
       source_referral_id
FROM user_rewards WHERE user_id = ?1 ORDER BY created_at DESC, id DESC)sql";
// The single conditional statement that makes a claim happen once.
constexpr char kClaimReward[] = R"sql(
UPDATE user_rewards SET is_claimed = 1, claimed_at = ?3
WHERE id = ?1 AND user_id = ?2 AND is_claimed = 0 AND (expires_at IS NULL OR expires_at > ?3))sql";
constexpr char kSelectBadgeCandidates[] = R"sql(
SELECT referrer_user_id FROM referrals
WHERE status = 'converted'
  AND referrer_user_id NOT IN (SELECT user_id FROM user_rewards WHERE reward_type = 'badge')
GROUP BY referrer_user_id HAVING count(*) >= ?1
ORDER BY referrer_user_id)sql";

// --- subscriptions ----------------------------------------------------------------------------
constexpr char kSelectActiveSubscription[] = R"sql(
SELECT id, user_id, tier, status, provider, provider_ref, created_at
FROM subscriptions WHERE user_id = ?1 AND status = 'active')sql";
// The partial unique index (one active subscription per user) makes a second one a no-op.
constexpr char kInsertSubscription[] = R"sql(
INSERT INTO subscriptions (id, user_id, tier, status, provider, provider_ref, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT DO NOTHING)sql";

// --- read models ------------------------------------------------------------------------------
constexpr char kSelectReferrerStats[] = R"sql(
SELECT
  (SELECT count(*) FROM referrals WHERE referrer_user_id = ?1),
  (SELECT count(*) FROM referrals WHERE referrer_user_id = ?1 AND status = 'converted'),
  (SELECT count(*) FROM referrals WHERE referrer_user_id = ?1 AND status = 'pending'),
  (SELECT count(*) FROM user_rewards WHERE user_id = ?1))sql";
// ?1 is the period's first instant, '' for all time (every timestamp sorts after '').
constexpr char kSelectLeaderboard[] = R"sql(
SELECT r.referrer_user_id, u.email, count(*) AS total,
       sum(CASE WHEN r.status = 'converted' THEN 1 ELSE 0 END) AS converted
FROM referrals r LEFT JOIN users u ON u.id = r.referrer_user_id
WHERE r.created_at >= ?1
GROUP BY r.referrer_user_id, u.email
ORDER BY converted DESC, total DESC, r.referrer_user_id ASC
LIMIT ?2)sql";
constexpr char kSelectAnalytics[] = R"sql(
SELECT
  (SELECT count(*) FROM referrals WHERE created_at >= ?1),
  (SELECT count(*) FROM referrals WHERE created_at >= ?1 AND status = 'converted'),
  (SELECT count(*) FROM user_rewards WHERE created_at >= ?1),
  (SELECT count(*) FROM referral_codes WHERE is_active = 1 AND expires_at > ?2),
  (SELECT count(*) FROM referral_codes))sql";
constexpr char kSelectDailySignups[] = R"sql(
SELECT substr(created_at, 1, 10) AS day, count(*) FROM referrals
WHERE created_at >= ?1 AND created_at < ?2
GROUP BY day ORDER BY day)sql";
constexpr char kSelectDailyConversions[] = R"sql(
SELECT substr(converted_at, 1, 10) AS day, count(*) FROM referrals
WHERE converted_at >= ?1 AND converted_at < ?2
GROUP BY day ORDER BY day)sql";

// --- scheduled runs ---------------------------------------------------------------------------
constexpr char kClaimJobRun[] = R"sql(
INSERT INTO job_runs (job, slot, claimed_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING)sql";

// --- audit ------------------------------------------------------------------------------------
constexpr char kInsertAudit[] = R"sql(
INSERT INTO automation_logs (id, service, action, status, user_id, details, error_message,
                             created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8))sql";
constexpr char kSelectAudit[] = R"sql(
SELECT id, service, action, status, user_id, details, error_message, created_at
FROM automation_logs ORDER BY created_at DESC, id DESC LIMIT ?1)sql";
constexpr char kSelectAuditOfService[] = R"sql(
SELECT id, service, action, status, user_id, details, error_message, created_at
FROM automation_logs WHERE service = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2)sql";

std::string SinceText(std::optional<TimePoint> since) {
  return since ? FormatIso8601(*since) : std::string();
}

}  // namespace

// --- the steps of a write transaction, on the writer connection ---------------------------------

class SqliteStore::Tx final : public domain::WriteTx {
 public:
  explicit Tx(Connection& conn) : conn_(conn), guard_(kBackend) {}

  Status UpsertUser(const domain::Actor& actor, TimePoint now) override {
    return guard_("UpsertUser", [&]() -> Status {
      Stmt(conn_, kUpsertUser).Bind(actor.id, actor.email, now).Run();
      return {};
    });
  }

  Result<std::optional<TimePoint>> LockPremiumUntil(const std::string& user_id) override {
    // The transaction already holds the database's only write lock.
    return guard_("LockPremiumUntil", [&]() -> Result<std::optional<TimePoint>> {
      Stmt select(conn_, kSelectPremiumUntil);
      select.Bind(user_id);
      if (!select.Step()) return std::optional<TimePoint>();
      return select.OptTime(0);
    });
  }

  Status SetPremiumUntil(const std::string& user_id, TimePoint until) override {
    return guard_("SetPremiumUntil", [&]() -> Status {
      Stmt(conn_, kUpdatePremiumUntil).Bind(user_id, until).Run();
      return {};
    });
  }

  Status LockUserPair(const std::string& /*a*/, const std::string& /*b*/) override {
    return {};  // write transactions are serialised by BEGIN IMMEDIATE already
  }

  Result<std::optional<domain::ReferralCode>> FindActiveCode(const std::string& user_id) override {
    return guard_("FindActiveCode", [&]() -> Result<std::optional<domain::ReferralCode>> {
      Stmt select(conn_, kSelectActiveCodeOfUser);
      select.Bind(user_id);
      if (!select.Step()) return std::optional<domain::ReferralCode>();
      return std::optional<domain::ReferralCode>(ReadCode(select));
    });
  }

  Status DeactivateCode(const std::string& code_id) override {
    return guard_("DeactivateCode", [&]() -> Status {
      Stmt(conn_, kDeactivateCode).Bind(code_id).Run();
      return {};
    });
  }

  Result<domain::CodeInsert> InsertCode(const domain::ReferralCode& code) override {
    return guard_("InsertCode", [&]() -> Result<domain::CodeInsert> {
      Stmt(conn_, kInsertCode)
          .Bind(code.id, code.user_id, code.code, code.created_at, code.expires_at)
          .Run();
      if (conn_.Changes() == 1) return domain::CodeInsert::kInserted;
      if (QueryExists(conn_, kSelectCodeTaken, code.code)) return domain::CodeInsert::kCodeTaken;
      return domain::CodeInsert::kUserHasActiveCode;
    });
  }

  Result<std::optional<domain::ReferralCode>> FindCodeByText(const std::string& code) override {
    return guard_("FindCodeByText", [&]() -> Result<std::optional<domain::ReferralCode>> {
      Stmt select(conn_, kSelectCodeByText);
      select.Bind(code);
      if (!select.Step()) return std::optional<domain::ReferralCode>();
      return std::optional<domain::ReferralCode>(ReadCode(select));
    });
  }

  Result<std::int64_t> ExpireCodes(TimePoint now) override {
    return guard_("ExpireCodes", [&]() -> Result<std::int64_t> {
      Stmt(conn_, kExpireCodes).Bind(now).Run();
      return conn_.Changes();
    });
  }

  Result<std::optional<domain::Referral>> FindReferralOf(const std::string& user_id) override {
    return guard_("FindReferralOf", [&]() -> Result<std::optional<domain::Referral>> {
      Stmt select(conn_, kSelectReferralOfReferred);
      select.Bind(user_id);
      if (!select.Step()) return std::optional<domain::Referral>();
      return std::optional<domain::Referral>(ReadReferral(select));
    });
  }

  Result<bool> InsertReferral(const domain::Referral& r) override {
    return guard_("InsertReferral", [&]() -> Result<bool> {
      Stmt(conn_, kInsertReferral)
          .Bind(r.id, r.referrer_user_id, r.referred_user_id, r.referral_code_id, r.created_at)
          .Run();
      return conn_.Changes() == 1;
    });
  }

  Result<std::optional<domain::Referral>> ConvertPendingReferral(const std::string& user_id,
                                                                 TimePoint now) override {
    return guard_("ConvertPendingReferral", [&]() -> Result<std::optional<domain::Referral>> {
      Stmt update(conn_, kConvertPendingReferral);
      update.Bind(user_id, now);
      if (!update.Step()) return std::optional<domain::Referral>();
      std::optional<domain::Referral> referral(ReadReferral(update));
      update.Run();
      return referral;
    });
  }

  Status InsertReward(const domain::Reward& reward) override {
    return guard_("InsertReward", [&]() -> Status {
      Stmt(conn_, kInsertReward)
          .Bind(reward.id, reward.user_id, domain::ToString(reward.type),
                codec::EncodeRewardValue(reward.value), reward.is_claimed, reward.created_at,
                reward.claimed_at, reward.expires_at, reward.source_referral_id)
          .Run();
      return {};
    });
  }

  Result<std::optional<domain::Reward>> FindReward(const std::string& reward_id) override {
    return guard_("FindReward", [&]() -> Result<std::optional<domain::Reward>> {
      Stmt select(conn_, kSelectReward);
      select.Bind(reward_id);
      if (!select.Step()) return std::optional<domain::Reward>();
      return std::optional<domain::Reward>(ReadReward(select));
    });
  }

  Result<bool> MarkRewardClaimed(const std::string& reward_id, const std::string& user_id,
                                 TimePoint now) override {
    return guard_("MarkRewardClaimed", [&]() -> Result<bool> {
      Stmt(conn_, kClaimReward).Bind(reward_id, user_id, now).Run();
      return conn_.Changes() == 1;
    });
  }

  Result<bool> InsertBadge(const domain::Reward& badge, std::int64_t threshold) override {
    return guard_("InsertBadge", [&]() -> Result<bool> {
      Stmt(conn_, kInsertBadge)
          .Bind(badge.id, badge.user_id, codec::EncodeRewardValue(badge.value), badge.created_at,
                threshold)
          .Run();
      return conn_.Changes() == 1;
    });
  }

  Result<bool> InsertSubscription(const domain::Subscription& s) override {
    return guard_("InsertSubscription", [&]() -> Result<bool> {
      Stmt(conn_, kInsertSubscription)
          .Bind(s.id, s.user_id, s.tier, s.status, s.provider, s.provider_ref, s.created_at)
          .Run();
      return conn_.Changes() == 1;
    });
  }

  Result<bool> ClaimScheduledRun(const std::string& job, TimePoint slot, TimePoint now) override {
    return guard_("ClaimScheduledRun", [&]() -> Result<bool> {
      Stmt(conn_, kClaimJobRun).Bind(job, slot, now).Run();
      return conn_.Changes() == 1;
    });
  }

  Status AppendAudit(const domain::AuditEntry& e) override {
    return guard_("AppendAudit", [&]() -> Status {
      Stmt(conn_, kInsertAudit)
          .Bind(e.id, e.service, e.action, e.status, e.user_id, codec::EncodeDetails(e.details),
                e.error_message, e.created_at)
          .Run();
      return {};
    });
  }

 private:
  Connection& conn_;
  StepGuard guard_;
};

// Either a pooled reader connection, or (in memory) the writer connection under its mutex.
class SqliteStore::ReadLease {
 public:
  ReadLease(sqlite::ReaderPool& pool, std::unique_ptr<Connection> conn)
      : pool_(&pool), owned_(std::move(conn)), conn_(owned_.get()) {}
  ReadLease(std::unique_lock<std::timed_mutex> lock, Connection& conn)
      : lock_(std::move(lock)), conn_(&conn) {}
  ReadLease(ReadLease&&) noexcept = default;
  ReadLease& operator=(ReadLease&&) = delete;
  ReadLease(const ReadLease&) = delete;
  ReadLease& operator=(const ReadLease&) = delete;
  ~ReadLease() {
    if (owned_) pool_->Release(std::move(owned_));
  }

  Connection& operator*() const { return *conn_; }

 private:
  sqlite::ReaderPool* pool_ = nullptr;
  std::unique_ptr<Connection> owned_;
  std::unique_lock<std::timed_mutex> lock_;
  Connection* conn_;
};

SqliteStore::SqliteStore(std::string path, bool in_memory, SqliteOptions options)
    : path_(std::move(path)),
      in_memory_(in_memory),
      options_(options),
      readers_(in_memory
                   ? nullptr
                   : std::make_unique<sqlite::ReaderPool>(
                         path_, options.max_readers, static_cast<int>(options.timeout.count()))) {}

SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                       SqliteOptions options) {
  const bool in_memory = path.empty() || path == ":memory:" || path.starts_with("file::memory:") ||
                         path.find("mode=memory") != std::string::npos;
  if (!in_memory && !path.starts_with("file:")) {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      spdlog::error("sqlite Open: cannot create directory {}: {}", parent.string(), ec.message());
      return domain::errors::StorageUnavailable();
    }
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, in_memory, options));
  const Status opened = Guarded(kBackend, "Open", [&]() -> Status {
    store->writer_ = Connection::Open(path, Connection::Role::kWriter, in_memory,
                                      static_cast<int>(options.timeout.count()));
    return {};
  });
  if (!opened) return opened.error();
  if (Status migrated = store->Migrate(); !migrated) return migrated.error();
  return Result<std::unique_ptr<SqliteStore>>(std::move(store));
}

std::unique_lock<std::timed_mutex> SqliteStore::LockWriter() {
  std::unique_lock lock(writer_mutex_, options_.timeout);
  if (!lock.owns_lock()) {
    throw StorageError(StorageError::Kind::kUnavailable, "timed out waiting for the writer");
  }
  return lock;
}

SqliteStore::ReadLease SqliteStore::AcquireReader() {
  if (in_memory_) return {LockWriter(), *writer_};
  return {*readers_, readers_->Acquire()};
}

Status SqliteStore::Migrate() {
  return Guarded(kBackend, "Migrate", [&]() -> Status {
    auto lock = LockWriter();
    Connection& conn = *writer_;
    conn.Exec(kCreateSchemaMigrations);
    const auto all = SqliteMigrations();
    std::vector<Migration> pending(all.begin(), all.end());
    std::sort(pending.begin(), pending.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    for (const Migration& migration : pending) {
      if (migration.sql.empty()) continue;
      // BEGIN IMMEDIATE takes the write lock, so re-checking under it keeps two processes from
      // applying the same migration.
      sqlite::WriteTransaction tx(conn);
      if (QueryExists(conn, kSelectMigrationApplied, migration.version)) continue;
      conn.Exec(std::string(migration.sql).c_str());
      Stmt(conn, kInsertMigration).Bind(migration.version, migration.name).Run();
      tx.Commit();
      spdlog::info("sqlite: applied migration {}", migration.name);
    }
    return {};
  });
}

Status SqliteStore::Write(const std::function<Status(domain::WriteTx&)>& work) {
  return Guarded(kBackend, "Write", [&]() -> Status {
    auto lock = LockWriter();
    sqlite::WriteTransaction transaction(*writer_);
    Tx steps(*writer_);
    Status done = work(steps);
    if (!done) return done;  // rolled back as `transaction` goes
    transaction.Commit();
    return {};
  });
}

Status SqliteStore::Ping() {
  Status status = Guarded(kBackend, "Ping", [&]() -> Status {
    ReadLease lease = AcquireReader();
    Stmt(*lease, kPing).Run();
    return {};
  });
  if (!status) return domain::errors::StorageUnavailable();
  return status;
}

Result<std::optional<domain::User>> SqliteStore::FindUser(const std::string& user_id) {
  return Guarded(kBackend, "FindUser", [&]() -> Result<std::optional<domain::User>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectUser);
    select.Bind(user_id);
    if (!select.Step()) return std::optional<domain::User>();
    return std::optional<domain::User>(ReadUser(select));
  });
}

Result<std::optional<domain::ReferralCode>> SqliteStore::FindNewestCode(
    const std::string& user_id) {
  return Guarded(kBackend, "FindNewestCode", [&]() -> Result<std::optional<domain::ReferralCode>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectNewestCode);
    select.Bind(user_id);
    if (!select.Step()) return std::optional<domain::ReferralCode>();
    return std::optional<domain::ReferralCode>(ReadCode(select));
  });
}

Result<std::optional<domain::Subscription>> SqliteStore::FindActiveSubscription(
    const std::string& user_id) {
  return Guarded(kBackend, "FindActiveSubscription",
                 [&]() -> Result<std::optional<domain::Subscription>> {
                   ReadLease lease = AcquireReader();
                   Stmt select(*lease, kSelectActiveSubscription);
                   select.Bind(user_id);
                   if (!select.Step()) return std::optional<domain::Subscription>();
                   return std::optional<domain::Subscription>(ReadSubscription(select));
                 });
}

Result<std::vector<domain::Reward>> SqliteStore::ListRewards(const std::string& user_id) {
  return Guarded(kBackend, "ListRewards", [&]() -> Result<std::vector<domain::Reward>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectRewardsOfUser);
    select.Bind(user_id);
    std::vector<domain::Reward> rewards;
    while (select.Step()) rewards.push_back(ReadReward(select));
    return rewards;
  });
}

Result<domain::ReferrerStats> SqliteStore::GetReferrerStats(const std::string& user_id) {
  return Guarded(kBackend, "GetReferrerStats", [&]() -> Result<domain::ReferrerStats> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectReferrerStats);
    select.Bind(user_id);
    domain::ReferrerStats stats;
    if (select.Step()) {
      stats.total_referrals = select.Int(0);
      stats.converted_referrals = select.Int(1);
      stats.pending_referrals = select.Int(2);
      stats.total_rewards_earned = select.Int(3);
    }
    return stats;
  });
}

Result<std::vector<domain::LeaderboardEntry>> SqliteStore::Leaderboard(
    std::optional<TimePoint> since, int limit) {
  return Guarded(kBackend, "Leaderboard", [&]() -> Result<std::vector<domain::LeaderboardEntry>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectLeaderboard);
    select.Bind(SinceText(since), std::max(limit, 0));
    std::vector<domain::LeaderboardEntry> rows;
    while (select.Step()) rows.push_back(ReadLeaderboardEntry(select));
    return rows;
  });
}

Result<domain::AnalyticsCounts> SqliteStore::Analytics(std::optional<TimePoint> since,
                                                       TimePoint now) {
  return Guarded(kBackend, "Analytics", [&]() -> Result<domain::AnalyticsCounts> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectAnalytics);
    select.Bind(SinceText(since), now);
    domain::AnalyticsCounts counts;
    if (select.Step()) {
      counts.total_referrals = select.Int(0);
      counts.converted_referrals = select.Int(1);
      counts.total_rewards_awarded = select.Int(2);
      counts.active_codes = select.Int(3);
      counts.expired_codes = select.Int(4) - counts.active_codes;
    }
    return counts;
  });
}

Result<std::vector<domain::DailyCount>> SqliteStore::DailyCounts(TimePoint from, TimePoint now) {
  return Guarded(kBackend, "DailyCounts", [&]() -> Result<std::vector<domain::DailyCount>> {
    // Everything up to the end of now's UTC day.
    const TimePoint until = AddDays(StartOfUtcDay(now), 1);
    std::map<std::string, domain::DailyCount> days;
    ReadLease lease = AcquireReader();
    sqlite::ReadTransaction snapshot(*lease);
    {
      Stmt select(*lease, kSelectDailySignups);
      select.Bind(from, until);
      while (select.Step()) days[select.Text(0)].signups = select.Int(1);
    }
    {
      Stmt select(*lease, kSelectDailyConversions);
      select.Bind(from, until);
      while (select.Step()) days[select.Text(0)].conversions = select.Int(1);
    }
    std::vector<domain::DailyCount> out;
    out.reserve(days.size());
    for (auto& [date, count] : days) {
      count.date = date;
      out.push_back(std::move(count));
    }
    return out;
  });
}

Result<std::vector<std::string>> SqliteStore::BadgeCandidates(std::int64_t threshold) {
  return Guarded(kBackend, "BadgeCandidates", [&]() -> Result<std::vector<std::string>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectBadgeCandidates);
    select.Bind(threshold);
    std::vector<std::string> users;
    while (select.Step()) users.push_back(select.Text(0));
    return users;
  });
}

Result<std::vector<domain::AuditEntry>> SqliteStore::ListAudit(
    const std::optional<std::string>& service, int limit) {
  return Guarded(kBackend, "ListAudit", [&]() -> Result<std::vector<domain::AuditEntry>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, service ? kSelectAuditOfService : kSelectAudit);
    if (service) {
      select.Bind(*service, std::max(limit, 0));
    } else {
      select.Bind(std::max(limit, 0));
    }
    std::vector<domain::AuditEntry> entries;
    while (select.Step()) entries.push_back(ReadAudit(select));
    return entries;
  });
}

}  // namespace referrald::storage
