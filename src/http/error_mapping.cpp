#include "http/error_mapping.hpp"

#include <nlohmann/json.hpp>

namespace referrald::http {

int HttpStatus(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kFailedPrecondition:
      return status::kBadRequest;
    case ErrorCode::kUnauthenticated:
      return status::kUnauthorized;
    case ErrorCode::kPaymentRequired:
      return status::kPaymentRequired;
    case ErrorCode::kPermissionDenied:
      return status::kForbidden;
    case ErrorCode::kNotFound:
      return status::kNotFound;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kConflict:
      return status::kConflict;
    case ErrorCode::kMethodNotAllowed:
      return status::kMethodNotAllowed;
    case ErrorCode::kUnprocessable:
      return status::kUnprocessableEntity;
    case ErrorCode::kTooManyRequests:
      return status::kTooManyRequests;
    case ErrorCode::kPayloadTooLarge:
      return status::kPayloadTooLarge;
    case ErrorCode::kUnavailable:
      return status::kServiceUnavailable;
    case ErrorCode::kInternal:
      return status::kInternalServerError;
  }
  return status::kInternalServerError;
}

Response ErrorResponse(const Error& error, std::string_view request_id) {
  nlohmann::json body = nlohmann::json::object();
  body["error"] = error.message;
  body["code"] = std::string(error.machine());
  body["requestId"] = std::string(request_id);
  if (error.extra && error.extra->first != "error" && error.extra->first != "code" &&
      error.extra->first != "requestId") {
    body[error.extra->first] = error.extra->second;
  }
  Response response;
  response.status = HttpStatus(error.code);
  response.reason = error.reason;
  if (error.code == ErrorCode::kUnauthenticated) {
    response.SetHeader("WWW-Authenticate", error.reason == Reason::kTokenMissing
                                               ? "Bearer"
                                               : R"(Bearer error="invalid_token")");
  }
  if (error.retry_after_seconds) {
    response.SetHeader("Retry-After", std::to_string(*error.retry_after_seconds));
  }
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

namespace http_errors {
Error NotFound() { return MakeError(ErrorCode::kNotFound, Reason::kNotFound, "Route not found"); }
Error MethodNotAllowed() {
  return MakeError(ErrorCode::kMethodNotAllowed, Reason::kMethodNotAllowed,
                   "Method not allowed on this path");
}
Error TokenMissing() {
  return MakeError(ErrorCode::kUnauthenticated, Reason::kTokenMissing,
                   "Missing bearer token: send Authorization: Bearer <JWT>");
}
Error TokenInvalid(std::string_view why) {
  return MakeError(ErrorCode::kUnauthenticated, Reason::kTokenInvalid,
                   "Invalid token: " + std::string(why));
}
Error TokenExpired() {
  return MakeError(ErrorCode::kUnauthenticated, Reason::kTokenExpired, "The token has expired");
}
Error TokenNotYetValid() {
  return MakeError(ErrorCode::kUnauthenticated, Reason::kTokenNotYetValid,
                   "The token is not valid yet (nbf)");
}
Error TokenClaimsInvalid(std::string_view why) {
  return MakeError(ErrorCode::kUnauthenticated, Reason::kTokenClaimsInvalid,
                   "Invalid token claims: " + std::string(why));
}
Error Forbidden() {
  return MakeError(ErrorCode::kPermissionDenied, Reason::kForbidden,
                   "Administrator access required");
}
Error PayloadTooLarge() {
  return MakeError(ErrorCode::kPayloadTooLarge, Reason::kPayloadTooLarge,
                   "Request body exceeds 64 KiB");
}
Error ServiceDisabled() {
  return MakeError(ErrorCode::kUnavailable, Reason::kServiceDisabled,
                   "The referral system is disabled");
}
Error Internal() {
  return MakeError(ErrorCode::kInternal, Reason::kInternalError, "Internal error");
}
Error ShuttingDown() {
  return MakeError(ErrorCode::kUnavailable, Reason::kShuttingDown, "The server is shutting down");
}
Error InvalidJson() {
  return MakeError(ErrorCode::kInvalidArgument, Reason::kInvalidJson,
                   "Request body must be a valid JSON object");
}
Error Validation(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, Reason::kValidationError, std::move(message));
}
Error InvalidCursor() {
  return MakeError(ErrorCode::kInvalidArgument, Reason::kInvalidCursor,
                   "after is not a cursor this service handed out");
}
}  // namespace http_errors

}  // namespace referrald::http
