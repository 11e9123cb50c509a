// Contract section 13 for operators, on the real `referrald` binary: --version, usage errors
// (exit 2, naming what is valid), JWT_SECRET refusals, and LOG_FORMAT=json making every line of
// `serve` one JSON object.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/config.hpp"
#include "http/jwt.hpp"
#include "support/process.hpp"
#include "support/serve_process.hpp"
#include "support/test_database.hpp"
#include "util/version.hpp"

namespace referrald::testing {
namespace {

using std::chrono::seconds;

constexpr const char* kSecret = "operators-cli-secret-0123456789abcdef";

class OperatorsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "referrald-ops-cli-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    db_ = TestDatabase::Create();
    env_ = {{"PATH", "/usr/bin:/bin"},
            {"JWT_SECRET", kSecret},
            {"DATABASE_URL", db_->url()},
            {"HOST", "127.0.0.1"},
            {"PORT", "0"}};
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

  ProcessResult Token() {
    return Run({"token", "--sub", "11111111-1111-4111-8111-111111111111", "--email", "a@b.c"});
  }

  std::string dir_;
  std::unique_ptr<TestDatabase> db_;
  ProcessEnv env_;
};

TEST_F(OperatorsCliTest, VersionPrintsTheBuildsVersion) {
  const auto r = Run({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(std::string(Version())), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
}

TEST_F(OperatorsCliTest, UsageErrorsExit2AndNameWhatIsValid) {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> named;  // what the message must name
  };
  const std::vector<Case> cases = {
      {{"bogus"}, {"bogus", "serve", "migrate", "token", "job", "verify-aggregates"}},
      {{"--bogus"}, {"--bogus", "serve", "token", "--version"}},
      {{"token", "--bogus", "x"}, {"--sub", "--email", "--role", "--ttl"}},
      {{"token", "--email", "a@b.c"}, {"--sub"}},
      {{"token", "--sub"}, {"--sub", "--email"}},
      {{"job"}, {"run"}},
      {{"job", "walk"}, {"run"}},
      {{"job", "run"}, {"NAME"}},
      {{"verify-aggregates", "--fix"}, {"--repair"}},
  };
  for (const auto& c : cases) {
    std::string command;
    for (const auto& arg : c.args) command += " " + arg;
    SCOPED_TRACE(command);
    const auto r = Run(c.args);
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    for (const auto& name : c.named) EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  // --help is not an error.
  EXPECT_EQ(Run({"token", "--help"}).exit_code, 0);
}

TEST_F(OperatorsCliTest, ServeAndTokenRefuseAShortSecret) {
  env_["JWT_SECRET"] = std::string(app::kMinJwtSecretLength - 1, 'k');
  for (const auto& r : {Run({"serve"}), Token()}) {
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.err.find("JWT_SECRET"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("32"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(env_["JWT_SECRET"]), std::string::npos) << "the secret was echoed";
  }
  env_["JWT_SECRET"] = std::string(app::kMinJwtSecretLength, 'k');
  EXPECT_EQ(Token().exit_code, 0);
}

// The .env.example of the repository, copied as a new user would: serve and token refuse its
// placeholder secret, and the other commands run with it.
TEST_F(OperatorsCliTest, ServeAndTokenRefuseThePlaceholderOfDotEnvExample) {
  std::filesystem::copy_file(std::string(REFERRALD_SOURCE_DIR) + "/.env.example", dir_ + "/.env");
  env_.erase("JWT_SECRET");
  for (const auto& r : {Run({"serve"}), Token()}) {
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.err.find("JWT_SECRET"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("placeholder"), std::string::npos) << r.err;
  }
  const auto migrated = Run({"migrate"});
  EXPECT_EQ(migrated.exit_code, 0) << migrated.err;
  // The same refusal whatever the source of the value.
  env_["JWT_SECRET"] = std::string(app::kJwtSecretPlaceholder);
  EXPECT_EQ(Token().exit_code, 2);
}

// Every line `serve` prints, stdout and stderr, start-up banner to shutdown, is one JSON object;
// an access line carries its values as fields.
TEST_F(OperatorsCliTest, JsonLogsMakeEveryLineOfServeAJsonObject) {
  ServeProcess serve(
      db_->url(),
      {{"LOG_FORMAT", "json"}, {"LOG_LEVEL", "info"}, {"ENABLE_AUTOMATION_WORKER", "true"}});
  ASSERT_NE(serve.port(), 0);
  httplib::Client client("127.0.0.1", serve.port());
  const std::string user = "22222222-2222-4222-8222-222222222222";
  const std::string token = RealTimeToken(user, "json-logs@example.com");
  auto ok = client.Get("/api/referral/stats",
                       {{"Authorization", "Bearer " + token}, {"X-Request-Id", "json-ok"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  http::Claims expired_claims;
  expired_claims.sub = user;
  expired_claims.exp = 1000;
  const std::string expired = http::SignToken(expired_claims, kServeJwtSecret);
  auto refused = client.Get("/api/referral/stats",
                            {{"Authorization", "Bearer " + expired}, {"X-Request-Id", "json-401"}});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  auto missing = client.Get("/no/such/path", {{"X-Request-Id", "json-404"}});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(serve.Stop(SIGTERM), 0);

  std::map<std::string, nlohmann::json> requests;  // by requestId
  bool banner = false;
  bool jobs = false;
  bool token_refused = false;
  bool stopped = false;
  std::istringstream lines(serve.Output());
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.find(token), std::string::npos) << "a token was logged";
    EXPECT_EQ(line.find(expired), std::string::npos) << "a token was logged";
    EXPECT_EQ(line.find(kServeJwtSecret), std::string::npos) << "the secret was logged";
    const auto entry = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(entry.is_object()) << "not a JSON object: " << line;
    EXPECT_TRUE(entry.contains("time") && entry.contains("level")) << line;
    const std::string msg = entry.value("msg", "");
    banner = banner || msg.find("listening on http://") != std::string::npos;
    jobs = jobs || msg.find("Expired codes cleanup (expire-codes)") != std::string::npos;
    token_refused = token_refused || (msg.find("TOKEN_EXPIRED") != std::string::npos &&
                                      msg.find("json-401") != std::string::npos);
    stopped = stopped || msg == "stopped";
    if (entry.contains("requestId")) requests[entry.value("requestId", "")] = entry;
  }
  EXPECT_TRUE(banner && jobs && token_refused && stopped) << serve.Output();

  ASSERT_EQ(requests.count("json-ok"), 1U) << serve.Output();
  const auto& ok_line = requests.at("json-ok");
  EXPECT_EQ(ok_line["method"], "GET");
  EXPECT_EQ(ok_line["route"], "/api/referral/stats");
  EXPECT_EQ(ok_line["path"], "/api/referral/stats");
  EXPECT_EQ(ok_line["status"], 200);
  EXPECT_TRUE(ok_line["durationMs"].is_number());
  EXPECT_EQ(ok_line["userId"], user);

  ASSERT_EQ(requests.count("json-401"), 1U);
  EXPECT_EQ(requests.at("json-401")["status"], 401);
  EXPECT_TRUE(requests.at("json-401")["userId"].is_null());

  ASSERT_EQ(requests.count("json-404"), 1U);
  EXPECT_EQ(requests.at("json-404")["status"], 404);
  EXPECT_TRUE(requests.at("json-404")["route"].is_null());
  EXPECT_EQ(requests.at("json-404")["path"], "/no/such/path");
}

// A configuration error of serve, on stderr, is a JSON line too (naming the variable).
TEST_F(OperatorsCliTest, JsonLogsCoverServesConfigurationErrors) {
  env_["LOG_FORMAT"] = "json";
  env_["CORS_ALLOWED_ORIGINS"] = "https://app.example.com/path";
  const auto r = Run({"serve"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  std::istringstream lines(r.err);
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    const auto entry = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(entry.is_object()) << line;
    EXPECT_EQ(entry["level"], "error");
    EXPECT_NE(entry.value("msg", "").find("CORS_ALLOWED_ORIGINS"), std::string::npos) << line;
  }
  EXPECT_EQ(count, 1) << r.err;
}

}  // namespace
}  // namespace referrald::testing
