// Referral links (contract section 12): GET /r/{code} sends a visitor on and counts the click;
// GET /join is the built-in landing page. Both pages are small HTML documents under
// kPageContentSecurityPolicy (http/links.hpp).

#include "domain/referral_service.hpp"
#include "domain/rules.hpp"
#include "http/error_mapping.hpp"
#include "http/handlers/handlers.hpp"
#include "http/links.hpp"
#include "http/router.hpp"

namespace referrald::http {
namespace {

Response LinkNotFoundPage() {
  return HtmlPage(status::kNotFound, "Referral link not found",
                  "<h1>This referral link does not work</h1>\n"
                  "<p>Its code is unknown, no longer active or expired. Ask the person who shared "
                  "it for a new link.</p>");
}

}  // namespace

Response HandleFollowLink(const Request& request, const Dependencies& deps) {
  const auto code = PercentDecode(request.RouteParam("code"));
  if (!code) return LinkNotFoundPage();
  const std::string visitor = VisitorHash(
      deps.links.visitor_key, ResolveClientAddress(request, deps.links.trust_forwarded_for),
      request.Header("User-Agent").value_or(""));
  // A HEAD (a link checker) learns where the link goes, but is no visit.
  auto link = deps.referrals.FollowLink(*code, visitor, request.method != "HEAD");
  if (!link) {
    if (link.error().reason == Reason::kInvalidCode) return LinkNotFoundPage();
    return ErrorResponse(link.error(), request);
  }
  Response response;
  response.status = status::kFound;
  response.SetHeader("Location", LandingLocation(deps.links.landing_url, link->code));
  response.SetHeader("Cache-Control", "no-store");
  response.SetHeader("Referrer-Policy", "no-referrer");
  response.SetHeader("Content-Type", "text/html; charset=utf-8");
  return response;
}

Response HandleJoinPage(const Request& request, const Dependencies& /*deps*/) {
  const std::string code = domain::NormalizeCode(request.QueryParam("ref").value_or(""));
  // Only a code that could exist is shown: the page repeats no other text of the URL.
  if (!domain::IsPlausibleCode(code)) {
    return HtmlPage(status::kOk, "Join",
                    "<h1>Welcome</h1>\n<p>This link carries no referral code.</p>");
  }
  return HtmlPage(status::kOk, "You were invited",
                  "<h1>You were invited</h1>\n<p>Use this referral code when you sign up:</p>\n"
                  "<p><strong id=\"referral-code\">" +
                      HtmlEscape(code) + "</strong></p>");
}

}  // namespace referrald::http
