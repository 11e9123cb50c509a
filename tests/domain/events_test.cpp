// The event vocabulary: type names, the feed's query parameters.

#include "domain/events.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace referrald::domain {
namespace {

TEST(EventsTest, EveryTypeHasItsContractNameAndParsesBack) {
  const std::set<std::string> contract = {
      "code.generated", "referral.tracked",     "referral.converted",
      "reward.granted", "reward.claimed",       "reward.revoked",
      "badge.awarded",  "subscription.created", "subscription.cancelled"};
  std::set<std::string> names;
  for (const EventType type : kEventTypes) {
    names.emplace(ToString(type));
    EXPECT_EQ(ParseEventType(ToString(type)), type);
  }
  EXPECT_EQ(names, contract);
  EXPECT_EQ(ParseEventType("Code.Generated"), std::nullopt);
  EXPECT_EQ(ParseEventType(""), std::nullopt);
  EXPECT_EQ(ParseEventType("code.generated "), std::nullopt);
}

TEST(EventsTest, TheDataDecidesTheType) {
  const Event claimed =
      MakeEvent("id", TimePoint{}, events::RewardClaimed{"r", "u", RewardType::kFreePremium});
  EXPECT_EQ(claimed.type(), EventType::kRewardClaimed);
  const Event cancelled =
      MakeEvent("id", TimePoint{}, events::SubscriptionCancelled{"s", "u", true});
  EXPECT_EQ(cancelled.type(), EventType::kSubscriptionCancelled);
}

TEST(EventsTest, LimitDefaultsTo100AndIsBoundedBy1And500) {
  EXPECT_EQ(*ParseEventLimit(std::nullopt), 100);
  EXPECT_EQ(*ParseEventLimit("1"), 1);
  EXPECT_EQ(*ParseEventLimit("500"), 500);
  for (const char* bad : {"0", "501", "", "-1", "+5", "5x", "1e2", "9999999999"}) {
    SCOPED_TRACE(bad);
    const auto limit = ParseEventLimit(bad);
    ASSERT_FALSE(limit.has_value());
    EXPECT_EQ(limit.error().reason, Reason::kValidationError);
  }
}

TEST(EventsTest, TypeFilterIsOptionalAndMustNameAType) {
  EXPECT_EQ(*ParseEventTypeParam(std::nullopt), std::nullopt);
  EXPECT_EQ(*ParseEventTypeParam("badge.awarded"), EventType::kBadgeAwarded);
  for (const char* bad : {"", "badge", "BADGE.AWARDED", "reward.granted,badge.awarded"}) {
    SCOPED_TRACE(bad);
    const auto type = ParseEventTypeParam(bad);
    ASSERT_FALSE(type.has_value());
    EXPECT_EQ(type.error().reason, Reason::kValidationError);
  }
}

}  // namespace
}  // namespace referrald::domain
