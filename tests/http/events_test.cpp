// GET /api/admin/events through real HTTP: who may read it, its parameters, its paging, and that
// every change of state emits exactly its event (§10's data fields), and a refused request none.

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/server_fixture.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;

std::set<std::string> Keys(const json& object) {
  std::set<std::string> keys;
  for (const auto& item : object.items()) keys.insert(item.key());
  return keys;
}

class EventsTest : public ServerFixture {
 protected:
  void Configure(app::Config& config) override { config.referral.master_threshold = 2; }

  void SetUp() override {
    ServerFixture::SetUp();
    admin_ = NewUser("admin", /*admin=*/true);
  }

  HttpReply Events(const std::string& query) const {
    return Get("/api/admin/events" + query, admin_.token);
  }

  // The events after cursor_, page by page (`limit` each, `type` when set), until a page comes
  // back empty; moves cursor_ to where the feed goes on.
  std::vector<json> ReadOn(int limit = 500, const std::string& type = "") {
    std::vector<json> events;
    while (true) {
      std::string query = "?limit=" + std::to_string(limit);
      if (!cursor_.empty()) query += "&after=" + cursor_;
      if (!type.empty()) query += "&type=" + type;
      const auto reply = Events(query);
      EXPECT_EQ(reply.status, 200) << reply.body;
      const auto body = reply.Json();
      EXPECT_EQ(Keys(body), (std::set<std::string>{"events", "nextCursor"})) << reply.body;
      if (!body["events"].is_array() || !body["nextCursor"].is_string()) return events;
      EXPECT_LE(body["events"].size(), static_cast<std::size_t>(limit));
      cursor_ = body["nextCursor"].get<std::string>();
      if (body["events"].empty()) return events;
      for (const auto& event : body["events"]) events.push_back(event);
    }
  }

  // ReadOn until at least `count` events came (or a minute passed): on PostgreSQL an event is
  // listed once every older transaction on the server has ended, and other tests run beside.
  std::vector<json> ReadAtLeast(std::size_t count, int limit = 500, const std::string& type = "") {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    std::vector<json> events = ReadOn(limit, type);
    while (events.size() < count && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      const auto more = ReadOn(limit, type);
      events.insert(events.end(), more.begin(), more.end());
    }
    return events;
  }

  // Every event emitted since the last look: a sentinel change (a new user's code) is made and
  // the feed read up to its event, so whatever was committed before is final and none is missed.
  std::vector<json> NewEvents() {
    const std::string sentinel = GenerateCode(NewUser("sentinel"));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    std::vector<json> events;
    while (std::chrono::steady_clock::now() < deadline) {
      for (const auto& event : ReadOn()) {
        if (event["type"] == "code.generated" && event["data"]["code"] == sentinel) return events;
        events.push_back(event);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ADD_FAILURE() << "the sentinel event never came";
    return events;
  }

  // The one event emitted since the last look, checked to be of `type` at the fake clock's now,
  // with exactly the data fields of §10; returns its data.
  json OnlyNewEvent(const std::string& type, const std::set<std::string>& fields) {
    const auto events = NewEvents();
    EXPECT_EQ(events.size(), 1U) << json(events).dump();
    if (events.size() != 1U) return json::object();
    ExpectEvent(events[0], type, fields);
    return events[0]["data"];
  }

  void ExpectEvent(const json& event, const std::string& type,
                   const std::set<std::string>& fields) const {
    EXPECT_EQ(Keys(event), (std::set<std::string>{"id", "type", "occurredAt", "data"}))
        << event.dump();
    EXPECT_TRUE(IsUuid(event.value("id", ""))) << event.dump();
    EXPECT_EQ(event["type"], type) << event.dump();
    EXPECT_EQ(event["occurredAt"], FormatIso8601(clock_->Now())) << event.dump();
    EXPECT_EQ(Keys(event["data"]), fields) << event.dump();
  }

  HttpReply Subscribe(const TestUser& user, const std::string& nonce = "payment-nonce") const {
    return Post("/api/subscriptions/create", {{"tier", "premium"}, {"nonce", nonce}}, user.token);
  }
  HttpReply Convert(const std::string& referred_user_id) const {
    return Post("/api/referral/convert", {{"referredUserId", referred_user_id}}, admin_.token);
  }
  HttpReply Claim(const TestUser& user, const std::string& reward_id) const {
    return Post("/api/referral/claim-reward", {{"rewardId", reward_id}}, user.token);
  }

  TestUser admin_;
  std::string cursor_;  // empty: from the first event
};

TEST_F(EventsTest, TheFeedIsForAdminsOnly) {
  const auto user = NewUser();
  ExpectError(Get("/api/admin/events", ""), 401, "TOKEN_MISSING");
  ExpectError(Get("/api/admin/events", "not-a-token"), 401, "TOKEN_INVALID");
  ExpectError(Get("/api/admin/events", user.token), 403, "FORBIDDEN");
  const auto reply = Events("");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.Header("Content-Type"), "application/json");
  const auto body = reply.Json();
  EXPECT_EQ(body["events"], json::array());
  ASSERT_TRUE(body["nextCursor"].is_string());
  EXPECT_FALSE(body["nextCursor"].get<std::string>().empty());
}

TEST_F(EventsTest, BadParametersAnswer400) {
  GenerateCode(NewUser());
  for (const std::string& after :
       {std::string("garbage"), std::string(""), std::string("AAAA"), std::string(300, 'A'),
        std::string("AQAAAAAAAAAAAAAAAAAAAAE%3D"), std::string("AQAAAAAAAAAAAAAAAAAAAAF"),
        std::string("AgAAAAAAAAAAAAAAAAAAAAE")}) {
    SCOPED_TRACE(after);
    ExpectError(Events("?after=" + after), 400, "INVALID_CURSOR");
  }
  for (const std::string limit : {"0", "501", "abc", "", "-1", "10.5"}) {
    SCOPED_TRACE(limit);
    ExpectError(Events("?limit=" + limit), 400, "VALIDATION_ERROR");
  }
  for (const std::string type : {"nope", "", "CODE.GENERATED", "code"}) {
    SCOPED_TRACE(type);
    ExpectError(Events("?type=" + type), 400, "VALIDATION_ERROR");
  }
  // A cursor from a page is accepted, so are the bounds.
  const auto page = Events("?limit=1").Json();
  EXPECT_EQ(Events("?after=" + page["nextCursor"].get<std::string>()).status, 200);
  EXPECT_EQ(Events("?limit=500&type=code.generated").status, 200);
}

TEST_F(EventsTest, EachStateChangeEmitsExactlyItsEventWithTheContractFields) {
  const auto referrer = NewUser("referrer");
  const auto referred = NewUser("referred");

  // code.generated
  const auto generated = Post("/api/referral/generate-code", json::object(), referrer.token);
  ASSERT_EQ(generated.status, 201) << generated.body;
  auto data = OnlyNewEvent("code.generated", {"code", "userId", "expiresAt"});
  EXPECT_EQ(data["code"], generated.Json()["code"]);
  EXPECT_EQ(data["userId"], referrer.id);
  EXPECT_EQ(data["expiresAt"], generated.Json()["expiresAt"]);
  const std::string code = generated.Json()["code"];

  // referral.tracked
  const auto tracked = Track(referred, " " + code + " ");
  ASSERT_EQ(tracked.status, 201) << tracked.body;
  const std::string referral_id = tracked.Json()["referralId"];
  data =
      OnlyNewEvent("referral.tracked", {"referralId", "referrerUserId", "referredUserId", "code"});
  EXPECT_EQ(data, json({{"referralId", referral_id},
                        {"referrerUserId", referrer.id},
                        {"referredUserId", referred.id},
                        {"code", code}}));

  // subscription.created, then the conversion: referral.converted and reward.granted, in that
  // order, in the subscription's transaction.
  const auto subscribed = Subscribe(referred);
  ASSERT_EQ(subscribed.status, 201) << subscribed.body;
  auto events = NewEvents();
  ASSERT_EQ(events.size(), 3U) << json(events).dump();
  ExpectEvent(events[0], "subscription.created", {"subscriptionId", "userId", "tier"});
  EXPECT_EQ(events[0]["data"], json({{"subscriptionId", subscribed.Json()["subscriptionId"]},
                                     {"userId", referred.id},
                                     {"tier", "premium"}}));
  ExpectEvent(events[1], "referral.converted",
              {"referralId", "referrerUserId", "referredUserId", "rewardId"});
  ExpectEvent(events[2], "reward.granted",
              {"rewardId", "userId", "rewardType", "rewardValue", "referralId"});
  const std::string reward_id = events[1]["data"].value("rewardId", "");
  EXPECT_EQ(events[1]["data"], json({{"referralId", referral_id},
                                     {"referrerUserId", referrer.id},
                                     {"referredUserId", referred.id},
                                     {"rewardId", reward_id}}));
  EXPECT_EQ(events[2]["data"], json({{"rewardId", reward_id},
                                     {"userId", referrer.id},
                                     {"rewardType", "free_premium"},
                                     {"rewardValue", {{"days", 30}}},
                                     {"referralId", referral_id}}));
  EXPECT_NE(events[0]["id"], events[1]["id"]);
  EXPECT_NE(events[1]["id"], events[2]["id"]);
  const auto rewards = Get("/api/referral/rewards", referrer.token).Json();
  ASSERT_EQ(rewards.size(), 1U);
  EXPECT_EQ(rewards[0]["id"], reward_id);

  // reward.claimed
  clock_->Advance(std::chrono::hours(1));
  ASSERT_EQ(Claim(referrer, reward_id).status, 200);
  data = OnlyNewEvent("reward.claimed", {"rewardId", "userId", "rewardType"});
  EXPECT_EQ(
      data,
      json({{"rewardId", reward_id}, {"userId", referrer.id}, {"rewardType", "free_premium"}}));

  // A conversion by an admin: referral.converted and reward.granted.
  const auto second = NewUser("second");
  ASSERT_EQ(Track(second, code).status, 201);
  NewEvents();
  const auto converted = Convert(second.id);
  ASSERT_EQ(converted.status, 200) << converted.body;
  events = NewEvents();
  ASSERT_EQ(events.size(), 2U) << json(events).dump();
  EXPECT_EQ(events[0]["type"], "referral.converted");
  EXPECT_EQ(events[0]["data"]["referralId"], converted.Json()["referralId"]);
  EXPECT_EQ(events[0]["data"]["referredUserId"], second.id);
  EXPECT_EQ(events[1]["type"], "reward.granted");
  EXPECT_EQ(events[1]["data"]["userId"], referrer.id);

  // badge.awarded, by the worker's job (threshold 2).
  const auto job = Post("/api/admin/jobs/award-badges/run", json::object(), admin_.token);
  ASSERT_EQ(job.status, 200) << job.body;
  ASSERT_EQ(job.Json()["details"]["badgesGranted"], 1) << job.body;
  data = OnlyNewEvent("badge.awarded", {"rewardId", "userId", "badge"});
  EXPECT_EQ(data["userId"], referrer.id);
  EXPECT_EQ(data["badge"], "Referral Master");
  bool badge_listed = false;
  for (const auto& reward : Get("/api/referral/rewards", referrer.token).Json()) {
    badge_listed =
        badge_listed || (reward["id"] == data["rewardId"] && reward["rewardType"] == "badge");
  }
  EXPECT_TRUE(badge_listed);

  // A subscription without a pending referral: subscription.created alone.
  const auto loner = NewUser("loner");
  ASSERT_EQ(Subscribe(loner).status, 201);
  data = OnlyNewEvent("subscription.created", {"subscriptionId", "userId", "tier"});
  EXPECT_EQ(data["userId"], loner.id);

  // Reads, and jobs that change nothing of §10's, emit nothing.
  Get("/api/referral/stats", referrer.token);
  Get("/api/referral/code", referrer.token);
  Post("/api/admin/jobs/health-check/run", json::object(), admin_.token);
  Post("/api/admin/jobs/award-badges/run", json::object(), admin_.token);
  EXPECT_TRUE(NewEvents().empty());
}

TEST_F(EventsTest, RefusedRequestsEmitNothing) {
  const auto referrer = NewUser("referrer");
  const auto referred = NewUser("referred");
  const auto subscriber = NewUser("subscriber");
  const std::string code = GenerateCode(referrer);
  ASSERT_EQ(Track(referred, code).status, 201);
  ASSERT_EQ(Subscribe(subscriber).status, 201);
  const auto before = NewEvents();
  ASSERT_EQ(before.size(), 3U);

  const auto stranger = NewUser("stranger");
  const std::vector<std::pair<HttpReply, int>> refused = {
      {Post("/api/referral/generate-code", json::object(), referrer.token), 409},
      {Post("/api/referral/generate-code", {{"expiresInDays", 0}}, stranger.token), 400},
      {PostRaw("/api/referral/generate-code", "{", stranger.token), 400},
      {Track(stranger, "ZZZZZZZZ"), 400},
      {Track(referrer, code), 400},  // own code
      {Track(referred, code), 409},  // already referred
      {Claim(referrer, NewUserId()), 404},
      {Claim(referrer, "not-a-uuid"), 400},
      {Subscribe(stranger, "fake-processor-declined"), 402},
      {Subscribe(subscriber), 409},
      {Post("/api/subscriptions/create", {{"tier", "gold"}, {"nonce", "n"}}, stranger.token), 400},
      {Convert(stranger.id), 404},
      {Post("/api/referral/convert", {{"referredUserId", referred.id}}, referrer.token), 403},
  };
  for (std::size_t i = 0; i < refused.size(); ++i) {
    EXPECT_EQ(refused[i].first.status, refused[i].second) << i << ": " << refused[i].first.body;
  }
  // Circular: the referred user's own code, tracked by its referrer.
  const std::string referred_code = GenerateCode(referred);
  ASSERT_EQ(NewEvents().size(), 1U);
  EXPECT_EQ(Track(referrer, referred_code).status, 400);
  // Claimed already, and converted already.
  ASSERT_EQ(Convert(referred.id).status, 200);
  const auto granted = NewEvents();
  ASSERT_EQ(granted.size(), 2U);
  const std::string reward_id = granted[1]["data"]["rewardId"];
  ASSERT_EQ(Claim(referrer, reward_id).status, 200);
  ASSERT_EQ(NewEvents().size(), 1U);
  EXPECT_EQ(Claim(referrer, reward_id).status, 404);
  EXPECT_EQ(Convert(referred.id).status, 409);

  EXPECT_TRUE(NewEvents().empty());
}

TEST_F(EventsTest, PagesFollowTheCursorTheDefaultLimitAndTheType) {
  std::vector<std::string> codes;
  for (int i = 0; i < 101; ++i) codes.push_back(GenerateCode(NewUser()));
  const auto referred = NewUser("referred");
  ASSERT_EQ(Track(referred, codes[7]).status, 201);

  // Small pages see every event once, in order.
  const std::vector<json> paged = ReadAtLeast(102, 7);
  ASSERT_EQ(paged.size(), 102U);
  for (std::size_t i = 0; i < 101; ++i) EXPECT_EQ(paged[i]["data"]["code"], codes[i]);
  EXPECT_EQ(paged[101]["type"], "referral.tracked");

  // Default limit 100: the first page holds the first 100, the next one the rest.
  const auto first = Events("").Json();
  ASSERT_EQ(first["events"].size(), 100U);
  for (std::size_t i = 0; i < 100; ++i) EXPECT_EQ(first["events"][i], paged[i]);
  const auto second = Events("?after=" + first["nextCursor"].get<std::string>()).Json();
  ASSERT_EQ(second["events"].size(), 2U);
  EXPECT_EQ(second["events"][0], paged[100]);
  EXPECT_EQ(second["events"][1], paged[101]);
  EXPECT_EQ(second["nextCursor"], cursor_);

  // The end of the feed: the cursor answers nothing until a new event, then only that one.
  const std::string end = cursor_;
  const auto empty = Events("?after=" + end).Json();
  EXPECT_EQ(empty["events"], json::array());
  EXPECT_EQ(empty["nextCursor"], end);
  const std::string later_code = GenerateCode(NewUser("later"));
  const auto newer = ReadAtLeast(1);
  ASSERT_EQ(newer.size(), 1U);
  EXPECT_EQ(newer[0]["data"]["code"], later_code);
  EXPECT_EQ(Events("?after=" + end).Json()["events"], json::array({newer[0]}));

  // By type.
  cursor_.clear();
  const auto tracks = ReadOn(2, "referral.tracked");
  ASSERT_EQ(tracks.size(), 1U);
  EXPECT_EQ(tracks[0]["data"]["referredUserId"], referred.id);
  cursor_.clear();
  EXPECT_EQ(ReadOn(50, "code.generated").size(), 102U);
  cursor_.clear();
  EXPECT_TRUE(ReadOn(10, "reward.revoked").empty());
}

}  // namespace
}  // namespace referrald::testing
