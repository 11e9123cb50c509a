// Handlers are plain functions from Request to Response: called here directly, without a socket,
// on real services over a real store of the backend this run tests.

#include "http/handlers/handlers.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "delivery/target_resolver.hpp"
#include "domain/jobs.hpp"
#include "domain/referral_service.hpp"
#include "domain/subscription_service.hpp"
#include "domain/user_directory.hpp"
#include "domain/webhook_service.hpp"
#include "http/jwt.hpp"
#include "support/fake_clock.hpp"
#include "support/test_database.hpp"

namespace referrald::http {
namespace {

using nlohmann::json;

constexpr const char* kUser = "00000000-0000-4000-8000-0000000000a1";

class HandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    store_ = db_->Open();
    referrals_ = std::make_unique<domain::ReferralService>(*store_, clock_, random_, ids_,
                                                           domain::ReferralSettings{}, &metrics_);
    subscriptions_ = std::make_unique<domain::SubscriptionService>(*store_, payments_, *referrals_,
                                                                   clock_, ids_);
    users_ = std::make_unique<domain::UserDirectory>(*store_, clock_);
    jobs_ = std::make_unique<domain::JobRunner>(*store_, clock_, ids_, domain::ReferralSettings{},
                                                clock_.Now(), &metrics_);
    idempotency_ = std::make_unique<domain::IdempotencyService>(*store_, clock_, ids_,
                                                                domain::IdempotencySettings{});
    webhooks_ =
        std::make_unique<domain::WebhookService>(*store_, resolver_, clock_, random_, ids_, false);
    personal_data_ =
        std::make_unique<domain::PersonalDataService>(*store_, clock_, ids_, *subscriptions_);
    deps_ = std::make_unique<Dependencies>(
        Dependencies{*referrals_, *subscriptions_, *users_, *store_, clock_, random_, jwt_, *jobs_,
                     metrics_, abuse_, *idempotency_, *webhooks_, *personal_data_, clock_.Now()});
    ASSERT_TRUE(users_->Ensure(domain::Actor{kUser, std::string("a@example.com")}));
  }

  Request As(const std::string& user, std::string body = "") const {
    Request request;
    request.method = "POST";
    request.body = std::move(body);
    request.request_id = "req-1";
    request.caller.user_id = user;
    return request;
  }

  testing::FakeClock clock_;
  SystemRandom random_;
  UuidV7Generator ids_{random_};
  Metrics metrics_;
  domain::AbuseGuard abuse_{domain::AbuseLimits{}, clock_};
  delivery::SystemTargetResolver resolver_;
  std::unique_ptr<domain::WebhookService> webhooks_;
  std::unique_ptr<domain::PersonalDataService> personal_data_;
  domain::SandboxPaymentProvider payments_{ids_, clock_};
  JwtVerifier jwt_{"handlers-test-secret-0123"};
  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<domain::Store> store_;
  std::unique_ptr<domain::ReferralService> referrals_;
  std::unique_ptr<domain::SubscriptionService> subscriptions_;
  std::unique_ptr<domain::UserDirectory> users_;
  std::unique_ptr<domain::JobRunner> jobs_;
  std::unique_ptr<domain::IdempotencyService> idempotency_;
  std::unique_ptr<Dependencies> deps_;
};

TEST_F(HandlersTest, GenerateCodeAnswersCreatedThenConflictWithTheCode) {
  const Response created = HandleGenerateCode(As(kUser, R"({"expiresInDays": 7})"), *deps_);
  ASSERT_EQ(created.status, status::kCreated) << created.body;
  const json body = json::parse(created.body);
  EXPECT_EQ(body.size(), 4U);
  EXPECT_EQ(body["userId"], kUser);
  EXPECT_EQ(body["code"].get<std::string>().size(), 8U);
  EXPECT_EQ(body["shareUrl"], "http://localhost:5000/r/" + body["code"].get<std::string>());

  const Response again = HandleGenerateCode(As(kUser), *deps_);
  EXPECT_EQ(again.status, status::kConflict);
  const json error = json::parse(again.body);
  EXPECT_EQ(error["code"], "CODE_EXISTS");
  EXPECT_EQ(error["referralCode"], body["code"]);
  EXPECT_EQ(error["requestId"], "req-1");
}

TEST_F(HandlersTest, BodyErrorsAreAnsweredBeforeAnyDomainCall) {
  EXPECT_EQ(HandleGenerateCode(As(kUser, "{"), *deps_).status, status::kBadRequest);
  EXPECT_EQ(HandleGenerateCode(As(kUser, R"({"expiresInDays": "7"})"), *deps_).status,
            status::kBadRequest);
  EXPECT_EQ(HandleTrack(As(kUser, "[]"), *deps_).status, status::kBadRequest);
  EXPECT_EQ(HandleClaimReward(As(kUser, R"({"rewardId": "nope"})"), *deps_).status,
            status::kBadRequest);
  // Nothing was written: the user still has no code.
  EXPECT_EQ(HandleGetCode(As(kUser), *deps_).status, status::kNotFound);
}

TEST_F(HandlersTest, DomainRefusalsMapToTheContractStatuses) {
  const Response created = HandleGenerateCode(As(kUser), *deps_);
  const std::string code = json::parse(created.body)["code"];
  const Response self = HandleTrack(As(kUser, json{{"referralCode", code}}.dump()), *deps_);
  EXPECT_EQ(self.status, status::kBadRequest);
  EXPECT_EQ(json::parse(self.body)["code"], "SELF_REFERRAL");
  const Response unknown = HandleConvert(
      As(kUser, json{{"referredUserId", "00000000-0000-4000-8000-0000000000ff"}}.dump()), *deps_);
  EXPECT_EQ(unknown.status, status::kNotFound);
  EXPECT_EQ(json::parse(unknown.body)["code"], "REFERRAL_NOT_FOUND");
}

TEST_F(HandlersTest, OperationsHandlers) {
  Request request = As(kUser);
  request.route_params = {{"name", "health-check"}};
  const Response run = HandleRunJob(request, *deps_);
  EXPECT_EQ(run.status, status::kOk);
  EXPECT_EQ(json::parse(run.body)["status"], "success");

  request.route_params = {{"name", "nope"}};
  EXPECT_EQ(HandleRunJob(request, *deps_).status, status::kNotFound);

  const Response metrics = HandleMetrics(As(""), *deps_);
  EXPECT_EQ(metrics.status, status::kOk);
  EXPECT_EQ(metrics.Header("Content-Type").value_or(""),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body.find("referrald_job_runs_total{job=\"health-check\"} 1"),
            std::string::npos)
      << metrics.body;
  EXPECT_EQ(HandleHealth(As(""), *deps_).status, status::kOk);
}

}  // namespace
}  // namespace referrald::http
