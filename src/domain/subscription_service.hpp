#pragma once
// Premium subscriptions: charge through a PaymentProvider, then convert the subscriber's referral.

#include <optional>
#include <string>
#include <string_view>

#include "domain/idempotency.hpp"
#include "domain/model.hpp"
#include "domain/referral_service.hpp"
#include "domain/store.hpp"
#include "util/clock.hpp"
#include "util/ids.hpp"
#include "util/result.hpp"

namespace referrald::domain {

struct PaymentReceipt {
  std::string provider;   // e.g. "sandbox"
  std::string reference;  // the provider's id for the charge
};

// A payment processor. Charge is called before anything is written; an error means nothing is.
class PaymentProvider {
 public:
  virtual ~PaymentProvider() = default;
  // Errors: PaymentDeclined.
  virtual Result<PaymentReceipt> Charge(const std::string& user_id, std::string_view tier,
                                        std::string_view nonce) = 0;
};

// Declines nonces starting with "fake-processor-declined"; accepts every other non-empty nonce.
class SandboxPaymentProvider final : public PaymentProvider {
 public:
  SandboxPaymentProvider(IdGenerator& ids, const Clock& clock);
  Result<PaymentReceipt> Charge(const std::string& user_id, std::string_view tier,
                                std::string_view nonce) override;

 private:
  IdGenerator& ids_;
  const Clock& clock_;
};

class SubscriptionService {
 public:
  // With `referrals_enabled` false (ENABLE_REFERRAL_SYSTEM=false) a subscription converts nothing.
  SubscriptionService(Store& store, PaymentProvider& payments, ReferralService& referrals,
                      const Clock& clock, IdGenerator& ids, bool referrals_enabled = true);

  // tier must be "premium", nonce non-empty. The subscription, the actor's user row and the
  // conversion of the actor's pending referral are one transaction.
  // `on_commit` runs at the end of that transaction with its result (domain/idempotency.hpp).
  // Errors: Invalid, PaymentDeclined, AlreadySubscribed.
  Result<SubscriptionCreated> Create(const Actor& actor, std::string_view tier,
                                     std::string_view nonce,
                                     const OnCommit<SubscriptionCreated>& on_commit = {});
  // Cancels the actor's active subscription (contract §11); `reason` at most
  // kMaxCancelReasonLength bytes without control characters. With `refund`, the reward its
  // conversion earned the referrer is revoked while on hold (ReferralService::RevokeHeldRewardIn),
  // in the same transaction, whatever ENABLE_REFERRAL_SYSTEM says: a refund is a refund.
  // Premium already held (premium_until) is kept. Errors: InvalidCancelReason,
  // SubscriptionNotFound (no active subscription, or cancelled concurrently).
  Result<SubscriptionCancellation> Cancel(const Actor& actor, bool refund,
                                          const std::optional<std::string>& reason,
                                          const OnCommit<SubscriptionCancellation>& on_commit = {});
  // The newest subscription's status ("none" without one); tier "premium" while it is active or
  // premium_until is in the future, else "free".
  Result<PremiumStatus> Me(const std::string& user_id);

 private:
  Store& store_;
  PaymentProvider& payments_;
  ReferralService& referrals_;
  const Clock& clock_;
  IdGenerator& ids_;
  bool referrals_enabled_;
};

}  // namespace referrald::domain
