#pragma once
// domain::Store on SQLite 3 (WAL): one writer connection used under a mutex, every write
// transaction opened with BEGIN IMMEDIATE, and a small pool of reader connections for the read
// methods. The exactly-once rules are constraints in migrations/sqlite/0001_init.sql, so several
// processes may share one database file.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "domain/store.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace referrald::storage {

namespace sqlite_detail {
class Connection;
class ReaderPool;
}  // namespace sqlite_detail

class SqliteStore final : public domain::Store {
 public:
  // Opens (creating the file and its parent directory if missing) the database at `path`, or a
  // private in-memory database for ":memory:", and applies pending migrations. `random` supplies
  // ids for the rows the store creates itself (audit rows, badges); it must outlive the store.
  // Errors: StorageUnavailable() when the file cannot be opened, StorageFailure() otherwise.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path, RandomSource& random);

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Applies the migrations not yet recorded in schema_migrations, each in its own transaction.
  // Idempotent and safe against another process migrating at the same time. Open calls it.
  Status Migrate();

  Status Ping() override;
  Status UpsertUser(const std::string& user_id, const std::optional<std::string>& email,
                    TimePoint now) override;
  Result<std::optional<domain::User>> FindUser(const std::string& user_id) override;
  Result<domain::ReferralCode> CreateCode(const domain::NewCode& code) override;
  Result<std::optional<domain::ReferralCode>> FindNewestCode(const std::string& user_id) override;
  Result<domain::Referral> TrackReferral(const domain::NewReferral& referral) override;
  Result<domain::Conversion> ConvertReferral(const domain::ConversionGrant& grant) override;
  Result<domain::SubscriptionCreated> CreateSubscription(
      const domain::Subscription& subscription,
      const std::optional<domain::ConversionGrant>& grant) override;
  Result<std::optional<domain::Subscription>> FindActiveSubscription(
      const std::string& user_id) override;
  Result<std::vector<domain::Reward>> ListRewards(const std::string& user_id) override;
  Result<domain::Reward> ClaimReward(const std::string& user_id, const std::string& reward_id,
                                     TimePoint now) override;
  Result<domain::ReferrerStats> GetReferrerStats(const std::string& user_id) override;
  Result<std::vector<domain::LeaderboardEntry>> Leaderboard(std::optional<TimePoint> since,
                                                            int limit) override;
  Result<domain::AnalyticsCounts> Analytics(std::optional<TimePoint> since, TimePoint now) override;
  Result<std::vector<domain::DailyCount>> DailyCounts(TimePoint from, TimePoint now) override;
  Result<std::int64_t> ExpireCodes(TimePoint now) override;
  Result<std::vector<std::string>> AwardBadges(std::int64_t threshold,
                                               const std::string& badge_name,
                                               TimePoint now) override;
  Result<bool> ClaimScheduledRun(const std::string& job, TimePoint slot, TimePoint now) override;
  Status AppendAudit(const domain::AuditEntry& entry) override;
  Result<std::vector<domain::AuditEntry>> ListAudit(const std::optional<std::string>& service,
                                                    int limit) override;

 private:
  class ReadLease;

  SqliteStore(std::string path, bool in_memory, RandomSource& random);
  ReadLease AcquireReader();

  const std::string path_;
  // ":memory:" databases are private to one connection: then the writer also serves reads.
  const bool in_memory_;
  RandomSource& random_;
  std::mutex writer_mutex_;
  std::unique_ptr<sqlite_detail::Connection> writer_;  // guarded by writer_mutex_
  std::unique_ptr<sqlite_detail::ReaderPool> readers_;
};

}  // namespace referrald::storage
