#include "domain/webhook_dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <utility>

namespace referrald::domain {
namespace {
// Batches per FanOut call at most, so that a long backlog does not starve the senders.
constexpr int kMaxFanOutRounds = 20;
}  // namespace

WebhookDispatcher::WebhookDispatcher(Store& store, WebhookSender& sender, const Clock& clock,
                                     RandomSource& random, IdGenerator& ids, RetrySchedule schedule)
    : store_(store),
      sender_(sender),
      clock_(clock),
      random_(random),
      ids_(ids),
      schedule_(std::move(schedule)) {}

Result<std::int64_t> WebhookDispatcher::FanOut() {
  std::int64_t created = 0;
  for (int round = 0; round < kMaxFanOutRounds; ++round) {
    auto step = store_.FanOutEvents(clock_.Now(), kFanOutBatch);
    if (!step) return step.error();
    created += step->created;
    if (!step->more) break;
  }
  return created;
}

bool WebhookDispatcher::DeliverOne() {
  const TimePoint now = clock_.Now();
  const std::string lease = ids_.New(now);
  auto claimed = store_.ClaimDelivery(now, now + kDeliveryLease, lease);
  if (!claimed || !*claimed) return false;
  const ClaimedDelivery& delivery = **claimed;

  // No transaction and no pooled connection is held while the receiver answers.
  const TimePoint attempted_at = clock_.Now();
  const SendOutcome outcome = sender_.Send(delivery, attempted_at);
  if (outcome.aborted) {
    (void)store_.ReleaseDelivery(delivery.endpoint_id, delivery.event.id, delivery.lease);
    return false;
  }
  const DeliveryAttempt attempt =
      DecideAttempt(delivery, outcome, schedule_, attempted_at, random_);
  auto recorded = store_.RecordDeliveryAttempt(attempt);
  const int number = delivery.attempts_made + 1;
  if (!recorded) {
    spdlog::warn("webhook {} event {}: attempt {} made but not recorded (storage error)",
                 delivery.endpoint_id, delivery.event.id, number);
  } else if (!*recorded) {
    spdlog::info(
        "webhook {} event {}: attempt {} not recorded: the claim was lost (replayed, "
        "deleted or expired)",
        delivery.endpoint_id, delivery.event.id, number);
  } else if (attempt.status == DeliveryStatus::kSucceeded) {
    spdlog::debug("webhook {} event {}: delivered on attempt {} ({})", delivery.endpoint_id,
                  delivery.event.id, number, outcome.response_status.value_or(0));
  } else {
    spdlog::warn(
        "webhook {} event {}: attempt {} failed ({}); {}", delivery.endpoint_id, delivery.event.id,
        number,
        outcome.response_status ? "HTTP " + std::to_string(*outcome.response_status)
                                : std::string("no answer"),
        attempt.status == DeliveryStatus::kFailed ? "no attempt left: failed" : "will retry");
  }
  return true;
}

}  // namespace referrald::domain
