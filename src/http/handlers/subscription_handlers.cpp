// /api/subscriptions/*: payment, then the subscriber's referral converts (inside the service).

#include "domain/subscription_service.hpp"
#include "http/error_mapping.hpp"
#include "http/handlers/handlers.hpp"
#include "http/idempotency.hpp"
#include "http/json_mapping.hpp"

namespace referrald::http {
namespace {

Response CreatedResponse(const domain::SubscriptionCreated& created) {
  return JsonResponse(status::kCreated, SubscriptionJson(created.subscription));
}
Response CancelledResponse(const domain::SubscriptionCancellation& cancellation) {
  return JsonResponse(status::kOk, CancelledSubscriptionJson(cancellation));
}

}  // namespace

Response HandleCreateSubscription(const Request& request, const Dependencies& deps) {
  auto body = ParseCreateSubscriptionBody(request.body);
  if (!body) return ErrorResponse(body.error(), request);
  WriteAnswer<domain::SubscriptionCreated> answer(request, deps, CreatedResponse);
  auto created =
      deps.subscriptions.Create(request.caller.actor(), body->tier, body->nonce, answer.OnCommit());
  if (!created) return ErrorResponse(created.error(), request);
  return answer.Success(*created);
}

Response HandleCancelSubscription(const Request& request, const Dependencies& deps) {
  auto body = ParseCancelSubscriptionBody(request.body);
  if (!body) return ErrorResponse(body.error(), request);
  WriteAnswer<domain::SubscriptionCancellation> answer(request, deps, CancelledResponse);
  auto cancelled = deps.subscriptions.Cancel(request.caller.actor(), body->refund, body->reason,
                                             answer.OnCommit());
  if (!cancelled) return ErrorResponse(cancelled.error(), request);
  return answer.Success(*cancelled);
}

Response HandleSubscriptionMe(const Request& request, const Dependencies& deps) {
  auto premium = deps.subscriptions.Me(request.caller.user_id);
  if (!premium) return ErrorResponse(premium.error(), request);
  return JsonResponse(status::kOk, PremiumStatusJson(*premium));
}

}  // namespace referrald::http
