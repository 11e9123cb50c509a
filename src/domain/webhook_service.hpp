#pragma once
// The webhook use cases of the admin routes (contract §10 "Webhooks"): register an endpoint, list
// and delete endpoints, list an endpoint's deliveries, replay events to it. Thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/events.hpp"
#include "domain/paging.hpp"
#include "domain/store.hpp"
#include "domain/webhooks.hpp"
#include "util/clock.hpp"
#include "util/ids.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace referrald::domain {

// A registration as asked for, before its checks.
struct WebhookRegistration {
  std::string url;
  // The type names as sent; nullopt: every type.
  std::optional<std::vector<std::string>> event_types;
  std::optional<std::string> description;
};

class WebhookService {
 public:
  // `resolver` reads and resolves URLs at registration; `allow_private_networks` is
  // WEBHOOK_ALLOW_PRIVATE_NETWORKS. Every reference must outlive the service.
  WebhookService(Store& store, WebhookTargetResolver& resolver, const Clock& clock,
                 RandomSource& random, IdGenerator& ids, bool allow_private_networks);

  // Registers an endpoint with a new secret. Errors, in this order: InvalidWebhookUrl (too long;
  // not an http(s) URL with a host; the host does not resolve; it resolves to a non-public
  // address, unless private networks are allowed), InvalidWebhookEventTypes (empty, or a name
  // that is no event type; repeats are dropped), InvalidWebhookDescription.
  Result<WebhookEndpoint> Register(const WebhookRegistration& registration);
  // Every endpoint, oldest first (secrets included: the caller does not show them).
  Result<std::vector<WebhookEndpoint>> List();
  // Errors: WebhookNotFound (also for an id that is not a UUID).
  Status Delete(std::string_view id);
  // The endpoint's deliveries, newest first, one page (PageKeyKind::kSequence). Errors:
  // WebhookNotFound.
  Result<Page<WebhookDelivery>> Deliveries(std::string_view id, const PageRequest& page);
  // Queues every event after `after` the endpoint wants for delivery again (same webhook-id);
  // returns how many. Errors: WebhookNotFound.
  Result<std::int64_t> Replay(std::string_view id, const EventPosition& after);

 private:
  Status CheckUrl(const std::string& url);

  Store& store_;
  WebhookTargetResolver& resolver_;
  const Clock& clock_;
  RandomSource& random_;
  IdGenerator& ids_;
  bool allow_private_networks_;
};

}  // namespace referrald::domain
