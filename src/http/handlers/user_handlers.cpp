// /api/admin/referrals and /api/admin/users/{id}: an administrator's view of referrals and of
// one user, and the user's personal data (export, erasure).

#include "domain/paging.hpp"
#include "domain/personal_data.hpp"
#include "domain/rules.hpp"
#include "http/error_mapping.hpp"
#include "http/handlers/handlers.hpp"
#include "http/json_mapping.hpp"

namespace referrald::http {

Response HandleAdminReferrals(const Request& request, const Dependencies& deps) {
  auto filter = domain::ParseReferralFilter(request.QueryParam("status"),
                                            request.QueryParam("referrerUserId"));
  if (!filter) return ErrorResponse(filter.error(), request);
  auto page = domain::ParsePageRequest(request.QueryParam("limit"), request.QueryParam("after"),
                                       domain::PageKeyKind::kUuid);
  if (!page) return ErrorResponse(page.error(), request);
  auto referrals = deps.referrals.ListReferrals(*filter, *page);
  if (!referrals) return ErrorResponse(referrals.error(), request);
  return PageResponse(request, AdminReferralsJson(referrals->items), referrals->next,
                      domain::PageKeyKind::kUuid);
}

Response HandleUserLookup(const Request& request, const Dependencies& deps) {
  auto lookup = deps.personal_data.Lookup(request.RouteParam("id"));
  if (!lookup) return ErrorResponse(lookup.error(), request);
  return JsonResponse(status::kOk,
                      UserLookupJson(*lookup, deps.clock.Now(), deps.links.public_base_url));
}

Response HandleUserExport(const Request& request, const Dependencies& deps) {
  auto exported = deps.personal_data.Export(request.RouteParam("id"));
  if (!exported) return ErrorResponse(exported.error(), request);
  return JsonResponse(status::kOk, UserExportJson(*exported));
}

Response HandleEraseUser(const Request& request, const Dependencies& deps) {
  auto erased = deps.personal_data.Erase(request.caller.actor(), request.RouteParam("id"));
  if (!erased) return ErrorResponse(erased.error(), request);
  deps.users.RememberErased(*erased);
  Response response;
  response.status = status::kNoContent;
  return response;
}

}  // namespace referrald::http
