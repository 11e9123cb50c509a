// Operations through real HTTP: the admin job trigger and its database effects, the automation
// log, /metrics, /health, the OpenAPI document, and the scheduled worker.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/server_fixture.hpp"
#include "util/time_format.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr auto kDay = hours(24);

class OpsTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    admin_ = NewUser("admin", /*admin=*/true);
  }

  HttpReply Convert(const std::string& referred_user_id) {
    return Post("/api/referral/convert", {{"referredUserId", referred_user_id}}, admin_.token);
  }

  // Claims a scheduled slot as another instance would.
  Result<bool> ClaimSlot(const std::string& job, TimePoint slot) {
    return domain::Transact(application().store(), [&](domain::WriteTx& tx) {
      return tx.ClaimScheduledRun(job, slot, clock_->Now());
    });
  }

  HttpReply RunJob(const std::string& name) {
    return Post("/api/admin/jobs/" + name + "/run", json::object(), admin_.token);
  }

  json Rewards(const TestUser& user) {
    const auto reply = Get("/api/referral/rewards", user.token);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return reply.Json();
  }

  std::vector<json> Badges(const TestUser& user) {
    std::vector<json> badges;
    for (const auto& reward : Rewards(user)) {
      if (reward.value("rewardType", "") == "badge") badges.push_back(reward);
    }
    return badges;
  }

  // A referrer with `conversions` converted referrals (each referred user tracked, then
  // converted by the admin).
  TestUser ReferrerWithConversions(int conversions) {
    const auto referrer = NewUser("referrer");
    const std::string code = GenerateCode(referrer);
    for (int i = 0; i < conversions; ++i) {
      const auto referred = NewUser("referred");
      EXPECT_EQ(Track(referred, code).status, 201);
      EXPECT_EQ(Convert(referred.id).status, 200);
    }
    return referrer;
  }

  json AuditLogs(const std::string& query = "") {
    const auto reply = Get("/api/admin/automation-logs" + query, admin_.token);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return reply.Json();
  }

  std::string Now() const { return FormatIso8601(clock_->Now()); }

  TestUser admin_;
};

// --- the job trigger --------------------------------------------------------------------------

TEST_F(OpsTest, ExpireCodesDeactivatesExpiredCodesInTheDatabase) {
  const auto expiring = NewUser("expiring");
  const auto lasting = NewUser("lasting");
  GenerateCode(expiring, {{"expiresInDays", 1}});
  GenerateCode(lasting);
  const TimePoint created = clock_->Now();
  clock_->Advance(2 * kDay);

  const auto reply = RunJob("expire-codes");
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto body = reply.Json();
  EXPECT_EQ(body["job"], "expire-codes");
  EXPECT_EQ(body["status"], "success");
  ASSERT_TRUE(body["details"].is_object()) << reply.body;
  EXPECT_EQ(body["details"]["codesDeactivated"], 1);
  ASSERT_TRUE(body["details"].contains("durationMs")) << reply.body;
  EXPECT_TRUE(body["details"]["durationMs"].is_number_integer());
  EXPECT_GE(body["details"]["durationMs"].get<std::int64_t>(), 0);
  EXPECT_FALSE(body.contains("error"));
  EXPECT_EQ(reply.Header("Content-Type"), "application/json");

  const auto code = Get("/api/referral/code", expiring.token);
  ASSERT_EQ(code.status, 200) << code.body;
  EXPECT_EQ(code.Json()["isActive"], false);
  EXPECT_EQ(Get("/api/referral/code", lasting.token).Json()["isActive"], true);

  auto analytics = Get("/api/referral/analytics", admin_.token);
  ASSERT_EQ(analytics.status, 200) << analytics.body;
  EXPECT_EQ(analytics.Json()["expiredCodes"], 1);
  EXPECT_EQ(analytics.Json()["activeCodes"], 1);

  // The database row itself changed: back before the expiry the code is still inactive, where a
  // merely-expired code would read as active.
  clock_->Set(created + hours(1));
  EXPECT_EQ(Get("/api/referral/code", expiring.token).Json()["isActive"], false);
  analytics = Get("/api/referral/analytics", admin_.token);
  EXPECT_EQ(analytics.Json()["expiredCodes"], 1);
  EXPECT_EQ(analytics.Json()["activeCodes"], 1);
  clock_->Advance(2 * kDay);

  // Nothing left to deactivate.
  const auto second = RunJob("expire-codes");
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.Json()["details"]["codesDeactivated"], 0);
  EXPECT_EQ(second.Json()["status"], "success");
}

TEST_F(OpsTest, EveryRunWritesAPendingThenASuccessRow) {
  ASSERT_EQ(RunJob("expire-codes").status, 200);
  const auto rows = AuditLogs("?service=automation_worker");
  ASSERT_EQ(rows.size(), 2U) << rows.dump();
  // Same created_at: both rows present, one pending and one success, both for the job.
  std::multiset<std::string> statuses;
  for (const auto& row : rows) {
    EXPECT_EQ(row["action"], "expire-codes");
    EXPECT_TRUE(row["userId"].is_null());
    statuses.insert(row["status"].get<std::string>());
  }
  EXPECT_EQ(statuses, (std::multiset<std::string>{"pending", "success"}));
  for (const auto& row : rows) {
    if (row["status"] == "success") {
      EXPECT_EQ(row["details"]["codesDeactivated"], 0);
      EXPECT_TRUE(row["details"].contains("durationMs"));
      EXPECT_TRUE(row["errorMessage"].is_null());
    }
  }
}

class OpsBadgeTest : public OpsTest {
 protected:
  void Configure(app::Config& config) override { config.referral.master_threshold = 2; }
};

TEST_F(OpsBadgeTest, AwardBadgesGrantsTheMasterBadgeOnce) {
  const auto master = ReferrerWithConversions(2);
  const auto novice = ReferrerWithConversions(1);
  clock_->Advance(hours(1));

  const auto reply = RunJob("award-badges");
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto body = reply.Json();
  EXPECT_EQ(body["job"], "award-badges");
  EXPECT_EQ(body["status"], "success");
  EXPECT_EQ(body["details"]["badgesGranted"], 1) << reply.body;
  EXPECT_TRUE(body["details"].contains("durationMs"));

  auto badges = Badges(master);
  ASSERT_EQ(badges.size(), 1U);
  EXPECT_EQ(badges[0]["rewardValue"], json({{"badge", "Referral Master"}}));
  EXPECT_EQ(badges[0]["isClaimed"], true);
  ASSERT_TRUE(badges[0]["claimedAt"].is_string());
  EXPECT_EQ(badges[0]["claimedAt"], Now());
  EXPECT_TRUE(Badges(novice).empty());
  // The conversion rewards are untouched.
  EXPECT_EQ(Rewards(master).size(), 3U);
  EXPECT_EQ(Rewards(novice).size(), 1U);

  // A reward_granted row for the badge in the referral log.
  bool logged = false;
  for (const auto& row : AuditLogs("?service=referral")) {
    if (row["action"] == "reward_granted" && row["userId"] == master.id &&
        row["details"].value("badge", "") == "Referral Master") {
      logged = true;
    }
  }
  EXPECT_TRUE(logged);

  clock_->Advance(hours(1));
  const auto second = RunJob("award-badges");
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.Json()["details"]["badgesGranted"], 0);
  EXPECT_EQ(Badges(master).size(), 1U);
  EXPECT_TRUE(Badges(novice).empty());

  // A later conversion makes the novice qualify; the master still has one badge.
  const std::string novice_code = Get("/api/referral/code", novice.token).Json().value("code", "");
  const auto referred = NewUser("referred");
  ASSERT_EQ(Track(referred, novice_code).status, 201);
  ASSERT_EQ(Convert(referred.id).status, 200);
  const auto third = RunJob("award-badges");
  EXPECT_EQ(third.Json()["details"]["badgesGranted"], 1);
  EXPECT_EQ(Badges(novice).size(), 1U);
  EXPECT_EQ(Badges(master).size(), 1U);
}

TEST_F(OpsBadgeTest, ConcurrentAwardBadgesRunsGrantExactlyOneBadge) {
  const auto master = ReferrerWithConversions(2);
  const std::string path = "/api/admin/jobs/award-badges/run";
  HttpReply first;
  HttpReply second;
  {
    std::thread a([&] { first = SendRequest(port(), "POST", path, "{}", admin_.token); });
    std::thread b([&] { second = SendRequest(port(), "POST", path, "{}", admin_.token); });
    a.join();
    b.join();
  }
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(first.Json()["status"], "success");
  EXPECT_EQ(second.Json()["status"], "success");
  const auto granted = first.Json()["details"]["badgesGranted"].get<int>() +
                       second.Json()["details"]["badgesGranted"].get<int>();
  EXPECT_EQ(granted, 1);
  EXPECT_EQ(Badges(master).size(), 1U);
}

TEST_F(OpsTest, HealthCheckJobReportsUptimeAndMemoryAndIsLogged) {
  clock_->Advance(seconds(90));
  const auto reply = RunJob("health-check");
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto body = reply.Json();
  EXPECT_EQ(body["job"], "health-check");
  EXPECT_EQ(body["status"], "success");
  const auto& details = body["details"];
  ASSERT_TRUE(details.contains("uptimeSeconds")) << reply.body;
  ASSERT_TRUE(details.contains("residentMemoryBytes")) << reply.body;
  EXPECT_EQ(details["uptimeSeconds"], 90);
  EXPECT_GT(details["residentMemoryBytes"].get<std::int64_t>(), 0);

  const auto rows = AuditLogs("?service=automation_worker");
  const auto found = std::find_if(rows.begin(), rows.end(), [](const json& row) {
    return row["service"] == "automation_worker" && row["action"] == "health-check" &&
           row["status"] == "success";
  });
  ASSERT_NE(found, rows.end()) << rows.dump();
  EXPECT_EQ((*found)["createdAt"], Now());
  EXPECT_GT((*found)["details"]["residentMemoryBytes"].get<std::int64_t>(), 0);
}

TEST_F(OpsTest, JobRouteErrors) {
  const auto user = NewUser();
  ExpectError(RunJob("no-such-job"), 404, "JOB_NOT_FOUND");
  ExpectError(RunJob("Expire-Codes"), 404, "JOB_NOT_FOUND");
  ExpectError(Post("/api/admin/jobs/expire-codes/run", json::object(), user.token), 403,
              "FORBIDDEN");
  ExpectError(Post("/api/admin/jobs/expire-codes/run", json::object(), ""), 401, "TOKEN_MISSING");
  ExpectError(Post("/api/admin/jobs/expire-codes/run", json::object(), "not-a-token"), 401,
              "TOKEN_INVALID");
  ExpectError(Get("/api/admin/jobs/expire-codes/run", admin_.token), 405, "METHOD_NOT_ALLOWED");
  // No refused call ran a job.
  EXPECT_TRUE(AuditLogs("?service=automation_worker").empty());
}

// --- the automation log -----------------------------------------------------------------------

TEST_F(OpsTest, AutomationLogsNeedAnAdmin) {
  const auto user = NewUser();
  ExpectError(Get("/api/admin/automation-logs", user.token), 403, "FORBIDDEN");
  ExpectError(Get("/api/admin/automation-logs", ""), 401, "TOKEN_MISSING");
  ExpectError(Get("/api/admin/automation-logs", "not-a-token"), 401, "TOKEN_INVALID");
}

TEST_F(OpsTest, AutomationLogsAreNewestFirstFilteredAndShaped) {
  const auto referrer = NewUser("referrer");
  const auto referred = NewUser("referred");
  const std::string code = GenerateCode(referrer);
  clock_->Advance(minutes(1));
  ASSERT_EQ(Track(referred, code).status, 201);
  clock_->Advance(minutes(1));
  ASSERT_EQ(RunJob("health-check").status, 200);
  clock_->Advance(minutes(1));
  ExpectError(Track(referrer, code), 400, "SELF_REFERRAL");

  const auto all = AuditLogs();
  ASSERT_GE(all.size(), 5U) << all.dump();
  for (std::size_t i = 1; i < all.size(); ++i) {
    EXPECT_GE(all[i - 1]["createdAt"].get<std::string>(), all[i]["createdAt"].get<std::string>())
        << all.dump();
  }
  EXPECT_EQ(all[0]["action"], "referral_refused");
  EXPECT_EQ(all[0]["status"], "failed");
  EXPECT_EQ(all[0]["userId"], referrer.id);
  EXPECT_TRUE(all[0]["errorMessage"].is_string());
  EXPECT_EQ(all[0]["createdAt"], Now());
  EXPECT_EQ(all.back()["action"], "code_generated");

  const std::set<std::string> fields{"id",     "service", "action",       "status",
                                     "userId", "details", "errorMessage", "createdAt"};
  for (const auto& row : all) {
    ASSERT_TRUE(row.is_object());
    std::set<std::string> keys;
    for (const auto& [key, value] : row.items()) keys.insert(key);
    EXPECT_EQ(keys, fields) << row.dump();
    EXPECT_TRUE(row["id"].is_string());
    EXPECT_TRUE(row["details"].is_object()) << row.dump();
    EXPECT_TRUE(row["userId"].is_string() || row["userId"].is_null());
    EXPECT_TRUE(row["errorMessage"].is_string() || row["errorMessage"].is_null());
  }

  const auto referral = AuditLogs("?service=referral");
  std::vector<std::string> actions;
  for (const auto& row : referral) {
    EXPECT_EQ(row["service"], "referral") << row.dump();
    actions.push_back(row["action"].get<std::string>());
  }
  EXPECT_EQ(actions,
            (std::vector<std::string>{"referral_refused", "referral_tracked", "code_generated"}));
  EXPECT_EQ(referral[1]["userId"], referred.id);
  EXPECT_EQ(referral[2]["userId"], referrer.id);

  const auto worker = AuditLogs("?service=automation_worker");
  ASSERT_EQ(worker.size(), 2U);
  for (const auto& row : worker) EXPECT_EQ(row["service"], "automation_worker");
  EXPECT_TRUE(AuditLogs("?service=nothing-here").empty());

  const auto two = AuditLogs("?limit=2");
  ASSERT_EQ(two.size(), 2U);
  EXPECT_EQ(two[0], all[0]);
  EXPECT_EQ(two[1], all[1]);
  EXPECT_EQ(AuditLogs("?service=referral&limit=1").size(), 1U);
}

TEST_F(OpsTest, AutomationLogsLimitDefaultsTo100AndIsBounded) {
  for (int i = 0; i < 51; ++i) {
    ASSERT_EQ(RunJob("health-check").status, 200);
    clock_->Advance(seconds(1));
  }
  EXPECT_EQ(AuditLogs().size(), 100U);
  EXPECT_EQ(AuditLogs("?limit=500").size(), 102U);
  EXPECT_EQ(AuditLogs("?limit=1").size(), 1U);
  EXPECT_EQ(AuditLogs("?limit=51").size(), 51U);
  for (const std::string& bad : std::vector<std::string>{"0", "501", "abc", "-1", "2.5"}) {
    SCOPED_TRACE("limit=" + bad);
    ExpectError(Get("/api/admin/automation-logs?limit=" + bad, admin_.token), 400,
                "VALIDATION_ERROR");
  }
  ExpectError(Get("/api/admin/automation-logs?service=" + std::string(101, 's'), admin_.token), 400,
              "VALIDATION_ERROR");
}

// --- /metrics -----------------------------------------------------------------------------------

// "name{labels} value" per sample line; comments skipped.
std::map<std::string, double> ParseMetrics(const std::string& text) {
  std::map<std::string, double> samples;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) {
      ADD_FAILURE() << "malformed metrics line: " << line;
      continue;
    }
    const std::string value = line.substr(space + 1);
    char* parsed_end = nullptr;
    const double number = std::strtod(value.c_str(), &parsed_end);
    EXPECT_EQ(*parsed_end, '\0') << "malformed value: " << line;
    EXPECT_EQ(samples.count(line.substr(0, space)), 0U) << "duplicate sample: " << line;
    samples[line.substr(0, space)] = number;
  }
  return samples;
}

TEST_F(OpsTest, MetricsCountTrafficAndJobs) {
  const auto before = Get("/metrics", "");
  ASSERT_EQ(before.status, 200);
  EXPECT_EQ(before.Header("Content-Type").rfind("text/plain", 0), 0U)
      << before.Header("Content-Type");
  const auto initial = ParseMetrics(before.body);
  EXPECT_EQ(initial.at("referrald_referrals_tracked_total"), 0);

  constexpr int kTracks = 3;
  const auto referrer = NewUser("referrer");
  const std::string code = GenerateCode(referrer);
  std::vector<TestUser> referred;
  for (int i = 0; i < kTracks; ++i) {
    referred.push_back(NewUser("referred"));
    ASSERT_EQ(Track(referred.back(), code).status, 201);
  }
  ExpectError(Track(referrer, code), 400, "SELF_REFERRAL");
  ASSERT_EQ(Convert(referred[0].id).status, 200);
  const auto rewards = Rewards(referrer);
  ASSERT_EQ(rewards.size(), 1U);
  ASSERT_EQ(
      Post("/api/referral/claim-reward", {{"rewardId", rewards[0]["id"]}}, referrer.token).status,
      200);
  ASSERT_EQ(RunJob("expire-codes").status, 200);

  const auto reply = Get("/metrics", "");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.Header("Content-Type").rfind("text/plain", 0), 0U);
  const auto m = ParseMetrics(reply.body);

  EXPECT_EQ(m.at("referrald_referrals_tracked_total"), kTracks);
  EXPECT_EQ(m.at("referrald_referrals_converted_total"), 1);
  EXPECT_EQ(m.at("referrald_rewards_granted_total"), 1);
  EXPECT_EQ(m.at("referrald_rewards_claimed_total"), 1);

  const std::string track = R"(method="POST",route="/api/referral/track")";
  EXPECT_EQ(m.at("referrald_http_requests_total{" + track + R"(,status="201"})"), kTracks);
  EXPECT_EQ(m.at("referrald_http_requests_total{" + track + R"(,status="400"})"), 1);
  EXPECT_EQ(
      m.at(
          R"(referrald_http_requests_total{method="POST",route="/api/referral/generate-code",status="201"})"),
      1);
  EXPECT_EQ(m.at(R"(referrald_http_requests_total{method="GET",route="/metrics",status="200"})"),
            1);  // the first scrape; this one is counted after it renders

  const double count = m.at("referrald_http_request_duration_seconds_count{" + track + "}");
  EXPECT_EQ(count, kTracks + 1);
  EXPECT_GE(m.at("referrald_http_request_duration_seconds_sum{" + track + "}"), 0);
  const std::string bucket_prefix =
      "referrald_http_request_duration_seconds_bucket{" + track + ",le=\"";
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count)
  bool has_inf = false;
  for (const auto& [key, value] : m) {
    if (key.rfind(bucket_prefix, 0) != 0) continue;
    const std::string le = key.substr(bucket_prefix.size(), key.size() - bucket_prefix.size() - 2);
    ASSERT_EQ(key.substr(key.size() - 2), "\"}") << key;
    if (le == "+Inf") {
      has_inf = true;
      EXPECT_EQ(value, count);
      buckets.emplace_back(std::numeric_limits<double>::infinity(), value);
    } else {
      char* end = nullptr;
      const double bound = std::strtod(le.c_str(), &end);
      EXPECT_EQ(*end, '\0') << key;
      buckets.emplace_back(bound, value);
    }
  }
  EXPECT_TRUE(has_inf);
  EXPECT_EQ(buckets.size(), 12U);
  std::sort(buckets.begin(), buckets.end());
  for (std::size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_LE(buckets[i - 1].second, buckets[i].second) << "le=" << buckets[i].first;
  }

  EXPECT_EQ(m.at(R"(referrald_job_runs_total{job="expire-codes"})"), 1);
  EXPECT_EQ(m.at(R"(referrald_job_failures_total{job="expire-codes"})"), 0);
  EXPECT_EQ(m.count(R"(referrald_job_runs_total{job="award-badges"})"), 0U);
  EXPECT_GT(m.at("process_resident_memory_bytes"), 0);
  EXPECT_EQ(m.count("referrald_uptime_seconds"), 1U);
  EXPECT_GE(m.at("referrald_uptime_seconds"), 0);
  EXPECT_EQ(m.count("referrald_http_requests_in_flight"), 1U);
}

TEST_F(OpsTest, MetricsUseRoutePatternsNotRawPaths) {
  ASSERT_EQ(RunJob("health-check").status, 200);
  ExpectError(RunJob("unknown-job"), 404, "JOB_NOT_FOUND");
  ExpectError(Get("/no/such/path", ""), 404, "NOT_FOUND");
  const auto m = ParseMetrics(Get("/metrics", "").body);
  EXPECT_EQ(
      m.at(
          R"(referrald_http_requests_total{method="POST",route="/api/admin/jobs/:name/run",status="200"})"),
      1);
  EXPECT_EQ(
      m.at(
          R"(referrald_http_requests_total{method="POST",route="/api/admin/jobs/:name/run",status="404"})"),
      1);
  EXPECT_EQ(m.at(R"(referrald_http_requests_total{method="GET",route="unmatched",status="404"})"),
            1);
  EXPECT_EQ(m.at(R"(referrald_job_runs_total{job="health-check"})"), 1);
  for (const auto& [key, value] : m) {
    EXPECT_EQ(key.find("/no/such/path"), std::string::npos) << key;
    EXPECT_EQ(key.find("unknown-job"), std::string::npos) << key;
  }
}

// --- /health and the OpenAPI document -----------------------------------------------------------

TEST_F(OpsTest, HealthAndOpenApiNeedNoToken) {
  const auto health = Get("/health", "");
  ASSERT_EQ(health.status, 200) << health.body;
  const auto body = health.Json();
  EXPECT_EQ(body["status"], "ok");
  EXPECT_EQ(body["database"], "ok");

  const auto openapi = Get("/api/openapi.json", "");
  ASSERT_EQ(openapi.status, 200);
  const auto doc = openapi.Json();
  ASSERT_TRUE(doc.is_object()) << openapi.body.substr(0, 200);
  ASSERT_TRUE(doc.contains("openapi"));
  EXPECT_TRUE(doc["openapi"].is_string());
  EXPECT_EQ(openapi.Header("Content-Type").rfind("application/json", 0), 0U);
}

// --- the worker -------------------------------------------------------------------------------

class OpsWorkerTest : public OpsTest {
 protected:
  void Configure(app::Config& config) override { config.worker_enabled = true; }
};

std::vector<domain::AuditEntry> HealthCheckSuccesses(domain::Store& store) {
  std::vector<domain::AuditEntry> found;
  auto rows = store.ListAudit(std::string("automation_worker"), {10, std::nullopt});
  if (!rows) return found;
  for (auto& row : *rows) {
    if (row.action == "health-check" && row.status == domain::AuditStatus::kSuccess)
      found.push_back(row);
  }
  return found;
}

TEST_F(OpsWorkerTest, RunsTheDueHealthCheckOnceAndClaimsItsSlot) {
  ASSERT_TRUE(application().worker_running());
  // Started at the fake clock's 12:00:00; the */5 health check is next due at 12:05.
  const TimePoint slot = *ParseIso8601("2025-06-15T12:05:00.000Z");
  clock_->Set(slot + seconds(30));
  application().WakeWorker();

  std::vector<domain::AuditEntry> successes;
  for (int i = 0; i < 1000 && successes.empty(); ++i) {
    successes = HealthCheckSuccesses(application().store());
    if (successes.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(successes.size(), 1U);
  EXPECT_EQ(successes[0].created_at, slot + seconds(30));

  auto claimed = ClaimSlot("health-check", slot);
  ASSERT_TRUE(claimed.has_value());
  EXPECT_FALSE(*claimed);
  // Another slot is still free.
  auto other = ClaimSlot("health-check", slot + minutes(5));
  ASSERT_TRUE(other.has_value());
  EXPECT_TRUE(*other);

  // Visible over HTTP too, with its pending row.
  const auto rows = AuditLogs("?service=automation_worker");
  std::multiset<std::string> statuses;
  for (const auto& row : rows) {
    if (row["action"] == "health-check") statuses.insert(row["status"].get<std::string>());
  }
  EXPECT_EQ(statuses, (std::multiset<std::string>{"pending", "success"}));
}

TEST_F(OpsTest, NoWorkerRunsWhenDisabled) {
  EXPECT_FALSE(application().worker_running());
  clock_->Advance(hours(25));
  application().WakeWorker();
  auto rows = application().store().ListAudit(std::string("automation_worker"), {10, std::nullopt});
  ASSERT_TRUE(rows.has_value());
  EXPECT_TRUE(rows->empty());
  // The slot that a worker would have run is unclaimed.
  auto claimed = ClaimSlot("health-check", *ParseIso8601("2025-06-15T12:05:00.000Z"));
  ASSERT_TRUE(claimed.has_value());
  EXPECT_TRUE(*claimed);
}

}  // namespace
}  // namespace referrald::testing
