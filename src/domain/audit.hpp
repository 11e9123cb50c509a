#pragma once
// The automation_logs vocabulary: services, actions and statuses the service writes.

#include <string_view>

namespace referrald::domain::audit {

inline constexpr std::string_view kServiceReferral = "referral";
inline constexpr std::string_view kServiceSubscription = "subscription";
inline constexpr std::string_view kServiceWorker = "automation_worker";

inline constexpr std::string_view kCodeGenerated = "code_generated";
inline constexpr std::string_view kCodeCollision = "code_collision";
inline constexpr std::string_view kReferralTracked = "referral_tracked";
inline constexpr std::string_view kReferralRefused = "referral_refused";
inline constexpr std::string_view kReferralConverted = "referral_converted";
inline constexpr std::string_view kConversionRefused = "conversion_refused";
inline constexpr std::string_view kRewardGranted = "reward_granted";
inline constexpr std::string_view kRewardClaimed = "reward_claimed";
inline constexpr std::string_view kRewardClaimRefused = "reward_claim_refused";
inline constexpr std::string_view kSubscriptionCreated = "subscription_created";
inline constexpr std::string_view kPaymentDeclined = "payment_declined";

inline constexpr std::string_view kSuccess = "success";
inline constexpr std::string_view kFailed = "failed";
inline constexpr std::string_view kPending = "pending";

}  // namespace referrald::domain::audit
