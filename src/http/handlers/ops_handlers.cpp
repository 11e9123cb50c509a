// Operational routes: no auth.

#include "domain/store.hpp"
#include "http/handlers/handlers.hpp"
#include "http/json_mapping.hpp"

namespace referrald::http {

Response HandleHealth(const Request& /*request*/, const Dependencies& deps) {
  if (deps.store.Ping()) {
    return JsonResponse(status::kOk, {{"status", "ok"}, {"database", "ok"}});
  }
  return JsonResponse(status::kServiceUnavailable,
                      {{"status", "unavailable"}, {"database", "unavailable"}});
}

}  // namespace referrald::http
