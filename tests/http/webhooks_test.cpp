// /api/admin/webhooks through real HTTP, with a real receiver on loopback: registration and its
// refusals (SSRF included), signed deliveries checked the way a receiver checks them, retries on
// a short schedule, failure after the last attempt, the deliveries listing, replay, delete.
// The server's clock is a FakeClock: retries fall due when the test moves it.

#include "domain/webhooks.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/server_fixture.hpp"
#include "support/webhook_receiver.hpp"
#include "util/time_format.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

std::set<std::string> Keys(const json& object) {
  std::set<std::string> keys;
  for (const auto& item : object.items()) keys.insert(item.key());
  return keys;
}

class WebhooksTest : public ServerFixture {
 protected:
  void Configure(app::Config& config) override {
    config.webhook_allow_private_networks = true;  // the receiver is on loopback
    config.webhook_retry_schedule = domain::RetrySchedule({seconds(1), seconds(1)});
    config.webhook_poll_interval_ms = 20;
  }

  void SetUp() override {
    ServerFixture::SetUp();
    admin_ = NewUser("admin", /*admin=*/true);
  }

  // Registers `url` (201 expected) and returns the answer's body.
  json Register(const std::string& url, const json& extra = json::object()) {
    json body = extra;
    body["url"] = url;
    const auto reply = Post("/api/admin/webhooks", body, admin_.token);
    EXPECT_EQ(reply.status, 201) << reply.body;
    return reply.Json();
  }

  json Deliveries(const std::string& id) const {
    const auto reply = Get("/api/admin/webhooks/" + id + "/deliveries", admin_.token);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return reply.Json();
  }

  // Moves the server's clock on (so that retries fall due) and wakes its delivery threads, until
  // `done()` holds or `timeout` of real time passed.
  bool AdvanceUntil(const std::function<bool()>& done,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      clock_->Advance(std::chrono::milliseconds(1500));
      application().WakeDeliveries();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  }

  // Every delivery of the endpoint in `status`.
  bool AllDeliveries(const std::string& id, std::size_t count, const std::string& status) const {
    const auto listed = Deliveries(id);
    if (!listed.is_array() || listed.size() != count) return false;
    for (const auto& d : listed) {
      if (d["status"] != status) return false;
    }
    return true;
  }

  // The event feed from the start.
  json Feed() const {
    const auto reply = Get("/api/admin/events?limit=500", admin_.token);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return reply.Json();
  }

  TestUser admin_;
};

TEST_F(WebhooksTest, RegistrationAnswersTheSecretOnceAndTheListingNever) {
  const auto all = Register("http://127.0.0.1:9/all");
  EXPECT_EQ(Keys(all), (std::set<std::string>{"id", "url", "eventTypes", "description", "secret",
                                              "createdAt"}));
  EXPECT_EQ(all["url"], "http://127.0.0.1:9/all");
  EXPECT_TRUE(all["eventTypes"].is_null());  // every type
  EXPECT_TRUE(all["description"].is_null());
  EXPECT_EQ(all["createdAt"], FormatIso8601(clock_->Now()));
  const std::string secret = all["secret"];
  EXPECT_EQ(secret.rfind("whsec_", 0), 0U);
  EXPECT_TRUE(domain::WebhookSecretKey(secret).has_value());
  EXPECT_EQ(domain::WebhookSecretKey(secret)->size(), 32U);

  const auto some =
      Register("https://127.0.0.1/some",
               {{"eventTypes", {"reward.granted", "code.generated", "reward.granted"}},
                {"description", "CRM sync"}});
  EXPECT_EQ(some["eventTypes"], json({"reward.granted", "code.generated"}));
  EXPECT_EQ(some["description"], "CRM sync");
  EXPECT_NE(some["secret"], all["secret"]);

  const auto listed = Get("/api/admin/webhooks", admin_.token);
  ASSERT_EQ(listed.status, 200);
  const auto endpoints = listed.Json();
  ASSERT_EQ(endpoints.size(), 2U);
  for (const auto& endpoint : endpoints) {
    EXPECT_EQ(Keys(endpoint),
              (std::set<std::string>{"id", "url", "eventTypes", "description", "createdAt"}));
  }
  EXPECT_EQ(endpoints[0]["id"], all["id"]);
  EXPECT_EQ(endpoints[1]["eventTypes"], some["eventTypes"]);
  EXPECT_EQ(listed.body.find("whsec_"), std::string::npos);
}

TEST_F(WebhooksTest, RegistrationRefusesBadInputAndNonAdmins) {
  const TestUser user = NewUser();
  ExpectError(Post("/api/admin/webhooks", {{"url", "http://127.0.0.1/"}}, user.token), 403,
              "FORBIDDEN");
  ExpectError(Post("/api/admin/webhooks", json::object(), admin_.token), 400, "VALIDATION_ERROR");
  ExpectError(Post("/api/admin/webhooks", {{"url", 5}}, admin_.token), 400, "VALIDATION_ERROR");
  ExpectError(PostRaw("/api/admin/webhooks", "{", admin_.token), 400, "INVALID_JSON");
  for (const char* url : {"ftp://127.0.0.1/x", "127.0.0.1/x", "not a url", "http://", "",
                          "file:///etc/passwd", "javascript:alert(1)"}) {
    ExpectError(Post("/api/admin/webhooks", {{"url", url}}, admin_.token), 400,
                "INVALID_WEBHOOK_URL");
  }
  ExpectError(Post("/api/admin/webhooks",
                   {{"url", "http://127.0.0.1/" + std::string(domain::kMaxWebhookUrlLength, 'a')}},
                   admin_.token),
              400, "INVALID_WEBHOOK_URL");
  for (const json& types :
       {json::array(), json({"code.generated", "nope"}), json("code.generated"), json({1})}) {
    ExpectError(Post("/api/admin/webhooks", {{"url", "http://127.0.0.1/"}, {"eventTypes", types}},
                     admin_.token),
                400, "VALIDATION_ERROR");
  }
  ExpectError(Post("/api/admin/webhooks",
                   {{"url", "http://127.0.0.1/"},
                    {"description", std::string(domain::kMaxWebhookDescriptionLength + 1, 'd')}},
                   admin_.token),
              400, "VALIDATION_ERROR");
  ExpectError(
      Post("/api/admin/webhooks", {{"url", "http://127.0.0.1/"}, {"description", 3}}, admin_.token),
      400, "VALIDATION_ERROR");
  EXPECT_EQ(Get("/api/admin/webhooks", admin_.token).Json(), json::array());
}

// (a) Once per event, signed: verified from the raw body as a receiver would, with the feed's
// JSON, the event's id as webhook-id and the clock's Unix seconds as webhook-timestamp.
TEST_F(WebhooksTest, EachEventArrivesOnceSignedWithTheFeedsJson) {
  WebhookReceiver receiver;
  const auto endpoint = Register(receiver.url());
  const std::string id = endpoint["id"];
  const TestUser referrer = NewUser("referrer");
  const std::string code = GenerateCode(referrer);
  const TestUser referred = NewUser("referred");
  ASSERT_EQ(Track(referred, code).status, 201);

  ASSERT_TRUE(receiver.WaitForCount(2));
  const auto sent_at =
      std::chrono::duration_cast<seconds>(clock_->Now().time_since_epoch()).count();
  ASSERT_TRUE(AdvanceUntil([&] { return AllDeliveries(id, 2, "succeeded"); }));
  // Delivered, so listed in the feed (on PostgreSQL the feed may hold an event back a moment).
  const auto feed = Feed()["events"];
  ASSERT_EQ(feed.size(), 2U);  // code.generated, referral.tracked
  const auto received = receiver.Received();
  ASSERT_EQ(received.size(), 2U);  // once each: nothing was retried
  std::set<std::string> ids;
  for (const auto& request : received) {
    EXPECT_EQ(request.path, "/hook");
    EXPECT_TRUE(VerifyWebhookSignature(request, endpoint["secret"])) << request.body;
    EXPECT_EQ(request.Header("content-type"), "application/json");
    const auto body = json::parse(request.body);
    EXPECT_EQ(body["id"], request.Header("webhook-id"));
    const auto expected = std::find_if(feed.begin(), feed.end(),
                                       [&](const json& e) { return e["id"] == body["id"]; });
    ASSERT_NE(expected, feed.end());
    EXPECT_EQ(body, *expected);
    EXPECT_EQ(request.Header("webhook-timestamp"), std::to_string(sent_at));
    ids.insert(request.Header("webhook-id"));
    // A tampered body fails the same check.
    ReceivedWebhook tampered = request;
    tampered.body.back() = ' ';
    EXPECT_FALSE(VerifyWebhookSignature(tampered, endpoint["secret"]));
  }
  EXPECT_EQ(ids.size(), 2U);

  const auto listed = Deliveries(id);
  ASSERT_EQ(listed.size(), 2U);
  EXPECT_EQ(listed[0]["eventId"], feed[1]["id"]);  // newest first
  EXPECT_EQ(listed[0]["type"], "referral.tracked");
  EXPECT_EQ(listed[1]["type"], "code.generated");
  for (const auto& d : listed) {
    EXPECT_EQ(Keys(d), (std::set<std::string>{"eventId", "type", "attempt", "status",
                                              "responseStatus", "lastAttemptAt", "nextAttemptAt"}));
    EXPECT_EQ(d["attempt"], 1);
    EXPECT_EQ(d["responseStatus"], 204);
    EXPECT_TRUE(d["lastAttemptAt"].is_string());
    EXPECT_TRUE(d["nextAttemptAt"].is_null());
  }
  EXPECT_EQ(Get("/api/admin/webhooks/" + id + "/deliveries?limit=1", admin_.token).Json().size(),
            1U);
  ExpectError(Get("/api/admin/webhooks/" + id + "/deliveries?limit=0", admin_.token), 400,
              "VALIDATION_ERROR");
  ExpectError(Get("/api/admin/webhooks/" + id + "/deliveries?limit=501", admin_.token), 400,
              "VALIDATION_ERROR");
}

TEST_F(WebhooksTest, AnEndpointGetsOnlyTheTypesItAskedFor) {
  WebhookReceiver all_receiver;
  WebhookReceiver tracked_receiver;
  const auto all = Register(all_receiver.url());
  const auto tracked = Register(tracked_receiver.url(), {{"eventTypes", {"referral.tracked"}}});
  const std::string code = GenerateCode(NewUser("referrer"));
  ASSERT_EQ(Track(NewUser("referred"), code).status, 201);
  ASSERT_TRUE(AdvanceUntil([&] { return AllDeliveries(all["id"], 2, "succeeded"); }));
  ASSERT_TRUE(AdvanceUntil([&] { return AllDeliveries(tracked["id"], 1, "succeeded"); }));
  ASSERT_EQ(tracked_receiver.Received().size(), 1U);
  EXPECT_EQ(json::parse(tracked_receiver.Received()[0].body)["type"], "referral.tracked");
}

// (b) A receiver that answers 500 twice gets the event on the third attempt, with the same
// webhook-id each time; the listing shows each step.
TEST_F(WebhooksTest, FailedAttemptsAreRetriedWithTheSameWebhookId) {
  WebhookReceiver receiver([](std::size_t n) { return n < 2 ? 500 : 200; });
  const auto endpoint = Register(receiver.url());
  const std::string id = endpoint["id"];
  GenerateCode(NewUser());

  ASSERT_TRUE(receiver.WaitForCount(1));
  ASSERT_TRUE(AdvanceUntil([&] {
    const auto listed = Deliveries(id);
    return listed.size() == 1 && listed[0]["attempt"] == 1;
  }));
  const auto pending = Deliveries(id)[0];
  EXPECT_EQ(pending["status"], "pending");  // a failed attempt with retries left
  EXPECT_EQ(pending["responseStatus"], 500);
  EXPECT_TRUE(pending["nextAttemptAt"].is_string());
  EXPECT_GT(*ParseIso8601(pending["nextAttemptAt"].get<std::string>()),
            *ParseIso8601(pending["lastAttemptAt"].get<std::string>()));

  ASSERT_TRUE(AdvanceUntil([&] { return AllDeliveries(id, 1, "succeeded"); }));
  const auto received = receiver.Received();
  ASSERT_EQ(received.size(), 3U);
  for (const auto& request : received) {
    EXPECT_EQ(request.Header("webhook-id"), received[0].Header("webhook-id"));
    EXPECT_EQ(request.body, received[0].body);
    EXPECT_TRUE(VerifyWebhookSignature(request, endpoint["secret"]));
  }
  const auto done = Deliveries(id)[0];
  EXPECT_EQ(done["attempt"], 3);
  EXPECT_EQ(done["responseStatus"], 200);
  EXPECT_TRUE(done["nextAttemptAt"].is_null());
}

// (g) After the last attempt of the schedule (1 + 2 retries here) the delivery is failed and no
// further attempt is made.
TEST_F(WebhooksTest, ADeliveryIsFailedAfterTheLastAttempt) {
  WebhookReceiver receiver([](std::size_t /*n*/) { return 503; });
  const auto endpoint = Register(receiver.url());
  const std::string id = endpoint["id"];
  GenerateCode(NewUser());
  ASSERT_TRUE(AdvanceUntil([&] { return AllDeliveries(id, 1, "failed"); }));
  const auto failed = Deliveries(id)[0];
  EXPECT_EQ(failed["attempt"], 3);
  EXPECT_EQ(failed["responseStatus"], 503);
  EXPECT_TRUE(failed["nextAttemptAt"].is_null());
  // Hours later, still three.
  for (int i = 0; i < 5; ++i) {
    clock_->Advance(std::chrono::hours(30));
    application().WakeDeliveries();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(receiver.Received().size(), 3U);
}

// (d) Replay queues the endpoint's events after a cursor again, delivered with the same
// webhook-id; from the feed's end it queues nothing.
TEST_F(WebhooksTest, ReplayDeliversTheEventsAgainWithTheSameWebhookId) {
  // An event from before the registration: replay from the start includes it.
  GenerateCode(NewUser("early"));
  WebhookReceiver receiver;
  const auto endpoint = Register(receiver.url());
  const std::string id = endpoint["id"];
  GenerateCode(NewUser("late"));
  ASSERT_TRUE(AdvanceUntil([&] { return AllDeliveries(id, 1, "succeeded"); }));
  ASSERT_EQ(receiver.Received().size(), 1U);
  const std::string first_id = receiver.Received()[0].Header("webhook-id");

  const auto feed = Feed();
  ASSERT_EQ(feed["events"].size(), 2U);
  const auto replayed = Post("/api/admin/webhooks/" + id + "/replay", json::object(), admin_.token);
  ASSERT_EQ(replayed.status, 202) << replayed.body;
  EXPECT_EQ(replayed.Json(), json({{"queued", 2}}));
  ASSERT_TRUE(AdvanceUntil([&] { return AllDeliveries(id, 2, "succeeded"); }));
  ASSERT_TRUE(receiver.WaitForCount(3));
  std::multiset<std::string> ids;
  for (const auto& request : receiver.Received()) {
    ids.insert(request.Header("webhook-id"));
    EXPECT_TRUE(VerifyWebhookSignature(request, endpoint["secret"]));
  }
  EXPECT_EQ(ids.count(first_id), 2U);
  EXPECT_EQ(ids.count(feed["events"][0]["id"].get<std::string>()), 1U);

  // No body at all is the same as {}; after the feed's end: nothing.
  const auto whole = PostRaw("/api/admin/webhooks/" + id + "/replay", "", admin_.token);
  EXPECT_EQ(whole.status, 202);
  EXPECT_EQ(whole.Json()["queued"], 2);
  const auto none =
      Post("/api/admin/webhooks/" + id + "/replay", {{"after", feed["nextCursor"]}}, admin_.token);
  EXPECT_EQ(none.status, 202);
  EXPECT_EQ(none.Json()["queued"], 0);
  ExpectError(Post("/api/admin/webhooks/" + id + "/replay", {{"after", "nope"}}, admin_.token), 400,
              "INVALID_CURSOR");
  ExpectError(Post("/api/admin/webhooks/" + id + "/replay", {{"after", 12}}, admin_.token), 400,
              "INVALID_CURSOR");
}

// (h) DELETE answers 204, then 404 for the endpoint everywhere; its deliveries stop.
TEST_F(WebhooksTest, ADeletedEndpointIsNotFoundEverywhere) {
  WebhookReceiver receiver;
  const auto endpoint = Register(receiver.url());
  const auto kept = Register(receiver.url() + "?kept");
  const std::string id = endpoint["id"];
  GenerateCode(NewUser());
  ASSERT_TRUE(AdvanceUntil([&] {
    return AllDeliveries(id, 1, "succeeded") && AllDeliveries(kept["id"], 1, "succeeded");
  }));

  const auto deleted = Delete("/api/admin/webhooks/" + id, admin_.token);
  EXPECT_EQ(deleted.status, 204);
  EXPECT_TRUE(deleted.body.empty());
  ExpectError(Delete("/api/admin/webhooks/" + id, admin_.token), 404, "WEBHOOK_NOT_FOUND");
  ExpectError(Get("/api/admin/webhooks/" + id + "/deliveries", admin_.token), 404,
              "WEBHOOK_NOT_FOUND");
  ExpectError(Post("/api/admin/webhooks/" + id + "/replay", json::object(), admin_.token), 404,
              "WEBHOOK_NOT_FOUND");
  const auto listed = Get("/api/admin/webhooks", admin_.token).Json();
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0]["id"], kept["id"]);
  // Ids that name nothing: 404 too, as for any unknown resource.
  for (const char* bad : {"not-a-uuid", "00000000-0000-4000-8000-000000000000"}) {
    ExpectError(Delete(std::string("/api/admin/webhooks/") + bad, admin_.token), 404,
                "WEBHOOK_NOT_FOUND");
    ExpectError(Get(std::string("/api/admin/webhooks/") + bad + "/deliveries", admin_.token), 404,
                "WEBHOOK_NOT_FOUND");
  }
  ExpectError(Delete("/api/admin/webhooks/" + id, NewUser().token), 403, "FORBIDDEN");
  // New events reach the endpoint that is left only.
  const std::size_t before = receiver.Received().size();
  GenerateCode(NewUser());
  ASSERT_TRUE(AdvanceUntil([&] { return AllDeliveries(kept["id"], 2, "succeeded"); }));
  EXPECT_EQ(receiver.Received().size(), before + 1);
  EXPECT_EQ(receiver.Received().back().path, "/hook");
}

// (f) Without WEBHOOK_ALLOW_PRIVATE_NETWORKS: loopback, private and link-local URLs are refused at
// registration, and a URL that resolves to such an address is refused again when sending.
class WebhooksPrivateNetworksTest : public WebhooksTest {
 protected:
  void Configure(app::Config& config) override {
    WebhooksTest::Configure(config);
    config.webhook_allow_private_networks = false;
  }
};

TEST_F(WebhooksPrivateNetworksTest, NonPublicAddressesAreRefusedAtRegistration) {
  for (const char* url : {"http://127.0.0.1/hook", "http://localhost:8080/hook",
                          "https://[::1]/hook", "http://10.1.2.3/", "http://192.168.1.1/",
                          "http://172.16.0.1/", "http://169.254.169.254/latest/meta-data/",
                          "http://100.64.0.1/", "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/",
                          "http://[fe80::1]/", "http://[fd00::1]/", "http://2130706433/",
                          "http://0x7f.0.0.1/", "http://127.1/", "http://user:pass@127.0.0.1/"}) {
    ExpectError(Post("/api/admin/webhooks", {{"url", url}}, admin_.token), 400,
                "INVALID_WEBHOOK_URL");
  }
  EXPECT_EQ(Get("/api/admin/webhooks", admin_.token).Json(), json::array());
}

TEST_F(WebhooksPrivateNetworksTest, AnAddressThatTurnsOutLoopbackIsRefusedWhenSending) {
  WebhookReceiver receiver;
  // Stored behind the registration's back, as if the name had resolved publicly back then.
  const domain::WebhookEndpoint endpoint{
      "0190a000-0000-7000-8000-000000000001",
      "http://localhost:" + std::to_string(receiver.port()) + "/hook",
      std::nullopt,
      std::nullopt,
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      clock_->Now()};
  ASSERT_TRUE(application().store().InsertWebhook(endpoint).has_value());
  GenerateCode(NewUser());
  ASSERT_TRUE(AdvanceUntil([&] { return AllDeliveries(endpoint.id, 1, "failed"); }));
  const auto failed = Deliveries(endpoint.id)[0];
  EXPECT_EQ(failed["attempt"], 3);
  EXPECT_TRUE(failed["responseStatus"].is_null());  // never connected
  EXPECT_TRUE(receiver.Received().empty());
}

}  // namespace
}  // namespace referrald::testing
