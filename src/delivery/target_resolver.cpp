#include "delivery/target_resolver.hpp"

#include <curl/curl.h>
#include <netdb.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include "delivery/addresses.hpp"
#include "domain/errors.hpp"

namespace referrald::delivery {
namespace {

struct CurlUrlFree {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlStringFree {
  void operator()(char* s) const { curl_free(s); }
};
struct AddrInfoFree {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};

// A part of a parsed URL; nullopt when absent.
std::optional<std::string> UrlPart(CURLU* url, CURLUPart part, unsigned int flags) {
  char* raw = nullptr;
  if (curl_url_get(url, part, &raw, flags) != CURLUE_OK || raw == nullptr) return std::nullopt;
  const std::unique_ptr<char, CurlStringFree> owned(raw);
  return std::string(raw);
}

}  // namespace

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

SystemTargetResolver::SystemTargetResolver() { InitCurlOnce(); }

Result<domain::WebhookTarget> SystemTargetResolver::Resolve(std::string_view url) {
  const std::unique_ptr<CURLU, CurlUrlFree> parsed(curl_url());
  if (!parsed) return MakeError(ErrorCode::kInternal, Reason::kInternalError, "Internal error");
  const std::string text(url);
  if (text.find_first_of(" \t\r\n") != std::string::npos ||
      curl_url_set(parsed.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return domain::errors::InvalidWebhookUrl("not a valid absolute URL");
  }
  domain::WebhookTarget target;
  target.scheme = UrlPart(parsed.get(), CURLUPART_SCHEME, 0).value_or("");
  std::transform(target.scheme.begin(), target.scheme.end(), target.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (target.scheme != "http" && target.scheme != "https") return target;
  auto host = UrlPart(parsed.get(), CURLUPART_HOST, CURLU_URLDECODE);
  if (!host || host->empty()) return domain::errors::InvalidWebhookUrl("the URL has no host");
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  target.host = *host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(target.host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
    return domain::errors::InvalidWebhookUrl("the host does not resolve");
  }
  const std::unique_ptr<addrinfo, AddrInfoFree> owned(found);
  for (const addrinfo* info = found; info != nullptr; info = info->ai_next) {
    if (auto address = ToIpAddress(info->ai_addr)) target.addresses.push_back(*address);
  }
  return target;
}

}  // namespace referrald::delivery
