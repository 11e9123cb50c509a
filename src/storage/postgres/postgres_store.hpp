#pragma once
// domain::Store on PostgreSQL over libpq: a pool of DB_POOL_SIZE connections, prepared
// statements, READ COMMITTED transactions in which every exactly-once rule is a constraint or a
// single conditional statement (so any number of processes may share the database), and a
// deadline of DATABASE_TIMEOUT_MS on everything a request waits for (a pooled connection, a lock,
// a statement): past it the request answers DATABASE_UNAVAILABLE. A connection is lent to one
// transaction or one read at a time and returned at once; broken connections are replaced, so
// the store recovers by itself when the server comes back.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "domain/store.hpp"
#include "storage/migrations.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace referrald::storage::postgres {
class Connection;
class Pool;
}  // namespace referrald::storage::postgres

namespace referrald::storage {

struct PostgresOptions {
  std::string url;  // postgres://… or postgresql://… (libpq URI); may hold a password
  int pool_size = 8;
  std::chrono::milliseconds timeout{5000};
  // Rows the program-wide aggregates are split into, so that writers of different referrers do
  // not all update one row (reads sum them; any number gives the same answers).
  int aggregate_shards = 16;
  // Longest wait for another instance's migrations (and for running them, or a recount).
  std::chrono::milliseconds migration_timeout{std::chrono::minutes(10)};
  // The time a migration that rebuilds the aggregates rebuilds them as of.
  std::function<TimePoint()> now = [] { return SystemClock().Now(); };
  // The migrations Migrate applies: each one whose version schema_migrations lacks, in ascending
  // order, whatever the gaps (a lower version that arrives later is applied then). Tests replace
  // the compiled-in list.
  std::span<const Migration> migrations = PostgresMigrations();
};

class PostgresStore final : public domain::Store {
 public:
  // Connects, applies pending migrations (under an advisory lock, so instances starting together
  // migrate once) and returns the store. Errors: StorageUnavailable() when the server cannot be
  // reached, StorageFailure() otherwise (a malformed URL, a failed migration).
  static Result<std::unique_ptr<PostgresStore>> Open(const PostgresOptions& options);

  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // Applies the migrations not yet recorded in schema_migrations, each in its own transaction.
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
  // Lists only events of transactions below the statement's snapshot xmin, in (tx_id, seq)
  // order: see migrations/postgres/0004_events.sql for why that never skips one.
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
  class Tx;

  explicit PostgresStore(PostgresOptions options);
  [[nodiscard]] std::chrono::steady_clock::time_point Deadline() const;
  // Inside the caller's transaction on `conn`.
  static void RebuildAggregatesIn(postgres::Connection& conn, TimePoint now,
                                  std::chrono::steady_clock::time_point deadline);

  const PostgresOptions options_;
  std::unique_ptr<postgres::Pool> pool_;
};

}  // namespace referrald::storage
