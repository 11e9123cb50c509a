#include "http/router.hpp"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cmath>
#include <exception>
#include <nlohmann/json.hpp>

#include "domain/errors.hpp"
#include "http/error_mapping.hpp"
#include "http/handlers/handlers.hpp"
#include "http/idempotency.hpp"
#include "http/request_id.hpp"
#include "util/log_fields.hpp"

namespace referrald::http {

const std::vector<Route>& Routes() {
  static const std::vector<Route> kRoutes = {
      // operations
      {Method::kGet, "/health", Auth::kNone, HandleHealth},
      {Method::kGet, "/livez", Auth::kNone, HandleLivez},
      {Method::kGet, "/metrics", Auth::kNone, HandleMetrics},
      {Method::kGet, "/api/openapi.json", Auth::kNone, HandleOpenApi},
      // referral links and their pages (contract section 12)
      {Method::kGet, "/r/:code", Auth::kNone, HandleFollowLink},
      {Method::kGet, "/join", Auth::kNone, HandleJoinPage},
      {Method::kPost, "/api/admin/jobs/:name/run", Auth::kAdmin, HandleRunJob},
      {Method::kGet, "/api/admin/automation-logs", Auth::kAdmin, HandleAutomationLogs},
      {Method::kGet, "/api/admin/events", Auth::kAdmin, HandleListEvents},
      {Method::kPost, "/api/admin/webhooks", Auth::kAdmin, HandleCreateWebhook},
      {Method::kGet, "/api/admin/webhooks", Auth::kAdmin, HandleListWebhooks},
      {Method::kDelete, "/api/admin/webhooks/:id", Auth::kAdmin, HandleDeleteWebhook},
      {Method::kGet, "/api/admin/webhooks/:id/deliveries", Auth::kAdmin, HandleListDeliveries},
      {Method::kPost, "/api/admin/webhooks/:id/replay", Auth::kAdmin, HandleReplayWebhook},
      {Method::kGet, "/api/admin/referrals", Auth::kAdmin, HandleAdminReferrals},
      {Method::kGet, "/api/admin/users/:id", Auth::kAdmin, HandleUserLookup},
      {Method::kDelete, "/api/admin/users/:id", Auth::kAdmin, HandleEraseUser, Provision::kUseCase},
      {Method::kGet, "/api/admin/users/:id/export", Auth::kAdmin, HandleUserExport},
      // referrals
      {Method::kPost, "/api/referral/generate-code", Auth::kUser, HandleGenerateCode,
       Provision::kUseCase},
      {Method::kGet, "/api/referral/code", Auth::kUser, HandleGetCode},
      {Method::kPost, "/api/referral/track", Auth::kUser, HandleTrack, Provision::kUseCase,
       Budget::kFailedTracks},
      {Method::kGet, "/api/referral/stats", Auth::kUser, HandleStats},
      {Method::kGet, "/api/referral/rewards", Auth::kUser, HandleRewards},
      {Method::kGet, "/api/referral/referrals", Auth::kUser, HandleMyReferrals},
      {Method::kPost, "/api/referral/claim-reward", Auth::kUser, HandleClaimReward,
       Provision::kUseCase},
      {Method::kGet, "/api/referral/leaderboard", Auth::kUser, HandleLeaderboard},
      {Method::kGet, "/api/referral/analytics", Auth::kAdmin, HandleAnalytics},
      {Method::kGet, "/api/referral/trends", Auth::kAdmin, HandleTrends},
      {Method::kPost, "/api/referral/convert", Auth::kAdmin, HandleConvert, Provision::kUseCase},
      // subscriptions
      {Method::kPost, "/api/subscriptions/create", Auth::kUser, HandleCreateSubscription,
       Provision::kUseCase},
      {Method::kPost, "/api/subscriptions/cancel", Auth::kUser, HandleCancelSubscription,
       Provision::kUseCase},
      {Method::kGet, "/api/subscriptions/me", Auth::kUser, HandleSubscriptionMe},
  };
  return kRoutes;
}

std::string_view ToString(Method method) {
  switch (method) {
    case Method::kGet:
      return "GET";
    case Method::kPost:
      return "POST";
    case Method::kDelete:
      return "DELETE";
  }
  return "GET";
}

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The next '/'-separated segment of `rest` (which starts after a '/'), advancing `rest`.
std::string_view NextSegment(std::string_view& rest) {
  const std::size_t slash = rest.find('/');
  const std::string_view segment = rest.substr(0, slash);
  rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  return segment;
}

// Whether `path` fits `pattern`, collecting its parameters into `params`.
bool PathFits(std::string_view pattern, std::string_view path, Fields& params) {
  if (path.empty() || path.front() != '/') return false;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  pattern.remove_prefix(1);
  path.remove_prefix(1);
  params.clear();
  while (true) {
    const bool pattern_done = pattern.empty();
    const bool path_done = path.empty();
    if (pattern_done || path_done) return pattern_done && path_done;
    const std::string_view want = NextSegment(pattern);
    const std::string_view got = NextSegment(path);
    if (!want.empty() && want.front() == ':') {
      if (got.empty()) return false;
      params.emplace_back(std::string(want.substr(1)), std::string(got));
    } else if (!EqualsIgnoreCase(want, got)) {
      return false;
    }
  }
}

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

bool IsApiPath(std::string_view path) {
  constexpr std::string_view kPrefix = "/api/";
  return path.substr(0, kPrefix.size()) == kPrefix;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

RouteMatch MatchRoute(std::string_view method, std::string_view path) {
  RouteMatch match;
  const std::string_view wanted = method == "HEAD" ? std::string_view("GET") : method;
  // The methods the path has, by Method's value: the Allow header lists them in that order.
  std::vector<bool> has(static_cast<std::size_t>(kLastMethod) + 1, false);
  Fields params;
  for (const Route& route : Routes()) {
    if (!PathFits(route.path, path, params)) continue;
    has.at(static_cast<std::size_t>(route.method)) = true;
    if (match.route == nullptr && ToString(route.method) == wanted) {
      match.route = &route;
      match.params = params;
    }
  }
  for (std::size_t i = 0; i < has.size(); ++i) {
    if (!has[i]) continue;
    const auto known = static_cast<Method>(i);
    match.allow.append(match.allow.empty() ? "" : ", ").append(ToString(known));
    if (known == Method::kGet) match.allow.append(", HEAD");
  }
  return match;
}

Pipeline::Pipeline(const Dependencies& deps, const ServerOptions& options)
    : deps_(deps),
      referral_enabled_(options.referral_enabled),
      trust_forwarded_for_(options.trust_forwarded_for),
      cors_allowed_origins_(options.cors_allowed_origins),
      json_access_log_(options.json_access_log) {}

std::optional<std::string_view> Pipeline::AllowedOrigin(const Request& request) const {
  if (cors_allowed_origins_.empty()) return std::nullopt;
  const auto origin = request.Header("Origin");
  if (!origin || origin->empty()) return std::nullopt;
  for (const std::string& allowed : cors_allowed_origins_) {
    if (allowed == "*" || EqualsIgnoreCase(allowed, *origin)) return origin;
  }
  return std::nullopt;
}

Response Pipeline::Preflight(const RouteMatch& match, const Request& request) const {
  Response response;
  response.status = status::kNoContent;
  response.SetHeader("Allow", match.allow);
  // A refused origin learns nothing but that the path exists: the browser then blocks the call.
  if (AllowedOrigin(request)) {
    response.SetHeader("Access-Control-Allow-Methods", match.allow);
    response.SetHeader("Access-Control-Allow-Headers", std::string(kCorsAllowHeaders));
    response.SetHeader("Access-Control-Max-Age", std::to_string(kCorsMaxAgeSeconds));
  }
  return response;
}

std::string_view Pipeline::ClientAddress(const Request& request) const {
  return ResolveClientAddress(request, trust_forwarded_for_);
}

std::string_view ResolveClientAddress(const Request& request, bool trust_forwarded_for) {
  if (trust_forwarded_for) {
    // The load balancer appends the address it saw: the last hop is the one it vouches for.
    if (const auto forwarded = request.Header("X-Forwarded-For")) {
      const auto comma = forwarded->rfind(',');
      const std::string_view last =
          TrimSpaces(comma == std::string_view::npos ? *forwarded : forwarded->substr(comma + 1));
      if (!last.empty()) return last;
    }
  }
  return request.client_address;
}

Status Pipeline::Admit(const Route& route, const Request& request) const {
  if (route.budget == Budget::kFailedTracks) {
    if (Status admitted = deps_.abuse.AdmitTrack(request.caller.user_id, ClientAddress(request));
        !admitted) {
      return admitted;
    }
  }
  // Every POST under /api/ of a non-admin counts, whatever its answer; the 429s do not.
  if (route.method == Method::kPost && IsApiPath(request.path) && !request.caller.is_admin) {
    return deps_.abuse.AdmitWrite(request.caller.user_id);
  }
  return {};
}

Response Pipeline::Dispatch(const RouteMatch& match, Request& request) const {
  // Checked before auth: none needs to know who is asking.
  if (request.body.size() > kMaxBodyBytes) {
    return ErrorResponse(http_errors::PayloadTooLarge(), request);
  }
  // A CORS preflight needs no token: the browser sends none with it.
  if (request.method == "OPTIONS" && !match.allow.empty()) return Preflight(match, request);
  if (!referral_enabled_ && IsReferralPath(request.path)) {
    return ErrorResponse(http_errors::ServiceDisabled(), request);
  }
  const Route* route = match.route;
  if (route == nullptr) {
    if (match.allow.empty()) return ErrorResponse(http_errors::NotFound(), request);
    Response response = ErrorResponse(http_errors::MethodNotAllowed(), request);
    response.SetHeader("Allow", match.allow);
    return response;
  }
  request.route_params = match.params;

  if (route->auth != Auth::kNone) {
    auto claims = deps_.jwt.Verify(BearerToken(request), deps_.clock.Now());
    if (!claims) {
      // Which check failed, for whoever debugs a client; never the token itself.
      spdlog::info("token refused requestId={} code={}: {}", request.request_id,
                   claims.error().machine(), claims.error().message);
      return ErrorResponse(claims.error(), request);
    }
    request.caller.user_id = claims->sub;
    request.caller.email = claims->email;
    request.caller.is_admin = claims->role == std::optional<std::string>("admin");
    if (Status admitted = Admit(*route, request); !admitted) {
      return ErrorResponse(admitted.error(), request);
    }
    if (route->auth == Auth::kAdmin && !request.caller.is_admin) {
      return ErrorResponse(http_errors::Forbidden(), request);
    }
    // Keys are the caller's own, so only routes that know the caller take one.
    if (route->method == Method::kPost && IsApiPath(request.path)) {
      if (const auto key = request.Header(kIdempotencyKeyHeader)) {
        return RunIdempotent(*route, request, *key);
      }
    }
  }
  return Run(*route, request);
}

Response Pipeline::Run(const Route& route, Request& request) const {
  if (route.auth != Auth::kNone) {
    // An erased user's tokens are refused (USER_ERASED): the pipeline's provisioning reads the
    // user's row; a use case's own upsert refuses it in its transaction.
    const Status provisioned = route.provision == Provision::kPipeline
                                   ? deps_.users.Ensure(request.caller.actor())
                                   : deps_.users.CheckNotKnownErased(request.caller.user_id);
    if (!provisioned) return ErrorResponse(provisioned.error(), request);
  }
  if (!request.query_valid) {
    return ErrorResponse(http_errors::Validation("Malformed query string"), request);
  }
  Response response = route.handler(request, deps_);
  if (response.reason == Reason::kUserErased) deps_.users.RememberErased(request.caller.user_id);
  if (route.budget == Budget::kFailedTracks && response.reason == Reason::kInvalidCode) {
    deps_.abuse.RecordFailedTrack(request.caller.user_id, ClientAddress(request));
  }
  return response;
}

Response Pipeline::RunIdempotent(const Route& route, Request& request, std::string_view key) const {
  domain::IdempotentRequest keyed{request.caller.user_id, std::string(key), request.method,
                                  request.path, Sha256Hex(request.body)};
  auto running = deps_.idempotency.Enter(keyed);
  if (!running) return ErrorResponse(running.error(), request);
  // A repeat of a finished request: its answer again, and nothing runs or changes.
  auto found = deps_.idempotency.Find(keyed);
  if (!found) return ErrorResponse(found.error(), request);
  if (*found) return FromStored(**found);

  request.idempotency = keyed;
  Response response = Run(route, request);
  if (response.remembered) return response;  // stored with its change
  if (IsRemembered(response)) {
    // An answer without a change (a refusal, or a write that wrote nothing): stored on its own.
    const Status remembered = deps_.idempotency.Remember(keyed, ToStored(response));
    if (remembered) return response;
    if (remembered.error().reason != Reason::kIdempotencyInProgress) {
      spdlog::warn("requestId={}: could not remember the answer of an Idempotency-Key ({})",
                   request.request_id, remembered.error().machine());
      return response;
    }
  } else if (response.reason != Reason::kIdempotencyInProgress) {
    return response;  // 5xx, 429: nothing is kept, a retry runs again
  }
  // Another request (of another instance) stored this key while this one ran, and this one's
  // change rolled back: answer what that one stored.
  auto stored = deps_.idempotency.Find(keyed);
  if (!stored) return ErrorResponse(stored.error(), request);
  if (*stored) return FromStored(**stored);
  return ErrorResponse(domain::errors::IdempotencyInProgress(), request);
}

void Pipeline::AssignRequestId(Request& request) const {
  try {
    request.request_id =
        ResolveRequestId(request.Header("X-Request-Id"), deps_.clock.Now(), deps_.random);
  } catch (...) {
    request.request_id = "unknown";
  }
}

Response Pipeline::Handle(Request& request, std::chrono::steady_clock::time_point received) const {
  deps_.metrics.RequestStarted();
  AssignRequestId(request);
  const RouteMatch match = MatchRoute(request.method, request.path);
  const Route* route = match.route;
  Response response;
  try {
    response = Dispatch(match, request);
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
  if (!response.Header("Content-Type") && response.status != status::kNoContent) {
    response.SetHeader("Content-Type", "application/json");
  }
  response.SetHeader("X-Request-Id", request.request_id);
  if (!cors_allowed_origins_.empty()) {
    // The answer depends on Origin whenever CORS is on, for caches between browser and server.
    response.SetHeader("Vary", "Origin");
    if (const auto origin = AllowedOrigin(request)) {
      response.SetHeader("Access-Control-Allow-Origin", std::string(*origin));
      response.SetHeader("Access-Control-Expose-Headers", std::string(kCorsExposeHeaders));
    }
  }
  if (request.method == "HEAD") response.body.clear();
  const auto elapsed =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - received);
  deps_.metrics.RequestFinished(request.method,
                                route != nullptr ? route->path : std::string_view("unmatched"),
                                response.status, elapsed.count() / 1000.0);
  if (json_access_log_) {
    nlohmann::json line = {
        {"msg", "request"},
        {"requestId", request.request_id},
        {"method", request.method},
        {"route",
         route != nullptr ? nlohmann::json(std::string(route->path)) : nlohmann::json(nullptr)},
        {"path", request.path},
        {"status", response.status},
        {"durationMs", std::round(elapsed.count() * 1000.0) / 1000.0},
        {"userId", request.caller.user_id.empty() ? nlohmann::json(nullptr)
                                                  : nlohmann::json(request.caller.user_id)},
    };
    spdlog::info("{}{}", kLogFieldsMarker,
                 line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    spdlog::info("request requestId={} method={} route={} status={} durationMs={:.3f}",
                 request.request_id, request.method,
                 route != nullptr ? route->path : std::string_view("<unmatched>"), response.status,
                 elapsed.count());
  }
  return response;
}

}  // namespace referrald::http
