#pragma once
// Result<T>: a value or an Error, shaped like C++23 std::expected so it can become one later.

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace referrald {

// The small canonical error set (Abseil-style) plus the two HTTP-flavoured cases the contract
// needs.
enum class ErrorCode {
  kInvalidArgument,     // 400
  kUnauthenticated,     // 401
  kPaymentRequired,     // 402
  kPermissionDenied,    // 403
  kNotFound,            // 404
  kAlreadyExists,       // 409
  kFailedPrecondition,  // 400 (a rule refused the request: self referral, expired reward)
  kPayloadTooLarge,     // 413
  kUnavailable,         // 503
  kInternal,            // 500
};

// A failure the caller is expected to handle. `machine` is the contract's MACHINE_CODE
// (e.g. "ALREADY_REFERRED"); `message` is for humans and never carries SQL or secrets.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string machine;
  std::string message;
  // Extra string field some errors carry in their body (CODE_EXISTS carries `referralCode`).
  std::optional<std::pair<std::string, std::string>> extra;
};

inline Error MakeError(ErrorCode code, std::string machine, std::string message) {
  return Error{code, std::move(machine), std::move(message), std::nullopt};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  // By value on temporaries, so `for (auto& x : *Call())` never dangles.
  T value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }
  Error& error() { return std::get<1>(v_); }

 private:
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
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace referrald
