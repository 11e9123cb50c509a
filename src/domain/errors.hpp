#pragma once
// The contract's domain errors, built in one place so every layer uses the same machine codes.

#include <string>

#include "util/result.hpp"

namespace referrald::domain::errors {

inline Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, "VALIDATION_ERROR", std::move(message));
}
inline Error CodeExists(const std::string& code) {
  Error e = MakeError(ErrorCode::kAlreadyExists, "CODE_EXISTS",
                      "User already has an active referral code");
  e.extra = std::make_pair(std::string("referralCode"), code);
  return e;
}
// Internal to storage/domain: a generated code's text is already taken; the domain regenerates.
inline Error CodeCollision() {
  return MakeError(ErrorCode::kAlreadyExists, "CODE_COLLISION", "Referral code already taken");
}
inline Error CodeNotFound() {
  return MakeError(ErrorCode::kNotFound, "CODE_NOT_FOUND", "No referral code for this user");
}
inline Error InvalidCode() {
  return MakeError(ErrorCode::kInvalidArgument, "INVALID_CODE", "Invalid or expired referral code");
}
inline Error SelfReferral() {
  return MakeError(ErrorCode::kFailedPrecondition, "SELF_REFERRAL",
                   "You cannot use your own referral code");
}
inline Error CircularReferral() {
  return MakeError(ErrorCode::kFailedPrecondition, "CIRCULAR_REFERRAL",
                   "The owner of this code was referred by you");
}
inline Error AlreadyReferred() {
  return MakeError(ErrorCode::kAlreadyExists, "ALREADY_REFERRED", "User already has a referrer");
}
inline Error RewardNotFound() {
  return MakeError(ErrorCode::kNotFound, "REWARD_NOT_FOUND", "Reward not found or already claimed");
}
inline Error RewardExpired() {
  return MakeError(ErrorCode::kFailedPrecondition, "REWARD_EXPIRED", "Reward has expired");
}
inline Error ReferralNotFound() {
  return MakeError(ErrorCode::kNotFound, "REFERRAL_NOT_FOUND", "No pending referral for this user");
}
inline Error AlreadyConverted() {
  return MakeError(ErrorCode::kAlreadyExists, "ALREADY_CONVERTED", "Referral already converted");
}
inline Error PaymentDeclined() {
  return MakeError(ErrorCode::kPaymentRequired, "PAYMENT_DECLINED", "Payment was declined");
}
inline Error AlreadySubscribed() {
  return MakeError(ErrorCode::kAlreadyExists, "ALREADY_SUBSCRIBED",
                   "User already has an active subscription");
}
// The database failed or is unreachable. The message never carries the driver's text.
inline Error StorageUnavailable() {
  return MakeError(ErrorCode::kUnavailable, "DATABASE_UNAVAILABLE", "The database is unavailable");
}
inline Error StorageFailure() {
  return MakeError(ErrorCode::kInternal, "INTERNAL_ERROR", "Internal error");
}

}  // namespace referrald::domain::errors
