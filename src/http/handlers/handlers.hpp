#pragma once
// Route handlers: plain functions from request to response, testable without a socket. Each
// runs after the pipeline authenticated the caller (request.caller) when its route needs it.

#include "http/request.hpp"
#include "http/server.hpp"

namespace referrald::http {

// /api/referral
Response HandleGenerateCode(const Request& request, const Dependencies& deps);
Response HandleGetCode(const Request& request, const Dependencies& deps);
Response HandleTrack(const Request& request, const Dependencies& deps);
Response HandleStats(const Request& request, const Dependencies& deps);
Response HandleRewards(const Request& request, const Dependencies& deps);
Response HandleMyReferrals(const Request& request, const Dependencies& deps);
Response HandleClaimReward(const Request& request, const Dependencies& deps);
Response HandleLeaderboard(const Request& request, const Dependencies& deps);
Response HandleAnalytics(const Request& request, const Dependencies& deps);
Response HandleTrends(const Request& request, const Dependencies& deps);
Response HandleConvert(const Request& request, const Dependencies& deps);

// referral links (contract section 12)
// GET /r/{code}: 302 to the landing page, counting a click; 404 page for an unusable code.
Response HandleFollowLink(const Request& request, const Dependencies& deps);
// GET /join?ref=CODE: the built-in landing page.
Response HandleJoinPage(const Request& request, const Dependencies& deps);

// /api/subscriptions
Response HandleCreateSubscription(const Request& request, const Dependencies& deps);
Response HandleCancelSubscription(const Request& request, const Dependencies& deps);
Response HandleSubscriptionMe(const Request& request, const Dependencies& deps);

// operations
Response HandleHealth(const Request& request, const Dependencies& deps);
// Liveness without the database (an orchestrator's liveness probe; /health is readiness).
Response HandleLivez(const Request& request, const Dependencies& deps);
Response HandleMetrics(const Request& request, const Dependencies& deps);
Response HandleOpenApi(const Request& request, const Dependencies& deps);
// /api/admin
Response HandleRunJob(const Request& request, const Dependencies& deps);
Response HandleAutomationLogs(const Request& request, const Dependencies& deps);
Response HandleListEvents(const Request& request, const Dependencies& deps);
Response HandleCreateWebhook(const Request& request, const Dependencies& deps);
Response HandleListWebhooks(const Request& request, const Dependencies& deps);
Response HandleDeleteWebhook(const Request& request, const Dependencies& deps);
Response HandleListDeliveries(const Request& request, const Dependencies& deps);
Response HandleReplayWebhook(const Request& request, const Dependencies& deps);
// /api/admin/referrals and /api/admin/users (personal data)
Response HandleAdminReferrals(const Request& request, const Dependencies& deps);
Response HandleUserLookup(const Request& request, const Dependencies& deps);
Response HandleUserExport(const Request& request, const Dependencies& deps);
Response HandleEraseUser(const Request& request, const Dependencies& deps);

}  // namespace referrald::http
