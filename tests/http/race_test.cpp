// Exactly-once rules under real concurrent HTTP clients. Threads start together on a latch; no
// sleeps, no timing assumptions.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <latch>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "support/server_fixture.hpp"
#include "util/time_format.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;

class RaceTest : public ServerFixture {
 protected:
  // Runs `request(i)` for i in [0, n) on n threads released together; returns the replies.
  std::vector<HttpReply> RunConcurrently(int n, const std::function<HttpReply(int)>& request) {
    std::vector<HttpReply> replies(static_cast<std::size_t>(n));
    std::latch start(n);
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        replies[static_cast<std::size_t>(i)] = request(i);
      });
    }
    for (auto& t : threads) t.join();
    return replies;
  }

  static std::map<int, int> CountStatuses(const std::vector<HttpReply>& replies) {
    std::map<int, int> counts;
    for (const auto& reply : replies) ++counts[reply.status];
    return counts;
  }

  // Every event of the feed from its start, through HTTP. A sentinel change (a new user's code)
  // is made first and the feed read up to its event: on PostgreSQL an event is listed once every
  // older transaction on the server has ended, so reading up to a later event is what makes sure
  // that none committed before it is still to come.
  std::vector<json> AllEvents(const std::string& admin_token) {
    const std::string sentinel = NewCode(Token(NewUserId(), "sentinel@example.com"));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    std::vector<json> events;
    std::string cursor;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto reply = SendRequest(
          port(), "GET", "/api/admin/events" + (cursor.empty() ? "" : "?after=" + cursor), "",
          admin_token);
      EXPECT_EQ(reply.status, 200) << reply.body;
      const auto body = reply.Json();
      if (reply.status != 200) return events;
      for (const auto& event : body["events"]) {
        if (event["type"] == "code.generated" && event["data"]["code"] == sentinel) return events;
        events.push_back(event);
      }
      cursor = body["nextCursor"];
      if (body["events"].empty()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ADD_FAILURE() << "the sentinel event never came";
    return events;
  }

  static int CountType(const std::vector<json>& events, const std::string& type) {
    int n = 0;
    for (const auto& event : events) n += event["type"] == type ? 1 : 0;
    return n;
  }

  std::string NewCode(const std::string& token) {
    const auto reply = Post("/api/referral/generate-code", json::object(), token);
    EXPECT_EQ(reply.status, 201) << reply.body;
    return reply.Json().value("code", "");
  }
};

TEST_F(RaceTest, ConcurrentTracksForOneUserYieldExactlyOneReferral) {
  std::vector<std::string> codes;
  std::vector<std::string> referrer_tokens;
  for (int i = 0; i < 5; ++i) {
    referrer_tokens.push_back(Token(NewUserId(), "referrer@example.com"));
    codes.push_back(NewCode(referrer_tokens.back()));
  }
  const std::string token = Token(NewUserId(), "referred@example.com");
  const auto replies = RunConcurrently(50, [&](int i) {
    return SendRequest(
        port(), "POST", "/api/referral/track",
        json({{"referralCode", codes[static_cast<std::size_t>(i) % codes.size()]}}).dump(), token);
  });
  const auto counts = CountStatuses(replies);
  EXPECT_EQ(counts.size(), 2U);
  EXPECT_EQ(counts.count(201) ? counts.at(201) : 0, 1);
  EXPECT_EQ(counts.count(409) ? counts.at(409) : 0, 49);
  for (const auto& reply : replies) {
    if (reply.status == 409) ExpectError(reply, 409, "ALREADY_REFERRED");
  }
  int total = 0;
  for (const auto& referrer_token : referrer_tokens) {
    total += Get("/api/referral/stats", referrer_token).Json()["totalReferrals"].get<int>();
  }
  EXPECT_EQ(total, 1);
}

TEST_F(RaceTest, ConcurrentSubscriptionsAndConvertsGrantExactlyOneReward) {
  const std::string referrer_token = Token(NewUserId(), "referrer@example.com");
  const std::string referred = NewUserId();
  const std::string referred_token = Token(referred, "referred@example.com");
  const std::string admin_token = Token(NewUserId(), "admin@example.com", /*admin=*/true);
  ASSERT_EQ(Post("/api/referral/track", {{"referralCode", NewCode(referrer_token)}}, referred_token)
                .status,
            201);

  const auto replies = RunConcurrently(20, [&](int i) {
    if (i % 2 == 0) {
      return SendRequest(
          port(), "POST", "/api/subscriptions/create",
          json({{"tier", "premium"}, {"nonce", "nonce-" + std::to_string(i)}}).dump(),
          referred_token);
    }
    return SendRequest(port(), "POST", "/api/referral/convert",
                       json({{"referredUserId", referred}}).dump(), admin_token);
  });
  int subscriptions = 0;
  int conversions = 0;
  for (int i = 0; i < 20; ++i) {
    const auto& reply = replies[static_cast<std::size_t>(i)];
    if (i % 2 == 0) {
      EXPECT_TRUE(reply.status == 201 || reply.status == 409) << reply.body;
      if (reply.status == 201) ++subscriptions;
    } else {
      EXPECT_TRUE(reply.status == 200 || reply.status == 409) << reply.body;
      if (reply.status == 200) ++conversions;
    }
  }
  EXPECT_EQ(subscriptions, 1);
  EXPECT_LE(conversions, 1);
  const auto rewards = Get("/api/referral/rewards", referrer_token).Json();
  ASSERT_TRUE(rewards.is_array());
  EXPECT_EQ(rewards.size(), 1U);
  const auto stats = Get("/api/referral/stats", referrer_token).Json();
  EXPECT_EQ(stats["convertedReferrals"], 1);
  EXPECT_EQ(stats["totalRewardsEarned"], 1);
  // One event per change, none for the refused requests.
  const auto events = AllEvents(admin_token);
  EXPECT_EQ(CountType(events, "subscription.created"), 1);
  EXPECT_EQ(CountType(events, "referral.converted"), 1);
  EXPECT_EQ(CountType(events, "reward.granted"), 1);
  EXPECT_EQ(events.size(), 5U);  // with code.generated and referral.tracked
}

TEST_F(RaceTest, ConcurrentClaimsOfOneRewardSucceedOnce) {
  const std::string referrer_token = Token(NewUserId(), "referrer@example.com");
  const std::string referred = NewUserId();
  const std::string admin_token = Token(NewUserId(), "admin@example.com", /*admin=*/true);
  ASSERT_EQ(Post("/api/referral/track", {{"referralCode", NewCode(referrer_token)}},
                 Token(referred, "referred@example.com"))
                .status,
            201);
  ASSERT_EQ(Post("/api/referral/convert", {{"referredUserId", referred}}, admin_token).status, 200);
  const std::string reward_id = Get("/api/referral/rewards", referrer_token).Json()[0]["id"];

  const auto replies = RunConcurrently(20, [&](int) {
    return SendRequest(port(), "POST", "/api/referral/claim-reward",
                       json({{"rewardId", reward_id}}).dump(), referrer_token);
  });
  const auto counts = CountStatuses(replies);
  EXPECT_EQ(counts.count(200) ? counts.at(200) : 0, 1);
  EXPECT_EQ(counts.count(404) ? counts.at(404) : 0, 19);
  EXPECT_EQ(CountType(AllEvents(admin_token), "reward.claimed"), 1);
  // Premium was extended once: 30 days from the (fixed) fake now.
  const auto me = Get("/api/subscriptions/me", referrer_token).Json();
  EXPECT_EQ(me["premiumUntil"], FormatIso8601(clock_->Now() + std::chrono::hours(24 * 30)));
}

TEST_F(RaceTest, ConcurrentGenerateCodeCreatesOneCode) {
  const std::string token = Token(NewUserId(), "codes@example.com");
  const auto replies = RunConcurrently(50, [&](int) {
    return SendRequest(port(), "POST", "/api/referral/generate-code", "{}", token);
  });
  const auto counts = CountStatuses(replies);
  EXPECT_EQ(counts.count(201) ? counts.at(201) : 0, 1);
  EXPECT_EQ(counts.count(409) ? counts.at(409) : 0, 49);
  std::string created;
  for (const auto& reply : replies) {
    if (reply.status == 201) created = reply.Json()["code"];
  }
  for (const auto& reply : replies) {
    if (reply.status == 409) {
      ExpectError(reply, 409, "CODE_EXISTS", 1);
      EXPECT_EQ(reply.Json()["referralCode"], created);
    }
  }
  EXPECT_EQ(Get("/api/referral/code", token).Json()["code"], created);
}

// Writers create codes and referrals from many threads while a reader pages through the event
// feed with its cursor the whole time: the reader sees every change exactly once.
TEST_F(RaceTest, ConcurrentWritersAndAFeedReaderSeeEveryEventOnce) {
  const std::string admin_token = Token(NewUserId(), "admin@example.com", /*admin=*/true);
  WarmUpHttpClient(port());
  constexpr int kWriters = 6;
  constexpr int kRounds = 8;
  constexpr std::size_t kExpected = 2 * kWriters * kRounds;
  std::atomic<bool> writers_done{false};
  std::vector<json> seen;
  std::thread reader([&] {
    std::string cursor;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    while (std::chrono::steady_clock::now() < give_up) {
      const bool done = writers_done.load();
      const auto reply = SendRequest(
          port(), "GET", "/api/admin/events?limit=5" + (cursor.empty() ? "" : "&after=" + cursor),
          "", admin_token);
      ASSERT_EQ(reply.status, 200) << reply.body;
      const auto body = reply.Json();
      for (const auto& event : body["events"]) seen.push_back(event);
      cursor = body["nextCursor"];
      // Done writing and all listed (on PostgreSQL an event may be held back a little while older
      // transactions on the server end), and nothing more.
      if (done && seen.size() >= kExpected && body["events"].empty()) return;
    }
  });
  std::vector<std::vector<std::string>> codes(kWriters);
  std::vector<std::vector<std::string>> referrals(kWriters);
  RunConcurrently(kWriters, [&](int w) {
    const auto i = static_cast<std::size_t>(w);
    for (int r = 0; r < kRounds; ++r) {
      const auto code = SendRequest(port(), "POST", "/api/referral/generate-code", "{}",
                                    Token(NewUserId(), "writer@example.com"));
      EXPECT_EQ(code.status, 201) << code.body;
      codes[i].push_back(code.Json().value("code", ""));
      const auto tracked = SendRequest(port(), "POST", "/api/referral/track",
                                       json({{"referralCode", codes[i].back()}}).dump(),
                                       Token(NewUserId(), "joiner@example.com"));
      EXPECT_EQ(tracked.status, 201) << tracked.body;
      referrals[i].push_back(tracked.Json().value("referralId", ""));
    }
    return HttpReply{};
  });
  writers_done = true;
  reader.join();

  std::set<std::string> ids;
  std::map<std::string, std::size_t> code_at;
  std::map<std::string, std::size_t> referral_at;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_TRUE(ids.insert(seen[i].value("id", "")).second) << "listed twice: " << seen[i];
    if (seen[i]["type"] == "code.generated") code_at[seen[i]["data"]["code"]] = i;
    if (seen[i]["type"] == "referral.tracked") referral_at[seen[i]["data"]["referralId"]] = i;
  }
  EXPECT_EQ(seen.size(), kExpected);
  for (int w = 0; w < kWriters; ++w) {
    for (int r = 0; r < kRounds; ++r) {
      const auto& code = codes[static_cast<std::size_t>(w)][static_cast<std::size_t>(r)];
      const auto& referral = referrals[static_cast<std::size_t>(w)][static_cast<std::size_t>(r)];
      ASSERT_EQ(code_at.count(code), 1U) << "code.generated missing for " << code;
      ASSERT_EQ(referral_at.count(referral), 1U) << "referral.tracked missing for " << referral;
      // The code was committed before its track began.
      EXPECT_LT(code_at[code], referral_at[referral]);
    }
  }
}

}  // namespace
}  // namespace referrald::testing
