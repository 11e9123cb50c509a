#pragma once
// domain::Store on SQLite 3 (WAL): one writer connection used by one transaction at a time, every
// write transaction opened with BEGIN IMMEDIATE, and a small pool of reader connections for the
// read methods. The exactly-once rules are constraints in migrations/sqlite/, so several processes
// may share one database file.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "domain/store.hpp"
#include "storage/migrations.hpp"
#include "storage/sqlite/group_commit.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace referrald::storage::sqlite {
class Connection;
class ReaderPool;
}  // namespace referrald::storage::sqlite

namespace referrald::storage {

struct SqliteOptions {
  // Longest wait for the write lock (this process's writer, or another process's).
  std::chrono::milliseconds timeout{5000};
  std::size_t max_readers = 8;
  // The time a migration that rebuilds the aggregates rebuilds them as of.
  std::function<TimePoint()> now = [] { return SystemClock().Now(); };
  // The migrations Migrate applies: each one whose version schema_migrations lacks, in ascending
  // order, whatever the gaps (a lower version that arrives later is applied then). Tests replace
  // the compiled-in list.
  std::span<const Migration> migrations = SqliteMigrations();
};

class SqliteStore final : public domain::Store {
 public:
  // Opens (creating the file and its parent directory if missing) the database at `path`, or a
  // private in-memory database for ":memory:", and applies pending migrations.
  // Errors: StorageUnavailable() when the file cannot be opened, StorageFailure() otherwise.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                   SqliteOptions options = {});

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Applies the migrations not yet recorded in schema_migrations, each in its own transaction.
  // Idempotent and safe against another process migrating at the same time. Open calls it.
  Status Migrate();

  Status Write(const std::function<Status(domain::WriteTx&)>& work) override;
  Status Ping() override;
  Result<std::optional<domain::User>> FindUser(const std::string& user_id) override;
  Result<std::optional<domain::IdempotencyRecord>> FindIdempotencyKey(
      const std::string& user_id, const std::string& key) override;
  Result<std::optional<domain::ReferralCode>> FindNewestCode(const std::string& user_id) override;
  Result<std::optional<domain::LinkLookup>> LookupLink(const std::string& code, std::int64_t day,
                                                       const std::string& visitor) override;
  Result<std::optional<domain::Subscription>> FindActiveSubscription(
      const std::string& user_id) override;
  Result<std::optional<domain::Subscription>> FindNewestSubscription(
      const std::string& user_id) override;
  Result<std::optional<domain::UserExport>> ExportUser(const std::string& user_id) override;
  Result<std::vector<domain::Reward>> ListRewards(const std::string& user_id,
                                                  const domain::PageRequest& page) override;
  Result<std::vector<domain::ReferralListing>> ListReferrals(
      const domain::ReferralFilter& filter, const domain::PageRequest& page) override;
  Result<std::optional<domain::Referral>> FindReferralOf(const std::string& user_id) override;
  Result<domain::ReferrerStats> GetReferrerStats(const std::string& user_id) override;
  Result<std::vector<domain::LeaderboardEntry>> Leaderboard(std::optional<int> window_days,
                                                            TimePoint now, int limit) override;
  Result<domain::AnalyticsCounts> Analytics(std::optional<int> window_days, TimePoint now) override;
  Result<std::vector<domain::DailyCount>> DailyCounts(std::int64_t first_day,
                                                      std::int64_t last_day) override;
  Result<std::vector<std::string>> BadgeCandidates(std::int64_t threshold) override;
  Result<std::vector<domain::AuditEntry>> ListAudit(const std::optional<std::string>& service,
                                                    const domain::PageRequest& page) override;
  Result<domain::EventPage> ListEvents(const domain::EventPosition& after,
                                       std::optional<domain::EventType> type, int limit) override;
  Status InsertWebhook(const domain::WebhookEndpoint& endpoint) override;
  Result<std::vector<domain::WebhookEndpoint>> ListWebhooks() override;
  Result<std::optional<domain::WebhookEndpoint>> FindWebhook(const std::string& id) override;
  Result<bool> DeleteWebhook(const std::string& id) override;
  Result<std::vector<domain::WebhookDelivery>> ListDeliveries(
      const std::string& endpoint_id, const domain::PageRequest& page) override;
  Result<domain::FanOutResult> FanOutEvents(TimePoint now, int batch) override;
  Result<std::optional<std::int64_t>> RequeueDeliveries(const std::string& endpoint_id,
                                                        const domain::EventPosition& after,
                                                        TimePoint now) override;
  Result<std::optional<domain::ClaimedDelivery>> ClaimDelivery(TimePoint now, TimePoint lease_until,
                                                               const std::string& lease) override;
  Result<bool> RecordDeliveryAttempt(const domain::DeliveryAttempt& attempt) override;
  Status ReleaseDelivery(const std::string& endpoint_id, const std::string& event_id,
                         const std::string& lease) override;
  Result<domain::ReadModels> RecountReadModels(TimePoint now) override;
  Status RebuildAggregates(TimePoint now) override;

 private:
  class ReadLease;
  class Tx;

  SqliteStore(std::string path, bool in_memory, const SqliteOptions& options);
  ReadLease AcquireReader();
  std::unique_lock<std::timed_mutex> LockWriter();
  // Runs a batch of Write requests in one transaction (see sqlite/group_commit.hpp).
  void RunBatch(std::span<sqlite::GroupCommit::Request* const> batch);
  // Inside the caller's write transaction on `conn`.
  static void RebuildAggregatesIn(sqlite::Connection& conn, TimePoint now);

  const std::string path_;
  // ":memory:" databases are private to one connection: then the writer also serves reads.
  const bool in_memory_;
  const SqliteOptions options_;
  std::timed_mutex writer_mutex_;
  std::unique_ptr<sqlite::Connection> writer_;  // guarded by writer_mutex_
  std::unique_ptr<sqlite::ReaderPool> readers_;
  sqlite::GroupCommit group_commit_;
};

}  // namespace referrald::storage
