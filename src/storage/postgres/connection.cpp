#include "storage/postgres/connection.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "storage/common/storage_error.hpp"
#include "util/time_format.hpp"

namespace referrald::storage::postgres {

namespace {

using Kind = StorageError::Kind;
using std::chrono::milliseconds;

// idle_in_transaction_session_timeout as a multiple of statement_timeout: a transaction may run
// several statements, but a session that holds locks while its client is gone must end.
constexpr long long kIdleInTransactionFactor = 5;

// A timed-out query is cancelled from a short-lived thread: PQcancel opens a new connection and
// blocks without a timeout (up to the kernel's TCP connect timeout when the server is
// unreachable), which must not hold up the caller past its deadline. At most this many run at
// once; beyond that the query is left to statement_timeout.
constexpr int kMaxCancelsInFlight = 8;
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): every connection's cancels
std::atomic<int> g_cancels_in_flight{0};

constexpr std::size_t kMaxConnectMessage = 300;

[[noreturn]] void Throw(Kind kind, const std::string& message, std::string code = {}) {
  throw StorageError(kind, message, std::move(code));
}

// Reads `len` decimal digits at `pos`; -1 when one is missing or not a digit.
int Digits(std::string_view s, std::size_t pos, std::size_t len) {
  if (pos + len > s.size()) return -1;
  int value = 0;
  for (std::size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    value = value * 10 + (s[i] - '0');
  }
  return value;
}

// Waits until `fd` is ready for `events`. Answers the revents (> 0), 0 when the deadline passed,
// -1 when poll failed.
int WaitFd(int fd, short events, Deadline deadline) {
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return 0;
    const long long left = std::chrono::ceil<milliseconds>(deadline - now).count();
    pollfd pfd{fd, events, 0};
    const int rc = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
    if (rc > 0) return pfd.revents;
    if (rc < 0 && errno != EINTR) return -1;
  }
}

// Replaces every occurrence of `secret` in `text` with "***".
void Scrub(std::string& text, const std::string& secret) {
  if (secret.empty()) return;
  for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + 3)) {
    text.replace(pos, secret.size(), "***");
  }
}

// libpq's message for a failed connection attempt, on one line. It names host and port, never
// the password; the password and URL are scrubbed anyway in case a future libpq echoes them.
std::string ConnectMessage(PGconn* conn, const std::string& url, const std::string& password) {
  std::string text = conn != nullptr ? PQerrorMessage(conn) : "";
  std::string message;
  bool space = false;
  for (const char c : text) {
    if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
      space = !message.empty();
      continue;
    }
    if (space) message += ' ';
    space = false;
    message += c;
  }
  Scrub(message, url);
  Scrub(message, password);
  if (message.size() > kMaxConnectMessage) message.resize(kMaxConnectMessage);
  return message.empty() ? "cannot connect to the database" : message;
}

// Replaces what is inside double quotes with "...". Data exceptions (class 22) quote the value
// they refused ("invalid input syntax for type uuid: \"…\""), which may be user data.
std::string RedactQuoted(std::string_view text) {
  std::string out;
  bool inside = false;
  for (const char c : text) {
    if (c == '"') {
      if (!inside) out += "\"...\"";
      inside = !inside;
    } else if (!inside) {
      out += c;
    }
  }
  return out;
}

std::string SqlState(const PGresult* result) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  return state != nullptr ? state : "";
}

// The server's primary message: never DETAIL (it carries row values) nor the statement.
std::string PrimaryMessage(const PGresult* result, std::string_view sqlstate) {
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  if (primary == nullptr) return "unexpected response from the database";
  if (sqlstate.starts_with("22")) return RedactQuoted(primary);
  return primary;
}

Kind KindOf(std::string_view sqlstate) {
  if (sqlstate == "23505") return Kind::kUniqueViolation;
  if (sqlstate == "40001" || sqlstate == "40P01") return Kind::kRetry;
  // protocol_violation answers a malformed request (say, a wrong parameter count): our bug.
  if (sqlstate == "08P01") return Kind::kFailure;
  if (sqlstate.starts_with("08") || sqlstate.starts_with("53") || sqlstate == "57P01" ||
      sqlstate == "57P02" || sqlstate == "57P03" || sqlstate == "57014" || sqlstate == "55P03" ||
      sqlstate == "25P03") {
    return Kind::kUnavailable;
  }
  return Kind::kFailure;
}

// Whether the server ended the session with this error.
bool EndsSession(const PGresult* result, std::string_view sqlstate) {
  const char* severity = PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (severity != nullptr &&
      (std::strcmp(severity, "FATAL") == 0 || std::strcmp(severity, "PANIC") == 0)) {
    return true;
  }
  return (sqlstate.starts_with("08") && sqlstate != "08P01") || sqlstate == "57P01" ||
         sqlstate == "57P02" || sqlstate == "57P03" || sqlstate == "25P03";
}

void SendCancel(PGconn* conn) {
  PGcancel* cancel = PQgetCancel(conn);
  if (cancel == nullptr) return;
  if (g_cancels_in_flight.fetch_add(1) >= kMaxCancelsInFlight) {
    g_cancels_in_flight.fetch_sub(1);
    PQfreeCancel(cancel);
    spdlog::warn("postgres: too many cancel requests in flight; the timed-out query runs on");
    return;
  }
  try {
    // No logging in the thread: it may outlive the loggers at process exit.
    std::thread([cancel] {
      char error[256];
      PQcancel(cancel, error, sizeof(error));
      PQfreeCancel(cancel);
      g_cancels_in_flight.fetch_sub(1);
    }).detach();
  } catch (const std::system_error&) {
    g_cancels_in_flight.fetch_sub(1);
    PQfreeCancel(cancel);
    spdlog::warn("postgres: cannot start a thread to cancel the timed-out query");
  }
}

// Server notices (e.g. "table … does not exist, skipping") go to the debug log, not stderr.
void OnNotice(void* /*arg*/, const PGresult* result) {
  const char* severity = PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  spdlog::debug("postgres: {}: {}", severity != nullptr ? severity : "NOTICE",
                primary != nullptr ? primary : "");
}

std::string SessionSettings(milliseconds statement_timeout) {
  const long long timeout = std::clamp<long long>(statement_timeout.count(), 0, INT_MAX);
  const long long idle = std::min<long long>(timeout * kIdleInTransactionFactor, INT_MAX);
  return "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET statement_timeout = " +
         std::to_string(timeout) + "; SET lock_timeout = " + std::to_string(timeout) +
         "; SET idle_in_transaction_session_timeout = " + std::to_string(idle);
}

}  // namespace

// --- parameters -------------------------------------------------------------------------------

Param ToParam(const std::string& v) { return v; }
Param ToParam(std::string_view v) { return std::string(v); }
Param ToParam(const char* v) {
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}
Param ToParam(std::int64_t v) { return std::to_string(v); }
Param ToParam(int v) { return std::to_string(v); }
Param ToParam(bool v) { return std::string(v ? "true" : "false"); }
Param ToParam(TimePoint v) { return FormatIso8601(v); }
Param ToParam(std::nullopt_t /*null*/) { return std::nullopt; }

// --- values -----------------------------------------------------------------------------------

std::optional<TimePoint> ParsePgTimestamp(std::string_view s) {
  // YYYY-MM-DD HH:MM:SS
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') ||
      s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  const int year = Digits(s, 0, 4);
  const int month = Digits(s, 5, 2);
  const int day = Digits(s, 8, 2);
  const int hour = Digits(s, 11, 2);
  const int minute = Digits(s, 14, 2);
  const int second = Digits(s, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year{year},
                                         std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok() || hour > 23 || minute > 59 || second > 59) return std::nullopt;

  std::size_t pos = 19;
  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    for (; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++digits) {
      if (digits < 3) millis = millis * 10 + (s[pos] - '0');
    }
    if (digits == 0 || digits > 6) return std::nullopt;
    for (std::size_t i = digits; i < 3; ++i) millis *= 10;
  }

  // A timestamptz's offset: Z, +HH, +HH:MM or +HH:MM:SS (PostgreSQL allows up to 15:59:59).
  std::chrono::seconds offset{0};
  if (pos < s.size() && s[pos] == 'Z') {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int sign = s[pos] == '-' ? -1 : 1;
    const int offset_hours = Digits(s, pos + 1, 2);
    int offset_minutes = 0;
    int offset_seconds = 0;
    pos += 3;
    if (offset_hours >= 0 && pos < s.size() && s[pos] == ':') {
      offset_minutes = Digits(s, pos + 1, 2);
      pos += 3;
      if (offset_minutes >= 0 && pos < s.size() && s[pos] == ':') {
        offset_seconds = Digits(s, pos + 1, 2);
        pos += 3;
      }
    }
    if (offset_hours < 0 || offset_hours > 15 || offset_minutes < 0 || offset_minutes > 59 ||
        offset_seconds < 0 || offset_seconds > 59) {
      return std::nullopt;
    }
    offset = sign * (std::chrono::hours{offset_hours} + std::chrono::minutes{offset_minutes} +
                     std::chrono::seconds{offset_seconds});
  }
  if (pos != s.size()) return std::nullopt;

  return TimePoint{std::chrono::sys_days{date}} + std::chrono::hours{hour} +
         std::chrono::minutes{minute} + std::chrono::seconds{second} + milliseconds{millis} -
         offset;
}

std::optional<std::int64_t> ParsePgInt(std::string_view s) {
  std::int64_t value = 0;
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (s.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

// --- PgRow ------------------------------------------------------------------------------------

bool PgRow::IsNull(int col) const {
  if (col < 0 || col >= PQnfields(result_)) {
    Throw(Kind::kFailure, "column index out of range");
  }
  return PQgetisnull(result_, row_, col) != 0;
}

std::string_view PgRow::Value(int col) const {
  if (IsNull(col)) Throw(Kind::kCorrupt, "unexpected NULL in a row");
  return {PQgetvalue(result_, row_, col),
          static_cast<std::size_t>(PQgetlength(result_, row_, col))};
}

std::string PgRow::Text(int col) const { return std::string(Value(col)); }

std::int64_t PgRow::Int(int col) const {
  const auto value = ParsePgInt(Value(col));
  if (!value) Throw(Kind::kCorrupt, "unparseable integer in a row");
  return *value;
}

bool PgRow::Bool(int col) const {
  const std::string_view value = Value(col);
  if (value == "t") return true;
  if (value == "f") return false;
  Throw(Kind::kCorrupt, "unparseable boolean in a row");
}

TimePoint PgRow::Time(int col) const {
  const auto value = ParsePgTimestamp(Value(col));
  if (!value) Throw(Kind::kCorrupt, "unparseable timestamp in a row");
  return *value;
}

// --- PgResult ---------------------------------------------------------------------------------

PgResult::PgResult(PgResult&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}

PgResult::~PgResult() {
  if (result_ != nullptr) PQclear(result_);
}

int PgResult::rows() const { return result_ != nullptr ? PQntuples(result_) : 0; }

std::int64_t PgResult::affected() const {
  if (result_ == nullptr) return 0;
  return ParsePgInt(PQcmdTuples(result_)).value_or(0);
}

PgRow PgResult::row(int i) const {
  if (i < 0 || i >= rows()) Throw(Kind::kFailure, "row index out of range");
  return {result_, i};
}

// --- Connection -------------------------------------------------------------------------------

Connection::Connection(PGconn* conn) : conn_(conn) {}

Connection::~Connection() { PQfinish(conn_); }

std::unique_ptr<Connection> Connection::Open(const std::string& url, Deadline deadline,
                                             milliseconds statement_timeout) {
  // Parse first: libpq's parse errors quote the part they refuse, which may be the password.
  std::string password;
  {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
    if (error != nullptr) PQfreemem(error);
    if (options == nullptr) Throw(Kind::kFailure, "invalid database URL");
    for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
      if (std::strcmp(option->keyword, "password") == 0 && option->val != nullptr) {
        password = option->val;
      }
    }
    PQconninfoFree(options);
  }

  // Entries after the expanded URL ("dbname") override it; fallback_application_name does not.
  const char* const keywords[] = {"dbname", "client_encoding", "fallback_application_name",
                                  nullptr};
  const char* const values[] = {url.c_str(), "UTF8", "referrald", nullptr};
  PGconn* raw = PQconnectStartParams(keywords, values, /*expand_dbname=*/1);
  if (raw == nullptr) Throw(Kind::kUnavailable, "cannot connect to the database: out of memory");
  std::unique_ptr<Connection> conn(new Connection(raw));
  // Terse: server errors in libpq's own messages carry no DETAIL (row values).
  PQsetErrorVerbosity(raw, PQERRORS_TERSE);
  PQsetNoticeReceiver(raw, &OnNotice, nullptr);

  const auto fail = [&](const std::string& message) {
    spdlog::warn("postgres: cannot connect: {}", message);
    Throw(Kind::kUnavailable, message);
  };
  // PQconnectStartParams has made the first PQconnectPoll step, which asks to write.
  PostgresPollingStatusType status = PGRES_POLLING_WRITING;
  while (status != PGRES_POLLING_OK) {
    if (status == PGRES_POLLING_FAILED || PQstatus(raw) == CONNECTION_BAD) {
      fail(ConnectMessage(raw, url, password));
    }
    const int fd = PQsocket(raw);
    if (fd < 0) fail(ConnectMessage(raw, url, password));
    const int ready = WaitFd(fd, status == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
    if (ready == 0) fail("timed out connecting to the database");
    if (ready < 0) fail("cannot wait for the database socket");
    status = PQconnectPoll(raw);
  }
  if (PQsetnonblocking(raw, 1) != 0) fail("cannot make the database connection non-blocking");

  try {
    conn->ExecScript(SessionSettings(statement_timeout), deadline);
  } catch (const StorageError& e) {
    fail(std::string("cannot set the database session up: ") + e.what());
  }
  return conn;
}

PgResult Connection::Exec(const char* sql, std::span<const Param> params, Deadline deadline) {
  CheckUsable(deadline);
  if (params.size() > 65535) Throw(Kind::kFailure, "too many statement parameters");
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& param : params) {
    if (param && param->find('\0') != std::string::npos) {
      Throw(Kind::kFailure, "a statement parameter contains a NUL byte");
    }
    values.push_back(param ? param->c_str() : nullptr);
  }
  const std::string& name = Prepare(sql, deadline);
  if (PQsendQueryPrepared(conn_, name.c_str(), static_cast<int>(values.size()), values.data(),
                          nullptr, nullptr, /*resultFormat=*/0) == 0) {
    ThrowSendFailed();
  }
  try {
    return Collect(deadline);
  } catch (const StorageError& e) {
    // The statement is gone (DEALLOCATE, DISCARD) or its cached plan no longer fits the schema:
    // prepare it afresh next time.
    if (e.code() == "26000" || e.code() == "0A000") {
      if (const auto it = statements_.find(std::string_view(sql)); it != statements_.end()) {
        statements_.erase(it);
      }
    }
    throw;
  }
}

const std::string& Connection::Prepare(const char* sql, Deadline deadline) {
  if (const auto it = statements_.find(std::string_view(sql)); it != statements_.end()) {
    return it->second;
  }
  std::string name = "s" + std::to_string(next_statement_++);
  // Parameter types are left to the server to infer from the statement.
  if (PQsendPrepare(conn_, name.c_str(), sql, 0, nullptr) == 0) ThrowSendFailed();
  Collect(deadline);
  return statements_.emplace(sql, std::move(name)).first->second;
}

void Connection::ExecScript(std::string_view sql, Deadline deadline) {
  CheckUsable(deadline);
  const std::string text(sql);
  if (text.find('\0') != std::string::npos) Throw(Kind::kFailure, "a script contains a NUL byte");
  if (PQsendQuery(conn_, text.c_str()) == 0) ThrowSendFailed();
  Collect(deadline);
}

PgResult Connection::Collect(Deadline deadline) {
  FlushOutput(deadline);
  PgResult last;
  PgResult error;
  while (true) {
    while (PQisBusy(conn_) != 0) {
      Wait(POLLIN, deadline);
      if (PQconsumeInput(conn_) == 0) {
        // Lost: PQisBusy now answers false and PQgetResult reports it without blocking.
        if (PQstatus(conn_) == CONNECTION_BAD) break;
        ThrowLost(nullptr);
      }
    }
    PgResult result(PQgetResult(conn_));
    if (!result) break;
    switch (PQresultStatus(result.get())) {
      case PGRES_COPY_IN:
      case PGRES_COPY_OUT:
      case PGRES_COPY_BOTH:
        MarkBroken("COPY is not supported");
        Throw(Kind::kFailure, "COPY is not supported by this driver");
      case PGRES_FATAL_ERROR:
      case PGRES_NONFATAL_ERROR:
      case PGRES_BAD_RESPONSE:
        if (!error) error = std::move(result);
        break;
      default:
        last = std::move(result);
        break;
    }
  }
  if (PQstatus(conn_) != CONNECTION_OK) ThrowLost(error.get());
  if (error) ThrowError(error.get());
  return last;
}

void Connection::FlushOutput(Deadline deadline) {
  while (true) {
    const int rc = PQflush(conn_);
    if (rc == 0) return;
    if (rc < 0) ThrowLost(nullptr);
    // The server may be waiting for us to read before it reads more.
    const int events = Wait(POLLIN | POLLOUT, deadline);
    if ((events & (POLLIN | POLLERR | POLLHUP)) != 0 && PQconsumeInput(conn_) == 0) {
      ThrowLost(nullptr);
    }
  }
}

int Connection::Wait(short events, Deadline deadline) {
  const int fd = PQsocket(conn_);
  if (fd < 0) ThrowLost(nullptr);
  const int ready = WaitFd(fd, events, deadline);
  if (ready == 0) TimedOut();
  if (ready < 0) ThrowLost(nullptr);
  return ready;
}

void Connection::TimedOut() {
  SendCancel(conn_);
  MarkBroken("timed out");
  Throw(Kind::kUnavailable, "timed out");
}

void Connection::ThrowLost(const PGresult* error) {
  std::string code = SqlState(error);
  std::string message =
      code.empty() ? "connection to the database lost" : PrimaryMessage(error, code);
  MarkBroken(message);
  Throw(Kind::kUnavailable, message, std::move(code));
}

void Connection::ThrowSendFailed() {
  if (PQstatus(conn_) != CONNECTION_OK) ThrowLost(nullptr);
  // libpq refused before sending: a command still in progress, i.e. a bug here.
  MarkBroken("could not send a statement");
  Throw(Kind::kFailure, "could not send a statement to the database");
}

void Connection::ThrowError(const PGresult* error) {
  std::string code = SqlState(error);
  std::string message = PrimaryMessage(error, code);
  if (EndsSession(error, code)) {
    MarkBroken(message);
    Throw(Kind::kUnavailable, message, std::move(code));
  }
  const Kind kind = KindOf(code);  // before `code` is moved from
  Throw(kind, message, std::move(code));
}

void Connection::MarkBroken(std::string_view reason) {
  if (broken_) return;
  broken_ = true;
  spdlog::warn("postgres: connection broken: {}", reason);
}

void Connection::CheckUsable(Deadline deadline) const {
  if (broken()) Throw(Kind::kUnavailable, "connection to the database lost");
  if (std::chrono::steady_clock::now() >= deadline) Throw(Kind::kUnavailable, "timed out");
}

bool Connection::broken() const { return broken_ || PQstatus(conn_) != CONNECTION_OK; }

bool Connection::InTransaction() const {
  const PGTransactionStatusType status = PQtransactionStatus(conn_);
  return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
}

bool Connection::CheckIdle() {
  if (broken()) return false;
  const int fd = PQsocket(conn_);
  if (fd < 0) {
    MarkBroken("no socket");
    return false;
  }
  // A closed session shows as a termination notice followed by end of file; libpq reads the
  // notice first and meets the end of file on the next read, hence the few rounds.
  for (int round = 0; round < 4; ++round) {
    pollfd pfd{fd, POLLIN, 0};
    int rc = 0;
    do {
      rc = ::poll(&pfd, 1, 0);
    } while (rc < 0 && errno == EINTR);
    if (rc <= 0) break;
    if (PQconsumeInput(conn_) == 0) {
      MarkBroken("the server closed the connection");
      return false;
    }
    PQisBusy(conn_);  // parses what arrived: notices, parameter changes
  }
  if (PQstatus(conn_) != CONNECTION_OK) {
    MarkBroken("the server closed the connection");
    return false;
  }
  return true;
}

}  // namespace referrald::storage::postgres
