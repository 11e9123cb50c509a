#pragma once
// The database a test runs against: REFERRALD_TEST_BACKEND picks the backend (sqlite, the
// default, or postgres), so that the same test runs on both (CTest registers every database test
// once per backend). A TestDatabase is a fresh, empty database of its own — a temporary SQLite
// file, or a PostgreSQL database created on the server REFERRALD_TEST_POSTGRES_URL names and
// dropped afterwards.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "domain/store.hpp"

namespace referrald::testing {

enum class Backend { kSqlite, kPostgres };

// The backend of this test process.
Backend CurrentBackend();
const char* BackendName(Backend backend);
enum class BackendAvailability { kAvailable, kMissing, kRequiredButMissing };
// Whether the current backend can run here: PostgreSQL needs REFERRALD_TEST_POSTGRES_URL, and
// REFERRALD_REQUIRE_POSTGRES=1 makes its absence an error (see db_test_main.cpp).
BackendAvailability CheckBackend();

using SqlRow = std::vector<std::optional<std::string>>;

// A lock held by a connection of the test's own until destroyed.
class HeldLock {
 public:
  virtual ~HeldLock() = default;
};

class TestDatabase {
 public:
  // A fresh database of the current backend. Never null: failures throw.
  static std::unique_ptr<TestDatabase> Create();
  virtual ~TestDatabase() = default;

  // The DATABASE_URL of this database.
  [[nodiscard]] virtual std::string url() const = 0;
  // A new store handle on it (migrating it first), as another process would have.
  std::unique_ptr<domain::Store> Open(int pool_size = 8, int timeout_ms = 5000) const;
  // A Config pointing at this database (with test-friendly defaults: loopback, port 0).
  [[nodiscard]] app::Config Configure(app::Config config) const;
  // Runs SQL directly and returns its rows as text (NULL as nullopt): for tests that check what
  // was stored. Throws on an error.
  virtual std::vector<SqlRow> Query(const std::string& sql) const = 0;
  // The first column of the first row ("" when none or NULL).
  [[nodiscard]] std::string Scalar(const std::string& sql) const;
  // Runs SQL and returns whether it succeeded (tests that expect a constraint to refuse a row).
  [[nodiscard]] virtual bool TryExec(const std::string& sql) const = 0;
  // Makes every write of the service wait (SQLite: the database's write lock; PostgreSQL: an
  // exclusive lock on users, which every write use case upserts first) until destroyed.
  [[nodiscard]] virtual std::unique_ptr<HeldLock> HoldWriteLock() const = 0;
};

}  // namespace referrald::testing
