#include "storage/sqlite/connection.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "storage/common/storage_error.hpp"
#include "util/time_format.hpp"

namespace referrald::storage::sqlite {
namespace {

constexpr char kPragmaForeignKeys[] = "PRAGMA foreign_keys = ON";
constexpr char kPragmaJournalModeWal[] = "PRAGMA journal_mode = WAL";
constexpr char kPragmaSynchronousNormal[] = "PRAGMA synchronous = NORMAL";
constexpr char kPragmaQueryOnly[] = "PRAGMA query_only = ON";
constexpr char kBeginImmediate[] = "BEGIN IMMEDIATE";
constexpr char kBeginRead[] = "BEGIN";
constexpr char kCommit[] = "COMMIT";
constexpr char kRollback[] = "ROLLBACK";
constexpr char kSavepoint[] = "SAVEPOINT part";
constexpr char kRollbackToSavepoint[] = "ROLLBACK TO part";
constexpr char kReleaseSavepoint[] = "RELEASE part";

// SQLITE_TRANSIENT without the old-style cast of its macro.
// NOLINTBEGIN(performance-no-int-to-ptr): the value SQLite defines it as
const sqlite3_destructor_type kTransient =
    reinterpret_cast<sqlite3_destructor_type>(static_cast<std::intptr_t>(-1));
// NOLINTEND(performance-no-int-to-ptr)

StorageError::Kind KindOf(int rc) {
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return StorageError::Kind::kUniqueViolation;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_PROTOCOL:
    case SQLITE_NOTADB:
    case SQLITE_READONLY:
      return StorageError::Kind::kUnavailable;
    case SQLITE_CORRUPT:
      return StorageError::Kind::kCorrupt;
    default:
      return StorageError::Kind::kFailure;
  }
}

[[noreturn]] void Throw(int rc, const std::string& message) {
  throw StorageError(KindOf(rc), message, std::to_string(rc));
}

// Switching to WAL needs an exclusive lock and SQLite does not wait for it with the busy
// handler, so two processes opening a fresh file at once would see SQLITE_BUSY: retry for as long
// as the busy timeout allows. Returns the journal mode in effect.
std::string SetJournalModeWal(Connection& conn, int busy_timeout_ms) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
  while (true) {
    try {
      Stmt journal(conn, kPragmaJournalModeWal);
      return journal.Step() ? journal.Text(0) : std::string();
    } catch (const StorageError& e) {
      if (e.kind() != StorageError::Kind::kUnavailable ||
          std::chrono::steady_clock::now() >= deadline) {
        throw;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

// --- Connection ---------------------------------------------------------------------------------

std::unique_ptr<Connection> Connection::Open(const std::string& path, Role role, bool in_memory,
                                             int busy_timeout_ms) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  if (role == Role::kWriter) flags |= SQLITE_OPEN_CREATE;
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    Throw(rc, message);
  }
  std::unique_ptr<Connection> conn(new Connection(db));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  conn->Exec(kPragmaForeignKeys);
  if (role == Role::kWriter) {
    const std::string mode = SetJournalModeWal(*conn, busy_timeout_ms);
    if (!in_memory && mode != "wal") {
      spdlog::warn("sqlite: WAL journal mode unavailable, running in '{}' mode", mode);
    }
    conn->Exec(kPragmaSynchronousNormal);
  } else {
    conn->Exec(kPragmaQueryOnly);
  }
  return conn;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

void Connection::Fail(int rc) const { Throw(rc, sqlite3_errmsg(db_)); }

sqlite3_stmt* Connection::Prepare(const char* sql) {
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

void Connection::Exec(const char* sql) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) Fail(rc);
}

bool Connection::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

void Connection::RollbackQuietly() {
  if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, kRollback, nullptr, nullptr, nullptr);
}

// --- Stmt ---------------------------------------------------------------------------------------

Stmt::Stmt(Connection& conn, const char* sql) : conn_(conn), stmt_(conn.Prepare(sql)) {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Stmt::~Stmt() { sqlite3_reset(stmt_); }

bool Stmt::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  conn_.Fail(rc);
}

void Stmt::Run() {
  while (Step()) {
  }
}

bool Stmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

std::string Stmt::Text(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
}

std::int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

TimePoint Stmt::Time(int col) const {
  auto t = ParseIso8601(Text(col));
  if (!t) throw StorageError(StorageError::Kind::kCorrupt, "unparseable timestamp in a row");
  return *t;
}

void Stmt::Check(int rc) {
  if (rc != SQLITE_OK) conn_.Fail(rc);
}

void Stmt::BindAt(int i, std::string_view v) {
  Check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), kTransient));
}

void Stmt::BindAt(int i, std::int64_t v) { Check(sqlite3_bind_int64(stmt_, i, v)); }

void Stmt::BindAt(int i, std::nullopt_t /*null*/) { Check(sqlite3_bind_null(stmt_, i)); }

void Stmt::BindAt(int i, TimePoint t) { BindAt(i, FormatIso8601(t)); }

// --- transactions -------------------------------------------------------------------------------

WriteTransaction::WriteTransaction(Connection& conn) : conn_(conn) { conn_.Exec(kBeginImmediate); }

WriteTransaction::~WriteTransaction() {
  if (!committed_) conn_.RollbackQuietly();
}

void WriteTransaction::Commit() {
  conn_.Exec(kCommit);
  committed_ = true;
}

void WriteTransaction::Savepoint() { conn_.Exec(kSavepoint); }

void WriteTransaction::RollbackToSavepoint() { conn_.Exec(kRollbackToSavepoint); }

void WriteTransaction::ReleaseSavepoint() { conn_.Exec(kReleaseSavepoint); }

ReadTransaction::ReadTransaction(Connection& conn) : conn_(conn) { conn_.Exec(kBeginRead); }

ReadTransaction::~ReadTransaction() { conn_.RollbackQuietly(); }

// --- ReaderPool ---------------------------------------------------------------------------------

ReaderPool::ReaderPool(std::string path, std::size_t max_readers, int busy_timeout_ms)
    : path_(std::move(path)), max_readers_(max_readers), busy_timeout_ms_(busy_timeout_ms) {}

std::unique_ptr<Connection> ReaderPool::Acquire() {
  std::unique_lock lock(mutex_);
  available_.wait(lock, [&] { return !idle_.empty() || open_ < max_readers_; });
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return conn;
  }
  ++open_;
  lock.unlock();
  try {
    return Connection::Open(path_, Connection::Role::kReader, false, busy_timeout_ms_);
  } catch (...) {
    lock.lock();
    --open_;
    available_.notify_one();
    throw;
  }
}

void ReaderPool::Release(std::unique_ptr<Connection> conn) {
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(conn));
  }
  available_.notify_one();
}

}  // namespace referrald::storage::sqlite
