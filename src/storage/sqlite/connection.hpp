#pragma once
// The SQLite driver: a connection with its cached prepared statements, a statement in use (which
// is also a storage::Row), transaction guards and a pool of reader connections. Every failure is
// thrown as StorageError, to be turned into an Error by the store's guard.

#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/common/row.hpp"
#include "util/clock.hpp"

namespace referrald::storage::sqlite {

// One sqlite3 handle plus its prepared statements, cached by the address of their SQL constant.
// Used by one thread at a time.
class Connection {
 public:
  enum class Role { kWriter, kReader };

  // Opens `path` (a file, ":memory:" or a file: URI). A writer creates the file, switches to WAL
  // and synchronous=NORMAL; a reader is query-only. Both wait up to `busy_timeout_ms` for locks.
  static std::unique_ptr<Connection> Open(const std::string& path, Role role, bool in_memory,
                                          int busy_timeout_ms);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Throws StorageError for result code `rc`, with SQLite's message.
  [[noreturn]] void Fail(int rc) const;
  sqlite3_stmt* Prepare(const char* sql);
  // Runs SQL without results (may hold several statements).
  void Exec(const char* sql);
  void RollbackQuietly();
  // Whether a transaction is open (SQLite ends one by itself after some errors).
  [[nodiscard]] bool InTransaction() const;
  [[nodiscard]] std::int64_t Changes() const { return sqlite3_changes64(db_); }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

// A cached prepared statement in use: reset on construction and destruction, so a statement
// never keeps a read transaction open. Columns are read through storage::Row.
class Stmt final : public Row {
 public:
  Stmt(Connection& conn, const char* sql);
  ~Stmt() override;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Binds ?1, ?2, … in order. Timestamps bind as FormatIso8601 text.
  template <typename... Args>
  Stmt& Bind(const Args&... args) {
    int index = 0;
    (BindAt(++index, args), ...);
    return *this;
  }

  // True when a row is available.
  bool Step();
  // Steps to the end (for statements whose rows are not needed).
  void Run();

  [[nodiscard]] bool IsNull(int col) const override;
  [[nodiscard]] std::string Text(int col) const override;
  [[nodiscard]] std::int64_t Int(int col) const override;
  [[nodiscard]] bool Bool(int col) const override { return Int(col) != 0; }
  [[nodiscard]] TimePoint Time(int col) const override;

 private:
  void Check(int rc);
  void BindAt(int i, std::string_view v);
  void BindAt(int i, const std::string& v) { BindAt(i, std::string_view(v)); }
  void BindAt(int i, const char* v) { BindAt(i, std::string_view(v)); }
  void BindAt(int i, std::int64_t v);
  void BindAt(int i, int v) { BindAt(i, static_cast<std::int64_t>(v)); }
  void BindAt(int i, bool v) { BindAt(i, static_cast<std::int64_t>(v ? 1 : 0)); }
  void BindAt(int i, std::nullopt_t /*null*/);
  void BindAt(int i, TimePoint t);
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

// BEGIN IMMEDIATE … COMMIT: takes the database's write lock at once, so two writers never
// deadlock upgrading a read lock. Rolls back unless committed.
class WriteTransaction {
 public:
  explicit WriteTransaction(Connection& conn);
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;
  void Commit();
  // One savepoint at a time inside the transaction: a part that can be undone alone.
  void Savepoint();
  void RollbackToSavepoint();
  void ReleaseSavepoint();

 private:
  Connection& conn_;
  bool committed_ = false;
};

// A read transaction: one snapshot for several statements.
class ReadTransaction {
 public:
  explicit ReadTransaction(Connection& conn);
  ~ReadTransaction();
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  Connection& conn_;
};

// Reader connections, opened on demand up to `max_readers` and reused.
class ReaderPool {
 public:
  ReaderPool(std::string path, std::size_t max_readers, int busy_timeout_ms);
  std::unique_ptr<Connection> Acquire();
  void Release(std::unique_ptr<Connection> conn);

 private:
  const std::string path_;
  const std::size_t max_readers_;
  const int busy_timeout_ms_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;
};

// Convenience queries on a connection.
template <typename... Args>
bool QueryExists(Connection& conn, const char* sql, const Args&... args) {
  Stmt stmt(conn, sql);
  stmt.Bind(args...);
  return stmt.Step();
}

}  // namespace referrald::storage::sqlite
