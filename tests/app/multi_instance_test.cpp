// Two `referrald serve` processes on one database, raced over HTTP: every exactly-once rule holds
// across processes (one referrer per user, one code, one conversion, one claim, one badge, one
// run per Idempotency-Key), and each scheduled job slot runs once in all.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <latch>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "support/serve_process.hpp"
#include "support/server_fixture.hpp"
#include "support/test_database.hpp"
#include "util/random.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class MultiInstanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::Create();
    db_->Open();  // migrate once up front, so both instances start on the same schema
  }

  void Start(const ProcessEnv& env) {
    for (int i = 0; i < 2; ++i) {
      instances_.push_back(std::make_unique<ServeProcess>(db_->url(), env));
      ASSERT_NE(instances_.back()->port(), 0);
      WarmUpHttpClient(instances_.back()->port());
    }
  }

  struct User {
    std::string id;
    std::string email;
    std::string token;
  };
  User NewUser(bool admin = false) {
    static SystemRandom random;
    User user;
    user.id = NewUuidV7(SystemClock().Now(), random);
    user.email = "u" + user.id.substr(28) + "@example.com";
    user.token = RealTimeToken(user.id, user.email, admin);
    return user;
  }

  struct Request {
    std::string method;
    std::string path;
    std::string body;
    std::string token;
    ExtraHeaders headers = {};
  };

  // Sends request(i) for i in [0, n), alternating between the two instances, all released at
  // once; returns the replies.
  std::vector<HttpReply> Race(int n, const std::function<Request(int)>& request) {
    std::vector<HttpReply> replies(static_cast<std::size_t>(n));
    std::latch start(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        const std::uint16_t port = instances_[static_cast<std::size_t>(i) % 2]->port();
        const Request r = request(i);
        start.arrive_and_wait();
        replies[static_cast<std::size_t>(i)] =
            SendRequest(port, r.method, r.path, r.body, r.token, r.headers);
      });
    }
    for (auto& t : threads) t.join();
    return replies;
  }
  std::vector<HttpReply> Race(int n, const Request& request) {
    return Race(n, [&request](int) { return request; });
  }

  static std::map<int, int> Statuses(const std::vector<HttpReply>& replies) {
    std::map<int, int> counts;
    for (const auto& r : replies) ++counts[r.status];
    return counts;
  }

  HttpReply Send(int instance, const std::string& method, const std::string& path,
                 const std::string& body, const std::string& token) {
    return SendRequest(instances_[static_cast<std::size_t>(instance)]->port(), method, path, body,
                       token);
  }

  std::unique_ptr<TestDatabase> db_;
  std::vector<std::unique_ptr<ServeProcess>> instances_;
};

TEST_F(MultiInstanceTest, ExactlyOnceRulesHoldAcrossProcesses) {
  Start({{"ENABLE_AUTOMATION_WORKER", "false"}, {"REFERRAL_MASTER_THRESHOLD", "1"}});
  const User admin = NewUser(/*admin=*/true);
  const User referrer = NewUser();
  const User referred = NewUser();

  // One code per user: 20 generate-code calls for one user, on both instances.
  const auto generated = Race(20, {"POST", "/api/referral/generate-code", "{}", referrer.token});
  EXPECT_EQ(Statuses(generated), (std::map<int, int>{{201, 1}, {409, 19}}));
  std::string code;
  for (const auto& r : generated) {
    if (r.status == 201) code = r.Json()["code"];
  }
  for (const auto& r : generated) {
    if (r.status == 409) {
      EXPECT_EQ(r.Json()["referralCode"], code);
    }
  }

  // One referrer per user: 20 tracks of one user.
  const auto tracked = Race(
      20, {"POST", "/api/referral/track", json{{"referralCode", code}}.dump(), referred.token});
  EXPECT_EQ(Statuses(tracked), (std::map<int, int>{{201, 1}, {409, 19}}));

  // One conversion: subscriptions of the referred user and manual conversions by an admin,
  // interleaved on both instances.
  const auto converted = Race(30, [&](int i) -> Request {
    if (i % 3 == 2) {
      return {"POST", "/api/referral/convert", json{{"referredUserId", referred.id}}.dump(),
              admin.token};
    }
    return {"POST", "/api/subscriptions/create", json{{"tier", "premium"}, {"nonce", "ok"}}.dump(),
            referred.token};
  });
  std::map<int, int> subscriptions;
  std::map<int, int> conversions;
  for (std::size_t i = 0; i < converted.size(); ++i) {
    ++(i % 3 == 2 ? conversions : subscriptions)[converted[i].status];
  }
  EXPECT_EQ(subscriptions, (std::map<int, int>{{201, 1}, {409, 19}}));
  EXPECT_LE(conversions[200], 1);
  EXPECT_EQ(conversions[200] + conversions[409], 10);
  const auto rewards = Send(0, "GET", "/api/referral/rewards", "", referrer.token).Json();
  ASSERT_EQ(rewards.size(), 1U) << rewards;

  // One claim.
  const auto claims = Race(20, {"POST", "/api/referral/claim-reward",
                                json{{"rewardId", rewards[0]["id"]}}.dump(), referrer.token});
  EXPECT_EQ(Statuses(claims), (std::map<int, int>{{200, 1}, {404, 19}}));

  // One badge: the badge job run on both instances at once.
  const auto runs = Race(8, {"POST", "/api/admin/jobs/award-badges/run", "{}", admin.token});
  int granted = 0;
  for (const auto& r : runs) {
    ASSERT_EQ(r.status, 200) << r.body;
    granted += r.Json()["details"]["badgesGranted"].get<int>();
  }
  EXPECT_EQ(granted, 1);
  int badges = 0;
  for (const auto& reward : Send(1, "GET", "/api/referral/rewards", "", referrer.token).Json()) {
    badges += reward["rewardType"] == "badge" ? 1 : 0;
  }
  EXPECT_EQ(badges, 1);

  // The rows themselves.
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM referrals"), "1");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM referral_codes"), "1");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM subscriptions"), "1");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM user_rewards"), "2");
  for (auto& instance : instances_) EXPECT_EQ(instance->Stop(SIGTERM), 0);
}

// One Idempotency-Key sent 24 times at once, half to each instance: one request runs; every other
// is answered 409 IDEMPOTENCY_IN_PROGRESS (the key is held in the database, so also by the other
// instance) or, once the first finished, with its response again. Then a referral and a
// subscription raced the same way convert once.
TEST_F(MultiInstanceTest, OneIdempotencyKeyRunsOnceAcrossInstances) {
  Start({{"ENABLE_AUTOMATION_WORKER", "false"}});
  const User referrer = NewUser();
  const User referred = NewUser();
  const ExtraHeaders key = {{"Idempotency-Key", "same-key-everywhere"}};

  auto check = [](const std::vector<HttpReply>& replies, int created_status) {
    int fresh = 0;
    std::string body;
    for (const auto& r : replies) {
      if (r.status == created_status && r.Header("Idempotent-Replayed").empty()) {
        ++fresh;
        body = r.body;
      }
    }
    EXPECT_EQ(fresh, 1);
    for (const auto& r : replies) {
      if (r.status == created_status) {
        EXPECT_EQ(r.body, body);
      } else {
        ExpectError(r, 409, "IDEMPOTENCY_IN_PROGRESS");
      }
    }
    return body;
  };

  const auto generated =
      Race(24, {"POST", "/api/referral/generate-code", "{}", referrer.token, key});
  const std::string code = json::parse(check(generated, 201))["code"];
  EXPECT_EQ(
      db_->Scalar("SELECT count(*) FROM referral_codes WHERE user_id = '" + referrer.id + "'"),
      "1");

  check(Race(24, {"POST", "/api/referral/track", json({{"referralCode", code}}).dump(),
                  referred.token, key}),
        201);
  check(Race(24, {"POST",
                  "/api/subscriptions/create",
                  json({{"tier", "premium"}, {"nonce", "n-1"}}).dump(),
                  referred.token,
                  {{"Idempotency-Key", "subscribe-once"}}}),
        201);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM subscriptions WHERE user_id = '" + referred.id + "'"),
            "1");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM user_rewards WHERE user_id = '" + referrer.id + "'"),
            "1");
  // Later repeats, on either instance, are replays.
  for (int instance = 0; instance < 2; ++instance) {
    const auto again = SendRequest(instances_[static_cast<std::size_t>(instance)]->port(), "POST",
                                   "/api/referral/generate-code", "{}", referrer.token, key);
    EXPECT_EQ(again.status, 201);
    EXPECT_EQ(again.Header("Idempotent-Replayed"), "true");
  }
}

// Both instances run the health check every minute; each minute's slot runs once in all. Waits
// for the next minute boundary (the schedule's resolution is a minute).
TEST_F(MultiInstanceTest, EachScheduledSlotRunsOnceInAll) {
  Start({{"ENABLE_AUTOMATION_WORKER", "true"}, {"CRON_HEALTH_CHECK", "* * * * *"}});
  auto claimed_slots = [&] {
    const std::string n = db_->Scalar("SELECT count(*) FROM job_runs WHERE job = 'health-check'");
    return n.empty() ? 0 : std::stoi(n);
  };
  // Both instances run from now on: the next minute's slot is one both will try, unless it is so
  // close that one of them may have computed its schedule just after it; then wait for another.
  const auto now = SystemClock().Now();
  const auto to_boundary = std::chrono::ceil<std::chrono::minutes>(now) - now;
  const int wanted = to_boundary < seconds(3) ? 2 : 1;
  const auto deadline = std::chrono::steady_clock::now() + seconds(150);
  while (claimed_slots() < wanted && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(seconds(1));
  }
  // Let a run that claimed its slot finish writing its rows.
  std::this_thread::sleep_for(seconds(2));
  for (auto& instance : instances_) EXPECT_EQ(instance->Stop(SIGTERM), 0);

  const int claimed = claimed_slots();
  ASSERT_GE(claimed, wanted) << "no minute boundary passed";
  const std::string slots = std::to_string(claimed);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM automation_logs WHERE action = 'health-check' "
                        "AND status = 'success'"),
            slots);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM automation_logs WHERE action = 'health-check' "
                        "AND status = 'pending'"),
            slots);
}

// Contract §13: a user erased through one instance is refused by the other at once — on a read
// route (its provisioning read) and on a write route (the upsert in the write's transaction) —
// although that instance served the user just before; and neither instance ever prints the email.
TEST_F(MultiInstanceTest, AUserErasedOnOneInstanceIsRefusedByTheOther) {
  Start({{"ENABLE_AUTOMATION_WORKER", "false"}, {"LOG_LEVEL", "debug"}});
  const User admin = NewUser(/*admin=*/true);
  const User referrer = NewUser();
  const User user = NewUser();
  const auto code = Send(0, "POST", "/api/referral/generate-code", "{}", referrer.token);
  ASSERT_EQ(code.status, 201) << code.body;
  ASSERT_EQ(Send(1, "POST", "/api/referral/track",
                 json{{"referralCode", code.Json()["code"]}}.dump(), user.token)
                .status,
            201);
  ASSERT_EQ(Send(1, "GET", "/api/referral/stats", "", user.token).status, 200);
  ASSERT_EQ(Send(1, "POST", "/api/referral/generate-code", "{}", user.token).status, 201);

  EXPECT_EQ(Send(0, "DELETE", "/api/admin/users/" + user.id, "", admin.token).status, 204);

  for (int instance : {1, 0}) {
    SCOPED_TRACE(instance);
    ExpectError(Send(instance, "GET", "/api/referral/stats", "", user.token), 403, "USER_ERASED");
    ExpectError(Send(instance, "POST", "/api/referral/generate-code", "{}", user.token), 403,
                "USER_ERASED");
    ExpectError(Send(instance, "POST", "/api/subscriptions/create",
                     json{{"tier", "premium"}, {"nonce", "ok"}}.dump(), user.token),
                403, "USER_ERASED");
  }
  // The referrer, and the referral's count, are untouched.
  const auto stats = Send(1, "GET", "/api/referral/stats", "", referrer.token);
  EXPECT_EQ(stats.Json()["totalReferrals"], 1);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM users WHERE email = '" + user.email + "'"), "0");
  for (auto& instance : instances_) {
    EXPECT_EQ(instance->Output(200).find(user.email), std::string::npos);
  }
}

}  // namespace
}  // namespace referrald::testing
