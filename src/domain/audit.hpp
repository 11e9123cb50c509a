#pragma once
// The automation_logs vocabulary (services, actions, statuses) and the one way entries are built.

#include <optional>
#include <string>
#include <string_view>

#include "domain/model.hpp"

namespace referrald::domain::audit {

inline constexpr std::string_view kServiceReferral = "referral";
inline constexpr std::string_view kServiceSubscription = "subscription";
inline constexpr std::string_view kServiceWorker = "automation_worker";
inline constexpr std::string_view kServicePersonalData = "personal_data";

inline constexpr std::string_view kCodeGenerated = "code_generated";
inline constexpr std::string_view kCodeCollision = "code_collision";
inline constexpr std::string_view kReferralTracked = "referral_tracked";
inline constexpr std::string_view kReferralRefused = "referral_refused";
inline constexpr std::string_view kReferralConverted = "referral_converted";
inline constexpr std::string_view kConversionRefused = "conversion_refused";
inline constexpr std::string_view kRewardGranted = "reward_granted";
inline constexpr std::string_view kRewardClaimed = "reward_claimed";
inline constexpr std::string_view kRewardClaimRefused = "reward_claim_refused";
inline constexpr std::string_view kRewardRevoked = "reward_revoked";
inline constexpr std::string_view kSubscriptionCreated = "subscription_created";
inline constexpr std::string_view kSubscriptionCancelled = "subscription_cancelled";
inline constexpr std::string_view kPaymentDeclined = "payment_declined";
inline constexpr std::string_view kUserErased = "user_erased";

inline constexpr AuditStatus kSuccess = AuditStatus::kSuccess;
inline constexpr AuditStatus kFailed = AuditStatus::kFailed;
inline constexpr AuditStatus kPending = AuditStatus::kPending;

// An entry with every field given; `id` comes from the domain's IdGenerator.
inline AuditEntry Entry(std::string id, std::string_view service, std::string_view action,
                        AuditStatus status, std::optional<std::string> user_id, Details details,
                        std::optional<std::string> error_message, TimePoint now) {
  return AuditEntry{std::move(id),      std::string(service), std::string(action),      status,
                    std::move(user_id), std::move(details),   std::move(error_message), now};
}

}  // namespace referrald::domain::audit
