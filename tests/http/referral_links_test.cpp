// Referral links through real HTTP (contract section 12): GET /r/{code} redirects and counts a
// click once per code, visitor and UTC day; the 404 and /join pages; shareUrl; and the clicks in
// stats, analytics and trends. On the backend this run tests.

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "support/server_fixture.hpp"
#include "util/time_format.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;
using std::chrono::hours;

constexpr auto kDay = hours(24);
constexpr const char* kPolicy =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

class ReferralLinksTest : public ServerFixture {
 protected:
  void Configure(app::Config& config) override {
    config.public_base_url = "https://ref.example.com";
  }

  void SetUp() override {
    ServerFixture::SetUp();
    admin_ = NewUser("admin", /*admin=*/true);
    owner_ = NewUser("owner");
    code_ = GenerateCode(owner_);
  }

  [[nodiscard]] HttpReply Visit(const std::string& path,
                                const std::string& user_agent = "browser-a",
                                ExtraHeaders headers = {}) const {
    headers.emplace("User-Agent", user_agent);
    return Get(path, "", headers);
  }

  [[nodiscard]] json Stats(const TestUser& user) const {
    return Get("/api/referral/stats", user.token).Json();
  }
  [[nodiscard]] std::int64_t Clicks(const TestUser& user) const {
    return Stats(user)["clicks"].get<std::int64_t>();
  }

  // The 404 page of an unusable link: HTML under the strict policy, no script.
  static void ExpectNotFoundPage(const HttpReply& reply) {
    EXPECT_EQ(reply.status, 404) << reply.body;
    EXPECT_EQ(reply.Header("Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(reply.Header("Content-Security-Policy"), kPolicy);
    EXPECT_EQ(reply.Header("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(reply.Header("Location"), "");
    EXPECT_NE(reply.body.find("<!DOCTYPE html>"), std::string::npos) << reply.body;
    EXPECT_EQ(reply.body.find("<script"), std::string::npos) << reply.body;
    EXPECT_EQ(reply.body.find("style="), std::string::npos) << reply.body;
  }

  TestUser admin_;
  TestUser owner_;
  std::string code_;
};

TEST_F(ReferralLinksTest, ARedirectGoesToTheBuiltInLandingPageAndCountsAClick) {
  EXPECT_EQ(Clicks(owner_), 0);
  const auto reply = Visit("/r/" + code_);
  EXPECT_EQ(reply.status, 302) << reply.body;
  EXPECT_EQ(reply.Header("Location"), "/join?ref=" + code_);
  EXPECT_EQ(reply.Header("Cache-Control"), "no-store");
  EXPECT_FALSE(reply.Header("X-Request-Id").empty());
  EXPECT_EQ(Clicks(owner_), 1);
}

TEST_F(ReferralLinksTest, CodesMatchTrimmedAndInAnyCase) {
  for (const std::string& path :
       {"/r/" + Lower(code_), "/r/%20" + code_ + "%09", "/R/" + Lower(code_) + "/"}) {
    SCOPED_TRACE(path);
    const auto reply = Visit(path);
    EXPECT_EQ(reply.status, 302) << reply.body;
    EXPECT_EQ(reply.Header("Location"), "/join?ref=" + code_);
  }
  EXPECT_EQ(Clicks(owner_), 1);  // one visitor, one day
}

TEST_F(ReferralLinksTest, UnknownMalformedInactiveAndExpiredCodesAnswerA404Page) {
  ExpectNotFoundPage(Visit("/r/ZZZZZZZZ"));
  ExpectNotFoundPage(Visit("/r/%ZZ"));
  ExpectNotFoundPage(Visit("/r/%3Cscript%3E"));
  ExpectNotFoundPage(Visit("/r/" + std::string(40, 'A')));

  const auto user = NewUser("short");
  const std::string expiring = GenerateCode(user, {{"expiresInDays", 1}});
  EXPECT_EQ(Visit("/r/" + expiring).status, 302);
  clock_->Advance(2 * kDay);
  ExpectNotFoundPage(Visit("/r/" + expiring));   // expired, still flagged active
  const std::string fresh = GenerateCode(user);  // deactivates the expired one
  ExpectNotFoundPage(Visit("/r/" + expiring));
  EXPECT_EQ(Visit("/r/" + fresh).status, 302);
  EXPECT_EQ(Clicks(user), 2);  // the refused visits counted nothing
}

TEST_F(ReferralLinksTest, AVisitorCountsOncePerDayAnotherUserAgentIsAnotherVisitor) {
  EXPECT_EQ(Visit("/r/" + code_, "browser-a").status, 302);
  EXPECT_EQ(Visit("/r/" + code_, "browser-a").status, 302);
  EXPECT_EQ(Clicks(owner_), 1);
  EXPECT_EQ(Visit("/r/" + code_, "browser-b").status, 302);
  EXPECT_EQ(Clicks(owner_), 2);
  // Just before UTC midnight: the same day. Just after: counted again.
  clock_->Set(AddDays(StartOfUtcDay(clock_->Now()), 1) - std::chrono::milliseconds(1));
  EXPECT_EQ(Visit("/r/" + code_, "browser-a").status, 302);
  EXPECT_EQ(Clicks(owner_), 2);
  clock_->Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(Visit("/r/" + code_, "browser-a").status, 302);
  EXPECT_EQ(Clicks(owner_), 3);
}

TEST_F(ReferralLinksTest, TheClientAddressIsThePeersUnlessForwardedForIsTrusted) {
  // Not trusted (the default): X-Forwarded-For does not make another visitor.
  EXPECT_EQ(Visit("/r/" + code_, "same", {{"X-Forwarded-For", "203.0.113.1"}}).status, 302);
  EXPECT_EQ(Visit("/r/" + code_, "same", {{"X-Forwarded-For", "203.0.113.2"}}).status, 302);
  EXPECT_EQ(Clicks(owner_), 1);
}

TEST_F(ReferralLinksTest, AHeadRequestIsNoVisit) {
  httplib::Client client("127.0.0.1", port());
  const auto reply = client.Head("/r/" + code_, {{"User-Agent", "link-checker"}});
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 302);
  EXPECT_EQ(reply->get_header_value("Location"), "/join?ref=" + code_);
  EXPECT_EQ(Clicks(owner_), 0);
}

TEST_F(ReferralLinksTest, CodesCarryTheirShareUrl) {
  const auto other = NewUser();
  const auto generated = Post("/api/referral/generate-code", json::object(), other.token);
  ASSERT_EQ(generated.status, 201) << generated.body;
  const std::string code = generated.Json()["code"];
  EXPECT_EQ(generated.Json()["shareUrl"], "https://ref.example.com/r/" + code);
  const auto current = Get("/api/referral/code", other.token);
  ASSERT_EQ(current.status, 200) << current.body;
  EXPECT_EQ(current.Json()["shareUrl"], "https://ref.example.com/r/" + code);
}

TEST_F(ReferralLinksTest, StatsAnalyticsAndTrendsCountClicksAndTheFunnel) {
  for (const char* agent : {"a", "b", "c", "d"}) {
    ASSERT_EQ(Visit("/r/" + code_, agent).status, 302);
  }
  const auto referred = NewUser("referred");
  ASSERT_EQ(Track(referred, code_).status, 201);

  const auto stats = Stats(owner_);
  EXPECT_EQ(stats, json({{"totalReferrals", 1},
                         {"convertedReferrals", 0},
                         {"pendingReferrals", 1},
                         {"totalRewardsEarned", 0},
                         {"clicks", 4}}));
  for (const char* period : {"all", "week", "month"}) {
    SCOPED_TRACE(period);
    const auto analytics =
        Get(std::string("/api/referral/analytics?period=") + period, admin_.token).Json();
    EXPECT_EQ(analytics["clicks"], 4);
    EXPECT_EQ(analytics["totalReferrals"], 1);
    EXPECT_DOUBLE_EQ(analytics["clickToSignupRate"].get<double>(), 25.0);
  }
  ASSERT_EQ(Visit("/r/" + code_, "e").status, 302);
  ASSERT_EQ(Visit("/r/" + code_, "f").status, 302);
  EXPECT_DOUBLE_EQ(
      Get("/api/referral/analytics", admin_.token).Json()["clickToSignupRate"].get<double>(),
      16.7);  // 1 / 6, one decimal

  const auto trends = Get("/api/referral/trends?days=2", admin_.token).Json();
  ASSERT_EQ(trends.size(), 2U);
  EXPECT_EQ(trends[0]["clicks"], 0);
  EXPECT_EQ(trends[1], json({{"date", FormatDate(clock_->Now())},
                             {"signups", 1},
                             {"conversions", 0},
                             {"clicks", 6}}));

  // A week later the week has no clicks and no signups: the rate is 0, all time keeps them.
  clock_->Advance(8 * kDay);
  const auto week = Get("/api/referral/analytics?period=week", admin_.token).Json();
  EXPECT_EQ(week["clicks"], 0);
  EXPECT_DOUBLE_EQ(week["clickToSignupRate"].get<double>(), 0.0);
  EXPECT_EQ(Get("/api/referral/analytics", admin_.token).Json()["clicks"], 6);
}

TEST_F(ReferralLinksTest, TheJoinPageShowsTheCodeAndNothingElseOfTheUrl) {
  const auto reply = Get("/join?ref=%20" + Lower(code_), "");
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(reply.Header("Content-Security-Policy"), kPolicy);
  EXPECT_NE(reply.body.find(">" + code_ + "<"), std::string::npos) << reply.body;
  EXPECT_EQ(reply.body.find("<script"), std::string::npos);

  const auto hostile = Get("/join?ref=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "");
  EXPECT_EQ(hostile.status, 200);
  EXPECT_EQ(hostile.body.find("<script"), std::string::npos) << hostile.body;
  EXPECT_EQ(hostile.body.find("alert"), std::string::npos) << hostile.body;
  EXPECT_EQ(Get("/join", "").status, 200);
}

TEST_F(ReferralLinksTest, RaceConcurrentIdenticalClicksCountOnce) {
  constexpr int kClients = 16;
  std::latch start(kClients);
  std::atomic<int> redirected{0};
  std::vector<std::thread> clients;
  clients.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      start.arrive_and_wait();
      const auto reply =
          SendRequest(port(), "GET", "/r/" + code_, "", "", {{"User-Agent", "the-same-browser"}});
      if (reply.status == 302) ++redirected;
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(redirected.load(), kClients);
  EXPECT_EQ(Clicks(owner_), 1);
}

// Behind a load balancer: the last hop of X-Forwarded-For is the visitor's address.
class TrustedForwardedForLinksTest : public ReferralLinksTest {
 protected:
  void Configure(app::Config& config) override {
    ReferralLinksTest::Configure(config);
    config.trust_forwarded_for = true;
  }
};

TEST_F(TrustedForwardedForLinksTest, EachForwardedAddressIsAVisitor) {
  EXPECT_EQ(Visit("/r/" + code_, "same", {{"X-Forwarded-For", "198.51.100.7, 203.0.113.1"}}).status,
            302);
  EXPECT_EQ(Visit("/r/" + code_, "same", {{"X-Forwarded-For", "198.51.100.8, 203.0.113.1"}}).status,
            302);
  EXPECT_EQ(Clicks(owner_), 1);  // the same last hop
  EXPECT_EQ(Visit("/r/" + code_, "same", {{"X-Forwarded-For", "203.0.113.2"}}).status, 302);
  EXPECT_EQ(Clicks(owner_), 2);
}

// REFERRAL_LANDING_URL set: visitors go there, ref= joining its query.
class LandingUrlLinksTest : public ReferralLinksTest {
 protected:
  void Configure(app::Config& config) override {
    ReferralLinksTest::Configure(config);
    config.referral_landing_url = "https://app.example.com/signup?src=share";
  }
};

TEST_F(LandingUrlLinksTest, TheRedirectGoesToTheLandingUrl) {
  const auto reply = Visit("/r/" + Lower(code_));
  EXPECT_EQ(reply.status, 302);
  EXPECT_EQ(reply.Header("Location"), "https://app.example.com/signup?src=share&ref=" + code_);
  EXPECT_EQ(Clicks(owner_), 1);
  ExpectNotFoundPage(Visit("/r/ZZZZZZZZ"));
}

}  // namespace
}  // namespace referrald::testing
