#pragma once
// Result<T>: a value or an Error, shaped like C++23 std::expected so it can become one later.
// Misuse — reading the value of an error, or the error of a value — is a bug: it stops the
// program with a message (never undefined behaviour, never an exception to catch).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace referrald {

// The small canonical error set (Abseil-style) plus the HTTP-flavoured cases the contract needs.
// It decides the status an error answers with (http/error_mapping.cpp).
enum class ErrorCode {
  kInvalidArgument,     // 400
  kUnauthenticated,     // 401
  kPaymentRequired,     // 402
  kPermissionDenied,    // 403
  kNotFound,            // 404
  kMethodNotAllowed,    // 405
  kAlreadyExists,       // 409
  kFailedPrecondition,  // 400 (a rule refused the request: self referral, expired reward)
  kConflict,         // 409 (a state the request cannot act on now: an idempotent retry in flight)
  kPayloadTooLarge,  // 413
  kUnprocessable,    // 422
  kTooManyRequests,  // 429
  kUnavailable,      // 503
  kInternal,         // 500
};

// The contract's machine codes (the `code` of an error body), one enumerator each, so that code
// compares identities the compiler checks rather than strings. ToString gives the wire name.
enum class Reason : std::uint8_t {
  // requests
  kValidationError,
  kInvalidJson,
  kPayloadTooLarge,
  kNotFound,
  kMethodNotAllowed,
  kRateLimited,
  // tokens and access
  kTokenMissing,
  kTokenInvalid,
  kTokenExpired,
  kTokenNotYetValid,
  kTokenClaimsInvalid,
  kForbidden,
  kUserErased,
  // referral program
  kCodeExists,
  kCodeCollision,  // internal: a generated code's text is taken; the domain draws another
  kCodeSpaceExhausted,
  kCodeNotFound,
  kInvalidCode,
  kSelfReferral,
  kCircularReferral,
  kAlreadyReferred,
  kReferralNotFound,
  kAlreadyConverted,
  kRewardNotFound,
  kRewardExpired,
  kRewardOnHold,
  // subscriptions
  kPaymentDeclined,
  kAlreadySubscribed,
  kSubscriptionNotFound,
  // operations
  kJobNotFound,
  kServiceDisabled,
  kShuttingDown,
  kDatabaseUnavailable,
  kInternalError,
  kInvalidConfig,
  kBindFailed,
  kInvalidCron,
  // integrations
  kInvalidIdempotencyKey,
  kIdempotencyKeyReused,
  kIdempotencyInProgress,
  kInvalidCursor,
  kInvalidWebhookUrl,
  kWebhookNotFound,
  kUserNotFound,
};
// The last enumerator (tests walk them all): keep it up to date when adding one.
inline constexpr Reason kLastReason = Reason::kUserNotFound;

// The wire name: "VALIDATION_ERROR", "CODE_EXISTS", ...
std::string_view ToString(Reason reason);

// A failure the caller is expected to handle. `message` is for humans and never carries SQL or
// secrets.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  Reason reason = Reason::kInternalError;
  std::string message;
  // Extra string field some errors carry in their body (CODE_EXISTS carries `referralCode`).
  std::optional<std::pair<std::string, std::string>> extra;
  // When to try again (RATE_LIMITED): answered as a Retry-After header of whole seconds.
  std::optional<std::int64_t> retry_after_seconds;

  // The contract's machine code of `reason`.
  [[nodiscard]] std::string_view machine() const { return ToString(reason); }
};

inline Error MakeError(ErrorCode code, Reason reason, std::string message) {
  return Error{code, reason, std::move(message), std::nullopt, std::nullopt};
}

// Stops the program: a Result was read the wrong way (a bug in the caller).
[[noreturn]] void ResultMisuse(std::string_view what, const Error* error);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return *Checked(); }
  [[nodiscard]] const T& value() const& { return *Checked(); }
  // By value on temporaries, so `for (auto& x : *Call())` never dangles.
  T value() && { return std::move(*Checked()); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }
  T* operator->() { return Checked(); }
  const T* operator->() const { return Checked(); }

  [[nodiscard]] const Error& error() const& {
    if (has_value()) ResultMisuse("error() of a Result that holds a value", nullptr);
    return *std::get_if<1>(&v_);
  }
  Error& error() & {
    if (has_value()) ResultMisuse("error() of a Result that holds a value", nullptr);
    return *std::get_if<1>(&v_);
  }

 private:
  T* Checked() {
    if (!has_value()) {
      ResultMisuse("the value of a Result that holds an error", std::get_if<1>(&v_));
    }
    return std::get_if<0>(&v_);
  }
  [[nodiscard]] const T* Checked() const {
    if (!has_value()) {
      ResultMisuse("the value of a Result that holds an error", std::get_if<1>(&v_));
    }
    return std::get_if<0>(&v_);
  }

  std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  [[nodiscard]] bool has_value() const { return !error_.has_value(); }
  explicit operator bool() const { return has_value(); }
  [[nodiscard]] const Error& error() const {
    if (!error_) ResultMisuse("error() of a successful Status", nullptr);
    return *error_;
  }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace referrald
