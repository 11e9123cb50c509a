// /api/admin/webhooks: register, list and delete endpoints; an endpoint's deliveries; replay.

#include "domain/paging.hpp"
#include "domain/webhook_service.hpp"
#include "domain/webhooks.hpp"
#include "http/error_mapping.hpp"
#include "http/handlers/handlers.hpp"
#include "http/json_mapping.hpp"

namespace referrald::http {

Response HandleCreateWebhook(const Request& request, const Dependencies& deps) {
  auto body = ParseCreateWebhookBody(request.body);
  if (!body) return ErrorResponse(body.error(), request);
  auto endpoint = deps.webhooks.Register(*body);
  if (!endpoint) return ErrorResponse(endpoint.error(), request);
  return JsonResponse(status::kCreated, WebhookJson(*endpoint, /*with_secret=*/true));
}

Response HandleListWebhooks(const Request& request, const Dependencies& deps) {
  auto endpoints = deps.webhooks.List();
  if (!endpoints) return ErrorResponse(endpoints.error(), request);
  return JsonResponse(status::kOk, WebhooksJson(*endpoints));
}

Response HandleDeleteWebhook(const Request& request, const Dependencies& deps) {
  if (Status deleted = deps.webhooks.Delete(request.RouteParam("id")); !deleted) {
    return ErrorResponse(deleted.error(), request);
  }
  Response response;
  response.status = status::kNoContent;
  return response;
}

Response HandleListDeliveries(const Request& request, const Dependencies& deps) {
  auto page = domain::ParsePageRequest(request.QueryParam("limit"), request.QueryParam("after"),
                                       domain::PageKeyKind::kSequence);
  if (!page) return ErrorResponse(page.error(), request);
  auto deliveries = deps.webhooks.Deliveries(request.RouteParam("id"), *page);
  if (!deliveries) return ErrorResponse(deliveries.error(), request);
  return PageResponse(request, DeliveriesJson(deliveries->items), deliveries->next,
                      domain::PageKeyKind::kSequence);
}

Response HandleReplayWebhook(const Request& request, const Dependencies& deps) {
  auto after = ParseReplayBody(request.body);
  if (!after) return ErrorResponse(after.error(), request);
  auto queued = deps.webhooks.Replay(request.RouteParam("id"), *after);
  if (!queued) return ErrorResponse(queued.error(), request);
  return JsonResponse(status::kAccepted, {{"queued", *queued}});
}

}  // namespace referrald::http
