#pragma once
// The delivery of events to webhooks, one step at a time (src/delivery/delivery_worker drives it
// on background threads; tests step it): FanOut copies new events of the feed into deliveries,
// DeliverOne claims a due delivery, makes one attempt through the WebhookSender outside any
// transaction, and records the result while its claim still holds. Thread-safe: any number of
// threads and instances may run the steps at once; each attempt is made by one of them.

#include <cstdint>

#include "domain/store.hpp"
#include "domain/webhooks.hpp"
#include "util/clock.hpp"
#include "util/ids.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace referrald::domain {

class WebhookDispatcher {
 public:
  // Every reference must outlive the dispatcher.
  WebhookDispatcher(Store& store, WebhookSender& sender, const Clock& clock, RandomSource& random,
                    IdGenerator& ids, RetrySchedule schedule);

  // Copies the feed's new events into deliveries for every endpoint, batch after batch until
  // none is left behind. Returns how many deliveries it created.
  Result<std::int64_t> FanOut();
  // Claims the delivery due longest ago and makes its attempt. True when an attempt was made
  // (there may be more due), false when none is due or the store failed.
  bool DeliverOne();

  [[nodiscard]] const RetrySchedule& schedule() const { return schedule_; }

 private:
  Store& store_;
  WebhookSender& sender_;
  const Clock& clock_;
  RandomSource& random_;
  IdGenerator& ids_;
  const RetrySchedule schedule_;
};

}  // namespace referrald::domain
