// A `referrald serve` process killed with SIGKILL in the middle of a write load, then started again
// on the same database: every write it acknowledged is there, and no write is there by halves — a
// subscription and the conversion it causes, a conversion and its reward, the audit rows and the
// aggregates kept in the same transactions. A request whose answer never arrived may or may not
// have committed; only its all-or-nothing shape is checked.

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "support/serve_process.hpp"
#include "support/server_fixture.hpp"
#include "support/test_database.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/uuid.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kClients = 8;
constexpr int kReferrers = 5;
// The kill lands once this many writes were acknowledged, while every client is still sending.
constexpr int kKillAfterAcknowledged = 2000;

struct User {
  std::string id;
  std::string token;
};

struct Referrer {
  User user;
  std::string code;
};

// What the clients were told: 201 with these ids.
struct AckedReferral {
  std::string id;
  std::string referrer_id;
  std::string referred_id;
};
struct AckedSubscription {
  std::string id;
  User user;
  bool referred = false;  // the user's referral was acknowledged before the subscription
};

// One client thread's record of the load.
struct ClientLog {
  std::vector<AckedReferral> referrals;
  std::vector<AckedSubscription> subscriptions;
  std::map<int, int> refusals;  // answers other than 201, by status
  int transport_errors_before_kill = 0;
  bool ended_by_kill = false;
};

User NewUser(bool admin = false) {
  static SystemRandom random;
  User user;
  user.id = NewUuidV7(SystemClock().Now(), random);
  user.token = RealTimeToken(user.id, "u" + user.id.substr(28) + "@example.com", admin);
  return user;
}

int ToInt(const std::string& text) { return text.empty() ? 0 : std::stoi(text); }

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "referrald-crash-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    db_ = TestDatabase::Create();
  }
  void TearDown() override {
    db_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::unique_ptr<ServeProcess> StartServer() {
    auto server = std::make_unique<ServeProcess>(db_->url(),
                                                 ProcessEnv{{"ENABLE_AUTOMATION_WORKER", "false"}});
    if (server->port() != 0) WarmUpHttpClient(server->port());
    return server;
  }

  // On PostgreSQL the killed process's sessions end when their backends notice the closed socket,
  // and one that had already received a COMMIT still commits it: wait for them all to be gone, so
  // that the checks below see the database as it stays.
  void WaitForKilledSessions() {
    if (CurrentBackend() != Backend::kPostgres) return;
    const auto deadline = std::chrono::steady_clock::now() + seconds(30);
    while (db_->Scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid()") != "0") {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "sessions of the killed server";
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  // `referrald verify-aggregates` on the test's database, as an operator would run it.
  ProcessResult VerifyAggregates() {
    return RunProcess({REFERRALD_BINARY, "verify-aggregates"},
                      {{"PATH", "/usr/bin:/bin"},
                       {"JWT_SECRET", kServeJwtSecret},
                       {"DATABASE_URL", db_->url()},
                       {"LOG_LEVEL", "warn"}},
                      dir_);
  }

  // One client: tracks fresh users with a random referrer's code, subscribes users it tracked
  // earlier (converting their referral) and fresh users without a referral, until the server is
  // gone.
  void RunClient(int index, std::uint16_t port, const std::vector<Referrer>& referrers,
                 ClientLog& log) {
    std::mt19937 rng(static_cast<std::mt19937::result_type>(20240 + index));
    std::deque<User> tracked;  // acknowledged referrals not subscribed yet
    const std::string subscribe_body = json{{"tier", "premium"}, {"nonce", "ok"}}.dump();
    while (true) {
      const auto dice = rng() % 10;
      if (dice < 4 && !tracked.empty()) {
        const User user = tracked.front();
        tracked.pop_front();
        const HttpReply reply =
            SendRequest(port, "POST", "/api/subscriptions/create", subscribe_body, user.token);
        if (!Record(reply, log)) return;
        if (reply.status == 201) {
          log.subscriptions.push_back({reply.Json().value("subscriptionId", ""), user, true});
        }
      } else if (dice < 5) {
        const User user = NewUser();
        const HttpReply reply =
            SendRequest(port, "POST", "/api/subscriptions/create", subscribe_body, user.token);
        if (!Record(reply, log)) return;
        if (reply.status == 201) {
          log.subscriptions.push_back({reply.Json().value("subscriptionId", ""), user, false});
        }
      } else {
        const User user = NewUser();
        const Referrer& referrer = referrers[rng() % referrers.size()];
        const HttpReply reply =
            SendRequest(port, "POST", "/api/referral/track",
                        json{{"referralCode", referrer.code}}.dump(), user.token);
        if (!Record(reply, log)) return;
        if (reply.status == 201) {
          log.referrals.push_back({reply.Json().value("referralId", ""),
                                   reply.Json().value("referrerUserId", ""), user.id});
          tracked.push_back(user);
        }
      }
    }
  }

  // Counts an answer; false when the client must stop (the server is gone).
  bool Record(const HttpReply& reply, ClientLog& log) {
    if (reply.status == 0) {
      if (killing_.load()) {
        log.ended_by_kill = true;
      } else {
        ++log.transport_errors_before_kill;  // the server died on its own
      }
      return false;
    }
    if (reply.status == 201) {
      acknowledged_.fetch_add(1);
    } else {
      ++log.refusals[reply.status];
    }
    return true;
  }

  std::string dir_;
  std::unique_ptr<TestDatabase> db_;
  std::atomic<int> acknowledged_{0};
  std::atomic<bool> killing_{false};
};

TEST_F(CrashTest, AcknowledgedWritesSurviveSigkillAndNoneIsHalfWritten) {
  auto server = StartServer();
  ASSERT_NE(server->port(), 0);

  // The referrers and their codes.
  std::vector<Referrer> referrers;
  for (int i = 0; i < kReferrers; ++i) {
    Referrer referrer{NewUser(), ""};
    const auto reply = SendRequest(server->port(), "POST", "/api/referral/generate-code", "{}",
                                   referrer.user.token);
    ASSERT_EQ(reply.status, 201) << reply.body;
    referrer.code = reply.Json().value("code", "");
    referrers.push_back(std::move(referrer));
  }

  // The load, killed from here once enough writes were acknowledged (every client still sends).
  std::vector<ClientLog> logs(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(
        [&, i] { RunClient(i, server->port(), referrers, logs[static_cast<std::size_t>(i)]); });
  }
  const auto load_start = std::chrono::steady_clock::now();
  const auto deadline = load_start + seconds(120);
  while (acknowledged_.load() < kKillAfterAcknowledged && server->Running() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  killing_.store(true);
  const auto load_time = std::chrono::steady_clock::now() - load_start;
  RecordProperty("load_ms", static_cast<int>(duration_cast<milliseconds>(load_time).count()));
  const bool alive_until_kill = server->Running();
  EXPECT_EQ(server->Stop(SIGKILL), -1);
  for (auto& client : clients) client.join();
  ASSERT_TRUE(alive_until_kill) << "the server died before the kill:\n" << server->Output();
  ASSERT_GE(acknowledged_.load(), kKillAfterAcknowledged) << "the load never reached the kill";
  ASSERT_NO_FATAL_FAILURE(WaitForKilledSessions());

  std::vector<AckedReferral> acked_referrals;
  std::vector<AckedSubscription> acked_subscriptions;
  std::map<int, int> refusals;
  for (const auto& log : logs) {
    EXPECT_EQ(log.transport_errors_before_kill, 0);
    EXPECT_TRUE(log.ended_by_kill);
    acked_referrals.insert(acked_referrals.end(), log.referrals.begin(), log.referrals.end());
    acked_subscriptions.insert(acked_subscriptions.end(), log.subscriptions.begin(),
                               log.subscriptions.end());
    for (const auto& [status, count] : log.refusals) refusals[status] += count;
  }
  // Fresh users and valid codes: nothing is refused.
  EXPECT_EQ(refusals, (std::map<int, int>{})) << "answers other than 201, by status";
  int acked_conversions = 0;
  for (const auto& s : acked_subscriptions) acked_conversions += s.referred ? 1 : 0;
  ASSERT_GT(acked_conversions, 0);
  ASSERT_LT(acked_conversions, static_cast<int>(acked_subscriptions.size()));

  // The aggregates kept in the write transactions match the base tables, as the crash left them.
  auto verified = VerifyAggregates();
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;

  // Every acknowledged write is there, as acknowledged.
  std::map<std::string, SqlRow> referrals_by_id;
  std::map<std::string, SqlRow> referral_of_user;
  for (const auto& row :
       db_->Query("SELECT id, referrer_user_id, referred_user_id, status FROM referrals")) {
    referrals_by_id[row[0].value_or("")] = row;
    referral_of_user[row[2].value_or("")] = row;
  }
  for (const auto& acked : acked_referrals) {
    const auto found = referrals_by_id.find(acked.id);
    if (found == referrals_by_id.end()) {
      ADD_FAILURE() << "acknowledged referral " << acked.id << " is lost";
      continue;
    }
    EXPECT_EQ(found->second[1], acked.referrer_id);
    EXPECT_EQ(found->second[2], acked.referred_id);
  }
  std::map<std::string, SqlRow> subscriptions_by_id;
  for (const auto& row : db_->Query("SELECT id, user_id, status FROM subscriptions")) {
    subscriptions_by_id[row[0].value_or("")] = row;
  }
  for (const auto& acked : acked_subscriptions) {
    const auto found = subscriptions_by_id.find(acked.id);
    if (found == subscriptions_by_id.end()) {
      ADD_FAILURE() << "acknowledged subscription " << acked.id << " is lost";
      continue;
    }
    EXPECT_EQ(found->second[1], acked.user.id);
    EXPECT_EQ(found->second[2], "active");
    // Its conversion committed with it.
    const auto referral = referral_of_user.find(acked.user.id);
    if (acked.referred) {
      if (referral == referral_of_user.end()) {
        ADD_FAILURE() << "the referral of subscribed user " << acked.user.id << " is lost";
        continue;
      }
      EXPECT_EQ(referral->second[3], "converted") << acked.user.id;
    } else {
      EXPECT_TRUE(referral == referral_of_user.end()) << acked.user.id << " has a referral";
    }
  }

  // Nothing is there by halves, acknowledged or not. Every subscribed user with a referral
  // subscribed after being tracked (nothing converts by hand here), so a referral is converted
  // exactly when its referred user has a subscription.
  const std::map<std::string, std::string> must_be_empty{
      {"converted referral without a subscription",
       "SELECT count(*) FROM referrals r WHERE r.status = 'converted' AND NOT EXISTS "
       "(SELECT 1 FROM subscriptions s WHERE s.user_id = r.referred_user_id)"},
      {"subscription whose referral stayed unconverted",
       "SELECT count(*) FROM referrals r WHERE r.status <> 'converted' AND EXISTS "
       "(SELECT 1 FROM subscriptions s WHERE s.user_id = r.referred_user_id)"},
      {"converted referral without its one reward",
       "SELECT count(*) FROM referrals r WHERE r.status = 'converted' AND (SELECT count(*) FROM "
       "user_rewards u WHERE u.source_referral_id = r.id) <> 1"},
      {"converted referral without converted_at",
       "SELECT count(*) FROM referrals WHERE status = 'converted' AND converted_at IS NULL"},
      {"reward without a converted referral",
       "SELECT count(*) FROM user_rewards u WHERE u.source_referral_id IS NULL OR NOT EXISTS "
       "(SELECT 1 FROM referrals r WHERE r.id = u.source_referral_id AND r.status = 'converted')"},
      {"reward not given to the referrer",
       "SELECT count(*) FROM user_rewards u JOIN referrals r ON r.id = u.source_referral_id "
       "WHERE u.user_id <> r.referrer_user_id"},
      {"user referred twice",
       "SELECT count(*) FROM (SELECT referred_user_id FROM referrals GROUP BY referred_user_id "
       "HAVING count(*) > 1) t"},
      {"user subscribed twice",
       "SELECT count(*) FROM (SELECT user_id FROM subscriptions GROUP BY user_id "
       "HAVING count(*) > 1) t"},
  };
  for (const auto& [what, sql] : must_be_empty) EXPECT_EQ(db_->Scalar(sql), "0") << what;

  // The audit rows are written in the same transactions as what they describe.
  const std::string referral_count = db_->Scalar("SELECT count(*) FROM referrals");
  const std::string converted_count =
      db_->Scalar("SELECT count(*) FROM referrals WHERE status = 'converted'");
  const std::string subscription_count = db_->Scalar("SELECT count(*) FROM subscriptions");
  auto audited = [&](const std::string& action) {
    return db_->Scalar("SELECT count(*) FROM automation_logs WHERE action = '" + action +
                       "' AND status = 'success'");
  };
  EXPECT_EQ(audited("referral_tracked"), referral_count);
  EXPECT_EQ(audited("referral_converted"), converted_count);
  EXPECT_EQ(audited("reward_granted"), converted_count);
  EXPECT_EQ(audited("subscription_created"), subscription_count);
  RecordProperty("acknowledged_referrals", static_cast<int>(acked_referrals.size()));
  RecordProperty("acknowledged_subscriptions", static_cast<int>(acked_subscriptions.size()));
  RecordProperty("committed_unacknowledged",
                 ToInt(referral_count) + ToInt(subscription_count) -
                     static_cast<int>(acked_referrals.size() + acked_subscriptions.size()));

  // A new process on the same database serves what the crash left, and takes new writes.
  auto restarted = StartServer();
  ASSERT_NE(restarted->port(), 0);
  const std::uint16_t port = restarted->port();
  const auto health = SendRequest(port, "GET", "/health", "", "");
  EXPECT_EQ(health.status, 200) << health.body;

  for (const auto& referrer : referrers) {
    const std::string where = " WHERE referrer_user_id = '" + referrer.user.id + "'";
    const int total = ToInt(db_->Scalar("SELECT count(*) FROM referrals" + where));
    const int converted =
        ToInt(db_->Scalar("SELECT count(*) FROM referrals" + where + " AND status = 'converted'"));
    const auto stats = SendRequest(port, "GET", "/api/referral/stats", "", referrer.user.token);
    ASSERT_EQ(stats.status, 200) << stats.body;
    EXPECT_EQ(stats.Json()["totalReferrals"], total) << stats.body;
    EXPECT_EQ(stats.Json()["convertedReferrals"], converted) << stats.body;
    EXPECT_EQ(stats.Json()["pendingReferrals"], total - converted) << stats.body;
    EXPECT_EQ(stats.Json()["totalRewardsEarned"], converted) << stats.body;
    // One page holds them all (rewards are paged: at most 500 a page).
    const auto rewards =
        SendRequest(port, "GET", "/api/referral/rewards?limit=500", "", referrer.user.token);
    ASSERT_EQ(rewards.status, 200) << rewards.body;
    ASSERT_LT(converted, 500);
    EXPECT_TRUE(rewards.Header("Link").empty());
    EXPECT_EQ(rewards.Json().size(), static_cast<std::size_t>(converted));
  }
  const User admin = NewUser(/*admin=*/true);
  const auto analytics =
      SendRequest(port, "GET", "/api/referral/analytics?period=all", "", admin.token);
  ASSERT_EQ(analytics.status, 200) << analytics.body;
  EXPECT_EQ(analytics.Json()["totalReferrals"], ToInt(referral_count)) << analytics.body;
  EXPECT_EQ(analytics.Json()["convertedReferrals"], ToInt(converted_count)) << analytics.body;
  EXPECT_EQ(analytics.Json()["totalRewardsAwarded"], ToInt(converted_count)) << analytics.body;
  for (const auto& acked : acked_subscriptions) {
    const auto me = SendRequest(port, "GET", "/api/subscriptions/me", "", acked.user.token);
    ASSERT_EQ(me.status, 200) << me.body;
    EXPECT_EQ(me.Json()["tier"], "premium") << acked.user.id;
    EXPECT_EQ(me.Json()["status"], "active") << acked.user.id;
  }

  // New writes: a referral and the subscription that converts it.
  const Referrer& referrer = referrers.front();
  const auto before =
      SendRequest(port, "GET", "/api/referral/stats", "", referrer.user.token).Json();
  const User newcomer = NewUser();
  const auto tracked = SendRequest(port, "POST", "/api/referral/track",
                                   json{{"referralCode", referrer.code}}.dump(), newcomer.token);
  ASSERT_EQ(tracked.status, 201) << tracked.body;
  const auto subscribed =
      SendRequest(port, "POST", "/api/subscriptions/create",
                  json{{"tier", "premium"}, {"nonce", "ok"}}.dump(), newcomer.token);
  ASSERT_EQ(subscribed.status, 201) << subscribed.body;
  const auto after =
      SendRequest(port, "GET", "/api/referral/stats", "", referrer.user.token).Json();
  EXPECT_EQ(after["totalReferrals"], before["totalReferrals"].get<int>() + 1) << after;
  EXPECT_EQ(after["convertedReferrals"], before["convertedReferrals"].get<int>() + 1) << after;
  EXPECT_EQ(db_->Scalar("SELECT status FROM referrals WHERE id = '" +
                        tracked.Json().value("referralId", "") + "'"),
            "converted");

  EXPECT_EQ(restarted->Stop(SIGTERM), 0) << restarted->Output();
  verified = VerifyAggregates();
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
}

}  // namespace
}  // namespace referrald::testing
