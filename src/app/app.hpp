#pragma once
// Wiring: the one place that names concrete backends. Builds the store from DATABASE_URL,
// the domain services and the HTTP server.

#include <cstdint>
#include <memory>

#include "app/config.hpp"
#include "domain/referral_service.hpp"
#include "domain/store.hpp"
#include "domain/subscription_service.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace referrald::app {

// Opens the store DATABASE_URL names and applies pending migrations.
// Errors: kInvalidArgument (bad URL), kUnavailable (cannot open).
Result<std::unique_ptr<domain::Store>> OpenStore(const std::string& database_url,
                                                 const Clock& clock, RandomSource& random);

class App {
 public:
  // Clock and random default to the system ones; tests pass their own.
  static Result<std::unique_ptr<App>> Create(Config config, std::shared_ptr<Clock> clock = nullptr,
                                             std::shared_ptr<RandomSource> random = nullptr);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Starts the HTTP server (and, later, the worker). Returns once listening.
  Status Start();
  [[nodiscard]] std::uint16_t port() const;
  // Graceful stop. Idempotent.
  void Stop();

  domain::Store& store();
  domain::ReferralService& referrals();
  const Config& config() const;

 private:
  App();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace referrald::app
