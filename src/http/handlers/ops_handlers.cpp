// Operational routes: /health and /metrics (no auth), the admin job trigger and audit log.

#include "domain/jobs.hpp"
#include "domain/paging.hpp"
#include "domain/store.hpp"
#include "http/error_mapping.hpp"
#include "http/handlers/handlers.hpp"
#include "http/json_mapping.hpp"
#include "http/openapi.hpp"
#include "util/process.hpp"
#include "util/version.hpp"

namespace referrald::http {

namespace {
constexpr std::size_t kMaxServiceLength = 100;

double UptimeSeconds(const Dependencies& deps) {
  return std::chrono::duration<double>(deps.clock.Now() - deps.started_at).count();
}
}  // namespace

Response HandleHealth(const Request& /*request*/, const Dependencies& deps) {
  const bool database_ok = deps.store.Ping().has_value();
  return JsonResponse(database_ok ? status::kOk : status::kServiceUnavailable,
                      {{"status", database_ok ? "ok" : "unavailable"},
                       {"database", database_ok ? "ok" : "unavailable"},
                       {"uptimeSeconds", static_cast<std::int64_t>(UptimeSeconds(deps))},
                       {"version", std::string(Version())}});
}

Response HandleLivez(const Request& /*request*/, const Dependencies& /*deps*/) {
  return JsonResponse(status::kOk, {{"status", "ok"}});
}

Response HandleMetrics(const Request& /*request*/, const Dependencies& deps) {
  Response response;
  response.status = status::kOk;
  response.body = deps.metrics.Render(UptimeSeconds(deps), ResidentMemoryBytes());
  response.SetHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  return response;
}

Response HandleOpenApi(const Request& /*request*/, const Dependencies& /*deps*/) {
  Response response;
  response.status = status::kOk;
  response.body = std::string(OpenApiDocument());
  return response;
}

// A job runs several transactions of its own: with an Idempotency-Key, its answer is remembered by
// the pipeline after it ran (every job is safe to run twice).
Response HandleRunJob(const Request& request, const Dependencies& deps) {
  auto result = deps.jobs.Run(request.RouteParam("name"));
  if (!result) return ErrorResponse(result.error(), request);
  return JsonResponse(status::kOk, JobResultJson(*result));
}

Response HandleAutomationLogs(const Request& request, const Dependencies& deps) {
  auto page = domain::ParsePageRequest(request.QueryParam("limit"), request.QueryParam("after"),
                                       domain::PageKeyKind::kUuid);
  if (!page) return ErrorResponse(page.error(), request);
  std::optional<std::string> service;
  if (auto value = request.QueryParam("service"); value && !value->empty()) {
    if (value->size() > kMaxServiceLength) {
      return ErrorResponse(http_errors::Validation("service must be at most 100 characters"),
                           request);
    }
    service = std::string(*value);
  }
  auto entries = domain::FetchPage<domain::AuditEntry>(
      *page, [&](const domain::PageRequest& probe) { return deps.store.ListAudit(service, probe); },
      [](const domain::AuditEntry& e) {
        return domain::PageKey{e.created_at, e.id};
      });
  if (!entries) return ErrorResponse(entries.error(), request);
  return PageResponse(request, AuditEntriesJson(entries->items), entries->next,
                      domain::PageKeyKind::kUuid);
}

}  // namespace referrald::http
