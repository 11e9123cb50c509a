#include "app/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace referrald::app {
namespace {

TEST(ConfigTest, DefaultsMatchTheContract) {
  auto c = LoadConfig({});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->port, 5000);
  EXPECT_EQ(c->host, "0.0.0.0");
  EXPECT_EQ(c->database_url, "sqlite:data/referrals.db");
  EXPECT_TRUE(c->jwt_secret.empty());
  EXPECT_TRUE(c->referral_enabled);
  EXPECT_EQ(c->referral.code_length, 8);
  EXPECT_EQ(c->referral.code_expiration_days, 365);
  EXPECT_EQ(c->referral.reward_days, 30);
  EXPECT_EQ(c->referral.reward_claim_days, 90);
  EXPECT_EQ(c->referral.reward_hold_days, 0);
  EXPECT_EQ(c->referral.master_threshold, 5);
  EXPECT_TRUE(c->worker_enabled);
  EXPECT_EQ(c->cron_expire_codes, "0 2 * * *");
  EXPECT_EQ(c->cron_award_badges, "0 3 * * 0");
  EXPECT_EQ(c->cron_health_check, "*/5 * * * *");
  EXPECT_EQ(c->cron_purge_idempotency_keys, "15 * * * *");
  EXPECT_EQ(c->idempotency.ttl, std::chrono::hours(24));
}

TEST(ConfigTest, ReadsEveryVariable) {
  auto c = LoadConfig({{"PORT", "8080"},
                       {"HOST", "127.0.0.1"},
                       {"DATABASE_URL", "sqlite::memory:"},
                       {"JWT_SECRET", "0123456789abcdef0123456789abcdef"},
                       {"ENABLE_REFERRAL_SYSTEM", "false"},
                       {"REFERRAL_CODE_LENGTH", "12"},
                       {"REFERRAL_CODE_EXPIRATION_DAYS", "30"},
                       {"REFERRAL_REWARD_DAYS", "7"},
                       {"REFERRAL_REWARD_CLAIM_DAYS", "0"},
                       {"REFERRAL_REWARD_HOLD_DAYS", "14"},
                       {"REFERRAL_MASTER_THRESHOLD", "3"},
                       {"ENABLE_AUTOMATION_WORKER", "false"},
                       {"CRON_HEALTH_CHECK", "*/1 * * * *"},
                       {"CRON_PURGE_IDEMPOTENCY_KEYS", "0 */6 * * *"},
                       {"IDEMPOTENCY_TTL_HOURS", "48"},
                       {"LOG_LEVEL", "debug"},
                       {"LOG_FORMAT", "json"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->port, 8080);
  EXPECT_EQ(c->host, "127.0.0.1");
  EXPECT_EQ(c->database_url, "sqlite::memory:");
  EXPECT_FALSE(c->referral_enabled);
  EXPECT_EQ(c->referral.code_length, 12);
  EXPECT_EQ(c->referral.code_expiration_days, 30);
  EXPECT_EQ(c->referral.reward_days, 7);
  EXPECT_EQ(c->referral.reward_claim_days, 0);
  EXPECT_EQ(c->referral.reward_hold_days, 14);
  EXPECT_EQ(c->referral.master_threshold, 3);
  EXPECT_FALSE(c->worker_enabled);
  EXPECT_EQ(c->cron_health_check, "*/1 * * * *");
  EXPECT_EQ(c->cron_purge_idempotency_keys, "0 */6 * * *");
  EXPECT_EQ(c->idempotency.ttl, std::chrono::hours(48));
  EXPECT_EQ(c->log_format, "json");
}

struct BadValue {
  const char* var;
  const char* value;
};

class ConfigRejectsTest : public ::testing::TestWithParam<BadValue> {};

TEST_P(ConfigRejectsTest, MalformedValueStopsWithTheVariableNamed) {
  const auto& p = GetParam();
  auto c = LoadConfig({{p.var, p.value}});
  ASSERT_FALSE(c) << p.var << "=" << p.value;
  EXPECT_NE(c.error().message.find(p.var), std::string::npos) << c.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    AllVariables, ConfigRejectsTest,
    ::testing::Values(
        BadValue{"PORT", "abc"}, BadValue{"PORT", "70000"}, BadValue{"PORT", "-1"},
        BadValue{"PORT", ""}, BadValue{"HOST", ""}, BadValue{"DATABASE_URL", "mysql://x"},
        BadValue{"DATABASE_URL", "sqlite:"}, BadValue{"JWT_SECRET", "short"},
        BadValue{"ENABLE_REFERRAL_SYSTEM", "maybe"}, BadValue{"REFERRAL_CODE_LENGTH", "abc"},
        BadValue{"REFERRAL_CODE_LENGTH", "5"}, BadValue{"REFERRAL_CODE_LENGTH", "33"},
        BadValue{"REFERRAL_CODE_LENGTH", "8x"}, BadValue{"REFERRAL_CODE_EXPIRATION_DAYS", "0"},
        BadValue{"REFERRAL_REWARD_DAYS", "1.5"}, BadValue{"REFERRAL_REWARD_CLAIM_DAYS", "-1"},
        BadValue{"REFERRAL_MASTER_THRESHOLD", "0"}, BadValue{"ENABLE_AUTOMATION_WORKER", "TRUEISH"},
        BadValue{"CRON_EXPIRE_CODES", "0 2 * *"}, BadValue{"CRON_AWARD_BADGES", "every sunday"},
        BadValue{"CRON_HEALTH_CHECK", "*/5 * * * * *"}, BadValue{"CRON_EXPIRE_CODES", "61 2 * * *"},
        BadValue{"LOG_LEVEL", "loud"}, BadValue{"LOG_FORMAT", "xml"},
        BadValue{"HTTP_WORKER_THREADS", "0"}, BadValue{"CRON_PURGE_IDEMPOTENCY_KEYS", "hourly"},
        BadValue{"IDEMPOTENCY_TTL_HOURS", "0"}, BadValue{"IDEMPOTENCY_TTL_HOURS", "8761"},
        BadValue{"IDEMPOTENCY_TTL_HOURS", "24h"}, BadValue{"IDEMPOTENCY_TTL_HOURS", ""},
        BadValue{"JWT_SECRET", "0123456789abcdef0123456789abcde"},  // 31 characters
        BadValue{"CORS_ALLOWED_ORIGINS", "app.example.com"},
        BadValue{"CORS_ALLOWED_ORIGINS", "https://app.example.com/"},
        BadValue{"CORS_ALLOWED_ORIGINS", "https://app.example.com/path"},
        BadValue{"CORS_ALLOWED_ORIGINS", "ftp://app.example.com"},
        BadValue{"CORS_ALLOWED_ORIGINS", "https://app.example.com,"},
        BadValue{"CORS_ALLOWED_ORIGINS", "https://app.example.com:0"},
        BadValue{"CORS_ALLOWED_ORIGINS", "https://app.example.com:99999"},
        BadValue{"CORS_ALLOWED_ORIGINS", "https://"},
        BadValue{"CORS_ALLOWED_ORIGINS", "https://user@app.example.com"},
        BadValue{"CORS_ALLOWED_ORIGINS", "*,https://app.example.com"},
        BadValue{"CORS_ALLOWED_ORIGINS", "https://*.example.com"},
        BadValue{"REFERRAL_REWARD_HOLD_DAYS", "-1"}, BadValue{"REFERRAL_REWARD_HOLD_DAYS", "3651"},
        BadValue{"REFERRAL_REWARD_HOLD_DAYS", "7d"}, BadValue{"REFERRAL_REWARD_HOLD_DAYS", ""}),
    [](const ::testing::TestParamInfo<BadValue>& param_info) {
      return std::string(param_info.param.var) + "_" + std::to_string(param_info.index);
    });

TEST(ConfigTest, CorsAllowedOriginsAreOriginsOrOneStar) {
  auto c = LoadConfig({{"CORS_ALLOWED_ORIGINS",
                        " https://app.example.com , http://localhost:3000,http://[::1]:8080"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->cors_allowed_origins,
            (std::vector<std::string>{"https://app.example.com", "http://localhost:3000",
                                      "http://[::1]:8080"}));
  c = LoadConfig({{"CORS_ALLOWED_ORIGINS", "*"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->cors_allowed_origins, std::vector<std::string>{"*"});
  for (const char* none : {"", "  "}) {
    c = LoadConfig({{"CORS_ALLOWED_ORIGINS", none}});
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->cors_allowed_origins.empty());
  }
  EXPECT_TRUE(LoadConfig({})->cors_allowed_origins.empty());
}

TEST(ConfigTest, TokensNeedALongSecretThatIsNotThePlaceholder) {
  EXPECT_TRUE(CheckJwtSecretForTokens(std::string(kMinJwtSecretLength, 'x')));
  for (const std::string& bad : {std::string(), std::string(kMinJwtSecretLength - 1, 'x'),
                                 std::string(kJwtSecretPlaceholder)}) {
    const auto checked = CheckJwtSecretForTokens(bad);
    ASSERT_FALSE(checked) << bad;
    EXPECT_NE(checked.error().message.find("JWT_SECRET"), std::string::npos);
  }
  // The placeholder is long enough to load: only serve and token refuse it.
  EXPECT_TRUE(LoadConfig({{"JWT_SECRET", std::string(kJwtSecretPlaceholder)}}));
}

class DotEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("referrald-dotenv-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& text) {
    const auto path = (dir_ / ".env").string();
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(DotEnvTest, ParsesCommentsQuotesAndExport) {
  auto env =
      ReadDotEnv(Write("# comment\n\nPORT=6000\nexport HOST=127.0.0.1\n"
                       "JWT_SECRET=\"with spaces and = sign\"\nCRON_EXPIRE_CODES=0 2 * * *\n"
                       "LOG_LEVEL=debug # trailing comment\n"));
  ASSERT_TRUE(env);
  EXPECT_EQ(env->at("PORT"), "6000");
  EXPECT_EQ(env->at("HOST"), "127.0.0.1");
  EXPECT_EQ(env->at("JWT_SECRET"), "with spaces and = sign");
  EXPECT_EQ(env->at("CRON_EXPIRE_CODES"), "0 2 * * *");
  EXPECT_EQ(env->at("LOG_LEVEL"), "debug");
}

TEST_F(DotEnvTest, MissingFileIsEmptyAndBadLineIsAnError) {
  auto missing = ReadDotEnv((dir_ / "nope").string());
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->empty());
  auto bad = ReadDotEnv(Write("PORT=1\nthis line has no equals\n"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find(":2"), std::string::npos);
}

TEST_F(DotEnvTest, RealEnvironmentWinsOverTheFile) {
  const auto path = Write("REFERRALD_TEST_ONLY_VAR=from-file\nREFERRALD_TEST_FILE_ONLY=file\n");
  ::setenv("REFERRALD_TEST_ONLY_VAR", "from-env", 1);
  auto env = ReadEnvironment(path);
  ::unsetenv("REFERRALD_TEST_ONLY_VAR");
  ASSERT_TRUE(env);
  EXPECT_EQ(env->at("REFERRALD_TEST_ONLY_VAR"), "from-env");
  EXPECT_EQ(env->at("REFERRALD_TEST_FILE_ONLY"), "file");
}

}  // namespace
}  // namespace referrald::app

namespace referrald::app {
namespace {

TEST(ConfigTest, WebhookSettingsDefaultToTheContractAndAreRead) {
  const auto defaults = LoadConfig({});
  ASSERT_TRUE(defaults.has_value());
  EXPECT_FALSE(defaults->webhook_allow_private_networks);
  EXPECT_EQ(defaults->webhook_retry_schedule.max_attempts(), 10);
  EXPECT_EQ(defaults->webhook_poll_interval_ms, 1000);
  const auto c = LoadConfig({{"WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true"},
                             {"WEBHOOK_RETRY_SCHEDULE_SECONDS", "1,2,3"},
                             {"WEBHOOK_POLL_INTERVAL_MS", "50"},
                             {"WEBHOOK_DELIVERY_THREADS", "2"}});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_TRUE(c->webhook_allow_private_networks);
  EXPECT_EQ(c->webhook_retry_schedule.delays(),
            (std::vector<std::chrono::seconds>{std::chrono::seconds(1), std::chrono::seconds(2),
                                               std::chrono::seconds(3)}));
  EXPECT_EQ(c->webhook_poll_interval_ms, 50);
  EXPECT_EQ(c->webhook_delivery_threads, 2);
}

TEST(ConfigTest, MalformedWebhookSettingsNameTheirVariable) {
  for (const auto& [var, value] :
       std::vector<std::pair<std::string, std::string>>{{"WEBHOOK_ALLOW_PRIVATE_NETWORKS", "maybe"},
                                                        {"WEBHOOK_RETRY_SCHEDULE_SECONDS", "1,,2"},
                                                        {"WEBHOOK_RETRY_SCHEDULE_SECONDS", "abc"},
                                                        {"WEBHOOK_RETRY_SCHEDULE_SECONDS", ""},
                                                        {"WEBHOOK_POLL_INTERVAL_MS", "0"},
                                                        {"WEBHOOK_DELIVERY_THREADS", "100"}}) {
    const auto c = LoadConfig({{var, value}});
    ASSERT_FALSE(c.has_value()) << var << "=" << value;
    EXPECT_EQ(c.error().reason, Reason::kInvalidConfig);
    EXPECT_EQ(c.error().message.rfind(var + ":", 0), 0U) << c.error().message;
  }
}

}  // namespace
}  // namespace referrald::app

namespace referrald::app {
namespace {

TEST(ConfigTest, LinkSettingsDefaultAndAreReadNormalised) {
  const auto defaults = LoadConfig({});
  ASSERT_TRUE(defaults.has_value());
  EXPECT_EQ(defaults->public_base_url, "");  // the app uses http://localhost:PORT
  EXPECT_FALSE(defaults->referral_landing_url.has_value());
  for (const auto& [given, origin] : std::vector<std::pair<std::string, std::string>>{
           {"https://ref.example.com", "https://ref.example.com"},
           {"HTTPS://Ref.Example.com/", "https://ref.example.com"},
           {"http://localhost:8080", "http://localhost:8080"},
           {"http://127.0.0.1:5000/", "http://127.0.0.1:5000"},
           {"http://[::1]:5000", "http://[::1]:5000"}}) {
    const auto c = LoadConfig({{"PUBLIC_BASE_URL", given}});
    ASSERT_TRUE(c.has_value()) << given << ": " << c.error().message;
    EXPECT_EQ(c->public_base_url, origin) << given;
  }
  for (const auto& [given, url] : std::vector<std::pair<std::string, std::string>>{
           {"https://app.example.com/signup", "https://app.example.com/signup"},
           {"https://App.example.com/Signup?src=share", "https://app.example.com/Signup?src=share"},
           {"http://localhost:3000", "http://localhost:3000"}}) {
    const auto c = LoadConfig({{"REFERRAL_LANDING_URL", given}});
    ASSERT_TRUE(c.has_value()) << given << ": " << c.error().message;
    EXPECT_EQ(c->referral_landing_url, std::optional<std::string>(url)) << given;
  }
  const auto empty = LoadConfig({{"REFERRAL_LANDING_URL", ""}});
  ASSERT_TRUE(empty.has_value());
  EXPECT_FALSE(empty->referral_landing_url.has_value());
}

TEST(ConfigTest, MalformedLinkSettingsNameTheirVariable) {
  for (const auto& [var, value] : std::vector<std::pair<std::string, std::string>>{
           {"PUBLIC_BASE_URL", ""},
           {"PUBLIC_BASE_URL", "ref.example.com"},
           {"PUBLIC_BASE_URL", "ftp://ref.example.com"},
           {"PUBLIC_BASE_URL", "https://"},
           {"PUBLIC_BASE_URL", "https://ref.example.com/app"},
           {"PUBLIC_BASE_URL", "https://ref.example.com?x=1"},
           {"PUBLIC_BASE_URL", "https://ref.example.com#top"},
           {"PUBLIC_BASE_URL", "https://user@ref.example.com"},
           {"PUBLIC_BASE_URL", "https://ref.example.com:0"},
           {"PUBLIC_BASE_URL", "https://ref.example.com:99999"},
           {"PUBLIC_BASE_URL", "https://ref.example.com:abc"},
           {"PUBLIC_BASE_URL", "https://ref example.com"},
           {"PUBLIC_BASE_URL", "https://[::1"},
           {"REFERRAL_LANDING_URL", "/join"},
           {"REFERRAL_LANDING_URL", "javascript:alert(1)"},
           {"REFERRAL_LANDING_URL", "https://app.example.com/#signup"},
           {"REFERRAL_LANDING_URL", "https://app.example.com/sign up"},
           {"REFERRAL_LANDING_URL", "https://app.example.com/\r\nSet-Cookie: x"},
           {"REFERRAL_LANDING_URL", "https://app.example.com/<x>"},
           {"REFERRAL_LANDING_URL", "https://evil@app.example.com/"}}) {
    const auto c = LoadConfig({{var, value}});
    ASSERT_FALSE(c.has_value()) << var << "=" << value;
    EXPECT_EQ(c.error().reason, Reason::kInvalidConfig);
    EXPECT_EQ(c.error().message.rfind(var + ":", 0), 0U) << c.error().message;
  }
}

}  // namespace
}  // namespace referrald::app
