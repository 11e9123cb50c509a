#include "http/json_mapping.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "codec/json_codec.hpp"
#include "domain/errors.hpp"
#include "domain/paging.hpp"
#include "http/error_mapping.hpp"
#include "http/links.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::http {
namespace {

using json = nlohmann::json;
using http_errors::Validation;

bool IsBlank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// Malformed JSON (including invalid UTF-8) or a non-object → INVALID_JSON; a number too large
// for a double (1e400) → VALIDATION_ERROR.
Result<json> ParseObject(std::string_view body) {
  json value;
  try {
    value = json::parse(body);
  } catch (const json::out_of_range&) {
    return Validation("A number in the request body is out of range");
  } catch (const json::exception&) {
    return http_errors::InvalidJson();
  }
  if (!value.is_object()) return http_errors::InvalidJson();
  return value;
}

// The field `name`; nullopt when absent or null.
const json* Field(const json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::string> RequiredString(const json& object, const char* name) {
  const json* field = Field(object, name);
  if (field == nullptr) return Validation(std::string(name) + " is required");
  if (!field->is_string()) return Validation(std::string(name) + " must be a string");
  return field->get<std::string>();
}

json OptionalTime(const std::optional<TimePoint>& t) {
  return t ? json(FormatIso8601(*t)) : json(nullptr);
}

json OptionalString(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

// RFC 3986 percent-encoding of a query component: every byte but the unreserved characters.
void AppendQueryComponent(std::string& out, std::string_view text) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (std::isalnum(b) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[b >> 4U]);
      out.push_back(kHex[b & 0xFU]);
    }
  }
}

}  // namespace

// --- bodies ---------------------------------------------------------------------------------

Result<domain::WebhookRegistration> ParseCreateWebhookBody(std::string_view body) {
  auto object = ParseObject(body);
  if (!object) return object.error();
  domain::WebhookRegistration registration;
  auto url = RequiredString(*object, "url");
  if (!url) return url.error();
  registration.url = std::move(*url);
  if (const json* types = Field(*object, "eventTypes"); types != nullptr) {
    if (!types->is_array()) return domain::errors::InvalidWebhookEventTypes();
    registration.event_types.emplace();
    for (const json& type : *types) {
      if (!type.is_string()) return domain::errors::InvalidWebhookEventTypes();
      registration.event_types->push_back(type.get<std::string>());
    }
  }
  if (const json* description = Field(*object, "description"); description != nullptr) {
    if (!description->is_string()) return domain::errors::InvalidWebhookDescription();
    registration.description = description->get<std::string>();
  }
  return registration;
}

Result<domain::EventPosition> ParseReplayBody(std::string_view body) {
  if (IsBlank(body)) return domain::EventPosition{};
  auto object = ParseObject(body);
  if (!object) return object.error();
  const json* after = Field(*object, "after");
  if (after == nullptr) return domain::EventPosition{};
  if (!after->is_string()) return domain::errors::InvalidCursor();
  return domain::ParseEventCursor(after->get<std::string>());
}

Result<GenerateCodeBody> ParseGenerateCodeBody(std::string_view body) {
  GenerateCodeBody out;
  if (IsBlank(body)) return out;
  auto object = ParseObject(body);
  if (!object) return object.error();
  const json* days = Field(*object, "expiresInDays");
  if (days == nullptr) return out;
  // Not an integer, or one no int64 holds: the domain's message for the field.
  if (!days->is_number_integer()) return domain::errors::InvalidExpiresInDays();
  if (days->is_number_unsigned() &&
      days->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
    return domain::errors::InvalidExpiresInDays();
  }
  out.expires_in_days = days->get<std::int64_t>();
  return out;
}

Result<TrackBody> ParseTrackBody(std::string_view body) {
  auto object = ParseObject(body);
  if (!object) return object.error();
  auto code = RequiredString(*object, "referralCode");
  if (!code) return code.error();
  return TrackBody{std::move(*code)};
}

Result<ClaimRewardBody> ParseClaimRewardBody(std::string_view body) {
  auto object = ParseObject(body);
  if (!object) return object.error();
  auto id = RequiredString(*object, "rewardId");
  if (!id) return id.error();
  return ClaimRewardBody{std::move(*id)};
}

Result<ConvertBody> ParseConvertBody(std::string_view body) {
  auto object = ParseObject(body);
  if (!object) return object.error();
  auto id = RequiredString(*object, "referredUserId");
  if (!id) return id.error();
  return ConvertBody{std::move(*id)};
}

Result<CreateSubscriptionBody> ParseCreateSubscriptionBody(std::string_view body) {
  auto object = ParseObject(body);
  if (!object) return object.error();
  auto tier = RequiredString(*object, "tier");
  if (!tier) return tier.error();
  auto nonce = RequiredString(*object, "nonce");
  if (!nonce) return nonce.error();
  return CreateSubscriptionBody{std::move(*tier), std::move(*nonce)};
}

Result<CancelSubscriptionBody> ParseCancelSubscriptionBody(std::string_view body) {
  CancelSubscriptionBody out;
  if (IsBlank(body)) return out;
  auto object = ParseObject(body);
  if (!object) return object.error();
  if (const json* refund = Field(*object, "refund"); refund != nullptr) {
    if (!refund->is_boolean()) return Validation("refund must be a boolean");
    out.refund = refund->get<bool>();
  }
  if (const json* reason = Field(*object, "reason"); reason != nullptr) {
    if (!reason->is_string()) return domain::errors::InvalidCancelReason();
    out.reason = reason->get<std::string>();
  }
  return out;
}

// --- query parameters -----------------------------------------------------------------------

Result<int> ParseIntParam(const Request& request, std::string_view name, int fallback, int min,
                          int max) {
  const auto value = request.QueryParam(name);
  if (!value) return fallback;
  const auto invalid = [&] {
    return Validation(std::string(name) + " must be an integer between " + std::to_string(min) +
                      " and " + std::to_string(max));
  };
  if (value->empty() || value->size() > 9 ||
      !std::all_of(value->begin(), value->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return invalid();
  }
  int parsed = 0;
  const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), parsed);
  if (ec != std::errc() || end != value->data() + value->size() || parsed < min || parsed > max) {
    return invalid();
  }
  return parsed;
}

// --- responses ------------------------------------------------------------------------------

std::string DumpJson(const json& body) { return codec::Dump(body); }

Response JsonResponse(int status, const json& body) {
  Response response;
  response.status = status;
  response.body = DumpJson(body);
  return response;
}

Response PageResponse(const Request& request, const json& items,
                      const std::optional<domain::PageKey>& next, domain::PageKeyKind kind) {
  Response response = JsonResponse(status::kOk, items);
  if (!next) return response;
  // The request's own path and parameters (as decoded, encoded again), `after` replaced.
  std::string url = request.path;
  char separator = '?';
  for (const auto& [name, value] : request.query) {
    if (name == "after") continue;
    url.push_back(separator);
    separator = '&';
    AppendQueryComponent(url, name);
    url.push_back('=');
    AppendQueryComponent(url, value);
  }
  url.push_back(separator);
  url += "after=";
  AppendQueryComponent(url, domain::EncodePageCursor(*next, kind));
  response.SetHeader("Link", "<" + url + ">; rel=\"next\"");
  return response;
}

json GeneratedCodeJson(const domain::ReferralCode& code, std::string_view public_base_url) {
  return {{"code", code.code},
          {"userId", code.user_id},
          {"expiresAt", FormatIso8601(code.expires_at)},
          {"shareUrl", ShareUrl(public_base_url, code.code)}};
}

json CodeJson(const domain::ReferralCode& code, TimePoint now, std::string_view public_base_url) {
  json out = GeneratedCodeJson(code, public_base_url);
  out["isActive"] = code.is_active && code.expires_at > now;
  return out;
}

json TrackedJson(const domain::Referral& referral) {
  return {{"message", "Referral tracked successfully"},
          {"referralId", referral.id},
          {"referrerUserId", referral.referrer_user_id}};
}

json StatsJson(const domain::ReferrerStats& stats) {
  return {{"totalReferrals", stats.total_referrals},
          {"convertedReferrals", stats.converted_referrals},
          {"pendingReferrals", stats.pending_referrals},
          {"totalRewardsEarned", stats.total_rewards_earned},
          {"clicks", stats.clicks}};
}

json RewardsJson(const std::vector<domain::Reward>& rewards, TimePoint now) {
  json out = json::array();
  for (const auto& reward : rewards) {
    out.push_back({{"id", reward.id},
                   {"rewardType", std::string(domain::ToString(reward.type))},
                   {"rewardValue", codec::ToJson(reward.value)},
                   {"isClaimed", reward.is_claimed},
                   {"createdAt", FormatIso8601(reward.created_at)},
                   {"claimedAt", OptionalTime(reward.claimed_at)},
                   {"expiresAt", OptionalTime(reward.expires_at)},
                   {"status", std::string(domain::ToString(domain::RewardStatusAt(reward, now)))},
                   {"claimableAt", FormatIso8601(reward.claimable_at)}});
  }
  return out;
}

json MyReferralsJson(const std::vector<domain::ReferralListing>& rows) {
  json out = json::array();
  for (const auto& row : rows) {
    out.push_back({{"referralId", row.referral.id},
                   {"referredEmail", OptionalString(row.referred_email)},
                   {"status", std::string(domain::ToString(row.referral.status))},
                   {"createdAt", FormatIso8601(row.referral.created_at)},
                   {"convertedAt", OptionalTime(row.referral.converted_at)}});
  }
  return out;
}

json AdminReferralsJson(const std::vector<domain::ReferralListing>& rows) {
  json out = json::array();
  for (const auto& row : rows) {
    out.push_back({{"referralId", row.referral.id},
                   {"referrerUserId", row.referral.referrer_user_id},
                   {"referredUserId", row.referral.referred_user_id},
                   {"code", row.code},
                   {"status", std::string(domain::ToString(row.referral.status))},
                   {"createdAt", FormatIso8601(row.referral.created_at)},
                   {"convertedAt", OptionalTime(row.referral.converted_at)}});
  }
  return out;
}

json UserLookupJson(const domain::UserLookup& lookup, TimePoint now,
                    std::string_view public_base_url) {
  json referrer = nullptr;
  if (lookup.referred_by) {
    referrer = {{"userId", lookup.referred_by->referrer_user_id},
                {"referralId", lookup.referred_by->id},
                {"status", std::string(domain::ToString(lookup.referred_by->status))}};
  }
  return {{"id", lookup.user.id},
          {"email", OptionalString(lookup.user.email)},
          {"createdAt", FormatIso8601(lookup.user.created_at)},
          {"premiumUntil", OptionalTime(lookup.user.premium_until)},
          {"erasedAt", OptionalTime(lookup.user.erased_at)},
          {"code", lookup.code ? CodeJson(*lookup.code, now, public_base_url) : json(nullptr)},
          {"referrer", std::move(referrer)},
          {"stats", StatsJson(lookup.stats)},
          {"rewards", RewardsJson(lookup.rewards, now)},
          {"subscription", PremiumStatusJson(lookup.subscription)}};
}

namespace {

json CodeRowJson(const domain::ReferralCode& code) {
  return {{"id", code.id},
          {"code", code.code},
          {"isActive", code.is_active},
          {"createdAt", FormatIso8601(code.created_at)},
          {"expiresAt", FormatIso8601(code.expires_at)}};
}

json ReferralRowJson(const domain::Referral& r) {
  return {{"id", r.id},
          {"referrerUserId", r.referrer_user_id},
          {"referredUserId", r.referred_user_id},
          {"referralCodeId", r.referral_code_id},
          {"status", std::string(domain::ToString(r.status))},
          {"createdAt", FormatIso8601(r.created_at)},
          {"convertedAt", OptionalTime(r.converted_at)}};
}

json RewardRowJson(const domain::Reward& r) {
  return {{"id", r.id},
          {"rewardType", std::string(domain::ToString(r.type))},
          {"rewardValue", codec::ToJson(r.value)},
          {"isClaimed", r.is_claimed},
          {"createdAt", FormatIso8601(r.created_at)},
          {"claimedAt", OptionalTime(r.claimed_at)},
          {"expiresAt", OptionalTime(r.expires_at)},
          {"sourceReferralId", OptionalString(r.source_referral_id)}};
}

json SubscriptionRowJson(const domain::Subscription& s) {
  return {{"id", s.id},
          {"tier", s.tier},
          {"status", s.status},
          {"provider", s.provider},
          {"providerRef", s.provider_ref},
          {"createdAt", FormatIso8601(s.created_at)}};
}

template <typename T, typename F>
json ArrayOf(const std::vector<T>& rows, F&& one) {
  json out = json::array();
  for (const auto& row : rows) out.push_back(one(row));
  return out;
}

}  // namespace

json UserExportJson(const domain::UserExport& exported) {
  const domain::User& user = exported.user;
  return {
      {"user",
       {{"id", user.id},
        {"email", OptionalString(user.email)},
        {"createdAt", FormatIso8601(user.created_at)},
        {"premiumUntil", OptionalTime(user.premium_until)},
        {"erasedAt", OptionalTime(user.erased_at)}}},
      {"codes", ArrayOf(exported.codes, CodeRowJson)},
      {"referralsMade", ArrayOf(exported.referrals_made, ReferralRowJson)},
      {"referredBy", exported.referred_by ? ReferralRowJson(*exported.referred_by) : json(nullptr)},
      {"rewards", ArrayOf(exported.rewards, RewardRowJson)},
      {"subscriptions", ArrayOf(exported.subscriptions, SubscriptionRowJson)},
      {"automationLogs", AuditEntriesJson(exported.automation_logs)},
      {"events",
       ArrayOf(exported.events, [](const domain::Event& e) { return codec::ToJson(e); })}};
}

json ClaimedJson(const domain::Reward& reward) {
  return {{"message", "Reward claimed successfully"},
          {"reward",
           {{"id", reward.id},
            {"rewardType", std::string(domain::ToString(reward.type))},
            {"rewardValue", codec::ToJson(reward.value)},
            {"claimedAt", OptionalTime(reward.claimed_at)}}}};
}

json LeaderboardJson(const std::vector<domain::LeaderboardEntry>& rows) {
  json out = json::array();
  for (const auto& row : rows) {
    out.push_back({{"userId", row.user_id},
                   {"email", OptionalString(row.email)},
                   {"totalReferrals", row.total_referrals},
                   {"convertedReferrals", row.converted_referrals},
                   {"rank", row.rank}});
  }
  return out;
}

json AnalyticsJson(const domain::AnalyticsSummary& summary) {
  return {{"totalReferrals", summary.counts.total_referrals},
          {"convertedReferrals", summary.counts.converted_referrals},
          {"conversionRate", summary.conversion_rate},
          {"totalRewardsAwarded", summary.counts.total_rewards_awarded},
          {"activeCodes", summary.counts.active_codes},
          {"expiredCodes", summary.counts.expired_codes},
          {"clicks", summary.counts.clicks},
          {"clickToSignupRate", summary.click_to_signup_rate}};
}

json TrendsJson(const std::vector<domain::DailyCount>& days) {
  json out = json::array();
  for (const auto& day : days) {
    out.push_back({{"date", day.date},
                   {"signups", day.signups},
                   {"conversions", day.conversions},
                   {"clicks", day.clicks}});
  }
  return out;
}

json ConvertedJson(const domain::Conversion& conversion) {
  return {{"message", "Referral converted successfully"}, {"referralId", conversion.referral.id}};
}

json SubscriptionJson(const domain::Subscription& subscription) {
  return {{"subscriptionId", subscription.id},
          {"userId", subscription.user_id},
          {"tier", subscription.tier},
          {"status", subscription.status}};
}

json CancelledSubscriptionJson(const domain::SubscriptionCancellation& cancellation) {
  return {{"subscriptionId", cancellation.subscription.id},
          {"status", cancellation.subscription.status}};
}

json PremiumStatusJson(const domain::PremiumStatus& premium) {
  return {{"tier", premium.tier},
          {"status", premium.status},
          {"premiumUntil", OptionalTime(premium.premium_until)}};
}

json JobResultJson(const domain::JobResult& result) {
  json out{{"job", result.job},
           {"status", std::string(domain::ToString(result.status))},
           {"details", codec::ToJson(result.details)}};
  if (!result.error.empty()) out["error"] = result.error;
  return out;
}

json AuditEntriesJson(const std::vector<domain::AuditEntry>& entries) {
  json out = json::array();
  for (const auto& e : entries) {
    out.push_back({{"id", e.id},
                   {"service", e.service},
                   {"action", e.action},
                   {"status", std::string(domain::ToString(e.status))},
                   {"userId", e.user_id ? json(*e.user_id) : json(nullptr)},
                   {"details", codec::ToJson(e.details)},
                   {"errorMessage", e.error_message ? json(*e.error_message) : json(nullptr)},
                   {"createdAt", FormatIso8601(e.created_at)}});
  }
  return out;
}

json EventPageJson(const domain::EventPage& page) {
  json events = json::array();
  for (const auto& event : page.events) events.push_back(codec::ToJson(event));
  return {{"events", std::move(events)}, {"nextCursor", domain::EncodeEventCursor(page.next)}};
}

json WebhookJson(const domain::WebhookEndpoint& endpoint, bool with_secret) {
  json out = {{"id", endpoint.id},
              {"url", endpoint.url},
              {"eventTypes", endpoint.event_types ? codec::ToJson(*endpoint.event_types) : json()},
              {"description", OptionalString(endpoint.description)}};
  if (with_secret) out["secret"] = endpoint.secret;
  out["createdAt"] = FormatIso8601(endpoint.created_at);
  return out;
}

json WebhooksJson(const std::vector<domain::WebhookEndpoint>& endpoints) {
  json out = json::array();
  for (const auto& endpoint : endpoints) out.push_back(WebhookJson(endpoint, false));
  return out;
}

json DeliveriesJson(const std::vector<domain::WebhookDelivery>& deliveries) {
  json out = json::array();
  for (const auto& d : deliveries) {
    out.push_back({{"eventId", d.event_id},
                   {"type", domain::ToString(d.type)},
                   {"attempt", d.attempt},
                   {"status", domain::ToString(d.status)},
                   {"responseStatus", d.response_status ? json(*d.response_status) : json()},
                   {"lastAttemptAt", OptionalTime(d.last_attempt_at)},
                   {"nextAttemptAt", OptionalTime(d.next_attempt_at)}});
  }
  return out;
}

}  // namespace referrald::http
