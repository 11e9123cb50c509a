// What only the PostgreSQL store does: the seed's schema with its exact types and index names,
// migrations that instances starting together apply once, and timestamps stored in UTC whatever
// the server's TimeZone. Runs in the postgres pass (suite names Postgres*).

#include "storage/postgres/postgres_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <map>
#include <thread>
#include <vector>

#include "app/app.hpp"
#include "domain/store.hpp"
#include "storage/migrations.hpp"
#include "support/test_database.hpp"
#include "util/time_format.hpp"

namespace referrald::storage {
namespace {

using testing::TestDatabase;

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = TestDatabase::Create(); }

  // column → "data_type(length)" of `table`, from information_schema.
  std::map<std::string, std::string> Columns(const std::string& table) {
    std::map<std::string, std::string> out;
    for (const auto& row :
         db_->Query("SELECT column_name, data_type, character_maximum_length FROM "
                    "information_schema.columns WHERE table_schema = 'public' AND table_name = '" +
                    table + "'")) {
      out[*row[0]] = *row[1] + (row[2] ? "(" + *row[2] + ")" : "");
    }
    return out;
  }

  std::unique_ptr<TestDatabase> db_;
};

TEST_F(PostgresStoreTest, SchemaHasTheSeedsTablesTypesAndIndexes) {
  db_->Open();
  const std::string uuid = "uuid";
  const std::string ts = "timestamp without time zone";
  EXPECT_EQ(Columns("referral_codes"),
            (std::map<std::string, std::string>{{"id", uuid},
                                                {"user_id", uuid},
                                                {"code", "character varying(50)"},
                                                {"is_active", "boolean"},
                                                {"created_at", ts},
                                                {"expires_at", ts}}));
  EXPECT_EQ(Columns("referrals"),
            (std::map<std::string, std::string>{{"id", uuid},
                                                {"referrer_user_id", uuid},
                                                {"referred_user_id", uuid},
                                                {"referral_code_id", uuid},
                                                {"status", "character varying(50)"},
                                                {"created_at", ts},
                                                {"converted_at", ts}}));
  const auto rewards = Columns("user_rewards");
  for (const auto& [column, type] :
       std::map<std::string, std::string>{{"id", uuid},
                                          {"user_id", uuid},
                                          {"reward_type", "character varying(50)"},
                                          {"reward_value", "jsonb"},
                                          {"is_claimed", "boolean"},
                                          {"created_at", ts},
                                          {"claimed_at", ts},
                                          {"expires_at", ts}}) {
    EXPECT_EQ(rewards.count(column) ? rewards.at(column) : "missing", type) << column;
  }
  EXPECT_EQ(Columns("automation_logs"),
            (std::map<std::string, std::string>{{"id", uuid},
                                                {"service", "character varying(100)"},
                                                {"action", "character varying(100)"},
                                                {"status", "character varying(50)"},
                                                {"user_id", uuid},
                                                {"details", "jsonb"},
                                                {"error_message", "text"},
                                                {"created_at", ts}}));
  const auto users = Columns("users");
  for (const char* column : {"id", "email", "created_at", "premium_until"}) {
    EXPECT_TRUE(users.count(column)) << column;
  }
  const auto subscriptions = Columns("subscriptions");
  for (const char* column :
       {"id", "user_id", "tier", "status", "provider", "provider_ref", "created_at"}) {
    EXPECT_TRUE(subscriptions.count(column)) << column;
  }
  for (const char* index :
       {"idx_referral_codes_code", "idx_referral_codes_user_id", "idx_referrals_referrer_user_id",
        "idx_referrals_referred_user_id", "idx_referrals_status", "idx_user_rewards_user_id",
        "idx_user_rewards_is_claimed", "idx_automation_logs_service",
        "idx_automation_logs_created_at"}) {
    EXPECT_EQ(db_->Scalar(std::string("SELECT count(*) FROM pg_indexes WHERE indexname = '") +
                          index + "'"),
              "1")
        << index;
  }
  EXPECT_EQ(db_->Scalar("SELECT indexdef LIKE 'CREATE UNIQUE INDEX%' FROM pg_indexes "
                        "WHERE indexname = 'idx_referral_codes_code'"),
            "t");
  // The seed's deployment check finds its four tables.
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = "
                        "'public' AND table_name IN ('referral_codes', 'referrals', "
                        "'user_rewards', 'automation_logs')"),
            "4");
}

TEST_F(PostgresStoreTest, MigrationsApplyByVersionWhateverTheGaps) {
  // Two branches number their migrations apart (0005 ships before 0004): a database migrated
  // with a gap gets the missing version when it arrives, and nothing is applied twice (each
  // CREATE TABLE would fail a second time).
  const auto compiled = PostgresMigrations();
  std::vector<Migration> with_gap(compiled.begin(), compiled.end());
  with_gap.push_back({9001, "9001_first", "CREATE TABLE gap_first (x INTEGER)"});
  with_gap.push_back({9003, "9003_third", "CREATE TABLE gap_third (x INTEGER)"});
  PostgresOptions options;
  options.url = db_->url();
  options.pool_size = 1;
  options.migrations = with_gap;
  ASSERT_TRUE(PostgresStore::Open(options).has_value());
  const std::string applied =
      "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations "
      "WHERE version > 9000";
  EXPECT_EQ(db_->Scalar(applied), "9001,9003");
  std::vector<Migration> filled = with_gap;
  filled.push_back({9002, "9002_second", "CREATE TABLE gap_second (x INTEGER)"});
  options.migrations = filled;
  ASSERT_TRUE(PostgresStore::Open(options).has_value());
  EXPECT_EQ(db_->Scalar(applied), "9001,9002,9003");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'gap\\_%'"), "3");
}

TEST_F(PostgresStoreTest, InstancesStartingTogetherMigrateOnce) {
  // A fresh database: every opener races to create the schema.
  std::atomic<int> opened{0};
  std::latch start(6);
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      app::Config config = db_->Configure(app::Config{});
      if (app::OpenStore(config)) ++opened;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(opened.load(), 6);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM schema_migrations"),
            std::to_string(PostgresMigrations().size()));
}

TEST_F(PostgresStoreTest, TimestampsAreStoredInUtcWhateverTheServersTimeZone) {
  // Every new session of this database defaults to a zone far from UTC.
  const std::string name = db_->Scalar("SELECT current_database()");
  ASSERT_TRUE(db_->TryExec("ALTER DATABASE " + name + " SET TimeZone = 'Asia/Kathmandu'"));
  auto store = db_->Open();
  const TimePoint at = *ParseIso8601("2025-06-15T23:30:00.250Z");
  const std::string user = "00000000-0000-4000-8000-0000000000e1";
  ASSERT_TRUE(domain::Transact(*store, [&](domain::WriteTx& tx) {
    return tx.UpsertUser({user, std::string("tz@example.com")}, at);
  }));
  EXPECT_EQ(db_->Scalar("SELECT created_at::text FROM users WHERE id = '" + user + "'"),
            "2025-06-15 23:30:00.25");
  EXPECT_EQ((*store->FindUser(user))->created_at, at);
}

// The feed is ordered by the writing transaction's id as a number (9 before 10), then by seq,
// and its cursor carries the id: a page after (9, 2) starts at (10, 1).
TEST_F(PostgresStoreTest, EventsAreOrderedByTransactionIdAsANumberThenSeq) {
  auto store = db_->Open();
  const std::string data = R"({"rewardId":"r","userId":"u","badge":"b"})";
  const auto row = [&](const char* tx, int seq, const char* id) {
    return std::string("('") + tx + "', " + std::to_string(seq) + ", '" + id +
           "', 'badge.awarded', '2025-06-15 12:00:00', '" + data + "')";
  };
  ASSERT_TRUE(db_->TryExec("INSERT INTO events (tx_id, seq, id, type, occurred_at, data) VALUES " +
                           row("10", 1, "00000000-0000-4000-8000-000000000003") + ", " +
                           row("9", 2, "00000000-0000-4000-8000-000000000002") + ", " +
                           row("9", 1, "00000000-0000-4000-8000-000000000001") + ", " +
                           row("100", 0, "00000000-0000-4000-8000-000000000004")));
  const auto page = store->ListEvents({}, std::nullopt, 10);
  ASSERT_TRUE(page.has_value());
  std::vector<std::string> ids;
  for (const auto& e : page->events) ids.push_back(e.id.substr(34));
  EXPECT_EQ(ids, (std::vector<std::string>{"01", "02", "03", "04"}));
  EXPECT_EQ(page->next, (domain::EventPosition{100, 0}));
  const auto after = store->ListEvents({9, 2}, std::nullopt, 1);
  ASSERT_TRUE(after.has_value());
  ASSERT_EQ(after->events.size(), 1U);
  EXPECT_EQ(after->events[0].id.substr(34), "03");
  EXPECT_EQ(after->next, (domain::EventPosition{10, 1}));
}

}  // namespace
}  // namespace referrald::storage
