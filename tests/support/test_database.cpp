#include "support/test_database.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "app/app.hpp"
#include "util/random.hpp"
#include "util/uuid.hpp"

namespace referrald::testing {
namespace {

std::optional<std::string> Env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

class SqliteTestDatabase final : public TestDatabase {
 public:
  SqliteTestDatabase() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "referrald-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    path_ = dir_ + "/data/referrald.db";
  }
  ~SqliteTestDatabase() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  SqliteTestDatabase(const SqliteTestDatabase&) = delete;
  SqliteTestDatabase& operator=(const SqliteTestDatabase&) = delete;

  [[nodiscard]] std::string url() const override { return "sqlite:" + path_; }

  std::vector<SqlRow> Query(const std::string& sql) const override {
    sqlite3* db = OpenRaw();
    sqlite3_stmt* stmt = nullptr;
    std::vector<SqlRow> rows;
    int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      SqlRow row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const unsigned char* text = sqlite3_column_text(stmt, i);
        row.push_back(text == nullptr
                          ? std::nullopt
                          : std::optional<std::string>(reinterpret_cast<const char*>(text)));
      }
      rows.push_back(std::move(row));
      rc = SQLITE_OK;
    }
    const std::string error = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db);
    sqlite3_finalize(stmt);
    sqlite3_close_v2(db);
    if (!error.empty()) throw std::runtime_error("test query failed: " + error);
    return rows;
  }

  [[nodiscard]] bool TryExec(const std::string& sql) const override {
    sqlite3* db = OpenRaw();
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    sqlite3_close_v2(db);
    return rc == SQLITE_OK;
  }

  [[nodiscard]] std::unique_ptr<HeldLock> HoldWriteLock() const override {
    class Lock final : public HeldLock {
     public:
      explicit Lock(sqlite3* db) : db_(db) {
        if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
          sqlite3_close_v2(db_);
          throw std::runtime_error("cannot take the write lock");
        }
      }
      ~Lock() override {
        sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
        sqlite3_close_v2(db_);
      }
      Lock(const Lock&) = delete;
      Lock& operator=(const Lock&) = delete;

     private:
      sqlite3* db_;
    };
    return std::make_unique<Lock>(OpenRaw());
  }

 private:
  sqlite3* OpenRaw() const {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      sqlite3_close_v2(db);
      throw std::runtime_error("cannot open the test database");
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db, "PRAGMA foreign_keys = ON", nullptr, nullptr, nullptr);
    return db;
  }

  std::string dir_;
  std::string path_;
};

// A libpq connection for the test's own SQL.
class PgConn {
 public:
  explicit PgConn(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      const std::string message = PQerrorMessage(conn_);
      PQfinish(conn_);
      throw std::runtime_error("cannot connect to the test PostgreSQL server: " + message);
    }
  }
  ~PgConn() { PQfinish(conn_); }
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Rows of the last statement; nullopt when it failed.
  std::optional<std::vector<SqlRow>> Run(const std::string& sql, std::string* error = nullptr) {
    PGresult* res = PQexec(conn_, sql.c_str());
    const auto status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      if (error != nullptr) *error = PQresultErrorMessage(res);
      PQclear(res);
      return std::nullopt;
    }
    std::vector<SqlRow> rows;
    for (int r = 0; r < PQntuples(res); ++r) {
      SqlRow row;
      for (int c = 0; c < PQnfields(res); ++c) {
        row.push_back(PQgetisnull(res, r, c) != 0
                          ? std::nullopt
                          : std::optional<std::string>(PQgetvalue(res, r, c)));
      }
      rows.push_back(std::move(row));
    }
    PQclear(res);
    return rows;
  }

 private:
  PGconn* conn_;
};

// The server URL with its database name replaced by `database`.
std::string WithDatabase(const std::string& url, const std::string& database) {
  const auto scheme = url.find("://");
  const auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  std::string base = slash == std::string::npos ? url : url.substr(0, slash);
  std::string query;
  if (slash != std::string::npos) {
    const auto q = url.find('?', slash);
    if (q != std::string::npos) query = url.substr(q);
  }
  return base + "/" + database + query;
}

class PostgresTestDatabase final : public TestDatabase {
 public:
  explicit PostgresTestDatabase(std::string server_url) : server_url_(std::move(server_url)) {
    static SystemRandom random;
    std::string id = NewUuidV7(TimePoint{}, random);
    std::erase(id, '-');
    name_ = "referrald_test_" + id.substr(12);
    PgConn admin(server_url_);
    std::string error;
    if (!admin.Run("CREATE DATABASE " + name_, &error)) {
      throw std::runtime_error("cannot create the test database: " + error);
    }
    url_ = WithDatabase(server_url_, name_);
  }
  ~PostgresTestDatabase() override {
    try {
      PgConn admin(server_url_);
      admin.Run("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception&) {
      // The server is gone (a test stopped it): nothing to drop.
    }
  }
  PostgresTestDatabase(const PostgresTestDatabase&) = delete;
  PostgresTestDatabase& operator=(const PostgresTestDatabase&) = delete;

  [[nodiscard]] std::string url() const override { return url_; }

  std::vector<SqlRow> Query(const std::string& sql) const override {
    PgConn conn(url_);
    std::string error;
    auto rows = conn.Run(sql, &error);
    if (!rows) throw std::runtime_error("test query failed: " + error);
    return std::move(*rows);
  }

  [[nodiscard]] bool TryExec(const std::string& sql) const override {
    PgConn conn(url_);
    return conn.Run(sql).has_value();
  }

  [[nodiscard]] std::unique_ptr<HeldLock> HoldWriteLock() const override {
    class Lock final : public HeldLock {
     public:
      explicit Lock(const std::string& url) : conn_(url) {
        if (!conn_.Run("BEGIN; LOCK TABLE users IN EXCLUSIVE MODE")) {
          throw std::runtime_error("cannot lock users");
        }
      }
      ~Lock() override { conn_.Run("COMMIT"); }
      Lock(const Lock&) = delete;
      Lock& operator=(const Lock&) = delete;

     private:
      PgConn conn_;
    };
    return std::make_unique<Lock>(url_);
  }

 private:
  std::string server_url_;
  std::string name_;
  std::string url_;
};

}  // namespace

Backend CurrentBackend() {
  const auto name = Env("REFERRALD_TEST_BACKEND");
  return name == std::optional<std::string>("postgres") ? Backend::kPostgres : Backend::kSqlite;
}

const char* BackendName(Backend backend) {
  return backend == Backend::kPostgres ? "postgres" : "sqlite";
}

BackendAvailability CheckBackend() {
  if (CurrentBackend() == Backend::kSqlite || Env("REFERRALD_TEST_POSTGRES_URL")) {
    return BackendAvailability::kAvailable;
  }
  if (Env("REFERRALD_REQUIRE_POSTGRES") == std::optional<std::string>("1")) {
    return BackendAvailability::kRequiredButMissing;
  }
  return BackendAvailability::kMissing;
}

std::unique_ptr<TestDatabase> TestDatabase::Create() {
  if (CurrentBackend() == Backend::kPostgres) {
    const auto url = Env("REFERRALD_TEST_POSTGRES_URL");
    if (!url) throw std::runtime_error("REFERRALD_TEST_POSTGRES_URL is not set");
    return std::make_unique<PostgresTestDatabase>(*url);
  }
  return std::make_unique<SqliteTestDatabase>();
}

app::Config TestDatabase::Configure(app::Config config) const {
  config.database_url = url();
  return config;
}

std::unique_ptr<domain::Store> TestDatabase::Open(int pool_size, int timeout_ms) const {
  app::Config config = Configure(app::Config{});
  config.db_pool_size = pool_size;
  config.database_timeout_ms = timeout_ms;
  auto store = app::OpenStore(config);
  if (!store) throw std::runtime_error("cannot open the test store: " + store.error().message);
  return std::move(*store);
}

std::string TestDatabase::Scalar(const std::string& sql) const {
  const auto rows = Query(sql);
  if (rows.empty() || rows[0].empty() || !rows[0][0]) return "";
  return *rows[0][0];
}

}  // namespace referrald::testing
