#pragma once
// JSON at the HTTP edge (nlohmann-json): request bodies parsed into typed values — JSON types
// only (400 INVALID_JSON / VALIDATION_ERROR); ranges, formats and their messages are the domain's
// (domain/limits.hpp, domain/errors.hpp) — and domain values serialised in the contract's
// camelCase shapes.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/events.hpp"
#include "domain/jobs.hpp"
#include "domain/model.hpp"
#include "domain/paging.hpp"
#include "domain/personal_data.hpp"
#include "domain/rules.hpp"
#include "domain/webhook_service.hpp"
#include "domain/webhooks.hpp"
#include "http/request.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace referrald::http {

// --- bodies ---------------------------------------------------------------------------------

struct GenerateCodeBody {
  std::optional<std::int64_t> expires_in_days;  // any integer; the domain checks its range
};
struct TrackBody {
  std::string referral_code;  // as sent; the domain trims, uppercases and checks it
};
struct ClaimRewardBody {
  std::string reward_id;  // as sent; the domain checks it is a UUID
};
struct ConvertBody {
  std::string referred_user_id;  // as sent; the domain checks it is a UUID
};
struct CreateSubscriptionBody {
  std::string tier;   // the domain checks it is "premium"
  std::string nonce;  // the domain checks its length and characters
};
// POST /api/subscriptions/cancel: an empty body, {} or {"refund"?: bool, "reason"?: string}.
struct CancelSubscriptionBody {
  bool refund = false;
  std::optional<std::string> reason;  // the domain checks its length and characters
};

// POST /api/admin/webhooks: JSON types only (the domain checks the rest).
Result<domain::WebhookRegistration> ParseCreateWebhookBody(std::string_view body);
// POST /api/admin/webhooks/{id}/replay: an empty body, {} or {"after": CURSOR}. A cursor that is
// not a string domain::EncodeEventCursor made → INVALID_CURSOR.
Result<domain::EventPosition> ParseReplayBody(std::string_view body);

Result<GenerateCodeBody> ParseGenerateCodeBody(std::string_view body);
Result<TrackBody> ParseTrackBody(std::string_view body);
Result<ClaimRewardBody> ParseClaimRewardBody(std::string_view body);
Result<ConvertBody> ParseConvertBody(std::string_view body);
Result<CreateSubscriptionBody> ParseCreateSubscriptionBody(std::string_view body);
Result<CancelSubscriptionBody> ParseCancelSubscriptionBody(std::string_view body);

// A decimal integer in [min, max]; `fallback` when absent. Anything else (empty, sign, "5x",
// out of range) → VALIDATION_ERROR naming the parameter. (The read routes' own parameters are
// parsed by the domain: domain::ParseLeaderboardLimit and friends.)
Result<int> ParseIntParam(const Request& request, std::string_view name, int fallback, int min,
                          int max);

// --- responses ------------------------------------------------------------------------------

// A JSON response; invalid UTF-8 in strings is replaced, never thrown.
Response JsonResponse(int status, const nlohmann::json& body);
// 200 with one page of a paged list: `items` (a JSON array) as the body and, when there is a
// next page, `Link: <URL>; rel="next"` (RFC 8288): the request's path and query — filters and
// limit kept — with `after` set to the cursor of `next`.
Response PageResponse(const Request& request, const nlohmann::json& items,
                      const std::optional<domain::PageKey>& next, domain::PageKeyKind kind);
std::string DumpJson(const nlohmann::json& body);

// {code, userId, expiresAt, shareUrl}; shareUrl is `public_base_url`/r/CODE.
nlohmann::json GeneratedCodeJson(const domain::ReferralCode& code,
                                 std::string_view public_base_url);
// {code, userId, expiresAt, isActive, shareUrl}; isActive is false once expired at `now`.
nlohmann::json CodeJson(const domain::ReferralCode& code, TimePoint now,
                        std::string_view public_base_url);
// {message, referralId, referrerUserId}
nlohmann::json TrackedJson(const domain::Referral& referral);
// {totalReferrals, convertedReferrals, pendingReferrals, totalRewardsEarned, clicks}
nlohmann::json StatsJson(const domain::ReferrerStats& stats);
// [{id, rewardType, rewardValue, isClaimed, createdAt, claimedAt, expiresAt, status,
//   claimableAt}], the status as of `now`.
nlohmann::json RewardsJson(const std::vector<domain::Reward>& rewards, TimePoint now);
// [{referralId, referredEmail, status, createdAt, convertedAt}] (GET /api/referral/referrals)
nlohmann::json MyReferralsJson(const std::vector<domain::ReferralListing>& rows);
// [{referralId, referrerUserId, referredUserId, code, status, createdAt, convertedAt}]
// (GET /api/admin/referrals)
nlohmann::json AdminReferralsJson(const std::vector<domain::ReferralListing>& rows);
// {id, email, createdAt, premiumUntil, erasedAt, code, referrer, stats, rewards, subscription}
nlohmann::json UserLookupJson(const domain::UserLookup& lookup, TimePoint now,
                              std::string_view public_base_url);
// {user, codes, referralsMade, referredBy, rewards, subscriptions, automationLogs, events}
nlohmann::json UserExportJson(const domain::UserExport& exported);
// {message, reward: {id, rewardType, rewardValue, claimedAt}}
nlohmann::json ClaimedJson(const domain::Reward& reward);
// [{userId, email, totalReferrals, convertedReferrals, rank}]
nlohmann::json LeaderboardJson(const std::vector<domain::LeaderboardEntry>& rows);
// {totalReferrals, convertedReferrals, conversionRate, totalRewardsAwarded, activeCodes,
//  expiredCodes}
nlohmann::json AnalyticsJson(const domain::AnalyticsSummary& summary);
// [{date, signups, conversions}]
nlohmann::json TrendsJson(const std::vector<domain::DailyCount>& days);
// {message, referralId}
nlohmann::json ConvertedJson(const domain::Conversion& conversion);
// {subscriptionId, userId, tier, status}
nlohmann::json SubscriptionJson(const domain::Subscription& subscription);
// {subscriptionId, status}
nlohmann::json CancelledSubscriptionJson(const domain::SubscriptionCancellation& cancellation);
// {tier, status, premiumUntil}
nlohmann::json PremiumStatusJson(const domain::PremiumStatus& premium);
// {job, status, details} (+ error when the run failed)
nlohmann::json JobResultJson(const domain::JobResult& result);
// [{id, service, action, status, userId, details, errorMessage, createdAt}]
nlohmann::json AuditEntriesJson(const std::vector<domain::AuditEntry>& entries);
// {events: [{id, type, occurredAt, data}], nextCursor}
nlohmann::json EventPageJson(const domain::EventPage& page);
// {id, url, eventTypes, description, createdAt} (+ secret when `with_secret`: only the answer
// to the registration shows it). eventTypes is null for an endpoint that gets every type.
nlohmann::json WebhookJson(const domain::WebhookEndpoint& endpoint, bool with_secret);
nlohmann::json WebhooksJson(const std::vector<domain::WebhookEndpoint>& endpoints);
// [{eventId, type, attempt, status, responseStatus, lastAttemptAt, nextAttemptAt}]
nlohmann::json DeliveriesJson(const std::vector<domain::WebhookDelivery>& deliveries);

}  // namespace referrald::http
