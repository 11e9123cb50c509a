// /api/admin/events: the event outbox, paged in commit order with an opaque cursor.

#include "domain/events.hpp"
#include "domain/paging.hpp"
#include "domain/store.hpp"
#include "http/error_mapping.hpp"
#include "http/handlers/handlers.hpp"
#include "http/json_mapping.hpp"

namespace referrald::http {

Response HandleListEvents(const Request& request, const Dependencies& deps) {
  auto after = domain::ParseEventCursor(request.QueryParam("after"));
  if (!after) return ErrorResponse(after.error(), request);
  auto limit = domain::ParseEventLimit(request.QueryParam("limit"));
  if (!limit) return ErrorResponse(limit.error(), request);
  auto type = domain::ParseEventTypeParam(request.QueryParam("type"));
  if (!type) return ErrorResponse(type.error(), request);
  auto page = deps.store.ListEvents(*after, *type, *limit);
  if (!page) return ErrorResponse(page.error(), request);
  return JsonResponse(status::kOk, EventPageJson(*page));
}

}  // namespace referrald::http
