// /api/referral/*: each handler parses, calls ReferralService, and maps the result. A write's
// success is rendered through a WriteAnswer, inside the use case's transaction when the request
// holds an Idempotency-Key (http/idempotency.hpp).

#include "domain/paging.hpp"
#include "domain/referral_service.hpp"
#include "domain/rules.hpp"
#include "http/error_mapping.hpp"
#include "http/handlers/handlers.hpp"
#include "http/idempotency.hpp"
#include "http/json_mapping.hpp"

namespace referrald::http {
namespace {

Response TrackedResponse(const domain::Referral& referral) {
  return JsonResponse(status::kCreated, TrackedJson(referral));
}
Response ClaimedResponse(const domain::Reward& reward) {
  return JsonResponse(status::kOk, ClaimedJson(reward));
}
Response ConvertedResponse(const domain::Conversion& conversion) {
  return JsonResponse(status::kOk, ConvertedJson(conversion));
}

}  // namespace

Response HandleGenerateCode(const Request& request, const Dependencies& deps) {
  auto body = ParseGenerateCodeBody(request.body);
  if (!body) return ErrorResponse(body.error(), request);
  WriteAnswer<domain::ReferralCode> answer(
      request, deps, [&deps](const domain::ReferralCode& code) {
        return JsonResponse(status::kCreated, GeneratedCodeJson(code, deps.links.public_base_url));
      });
  auto code =
      deps.referrals.GenerateCode(request.caller.actor(), body->expires_in_days, answer.OnCommit());
  if (!code) return ErrorResponse(code.error(), request);
  return answer.Success(*code);
}

Response HandleGetCode(const Request& request, const Dependencies& deps) {
  auto code = deps.referrals.GetCode(request.caller.user_id);
  if (!code) return ErrorResponse(code.error(), request);
  return JsonResponse(status::kOk, CodeJson(*code, deps.clock.Now(), deps.links.public_base_url));
}

Response HandleTrack(const Request& request, const Dependencies& deps) {
  auto body = ParseTrackBody(request.body);
  if (!body) return ErrorResponse(body.error(), request);
  WriteAnswer<domain::Referral> answer(request, deps, TrackedResponse);
  auto referral =
      deps.referrals.Track(request.caller.actor(), body->referral_code, answer.OnCommit());
  if (!referral) return ErrorResponse(referral.error(), request);
  return answer.Success(*referral);
}

Response HandleStats(const Request& request, const Dependencies& deps) {
  auto stats = deps.referrals.Stats(request.caller.user_id);
  if (!stats) return ErrorResponse(stats.error(), request);
  return JsonResponse(status::kOk, StatsJson(*stats));
}

Response HandleRewards(const Request& request, const Dependencies& deps) {
  auto page = domain::ParsePageRequest(request.QueryParam("limit"), request.QueryParam("after"),
                                       domain::PageKeyKind::kUuid);
  if (!page) return ErrorResponse(page.error(), request);
  auto rewards = deps.referrals.Rewards(request.caller.user_id, *page);
  if (!rewards) return ErrorResponse(rewards.error(), request);
  return PageResponse(request, RewardsJson(rewards->items, deps.clock.Now()), rewards->next,
                      domain::PageKeyKind::kUuid);
}

Response HandleMyReferrals(const Request& request, const Dependencies& deps) {
  auto page = domain::ParsePageRequest(request.QueryParam("limit"), request.QueryParam("after"),
                                       domain::PageKeyKind::kUuid);
  if (!page) return ErrorResponse(page.error(), request);
  auto referrals = deps.referrals.ReferralsMade(request.caller.user_id, *page);
  if (!referrals) return ErrorResponse(referrals.error(), request);
  return PageResponse(request, MyReferralsJson(referrals->items), referrals->next,
                      domain::PageKeyKind::kUuid);
}

Response HandleClaimReward(const Request& request, const Dependencies& deps) {
  auto body = ParseClaimRewardBody(request.body);
  if (!body) return ErrorResponse(body.error(), request);
  WriteAnswer<domain::Reward> answer(request, deps, ClaimedResponse);
  auto reward =
      deps.referrals.ClaimReward(request.caller.actor(), body->reward_id, answer.OnCommit());
  if (!reward) return ErrorResponse(reward.error(), request);
  return answer.Success(*reward);
}

Response HandleLeaderboard(const Request& request, const Dependencies& deps) {
  auto period = domain::ParsePeriodParam(request.QueryParam("period"));
  if (!period) return ErrorResponse(period.error(), request);
  auto limit = domain::ParseLeaderboardLimit(request.QueryParam("limit"));
  if (!limit) return ErrorResponse(limit.error(), request);
  auto rows = deps.referrals.Leaderboard(*period, *limit, request.caller.is_admin);
  if (!rows) return ErrorResponse(rows.error(), request);
  return JsonResponse(status::kOk, LeaderboardJson(*rows));
}

Response HandleAnalytics(const Request& request, const Dependencies& deps) {
  auto period = domain::ParsePeriodParam(request.QueryParam("period"));
  if (!period) return ErrorResponse(period.error(), request);
  auto summary = deps.referrals.Analytics(*period);
  if (!summary) return ErrorResponse(summary.error(), request);
  return JsonResponse(status::kOk, AnalyticsJson(*summary));
}

Response HandleTrends(const Request& request, const Dependencies& deps) {
  auto days = domain::ParseTrendDays(request.QueryParam("days"));
  if (!days) return ErrorResponse(days.error(), request);
  auto trend = deps.referrals.Trends(*days);
  if (!trend) return ErrorResponse(trend.error(), request);
  return JsonResponse(status::kOk, TrendsJson(*trend));
}

Response HandleConvert(const Request& request, const Dependencies& deps) {
  auto body = ParseConvertBody(request.body);
  if (!body) return ErrorResponse(body.error(), request);
  WriteAnswer<domain::Conversion> answer(request, deps, ConvertedResponse);
  auto conversion =
      deps.referrals.Convert(request.caller.actor(), body->referred_user_id, answer.OnCommit());
  if (!conversion) return ErrorResponse(conversion.error(), request);
  return answer.Success(*conversion);
}

}  // namespace referrald::http
