#pragma once
// The route table (one function, one line per route with its auth visible) and the pipeline
// every request goes through: size limit → feature switch → route → auth → provisioning →
// handler (with a catch-all) → common headers and the access log line. No RESTinio here:
// server.cpp maps the table onto RESTinio's express router.

#include <chrono>
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

enum class Method { kGet, kPost };

// Who creates or updates the caller's user row from the token's claims.
enum class Provision {
  kPipeline,  // the pipeline, before the handler (read routes: their use case writes nothing)
  kUseCase,   // the use case, inside the transaction of its own write
};

using Handler = Response (*)(const Request&, const Dependencies&);

struct Route {
  Method method;
  std::string_view path;  // express-style pattern, ":name" for parameters
  Auth auth;
  Handler handler;
  Provision provision = Provision::kPipeline;
};

// Every route the service answers. Anything else is 404 NOT_FOUND.
const std::vector<Route>& Routes();

inline constexpr std::size_t kMaxBodyBytes = 64 * 1024;  // larger bodies → 413

class Pipeline {
 public:
  Pipeline(const Dependencies& deps, bool referral_enabled);

  // Answers `request` for the matched `route` (nullptr: none matched). Never throws. Sets
  // request.request_id, Content-Type and X-Request-Id, and logs one line (duration measured
  // from `received`).
  Response Handle(const Route* route, Request& request,
                  std::chrono::steady_clock::time_point received) const;
  // Answers `request` with `error` without dispatching (e.g. while shutting down), with the same
  // headers and log line as Handle.
  Response Reject(const Error& error, Request& request,
                  std::chrono::steady_clock::time_point received) const;

 private:
  Response Dispatch(const Route* route, Request& request) const;
  Response Finish(Response response, const Route* route, Request& request,
                  std::chrono::steady_clock::time_point received) const;
  void AssignRequestId(Request& request) const;

  const Dependencies& deps_;
  bool referral_enabled_;
};

}  // namespace referrald::http
