#pragma once
// The route table (one function, one line per route with its auth visible) and the pipeline
// every request goes through: size limit → feature switch → route → auth → abuse budgets →
// Idempotency-Key → provisioning → handler (with a catch-all) → common headers and the access
// log line. No RESTinio here:
// server.cpp maps the table onto RESTinio's express router.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/request.hpp"
#include "http/server.hpp"

namespace referrald::http {

enum class Auth {
  kNone,   // public
  kUser,   // any valid bearer token
  kAdmin,  // a valid bearer token with role "admin"
};

// The methods routes are declared with; HEAD and OPTIONS are answered for every path by the
// pipeline (HEAD wherever GET is).
enum class Method { kGet, kPost, kDelete };
// The last enumerator (the Allow header walks them all): keep it up to date when adding one.
inline constexpr Method kLastMethod = Method::kDelete;

// "GET", "POST", "DELETE".
std::string_view ToString(Method method);

// Who creates or updates the caller's user row from the token's claims.
enum class Provision {
  kPipeline,  // the pipeline, before the handler (read routes: their use case writes nothing)
  kUseCase,   // the use case, inside the transaction of its own write
};

// Which abuse budget (contract section 9) a route spends besides the per-user write budget
// every POST under /api/ spends.
enum class Budget {
  kWritesOnly,
  kFailedTracks,  // refused once the failed-track budget is spent; INVALID_CODE spends it
};

using Handler = Response (*)(const Request&, const Dependencies&);

struct Route {
  Method method;
  std::string_view path;  // express-style pattern, ":name" for parameters
  Auth auth;
  Handler handler;
  Provision provision = Provision::kPipeline;
  Budget budget = Budget::kWritesOnly;
};

// Every route the service answers. Anything else is 404 NOT_FOUND, or 405 METHOD_NOT_ALLOWED
// when the path is known with other methods.
const std::vector<Route>& Routes();

// What the route table says about a request line.
struct RouteMatch {
  const Route* route = nullptr;  // the route of this method and path; nullptr when none
  Fields params;                 // its ":name" segments, as sent
  // The methods the path answers to ("GET, HEAD, POST"), when the path is known; "" when not.
  // The Allow header of a 405 and of a preflight.
  std::string allow;
};

// Matches `method` and `path` (without the query) against Routes(): literal segments compare
// case-insensitively and one trailing slash is ignored, as Express did for the seed. HEAD
// matches the GET route of the path.
RouteMatch MatchRoute(std::string_view method, std::string_view path);

// The client's address as the abuse limits count it: the last hop of X-Forwarded-For when
// `trust_forwarded_for` (and the header has one), else the peer's address.
std::string_view ResolveClientAddress(const Request& request, bool trust_forwarded_for);

inline constexpr std::size_t kMaxBodyBytes = std::size_t{64} * 1024;  // larger bodies → 413

// CORS (contract section 13): what a browser may send and read, and how long it may cache a
// preflight's answer.
inline constexpr std::string_view kCorsAllowHeaders =
    "Authorization, Content-Type, Idempotency-Key, X-Request-Id";
inline constexpr std::string_view kCorsExposeHeaders =
    "X-Request-Id, Retry-After, Link, Idempotent-Replayed";
inline constexpr int kCorsMaxAgeSeconds = 600;

class Pipeline {
 public:
  Pipeline(const Dependencies& deps, const ServerOptions& options);

  // Answers `request`: matches its route, then size limit → CORS preflight (OPTIONS on a known
  // path) → feature switch → 404/405 → auth → abuse budgets → Idempotency-Key (a POST under
  // /api/ that carries one) → provisioning → handler. Never throws. Sets request.request_id,
  // Content-Type, X-Request-Id and the CORS headers, drops the body of a HEAD answer, and logs
  // one line (duration measured from `received`).
  Response Handle(Request& request, std::chrono::steady_clock::time_point received) const;
  // Answers `request` with `error` without dispatching (e.g. while shutting down), with the same
  // headers and log line as Handle.
  Response Reject(const Error& error, Request& request,
                  std::chrono::steady_clock::time_point received) const;

 private:
  Response Dispatch(const RouteMatch& match, Request& request) const;
  // 204 to OPTIONS on a known path; with the CORS preflight headers when the origin is allowed.
  [[nodiscard]] Response Preflight(const RouteMatch& match, const Request& request) const;
  // The request's Origin when CORS_ALLOWED_ORIGINS lets it call; nullopt otherwise.
  [[nodiscard]] std::optional<std::string_view> AllowedOrigin(const Request& request) const;
  // The caller is known: provisioning, the query check, the handler.
  Response Run(const Route& route, Request& request) const;
  // Run under the request's Idempotency-Key `key`: answer a repeat from what was stored, or run
  // and remember the answer (http/idempotency.hpp).
  Response RunIdempotent(const Route& route, Request& request, std::string_view key) const;
  Response Finish(Response response, const Route* route, Request& request,
                  std::chrono::steady_clock::time_point received) const;
  void AssignRequestId(Request& request) const;
  // The abuse budgets of section 9 that `route` spends, checked before it runs.
  [[nodiscard]] Status Admit(const Route& route, const Request& request) const;
  // The address abuse limits count `request` under.
  [[nodiscard]] std::string_view ClientAddress(const Request& request) const;

  const Dependencies& deps_;
  bool referral_enabled_;
  bool trust_forwarded_for_;
  std::vector<std::string> cors_allowed_origins_;
  bool json_access_log_;
};

}  // namespace referrald::http
