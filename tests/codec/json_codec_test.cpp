// The events' JSON: §10's fields for each type, and back as stored.

#include "codec/json_codec.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "util/time_format.hpp"

namespace referrald::codec {
namespace {

using domain::EventData;
using domain::EventType;
using nlohmann::json;
namespace ev = domain::events;

constexpr const char* kUser = "11111111-1111-4111-8111-111111111111";
constexpr const char* kOther = "22222222-2222-4222-8222-222222222222";
constexpr const char* kId = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

TimePoint At(std::string_view iso) { return *ParseIso8601(iso); }

std::set<std::string> Keys(const json& j) {
  std::set<std::string> keys;
  for (const auto& item : j.items()) keys.insert(item.key());
  return keys;
}

// One event of every type, with §10's field names.
struct Sample {
  EventData data;
  std::set<std::string> fields;
};
std::vector<Sample> Samples() {
  domain::RewardValue days;
  days.days = 30;
  return {
      {ev::CodeGenerated{"ABCD2345", kUser, At("2026-06-15T12:00:00.000Z")},
       {"code", "userId", "expiresAt"}},
      {ev::ReferralTracked{kId, kUser, kOther, "ABCD2345"},
       {"referralId", "referrerUserId", "referredUserId", "code"}},
      {ev::ReferralConverted{kId, kUser, kOther, kId},
       {"referralId", "referrerUserId", "referredUserId", "rewardId"}},
      {ev::RewardGranted{kId, kUser, domain::RewardType::kFreePremium, days, kId},
       {"rewardId", "userId", "rewardType", "rewardValue", "referralId"}},
      {ev::RewardClaimed{kId, kUser, domain::RewardType::kFreePremium},
       {"rewardId", "userId", "rewardType"}},
      {ev::RewardRevoked{kId, kUser, kId}, {"rewardId", "userId", "referralId"}},
      {ev::BadgeAwarded{kId, kUser, "Referral Master"}, {"rewardId", "userId", "badge"}},
      {ev::SubscriptionCreated{kId, kUser, "premium"}, {"subscriptionId", "userId", "tier"}},
      {ev::SubscriptionCancelled{kId, kUser, true}, {"subscriptionId", "userId", "refund"}},
  };
}

TEST(EventJsonTest, EveryTypeShowsExactlyItsContractFieldsAndReadsBack) {
  const auto samples = Samples();
  ASSERT_EQ(samples.size(), domain::kEventTypes.size());
  for (const auto& sample : samples) {
    const auto type = static_cast<EventType>(sample.data.index());
    SCOPED_TRACE(std::string(domain::ToString(type)));
    EXPECT_EQ(Keys(ToJson(sample.data)), sample.fields);
    const auto back = DecodeEventData(type, EncodeEventData(sample.data));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, sample.data);
  }
}

TEST(EventJsonTest, ValuesAreShownAsTheContractSays) {
  const auto granted = ToJson(Samples()[3].data);
  EXPECT_EQ(granted["rewardType"], "free_premium");
  EXPECT_EQ(granted["rewardValue"], json({{"days", 30}}));
  EXPECT_EQ(ToJson(Samples()[0].data)["expiresAt"], "2026-06-15T12:00:00.000Z");
  EXPECT_EQ(ToJson(Samples()[8].data)["refund"], true);

  const domain::Event event =
      domain::MakeEvent(kId, At("2025-06-15T12:00:00.007Z"), Samples()[6].data);
  EXPECT_EQ(ToJson(event),
            json({{"id", kId},
                  {"type", "badge.awarded"},
                  {"occurredAt", "2025-06-15T12:00:00.007Z"},
                  {"data", {{"rewardId", kId}, {"userId", kUser}, {"badge", "Referral Master"}}}}));
}

TEST(EventJsonTest, MalformedDataIsRefused) {
  EXPECT_EQ(DecodeEventData(EventType::kBadgeAwarded, "not json"), std::nullopt);
  EXPECT_EQ(DecodeEventData(EventType::kBadgeAwarded, "[]"), std::nullopt);
  // A field missing, or of another type.
  EXPECT_EQ(DecodeEventData(EventType::kBadgeAwarded, R"({"rewardId":"r","userId":"u"})"),
            std::nullopt);
  EXPECT_EQ(DecodeEventData(EventType::kSubscriptionCancelled,
                            R"({"subscriptionId":"s","userId":"u","refund":"yes"})"),
            std::nullopt);
  EXPECT_EQ(DecodeEventData(EventType::kCodeGenerated,
                            R"({"code":"C","userId":"u","expiresAt":"tomorrow"})"),
            std::nullopt);
  EXPECT_EQ(DecodeEventData(EventType::kRewardClaimed,
                            R"({"rewardId":"r","userId":"u","rewardType":"gold"})"),
            std::nullopt);
  // The data of another type.
  EXPECT_EQ(DecodeEventData(EventType::kReferralTracked, EncodeEventData(Samples()[6].data)),
            std::nullopt);
}

}  // namespace
}  // namespace referrald::codec
