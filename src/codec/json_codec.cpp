#include "codec/json_codec.hpp"

#include <variant>

#include "util/time_format.hpp"

namespace referrald::codec {

using nlohmann::json;

json ToJson(const domain::RewardValue& value) {
  json out = json::object();
  if (value.days) out["days"] = *value.days;
  if (value.badge) out["badge"] = *value.badge;
  return out;
}

std::optional<domain::RewardValue> RewardValueFromJson(const json& j) {
  if (!j.is_object()) return std::nullopt;
  domain::RewardValue value;
  if (auto it = j.find("days"); it != j.end() && it->is_number_integer()) {
    value.days = it->get<std::int64_t>();
  }
  if (auto it = j.find("badge"); it != j.end() && it->is_string()) {
    value.badge = it->get<std::string>();
  }
  return value;
}

json ToJson(const domain::Details& details) {
  // ordered_json would keep insertion order, but every other JSON value here is a plain json
  // object; keys come out sorted, which is as readable.
  json out = json::object();
  for (const auto& [key, value] : details) {
    std::visit([&out, &k = key](const auto& v) { out[k] = v; }, value);
  }
  return out;
}

std::optional<domain::Details> DetailsFromJson(const json& j) {
  if (!j.is_object()) return std::nullopt;
  domain::Details details;
  for (const auto& item : j.items()) {
    const auto& v = item.value();
    domain::AuditValue value;
    if (v.is_string()) {
      value = v.get<std::string>();
    } else if (v.is_boolean()) {
      value = v.get<bool>();
    } else if (v.is_number_integer()) {
      value = v.get<std::int64_t>();
    } else if (v.is_number_float()) {
      value = v.get<double>();
    } else {
      value = Dump(v);
    }
    details.emplace_back(item.key(), std::move(value));
  }
  return details;
}

namespace {

// Overloads for std::visit.
template <typename... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <typename... F>
Overloaded(F...) -> Overloaded<F...>;

std::string RewardTypeText(domain::RewardType type) { return std::string(domain::ToString(type)); }

// Reads members of an event's data object; any missing or mistyped member makes Ok() false.
class Fields {
 public:
  explicit Fields(const json& j) : j_(j) {}
  std::string Str(const char* key) {
    const auto it = j_.find(key);
    if (it == j_.end() || !it->is_string()) return Fail<std::string>();
    return it->get<std::string>();
  }
  bool Bool(const char* key) {
    const auto it = j_.find(key);
    if (it == j_.end() || !it->is_boolean()) return Fail<bool>();
    return it->get<bool>();
  }
  TimePoint Time(const char* key) {
    const auto t = ParseIso8601(Str(key));
    if (!t) return Fail<TimePoint>();
    return *t;
  }
  domain::RewardType Type(const char* key) {
    const auto t = domain::ParseRewardType(Str(key));
    if (!t) return Fail<domain::RewardType>();
    return *t;
  }
  domain::RewardValue Value(const char* key) {
    const auto it = j_.find(key);
    std::optional<domain::RewardValue> value;
    if (it != j_.end()) value = RewardValueFromJson(*it);
    if (!value) return Fail<domain::RewardValue>();
    return *value;
  }
  [[nodiscard]] bool Ok() const { return ok_; }

 private:
  template <typename T>
  T Fail() {
    ok_ = false;
    return T{};
  }
  const json& j_;
  bool ok_ = true;
};

template <typename T>
std::optional<domain::EventData> Read(const json& j, T (*read)(Fields&)) {
  Fields fields(j);
  T data = read(fields);
  if (!fields.Ok()) return std::nullopt;
  return domain::EventData(std::move(data));
}

}  // namespace

json ToJson(const domain::EventData& data) {
  namespace ev = domain::events;
  return std::visit(
      Overloaded{
          [](const ev::CodeGenerated& d) -> json {
            return {{"code", d.code},
                    {"userId", d.user_id},
                    {"expiresAt", FormatIso8601(d.expires_at)}};
          },
          [](const ev::ReferralTracked& d) -> json {
            return {{"referralId", d.referral_id},
                    {"referrerUserId", d.referrer_user_id},
                    {"referredUserId", d.referred_user_id},
                    {"code", d.code}};
          },
          [](const ev::ReferralConverted& d) -> json {
            return {{"referralId", d.referral_id},
                    {"referrerUserId", d.referrer_user_id},
                    {"referredUserId", d.referred_user_id},
                    {"rewardId", d.reward_id}};
          },
          [](const ev::RewardGranted& d) -> json {
            return {{"rewardId", d.reward_id},
                    {"userId", d.user_id},
                    {"rewardType", RewardTypeText(d.reward_type)},
                    {"rewardValue", ToJson(d.reward_value)},
                    {"referralId", d.referral_id}};
          },
          [](const ev::RewardClaimed& d) -> json {
            return {{"rewardId", d.reward_id},
                    {"userId", d.user_id},
                    {"rewardType", RewardTypeText(d.reward_type)}};
          },
          [](const ev::RewardRevoked& d) -> json {
            return {
                {"rewardId", d.reward_id}, {"userId", d.user_id}, {"referralId", d.referral_id}};
          },
          [](const ev::BadgeAwarded& d) -> json {
            return {{"rewardId", d.reward_id}, {"userId", d.user_id}, {"badge", d.badge}};
          },
          [](const ev::SubscriptionCreated& d) -> json {
            return {{"subscriptionId", d.subscription_id}, {"userId", d.user_id}, {"tier", d.tier}};
          },
          [](const ev::SubscriptionCancelled& d) -> json {
            return {
                {"subscriptionId", d.subscription_id}, {"userId", d.user_id}, {"refund", d.refund}};
          },
      },
      data);
}

std::optional<domain::EventData> EventDataFromJson(domain::EventType type, const json& j) {
  namespace ev = domain::events;
  using domain::EventType;
  if (!j.is_object()) return std::nullopt;
  switch (type) {
    case EventType::kCodeGenerated:
      return Read<ev::CodeGenerated>(j, [](Fields& f) {
        return ev::CodeGenerated{f.Str("code"), f.Str("userId"), f.Time("expiresAt")};
      });
    case EventType::kReferralTracked:
      return Read<ev::ReferralTracked>(j, [](Fields& f) {
        return ev::ReferralTracked{f.Str("referralId"), f.Str("referrerUserId"),
                                   f.Str("referredUserId"), f.Str("code")};
      });
    case EventType::kReferralConverted:
      return Read<ev::ReferralConverted>(j, [](Fields& f) {
        return ev::ReferralConverted{f.Str("referralId"), f.Str("referrerUserId"),
                                     f.Str("referredUserId"), f.Str("rewardId")};
      });
    case EventType::kRewardGranted:
      return Read<ev::RewardGranted>(j, [](Fields& f) {
        return ev::RewardGranted{f.Str("rewardId"), f.Str("userId"), f.Type("rewardType"),
                                 f.Value("rewardValue"), f.Str("referralId")};
      });
    case EventType::kRewardClaimed:
      return Read<ev::RewardClaimed>(j, [](Fields& f) {
        return ev::RewardClaimed{f.Str("rewardId"), f.Str("userId"), f.Type("rewardType")};
      });
    case EventType::kRewardRevoked:
      return Read<ev::RewardRevoked>(j, [](Fields& f) {
        return ev::RewardRevoked{f.Str("rewardId"), f.Str("userId"), f.Str("referralId")};
      });
    case EventType::kBadgeAwarded:
      return Read<ev::BadgeAwarded>(j, [](Fields& f) {
        return ev::BadgeAwarded{f.Str("rewardId"), f.Str("userId"), f.Str("badge")};
      });
    case EventType::kSubscriptionCreated:
      return Read<ev::SubscriptionCreated>(j, [](Fields& f) {
        return ev::SubscriptionCreated{f.Str("subscriptionId"), f.Str("userId"), f.Str("tier")};
      });
    case EventType::kSubscriptionCancelled:
      return Read<ev::SubscriptionCancelled>(j, [](Fields& f) {
        return ev::SubscriptionCancelled{f.Str("subscriptionId"), f.Str("userId"),
                                         f.Bool("refund")};
      });
  }
  return std::nullopt;
}

json ToJson(const domain::Event& event) {
  return {{"id", event.id},
          {"type", std::string(domain::ToString(event.type()))},
          {"occurredAt", FormatIso8601(event.occurred_at)},
          {"data", ToJson(event.data)}};
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::optional<json> Parse(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string EncodeRewardValue(const domain::RewardValue& value) { return Dump(ToJson(value)); }

std::optional<domain::RewardValue> DecodeRewardValue(std::string_view text) {
  auto j = Parse(text);
  if (!j) return std::nullopt;
  return RewardValueFromJson(*j);
}

std::string JsonStringContent(std::string_view text) {
  std::string quoted = Dump(nlohmann::json(std::string(text)));
  return quoted.size() >= 2 ? quoted.substr(1, quoted.size() - 2) : std::string();
}

std::string EncodeDetails(const domain::Details& details) { return Dump(ToJson(details)); }

std::optional<domain::Details> DecodeDetails(std::string_view text) {
  auto j = Parse(text);
  if (!j) return std::nullopt;
  return DetailsFromJson(*j);
}

std::string EncodeEventData(const domain::EventData& data) { return Dump(ToJson(data)); }

std::optional<domain::EventData> DecodeEventData(domain::EventType type, std::string_view text) {
  auto j = Parse(text);
  if (!j) return std::nullopt;
  return EventDataFromJson(type, *j);
}

nlohmann::json ToJson(const std::vector<domain::EventType>& types) {
  nlohmann::json names = nlohmann::json::array();
  for (const auto type : types) names.push_back(domain::ToString(type));
  return names;
}

std::string EncodeEventTypes(const std::vector<domain::EventType>& types) {
  return Dump(ToJson(types));
}

std::optional<std::vector<domain::EventType>> DecodeEventTypes(std::string_view text) {
  auto j = Parse(text);
  if (!j || !j->is_array()) return std::nullopt;
  std::vector<domain::EventType> types;
  for (const auto& name : *j) {
    if (!name.is_string()) return std::nullopt;
    auto type = domain::ParseEventType(name.get<std::string>());
    if (!type) return std::nullopt;
    types.push_back(*type);
  }
  return types;
}

}  // namespace referrald::codec
