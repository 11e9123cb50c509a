// Contract §13 through the real server: paged lists followed through their Link headers (also
// while rows are inserted between pages), bad limit/after, the admin referral list and user
// look-up, the personal-data export, and erasure (what it erases, what it keeps, and the erased
// user's tokens refused).

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "support/server_fixture.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class PersonalDataTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    admin_ = NewUser("admin", /*admin=*/true);
  }

  // The URL of a `Link: <URL>; rel="next"` header; "" when there is none.
  static std::string NextLink(const HttpReply& reply) {
    const std::string link = reply.Header("Link");
    if (link.empty()) return {};
    EXPECT_EQ(link.front(), '<') << link;
    const auto end = link.find('>');
    EXPECT_NE(end, std::string::npos) << link;
    EXPECT_EQ(link.substr(end), ">; rel=\"next\"") << link;
    return link.substr(1, end - 1);
  }

  // Every page from `path` on, following Link headers; `between` runs before each next page.
  std::vector<json> FollowPages(std::string path, const std::string& token, std::size_t* pages,
                                const std::function<void()>& between = {}) {
    std::vector<json> items;
    *pages = 0;
    while (!path.empty()) {
      const auto reply = Get(path, token);
      EXPECT_EQ(reply.status, 200) << path << " " << reply.body;
      if (reply.status != 200) break;
      ++*pages;
      for (const auto& item : reply.Json()) items.push_back(item);
      path = NextLink(reply);
      if (!path.empty() && between) between();
    }
    return items;
  }

  // A referral of a new user to `referrer`'s code, converted (a reward for the referrer).
  TestUser Referred(const std::string& code, bool convert) {
    TestUser user = NewUser("referred");
    EXPECT_EQ(Track(user, code).status, 201);
    if (convert) {
      EXPECT_EQ(Post("/api/referral/convert", {{"referredUserId", user.id}}, admin_.token).status,
                200);
    }
    clock_->Advance(seconds(1));
    return user;
  }

  TestUser admin_;
};

TEST_F(PersonalDataTest, RewardsArePagedThroughLinkHeadersWithoutDuplicatesOrSkipsWhileRowsArrive) {
  const TestUser referrer = NewUser("referrer");
  const std::string code = GenerateCode(referrer);
  for (int i = 0; i < 7; ++i) Referred(code, /*convert=*/true);
  const auto all = Get("/api/referral/rewards?limit=500", referrer.token).Json();
  ASSERT_EQ(all.size(), 7U);

  std::size_t pages = 0;
  int inserted = 0;
  const auto items = FollowPages("/api/referral/rewards?limit=2", referrer.token, &pages, [&] {
    Referred(code, /*convert=*/true);  // a newer reward arrives between pages
    ++inserted;
  });
  EXPECT_EQ(pages, 4U);
  EXPECT_EQ(inserted, 3);
  EXPECT_EQ(items, std::vector<json>(all.begin(), all.end()));  // same rows, same order, once
  // The next page's URL keeps the limit; the last page has no Link.
  const auto first = Get("/api/referral/rewards?limit=3", referrer.token);
  EXPECT_EQ(NextLink(first).rfind("/api/referral/rewards?limit=3&after=", 0), 0U)
      << NextLink(first);
  EXPECT_TRUE(Get("/api/referral/rewards", referrer.token).Header("Link").empty());
}

TEST_F(PersonalDataTest, MyReferralsAreNewestFirstMaskedAndPaged) {
  const TestUser referrer = NewUser("referrer");
  const std::string code = GenerateCode(referrer);
  std::vector<TestUser> referred;
  for (int i = 0; i < 5; ++i) referred.push_back(Referred(code, /*convert=*/i == 1));
  std::size_t pages = 0;
  const auto items = FollowPages("/api/referral/referrals?limit=2", referrer.token, &pages);
  EXPECT_EQ(pages, 3U);
  ASSERT_EQ(items.size(), 5U);
  for (std::size_t i = 0; i < 5; ++i) {
    const auto& item = items[i];
    EXPECT_EQ(item.size(), 5U) << item;
    EXPECT_EQ(item["referredEmail"], "r***@example.com");
    EXPECT_EQ(item["status"], i == 3 ? "converted" : "pending");
    EXPECT_EQ(item["convertedAt"].is_null(), i != 3);
    EXPECT_TRUE(item["createdAt"].is_string());
  }
  EXPECT_TRUE(Get("/api/referral/referrals", NewUser().token).Json().empty());
}

TEST_F(PersonalDataTest, AdminReferralsFilterByStatusAndReferrerAndKeepThemInTheLink) {
  const TestUser alice = NewUser("alice");
  const TestUser bob = NewUser("bob");
  const std::string alice_code = GenerateCode(alice);
  const std::string bob_code = GenerateCode(bob);
  for (int i = 0; i < 3; ++i) Referred(alice_code, /*convert=*/i == 0);
  const TestUser bobs = Referred(bob_code, /*convert=*/true);

  const auto all = Get("/api/admin/referrals", admin_.token);
  ASSERT_EQ(all.status, 200) << all.body;
  ASSERT_EQ(all.Json().size(), 4U);
  const auto newest = all.Json()[0];
  EXPECT_EQ(newest["referrerUserId"], bob.id);
  EXPECT_EQ(newest["referredUserId"], bobs.id);
  EXPECT_EQ(newest["code"], bob_code);
  EXPECT_EQ(newest["status"], "converted");
  EXPECT_EQ(newest.size(), 7U);

  std::size_t pages = 0;
  const auto converted =
      FollowPages("/api/admin/referrals?status=converted&limit=1", admin_.token, &pages);
  EXPECT_EQ(pages, 2U);
  EXPECT_EQ(converted.size(), 2U);
  const auto link = NextLink(Get("/api/admin/referrals?status=converted&limit=1", admin_.token));
  EXPECT_NE(link.find("status=converted"), std::string::npos) << link;
  EXPECT_NE(link.find("limit=1"), std::string::npos) << link;

  const auto alices = Get("/api/admin/referrals?referrerUserId=" + alice.id, admin_.token).Json();
  EXPECT_EQ(alices.size(), 3U);
  for (const auto& r : alices) EXPECT_EQ(r["referrerUserId"], alice.id);
  EXPECT_EQ(Get("/api/admin/referrals?referrerUserId=" + alice.id + "&status=pending", admin_.token)
                .Json()
                .size(),
            2U);

  ExpectError(Get("/api/admin/referrals?status=lost", admin_.token), 400, "VALIDATION_ERROR");
  ExpectError(Get("/api/admin/referrals?referrerUserId=nope", admin_.token), 400,
              "VALIDATION_ERROR");
  ExpectError(Get("/api/admin/referrals", alice.token), 403, "FORBIDDEN");
}

TEST_F(PersonalDataTest, BadLimitOrAfterIsRefusedOnEveryPagedList) {
  const TestUser user = NewUser();
  const std::string rewards_cursor = [&] {
    const std::string code = GenerateCode(user);
    Referred(code, true);
    Referred(code, true);
    return NextLink(Get("/api/referral/rewards?limit=1", user.token));
  }();
  ASSERT_FALSE(rewards_cursor.empty());
  const std::string cursor = rewards_cursor.substr(rewards_cursor.find("after=") + 6);
  for (const auto& [path, token] : std::vector<std::pair<std::string, std::string>>{
           {"/api/referral/rewards", user.token},
           {"/api/referral/referrals", user.token},
           {"/api/admin/referrals", admin_.token},
           {"/api/admin/automation-logs", admin_.token}}) {
    SCOPED_TRACE(path);
    for (const std::string bad : {"0", "501", "abc", "-1", ""}) {
      ExpectError(Get(path + "?limit=" + bad, token), 400, "VALIDATION_ERROR");
    }
    for (const std::string bad : {"x", "", "AAAA", "%21"}) {
      ExpectError(Get(path + "?after=" + bad, token), 400, "INVALID_CURSOR");
    }
    EXPECT_EQ(Get(path + "?limit=500&after=" + cursor, token).status, 200);
  }
  // A cursor of another list's shape (the event feed's) is not a page cursor.
  const auto feed = Get("/api/admin/events?limit=1", admin_.token).Json();
  ExpectError(
      Get("/api/referral/rewards?after=" + feed["nextCursor"].get<std::string>(), user.token), 400,
      "INVALID_CURSOR");
}

TEST_F(PersonalDataTest, AutomationLogsDefaultToAHundredAndPageThroughLinks) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Post("/api/admin/jobs/health-check/run", json::object(), admin_.token).status, 200);
    clock_->Advance(seconds(1));
  }
  const auto reply = Get("/api/admin/automation-logs?service=automation_worker", admin_.token);
  const json all = reply.Json();
  ASSERT_EQ(all.size(), 10U);  // pending + success per run
  EXPECT_TRUE(reply.Header("Link").empty());
  std::size_t pages = 0;
  const auto items = FollowPages("/api/admin/automation-logs?service=automation_worker&limit=3",
                                 admin_.token, &pages);
  EXPECT_EQ(pages, 4U);
  EXPECT_EQ(items, std::vector<json>(all.begin(), all.end()));
}

TEST_F(PersonalDataTest, AdminLooksUpOneUser) {
  const TestUser referrer = NewUser("referrer");
  const std::string code = GenerateCode(referrer);
  const TestUser user = Referred(code, /*convert=*/false);
  const std::string users_code = GenerateCode(user);
  Referred(users_code, /*convert=*/true);

  const auto reply = Get("/api/admin/users/" + user.id, admin_.token);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto body = reply.Json();
  EXPECT_EQ(body["id"], user.id);
  EXPECT_EQ(body["email"], user.email);
  EXPECT_TRUE(body["createdAt"].is_string());
  EXPECT_TRUE(body["premiumUntil"].is_null());
  EXPECT_TRUE(body["erasedAt"].is_null());
  EXPECT_EQ(body["code"], Get("/api/referral/code", user.token).Json());
  EXPECT_EQ(body["referrer"]["userId"], referrer.id);
  EXPECT_EQ(body["referrer"]["status"], "pending");
  EXPECT_TRUE(body["referrer"]["referralId"].is_string());
  EXPECT_EQ(body["stats"], Get("/api/referral/stats", user.token).Json());
  EXPECT_EQ(body["rewards"], Get("/api/referral/rewards", user.token).Json());
  EXPECT_EQ(body["rewards"].size(), 1U);
  EXPECT_EQ(body["subscription"], Get("/api/subscriptions/me", user.token).Json());
  EXPECT_EQ(body.size(), 10U);

  const auto lone = NewUser();
  ASSERT_EQ(Get("/api/referral/stats", lone.token).status, 200);  // provisions it
  const auto lone_body = Get("/api/admin/users/" + lone.id, admin_.token).Json();
  EXPECT_TRUE(lone_body["code"].is_null());
  EXPECT_TRUE(lone_body["referrer"].is_null());

  ExpectError(Get("/api/admin/users/" + NewUserId(), admin_.token), 404, "USER_NOT_FOUND");
  ExpectError(Get("/api/admin/users/not-a-uuid", admin_.token), 400, "VALIDATION_ERROR");
  ExpectError(Get("/api/admin/users/" + user.id, user.token), 403, "FORBIDDEN");
}

TEST_F(PersonalDataTest, ExportHoldsEveryRowAboutTheUser) {
  const TestUser referrer = NewUser("referrer");
  const std::string code = GenerateCode(referrer);
  const TestUser user = Referred(code, /*convert=*/false);
  const std::string users_code = GenerateCode(user);
  const TestUser friend_user = Referred(users_code, /*convert=*/true);
  ASSERT_EQ(
      Post("/api/subscriptions/create", {{"tier", "premium"}, {"nonce", "n"}}, user.token).status,
      201);

  const auto reply = Get("/api/admin/users/" + user.id + "/export", admin_.token);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto body = reply.Json();
  EXPECT_EQ(body["user"]["id"], user.id);
  EXPECT_EQ(body["user"]["email"], user.email);
  ASSERT_EQ(body["codes"].size(), 1U);
  EXPECT_EQ(body["codes"][0]["code"], users_code);
  ASSERT_EQ(body["referralsMade"].size(), 1U);
  EXPECT_EQ(body["referralsMade"][0]["referredUserId"], friend_user.id);
  EXPECT_EQ(body["referredBy"]["referrerUserId"], referrer.id);
  EXPECT_EQ(body["referredBy"]["status"], "converted");  // the subscription converted it
  EXPECT_EQ(body["rewards"].size(), 1U);
  EXPECT_EQ(body["subscriptions"].size(), 1U);
  std::set<std::string> actions;
  for (const auto& row : body["automationLogs"]) actions.insert(row["action"]);
  for (const char* action : {"code_generated", "referral_tracked", "referral_converted",
                             "reward_granted", "subscription_created"}) {
    EXPECT_TRUE(actions.count(action) != 0) << action;
  }
  std::set<std::string> types;
  for (const auto& event : body["events"]) types.insert(event["type"]);
  for (const char* type : {"code.generated", "referral.tracked", "referral.converted",
                           "reward.granted", "subscription.created"}) {
    EXPECT_TRUE(types.count(type) != 0) << type;
  }
  ExpectError(Get("/api/admin/users/" + NewUserId() + "/export", admin_.token), 404,
              "USER_NOT_FOUND");
  ExpectError(Get("/api/admin/users/x/export", admin_.token), 400, "VALIDATION_ERROR");
  ExpectError(Get("/api/admin/users/" + user.id + "/export", user.token), 403, "FORBIDDEN");
}

TEST_F(PersonalDataTest, ErasureErasesTheEmailKeepsTheCountsAndRefusesTheUsersTokens) {
  const TestUser referrer = NewUser("referrer");
  const std::string code = GenerateCode(referrer);
  const TestUser user = Referred(code, /*convert=*/false);
  const std::string users_code = GenerateCode(user);
  Referred(users_code, /*convert=*/true);
  Referred(users_code, /*convert=*/false);
  ASSERT_EQ(Post("/api/subscriptions/create", {{"tier", "premium"}, {"nonce", "n"}}, user.token,
                 {{"Idempotency-Key", "sub-1"}})
                .status,
            201);
  const auto referrer_stats = Get("/api/referral/stats", referrer.token).Json();
  const auto user_stats = Get("/api/referral/stats", user.token).Json();
  const auto analytics = Get("/api/referral/analytics", admin_.token).Json();
  const auto leaderboard = Get("/api/referral/leaderboard?limit=100", admin_.token).Json();

  ExpectError(Delete("/api/admin/users/" + user.id, user.token), 403, "FORBIDDEN");
  const auto erased = Delete("/api/admin/users/" + user.id, admin_.token);
  EXPECT_EQ(erased.status, 204) << erased.body;
  EXPECT_TRUE(erased.body.empty());
  EXPECT_EQ(Delete("/api/admin/users/" + user.id, admin_.token).status, 204);  // again
  ExpectError(Delete("/api/admin/users/" + NewUserId(), admin_.token), 404, "USER_NOT_FOUND");
  ExpectError(Delete("/api/admin/users/nope", admin_.token), 400, "VALIDATION_ERROR");

  // The user's tokens are refused on every route, reads and writes, and a new token too.
  ExpectError(Get("/api/referral/stats", user.token), 403, "USER_ERASED");
  ExpectError(Post("/api/referral/generate-code", json::object(), user.token), 403, "USER_ERASED");
  ExpectError(Post("/api/referral/track", {{"referralCode", code}}, user.token), 403,
              "USER_ERASED");
  const std::string fresh = Token(user.id, user.email);
  ExpectError(Get("/api/subscriptions/me", fresh), 403, "USER_ERASED");
  ExpectError(Post("/api/subscriptions/create", {{"tier", "premium"}, {"nonce", "n"}}, fresh,
                   {{"Idempotency-Key", "sub-1"}}),
              403, "USER_ERASED");

  // Counts stay: the referrer's stats, the leaderboard's counts, analytics (but for the code).
  EXPECT_EQ(Get("/api/referral/stats", referrer.token).Json(), referrer_stats);
  auto after = Get("/api/referral/analytics", admin_.token).Json();
  EXPECT_EQ(after["activeCodes"], analytics["activeCodes"].get<int>() - 1);
  EXPECT_EQ(after["expiredCodes"], analytics["expiredCodes"].get<int>() + 1);
  after["activeCodes"] = analytics["activeCodes"];
  after["expiredCodes"] = analytics["expiredCodes"];
  EXPECT_EQ(after, analytics);
  const auto board = Get("/api/referral/leaderboard?limit=100", admin_.token).Json();
  ASSERT_EQ(board.size(), leaderboard.size());
  for (std::size_t i = 0; i < board.size(); ++i) {
    if (board[i]["userId"] == user.id) {
      EXPECT_TRUE(board[i]["email"].is_null());
      EXPECT_EQ(board[i]["totalReferrals"], user_stats["totalReferrals"]);
    } else {
      EXPECT_EQ(board[i], leaderboard[i]);
    }
  }
  const auto referrals = Get("/api/referral/referrals", referrer.token).Json();
  ASSERT_EQ(referrals.size(), 1U);
  EXPECT_TRUE(referrals[0]["referredEmail"].is_null());
  const auto looked_up = Get("/api/admin/users/" + user.id, admin_.token).Json();
  EXPECT_TRUE(looked_up["email"].is_null());
  EXPECT_TRUE(looked_up["erasedAt"].is_string());
  EXPECT_EQ(looked_up["stats"], user_stats);
  EXPECT_FALSE(looked_up["code"]["isActive"]);

  // The erasure is logged with the user's id, never the email.
  const auto logs = Get("/api/admin/automation-logs?service=personal_data", admin_.token).Json();
  ASSERT_EQ(logs.size(), 2U);
  EXPECT_EQ(logs[1]["action"], "user_erased");
  EXPECT_EQ(logs[1]["userId"], user.id);
  EXPECT_EQ(logs[1]["details"]["erasedBy"], admin_.id);
  EXPECT_EQ(logs[1]["details"]["codesDeactivated"], 1);
  EXPECT_EQ(logs[0]["details"]["alreadyErased"], true);

  // No stored row holds the email.
  const std::string like = "'%" + user.email + "%'";
  for (const std::string& sql :
       {"SELECT count(*) FROM users WHERE email LIKE " + like,
        "SELECT count(*) FROM automation_logs WHERE CAST(details AS TEXT) LIKE " + like +
            " OR error_message LIKE " + like,
        "SELECT count(*) FROM events WHERE CAST(data AS TEXT) LIKE " + like,
        "SELECT count(*) FROM idempotency_keys WHERE response_body LIKE " + like +
            " OR user_id = '" + user.id + "'"}) {
    EXPECT_EQ(db_->Scalar(sql), "0") << sql;
  }
}

}  // namespace
}  // namespace referrald::testing
