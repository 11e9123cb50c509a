#include "util/result.hpp"

#include <cstdio>
#include <cstdlib>

namespace referrald {

std::string_view ToString(Reason reason) {
  switch (reason) {
    case Reason::kValidationError:
      return "VALIDATION_ERROR";
    case Reason::kInvalidJson:
      return "INVALID_JSON";
    case Reason::kPayloadTooLarge:
      return "PAYLOAD_TOO_LARGE";
    case Reason::kNotFound:
      return "NOT_FOUND";
    case Reason::kMethodNotAllowed:
      return "METHOD_NOT_ALLOWED";
    case Reason::kRateLimited:
      return "RATE_LIMITED";
    case Reason::kTokenMissing:
      return "TOKEN_MISSING";
    case Reason::kTokenInvalid:
      return "TOKEN_INVALID";
    case Reason::kTokenExpired:
      return "TOKEN_EXPIRED";
    case Reason::kTokenNotYetValid:
      return "TOKEN_NOT_YET_VALID";
    case Reason::kTokenClaimsInvalid:
      return "TOKEN_CLAIMS_INVALID";
    case Reason::kForbidden:
      return "FORBIDDEN";
    case Reason::kUserErased:
      return "USER_ERASED";
    case Reason::kCodeExists:
      return "CODE_EXISTS";
    case Reason::kCodeCollision:
      return "CODE_COLLISION";
    case Reason::kCodeSpaceExhausted:
      return "CODE_SPACE_EXHAUSTED";
    case Reason::kCodeNotFound:
      return "CODE_NOT_FOUND";
    case Reason::kInvalidCode:
      return "INVALID_CODE";
    case Reason::kSelfReferral:
      return "SELF_REFERRAL";
    case Reason::kCircularReferral:
      return "CIRCULAR_REFERRAL";
    case Reason::kAlreadyReferred:
      return "ALREADY_REFERRED";
    case Reason::kReferralNotFound:
      return "REFERRAL_NOT_FOUND";
    case Reason::kAlreadyConverted:
      return "ALREADY_CONVERTED";
    case Reason::kRewardNotFound:
      return "REWARD_NOT_FOUND";
    case Reason::kRewardExpired:
      return "REWARD_EXPIRED";
    case Reason::kRewardOnHold:
      return "REWARD_ON_HOLD";
    case Reason::kPaymentDeclined:
      return "PAYMENT_DECLINED";
    case Reason::kAlreadySubscribed:
      return "ALREADY_SUBSCRIBED";
    case Reason::kSubscriptionNotFound:
      return "SUBSCRIPTION_NOT_FOUND";
    case Reason::kJobNotFound:
      return "JOB_NOT_FOUND";
    case Reason::kServiceDisabled:
      return "SERVICE_DISABLED";
    case Reason::kShuttingDown:
      return "SHUTTING_DOWN";
    case Reason::kDatabaseUnavailable:
      return "DATABASE_UNAVAILABLE";
    case Reason::kInternalError:
      return "INTERNAL_ERROR";
    case Reason::kInvalidConfig:
      return "INVALID_CONFIG";
    case Reason::kBindFailed:
      return "BIND_FAILED";
    case Reason::kInvalidCron:
      return "INVALID_CRON";
    case Reason::kInvalidIdempotencyKey:
      return "INVALID_IDEMPOTENCY_KEY";
    case Reason::kIdempotencyKeyReused:
      return "IDEMPOTENCY_KEY_REUSED";
    case Reason::kIdempotencyInProgress:
      return "IDEMPOTENCY_IN_PROGRESS";
    case Reason::kInvalidCursor:
      return "INVALID_CURSOR";
    case Reason::kInvalidWebhookUrl:
      return "INVALID_WEBHOOK_URL";
    case Reason::kWebhookNotFound:
      return "WEBHOOK_NOT_FOUND";
    case Reason::kUserNotFound:
      return "USER_NOT_FOUND";
  }
  return "INTERNAL_ERROR";
}

void ResultMisuse(std::string_view what, const Error* error) {
  std::string message = "referrald: bug: read ";
  message += what;
  if (error != nullptr) {
    message.append(" (").append(error->machine()).append(": ").append(error->message).append(")");
  }
  message += '\n';
  std::fputs(message.c_str(), stderr);
  std::abort();
}

}  // namespace referrald
