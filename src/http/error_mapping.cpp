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
      return status::kConflict;
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
  body["code"] = error.machine;
  body["requestId"] = std::string(request_id);
  if (error.extra && error.extra->first != "error" && error.extra->first != "code" &&
      error.extra->first != "requestId") {
    body[error.extra->first] = error.extra->second;
  }
  Response response;
  response.status = HttpStatus(error.code);
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

namespace http_errors {
Error NotFound() { return MakeError(ErrorCode::kNotFound, "NOT_FOUND", "Route not found"); }
Error Unauthorized() {
  return MakeError(ErrorCode::kUnauthenticated, "UNAUTHORIZED",
                   "Missing or invalid authentication token");
}
Error Forbidden() {
  return MakeError(ErrorCode::kPermissionDenied, "FORBIDDEN", "Administrator access required");
}
Error PayloadTooLarge() {
  return MakeError(ErrorCode::kPayloadTooLarge, "PAYLOAD_TOO_LARGE", "Request body exceeds 64 KiB");
}
Error ServiceDisabled() {
  return MakeError(ErrorCode::kUnavailable, "SERVICE_DISABLED", "The referral system is disabled");
}
Error Internal() { return MakeError(ErrorCode::kInternal, "INTERNAL_ERROR", "Internal error"); }
Error ShuttingDown() {
  return MakeError(ErrorCode::kUnavailable, "SHUTTING_DOWN", "The server is shutting down");
}
Error InvalidJson() {
  return MakeError(ErrorCode::kInvalidArgument, "INVALID_JSON",
                   "Request body must be a valid JSON object");
}
Error Validation(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, "VALIDATION_ERROR", std::move(message));
}
}  // namespace http_errors

}  // namespace referrald::http
