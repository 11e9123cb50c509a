// The `referrald` binary itself: subcommands, configuration errors, jobs run from the command
// line with their database effect, the worker's startup lines, and graceful shutdown.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "http/jwt.hpp"
#include "support/process.hpp"
#include "support/seeder.hpp"
#include "support/server_fixture.hpp"
#include "support/test_database.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::testing {
namespace {

using std::chrono::days;
using std::chrono::seconds;

constexpr const char* kSecret = "cli-test-secret-0123456789abcdef-0123";

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "referrald-cli-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    db_ = TestDatabase::Create();
    env_ = {{"PATH", "/usr/bin:/bin"},
            {"JWT_SECRET", kSecret},
            {"DATABASE_URL", db_->url()},
            {"LOG_LEVEL", "info"}};
  }
  void TearDown() override {
    db_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  ProcessResult Run(const std::vector<std::string>& args) {
    std::vector<std::string> argv{REFERRALD_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, env_, dir_);
  }

  // The store on the database the binary uses, for preparing data and checking effects.
  std::unique_ptr<domain::Store> OpenStore() { return db_->Open(); }

  // `job run` prints exactly one JSON object on stdout (logs go to stderr).
  static nlohmann::json LastJsonLine(const std::string& out) {
    auto parsed = nlohmann::json::parse(out, nullptr, false);
    EXPECT_TRUE(parsed.is_object()) << out;
    return parsed.is_object() ? parsed : nlohmann::json::object();
  }

  std::string dir_;
  std::unique_ptr<TestDatabase> db_;
  ProcessEnv env_;
  SystemClock clock_;
  SystemRandom random_;
};

TEST_F(CliTest, EverySubcommandHasHelp) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--help"},
                                                                {"serve", "--help"},
                                                                {"migrate", "--help"},
                                                                {"token", "--help"},
                                                                {"job", "run", "--help"}}) {
    const auto r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << args.front();
    EXPECT_NE((r.out + r.err).find("Usage"), std::string::npos) << r.out << r.err;
  }
}

TEST_F(CliTest, TokenPrintsATokenTheServerAccepts) {
  const std::string sub = "11111111-1111-4111-8111-111111111111";
  const auto r = Run(
      {"token", "--sub", sub, "--email", "alice@example.com", "--role", "admin", "--ttl", "120"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string token = r.out;
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  auto claims = http::JwtVerifier(kSecret).Verify(token, clock_.Now());
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->sub, sub);
  EXPECT_EQ(claims->email, "alice@example.com");
  EXPECT_EQ(claims->role, "admin");
  // --ttl is honoured: expired two minutes later.
  EXPECT_FALSE(http::JwtVerifier(kSecret).Verify(token, clock_.Now() + seconds{121}));
}

TEST_F(CliTest, TokenNeedsASecretAndAUuid) {
  env_.erase("JWT_SECRET");
  auto r = Run({"token", "--sub", "11111111-1111-4111-8111-111111111111", "--email", "a@b.c"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("JWT_SECRET"), std::string::npos) << r.err;
  env_["JWT_SECRET"] = kSecret;
  r = Run({"token", "--sub", "not-a-uuid", "--email", "a@b.c"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("UUID"), std::string::npos) << r.err;
}

TEST_F(CliTest, DotEnvIsReadAndTheEnvironmentWins) {
  env_.erase("JWT_SECRET");
  std::ofstream(dir_ + "/.env")
      << "JWT_SECRET=from-dotenv-0123456789abcdef-0123456789\nREFERRAL_CODE_LENGTH=abc\n";
  auto r = Run({"token", "--sub", "11111111-1111-4111-8111-111111111111", "--email", "a@b.c"});
  EXPECT_EQ(r.exit_code, 2) << "the .env's malformed REFERRAL_CODE_LENGTH must stop it";
  EXPECT_NE(r.err.find("REFERRAL_CODE_LENGTH"), std::string::npos) << r.err;

  env_["REFERRAL_CODE_LENGTH"] = "10";  // the environment overrides the file
  r = Run({"token", "--sub", "11111111-1111-4111-8111-111111111111", "--email", "a@b.c"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string token = r.out.substr(0, r.out.find('\n'));
  EXPECT_TRUE(
      http::JwtVerifier("from-dotenv-0123456789abcdef-0123456789").Verify(token, clock_.Now()));
}

TEST_F(CliTest, MalformedConfigurationStopsServeNamingTheVariable) {
  for (const auto& [var, value] : std::vector<std::pair<std::string, std::string>>{
           {"REFERRAL_CODE_LENGTH", "abc"},
           {"PORT", "http"},
           {"CRON_EXPIRE_CODES", "61 2 * * *"},
           {"CRON_AWARD_BADGES", "0 3 * *"},
           {"ENABLE_AUTOMATION_WORKER", "sometimes"}}) {
    env_[var] = value;
    const auto r = Run({"serve"});
    EXPECT_EQ(r.exit_code, 2) << var;
    EXPECT_NE(r.err.find(var), std::string::npos) << r.err;
    env_.erase(var);
  }
  env_.erase("JWT_SECRET");
  const auto r = Run({"serve"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("JWT_SECRET"), std::string::npos) << r.err;
}

TEST_F(CliTest, MigrateCreatesTheSchemaOnce) {
  for (int i = 0; i < 2; ++i) {
    const auto r = Run({"migrate"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const std::string tables =
      CurrentBackend() == Backend::kPostgres
          ? "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND "
            "table_name IN "
          : "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ";
  EXPECT_EQ(
      db_->Scalar(tables + "('referral_codes', 'referrals', 'user_rewards', 'automation_logs', "
                           "'users', 'subscriptions')"),
      "6");
}

TEST_F(CliTest, JobRunExpireCodesDeactivatesExpiredCodes) {
  std::string expired_user;
  std::string live_user;
  {
    auto store = OpenStore();
    Seeder seed(*store);
    const auto expired = seed.NewUser();
    const auto live = seed.NewUser();
    expired_user = expired.id;
    live_user = live.id;
    const TimePoint now = clock_.Now();
    seed.Code(expired, now - days{3}, 2);
    seed.Code(live, now, 30);
  }
  const auto r = Run({"job", "run", "expire-codes"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto result = LastJsonLine(r.out);
  EXPECT_EQ(result["job"], "expire-codes");
  EXPECT_EQ(result["status"], "success");
  EXPECT_EQ(result["details"]["codesDeactivated"], 1);

  auto store = OpenStore();
  EXPECT_FALSE((*store->FindNewestCode(expired_user))->is_active);
  EXPECT_TRUE((*store->FindNewestCode(live_user))->is_active);
  bool logged = false;
  for (const auto& e : *store->ListAudit(std::string("automation_worker"), {10, std::nullopt})) {
    logged = logged || (e.action == "expire-codes" && e.status == domain::AuditStatus::kSuccess);
  }
  EXPECT_TRUE(logged);
}

TEST_F(CliTest, JobRunAwardBadgesGrantsOnceAfterTheThreshold) {
  env_["REFERRAL_MASTER_THRESHOLD"] = "2";
  std::string master;
  {
    auto store = OpenStore();
    Seeder seed(*store);
    const auto owner = seed.NewUser();
    master = owner.id;
    const TimePoint now = clock_.Now();
    const auto code = seed.Code(owner, now, 30);
    for (int i = 0; i < 2; ++i) {
      const auto referred = seed.NewUser();
      seed.Track(referred, code.code, now);
      seed.Convert(referred.id, now);
    }
  }
  auto first = Run({"job", "run", "award-badges"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(LastJsonLine(first.out)["details"]["badgesGranted"], 1);
  auto second = Run({"job", "run", "award-badges"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(LastJsonLine(second.out)["details"]["badgesGranted"], 0);

  auto store = OpenStore();
  int badges = 0;
  for (const auto& reward : *store->ListRewards(master, {})) {
    if (reward.type == domain::RewardType::kBadge) {
      ++badges;
      EXPECT_TRUE(reward.is_claimed);
      EXPECT_EQ(reward.value.badge, "Referral Master");
    }
  }
  EXPECT_EQ(badges, 1);
}

TEST_F(CliTest, JobRunHealthCheckWritesItsRow) {
  const auto r = Run({"job", "run", "health-check"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto result = LastJsonLine(r.out);
  EXPECT_EQ(result["status"], "success");
  EXPECT_GT(result["details"]["residentMemoryBytes"].get<std::int64_t>(), 0);
  auto store = OpenStore();
  const auto rows = *store->ListAudit(std::string("automation_worker"), {10, std::nullopt});
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.front().action, "health-check");
  EXPECT_EQ(rows.front().status, domain::AuditStatus::kSuccess);
}

TEST_F(CliTest, JobRunUnknownNameFails) {
  const auto r = Run({"job", "run", "make-coffee"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown job"), std::string::npos) << r.err;
}

TEST_F(CliTest, VerifyAggregatesFindsAndRepairsDifferences) {
  const TimePoint now = clock_.Now();
  std::string loner;
  std::string other;
  std::string loner_code_id;
  {
    auto store = OpenStore();
    Seeder seed(*store);
    const auto owner = seed.NewUser();
    const auto referred = seed.NewUser();
    const auto code = seed.Code(owner, now - days{3});
    seed.Track(referred, code.code, now - days{2});
    seed.Convert(referred.id, now - days{1});
    const auto a = seed.NewUser();
    const auto b = seed.NewUser();
    loner = a.id;
    other = b.id;
    loner_code_id = seed.Code(a, now).id;
    seed.Code(b, now);
  }
  auto r = Run({"verify-aggregates"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("aggregates match the base tables"), std::string::npos) << r.out;

  // A referral loaded behind the service's back: the aggregates never saw it.
  ASSERT_TRUE(db_->TryExec(
      "INSERT INTO referrals (id, referrer_user_id, referred_user_id, referral_code_id, status, "
      "created_at) VALUES ('" +
      NewUuidV7(now, random_) + "', '" + loner + "', '" + other + "', '" + loner_code_id +
      "', 'pending', '" + FormatIso8601(now) + "')"));
  r = Run({"verify-aggregates"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("difference: stats of " + loner), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("difference: leaderboard (all)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--repair"), std::string::npos) << r.out;

  r = Run({"verify-aggregates", "--repair"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("aggregates rebuilt from the base tables; they match now"),
            std::string::npos)
      << r.out;
  r = Run({"verify-aggregates"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto store = OpenStore();
  EXPECT_EQ(store->GetReferrerStats(loner)->total_referrals, 1);
}

// --- serve ------------------------------------------------------------------------------------

class ServeTest : public CliTest {
 protected:
  // Starts `serve` on an ephemeral loopback port and returns the port it printed.
  std::uint16_t StartServe() {
    env_["HOST"] = "127.0.0.1";
    env_["PORT"] = "0";
    child_ = std::make_unique<ChildProcess>(std::vector<std::string>{REFERRALD_BINARY, "serve"},
                                            env_, dir_);
    const auto line = child_->WaitForLine("listening on http://", std::chrono::seconds(30));
    EXPECT_TRUE(line) << child_->output();
    if (!line) return 0;
    const auto colon = line->rfind(':', line->find(" (database"));
    return static_cast<std::uint16_t>(std::stoi(line->substr(colon + 1)));
  }
  std::unique_ptr<ChildProcess> child_;
};

TEST_F(ServeTest, WorkerStartupLinesAndCleanExitOnSigint) {
  env_["ENABLE_AUTOMATION_WORKER"] = "true";
  ASSERT_NE(StartServe(), 0);
  EXPECT_TRUE(child_->WaitForLine("✅ Automation worker started successfully", seconds(10)));
  EXPECT_TRUE(
      child_->WaitForLine("Expired codes cleanup (expire-codes): \"0 2 * * *\"", seconds(10)));
  EXPECT_TRUE(child_->WaitForLine("Badge awards check (award-badges): \"0 3 * * 0\"", seconds(10)));
  EXPECT_TRUE(child_->WaitForLine("Health check (health-check): \"*/5 * * * *\"", seconds(10)));
  child_->Signal(SIGINT);
  EXPECT_EQ(child_->Wait(), 0) << child_->output();
}

TEST_F(ServeTest, DisabledWorkerSaysSo) {
  env_["ENABLE_AUTOMATION_WORKER"] = "false";
  ASSERT_NE(StartServe(), 0);
  EXPECT_TRUE(child_->WaitForLine("Automation worker disabled", seconds(10)));
  child_->Signal(SIGTERM);
  EXPECT_EQ(child_->Wait(), 0);
  EXPECT_EQ(child_->output().find("started successfully"), std::string::npos);
}

TEST_F(ServeTest, JsonLogsCarryOneLinePerRequestAndNoSecrets) {
  env_["LOG_FORMAT"] = "json";
  env_["ENABLE_AUTOMATION_WORKER"] = "false";
  const std::uint16_t port = StartServe();
  ASSERT_NE(port, 0);
  http::Claims claims;
  claims.sub = "11111111-1111-4111-8111-111111111111";
  claims.email = "logs@example.com";
  claims.exp = std::chrono::duration_cast<seconds>(clock_.Now().time_since_epoch()).count() + 3600;
  const std::string token = http::SignToken(claims, kSecret);
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/api/referral/stats", {{"Authorization", "Bearer " + token},
                                                {"X-Request-Id", "log-test-request-1"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(child_->WaitForLine("log-test-request-1", seconds(10)));
  child_->Signal(SIGTERM);
  ASSERT_EQ(child_->Wait(), 0);

  int request_lines = 0;
  std::istringstream lines(child_->output());
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.find(kSecret), std::string::npos) << line;
    EXPECT_EQ(line.find(token), std::string::npos) << line;
    if (line.empty()) continue;
    // Every line, the startup banner included, is one JSON object (contract section 13).
    const auto entry = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(entry.is_object()) << line;
    EXPECT_TRUE(entry.contains("time") && entry.contains("level") && entry.contains("msg"));
    if (entry.value("requestId", "") == "log-test-request-1") {
      ++request_lines;
      EXPECT_EQ(entry["route"], "/api/referral/stats") << line;
      EXPECT_EQ(entry["path"], "/api/referral/stats") << line;
      EXPECT_EQ(entry["status"], 200) << line;
      EXPECT_EQ(entry["method"], "GET") << line;
      EXPECT_EQ(entry["userId"], claims.sub) << line;
      EXPECT_TRUE(entry["durationMs"].is_number()) << line;
    }
  }
  EXPECT_EQ(request_lines, 1);
}

// A request blocked inside the server (on a database lock, held here by another connection) is
// in flight; SIGTERM must let it finish with its real answer and exit 0.
TEST_F(ServeTest, SigtermFinishesInFlightRequestsThenExitsZero) {
  env_["ENABLE_AUTOMATION_WORKER"] = "false";
  const std::uint16_t port = StartServe();
  ASSERT_NE(port, 0);

  WarmUpHttpClient(port);
  auto blocker = db_->HoldWriteLock();

  constexpr int kInFlight = 3;
  std::vector<int> statuses(kInFlight, 0);
  std::vector<std::thread> clients;
  for (int i = 0; i < kInFlight; ++i) {
    clients.emplace_back([&, i] {
      http::Claims claims;
      claims.sub = NewUuidV7(clock_.Now(), random_);
      claims.email = "inflight@example.com";
      claims.exp =
          std::chrono::duration_cast<seconds>(clock_.Now().time_since_epoch()).count() + 3600;
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(seconds(30));
      auto res = client.Post("/api/referral/generate-code",
                             {{"Authorization", "Bearer " + http::SignToken(claims, kSecret)}},
                             "{}", "application/json");
      statuses[static_cast<std::size_t>(i)] = res ? res->status : -1;
    });
  }
  // Wait until the server reports all of them in flight (plus this scrape itself).
  httplib::Client scraper("127.0.0.1", port);
  bool all_in_flight = false;
  const auto deadline = std::chrono::steady_clock::now() + seconds(4);
  while (!all_in_flight && std::chrono::steady_clock::now() < deadline) {
    auto res = scraper.Get("/metrics");
    ASSERT_TRUE(res);
    const auto pos = res->body.find("\nreferrald_http_requests_in_flight ");
    ASSERT_NE(pos, std::string::npos);
    all_in_flight = std::stoi(res->body.substr(pos + 35)) >= kInFlight + 1;
  }
  ASSERT_TRUE(all_in_flight);

  child_->Signal(SIGTERM);
  EXPECT_TRUE(child_->WaitForLine("stopped accepting", seconds(10))) << child_->output();
  // New connections are refused once shutdown began.
  httplib::Client late("127.0.0.1", port);
  late.set_connection_timeout(seconds(2));
  EXPECT_FALSE(late.Get("/health"));

  blocker.reset();
  for (auto& t : clients) t.join();
  for (int status : statuses) EXPECT_EQ(status, 201);
  EXPECT_EQ(child_->Wait(), 0) << child_->output();
}

}  // namespace
}  // namespace referrald::testing
