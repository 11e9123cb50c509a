// What only the SQLite store does: files and directories, migrations between processes, WAL,
// ":memory:" databases, open failures, and the seed's index names in SQLite's schema.

#include "storage/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <stdexcept>
#include <thread>

#include "storage/migrations.hpp"
#include "util/random.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::storage {
namespace {

using domain::WriteTx;

const TimePoint kNow = *ParseIso8601("2025-06-15T12:00:00.000Z");

class TempDir {
 public:
  TempDir() {
    std::string templ =
        (std::filesystem::temp_directory_path() / "referrald-sqlite-XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string Scalar(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(db);
  return out;
}

void RunConcurrently(int threads, const std::function<void(int)>& body) {
  std::latch start(threads);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&start, &body, i] {
      start.arrive_and_wait();
      body(i);
    });
  }
  for (auto& t : pool) t.join();
}

Status Upsert(domain::Store& store, const std::string& id, std::optional<std::string> email) {
  return domain::Transact(store, [&](WriteTx& tx) { return tx.UpsertUser({id, email}, kNow); });
}

TEST(SqliteStoreTest, OpenCreatesDirectoryAndMigratesOnce) {
  SystemRandom random;
  TempDir dir;
  const std::string path = (dir.path() / "a" / "b" / "referrald.db").string();
  const std::string user = NewUuidV7(kNow, random);
  {
    auto store = SqliteStore::Open(path);
    ASSERT_TRUE(store.has_value()) << store.error().machine();
    ASSERT_TRUE(Upsert(**store, user, "x@example.com"));
    ASSERT_TRUE((*store)->Migrate());  // again: nothing to do
  }
  {
    auto store = SqliteStore::Open(path);  // reopening re-applies nothing
    ASSERT_TRUE(store.has_value()) << store.error().machine();
    EXPECT_EQ((*(*store)->FindUser(user))->email, "x@example.com");
  }
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM schema_migrations"),
            std::to_string(SqliteMigrations().size()));
  EXPECT_EQ(Scalar(path, "SELECT name FROM schema_migrations WHERE version = 1"), "0001_init");
  EXPECT_EQ(Scalar(path, "SELECT length(applied_at) FROM schema_migrations WHERE version = 1"),
            "24");
  EXPECT_EQ(Scalar(path, "PRAGMA journal_mode"), "wal");
  for (const char* index :
       {"idx_referral_codes_code", "idx_referral_codes_user_id", "idx_referrals_referrer_user_id",
        "idx_referrals_referred_user_id", "idx_referrals_status", "idx_user_rewards_user_id",
        "idx_user_rewards_is_claimed", "idx_automation_logs_service",
        "idx_automation_logs_created_at"}) {
    EXPECT_EQ(Scalar(path, std::string("SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                       "AND name = '") +
                               index + "'"),
              "1")
        << index;
  }
}

TEST(SqliteStoreTest, MigrationsApplyByVersionWhateverTheGaps) {
  // Two branches number their migrations apart (0006 ships before 0005): a database migrated
  // with a gap gets the missing version when it arrives, and nothing is applied twice (each
  // CREATE TABLE would fail a second time).
  TempDir dir;
  const std::string path = (dir.path() / "referrald.db").string();
  const auto compiled = SqliteMigrations();
  std::vector<Migration> with_gap(compiled.begin(), compiled.end());
  with_gap.push_back({9001, "9001_first", "CREATE TABLE gap_first (x INTEGER)"});
  with_gap.push_back({9003, "9003_third", "CREATE TABLE gap_third (x INTEGER)"});
  SqliteOptions options;
  options.migrations = with_gap;
  {
    auto store = SqliteStore::Open(path, options);
    ASSERT_TRUE(store.has_value()) << store.error().message;
  }
  EXPECT_EQ(Scalar(path,
                   "SELECT group_concat(version) FROM (SELECT version FROM "
                   "schema_migrations WHERE version > 9000 ORDER BY version)"),
            "9001,9003");
  std::vector<Migration> filled = with_gap;
  filled.push_back({9002, "9002_second", "CREATE TABLE gap_second (x INTEGER)"});
  options.migrations = filled;
  {
    auto store = SqliteStore::Open(path, options);
    ASSERT_TRUE(store.has_value()) << store.error().message;
  }
  EXPECT_EQ(Scalar(path,
                   "SELECT group_concat(version) FROM (SELECT version FROM "
                   "schema_migrations WHERE version > 9000 ORDER BY version)"),
            "9001,9002,9003");
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'gap_%'"), "3");
}

TEST(SqliteStoreTest, ConcurrentOpensMigrateOnce) {
  TempDir dir;
  const std::string path = (dir.path() / "referrald.db").string();
  // A fresh file: every opener races to create the schema and to switch it to WAL.
  std::atomic<int> opened{0};
  RunConcurrently(6, [&](int) {
    if (SqliteStore::Open(path)) ++opened;
  });
  EXPECT_EQ(opened.load(), 6);
  EXPECT_EQ(Scalar(path, "SELECT count(*) FROM schema_migrations"),
            std::to_string(SqliteMigrations().size()));
}

TEST(SqliteStoreTest, InMemoryDatabaseWorks) {
  SystemRandom random;
  auto opened = SqliteStore::Open(":memory:");
  ASSERT_TRUE(opened.has_value()) << opened.error().machine();
  SqliteStore& store = **opened;
  EXPECT_TRUE(store.Ping().has_value());
  const std::string user = NewUuidV7(kNow, random);
  ASSERT_TRUE(Upsert(store, user, "r@example.com"));

  // Reads and writes from many threads share the one connection safely.
  std::atomic<int> failures{0};
  RunConcurrently(8, [&](int i) {
    for (int k = 0; k < 20; ++k) {
      const std::string id = NewUuidV7(kNow, random);
      if (!Upsert(store, id, "t" + std::to_string(i) + "@example.com")) ++failures;
      auto found = store.FindUser(id);
      if (!found || !found->has_value()) ++failures;
      if (!store.Leaderboard(std::nullopt, kNow, 10)) ++failures;
    }
  });
  EXPECT_EQ(failures.load(), 0);

  // Each ":memory:" store is its own database.
  auto other = SqliteStore::Open(":memory:");
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(*(*other)->FindUser(user), std::nullopt);
}

TEST(SqliteStoreTest, OpenFailuresAreStorageErrors) {
  TempDir dir;
  // A parent that is a file cannot become a directory.
  const auto blocker = dir.path() / "file";
  std::ofstream(blocker) << "x";
  auto no_dir = SqliteStore::Open((blocker / "referrald.db").string());
  ASSERT_FALSE(no_dir.has_value());
  EXPECT_EQ(no_dir.error().machine(), "DATABASE_UNAVAILABLE");

  // Not a database.
  const auto garbage = dir.path() / "garbage.db";
  std::ofstream(garbage) << std::string(8192, 'g');
  auto not_db = SqliteStore::Open(garbage.string());
  ASSERT_FALSE(not_db.has_value());
  EXPECT_EQ(not_db.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(not_db.error().message.find("SELECT"), std::string::npos);
  EXPECT_EQ(not_db.error().message.find("sqlite"), std::string::npos);
}

TEST(SqliteStoreTest, AWriterHeldElsewhereTimesOutAsUnavailable) {
  TempDir dir;
  const std::string path = (dir.path() / "referrald.db").string();
  SqliteOptions options;
  options.timeout = std::chrono::milliseconds(200);
  auto opened = SqliteStore::Open(path, options);
  ASSERT_TRUE(opened.has_value());
  // Another process holds the write lock.
  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &blocker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const auto refused = Upsert(**opened, "00000000-0000-4000-8000-000000000001", std::nullopt);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().machine(), "DATABASE_UNAVAILABLE");
  ASSERT_EQ(sqlite3_exec(blocker, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(blocker);
  EXPECT_TRUE(Upsert(**opened, "00000000-0000-4000-8000-000000000001", std::nullopt));
}

}  // namespace
}  // namespace referrald::storage
