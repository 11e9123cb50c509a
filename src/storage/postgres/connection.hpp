#pragma once
// The PostgreSQL driver: one libpq connection driven without blocking past a deadline, its
// results, and the text-format parameters and values it exchanges. No SQL of the service lives
// here (that is the store's); this layer only runs what it is given. libpq's header stays in the
// .cpp: users see the opaque pg_conn / pg_result types only.
//
// Errors are StorageError: kUnavailable (cannot connect, connection lost, deadline passed,
// statement/lock timeout, server shutting down), kUniqueViolation (23505), kRetry (40001,
// 40P01), kCorrupt (a value a row accessor cannot read), kFailure (anything else). Messages hold
// the server's primary message at most: never SQL text, parameter values, DETAIL lines or the URL.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "storage/common/row.hpp"
#include "util/clock.hpp"

struct pg_conn;
struct pg_result;

namespace referrald::storage::postgres {

// Every blocking step of the driver ends by this instant.
using Deadline = std::chrono::steady_clock::time_point;

// One statement parameter in text format; nullopt is SQL NULL.
using Param = std::optional<std::string>;

Param ToParam(const std::string& v);
Param ToParam(std::string_view v);
// nullptr is SQL NULL.
Param ToParam(const char* v);
Param ToParam(std::int64_t v);
Param ToParam(int v);
// "true" / "false".
Param ToParam(bool v);
// FormatIso8601 text ("2025-06-15T12:00:00.000Z"). A `timestamp without time zone` column ignores
// the trailing Z, so the stored value is the UTC wall clock whatever the session's TimeZone.
Param ToParam(TimePoint v);
Param ToParam(std::nullopt_t null);
template <typename T>
Param ToParam(const std::optional<T>& v) {
  if (!v) return std::nullopt;
  return ToParam(*v);
}

// Parses PostgreSQL's ISO output of a timestamp: "YYYY-MM-DD HH:MM:SS" ('T' also accepted as the
// separator), then optionally '.' and 1..6 fractional digits (truncated to milliseconds), then
// optionally a UTC offset ("Z", "+HH", "+HH:MM", "+HH:MM:SS", or with '-'; what a
// `timestamptz` prints), which is applied. nullopt for anything else (BC, infinity, 5-digit
// years, out-of-range fields, trailing characters).
std::optional<TimePoint> ParsePgTimestamp(std::string_view s);

// Parses a decimal int64 exactly as PostgreSQL prints one ("-12"); nullopt otherwise.
std::optional<std::int64_t> ParsePgInt(std::string_view s);

// One row of a PgResult, read in text format. Valid while its PgResult lives. A column index out
// of range throws StorageError{kFailure}; Int/Bool/Time/Text on a NULL or unreadable value throw
// StorageError{kCorrupt} (use IsNull / OptText / OptTime for nullable columns).
class PgRow final : public Row {
 public:
  PgRow(const pg_result* result, int row) : result_(result), row_(row) {}

  [[nodiscard]] bool IsNull(int col) const override;
  // The value as the server sent it (a uuid is canonical lowercase).
  [[nodiscard]] std::string Text(int col) const override;
  [[nodiscard]] std::int64_t Int(int col) const override;
  // "t" / "f".
  [[nodiscard]] bool Bool(int col) const override;
  [[nodiscard]] TimePoint Time(int col) const override;

 private:
  // The value of a non-NULL column; throws as described above.
  [[nodiscard]] std::string_view Value(int col) const;

  const pg_result* result_;
  int row_;
};

// Owns one PGresult. Move-only.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(pg_result* result) : result_(result) {}
  PgResult(PgResult&& other) noexcept;
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  // Number of rows returned (0 for a command).
  [[nodiscard]] int rows() const;
  // Rows an INSERT/UPDATE/DELETE/SELECT… touched (PQcmdTuples); 0 when the command reports none.
  [[nodiscard]] std::int64_t affected() const;
  // Row `i` (0-based); throws StorageError{kFailure} when out of range.
  [[nodiscard]] PgRow row(int i) const;

  [[nodiscard]] pg_result* get() const { return result_; }
  explicit operator bool() const { return result_ != nullptr; }

 private:
  pg_result* result_ = nullptr;
};

// One connection to PostgreSQL, with a cache of the statements it prepared. Not thread-safe: one
// thread uses it at a time (the Pool hands it out through a Lease). Once broken() it stays
// broken: every call throws kUnavailable and the owner should drop it.
class Connection {
 public:
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Connection(Connection&&) = delete;
  Connection& operator=(Connection&&) = delete;
  ~Connection();

  // Connects to `url` (a libpq URI, postgres://… or postgresql://…; the keyword form works too)
  // without blocking past `deadline`, then sets the session up in one round trip: TimeZone UTC,
  // DateStyle ISO, statement_timeout and lock_timeout = `statement_timeout`,
  // idle_in_transaction_session_timeout = 5 × `statement_timeout` (0 disables all three).
  // Throws StorageError{kUnavailable} when the server cannot be reached or refuses us,
  // StorageError{kFailure} when `url` does not parse. Messages never hold the URL or password.
  // (A host name is resolved by libpq synchronously: use an address or a fast resolver.)
  static std::unique_ptr<Connection> Open(const std::string& url, Deadline deadline,
                                          std::chrono::milliseconds statement_timeout);

  // Runs one statement ($1, $2, … placeholders) with the extended protocol: prepared on first use
  // of its text on this connection (named "s1", "s2", …) and reused afterwards. Text parameters,
  // text results. Throws StorageError as described at the top; after an error that is not
  // kUnavailable-and-broken the connection stays usable (inside a transaction: ROLLBACK it).
  // When `deadline` passes the query is cancelled, the connection marked broken, and
  // kUnavailable("timed out") thrown. A parameter containing a NUL byte throws kFailure.
  PgResult Exec(const char* sql, std::span<const Param> params, Deadline deadline);

  // Exec with parameters converted by ToParam.
  template <typename... Args>
  PgResult Query(const char* sql, Deadline deadline, const Args&... args) {
    const std::array<Param, sizeof...(Args)> params{ToParam(args)...};
    return Exec(sql, params, deadline);
  }

  // Runs `sql` with the simple query protocol (no parameters; may hold several statements):
  // BEGIN, COMMIT, ROLLBACK, migration files. Same deadline and error handling as Exec; reads
  // every result, and throws for the first error.
  void ExecScript(std::string_view sql, Deadline deadline);

  // True once the connection is unusable (lost, timed out, terminated by the server).
  [[nodiscard]] bool broken() const;
  // True inside a transaction block, idle or failed (or while a command runs).
  [[nodiscard]] bool InTransaction() const;
  // Without waiting, reads whatever the server sent an idle connection (a termination notice, an
  // end of file) and answers !broken(). The pool calls it before lending an idle connection so
  // that connections a server restart closed are dropped instead of failing a request.
  bool CheckIdle();

 private:
  explicit Connection(pg_conn* conn);

  // The name of the prepared statement for `sql`, preparing it first if needed.
  const std::string& Prepare(const char* sql, Deadline deadline);
  // Sends what libpq buffered, then reads every result of the command in flight; answers the
  // last one, or throws for the first error (or a lost connection).
  PgResult Collect(Deadline deadline);
  void FlushOutput(Deadline deadline);
  // Waits for `events` on the socket; past the deadline cancels, marks broken and throws.
  int Wait(short events, Deadline deadline);
  [[noreturn]] void TimedOut();
  // Marks the connection broken and throws kUnavailable, with the server's message and SQLSTATE
  // when `error` holds one (a termination notice).
  [[noreturn]] void ThrowLost(const pg_result* error);
  [[noreturn]] void ThrowSendFailed();
  [[noreturn]] void ThrowError(const pg_result* error);
  // Marks the connection broken and logs why (once).
  void MarkBroken(std::string_view reason);
  void CheckUsable(Deadline deadline) const;

  // Transparent lookup by the caller's const char* without building a std::string.
  struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  pg_conn* conn_;
  bool broken_ = false;
  int next_statement_ = 1;
  std::unordered_map<std::string, std::string, TextHash, std::equal_to<>> statements_;
};

}  // namespace referrald::storage::postgres
