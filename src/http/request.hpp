#pragma once
// Our own small HTTP request/response types. Handlers see only these, never RESTinio, so they are
// tested without a socket and the HTTP library could be swapped.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/model.hpp"
#include "util/result.hpp"

namespace referrald::http {

using Fields = std::vector<std::pair<std::string, std::string>>;

// The authenticated caller, from the bearer token's claims.
struct Caller {
  std::string user_id;  // canonical lowercase UUID
  std::optional<std::string> email;
  bool is_admin = false;

  // The caller as the domain's use cases see it.
  [[nodiscard]] domain::Actor actor() const { return domain::Actor{user_id, email}; }
};

struct Request {
  std::string method;       // "GET", "POST", ...
  std::string path;         // without the query string
  Fields query;             // decoded query parameters in order of appearance
  bool query_valid = true;  // false: the query string could not be decoded (→ 400)
  Fields headers;           // as received
  std::string body;
  Fields route_params;         // named parameters of the matched route (":name")
  std::string request_id;      // the X-Request-Id this request answers with
  std::string client_address;  // the peer's IP address, as text; empty when unknown
  Caller caller;               // set by the pipeline for authenticated routes
  // The Idempotency-Key this request runs under, with its fingerprint (set by the pipeline when
  // the request carries one; see http/idempotency.hpp).
  std::optional<domain::IdempotentRequest> idempotency;

  // The first query parameter named `key`; nullopt when absent.
  [[nodiscard]] std::optional<std::string_view> QueryParam(std::string_view key) const;
  // The first header named `name` (case-insensitive); nullopt when absent.
  [[nodiscard]] std::optional<std::string_view> Header(std::string_view name) const;
  // The route parameter `name`; empty when absent.
  [[nodiscard]] std::string_view RouteParam(std::string_view name) const;
};

// HTTP status codes the service answers with.
namespace status {
inline constexpr int kOk = 200;
inline constexpr int kCreated = 201;
inline constexpr int kAccepted = 202;
inline constexpr int kNoContent = 204;
inline constexpr int kFound = 302;
inline constexpr int kBadRequest = 400;
inline constexpr int kUnauthorized = 401;
inline constexpr int kPaymentRequired = 402;
inline constexpr int kForbidden = 403;
inline constexpr int kNotFound = 404;
inline constexpr int kMethodNotAllowed = 405;
inline constexpr int kConflict = 409;
inline constexpr int kPayloadTooLarge = 413;
inline constexpr int kUnprocessableEntity = 422;
inline constexpr int kTooManyRequests = 429;
inline constexpr int kInternalServerError = 500;
inline constexpr int kServiceUnavailable = 503;
}  // namespace status

struct Response {
  int status = status::kOk;
  std::string body;
  Fields headers;  // besides Content-Type and X-Request-Id, which the pipeline sets
  // The machine code of an error response (set by ErrorResponse), so that the pipeline can act
  // on a refusal without reading the body back.
  std::optional<Reason> reason;
  // True when the response was stored with the change it reports, in the same transaction (an
  // Idempotency-Key's answer): the pipeline stores nothing more.
  bool remembered = false;

  // The first header named `name` (case-insensitive); nullopt when absent.
  [[nodiscard]] std::optional<std::string_view> Header(std::string_view name) const;
  // Sets (replaces) header `name`.
  void SetHeader(std::string name, std::string value);
};

// Standard reason phrase for `status` ("OK", "Not Found", ...); "Unknown" for others.
std::string_view ReasonPhrase(int status);

}  // namespace referrald::http
