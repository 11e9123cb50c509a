#include "storage/sqlite_store.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "domain/audit.hpp"
#include "domain/errors.hpp"
#include "domain/rules.hpp"
#include "storage/migrations.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::storage {

namespace {

// --- connection setup and transactions ---------------------------------------------------------
constexpr char kPragmaBusyTimeout[] = "PRAGMA busy_timeout = 5000";
constexpr char kPragmaForeignKeys[] = "PRAGMA foreign_keys = ON";
constexpr char kPragmaJournalModeWal[] = "PRAGMA journal_mode = WAL";
constexpr char kPragmaSynchronousNormal[] = "PRAGMA synchronous = NORMAL";
constexpr char kPragmaQueryOnly[] = "PRAGMA query_only = ON";
constexpr char kBeginImmediate[] = "BEGIN IMMEDIATE";
constexpr char kBeginRead[] = "BEGIN";
constexpr char kCommit[] = "COMMIT";
constexpr char kRollback[] = "ROLLBACK";
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
constexpr char kSelectUserEmail[] = "SELECT email FROM users WHERE id = ?1";
constexpr char kUpsertUser[] = R"sql(
INSERT INTO users (id, email, created_at) VALUES (?1, ?2, ?3)
ON CONFLICT (id) DO UPDATE SET email = excluded.email
WHERE excluded.email IS NOT NULL AND users.email IS NOT excluded.email)sql";
constexpr char kSelectPremiumUntil[] = "SELECT premium_until FROM users WHERE id = ?1";
constexpr char kUpdatePremiumUntil[] = "UPDATE users SET premium_until = ?2 WHERE id = ?1";

// --- referral codes ---------------------------------------------------------------------------
constexpr char kSelectUnexpiredActiveCodeOfUser[] =
    "SELECT code FROM referral_codes WHERE user_id = ?1 AND is_active = 1 AND expires_at > ?2";
constexpr char kSelectActiveCodeOfUser[] =
    "SELECT code FROM referral_codes WHERE user_id = ?1 AND is_active = 1";
constexpr char kSelectCodeTaken[] = "SELECT 1 FROM referral_codes WHERE code = ?1";
constexpr char kDeactivateExpiredCodesOfUser[] = R"sql(
UPDATE referral_codes SET is_active = 0
WHERE user_id = ?1 AND is_active = 1 AND expires_at <= ?2)sql";
constexpr char kInsertCode[] = R"sql(
INSERT INTO referral_codes (id, user_id, code, is_active, created_at, expires_at)
VALUES (?1, ?2, ?3, 1, ?4, ?5))sql";
constexpr char kSelectNewestCode[] = R"sql(
SELECT id, user_id, code, is_active, created_at, expires_at FROM referral_codes
WHERE user_id = ?1 ORDER BY created_at DESC, id DESC LIMIT 1)sql";
constexpr char kSelectUsableCode[] = R"sql(
SELECT id, user_id FROM referral_codes WHERE code = ?1 AND is_active = 1 AND expires_at > ?2)sql";
constexpr char kExpireCodes[] =
    "UPDATE referral_codes SET is_active = 0 WHERE is_active = 1 AND expires_at <= ?1";

// --- referrals --------------------------------------------------------------------------------
constexpr char kSelectReferralStatusOfReferred[] =
    "SELECT status FROM referrals WHERE referred_user_id = ?1";
constexpr char kSelectReferralBetween[] =
    "SELECT 1 FROM referrals WHERE referrer_user_id = ?1 AND referred_user_id = ?2";
constexpr char kInsertReferral[] = R"sql(
INSERT INTO referrals (id, referrer_user_id, referred_user_id, referral_code_id, status,
                       created_at)
VALUES (?1, ?2, ?3, ?4, 'pending', ?5))sql";
// The single conditional statement that makes a conversion happen once.
constexpr char kConvertPendingReferral[] = R"sql(
UPDATE referrals SET status = 'converted', converted_at = ?2
WHERE referred_user_id = ?1 AND status = 'pending'
RETURNING id, referrer_user_id, referral_code_id, created_at)sql";

// --- rewards ----------------------------------------------------------------------------------
constexpr char kInsertReward[] = R"sql(
INSERT INTO user_rewards (id, user_id, reward_type, reward_value, is_claimed, created_at,
                          claimed_at, expires_at, source_referral_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9))sql";
// The partial unique index on (user_id) WHERE reward_type = 'badge' makes this a no-op for a
// user who already has a badge, whoever inserted it.
constexpr char kInsertBadge[] = R"sql(
INSERT INTO user_rewards (id, user_id, reward_type, reward_value, is_claimed, created_at,
                          claimed_at, expires_at, source_referral_id)
VALUES (?1, ?2, 'badge', ?3, 1, ?4, ?4, NULL, NULL)
ON CONFLICT DO NOTHING)sql";
constexpr char kSelectRewardOfUser[] = R"sql(
SELECT id, user_id, reward_type, reward_value, is_claimed, created_at, claimed_at, expires_at,
       source_referral_id
FROM user_rewards WHERE id = ?1 AND user_id = ?2)sql";
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
constexpr char kInsertSubscription[] = R"sql(
INSERT INTO subscriptions (id, user_id, tier, status, provider, provider_ref, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7))sql";

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

constexpr std::size_t kMaxReaders = 8;

using OrderedJson = nlohmann::ordered_json;
using Details = std::vector<std::pair<std::string, domain::AuditValue>>;

// A failure inside the adapter. Never leaves this file: Guarded turns it into an Error.
// `what()` is SQLite's message (which names tables or columns, never parameter values).
class SqliteError : public std::runtime_error {
 public:
  SqliteError(int rc, const std::string& message) : std::runtime_error(message), rc_(rc) {}
  [[nodiscard]] int rc() const { return rc_; }

 private:
  int rc_;
};

[[noreturn]] void ThrowCorrupt(const char* what) { throw SqliteError(SQLITE_CORRUPT, what); }

bool IsUniqueViolation(const SqliteError& e) {
  return e.rc() == SQLITE_CONSTRAINT_UNIQUE || e.rc() == SQLITE_CONSTRAINT_PRIMARYKEY;
}

Error ToError(std::string_view op, const SqliteError& e) {
  spdlog::error("sqlite_store {}: {} (sqlite code {})", op, e.what(), e.rc());
  switch (e.rc() & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_PROTOCOL:
    case SQLITE_NOTADB:
    case SQLITE_READONLY:
      return domain::errors::StorageUnavailable();
    default:
      return domain::errors::StorageFailure();
  }
}

// Runs `f`, turning every exception into StorageFailure/StorageUnavailable (logged).
template <typename F>
auto Guarded(std::string_view op, F&& f) -> std::invoke_result_t<F&> {
  try {
    return f();
  } catch (const SqliteError& e) {
    return ToError(op, e);
  } catch (const std::exception& e) {
    spdlog::error("sqlite_store {}: unexpected exception: {}", op, e.what());
    return domain::errors::StorageFailure();
  } catch (...) {
    spdlog::error("sqlite_store {}: unexpected exception", op);
    return domain::errors::StorageFailure();
  }
}

}  // namespace

namespace sqlite_detail {

// One sqlite3 handle plus its prepared statements, cached by the address of their SQL constant.
// Used by one thread at a time.
class Connection {
 public:
  enum class Role { kWriter, kReader };

  static std::unique_ptr<Connection> Open(const std::string& path, Role role, bool in_memory);

  ~Connection() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  [[nodiscard]] sqlite3* db() const { return db_; }

  [[noreturn]] void Fail(int rc) const { throw SqliteError(rc, sqlite3_errmsg(db_)); }

  sqlite3_stmt* Prepare(const char* sql) {
    if (auto it = cache_.find(sql); it != cache_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      Fail(rc);
    }
    cache_.emplace(sql, stmt);
    return stmt;
  }

  // Runs SQL without results (may hold several statements).
  void Exec(const char* sql) {
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) Fail(rc);
  }

  void RollbackQuietly() {
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, kRollback, nullptr, nullptr, nullptr);
  }

  [[nodiscard]] std::int64_t Changes() const { return sqlite3_changes64(db_); }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

// Reader connections, opened on demand up to kMaxReaders and reused.
class ReaderPool {
 public:
  explicit ReaderPool(std::string path) : path_(std::move(path)) {}

  std::unique_ptr<Connection> Acquire() {
    std::unique_lock lock(mutex_);
    available_.wait(lock, [&] { return !idle_.empty() || open_ < kMaxReaders; });
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    ++open_;
    lock.unlock();
    try {
      return Connection::Open(path_, Connection::Role::kReader, false);
    } catch (...) {
      lock.lock();
      --open_;
      available_.notify_one();
      throw;
    }
  }

  void Release(std::unique_ptr<Connection> conn) {
    {
      std::lock_guard lock(mutex_);
      idle_.push_back(std::move(conn));
    }
    available_.notify_one();
  }

 private:
  const std::string path_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;
};

}  // namespace sqlite_detail

namespace {

using sqlite_detail::Connection;

// SQLITE_TRANSIENT without the old-style cast of its macro.
const sqlite3_destructor_type kTransient =
    reinterpret_cast<sqlite3_destructor_type>(static_cast<std::intptr_t>(-1));

// A cached prepared statement in use: reset on construction and destruction, so a statement
// never keeps a read transaction open.
class Stmt {
 public:
  Stmt(Connection& conn, const char* sql) : conn_(conn), stmt_(conn.Prepare(sql)) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  ~Stmt() { sqlite3_reset(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Binds ?1, ?2, … in order.
  template <typename... Args>
  Stmt& Bind(const Args&... args) {
    int index = 0;
    (BindAt(++index, args), ...);
    return *this;
  }

  // True when a row is available.
  bool Step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    conn_.Fail(rc);
  }
  // Steps to the end (for statements whose rows are not needed).
  void Run() {
    while (Step()) {
    }
  }

  [[nodiscard]] bool IsNull(int col) const {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
  }
  [[nodiscard]] std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  [[nodiscard]] bool Bool(int col) const { return Int(col) != 0; }
  [[nodiscard]] std::string Text(int col) const {
    const unsigned char* text = sqlite3_column_text(stmt_, col);
    if (text == nullptr) return {};
    return {reinterpret_cast<const char*>(text),
            static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
  }
  [[nodiscard]] std::optional<std::string> OptText(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Text(col);
  }
  [[nodiscard]] TimePoint Time(int col) const {
    auto t = ParseIso8601(Text(col));
    if (!t) ThrowCorrupt("unparseable timestamp in a row");
    return *t;
  }
  [[nodiscard]] std::optional<TimePoint> OptTime(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Time(col);
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK) conn_.Fail(rc);
  }
  void BindAt(int i, std::string_view v) {
    Check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), kTransient));
  }
  void BindAt(int i, const std::string& v) { BindAt(i, std::string_view(v)); }
  void BindAt(int i, const char* v) { BindAt(i, std::string_view(v)); }
  void BindAt(int i, std::int64_t v) { Check(sqlite3_bind_int64(stmt_, i, v)); }
  void BindAt(int i, int v) { BindAt(i, static_cast<std::int64_t>(v)); }
  void BindAt(int i, std::nullopt_t) { Check(sqlite3_bind_null(stmt_, i)); }
  void BindAt(int i, TimePoint t) { BindAt(i, FormatIso8601(t)); }
  template <typename T>
  void BindAt(int i, const std::optional<T>& v) {
    if (v) {
      BindAt(i, *v);
    } else {
      BindAt(i, std::nullopt);
    }
  }

  Connection& conn_;
  sqlite3_stmt* stmt_;
};

// Switching to WAL needs an exclusive lock and SQLite does not wait for it with the busy
// handler, so two processes opening a fresh file at once would see SQLITE_BUSY: retry for as long
// as busy_timeout allows. Returns the journal mode in effect.
std::string SetJournalModeWal(Connection& conn) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(5000);
  while (true) {
    try {
      Stmt journal(conn, kPragmaJournalModeWal);
      return journal.Step() ? journal.Text(0) : std::string();
    } catch (const SqliteError& e) {
      if ((e.rc() & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// BEGIN IMMEDIATE … COMMIT; rolls back unless committed.
class WriteTx {
 public:
  explicit WriteTx(Connection& conn) : conn_(conn) { conn_.Exec(kBeginImmediate); }
  ~WriteTx() {
    if (!committed_) conn_.RollbackQuietly();
  }
  WriteTx(const WriteTx&) = delete;
  WriteTx& operator=(const WriteTx&) = delete;
  void Commit() {
    conn_.Exec(kCommit);
    committed_ = true;
  }

 private:
  Connection& conn_;
  bool committed_ = false;
};

// A read transaction: one snapshot for several statements.
class ReadTx {
 public:
  explicit ReadTx(Connection& conn) : conn_(conn) { conn_.Exec(kBeginRead); }
  ~ReadTx() { conn_.RollbackQuietly(); }
  ReadTx(const ReadTx&) = delete;
  ReadTx& operator=(const ReadTx&) = delete;

 private:
  Connection& conn_;
};

template <typename... Args>
bool QueryExists(Connection& conn, const char* sql, const Args&... args) {
  Stmt stmt(conn, sql);
  stmt.Bind(args...);
  return stmt.Step();
}

template <typename... Args>
std::optional<std::string> QueryText(Connection& conn, const char* sql, const Args&... args) {
  Stmt stmt(conn, sql);
  stmt.Bind(args...);
  if (!stmt.Step()) return std::nullopt;
  return stmt.OptText(0);
}

std::string SinceText(std::optional<TimePoint> since) {
  return since ? FormatIso8601(*since) : std::string();
}

// --- JSON columns -----------------------------------------------------------------------------

std::string DumpJson(const OrderedJson& j) {
  return j.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

OrderedJson ParseJsonObject(const std::string& text) {
  OrderedJson j = OrderedJson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) ThrowCorrupt("malformed JSON object in a row");
  return j;
}

std::string RewardValueJson(const domain::RewardValue& value) {
  OrderedJson j = OrderedJson::object();
  if (value.days) j["days"] = *value.days;
  if (value.badge) j["badge"] = *value.badge;
  return DumpJson(j);
}

domain::RewardValue ParseRewardValue(const std::string& text) {
  const OrderedJson j = ParseJsonObject(text);
  domain::RewardValue value;
  if (auto it = j.find("days"); it != j.end() && it->is_number_integer()) {
    value.days = it->get<std::int64_t>();
  }
  if (auto it = j.find("badge"); it != j.end() && it->is_string()) {
    value.badge = it->get<std::string>();
  }
  return value;
}

std::string DetailsJson(const Details& details) {
  OrderedJson j = OrderedJson::object();
  for (const auto& entry : details) {
    const std::string& key = entry.first;
    std::visit([&j, &key](const auto& v) { j[key] = v; }, entry.second);
  }
  return DumpJson(j);
}

Details ParseDetails(const std::string& text) {
  const OrderedJson j = ParseJsonObject(text);
  Details details;
  for (const auto& item : j.items()) {
    const auto& v = item.value();
    domain::AuditValue value;
    if (v.is_string()) {
      value = v.get<std::string>();
    } else if (v.is_boolean()) {
      value = v.get<bool>();
    } else if (v.is_number_integer()) {
      value = v.get<std::int64_t>();
    } else if (v.is_number_float()) {
      value = v.get<double>();
    } else {
      value = DumpJson(v);
    }
    details.emplace_back(item.key(), std::move(value));
  }
  return details;
}

// --- rows -------------------------------------------------------------------------------------

// id, email, created_at, premium_until
domain::User ReadUser(const Stmt& s) {
  return domain::User{s.Text(0), s.OptText(1), s.Time(2), s.OptTime(3)};
}

// id, user_id, code, is_active, created_at, expires_at
domain::ReferralCode ReadCode(const Stmt& s) {
  return domain::ReferralCode{s.Text(0), s.Text(1), s.Text(2), s.Bool(3), s.Time(4), s.Time(5)};
}

// id, user_id, reward_type, reward_value, is_claimed, created_at, claimed_at, expires_at,
// source_referral_id
domain::Reward ReadReward(const Stmt& s) {
  domain::Reward reward;
  reward.id = s.Text(0);
  reward.user_id = s.Text(1);
  const auto type = domain::ParseRewardType(s.Text(2));
  if (!type) ThrowCorrupt("unknown reward_type in a row");
  reward.type = *type;
  reward.value = ParseRewardValue(s.Text(3));
  reward.is_claimed = s.Bool(4);
  reward.created_at = s.Time(5);
  reward.claimed_at = s.OptTime(6);
  reward.expires_at = s.OptTime(7);
  reward.source_referral_id = s.OptText(8);
  return reward;
}

// id, user_id, tier, status, provider, provider_ref, created_at
domain::Subscription ReadSubscription(const Stmt& s) {
  return domain::Subscription{s.Text(0), s.Text(1), s.Text(2), s.Text(3),
                              s.Text(4), s.Text(5), s.Time(6)};
}

// id, service, action, status, user_id, details, error_message, created_at
domain::AuditEntry ReadAudit(const Stmt& s) {
  domain::AuditEntry entry;
  entry.id = s.Text(0);
  entry.service = s.Text(1);
  entry.action = s.Text(2);
  entry.status = s.Text(3);
  entry.user_id = s.OptText(4);
  entry.details = ParseDetails(s.Text(5));
  entry.error_message = s.OptText(6);
  entry.created_at = s.Time(7);
  return entry;
}

void InsertAudit(Connection& conn, const domain::AuditEntry& e) {
  Stmt(conn, kInsertAudit)
      .Bind(e.id, e.service, e.action, e.status, e.user_id, DetailsJson(e.details), e.error_message,
            e.created_at)
      .Run();
}

// A success row written by a mutation, in the mutation's transaction.
void InsertSuccessAudit(Connection& conn, RandomSource& random, TimePoint now,
                        std::string_view service, std::string_view action,
                        const std::string& user_id, Details details) {
  domain::AuditEntry entry;
  entry.id = NewUuidV7(now, random);
  entry.service = service;
  entry.action = action;
  entry.status = domain::audit::kSuccess;
  entry.user_id = user_id;
  entry.details = std::move(details);
  entry.created_at = now;
  InsertAudit(conn, entry);
}

// Converts the pending referral of grant.referred_user_id and inserts the referrer's reward,
// inside the caller's write transaction. nullopt when there is no pending referral.
std::optional<domain::Conversion> ConvertPending(Connection& conn, RandomSource& random,
                                                 const domain::ConversionGrant& grant) {
  domain::Referral referral;
  {
    Stmt update(conn, kConvertPendingReferral);
    update.Bind(grant.referred_user_id, grant.now);
    if (!update.Step()) return std::nullopt;
    referral.id = update.Text(0);
    referral.referrer_user_id = update.Text(1);
    referral.referral_code_id = update.Text(2);
    referral.created_at = update.Time(3);
    update.Run();
  }
  referral.referred_user_id = grant.referred_user_id;
  referral.status = domain::ReferralStatus::kConverted;
  referral.converted_at = grant.now;

  domain::Reward reward;
  reward.id = grant.reward_id;
  reward.user_id = referral.referrer_user_id;
  reward.type = domain::RewardType::kFreePremium;
  reward.value.days = grant.reward_days;
  reward.is_claimed = false;
  reward.created_at = grant.now;
  reward.expires_at = grant.reward_expires_at;
  reward.source_referral_id = referral.id;
  Stmt(conn, kInsertReward)
      .Bind(reward.id, reward.user_id, domain::ToString(reward.type), RewardValueJson(reward.value),
            0, reward.created_at, std::nullopt, reward.expires_at, referral.id)
      .Run();

  InsertSuccessAudit(conn, random, grant.now, domain::audit::kServiceReferral,
                     domain::audit::kReferralConverted, referral.referred_user_id,
                     {{"referralId", referral.id}, {"referrerUserId", referral.referrer_user_id}});
  InsertSuccessAudit(
      conn, random, grant.now, domain::audit::kServiceReferral, domain::audit::kRewardGranted,
      referral.referrer_user_id,
      {{"rewardId", reward.id}, {"days", grant.reward_days}, {"referralId", referral.id}});
  return domain::Conversion{std::move(referral), std::move(reward)};
}

}  // namespace

// Either a pooled reader connection, or (in memory) the writer connection under its mutex.
class SqliteStore::ReadLease {
 public:
  ReadLease(sqlite_detail::ReaderPool& pool, std::unique_ptr<Connection> conn)
      : pool_(&pool), owned_(std::move(conn)), conn_(owned_.get()) {}
  ReadLease(std::unique_lock<std::mutex> lock, Connection& conn)
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
  sqlite_detail::ReaderPool* pool_ = nullptr;
  std::unique_ptr<Connection> owned_;
  std::unique_lock<std::mutex> lock_;
  Connection* conn_;
};

namespace sqlite_detail {

std::unique_ptr<Connection> Connection::Open(const std::string& path, Role role, bool in_memory) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  if (role == Role::kWriter) flags |= SQLITE_OPEN_CREATE;
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    throw SqliteError(rc, message);
  }
  std::unique_ptr<Connection> conn(new Connection(db));
  sqlite3_extended_result_codes(db, 1);
  conn->Exec(kPragmaBusyTimeout);
  conn->Exec(kPragmaForeignKeys);
  if (role == Role::kWriter) {
    const std::string mode = SetJournalModeWal(*conn);
    if (!in_memory && mode != "wal") {
      spdlog::warn("sqlite_store: WAL journal mode unavailable, running in '{}' mode", mode);
    }
    conn->Exec(kPragmaSynchronousNormal);
  } else {
    conn->Exec(kPragmaQueryOnly);
  }
  return conn;
}

}  // namespace sqlite_detail

SqliteStore::SqliteStore(std::string path, bool in_memory, RandomSource& random)
    : path_(std::move(path)),
      in_memory_(in_memory),
      random_(random),
      readers_(in_memory ? nullptr : std::make_unique<sqlite_detail::ReaderPool>(path_)) {}

SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                       RandomSource& random) {
  const bool in_memory = path.empty() || path == ":memory:" || path.starts_with("file::memory:") ||
                         path.find("mode=memory") != std::string::npos;
  if (!in_memory && !path.starts_with("file:")) {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      spdlog::error("sqlite_store Open: cannot create directory {}: {}", parent.string(),
                    ec.message());
      return domain::errors::StorageUnavailable();
    }
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, in_memory, random));
  const Status opened = Guarded("Open", [&]() -> Status {
    store->writer_ = Connection::Open(path, Connection::Role::kWriter, in_memory);
    return {};
  });
  if (!opened) return opened.error();
  if (Status migrated = store->Migrate(); !migrated) return migrated.error();
  return Result<std::unique_ptr<SqliteStore>>(std::move(store));
}

SqliteStore::ReadLease SqliteStore::AcquireReader() {
  if (in_memory_) return ReadLease(std::unique_lock(writer_mutex_), *writer_);
  return ReadLease(*readers_, readers_->Acquire());
}

Status SqliteStore::Migrate() {
  return Guarded("Migrate", [&]() -> Status {
    std::lock_guard lock(writer_mutex_);
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
      WriteTx tx(conn);
      if (QueryExists(conn, kSelectMigrationApplied, migration.version)) continue;
      conn.Exec(std::string(migration.sql).c_str());
      Stmt(conn, kInsertMigration).Bind(migration.version, migration.name).Run();
      tx.Commit();
      spdlog::info("sqlite_store: applied migration {}", migration.name);
    }
    return {};
  });
}

Status SqliteStore::Ping() {
  Status status = Guarded("Ping", [&]() -> Status {
    ReadLease lease = AcquireReader();
    Stmt(*lease, kPing).Run();
    return {};
  });
  if (!status) return domain::errors::StorageUnavailable();
  return status;
}

Status SqliteStore::UpsertUser(const std::string& user_id, const std::optional<std::string>& email,
                               TimePoint now) {
  return Guarded("UpsertUser", [&]() -> Status {
    {
      // Most calls find the user unchanged: answer those from a reader, without the write lock.
      ReadLease lease = AcquireReader();
      Stmt select(*lease, kSelectUserEmail);
      select.Bind(user_id);
      if (select.Step() && (!email || select.OptText(0) == email)) return {};
    }
    std::lock_guard lock(writer_mutex_);
    WriteTx tx(*writer_);
    Stmt(*writer_, kUpsertUser).Bind(user_id, email, now).Run();
    tx.Commit();
    return {};
  });
}

Result<std::optional<domain::User>> SqliteStore::FindUser(const std::string& user_id) {
  return Guarded("FindUser", [&]() -> Result<std::optional<domain::User>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectUser);
    select.Bind(user_id);
    if (!select.Step()) return std::optional<domain::User>();
    return std::optional<domain::User>(ReadUser(select));
  });
}

Result<domain::ReferralCode> SqliteStore::CreateCode(const domain::NewCode& code) {
  return Guarded("CreateCode", [&]() -> Result<domain::ReferralCode> {
    std::lock_guard lock(writer_mutex_);
    Connection& conn = *writer_;
    WriteTx tx(conn);
    if (auto existing = QueryText(conn, kSelectUnexpiredActiveCodeOfUser, code.user_id, code.now)) {
      return domain::errors::CodeExists(*existing);
    }
    Stmt(conn, kDeactivateExpiredCodesOfUser).Bind(code.user_id, code.now).Run();
    try {
      Stmt(conn, kInsertCode)
          .Bind(code.id, code.user_id, code.code, code.now, code.expires_at)
          .Run();
    } catch (const SqliteError& e) {
      if (!IsUniqueViolation(e)) throw;
      if (QueryExists(conn, kSelectCodeTaken, code.code)) return domain::errors::CodeCollision();
      if (auto active = QueryText(conn, kSelectActiveCodeOfUser, code.user_id)) {
        return domain::errors::CodeExists(*active);
      }
      throw;
    }
    InsertSuccessAudit(
        conn, random_, code.now, domain::audit::kServiceReferral, domain::audit::kCodeGenerated,
        code.user_id,
        {{"code", code.code}, {"codeId", code.id}, {"expiresAt", FormatIso8601(code.expires_at)}});
    tx.Commit();
    return domain::ReferralCode{code.id, code.user_id, code.code, true, code.now, code.expires_at};
  });
}

Result<std::optional<domain::ReferralCode>> SqliteStore::FindNewestCode(
    const std::string& user_id) {
  return Guarded("FindNewestCode", [&]() -> Result<std::optional<domain::ReferralCode>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectNewestCode);
    select.Bind(user_id);
    if (!select.Step()) return std::optional<domain::ReferralCode>();
    return std::optional<domain::ReferralCode>(ReadCode(select));
  });
}

Result<domain::Referral> SqliteStore::TrackReferral(const domain::NewReferral& referral) {
  return Guarded("TrackReferral", [&]() -> Result<domain::Referral> {
    std::lock_guard lock(writer_mutex_);
    Connection& conn = *writer_;
    WriteTx tx(conn);
    std::string code_id;
    std::string owner;
    {
      Stmt select(conn, kSelectUsableCode);
      select.Bind(referral.code, referral.now);
      if (!select.Step()) return domain::errors::InvalidCode();
      code_id = select.Text(0);
      owner = select.Text(1);
    }
    if (owner == referral.referred_user_id) return domain::errors::SelfReferral();
    if (QueryExists(conn, kSelectReferralStatusOfReferred, referral.referred_user_id)) {
      return domain::errors::AlreadyReferred();
    }
    if (QueryExists(conn, kSelectReferralBetween, referral.referred_user_id, owner)) {
      return domain::errors::CircularReferral();
    }
    try {
      Stmt(conn, kInsertReferral)
          .Bind(referral.id, owner, referral.referred_user_id, code_id, referral.now)
          .Run();
    } catch (const SqliteError& e) {
      if (IsUniqueViolation(e)) return domain::errors::AlreadyReferred();
      throw;
    }
    InsertSuccessAudit(
        conn, random_, referral.now, domain::audit::kServiceReferral,
        domain::audit::kReferralTracked, referral.referred_user_id,
        {{"referralId", referral.id}, {"referrerUserId", owner}, {"code", referral.code}});
    tx.Commit();
    return domain::Referral{referral.id,
                            owner,
                            referral.referred_user_id,
                            code_id,
                            domain::ReferralStatus::kPending,
                            referral.now,
                            std::nullopt};
  });
}

Result<domain::Conversion> SqliteStore::ConvertReferral(const domain::ConversionGrant& grant) {
  return Guarded("ConvertReferral", [&]() -> Result<domain::Conversion> {
    std::lock_guard lock(writer_mutex_);
    Connection& conn = *writer_;
    WriteTx tx(conn);
    auto conversion = ConvertPending(conn, random_, grant);
    if (!conversion) {
      const auto status = QueryText(conn, kSelectReferralStatusOfReferred, grant.referred_user_id);
      if (status == domain::ToString(domain::ReferralStatus::kConverted)) {
        return domain::errors::AlreadyConverted();
      }
      return domain::errors::ReferralNotFound();
    }
    tx.Commit();
    return std::move(*conversion);
  });
}

Result<domain::SubscriptionCreated> SqliteStore::CreateSubscription(
    const domain::Subscription& subscription, const std::optional<domain::ConversionGrant>& grant) {
  return Guarded("CreateSubscription", [&]() -> Result<domain::SubscriptionCreated> {
    std::lock_guard lock(writer_mutex_);
    Connection& conn = *writer_;
    WriteTx tx(conn);
    try {
      Stmt(conn, kInsertSubscription)
          .Bind(subscription.id, subscription.user_id, subscription.tier, subscription.status,
                subscription.provider, subscription.provider_ref, subscription.created_at)
          .Run();
    } catch (const SqliteError& e) {
      if (IsUniqueViolation(e)) return domain::errors::AlreadySubscribed();
      throw;
    }
    InsertSuccessAudit(conn, random_, subscription.created_at, domain::audit::kServiceSubscription,
                       domain::audit::kSubscriptionCreated, subscription.user_id,
                       {{"subscriptionId", subscription.id},
                        {"tier", subscription.tier},
                        {"provider", subscription.provider}});
    domain::SubscriptionCreated created{
        subscription, grant ? ConvertPending(conn, random_, *grant) : std::nullopt};
    tx.Commit();
    return created;
  });
}

Result<std::optional<domain::Subscription>> SqliteStore::FindActiveSubscription(
    const std::string& user_id) {
  return Guarded("FindActiveSubscription", [&]() -> Result<std::optional<domain::Subscription>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectActiveSubscription);
    select.Bind(user_id);
    if (!select.Step()) return std::optional<domain::Subscription>();
    return std::optional<domain::Subscription>(ReadSubscription(select));
  });
}

Result<std::vector<domain::Reward>> SqliteStore::ListRewards(const std::string& user_id) {
  return Guarded("ListRewards", [&]() -> Result<std::vector<domain::Reward>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectRewardsOfUser);
    select.Bind(user_id);
    std::vector<domain::Reward> rewards;
    while (select.Step()) rewards.push_back(ReadReward(select));
    return rewards;
  });
}

Result<domain::Reward> SqliteStore::ClaimReward(const std::string& user_id,
                                                const std::string& reward_id, TimePoint now) {
  return Guarded("ClaimReward", [&]() -> Result<domain::Reward> {
    std::lock_guard lock(writer_mutex_);
    Connection& conn = *writer_;
    WriteTx tx(conn);
    std::optional<domain::Reward> reward;
    {
      Stmt select(conn, kSelectRewardOfUser);
      select.Bind(reward_id, user_id);
      if (select.Step()) reward = ReadReward(select);
    }
    if (!reward || reward->is_claimed) return domain::errors::RewardNotFound();
    if (reward->expires_at && *reward->expires_at <= now) return domain::errors::RewardExpired();
    Stmt(conn, kClaimReward).Bind(reward_id, user_id, now).Run();
    if (conn.Changes() == 0) return domain::errors::RewardNotFound();
    reward->is_claimed = true;
    reward->claimed_at = now;

    Details details{{"rewardId", reward->id},
                    {"rewardType", std::string(domain::ToString(reward->type))}};
    if (reward->type == domain::RewardType::kFreePremium && reward->value.days) {
      std::optional<TimePoint> current;
      {
        Stmt select(conn, kSelectPremiumUntil);
        select.Bind(user_id);
        if (select.Step()) current = select.OptTime(0);
      }
      const TimePoint until = domain::ExtendPremium(now, current, *reward->value.days);
      Stmt(conn, kUpdatePremiumUntil).Bind(user_id, until).Run();
      details.emplace_back("days", *reward->value.days);
      details.emplace_back("premiumUntil", FormatIso8601(until));
    }
    InsertSuccessAudit(conn, random_, now, domain::audit::kServiceReferral,
                       domain::audit::kRewardClaimed, user_id, std::move(details));
    tx.Commit();
    return std::move(*reward);
  });
}

Result<domain::ReferrerStats> SqliteStore::GetReferrerStats(const std::string& user_id) {
  return Guarded("GetReferrerStats", [&]() -> Result<domain::ReferrerStats> {
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
  return Guarded("Leaderboard", [&]() -> Result<std::vector<domain::LeaderboardEntry>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectLeaderboard);
    select.Bind(SinceText(since), std::max(limit, 0));
    std::vector<domain::LeaderboardEntry> rows;
    while (select.Step()) {
      domain::LeaderboardEntry row;
      row.user_id = select.Text(0);
      row.email = select.OptText(1);
      row.total_referrals = select.Int(2);
      row.converted_referrals = select.Int(3);
      rows.push_back(std::move(row));
    }
    return rows;
  });
}

Result<domain::AnalyticsCounts> SqliteStore::Analytics(std::optional<TimePoint> since,
                                                       TimePoint now) {
  return Guarded("Analytics", [&]() -> Result<domain::AnalyticsCounts> {
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
  return Guarded("DailyCounts", [&]() -> Result<std::vector<domain::DailyCount>> {
    // Everything up to the end of now's UTC day.
    const TimePoint until = AddDays(StartOfUtcDay(now), 1);
    std::map<std::string, domain::DailyCount> days;
    ReadLease lease = AcquireReader();
    ReadTx snapshot(*lease);
    {
      Stmt select(*lease, kSelectDailySignups);
      select.Bind(from, until);
      while (select.Step()) {
        auto& day = days[select.Text(0)];
        day.signups = select.Int(1);
      }
    }
    {
      Stmt select(*lease, kSelectDailyConversions);
      select.Bind(from, until);
      while (select.Step()) {
        auto& day = days[select.Text(0)];
        day.conversions = select.Int(1);
      }
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

Result<std::int64_t> SqliteStore::ExpireCodes(TimePoint now) {
  return Guarded("ExpireCodes", [&]() -> Result<std::int64_t> {
    std::lock_guard lock(writer_mutex_);
    WriteTx tx(*writer_);
    Stmt(*writer_, kExpireCodes).Bind(now).Run();
    const std::int64_t changed = writer_->Changes();
    tx.Commit();
    return changed;
  });
}

Result<std::vector<std::string>> SqliteStore::AwardBadges(std::int64_t threshold,
                                                          const std::string& badge_name,
                                                          TimePoint now) {
  return Guarded("AwardBadges", [&]() -> Result<std::vector<std::string>> {
    std::lock_guard lock(writer_mutex_);
    Connection& conn = *writer_;
    WriteTx tx(conn);
    std::vector<std::string> candidates;
    {
      Stmt select(conn, kSelectBadgeCandidates);
      select.Bind(threshold);
      while (select.Step()) candidates.push_back(select.Text(0));
    }
    domain::RewardValue value;
    value.badge = badge_name;
    const std::string value_json = RewardValueJson(value);
    std::vector<std::string> granted;
    for (const std::string& user_id : candidates) {
      const std::string reward_id = NewUuidV7(now, random_);
      Stmt(conn, kInsertBadge).Bind(reward_id, user_id, value_json, now).Run();
      if (conn.Changes() != 1) continue;
      InsertSuccessAudit(conn, random_, now, domain::audit::kServiceReferral,
                         domain::audit::kRewardGranted, user_id,
                         {{"rewardId", reward_id}, {"badge", badge_name}});
      granted.push_back(user_id);
    }
    tx.Commit();
    return granted;
  });
}

Result<bool> SqliteStore::ClaimScheduledRun(const std::string& job, TimePoint slot, TimePoint now) {
  return Guarded("ClaimScheduledRun", [&]() -> Result<bool> {
    std::lock_guard lock(writer_mutex_);
    WriteTx tx(*writer_);
    Stmt(*writer_, kClaimJobRun).Bind(job, slot, now).Run();
    const bool claimed = writer_->Changes() == 1;
    tx.Commit();
    return claimed;
  });
}

Status SqliteStore::AppendAudit(const domain::AuditEntry& entry) {
  return Guarded("AppendAudit", [&]() -> Status {
    std::lock_guard lock(writer_mutex_);
    WriteTx tx(*writer_);
    if (entry.id.empty()) {
      domain::AuditEntry with_id = entry;
      with_id.id = NewUuidV7(entry.created_at, random_);
      InsertAudit(*writer_, with_id);
    } else {
      InsertAudit(*writer_, entry);
    }
    tx.Commit();
    return {};
  });
}

Result<std::vector<domain::AuditEntry>> SqliteStore::ListAudit(
    const std::optional<std::string>& service, int limit) {
  return Guarded("ListAudit", [&]() -> Result<std::vector<domain::AuditEntry>> {
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
