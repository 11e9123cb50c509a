#pragma once
// domain::WebhookSender on libcurl: POSTs the event as JSON (codec::ToJson, the feed's shape)
// with the Standard Webhooks headers, to http(s) URLs only, following no redirect, proxies
// ignored, within domain::kWebhookTimeout, reading at most kMaxWebhookResponseBytes of the answer.
// Every address libcurl is about to connect to is checked with domain::IsNonPublicAddress (unless
// private networks are allowed), so a name that resolves differently than at registration is
// refused too. Neither the secret nor the signature is ever logged. Thread-safe.

#include <atomic>
#include <chrono>

#include "domain/webhooks.hpp"

namespace referrald::delivery {

struct CurlSenderOptions {
  bool allow_private_networks = false;  // WEBHOOK_ALLOW_PRIVATE_NETWORKS
  std::chrono::milliseconds timeout = domain::kWebhookTimeout;
};

class CurlWebhookSender final : public domain::WebhookSender {
 public:
  explicit CurlWebhookSender(CurlSenderOptions options);

  domain::SendOutcome Send(const domain::ClaimedDelivery& delivery, TimePoint now) override;

  // Makes attempts in flight, and every later one, end at once as aborted (shutdown). libcurl
  // notices within about a second at the latest.
  void Abort() { aborted_.store(true); }

 private:
  const CurlSenderOptions options_;
  std::atomic<bool> aborted_{false};
};

}  // namespace referrald::delivery
