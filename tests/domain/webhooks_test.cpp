// Webhook rules: which addresses a webhook may not reach, the retry schedule and its jitter, what
// an attempt makes of a delivery, the secret's form; and standard base64.

#include "domain/webhooks.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "domain/errors.hpp"
#include "support/scripted_random.hpp"
#include "util/base64.hpp"
#include "util/random.hpp"
#include "util/time_format.hpp"

namespace referrald::domain {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// An address from its text form (IPv4 or IPv6), with the system's own parser.
IpAddress Ip(const std::string& text) {
  IpAddress address;
  std::array<std::uint8_t, 16> v6{};
  std::array<std::uint8_t, 4> v4{};
  if (inet_pton(AF_INET, text.c_str(), v4.data()) == 1) return IpAddress::V4(v4);
  if (inet_pton(AF_INET6, text.c_str(), v6.data()) == 1) return IpAddress::V6(v6);
  ADD_FAILURE() << "not an address: " << text;
  return address;
}

TEST(WebhookAddressTest, RefusesLoopbackPrivateLinkLocalAndSpecialIpv4) {
  for (const char* text :
       {"127.0.0.1",      "127.255.255.254", "10.0.0.1",        "10.255.255.255",  "172.16.0.1",
        "172.31.255.255", "192.168.0.1",     "192.168.255.255", "169.254.169.254", "169.254.0.1",
        "100.64.0.1",     "100.127.255.255", "0.0.0.0",         "0.1.2.3",         "192.0.0.8",
        "192.0.2.1",      "198.18.0.1",      "198.19.255.255",  "198.51.100.7",    "203.0.113.9",
        "224.0.0.1",      "239.255.255.250", "240.0.0.1",       "255.255.255.255"}) {
    EXPECT_TRUE(IsNonPublicAddress(Ip(text))) << text;
  }
}

TEST(WebhookAddressTest, AllowsPublicIpv4IncludingRangeNeighbours) {
  for (const char* text :
       {"8.8.8.8", "1.1.1.1", "93.184.216.34", "9.255.255.255", "11.0.0.0", "172.15.255.255",
        "172.32.0.0", "192.167.255.255", "192.169.0.0", "169.253.255.255", "169.255.0.0",
        "100.63.255.255", "100.128.0.0", "126.255.255.255", "128.0.0.0", "198.17.255.255",
        "198.20.0.0", "223.255.255.255"}) {
    EXPECT_FALSE(IsNonPublicAddress(Ip(text))) << text;
  }
}

TEST(WebhookAddressTest, RefusesSpecialIpv6AndIpv6FormsOfPrivateIpv4) {
  for (const char* text :
       {"::1", "::", "fe80::1", "febf:ffff::1", "fc00::1", "fd12:3456:789a::1", "fec0::1",
        "ff02::1", "100::1", "2001:db8::1",
        // IPv4-mapped, -compatible, NAT64 and 6to4 forms of loopback / private / metadata
        "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::ffff:0.0.0.0",
        "::127.0.0.1", "::8.8.8.8", "64:ff9b::127.0.0.1", "64:ff9b::a00:1", "2002:7f00:1::1",
        "2002:c0a8:101::1"}) {
    EXPECT_TRUE(IsNonPublicAddress(Ip(text))) << text;
  }
}

TEST(WebhookAddressTest, AllowsPublicIpv6AndIpv6FormsOfPublicIpv4) {
  for (const char* text :
       {"2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450::1", "::ffff:8.8.8.8",
        "64:ff9b::808:808", "2002:808:808::1", "fe7f::1", "fbff::1", "2001:db9::1"}) {
    EXPECT_FALSE(IsNonPublicAddress(Ip(text))) << text;
  }
}

TEST(RetryScheduleTest, DefaultIsTheContractsScheduleThenFailed) {
  const RetrySchedule schedule;
  const std::vector<seconds> contract{seconds(5),     seconds(300),   seconds(1800),
                                      seconds(7200),  seconds(18000), seconds(36000),
                                      seconds(50400), seconds(72000), seconds(86400)};
  EXPECT_EQ(schedule.delays(), contract);
  EXPECT_EQ(schedule.max_attempts(), 10);
  SystemRandom random;
  const TimePoint now = *ParseIso8601("2025-06-15T12:00:00.000Z");
  for (int made = 1; made <= 9; ++made) {
    const auto next = schedule.NextAttempt(made, now, random);
    ASSERT_TRUE(next.has_value()) << made;
    const auto delay = std::chrono::duration_cast<milliseconds>(*next - now);
    const auto base = milliseconds(contract[static_cast<std::size_t>(made - 1)]);
    EXPECT_GE(delay, base * 9 / 10) << made;
    EXPECT_LE(delay, base * 11 / 10) << made;
  }
  EXPECT_FALSE(schedule.NextAttempt(10, now, random).has_value());
}

TEST(RetryScheduleTest, JitterSpansTenPercentEitherWay) {
  const RetrySchedule schedule({seconds(100)});
  const TimePoint now{};
  testing::ScriptedRandom random;
  // Uniform(20001) draws: 0 → -10 %, 20000 → +10 %.
  random.PushUniform({0, 20000, 10000});
  EXPECT_EQ(*schedule.NextAttempt(1, now, random) - now, milliseconds(90'000));
  EXPECT_EQ(*schedule.NextAttempt(1, now, random) - now, milliseconds(110'000));
  EXPECT_EQ(*schedule.NextAttempt(1, now, random) - now, milliseconds(100'000));
}

TEST(RetryScheduleTest, ParsesCommaSeparatedSecondsAndRefusesTheRest) {
  auto parsed = RetrySchedule::Parse("1,1,1");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->delays(), (std::vector<seconds>{seconds(1), seconds(1), seconds(1)}));
  EXPECT_EQ(parsed->max_attempts(), 4);
  EXPECT_TRUE(RetrySchedule::Parse("604800").has_value());
  for (const char* bad : {"", ",", "1,", ",1", "0", "-1", "1.5", "a", "1, 2", " 1", "604801",
                          "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1"}) {
    EXPECT_FALSE(RetrySchedule::Parse(bad).has_value()) << bad;
  }
}

ClaimedDelivery Claimed(int attempts_made) {
  ClaimedDelivery claimed;
  claimed.endpoint_id = "e";
  claimed.event.id = "ev";
  claimed.attempts_made = attempts_made;
  claimed.lease = "lease";
  return claimed;
}

TEST(DecideAttemptTest, SuccessEndsPendingRetriesAndTheLastFailureFails) {
  const RetrySchedule schedule({seconds(1), seconds(2)});
  SystemRandom random;
  const TimePoint now{};
  const auto ok = DecideAttempt(Claimed(0), SendOutcome{true, 204, false}, schedule, now, random);
  EXPECT_EQ(ok.status, DeliveryStatus::kSucceeded);
  EXPECT_EQ(ok.response_status, 204);
  EXPECT_FALSE(ok.next_attempt_at.has_value());
  EXPECT_EQ(ok.lease, "lease");
  EXPECT_EQ(ok.event_id, "ev");

  const auto first =
      DecideAttempt(Claimed(0), SendOutcome{false, 500, false}, schedule, now, random);
  EXPECT_EQ(first.status, DeliveryStatus::kPending);
  ASSERT_TRUE(first.next_attempt_at.has_value());
  EXPECT_LE(*first.next_attempt_at - now, milliseconds(1100));

  const auto second = DecideAttempt(Claimed(1), SendOutcome{}, schedule, now, random);
  EXPECT_EQ(second.status, DeliveryStatus::kPending);
  EXPECT_FALSE(second.response_status.has_value());
  EXPECT_GE(*second.next_attempt_at - now, milliseconds(1800));

  const auto last =
      DecideAttempt(Claimed(2), SendOutcome{false, 503, false}, schedule, now, random);
  EXPECT_EQ(last.status, DeliveryStatus::kFailed);
  EXPECT_FALSE(last.next_attempt_at.has_value());
}

TEST(WebhookSecretTest, IsPrefixedPaddedBase64OfThirtyTwoRandomBytes) {
  testing::ScriptedRandom random;
  std::vector<std::uint8_t> bytes(32);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 7);
  random.Push(bytes);
  const std::string secret = NewWebhookSecret(random);
  ASSERT_EQ(secret.rfind("whsec_", 0), 0U);
  EXPECT_EQ(secret.size(), 6U + 44U);
  EXPECT_EQ(secret.back(), '=');
  const auto key = WebhookSecretKey(secret);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(*key, std::string(bytes.begin(), bytes.end()));
  EXPECT_FALSE(WebhookSecretKey("whsec_").has_value());
  EXPECT_FALSE(WebhookSecretKey("whsec_!!!!").has_value());
  EXPECT_FALSE(WebhookSecretKey("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").has_value());
  EXPECT_NE(NewWebhookSecret(random), NewWebhookSecret(random));
}

TEST(Base64Test, EncodesRfc4648VectorsAndDecodesStrictly) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    EXPECT_EQ(Base64Decode(encoded), std::optional<std::string>(plain));
  }
  EXPECT_EQ(Base64Encode(std::string("\xff\xfe\xfd", 3)), "//79");
  for (const char* bad : {"Zg", "Zg=", "Z===", "Zh==", "Zm9=", "Zm=v", "Zm9v_A==", "Zm9v-A=="}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace referrald::domain
