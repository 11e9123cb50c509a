#include "http/router.hpp"

#include <spdlog/spdlog.h>

#include <cctype>
#include <exception>

#include "http/error_mapping.hpp"
#include "http/handlers/handlers.hpp"
#include "http/request_id.hpp"

namespace referrald::http {

const std::vector<Route>& Routes() {
  static const std::vector<Route> kRoutes = {
      // operations
      {Method::kGet, "/health", Auth::kNone, HandleHealth},
      {Method::kGet, "/livez", Auth::kNone, HandleLivez},
      {Method::kGet, "/metrics", Auth::kNone, HandleMetrics},
      {Method::kGet, "/api/openapi.json", Auth::kNone, HandleOpenApi},
      {Method::kPost, "/api/admin/jobs/:name/run", Auth::kAdmin, HandleRunJob},
      {Method::kGet, "/api/admin/automation-logs", Auth::kAdmin, HandleAutomationLogs},
      // referrals
      {Method::kPost, "/api/referral/generate-code", Auth::kUser, HandleGenerateCode,
       Provision::kUseCase},
      {Method::kGet, "/api/referral/code", Auth::kUser, HandleGetCode},
      {Method::kPost, "/api/referral/track", Auth::kUser, HandleTrack, Provision::kUseCase},
      {Method::kGet, "/api/referral/stats", Auth::kUser, HandleStats},
      {Method::kGet, "/api/referral/rewards", Auth::kUser, HandleRewards},
      {Method::kPost, "/api/referral/claim-reward", Auth::kUser, HandleClaimReward,
       Provision::kUseCase},
      {Method::kGet, "/api/referral/leaderboard", Auth::kUser, HandleLeaderboard},
      {Method::kGet, "/api/referral/analytics", Auth::kAdmin, HandleAnalytics},
      {Method::kGet, "/api/referral/trends", Auth::kAdmin, HandleTrends},
      {Method::kPost, "/api/referral/convert", Auth::kAdmin, HandleConvert, Provision::kUseCase},
      // subscriptions
      {Method::kPost, "/api/subscriptions/create", Auth::kUser, HandleCreateSubscription,
       Provision::kUseCase},
      {Method::kGet, "/api/subscriptions/me", Auth::kUser, HandleSubscriptionMe},
  };
  return kRoutes;
}

namespace {

bool IsReferralPath(std::string_view path) {
  constexpr std::string_view kPrefix = "/api/referral";
  return path.substr(0, kPrefix.size()) == kPrefix &&
         (path.size() == kPrefix.size() || path[kPrefix.size()] == '/');
}

// The token of an "Authorization: Bearer <token>" header; empty when absent or another scheme.
std::string_view BearerToken(const Request& request) {
  const auto header = request.Header("Authorization");
  if (!header) return {};
  std::string_view value = *header;
  constexpr std::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size()) return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) return {};
  }
  value.remove_prefix(kScheme.size());
  if (value.front() != ' ' && value.front() != '\t') return {};
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return value;
}

}  // namespace

Pipeline::Pipeline(const Dependencies& deps, bool referral_enabled)
    : deps_(deps), referral_enabled_(referral_enabled) {}

Response Pipeline::Dispatch(const Route* route, Request& request) const {
  // Checked before auth: neither needs to know who is asking.
  if (request.body.size() > kMaxBodyBytes) {
    return ErrorResponse(http_errors::PayloadTooLarge(), request);
  }
  if (!referral_enabled_ && IsReferralPath(request.path)) {
    return ErrorResponse(http_errors::ServiceDisabled(), request);
  }
  if (route == nullptr) return ErrorResponse(http_errors::NotFound(), request);

  if (route->auth != Auth::kNone) {
    auto claims = deps_.jwt.Verify(BearerToken(request), deps_.clock.Now());
    if (!claims) return ErrorResponse(http_errors::Unauthorized(), request);
    request.caller.user_id = claims->sub;
    request.caller.email = claims->email;
    request.caller.is_admin = claims->role == std::optional<std::string>("admin");
    if (route->auth == Auth::kAdmin && !request.caller.is_admin) {
      return ErrorResponse(http_errors::Forbidden(), request);
    }
    if (route->provision == Provision::kPipeline) {
      auto provisioned = deps_.users.Ensure(request.caller.actor());
      if (!provisioned) return ErrorResponse(provisioned.error(), request);
    }
  }
  if (!request.query_valid) {
    return ErrorResponse(http_errors::Validation("Malformed query string"), request);
  }
  return route->handler(request, deps_);
}

void Pipeline::AssignRequestId(Request& request) const {
  try {
    request.request_id =
        ResolveRequestId(request.Header("X-Request-Id"), deps_.clock.Now(), deps_.random);
  } catch (...) {
    request.request_id = "unknown";
  }
}

Response Pipeline::Handle(const Route* route, Request& request,
                          std::chrono::steady_clock::time_point received) const {
  deps_.metrics.RequestStarted();
  AssignRequestId(request);
  Response response;
  try {
    response = Dispatch(route, request);
  } catch (const std::exception& e) {
    spdlog::error("unhandled exception requestId={} route={}: {}", request.request_id,
                  route != nullptr ? route->path : std::string_view("-"), e.what());
    response = ErrorResponse(http_errors::Internal(), request);
  } catch (...) {
    spdlog::error("unhandled exception requestId={} route={}", request.request_id,
                  route != nullptr ? route->path : std::string_view("-"));
    response = ErrorResponse(http_errors::Internal(), request);
  }
  return Finish(std::move(response), route, request, received);
}

Response Pipeline::Reject(const Error& error, Request& request,
                          std::chrono::steady_clock::time_point received) const {
  deps_.metrics.RequestStarted();
  AssignRequestId(request);
  return Finish(ErrorResponse(error, request), nullptr, request, received);
}

Response Pipeline::Finish(Response response, const Route* route, Request& request,
                          std::chrono::steady_clock::time_point received) const {
  if (!response.Header("Content-Type")) response.SetHeader("Content-Type", "application/json");
  response.SetHeader("X-Request-Id", request.request_id);
  const auto elapsed =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - received);
  deps_.metrics.RequestFinished(request.method,
                                route != nullptr ? route->path : std::string_view("unmatched"),
                                response.status, elapsed.count() / 1000.0);
  spdlog::info("request requestId={} method={} route={} status={} durationMs={:.3f}",
               request.request_id, request.method,
               route != nullptr ? route->path : std::string_view("<unmatched>"), response.status,
               elapsed.count());
  return response;
}

}  // namespace referrald::http
