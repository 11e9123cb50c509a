#pragma once
// The one JSON codec for the domain values stored in JSON columns (user_rewards.reward_value,
// automation_logs.details, events.data) and shown in API responses. Both storage backends and the
// HTTP layer use it, so a value reads back exactly as it was written and is shown the same way
// everywhere.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/events.hpp"
#include "domain/model.hpp"

namespace referrald::codec {

// {"days": N} for free_premium, {"badge": "..."} for a badge (absent members omitted).
nlohmann::json ToJson(const domain::RewardValue& value);
// Reads the members it knows; others are ignored. nullopt when `json` is not an object.
std::optional<domain::RewardValue> RewardValueFromJson(const nlohmann::json& json);

// A flat object of the details' keys and values, in their order.
nlohmann::json ToJson(const domain::Details& details);
// Strings, integers, floats and booleans map to themselves; any other member is kept as its JSON
// text. nullopt when `json` is not an object.
std::optional<domain::Details> DetailsFromJson(const nlohmann::json& json);

// An event's data: §10's fields for its type, camelCase (timestamps ISO 8601, rewardValue as
// above). Back: nullopt when `json` is not such an object for `type` (a field missing or of
// another type); members it does not know are ignored.
nlohmann::json ToJson(const domain::EventData& data);
std::optional<domain::EventData> EventDataFromJson(domain::EventType type,
                                                   const nlohmann::json& json);
// {id, type, occurredAt, data}: an event as the feed (and a webhook delivery) shows it.
nlohmann::json ToJson(const domain::Event& event);

// Compact JSON text; invalid UTF-8 in strings is replaced, never thrown.
std::string Dump(const nlohmann::json& json);
// How `text` appears inside a JSON string in the text Dump writes: escaped, without the quotes
// (so that a stored value can be found and replaced in JSON text).
std::string JsonStringContent(std::string_view text);
// Parses JSON text; nullopt when malformed.
std::optional<nlohmann::json> Parse(std::string_view text);

// Column helpers: the text stored in a JSON column, and back (nullopt when it is not what the
// column should hold).
std::string EncodeRewardValue(const domain::RewardValue& value);
std::optional<domain::RewardValue> DecodeRewardValue(std::string_view text);
std::string EncodeDetails(const domain::Details& details);
std::optional<domain::Details> DecodeDetails(std::string_view text);
std::string EncodeEventData(const domain::EventData& data);
std::optional<domain::EventData> DecodeEventData(domain::EventType type, std::string_view text);
// A webhook's event types as a JSON array of their names (webhook_endpoints.event_types), and
// back: nullopt when not an array of known names.
nlohmann::json ToJson(const std::vector<domain::EventType>& types);
std::string EncodeEventTypes(const std::vector<domain::EventType>& types);
std::optional<std::vector<domain::EventType>> DecodeEventTypes(std::string_view text);

}  // namespace referrald::codec
