#pragma once
// The one mapping from ErrorCode to HTTP status, and the contract's error body
// {"error": message, "code": MACHINE_CODE, "requestId": id} (+ Error::extra as a field).

#include <string_view>

#include "http/request.hpp"
#include "util/result.hpp"

namespace referrald::http {

// The HTTP status for `code`.
int HttpStatus(ErrorCode code);

// The error response for `error`, answering the request whose id is `request_id`. A 401 carries
// WWW-Authenticate (RFC 6750): `Bearer` when no token came, `Bearer error="invalid_token"` else.
Response ErrorResponse(const Error& error, std::string_view request_id);
inline Response ErrorResponse(const Error& error, const Request& request) {
  return ErrorResponse(error, request.request_id);
}

// Errors the HTTP layer itself raises.
namespace http_errors {
Error NotFound();          // 404 NOT_FOUND: no such route
Error MethodNotAllowed();  // 405 METHOD_NOT_ALLOWED: the path has other methods
// 401s, one per way a bearer token fails, in the order they are checked (contract section 13).
Error TokenMissing();                            // TOKEN_MISSING: no bearer token
Error TokenInvalid(std::string_view why);        // TOKEN_INVALID: form, alg or signature
Error TokenExpired();                            // TOKEN_EXPIRED: exp not after now
Error TokenNotYetValid();                        // TOKEN_NOT_YET_VALID: nbf after now
Error TokenClaimsInvalid(std::string_view why);  // TOKEN_CLAIMS_INVALID: exp, sub, email, role
Error Forbidden();                               // 403 FORBIDDEN
Error PayloadTooLarge();                         // 413 PAYLOAD_TOO_LARGE
Error ServiceDisabled();                         // 503 SERVICE_DISABLED
Error Internal();                                // 500 INTERNAL_ERROR
Error ShuttingDown();                            // 503 SHUTTING_DOWN
Error InvalidJson();                             // 400 INVALID_JSON
Error Validation(std::string message);           // 400 VALIDATION_ERROR
Error InvalidCursor();  // 400 INVALID_CURSOR: an `after` no page handed out
}  // namespace http_errors

}  // namespace referrald::http
