#include "domain/subscription_service.hpp"

#include <spdlog/spdlog.h>

#include "domain/audit.hpp"
#include "domain/errors.hpp"
#include "util/uuid.hpp"

namespace referrald::domain {
namespace {

constexpr std::string_view kDeclinedPrefix = "fake-processor-declined";
constexpr std::string_view kPremium = "premium";
constexpr std::size_t kMaxNonceLength = 256;

}  // namespace

SandboxPaymentProvider::SandboxPaymentProvider(RandomSource& random, const Clock& clock)
    : random_(random), clock_(clock) {}

Result<PaymentReceipt> SandboxPaymentProvider::Charge(const std::string& /*user_id*/,
                                                      std::string_view /*tier*/,
                                                      std::string_view nonce) {
  if (nonce.empty() || nonce.substr(0, kDeclinedPrefix.size()) == kDeclinedPrefix) {
    return errors::PaymentDeclined();
  }
  return PaymentReceipt{"sandbox", "sandbox_" + NewUuidV7(clock_.Now(), random_)};
}

SubscriptionService::SubscriptionService(Store& store, PaymentProvider& payments,
                                         ReferralService& referrals, const Clock& clock,
                                         RandomSource& random, bool referrals_enabled)
    : store_(store),
      payments_(payments),
      referrals_(referrals),
      clock_(clock),
      random_(random),
      referrals_enabled_(referrals_enabled) {}

Result<SubscriptionCreated> SubscriptionService::Create(const std::string& user_id,
                                                        std::string_view tier,
                                                        std::string_view nonce) {
  if (tier != kPremium) return errors::Invalid("tier must be \"premium\"");
  if (nonce.empty() || nonce.size() > kMaxNonceLength) {
    return errors::Invalid("nonce must be a non-empty string of at most 256 characters");
  }
  // Refuse a second subscription before charging: the unique index still decides races.
  auto active = store_.FindActiveSubscription(user_id);
  if (!active) return active.error();
  if (active->has_value()) return errors::AlreadySubscribed();

  auto receipt = payments_.Charge(user_id, tier, nonce);
  if (!receipt) {
    const TimePoint now = clock_.Now();
    // Nothing about the subscription is written; the refusal is audited.
    (void)store_.AppendAudit(AuditEntry{NewUuidV7(now, random_),
                                        std::string(audit::kServiceSubscription),
                                        std::string(audit::kPaymentDeclined),
                                        std::string(audit::kFailed),
                                        user_id,
                                        {{"tier", std::string(tier)}},
                                        receipt.error().message,
                                        now});
    return receipt.error();
  }
  const TimePoint now = clock_.Now();
  Subscription sub{NewUuidV7(now, random_), user_id, std::string(tier), "active", receipt->provider,
                   receipt->reference,      now};
  std::optional<ConversionGrant> grant;
  if (referrals_enabled_) grant = referrals_.MakeGrant(user_id, now);
  auto created = store_.CreateSubscription(sub, grant);
  if (!created && created.error().machine == "ALREADY_SUBSCRIBED") {
    // Lost a race with a concurrent subscription of the same user after charging.
    spdlog::warn("subscription race lost after charge; provider reference must be refunded");
  }
  if (created && created->conversion) referrals_.CountConversion();
  return created;
}

Result<PremiumStatus> SubscriptionService::Me(const std::string& user_id) {
  auto sub = store_.FindActiveSubscription(user_id);
  if (!sub) return sub.error();
  auto user = store_.FindUser(user_id);
  if (!user) return user.error();
  PremiumStatus status{"free", "none", std::nullopt};
  if (user->has_value()) status.premium_until = (*user)->premium_until;
  if (sub->has_value()) {
    status.tier = (*sub)->tier;
    status.status = (*sub)->status;
  } else if (status.premium_until && *status.premium_until > clock_.Now()) {
    // Premium earned through claimed rewards, without a paid subscription.
    status.tier = "premium";
    status.status = "active";
  }
  return status;
}

}  // namespace referrald::domain
