#include "domain/subscription_service.hpp"

#include <spdlog/spdlog.h>

#include "domain/audit.hpp"
#include "domain/errors.hpp"
#include "domain/events.hpp"
#include "domain/limits.hpp"
#include "domain/rules.hpp"

namespace referrald::domain {
namespace {

constexpr std::string_view kDeclinedPrefix = "fake-processor-declined";
constexpr std::string_view kPremium = "premium";

}  // namespace

SandboxPaymentProvider::SandboxPaymentProvider(IdGenerator& ids, const Clock& clock)
    : ids_(ids), clock_(clock) {}

Result<PaymentReceipt> SandboxPaymentProvider::Charge(const std::string& /*user_id*/,
                                                      std::string_view /*tier*/,
                                                      std::string_view nonce) {
  if (nonce.empty() || nonce.substr(0, kDeclinedPrefix.size()) == kDeclinedPrefix) {
    return errors::PaymentDeclined();
  }
  return PaymentReceipt{"sandbox", "sandbox_" + ids_.New(clock_.Now())};
}

SubscriptionService::SubscriptionService(Store& store, PaymentProvider& payments,
                                         ReferralService& referrals, const Clock& clock,
                                         IdGenerator& ids, bool referrals_enabled)
    : store_(store),
      payments_(payments),
      referrals_(referrals),
      clock_(clock),
      ids_(ids),
      referrals_enabled_(referrals_enabled) {}

Result<SubscriptionCreated> SubscriptionService::Create(
    const Actor& actor, std::string_view tier, std::string_view nonce,
    const OnCommit<SubscriptionCreated>& on_commit) {
  if (tier != kPremium) return errors::InvalidTier();
  if (nonce.empty() || nonce.size() > kMaxNonceLength || HasControlCharacter(nonce)) {
    return errors::InvalidNonce();
  }
  // Refuse a second subscription before charging: the unique index still decides races.
  auto active = store_.FindActiveSubscription(actor.id);
  if (!active) return active.error();
  if (active->has_value()) return errors::AlreadySubscribed();

  // The payment provider is called outside any transaction: nothing waits on the database for it.
  auto receipt = payments_.Charge(actor.id, tier, nonce);
  if (!receipt) {
    const TimePoint now = clock_.Now();
    // Nothing about the subscription is written; the refusal is audited.
    auto logged = Transact(store_, [&](WriteTx& tx) -> Status {
      if (auto upserted = tx.UpsertUser(actor, now); !upserted) return upserted;
      return tx.AppendAudit(audit::Entry(
          ids_.New(now), audit::kServiceSubscription, audit::kPaymentDeclined, audit::kFailed,
          actor.id, {{"tier", std::string(tier)}}, receipt.error().message, now));
    });
    if (!logged) spdlog::error("could not write automation log for a declined payment");
    return receipt.error();
  }
  const TimePoint now = clock_.Now();
  const Subscription sub{ids_.New(now),
                         actor.id,
                         std::string(tier),
                         std::string(kSubscriptionStatusActive),
                         receipt->provider,
                         receipt->reference,
                         now};
  auto created = Transact(store_, [&](WriteTx& tx) -> Result<SubscriptionCreated> {
    if (auto upserted = tx.UpsertUser(actor, now); !upserted) return upserted.error();
    auto inserted = tx.InsertSubscription(sub);
    if (!inserted) return inserted.error();
    if (!*inserted) return errors::AlreadySubscribed();
    auto audited = tx.AppendAudit(audit::Entry(
        ids_.New(now), audit::kServiceSubscription, audit::kSubscriptionCreated, audit::kSuccess,
        actor.id, {{"subscriptionId", sub.id}, {"tier", sub.tier}, {"provider", sub.provider}},
        std::nullopt, now));
    if (!audited) return audited.error();
    auto emitted = tx.AppendEvent(
        MakeEvent(ids_.New(now), now, events::SubscriptionCreated{sub.id, sub.user_id, sub.tier}));
    if (!emitted) return emitted.error();
    SubscriptionCreated result{sub, std::nullopt};
    if (referrals_enabled_) {
      auto conversion = referrals_.ConvertPending(tx, actor.id, now);
      if (!conversion) return conversion.error();
      result.conversion = std::move(*conversion);
    }
    if (auto hooked = RunOnCommit(on_commit, tx, result); !hooked) return hooked.error();
    return result;
  });
  if (!created && (created.error().reason == Reason::kAlreadySubscribed ||
                   created.error().reason == Reason::kIdempotencyInProgress)) {
    // Lost a race with a concurrent subscription of the same user after charging (or, past its
    // lease, the Idempotency-Key to a retry that charged again).
    spdlog::warn("subscription race lost after charge; provider reference must be refunded");
  }
  if (created && created->conversion) referrals_.CountConversion();
  return created;
}

Result<SubscriptionCancellation> SubscriptionService::Cancel(
    const Actor& actor, bool refund, const std::optional<std::string>& reason,
    const OnCommit<SubscriptionCancellation>& on_commit) {
  if (reason && (reason->size() > kMaxCancelReasonLength || HasControlCharacter(*reason))) {
    return errors::InvalidCancelReason();
  }
  const TimePoint now = clock_.Now();
  auto cancelled = Transact(store_, [&](WriteTx& tx) -> Result<SubscriptionCancellation> {
    if (auto upserted = tx.UpsertUser(actor, now); !upserted) return upserted.error();
    // One conditional statement: of two concurrent cancellations, one finds the subscription.
    auto sub = tx.CancelActiveSubscription(actor.id, now, refund, reason);
    if (!sub) return sub.error();
    if (!*sub) return errors::SubscriptionNotFound();
    SubscriptionCancellation result{std::move(**sub), now, refund, std::nullopt};
    Details details{{"subscriptionId", result.subscription.id}, {"refund", refund}};
    if (reason) details.emplace_back("reason", *reason);
    auto audited = tx.AppendAudit(audit::Entry(ids_.New(now), audit::kServiceSubscription,
                                               audit::kSubscriptionCancelled, audit::kSuccess,
                                               actor.id, std::move(details), std::nullopt, now));
    if (!audited) return audited.error();
    auto emitted = tx.AppendEvent(
        MakeEvent(ids_.New(now), now,
                  events::SubscriptionCancelled{result.subscription.id, actor.id, refund}));
    if (!emitted) return emitted.error();
    if (refund) {
      auto revoked = referrals_.RevokeHeldRewardIn(tx, actor.id, now);
      if (!revoked) return revoked.error();
      result.revoked = std::move(*revoked);
    }
    if (auto hooked = RunOnCommit(on_commit, tx, result); !hooked) return hooked.error();
    return result;
  });
  return cancelled;
}

Result<PremiumStatus> SubscriptionService::Me(const std::string& user_id) {
  auto sub = store_.FindNewestSubscription(user_id);
  if (!sub) return sub.error();
  auto user = store_.FindUser(user_id);
  if (!user) return user.error();
  PremiumStatus status{"free", "none", std::nullopt};
  if (user->has_value()) status.premium_until = (*user)->premium_until;
  const bool holds_premium = status.premium_until && *status.premium_until > clock_.Now();
  if (sub->has_value() && (*sub)->status == kSubscriptionStatusActive) {
    status.tier = (*sub)->tier;
    status.status = (*sub)->status;
  } else if (sub->has_value()) {
    // Cancelled: premium already held through claimed rewards is kept until premium_until.
    status.status = (*sub)->status;
    if (holds_premium) status.tier = "premium";
  } else if (holds_premium) {
    // Premium earned through claimed rewards, without a paid subscription.
    status.tier = "premium";
    status.status = "active";
  }
  return status;
}

}  // namespace referrald::domain
