#pragma once
// The contract's domain errors, built in one place so every layer uses the same machine codes.

#include <algorithm>
#include <chrono>
#include <string>

#include "domain/limits.hpp"
#include "util/result.hpp"

namespace referrald::domain::errors {

inline Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, Reason::kValidationError, std::move(message));
}
// The inputs whose rules the domain owns (limits.hpp), one message each.
inline Error InvalidExpiresInDays() {
  return Invalid("expiresInDays must be an integer between 1 and " +
                 std::to_string(kMaxExpiresInDays));
}
inline Error InvalidTier() { return Invalid("tier must be \"premium\""); }
inline Error InvalidNonce() {
  return Invalid("nonce must be a non-empty string of at most " + std::to_string(kMaxNonceLength) +
                 " printable characters");
}
inline Error InvalidPeriod() { return Invalid("period must be one of all, month, week"); }
inline Error InvalidLeaderboardLimit() {
  return Invalid("limit must be an integer between 1 and " + std::to_string(kMaxLeaderboardLimit));
}
inline Error InvalidTrendDays() {
  return Invalid("days must be an integer between 1 and " + std::to_string(kMaxTrendDays));
}
inline Error InvalidEventLimit() {
  return Invalid("limit must be an integer between 1 and " + std::to_string(kMaxEventLimit));
}
inline Error InvalidEventType() {
  return Invalid(
      "type must be one of code.generated, referral.tracked, referral.converted, "
      "reward.granted, reward.claimed, reward.revoked, badge.awarded, subscription.created, "
      "subscription.cancelled");
}
// ?limit= of a paged list (domain/paging.hpp).
inline Error InvalidPageLimit() {
  return Invalid("limit must be an integer between 1 and " + std::to_string(kMaxPageLimit));
}
// ?after= (or a replay's "after") that is not a cursor this service handed out for that list.
inline Error InvalidCursor() {
  return MakeError(ErrorCode::kInvalidArgument, Reason::kInvalidCursor,
                   "after is not a cursor this service handed out");
}
inline Error InvalidReferralStatus() {
  return Invalid("status must be one of pending, converted, expired");
}
inline Error InvalidReferrerUserId() { return Invalid("referrerUserId must be a UUID"); }
inline Error InvalidUserId() { return Invalid("id must be a UUID"); }
inline Error UserNotFound() {
  return MakeError(ErrorCode::kNotFound, Reason::kUserNotFound, "User not found");
}
// The caller's user was erased (DELETE /api/admin/users/{id}): its tokens are refused.
inline Error UserErased() {
  return MakeError(ErrorCode::kPermissionDenied, Reason::kUserErased,
                   "This user's personal data was erased; its tokens are no longer accepted");
}
inline Error InvalidWebhookEventTypes() {
  return Invalid(
      "eventTypes must be a non-empty array of code.generated, referral.tracked, "
      "referral.converted, reward.granted, reward.claimed, reward.revoked, badge.awarded, "
      "subscription.created, subscription.cancelled");
}
inline Error InvalidWebhookDescription() {
  return Invalid("description must be a string of at most " +
                 std::to_string(kMaxWebhookDescriptionLength) +
                 " characters without control characters");
}
// A webhook URL that may not be registered: `why` says what is wrong with it (never the URL).
inline Error InvalidWebhookUrl(const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, Reason::kInvalidWebhookUrl,
                   "url must be an http(s) URL of at most " + std::to_string(kMaxWebhookUrlLength) +
                       " characters whose host resolves to public addresses: " + why);
}
inline Error WebhookNotFound() {
  return MakeError(ErrorCode::kNotFound, Reason::kWebhookNotFound, "Webhook not found");
}
inline Error InvalidRewardId() { return Invalid("rewardId must be a UUID"); }
inline Error InvalidReferredUserId() { return Invalid("referredUserId must be a UUID"); }
inline Error CodeExists(const std::string& code) {
  Error e = MakeError(ErrorCode::kAlreadyExists, Reason::kCodeExists,
                      "User already has an active referral code");
  e.extra = std::make_pair(std::string("referralCode"), code);
  return e;
}
// Internal to storage/domain: a generated code's text is already taken; the domain regenerates.
inline Error CodeCollision() {
  return MakeError(ErrorCode::kAlreadyExists, Reason::kCodeCollision,
                   "Referral code already taken");
}
inline Error CodeNotFound() {
  return MakeError(ErrorCode::kNotFound, Reason::kCodeNotFound, "No referral code for this user");
}
inline Error InvalidCode() {
  return MakeError(ErrorCode::kInvalidArgument, Reason::kInvalidCode,
                   "Invalid or expired referral code");
}
inline Error SelfReferral() {
  return MakeError(ErrorCode::kFailedPrecondition, Reason::kSelfReferral,
                   "You cannot use your own referral code");
}
inline Error CircularReferral() {
  return MakeError(ErrorCode::kFailedPrecondition, Reason::kCircularReferral,
                   "The owner of this code was referred by you");
}
inline Error AlreadyReferred() {
  return MakeError(ErrorCode::kAlreadyExists, Reason::kAlreadyReferred,
                   "User already has a referrer");
}
inline Error RewardNotFound() {
  return MakeError(ErrorCode::kNotFound, Reason::kRewardNotFound,
                   "Reward not found or already claimed");
}
inline Error RewardExpired() {
  return MakeError(ErrorCode::kFailedPrecondition, Reason::kRewardExpired, "Reward has expired");
}
// The reward is still on hold (contract §11); `claimable_at` (ISO 8601) is when it no longer is,
// also carried in the body as `claimableAt`.
inline Error RewardOnHold(const std::string& claimable_at) {
  Error e = MakeError(ErrorCode::kConflict, Reason::kRewardOnHold,
                      "Reward is on hold until " + claimable_at);
  e.extra = std::make_pair(std::string("claimableAt"), claimable_at);
  return e;
}
inline Error SubscriptionNotFound() {
  return MakeError(ErrorCode::kNotFound, Reason::kSubscriptionNotFound,
                   "User has no active subscription");
}
inline Error InvalidCancelReason() {
  return Invalid("reason must be a string of at most " + std::to_string(kMaxCancelReasonLength) +
                 " characters without control characters");
}
inline Error ReferralNotFound() {
  return MakeError(ErrorCode::kNotFound, Reason::kReferralNotFound,
                   "No pending referral for this user");
}
inline Error AlreadyConverted() {
  return MakeError(ErrorCode::kAlreadyExists, Reason::kAlreadyConverted,
                   "Referral already converted");
}
inline Error PaymentDeclined() {
  return MakeError(ErrorCode::kPaymentRequired, Reason::kPaymentDeclined, "Payment was declined");
}
inline Error AlreadySubscribed() {
  return MakeError(ErrorCode::kAlreadyExists, Reason::kAlreadySubscribed,
                   "User already has an active subscription");
}
// Over an abuse limit (abuse.hpp); `wait` until the budget frees, answered in whole seconds (at
// least 1).
inline Error RateLimited(std::chrono::milliseconds wait) {
  const std::int64_t seconds = std::max<std::int64_t>(1, (wait.count() + 999) / 1000);
  Error e = MakeError(ErrorCode::kTooManyRequests, Reason::kRateLimited,
                      "Too many requests; try again in " + std::to_string(seconds) + " s");
  e.retry_after_seconds = seconds;
  return e;
}
inline Error InvalidIdempotencyKey() {
  return MakeError(ErrorCode::kInvalidArgument, Reason::kInvalidIdempotencyKey,
                   "Idempotency-Key must be 1 to " + std::to_string(kMaxIdempotencyKeyLength) +
                       " visible ASCII characters");
}
inline Error IdempotencyKeyReused() {
  return MakeError(ErrorCode::kUnprocessable, Reason::kIdempotencyKeyReused,
                   "Idempotency-Key was already used with another request");
}
inline Error IdempotencyInProgress() {
  return MakeError(ErrorCode::kConflict, Reason::kIdempotencyInProgress,
                   "A request with this Idempotency-Key is still in progress; retry later");
}
// The database failed or is unreachable. The message never carries the driver's text.
inline Error StorageUnavailable() {
  return MakeError(ErrorCode::kUnavailable, Reason::kDatabaseUnavailable,
                   "The database is unavailable");
}
inline Error StorageFailure() {
  return MakeError(ErrorCode::kInternal, Reason::kInternalError, "Internal error");
}

}  // namespace referrald::domain::errors
