// Webhooks across real `referrald serve` processes on one database (SQLite file or PostgreSQL):
// two instances deliver each event once in all, and deliveries survive a restart while the
// receiver is down.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "support/serve_process.hpp"
#include "support/server_fixture.hpp"
#include "support/test_database.hpp"
#include "support/webhook_receiver.hpp"
#include "util/random.hpp"
#include "util/uuid.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;

const ProcessEnv kFastWebhooks{
    {"ENABLE_AUTOMATION_WORKER", "false"},
    {"WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true"},
    {"WEBHOOK_RETRY_SCHEDULE_SECONDS", "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1"},
    {"WEBHOOK_POLL_INTERVAL_MS", "50"}};

class WebhookInstancesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::Create();
    db_->Open();  // migrate once up front
    admin_ = RealTimeToken(NewId(), "admin@example.com", /*admin=*/true);
  }

  static std::string NewId() {
    static SystemRandom random;
    return NewUuidV7(SystemClock().Now(), random);
  }

  // A code for a new user, through `instance`: one code.generated event.
  static void NewEvent(const ServeProcess& instance) {
    const std::string user = NewId();
    const auto reply = SendRequest(instance.port(), "POST", "/api/referral/generate-code", "{}",
                                   RealTimeToken(user, "u" + user.substr(28) + "@example.com"));
    EXPECT_EQ(reply.status, 201) << reply.body;
  }

  json Register(const ServeProcess& instance, const std::string& url) const {
    const auto reply = SendRequest(instance.port(), "POST", "/api/admin/webhooks",
                                   json{{"url", url}}.dump(), admin_);
    EXPECT_EQ(reply.status, 201) << reply.body;
    return reply.Json();
  }

  // Whether every delivery of the endpoint has succeeded, and there are `count`.
  bool AllSucceeded(const ServeProcess& instance, const std::string& id, std::size_t count) const {
    const auto reply = SendRequest(
        instance.port(), "GET", "/api/admin/webhooks/" + id + "/deliveries?limit=500", "", admin_);
    const auto listed = reply.Json();
    if (!listed.is_array() || listed.size() != count) return false;
    for (const auto& d : listed) {
      if (d["status"] != "succeeded") return false;
    }
    return true;
  }

  static std::map<std::string, int> CountById(const std::vector<ReceivedWebhook>& received) {
    std::map<std::string, int> counts;
    for (const auto& request : received) ++counts[request.Header("webhook-id")];
    return counts;
  }

  std::unique_ptr<TestDatabase> db_;
  std::string admin_;
};

// (e) Both instances poll the same deliveries; each event reaches the receiver once in all.
TEST_F(WebhookInstancesTest, TwoInstancesDeliverEachEventOnceInAll) {
  ServeProcess a(db_->url(), kFastWebhooks);
  ServeProcess b(db_->url(), kFastWebhooks);
  ASSERT_NE(a.port(), 0);
  ASSERT_NE(b.port(), 0);
  WarmUpHttpClient(a.port());
  WebhookReceiver receiver;
  const auto endpoint = Register(a, receiver.url());
  constexpr int kEvents = 24;
  for (int i = 0; i < kEvents; ++i) NewEvent(i % 2 == 0 ? a : b);

  ASSERT_TRUE(receiver.WaitFor([](const auto& received) {
    return CountById(received).size() >= static_cast<std::size_t>(kEvents);
  })) << receiver.Received().size();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!AllSucceeded(b, endpoint["id"], kEvents) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(AllSucceeded(a, endpoint["id"], kEvents));
  const auto counts = CountById(receiver.Received());
  EXPECT_EQ(counts.size(), static_cast<std::size_t>(kEvents));
  for (const auto& [id, count] : counts) EXPECT_EQ(count, 1) << id;
  for (const auto& request : receiver.Received()) {
    EXPECT_TRUE(VerifyWebhookSignature(request, endpoint["secret"]));
  }
  EXPECT_EQ(a.Stop(SIGTERM), 0);
  EXPECT_EQ(b.Stop(SIGTERM), 0);
}

// (c) The receiver is down while the service restarts: what was queued before, and what comes
// after, all arrives once the receiver is back.
TEST_F(WebhookInstancesTest, DeliveriesSurviveARestartWhileTheReceiverIsDown) {
  WebhookReceiver receiver;
  receiver.Down();
  std::string id;
  std::string secret;
  {
    ServeProcess first(db_->url(), kFastWebhooks);
    ASSERT_NE(first.port(), 0);
    WarmUpHttpClient(first.port());
    const auto endpoint = Register(first, receiver.url());
    id = endpoint["id"];
    secret = endpoint["secret"];
    for (int i = 0; i < 3; ++i) NewEvent(first);
    // Wait until every delivery has failed at least once (the receiver refuses connections).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    bool attempted = false;
    while (!attempted && std::chrono::steady_clock::now() < deadline) {
      const auto listed =
          SendRequest(first.port(), "GET", "/api/admin/webhooks/" + id + "/deliveries", "", admin_)
              .Json();
      attempted = listed.is_array() && listed.size() == 3 &&
                  std::all_of(listed.begin(), listed.end(), [](const json& d) {
                    return d["attempt"].get<int>() >= 1 && d["status"] == "pending";
                  });
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(attempted);
    EXPECT_EQ(first.Stop(SIGTERM), 0);  // promptly, with attempts in flight
  }
  ServeProcess second(db_->url(), kFastWebhooks);
  ASSERT_NE(second.port(), 0);
  WarmUpHttpClient(second.port());
  receiver.Up();
  for (int i = 0; i < 2; ++i) NewEvent(second);
  ASSERT_TRUE(receiver.WaitFor([](const auto& received) {
    return CountById(received).size() >= 5;
  })) << receiver.Received().size();
  for (const auto& request : receiver.Received()) {
    EXPECT_TRUE(VerifyWebhookSignature(request, secret));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!AllSucceeded(second, id, 5) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(AllSucceeded(second, id, 5));
  EXPECT_EQ(second.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace referrald::testing
