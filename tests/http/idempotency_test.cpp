// Idempotency-Key through real HTTP (contract section 10): a repeat gets the first answer byte for
// byte and changes nothing; another request under the key is 422; a malformed key is 400; 5xx and
// 429 are not remembered; keys are per caller; concurrent repeats make one change; a reservation
// left by an earlier version whose request died frees the key when its lease ends; keys are
// forgotten after IDEMPOTENCY_TTL_HOURS.

#include "http/idempotency.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <latch>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "domain/idempotency.hpp"
#include "support/server_fixture.hpp"
#include "util/ids.hpp"
#include "util/random.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;
using std::chrono::hours;
using std::chrono::seconds;

constexpr const char* kGenerate = "/api/referral/generate-code";
constexpr const char* kTrack = "/api/referral/track";

ExtraHeaders Key(const std::string& key) { return {{"Idempotency-Key", key}}; }

class IdempotencyApiTest : public ServerFixture {
 protected:
  std::string Count(const std::string& sql) const { return db_->Scalar(sql); }
  std::string CodesOf(const TestUser& user) const {
    return Count("SELECT count(*) FROM referral_codes WHERE user_id = '" + user.id + "'");
  }
  std::string KeysOf(const TestUser& user) const {
    return Count("SELECT count(*) FROM idempotency_keys WHERE user_id = '" + user.id + "'");
  }
};

TEST_F(IdempotencyApiTest, ARepeatGetsTheCreatedResponseAgainAndChangesNothing) {
  const TestUser user = NewUser();
  const auto first = Post(kGenerate, {{"expiresInDays", 30}}, user.token, Key("gen-1"));
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(first.Header("Idempotent-Replayed"), "");
  for (int i = 0; i < 2; ++i) {
    const auto again = Post(kGenerate, {{"expiresInDays", 30}}, user.token, Key("gen-1"));
    EXPECT_EQ(again.status, 201);
    EXPECT_EQ(again.body, first.body);  // byte for byte
    EXPECT_EQ(again.Header("Idempotent-Replayed"), "true");
    EXPECT_EQ(again.Header("Content-Type"), "application/json");
    EXPECT_FALSE(again.Header("X-Request-Id").empty());
    EXPECT_NE(again.Header("X-Request-Id"), first.Header("X-Request-Id"));  // its own
  }
  EXPECT_EQ(CodesOf(user), "1");
  EXPECT_EQ(Count("SELECT count(*) FROM automation_logs WHERE action = 'code_generated' AND "
                  "user_id = '" +
                  user.id + "'"),
            "1");
  // Without the header the route behaves as ever: it runs, and remembers nothing.
  ExpectError(Post(kGenerate, {{"expiresInDays", 30}}, user.token), 409, "CODE_EXISTS", 1);
  EXPECT_EQ(KeysOf(user), "1");
}

TEST_F(IdempotencyApiTest, ARepeatOfASubscriptionConvertsOnce) {
  const TestUser referrer = NewUser("referrer");
  const TestUser referred = NewUser("referred");
  ASSERT_EQ(Track(referred, GenerateCode(referrer)).status, 201);
  const json body = {{"tier", "premium"}, {"nonce", "payment-nonce"}};
  const auto first = Post("/api/subscriptions/create", body, referred.token, Key("sub-1"));
  ASSERT_EQ(first.status, 201) << first.body;
  const auto again = Post("/api/subscriptions/create", body, referred.token, Key("sub-1"));
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.Header("Idempotent-Replayed"), "true");
  EXPECT_EQ(Count("SELECT count(*) FROM subscriptions WHERE user_id = '" + referred.id + "'"), "1");
  EXPECT_EQ(Count("SELECT count(*) FROM user_rewards WHERE user_id = '" + referrer.id + "'"), "1");
}

TEST_F(IdempotencyApiTest, ARepeatOfARefusalKeepsTheFirstRequestId) {
  const TestUser user = NewUser();
  const json body = {{"referralCode", "NOSUCH22"}};
  const auto first = Post(kTrack, body, user.token, Key("track-1"));
  ExpectError(first, 400, "INVALID_CODE");
  const auto again = Post(kTrack, body, user.token, Key("track-1"));
  EXPECT_EQ(again.status, 400);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.Json()["requestId"], first.Header("X-Request-Id"));
  EXPECT_NE(again.Header("X-Request-Id"), first.Header("X-Request-Id"));
  EXPECT_EQ(again.Header("Idempotent-Replayed"), "true");
  // The refusal ran (and was audited) once.
  EXPECT_EQ(Count("SELECT count(*) FROM automation_logs WHERE action = 'referral_refused' AND "
                  "user_id = '" +
                  user.id + "'"),
            "1");

  // A refusal the body parser gives is remembered too (the first requestId, the client's own).
  const auto bad = PostRaw(kTrack, "{not json", user.token,
                           {{"Idempotency-Key", "track-2"}, {"X-Request-Id", "client-id-1"}});
  ExpectError(bad, 400, "INVALID_JSON");
  const auto bad_again = PostRaw(kTrack, "{not json", user.token, Key("track-2"));
  EXPECT_EQ(bad_again.body, bad.body);
  EXPECT_EQ(bad_again.Json()["requestId"], "client-id-1");
}

TEST_F(IdempotencyApiTest, AnotherBodyOrPathUnderTheKeyIsUnprocessable) {
  const TestUser user = NewUser();
  ASSERT_EQ(Post(kGenerate, json::object(), user.token, Key("k")).status, 201);
  ExpectError(Post(kGenerate, {{"expiresInDays", 5}}, user.token, Key("k")), 422,
              "IDEMPOTENCY_KEY_REUSED");
  ExpectError(Post(kTrack, {{"referralCode", "ABCDEFGH"}}, user.token, Key("k")), 422,
              "IDEMPOTENCY_KEY_REUSED");
  // A path that routes the same but is spelled otherwise is another path.
  ExpectError(Post("/api/referral/generate-code/", json::object(), user.token, Key("k")), 422,
              "IDEMPOTENCY_KEY_REUSED");
  // The 422 itself is not remembered: the first request still owns the key.
  const auto again = Post(kGenerate, json::object(), user.token, Key("k"));
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.Header("Idempotent-Replayed"), "true");
  EXPECT_EQ(Count("SELECT count(*) FROM referrals WHERE referred_user_id = '" + user.id + "'"),
            "0");
}

TEST_F(IdempotencyApiTest, AMalformedKeyIsRefusedBeforeAnythingRuns) {
  const TestUser user = NewUser();
  for (const std::string& key : {std::string(), std::string(256, 'k'), std::string("a\tb"),
                                 std::string("a b"), std::string("caf\xc3\xa9")}) {
    SCOPED_TRACE(key.size());
    ExpectError(Post(kGenerate, json::object(), user.token, Key(key)), 400,
                "INVALID_IDEMPOTENCY_KEY");
  }
  // Other control characters (and DEL) never reach the service: the HTTP parser refuses any
  // header holding them and closes the connection.
  EXPECT_EQ(Post(kGenerate, json::object(), user.token, Key("a\x01z")).status, 0);
  EXPECT_EQ(Post(kGenerate, json::object(), user.token, Key("a\x7fz")).status, 0);
  EXPECT_EQ(CodesOf(user), "0");
  EXPECT_EQ(KeysOf(user), "0");
  // 255 visible characters, every one of 0x21..0x7E allowed.
  std::string longest;
  for (char c = '\x21'; c <= '\x7e'; ++c) longest += c;
  longest += std::string(255 - longest.size(), 'z');
  EXPECT_EQ(Post(kGenerate, json::object(), user.token, Key(longest)).status, 201);
  // Auth comes first: no token is 401 whatever the key.
  EXPECT_EQ(Post(kGenerate, json::object(), "", Key("")).status, 401);
}

TEST_F(IdempotencyApiTest, ServerErrorsAreNotRememberedSoARetryRunsAgain) {
  const TestUser user = NewUser();
  // Every insert of a code fails in the database (a 500 from the use case).
  const bool postgres = CurrentBackend() == Backend::kPostgres;
  if (postgres) {
    ASSERT_TRUE(
        db_->TryExec("CREATE FUNCTION refuse_codes() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"));
    ASSERT_TRUE(
        db_->TryExec("CREATE TRIGGER refuse_codes BEFORE INSERT ON referral_codes "
                     "FOR EACH ROW EXECUTE FUNCTION refuse_codes()"));
  } else {
    ASSERT_TRUE(
        db_->TryExec("CREATE TRIGGER refuse_codes BEFORE INSERT ON referral_codes "
                     "BEGIN SELECT RAISE(FAIL, 'refused by the test'); END"));
  }
  ExpectError(Post(kGenerate, json::object(), user.token, Key("retry-me")), 500, "INTERNAL_ERROR");
  EXPECT_EQ(KeysOf(user), "0");  // nothing kept
  ASSERT_TRUE(db_->TryExec(postgres ? "DROP TRIGGER refuse_codes ON referral_codes"
                                    : "DROP TRIGGER refuse_codes"));
  const auto retried = Post(kGenerate, json::object(), user.token, Key("retry-me"));
  EXPECT_EQ(retried.status, 201) << retried.body;
  EXPECT_EQ(retried.Header("Idempotent-Replayed"), "");
  EXPECT_EQ(CodesOf(user), "1");
}

TEST_F(IdempotencyApiTest, KeysAreTheCallersOwn) {
  const TestUser a = NewUser("a");
  const TestUser b = NewUser("b");
  const auto for_a = Post(kGenerate, json::object(), a.token, Key("shared"));
  const auto for_b = Post(kGenerate, json::object(), b.token, Key("shared"));
  ASSERT_EQ(for_a.status, 201);
  ASSERT_EQ(for_b.status, 201);
  EXPECT_EQ(for_b.Header("Idempotent-Replayed"), "");
  EXPECT_NE(for_a.Json()["code"], for_b.Json()["code"]);
  EXPECT_EQ(CodesOf(a), "1");
  EXPECT_EQ(CodesOf(b), "1");
}

TEST_F(IdempotencyApiTest, ConcurrentRepeatsOfOneKeyMakeOneChange) {
  const TestUser user = NewUser();
  constexpr int kThreads = 24;
  std::vector<HttpReply> replies(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      replies[static_cast<std::size_t>(i)] =
          SendRequest(port(), "POST", kGenerate, "{}", user.token, Key("raced"));
    });
  }
  for (auto& t : threads) t.join();
  int fresh = 0;
  std::string created;
  for (const auto& reply : replies) {
    if (reply.status == 201 && reply.Header("Idempotent-Replayed").empty()) {
      ++fresh;
      created = reply.body;
    }
  }
  EXPECT_EQ(fresh, 1);
  for (const auto& reply : replies) {
    if (reply.status == 201) {
      EXPECT_EQ(reply.body, created);
    } else {
      ExpectError(reply, 409, "IDEMPOTENCY_IN_PROGRESS");
    }
  }
  EXPECT_EQ(CodesOf(user), "1");
}

TEST_F(IdempotencyApiTest, AReservationOfAnEarlierVersionFreesTheKeyWhenItsLeaseEnds) {
  const TestUser user = NewUser();
  // An instance of an earlier version reserved the key for this very request, then died before
  // answering: its row is in progress for a minute.
  SystemRandom random;
  UuidV7Generator owner_ids(random);
  const std::string body = json::object().dump();
  const domain::IdempotencyRecord reservation{user.id,
                                              "orphan",
                                              "POST",
                                              kGenerate,
                                              http::Sha256Hex(body),
                                              domain::IdempotencyState::kInProgress,
                                              owner_ids.New(clock_->Now()),
                                              clock_->Now() + seconds{60},
                                              clock_->Now(),
                                              std::nullopt};
  ASSERT_TRUE(domain::Transact(application().store(), [&](domain::WriteTx& tx) -> Status {
    auto inserted = tx.InsertIdempotencyKey(reservation);
    if (!inserted) return inserted.error();
    return {};
  }));
  ExpectError(PostRaw(kGenerate, body, user.token, Key("orphan")), 409, "IDEMPOTENCY_IN_PROGRESS");
  clock_->Advance(seconds{59});
  ExpectError(PostRaw(kGenerate, body, user.token, Key("orphan")), 409, "IDEMPOTENCY_IN_PROGRESS");
  clock_->Advance(seconds{1});
  const auto taken = PostRaw(kGenerate, body, user.token, Key("orphan"));
  EXPECT_EQ(taken.status, 201) << taken.body;
  EXPECT_EQ(taken.Header("Idempotent-Replayed"), "");
  EXPECT_EQ(PostRaw(kGenerate, body, user.token, Key("orphan")).Header("Idempotent-Replayed"),
            "true");
  EXPECT_EQ(CodesOf(user), "1");
  EXPECT_EQ(KeysOf(user), "1");
}

TEST_F(IdempotencyApiTest, KeysAreForgottenAfterTheTtlAndPurgedByTheJob) {
  const TestUser user = NewUser();
  const TestUser admin = NewUser("admin", /*admin=*/true);
  ASSERT_EQ(Post(kGenerate, json::object(), user.token, Key("day-1")).status, 201);
  clock_->Advance(hours{24});
  // Forgotten: the request runs again (and now meets the code it made the first time).
  const auto later = Post(kGenerate, json::object(), user.token, Key("day-1"));
  ExpectError(later, 409, "CODE_EXISTS", 1);
  EXPECT_EQ(later.Header("Idempotent-Replayed"), "");
  clock_->Advance(hours{24});
  const auto run = Post("/api/admin/jobs/purge-idempotency-keys/run", json::object(), admin.token);
  ASSERT_EQ(run.status, 200) << run.body;
  EXPECT_EQ(run.Json()["status"], "success");
  EXPECT_EQ(run.Json()["details"]["keysDeleted"], 1);
  EXPECT_EQ(run.Json()["details"]["ttlHours"], 24);
  EXPECT_EQ(KeysOf(user), "0");
}

// With a write budget of 2 a minute (contract section 9): a 429 touches no key.
class IdempotencyLimitsTest : public IdempotencyApiTest {
 protected:
  void Configure(app::Config& config) override { config.abuse.writes_per_minute = 2; }
};

TEST_F(IdempotencyLimitsTest, TooManyRequestsAreNotRemembered) {
  const TestUser user = NewUser();
  ASSERT_EQ(Post(kGenerate, json::object(), user.token, Key("a")).status, 201);
  ASSERT_EQ(Post(kGenerate, json::object(), user.token, Key("a")).status, 201);  // a replay
  ExpectError(Post(kTrack, {{"referralCode", "ABCDEFGH"}}, user.token, Key("b")), 429,
              "RATE_LIMITED");
  EXPECT_EQ(KeysOf(user), "1");
  clock_->Advance(std::chrono::minutes{1});
  ExpectError(Post(kTrack, {{"referralCode", "ABCDEFGH"}}, user.token, Key("b")), 400,
              "INVALID_CODE");
}

}  // namespace
}  // namespace referrald::testing
