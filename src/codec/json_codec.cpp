#include "codec/json_codec.hpp"

#include <variant>

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

std::string EncodeDetails(const domain::Details& details) { return Dump(ToJson(details)); }

std::optional<domain::Details> DecodeDetails(std::string_view text) {
  auto j = Parse(text);
  if (!j) return std::nullopt;
  return DetailsFromJson(*j);
}

}  // namespace referrald::codec
