#pragma once
// The event outbox's vocabulary (contract §10 "Events"): every change of state is recorded as an
// Event in the same transaction as the change (WriteTx::AppendEvent), and read back in commit
// order through Store::ListEvents with an opaque cursor. Plain data: the JSON shape of each
// event's data is the codec's (codec/json_codec.hpp), the SQL the stores'.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "domain/model.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace referrald::domain {

// The contract's event types, in the order of §10's table. EventData below lists one struct per
// type in the same order.
enum class EventType : std::uint8_t {
  kCodeGenerated,
  kReferralTracked,
  kReferralConverted,
  kRewardGranted,
  kRewardClaimed,
  kRewardRevoked,
  kBadgeAwarded,
  kSubscriptionCreated,
  kSubscriptionCancelled,
};
inline constexpr std::array kEventTypes{
    EventType::kCodeGenerated, EventType::kReferralTracked,     EventType::kReferralConverted,
    EventType::kRewardGranted, EventType::kRewardClaimed,       EventType::kRewardRevoked,
    EventType::kBadgeAwarded,  EventType::kSubscriptionCreated, EventType::kSubscriptionCancelled};

// The wire name: "code.generated", "referral.tracked", ...
std::string_view ToString(EventType type);
std::optional<EventType> ParseEventType(std::string_view s);

// The data of each type: exactly §10's fields (their JSON names in the comments).
namespace events {
struct CodeGenerated {  // code, userId, expiresAt
  static constexpr EventType kType = EventType::kCodeGenerated;
  std::string code;
  std::string user_id;
  TimePoint expires_at;
  bool operator==(const CodeGenerated&) const = default;
};
struct ReferralTracked {  // referralId, referrerUserId, referredUserId, code
  static constexpr EventType kType = EventType::kReferralTracked;
  std::string referral_id;
  std::string referrer_user_id;
  std::string referred_user_id;
  std::string code;
  bool operator==(const ReferralTracked&) const = default;
};
struct ReferralConverted {  // referralId, referrerUserId, referredUserId, rewardId
  static constexpr EventType kType = EventType::kReferralConverted;
  std::string referral_id;
  std::string referrer_user_id;
  std::string referred_user_id;
  std::string reward_id;
  bool operator==(const ReferralConverted&) const = default;
};
struct RewardGranted {  // rewardId, userId, rewardType, rewardValue, referralId
  static constexpr EventType kType = EventType::kRewardGranted;
  std::string reward_id;
  std::string user_id;
  RewardType reward_type = RewardType::kFreePremium;
  RewardValue reward_value;
  std::string referral_id;
  bool operator==(const RewardGranted&) const = default;
};
struct RewardClaimed {  // rewardId, userId, rewardType
  static constexpr EventType kType = EventType::kRewardClaimed;
  std::string reward_id;
  std::string user_id;
  RewardType reward_type = RewardType::kFreePremium;
  bool operator==(const RewardClaimed&) const = default;
};
struct RewardRevoked {  // rewardId, userId, referralId
  static constexpr EventType kType = EventType::kRewardRevoked;
  std::string reward_id;
  std::string user_id;
  std::string referral_id;
  bool operator==(const RewardRevoked&) const = default;
};
struct BadgeAwarded {  // rewardId, userId, badge
  static constexpr EventType kType = EventType::kBadgeAwarded;
  std::string reward_id;
  std::string user_id;
  std::string badge;
  bool operator==(const BadgeAwarded&) const = default;
};
struct SubscriptionCreated {  // subscriptionId, userId, tier
  static constexpr EventType kType = EventType::kSubscriptionCreated;
  std::string subscription_id;
  std::string user_id;
  std::string tier;
  bool operator==(const SubscriptionCreated&) const = default;
};
struct SubscriptionCancelled {  // subscriptionId, userId, refund
  static constexpr EventType kType = EventType::kSubscriptionCancelled;
  std::string subscription_id;
  std::string user_id;
  bool refund = false;
  bool operator==(const SubscriptionCancelled&) const = default;
};
}  // namespace events

// One alternative per EventType, in the enum's order: the data decides the type, so the two
// cannot disagree.
using EventData =
    std::variant<events::CodeGenerated, events::ReferralTracked, events::ReferralConverted,
                 events::RewardGranted, events::RewardClaimed, events::RewardRevoked,
                 events::BadgeAwarded, events::SubscriptionCreated, events::SubscriptionCancelled>;
namespace events {
template <std::size_t... I>
constexpr bool AlternativesFollowTheEnum(std::index_sequence<I...> /*unused*/) {
  return ((std::variant_alternative_t<I, EventData>::kType == static_cast<EventType>(I)) && ...);
}
}  // namespace events
static_assert(std::variant_size_v<EventData> == kEventTypes.size());
static_assert(events::AlternativesFollowTheEnum(std::make_index_sequence<kEventTypes.size()>()));

struct Event {
  std::string id;  // a UUID from the domain's IdGenerator
  TimePoint occurred_at;
  EventData data;

  [[nodiscard]] EventType type() const { return static_cast<EventType>(data.index()); }
  bool operator==(const Event&) const = default;
};

// An Event of `data`'s type, named `id`, at `now`.
inline Event MakeEvent(std::string id, TimePoint now, EventData data) {
  return Event{std::move(id), now, std::move(data)};
}

// A place in the feed: a page lists the events after it. The default position is before the
// first event. Each backend fills the parts it orders by (SQLite: seq; PostgreSQL: the writing
// transaction's id, then seq); callers only carry it, as an opaque cursor.
struct EventPosition {
  std::uint64_t tx = 0;
  std::int64_t seq = 0;
  bool operator==(const EventPosition&) const = default;
};

struct EventPage {
  std::vector<Event> events;  // in feed order
  // Where the next page starts: the last event listed, or the position asked for when none was.
  // At the end of the feed that is where events not yet listed will appear.
  EventPosition next;
};

// The query parameters of GET /api/admin/events, parsed and checked (absent: the default). The
// cursor (`after`) is the HTTP layer's encoding of an EventPosition (http/cursor.hpp).
// Errors: InvalidEventLimit, InvalidEventType (VALIDATION_ERROR).
Result<int> ParseEventLimit(std::optional<std::string_view> text);
Result<std::optional<EventType>> ParseEventTypeParam(std::optional<std::string_view> text);

}  // namespace referrald::domain
