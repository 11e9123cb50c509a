#pragma once
// The HTTP front: RESTinio on standalone Asio, one I/O thread, handlers on a worker pool.
// The only header the app needs from the HTTP layer; RESTinio itself stays inside server.cpp.

#include <cstdint>
#include <memory>
#include <string>

#include "domain/jobs.hpp"
#include "domain/referral_service.hpp"
#include "domain/store.hpp"
#include "domain/subscription_service.hpp"
#include "domain/user_directory.hpp"
#include "http/jwt.hpp"
#include "util/clock.hpp"
#include "util/metrics.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace referrald::http {

struct ServerOptions {
  std::string host = "0.0.0.0";
  std::uint16_t port = 5000;     // 0: an ephemeral port, see Server::port()
  int worker_threads = 4;        // handlers run here, never on the I/O thread
  bool referral_enabled = true;  // false: every /api/referral/* answers 503
};

// What handlers need. All references must outlive the Server.
struct Dependencies {
  domain::ReferralService& referrals;
  domain::SubscriptionService& subscriptions;
  domain::UserDirectory& users;
  domain::Store& store;
  const Clock& clock;
  RandomSource& random;
  const JwtVerifier& jwt;
  domain::JobRunner& jobs;
  Metrics& metrics;
  TimePoint started_at;  // process start, for uptime
};

class Server {
 public:
  Server(ServerOptions options, Dependencies deps);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving on background threads; returns once listening.
  // kUnavailable when the address cannot be bound.
  Status Start();
  // The bound port (useful with port 0). Valid after Start().
  [[nodiscard]] std::uint16_t port() const;
  // Graceful: stops accepting, lets in-flight requests finish (bounded, 10 s), joins threads.
  // Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace referrald::http
