#pragma once
// Referral links (contract section 12): what GET /r/{code} and GET /join need besides the domain —
// the visitor hash a click is counted under, where a visitor is sent, the share URL, and the small
// HTML pages with their Content-Security-Policy.

#include <optional>
#include <string>
#include <string_view>

#include "http/request.hpp"

namespace referrald::http {

// How the service's links behave, from PUBLIC_BASE_URL, REFERRAL_LANDING_URL and JWT_SECRET.
struct LinkOptions {
  // The public origin (scheme://host[:port], no trailing slash) share URLs start with.
  std::string public_base_url = "http://localhost:5000";
  // An absolute http(s) URL a visitor is sent to with ?ref=CODE; nullopt: the built-in /join.
  std::optional<std::string> landing_url;
  // The HMAC key of visitor hashes (DeriveVisitorKey). Never logged.
  std::string visitor_key;
  // The client address is X-Forwarded-For's last hop, as for the abuse limits.
  bool trust_forwarded_for = false;
};

// The key visitor hashes are made with, derived from `secret` (JWT_SECRET) so that no new secret
// has to be configured, and distinct from it: HMAC-SHA256(secret, a fixed label).
std::string DeriveVisitorKey(std::string_view secret);

// A visitor, for counting clicks: HMAC-SHA256(key, address "\n" user_agent) truncated to 128 bits,
// base64url (22 characters). The address cannot be read back from it without the key.
std::string VisitorHash(std::string_view key, std::string_view address,
                        std::string_view user_agent);

// PUBLIC_BASE_URL/r/CODE.
std::string ShareUrl(std::string_view public_base_url, std::string_view code);

// Where GET /r/{code} sends a visitor: `landing_url` with ref=CODE added to its query, or the
// built-in landing page /join?ref=CODE. `code` is from kCodeAlphabet (nothing to escape).
std::string LandingLocation(const std::optional<std::string>& landing_url, std::string_view code);

// A path segment with its %XX escapes decoded; nullopt for a malformed escape.
std::optional<std::string> PercentDecode(std::string_view segment);

// `text` with & < > " ' replaced by character references.
std::string HtmlEscape(std::string_view text);

// The policy of every HTML page: nothing inline, nothing from another origin.
inline constexpr std::string_view kPageContentSecurityPolicy =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

// A whole HTML document (`body_html` already escaped) as `status`, text/html; charset=utf-8, with
// kPageContentSecurityPolicy, nosniff, no referrer and no caching.
Response HtmlPage(int status, std::string_view title, std::string_view body_html);

}  // namespace referrald::http
