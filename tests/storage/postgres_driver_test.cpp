// The PostgreSQL driver (storage/postgres/connection, pool) against a real server named by
// REFERRALD_TEST_POSTGRES_URL; those tests skip when it is unset, and fail instead when
// REFERRALD_REQUIRE_POSTGRES=1. Parsers and connection failures run without a server.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "storage/common/storage_error.hpp"
#include "storage/postgres/connection.hpp"
#include "storage/postgres/pool.hpp"
#include "util/time_format.hpp"

namespace referrald::storage::postgres {
namespace {

using namespace std::chrono_literals;
using Kind = StorageError::Kind;
using Clock = std::chrono::steady_clock;

Deadline In(std::chrono::milliseconds d) { return Clock::now() + d; }

TimePoint At(std::string_view iso) {
  const auto t = ParseIso8601(iso);
  if (!t) throw std::invalid_argument("bad timestamp in test");
  return *t;
}

// Runs `f`, which must throw a StorageError, and answers it.
template <typename F>
StorageError Thrown(F&& f) {
  try {
    f();
  } catch (const StorageError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a StorageError";
  return StorageError(Kind::kFailure, "nothing thrown", "none");
}

// A listening TCP socket on 127.0.0.1 that never accepts: connections complete in the kernel and
// then hear nothing. Closing it leaves a port where nothing listens.
class SilentListener {
 public:
  SilentListener() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    auto* sa = reinterpret_cast<sockaddr*>(&addr);
    if (fd_ < 0 || ::bind(fd_, sa, len) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, sa, &len) != 0) {
      throw std::runtime_error("cannot open a listening socket");
    }
    port_ = ntohs(addr.sin_port);
  }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  ~SilentListener() { Close(); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  [[nodiscard]] int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

std::string LocalUrl(int port, std::string_view userinfo = "postgres") {
  return "postgresql://" + std::string(userinfo) + "@127.0.0.1:" + std::to_string(port) +
         "/postgres";
}

// --- without a server -------------------------------------------------------------------------

TEST(PostgresTimestampTest, ParsesIsoOutput) {
  EXPECT_EQ(ParsePgTimestamp("2025-06-15 12:00:00"), At("2025-06-15T12:00:00.000Z"));
  EXPECT_EQ(ParsePgTimestamp("2025-06-15T12:00:00"), At("2025-06-15T12:00:00.000Z"));
  EXPECT_EQ(ParsePgTimestamp("2025-06-15 12:00:00.1"), At("2025-06-15T12:00:00.100Z"));
  EXPECT_EQ(ParsePgTimestamp("2025-06-15 12:00:00.12"), At("2025-06-15T12:00:00.120Z"));
  EXPECT_EQ(ParsePgTimestamp("2025-06-15 12:00:00.123"), At("2025-06-15T12:00:00.123Z"));
  EXPECT_EQ(ParsePgTimestamp("2025-06-15 12:00:00.123999"), At("2025-06-15T12:00:00.123Z"));
  EXPECT_EQ(ParsePgTimestamp("2024-02-29 23:59:59.999"), At("2024-02-29T23:59:59.999Z"));
  EXPECT_EQ(ParsePgTimestamp("1969-12-31 23:59:59.5"), At("1969-12-31T23:59:59.500Z"));
  // timestamptz output: the offset is applied.
  EXPECT_EQ(ParsePgTimestamp("2025-06-15 12:00:00+00"), At("2025-06-15T12:00:00.000Z"));
  EXPECT_EQ(ParsePgTimestamp("2025-06-15 08:00:00.25-04"), At("2025-06-15T12:00:00.250Z"));
  EXPECT_EQ(ParsePgTimestamp("2025-06-15 17:30:00+05:30"), At("2025-06-15T12:00:00.000Z"));
  EXPECT_EQ(ParsePgTimestamp("2025-06-15 12:00:00Z"), At("2025-06-15T12:00:00.000Z"));
}

TEST(PostgresTimestampTest, RejectsGarbage) {
  for (const std::string_view bad : {"",
                                     "2025-06-15",
                                     "2025-06-15 12:00",
                                     "2025-06-15 12:00:00.",
                                     "2025-06-15 12:00:00.1234567",
                                     "2025-06-15 12:00:00 ",
                                     " 2025-06-15 12:00:00",
                                     "2025-06-15x12:00:00",
                                     "2025-13-01 00:00:00",
                                     "2025-02-29 00:00:00",
                                     "2025-06-31 00:00:00",
                                     "2025-06-15 24:00:00",
                                     "2025-06-15 12:60:00",
                                     "2025-06-15 12:00:60",
                                     "20250-06-15 12:00:00",
                                     "+2025-06-15 12:00:0",
                                     "2025-06-15 12:00:00 BC",
                                     "infinity",
                                     "-infinity",
                                     "2025-06-15 12:00:00+1",
                                     "2025-06-15 12:00:00+16",
                                     "2025-06-15 12:00:00+05:3",
                                     "2025-06-15 12:00:00.12a",
                                     "2025-0a-15 12:00:00",
                                     "2025-06-15 12:00:00.-1",
                                     "2025-06-15 1:00:00"}) {
    EXPECT_FALSE(ParsePgTimestamp(bad).has_value()) << bad;
  }
}

TEST(PostgresIntTest, ParsesStrictly) {
  EXPECT_EQ(ParsePgInt("0"), 0);
  EXPECT_EQ(ParsePgInt("-12"), -12);
  EXPECT_EQ(ParsePgInt("9223372036854775807"), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(ParsePgInt("-9223372036854775808"), std::numeric_limits<std::int64_t>::min());
  for (const std::string_view bad :
       {"", "-", "+1", " 1", "1 ", "1.0", "0x10", "1e3", "9223372036854775808", "abc"}) {
    EXPECT_FALSE(ParsePgInt(bad).has_value()) << bad;
  }
}

TEST(PostgresParamTest, TextForms) {
  EXPECT_EQ(ToParam(std::string("a")), "a");
  EXPECT_EQ(ToParam(std::string_view("b")), "b");
  EXPECT_EQ(ToParam("c"), "c");
  EXPECT_EQ(ToParam(static_cast<const char*>(nullptr)), std::nullopt);
  EXPECT_EQ(ToParam(std::int64_t{-5}), "-5");
  EXPECT_EQ(ToParam(7), "7");
  EXPECT_EQ(ToParam(true), "true");
  EXPECT_EQ(ToParam(false), "false");
  EXPECT_EQ(ToParam(At("2025-06-15T12:00:00.123Z")), "2025-06-15T12:00:00.123Z");
  EXPECT_EQ(ToParam(std::nullopt), std::nullopt);
  EXPECT_EQ(ToParam(std::optional<int>{}), std::nullopt);
  EXPECT_EQ(ToParam(std::optional<int>{3}), "3");
  EXPECT_EQ(ToParam(std::optional<std::string>{"x"}), "x");
}

TEST(PostgresConnectTest, NothingListeningFailsFast) {
  SilentListener listener;
  const int port = listener.port();
  listener.Close();
  const auto start = Clock::now();
  const StorageError e = Thrown([&] { (void)Connection::Open(LocalUrl(port), In(10s), 1s); });
  EXPECT_EQ(e.kind(), Kind::kUnavailable);
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_NE(std::string(e.what()).find(std::to_string(port)), std::string::npos) << e.what();

  Pool pool(LocalUrl(port), 2, 1s);
  EXPECT_EQ(Thrown([&] { (void)pool.Acquire(In(10s)); }).kind(), Kind::kUnavailable);
  EXPECT_EQ(pool.open(), 0);
}

TEST(PostgresConnectTest, SilentServerBoundedByDeadline) {
  SilentListener listener;
  const auto start = Clock::now();
  const StorageError e =
      Thrown([&] { (void)Connection::Open(LocalUrl(listener.port()), In(300ms), 1s); });
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(e.kind(), Kind::kUnavailable);
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 1s);
}

TEST(PostgresConnectTest, MessagesNeverHoldThePassword) {
  SilentListener listener;
  const int port = listener.port();
  listener.Close();
  const StorageError refused =
      Thrown([&] { (void)Connection::Open(LocalUrl(port, "user:s3cret-pw"), In(5s), 1s); });
  EXPECT_EQ(refused.kind(), Kind::kUnavailable);
  EXPECT_EQ(std::string(refused.what()).find("s3cret"), std::string::npos) << refused.what();

  // libpq's own parse error would quote the bad escape, password and all.
  const StorageError malformed = Thrown(
      [&] { (void)Connection::Open("postgresql://user:s3cret%zz@127.0.0.1:1/db", In(5s), 1s); });
  EXPECT_EQ(malformed.kind(), Kind::kFailure);
  EXPECT_EQ(std::string(malformed.what()).find("s3cret"), std::string::npos) << malformed.what();
  EXPECT_EQ(Thrown([&] { (void)Connection::Open("sqlite:data/x.db", In(5s), 1s); }).kind(),
            Kind::kFailure);
}

// --- against a server -------------------------------------------------------------------------

class PostgresDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("REFERRALD_TEST_POSTGRES_URL");
    if (url == nullptr || *url == '\0') {
      const char* require = std::getenv("REFERRALD_REQUIRE_POSTGRES");
      if (require != nullptr && std::string_view(require) == "1") {
        FAIL() << "REFERRALD_REQUIRE_POSTGRES=1 but REFERRALD_TEST_POSTGRES_URL is unset";
      }
      GTEST_SKIP() << "REFERRALD_TEST_POSTGRES_URL is unset";
    }
    url_ = url;
  }

  std::unique_ptr<Connection> Connect(std::chrono::milliseconds statement_timeout = 10s) {
    return Connection::Open(url_, In(5s), statement_timeout);
  }

  static std::int64_t BackendPid(Connection& conn) {
    return conn.Query("SELECT pg_backend_pid()", In(5s)).row(0).Int(0);
  }

  // Ends the session of backend `pid` from a separate connection and waits until it is gone.
  void Terminate(std::int64_t pid) {
    auto killer = Connect();
    const auto result = killer->Query("SELECT pg_terminate_backend($1::int, 5000)", In(10s), pid);
    ASSERT_TRUE(result.row(0).Bool(0));
  }

  std::string url_;
};

TEST_F(PostgresDriverTest, ConnectsAndSetsTheSessionUp) {
  auto conn = Connect(1500ms);
  const auto result = conn->Query("SELECT 1 + 1, 'hi'::text", In(5s));
  ASSERT_EQ(result.rows(), 1);
  EXPECT_EQ(result.row(0).Int(0), 2);
  EXPECT_EQ(result.row(0).Text(1), "hi");

  const auto setting = [&](const char* name) {
    return conn->Query("SELECT current_setting($1)", In(5s), name).row(0).Text(0);
  };
  EXPECT_EQ(setting("TimeZone"), "UTC");
  EXPECT_EQ(setting("DateStyle"), "ISO, YMD");
  EXPECT_EQ(setting("statement_timeout"), "1500ms");
  EXPECT_EQ(setting("lock_timeout"), "1500ms");
  EXPECT_EQ(setting("idle_in_transaction_session_timeout"), "7500ms");
  EXPECT_EQ(setting("application_name"), "referrald");
  EXPECT_EQ(setting("client_encoding"), "UTF8");
  EXPECT_FALSE(conn->broken());
  EXPECT_FALSE(conn->InTransaction());
}

TEST_F(PostgresDriverTest, ParametersRoundTrip) {
  auto conn = Connect();
  conn->ExecScript(
      "CREATE TEMP TABLE params (s text, i bigint, n int, b boolean, z text, ts timestamp)",
      In(5s));
  constexpr char kInsert[] =
      "INSERT INTO params (s, i, n, b, z, ts) VALUES ($1, $2, $3, $4, $5, $6)";
  constexpr char kSelect[] = "SELECT s, i, n, b, z, ts FROM params ORDER BY i";
  const std::string text = "h\xC3\xA9llo 'quoted' \"double\" \\ back";
  const TimePoint at = At("2025-06-15T12:00:00.123Z");

  EXPECT_EQ(conn->Query(kInsert, In(5s), text, std::numeric_limits<std::int64_t>::min(), -7, true,
                        std::nullopt, at)
                .affected(),
            1);
  EXPECT_EQ(conn->Query(kInsert, In(5s), std::string_view("view"),
                        std::numeric_limits<std::int64_t>::max(), std::optional<int>{}, false,
                        std::optional<std::string>{"set"}, std::optional<TimePoint>{})
                .affected(),
            1);

  const auto result = conn->Query(kSelect, In(5s));
  ASSERT_EQ(result.rows(), 2);
  const PgRow first = result.row(0);
  EXPECT_EQ(first.Text(0), text);
  EXPECT_EQ(first.Int(1), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(first.Int(2), -7);
  EXPECT_TRUE(first.Bool(3));
  EXPECT_TRUE(first.IsNull(4));
  EXPECT_EQ(first.OptText(4), std::nullopt);
  EXPECT_EQ(first.Time(5), at);
  EXPECT_EQ(first.OptTime(5), at);

  const PgRow second = result.row(1);
  EXPECT_EQ(second.Text(0), "view");
  EXPECT_EQ(second.Int(1), std::numeric_limits<std::int64_t>::max());
  EXPECT_TRUE(second.IsNull(2));
  EXPECT_FALSE(second.Bool(3));
  EXPECT_EQ(second.OptText(4), "set");
  EXPECT_EQ(second.OptTime(5), std::nullopt);

  // Non-optional accessors refuse NULL and unreadable values; bad indexes are bugs.
  EXPECT_EQ(Thrown([&] { (void)second.Int(2); }).kind(), Kind::kCorrupt);
  EXPECT_EQ(Thrown([&] { (void)second.Time(5); }).kind(), Kind::kCorrupt);
  EXPECT_EQ(Thrown([&] { (void)first.Int(0); }).kind(), Kind::kCorrupt);
  EXPECT_EQ(Thrown([&] { (void)first.Bool(0); }).kind(), Kind::kCorrupt);
  EXPECT_EQ(Thrown([&] { (void)first.Time(0); }).kind(), Kind::kCorrupt);
  EXPECT_EQ(Thrown([&] { (void)first.Text(6); }).kind(), Kind::kFailure);
  EXPECT_EQ(Thrown([&] { (void)result.row(2); }).kind(), Kind::kFailure);

  // A NUL byte cannot travel as a text parameter; refused rather than truncated.
  EXPECT_EQ(
      Thrown([&] { (void)conn->Query("SELECT $1::text", In(5s), std::string("a\0b", 3)); }).kind(),
      Kind::kFailure);
  EXPECT_EQ(
      conn->Query("SELECT $1::uuid", In(5s), "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11").row(0).Text(0),
      "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
}

TEST_F(PostgresDriverTest, TimestampsStayUtcWhateverTheSessionTimeZone) {
  auto conn = Connect();
  conn->ExecScript("SET TimeZone = 'America/New_York'", In(5s));
  conn->ExecScript("CREATE TEMP TABLE stamps (id int, ts timestamp)", In(5s));
  const TimePoint winter = At("2025-01-15T23:30:00.007Z");
  const TimePoint summer = At("2025-06-15T12:00:00.123Z");
  conn->Query("INSERT INTO stamps VALUES (1, $1), (2, $2)", In(5s), winter, summer);

  const auto result = conn->Query("SELECT ts, ts::text FROM stamps ORDER BY id", In(5s));
  ASSERT_EQ(result.rows(), 2);
  EXPECT_EQ(result.row(0).Time(0), winter);
  EXPECT_EQ(result.row(0).Text(1), "2025-01-15 23:30:00.007");
  EXPECT_EQ(result.row(1).Time(0), summer);
  EXPECT_EQ(result.row(1).Text(1), "2025-06-15 12:00:00.123");
  // Found by the same parameter too.
  EXPECT_EQ(conn->Query("SELECT id FROM stamps WHERE ts = $1", In(5s), summer).row(0).Int(0), 2);

  // Microseconds are cut to milliseconds; a timestamptz's offset is honoured.
  EXPECT_EQ(conn->Query("SELECT '2025-06-15 12:00:00.123999'::timestamp", In(5s)).row(0).Time(0),
            summer);
  EXPECT_EQ(conn->Query("SELECT $1::timestamptz", In(5s), summer).row(0).Time(0), summer);
  const TimePoint now = conn->Query("SELECT now()", In(5s)).row(0).Time(0);
  const auto skew = now - std::chrono::time_point_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now());
  EXPECT_LT(std::chrono::abs(skew), 1min);
}

TEST_F(PostgresDriverTest, PreparedStatementsAreReused) {
  auto conn = Connect();
  constexpr char kEcho[] = "SELECT $1::bigint + 1";
  EXPECT_EQ(conn->Query(kEcho, In(5s), 1).row(0).Int(0), 2);
  EXPECT_EQ(conn->Query(kEcho, In(5s), 41).row(0).Int(0), 42);
  const std::string copy = kEcho;  // same text, another pointer
  EXPECT_EQ(conn->Query(copy.c_str(), In(5s), 9).row(0).Int(0), 10);

  const auto result = conn->Query(
      "SELECT name, statement FROM pg_prepared_statements WHERE statement = $1", In(5s), kEcho);
  ASSERT_EQ(result.rows(), 1);
  EXPECT_EQ(result.row(0).Text(0), "s1");
  // The statement reading the catalog was prepared too, after the first.
  EXPECT_EQ(conn->Query("SELECT count(*) FROM pg_prepared_statements", In(5s)).row(0).Int(0), 3);
}

TEST_F(PostgresDriverTest, ServerErrorsMapBySqlState) {
  auto conn = Connect();
  conn->ExecScript("CREATE TEMP TABLE people (email text PRIMARY KEY)", In(5s));
  constexpr char kInsert[] = "INSERT INTO people (email) VALUES ($1)";
  conn->ExecScript("BEGIN", In(5s));
  conn->Query(kInsert, In(5s), "someone@example.com");
  const StorageError duplicate =
      Thrown([&] { conn->Query(kInsert, In(5s), "someone@example.com"); });
  EXPECT_EQ(duplicate.kind(), Kind::kUniqueViolation);
  EXPECT_EQ(duplicate.code(), "23505");
  // The primary message names the constraint; the row values are in DETAIL, never shown.
  EXPECT_NE(std::string(duplicate.what()).find("people_pkey"), std::string::npos);
  EXPECT_EQ(std::string(duplicate.what()).find("someone"), std::string::npos);
  EXPECT_FALSE(conn->broken());
  EXPECT_TRUE(conn->InTransaction());
  conn->ExecScript("ROLLBACK", In(5s));
  EXPECT_FALSE(conn->InTransaction());
  EXPECT_EQ(conn->Query("SELECT count(*) FROM people", In(5s)).row(0).Int(0), 0);

  // A data exception quotes the refused value: redacted.
  const StorageError bad_uuid = Thrown([&] { conn->Query("SELECT $1::uuid", In(5s), "bob@x.io"); });
  EXPECT_EQ(bad_uuid.kind(), Kind::kFailure);
  EXPECT_EQ(bad_uuid.code(), "22P02");
  EXPECT_EQ(std::string(bad_uuid.what()).find("bob@"), std::string::npos) << bad_uuid.what();

  // A syntax error is a failure, never cached, and leaves the connection usable.
  constexpr char kTypo[] = "SELEC 1";
  EXPECT_EQ(Thrown([&] { conn->Query(kTypo, In(5s)); }).code(), "42601");
  EXPECT_EQ(Thrown([&] { conn->Query(kTypo, In(5s)); }).code(), "42601");
  // So is a wrong parameter count (protocol_violation, but no lost connection).
  const StorageError count = Thrown([&] { conn->Query("SELECT $1::int + $2::int", In(5s), 1); });
  EXPECT_EQ(count.kind(), Kind::kFailure);
  EXPECT_EQ(count.code(), "08P01");
  EXPECT_FALSE(conn->broken());
  EXPECT_EQ(conn->Query("SELECT 5", In(5s)).row(0).Int(0), 5);
}

TEST_F(PostgresDriverTest, ScriptsRunSeveralStatementsAndStopAtTheFirstError) {
  auto conn = Connect();
  conn->ExecScript(
      "CREATE TEMP TABLE script (x int); INSERT INTO script VALUES (1); INSERT INTO script "
      "VALUES (2);",
      In(5s));
  EXPECT_EQ(conn->Query("SELECT count(*) FROM script", In(5s)).row(0).Int(0), 2);
  const StorageError e = Thrown([&] {
    conn->ExecScript("INSERT INTO script VALUES (3); SELECT 1/0; INSERT INTO script VALUES (4)",
                     In(5s));
  });
  EXPECT_EQ(e.kind(), Kind::kFailure);
  EXPECT_EQ(e.code(), "22012");
  EXPECT_FALSE(conn->broken());
  // One implicit transaction: the first insert was rolled back with it.
  EXPECT_EQ(conn->Query("SELECT count(*) FROM script", In(5s)).row(0).Int(0), 2);
}

TEST_F(PostgresDriverTest, DeadlineCancelsTheQueryAndBreaksTheConnection) {
  auto conn = Connect();
  const std::int64_t pid = BackendPid(*conn);
  const auto start = Clock::now();
  const StorageError e = Thrown([&] { conn->Query("SELECT pg_sleep(5)", In(300ms)); });
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(e.kind(), Kind::kUnavailable);
  EXPECT_STREQ(e.what(), "timed out");
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 1s);
  EXPECT_TRUE(conn->broken());
  EXPECT_EQ(Thrown([&] { conn->Query("SELECT 1", In(5s)); }).kind(), Kind::kUnavailable);

  // The cancel request reached the server: the backend stops sleeping long before 5 s.
  auto observer = Connect();
  constexpr char kActive[] =
      "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int AND state = 'active'";
  const auto wait_until = Clock::now() + 3s;
  while (observer->Query(kActive, In(5s), pid).row(0).Int(0) != 0 && Clock::now() < wait_until) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(observer->Query(kActive, In(5s), pid).row(0).Int(0), 0);
}

TEST_F(PostgresDriverTest, StatementTimeoutLeavesTheConnectionUsable) {
  auto conn = Connect(200ms);
  const StorageError e = Thrown([&] { conn->Query("SELECT pg_sleep(3)", In(5s)); });
  EXPECT_EQ(e.kind(), Kind::kUnavailable);
  EXPECT_EQ(e.code(), "57014");
  EXPECT_FALSE(conn->broken());
  EXPECT_EQ(conn->Query("SELECT 1", In(5s)).row(0).Int(0), 1);
}

TEST_F(PostgresDriverTest, APastDeadlineSendsNothing) {
  auto conn = Connect();
  EXPECT_EQ(Thrown([&] { conn->Query("SELECT 1", Clock::now() - 1ms); }).kind(),
            Kind::kUnavailable);
  EXPECT_FALSE(conn->broken());
  EXPECT_EQ(conn->Query("SELECT 1", In(5s)).row(0).Int(0), 1);
}

TEST_F(PostgresDriverTest, PoolWaitsForAFreeConnectionUntilTheDeadline) {
  Pool pool(url_, 2, 10s);
  Lease a = pool.Acquire(In(5s));
  Lease b = pool.Acquire(In(5s));
  EXPECT_EQ(pool.open(), 2);
  const auto start = Clock::now();
  const StorageError e = Thrown([&] { (void)pool.Acquire(In(200ms)); });
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(e.kind(), Kind::kUnavailable);
  EXPECT_STREQ(e.what(), "no database connection available in time");
  EXPECT_GE(elapsed, 190ms);
  EXPECT_LT(elapsed, 1s);

  // A waiter gets the connection released while it waits.
  std::thread releaser([held = std::move(a)]() mutable {
    std::this_thread::sleep_for(100ms);
    const Lease dropped = std::move(held);
  });
  const auto wait_start = Clock::now();
  Lease c = pool.Acquire(In(5s));
  EXPECT_LT(Clock::now() - wait_start, 2s);
  releaser.join();
  EXPECT_EQ(c->Query("SELECT 1", In(5s)).row(0).Int(0), 1);
  EXPECT_EQ(pool.open(), 2);
}

TEST_F(PostgresDriverTest, PoolReusesReleasedConnections) {
  Pool pool(url_, 2, 10s);
  std::int64_t first = 0;
  {
    Lease lease = pool.Acquire(In(5s));
    first = BackendPid(*lease);
  }
  EXPECT_EQ(pool.open(), 1);
  {
    Lease lease = pool.Acquire(In(5s));
    EXPECT_EQ(BackendPid(*lease), first);
  }
  EXPECT_EQ(pool.open(), 1);
  // Moving a lease keeps one owner.
  Lease moved = pool.Acquire(In(5s));
  Lease target = std::move(moved);
  EXPECT_EQ(BackendPid(*target), first);
  EXPECT_EQ(pool.open(), 1);
}

TEST_F(PostgresDriverTest, PoolClosesAConnectionReturnedInsideATransaction) {
  Pool pool(url_, 2, 10s);
  {
    Lease lease = pool.Acquire(In(5s));
    lease->ExecScript("BEGIN", In(5s));
  }
  EXPECT_EQ(pool.open(), 0);
  Lease lease = pool.Acquire(In(5s));
  EXPECT_FALSE(lease->InTransaction());
}

TEST_F(PostgresDriverTest, KilledBackendBreaksTheConnectionAndThePoolReplacesIt) {
  Pool pool(url_, 2, 10s);
  std::int64_t killed = 0;
  {
    Lease lease = pool.Acquire(In(5s));
    killed = BackendPid(*lease);
    Terminate(killed);
    const StorageError e = Thrown([&] { lease->Query("SELECT 1", In(5s)); });
    EXPECT_EQ(e.kind(), Kind::kUnavailable);
    EXPECT_TRUE(lease->broken());
  }
  EXPECT_EQ(pool.open(), 0);
  Lease fresh = pool.Acquire(In(5s));
  EXPECT_NE(BackendPid(*fresh), killed);
}

TEST_F(PostgresDriverTest, IdleConnectionClosedByTheServerIsNotLent) {
  Pool pool(url_, 2, 10s);
  std::int64_t killed = 0;
  {
    Lease lease = pool.Acquire(In(5s));
    killed = BackendPid(*lease);
  }
  Terminate(killed);
  // As after a server restart: the first request already gets a working connection.
  Lease lease = pool.Acquire(In(5s));
  EXPECT_NE(BackendPid(*lease), killed);
  EXPECT_EQ(pool.open(), 1);
}

TEST_F(PostgresDriverTest, ClosedPoolRefusesAndClosesReturnedConnections) {
  Pool pool(url_, 2, 10s);
  Lease lease = pool.Acquire(In(5s));
  { Lease idle = pool.Acquire(In(5s)); }
  EXPECT_EQ(pool.open(), 2);
  pool.Close();
  EXPECT_EQ(pool.open(), 1);
  EXPECT_EQ(Thrown([&] { (void)pool.Acquire(In(5s)); }).kind(), Kind::kUnavailable);
  { const Lease returned = std::move(lease); }
  EXPECT_EQ(pool.open(), 0);
}

}  // namespace
}  // namespace referrald::storage::postgres
