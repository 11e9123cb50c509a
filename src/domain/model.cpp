#include "domain/model.hpp"

namespace referrald::domain {

std::string_view ToString(ReferralStatus s) {
  switch (s) {
    case ReferralStatus::kPending:
      return "pending";
    case ReferralStatus::kConverted:
      return "converted";
    case ReferralStatus::kExpired:
      return "expired";
  }
  return "pending";
}

std::string_view ToString(RewardType t) {
  switch (t) {
    case RewardType::kFreePremium:
      return "free_premium";
    case RewardType::kBadge:
      return "badge";
  }
  return "free_premium";
}

std::string_view ToString(RewardStatus s) {
  switch (s) {
    case RewardStatus::kOnHold:
      return "on_hold";
    case RewardStatus::kClaimable:
      return "claimable";
    case RewardStatus::kClaimed:
      return "claimed";
    case RewardStatus::kExpired:
      return "expired";
    case RewardStatus::kRevoked:
      return "revoked";
  }
  return "claimable";
}

std::string_view ToString(AuditStatus s) {
  switch (s) {
    case AuditStatus::kSuccess:
      return "success";
    case AuditStatus::kFailed:
      return "failed";
    case AuditStatus::kPending:
      return "pending";
  }
  return "failed";
}

std::optional<AuditStatus> ParseAuditStatus(std::string_view s) {
  if (s == "success") return AuditStatus::kSuccess;
  if (s == "failed") return AuditStatus::kFailed;
  if (s == "pending") return AuditStatus::kPending;
  return std::nullopt;
}

std::optional<ReferralStatus> ParseReferralStatus(std::string_view s) {
  if (s == "pending") return ReferralStatus::kPending;
  if (s == "converted") return ReferralStatus::kConverted;
  if (s == "expired") return ReferralStatus::kExpired;
  return std::nullopt;
}

std::optional<RewardType> ParseRewardType(std::string_view s) {
  if (s == "free_premium") return RewardType::kFreePremium;
  if (s == "badge") return RewardType::kBadge;
  return std::nullopt;
}

std::string_view ToString(IdempotencyState s) {
  switch (s) {
    case IdempotencyState::kInProgress:
      return "in_progress";
    case IdempotencyState::kCompleted:
      return "completed";
  }
  return "in_progress";
}

std::optional<IdempotencyState> ParseIdempotencyState(std::string_view s) {
  if (s == "in_progress") return IdempotencyState::kInProgress;
  if (s == "completed") return IdempotencyState::kCompleted;
  return std::nullopt;
}

}  // namespace referrald::domain
