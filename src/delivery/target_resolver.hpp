#pragma once
// domain::WebhookTargetResolver on libcurl's URL parser (the parser the sender uses, so both read
// a URL's host the same way) and getaddrinfo.

#include "domain/webhooks.hpp"

namespace referrald::delivery {

class SystemTargetResolver final : public domain::WebhookTargetResolver {
 public:
  SystemTargetResolver();
  // Only http and https URLs are resolved; another scheme answers without addresses.
  Result<domain::WebhookTarget> Resolve(std::string_view url) override;
};

// curl_global_init, once per process (before any thread uses libcurl).
void InitCurlOnce();

}  // namespace referrald::delivery
