#pragma once
// Wiring: the one place that names concrete backends. Builds the store from DATABASE_URL,
// the domain services, the HTTP server and the automation worker.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "domain/jobs.hpp"
#include "domain/referral_service.hpp"
#include "domain/store.hpp"
#include "domain/subscription_service.hpp"
#include "util/clock.hpp"
#include "util/ids.hpp"
#include "util/metrics.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace referrald::app {

// Opens the store DATABASE_URL names (with DB_POOL_SIZE and DATABASE_TIMEOUT_MS) and applies
// pending migrations. Errors: kInvalidArgument (bad URL), kUnavailable (cannot open).
// `clock` dates a rebuild of the aggregates that a migration asks for (system clock when null).
Result<std::unique_ptr<domain::Store>> OpenStore(const Config& config,
                                                 std::shared_ptr<const Clock> clock = nullptr);

// One line per scheduled job: its description, cron expression and next run (UTC).
std::vector<std::string> DescribeSchedule(const Config& config, TimePoint now);

class App {
 public:
  // Clock and random default to the system ones; tests pass their own.
  static Result<std::unique_ptr<App>> Create(Config config, std::shared_ptr<Clock> clock = nullptr,
                                             std::shared_ptr<RandomSource> random = nullptr,
                                             std::shared_ptr<IdGenerator> ids = nullptr);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Starts the HTTP server, the webhook delivery threads (always: deliveries are not scheduled
  // jobs) and, when ENABLE_AUTOMATION_WORKER, the scheduled jobs. Returns once listening.
  Status Start();
  [[nodiscard]] std::uint16_t port() const;
  // Graceful: stops accepting, finishes in-flight requests (bounded), aborts webhook attempts in
  // flight (they are retried), lets a running job finish, then closes the database. Idempotent.
  void Stop();

  [[nodiscard]] bool worker_running() const;
  // Makes the worker re-read the clock (tests that move a fake clock). No-op without a worker.
  void WakeWorker();
  // Makes the webhook delivery threads look for new events and due attempts now.
  void WakeDeliveries();

  domain::Store& store();
  domain::ReferralService& referrals();
  domain::JobRunner& jobs();
  Metrics& metrics();
  [[nodiscard]] const Config& config() const;

 private:
  App();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace referrald::app
