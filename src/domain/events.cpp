#include "domain/events.hpp"

#include "domain/errors.hpp"
#include "domain/limits.hpp"
#include "domain/rules.hpp"

namespace referrald::domain {

std::string_view ToString(EventType type) {
  switch (type) {
    case EventType::kCodeGenerated:
      return "code.generated";
    case EventType::kReferralTracked:
      return "referral.tracked";
    case EventType::kReferralConverted:
      return "referral.converted";
    case EventType::kRewardGranted:
      return "reward.granted";
    case EventType::kRewardClaimed:
      return "reward.claimed";
    case EventType::kRewardRevoked:
      return "reward.revoked";
    case EventType::kBadgeAwarded:
      return "badge.awarded";
    case EventType::kSubscriptionCreated:
      return "subscription.created";
    case EventType::kSubscriptionCancelled:
      return "subscription.cancelled";
  }
  return "code.generated";
}

std::optional<EventType> ParseEventType(std::string_view s) {
  for (const EventType type : kEventTypes) {
    if (ToString(type) == s) return type;
  }
  return std::nullopt;
}

Result<int> ParseEventLimit(std::optional<std::string_view> text) {
  return ParseBoundedInt(text, kDefaultEventLimit, 1, kMaxEventLimit, errors::InvalidEventLimit());
}

Result<std::optional<EventType>> ParseEventTypeParam(std::optional<std::string_view> text) {
  if (!text) return std::optional<EventType>();
  auto type = ParseEventType(*text);
  if (!type) return errors::InvalidEventType();
  return type;
}

}  // namespace referrald::domain
