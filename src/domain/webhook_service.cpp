#include "domain/webhook_service.hpp"

#include <algorithm>

#include "domain/errors.hpp"
#include "domain/limits.hpp"
#include "domain/rules.hpp"
#include "util/uuid.hpp"

namespace referrald::domain {

WebhookService::WebhookService(Store& store, WebhookTargetResolver& resolver, const Clock& clock,
                               RandomSource& random, IdGenerator& ids, bool allow_private_networks)
    : store_(store),
      resolver_(resolver),
      clock_(clock),
      random_(random),
      ids_(ids),
      allow_private_networks_(allow_private_networks) {}

Status WebhookService::CheckUrl(const std::string& url) {
  if (url.size() > kMaxWebhookUrlLength) return errors::InvalidWebhookUrl("too long");
  auto target = resolver_.Resolve(url);
  if (!target) return target.error();
  if (target->scheme != "http" && target->scheme != "https") {
    return errors::InvalidWebhookUrl("the scheme is not http or https");
  }
  if (target->addresses.empty()) return errors::InvalidWebhookUrl("the host does not resolve");
  if (allow_private_networks_) return {};
  const bool refused = std::any_of(target->addresses.begin(), target->addresses.end(),
                                   [](const IpAddress& a) { return IsNonPublicAddress(a); });
  if (refused) {
    return errors::InvalidWebhookUrl(
        "the host is a loopback, link-local or private address (see "
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS)");
  }
  return {};
}

Result<WebhookEndpoint> WebhookService::Register(const WebhookRegistration& registration) {
  if (Status url = CheckUrl(registration.url); !url) return url.error();
  std::optional<std::vector<EventType>> types;
  if (registration.event_types) {
    if (registration.event_types->empty()) return errors::InvalidWebhookEventTypes();
    types.emplace();
    for (const std::string& name : *registration.event_types) {
      const auto type = ParseEventType(name);
      if (!type) return errors::InvalidWebhookEventTypes();
      if (std::find(types->begin(), types->end(), *type) == types->end()) types->push_back(*type);
    }
  }
  if (registration.description &&
      (registration.description->size() > kMaxWebhookDescriptionLength ||
       HasControlCharacter(*registration.description))) {
    return errors::InvalidWebhookDescription();
  }
  const TimePoint now = clock_.Now();
  WebhookEndpoint endpoint{ids_.New(now),
                           registration.url,
                           std::move(types),
                           registration.description,
                           NewWebhookSecret(random_),
                           now};
  if (Status inserted = store_.InsertWebhook(endpoint); !inserted) return inserted.error();
  return endpoint;
}

Result<std::vector<WebhookEndpoint>> WebhookService::List() { return store_.ListWebhooks(); }

Status WebhookService::Delete(std::string_view id) {
  if (!IsUuid(id)) return errors::WebhookNotFound();
  auto deleted = store_.DeleteWebhook(CanonicalUuid(id));
  if (!deleted) return deleted.error();
  if (!*deleted) return errors::WebhookNotFound();
  return {};
}

Result<Page<WebhookDelivery>> WebhookService::Deliveries(std::string_view id,
                                                         const PageRequest& page) {
  if (!IsUuid(id)) return errors::WebhookNotFound();
  const std::string canonical = CanonicalUuid(id);
  auto endpoint = store_.FindWebhook(canonical);
  if (!endpoint) return endpoint.error();
  if (!*endpoint) return errors::WebhookNotFound();
  return FetchPage<WebhookDelivery>(
      page, [&](const PageRequest& probe) { return store_.ListDeliveries(canonical, probe); },
      [](const WebhookDelivery& d) {
        return PageKey{d.created_at, std::to_string(d.event_seq)};
      });
}

Result<std::int64_t> WebhookService::Replay(std::string_view id, const EventPosition& after) {
  if (!IsUuid(id)) return errors::WebhookNotFound();
  auto queued = store_.RequeueDeliveries(CanonicalUuid(id), after, clock_.Now());
  if (!queued) return queued.error();
  if (!*queued) return errors::WebhookNotFound();
  return **queued;
}

}  // namespace referrald::domain
