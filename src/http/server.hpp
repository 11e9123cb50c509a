#pragma once
// The HTTP front: RESTinio on standalone Asio, one I/O thread, handlers on a worker pool.
// The only header the app needs from the HTTP layer; RESTinio itself stays inside server.cpp.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "domain/abuse.hpp"
#include "domain/idempotency.hpp"
#include "domain/jobs.hpp"
#include "domain/personal_data.hpp"
#include "domain/referral_service.hpp"
#include "domain/store.hpp"
#include "domain/subscription_service.hpp"
#include "domain/user_directory.hpp"
#include "domain/webhook_service.hpp"
#include "http/jwt.hpp"
#include "http/links.hpp"
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
  // true: the client address (abuse limits) is the last hop of X-Forwarded-For.
  bool trust_forwarded_for = false;
  // CORS_ALLOWED_ORIGINS: the origins browsers may call from ("*": any); empty: no CORS headers.
  std::vector<std::string> cors_allowed_origins;
  // true (LOG_FORMAT=json): the access log line carries its values as fields of their own.
  bool json_access_log = false;

  // Stop() waits at most this long for the responses of accepted requests to be written.
  std::chrono::milliseconds drain_timeout{10'000};
  // A request must arrive whole (headers and body) within this time of its first byte, and a new
  // connection's first request within this time of the accept; else the connection is closed
  // without an answer. 10 s takes a 64 KiB body at ~7 KB/s, and frees the connection of a client
  // that trickles bytes (or sends none) in 10 s.
  std::chrono::milliseconds request_read_timeout{10'000};
  // A keep-alive connection with nothing in flight is closed when its next request has not
  // arrived whole within this time. Longer than the 60 s idle timeout of common load balancers
  // and proxies (AWS ALB, nginx upstream keepalive), so that a proxy never sends a request on a
  // connection this server closes at the same moment; an idle client holds a connection at most
  // this long.
  std::chrono::milliseconds idle_timeout{65'000};
  // Connections served at once; more wait in the listen backlog until one closes. Each needs a
  // file descriptor: Start() raises the open-files limit for them (see server.cpp).
  std::size_t max_connections = 2048;
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
  domain::AbuseGuard& abuse;
  domain::IdempotencyService& idempotency;
  domain::WebhookService& webhooks;
  domain::PersonalDataService& personal_data;
  TimePoint started_at;  // process start, for uptime
  LinkOptions links{};   // referral links and their pages (contract section 12)
};

class Server {
 public:
  Server(ServerOptions options, Dependencies deps);
  // Stops, then waits for handlers still running (see Stop()).
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving on background threads; returns once listening.
  // kUnavailable when the address cannot be bound.
  Status Start();
  // The bound port (useful with port 0). Valid after Start().
  [[nodiscard]] std::uint16_t port() const;
  // Graceful: stops accepting, waits until the response of every accepted request has been
  // written (at most options.drain_timeout), then stops the I/O thread: connections still open
  // are no longer served (their sockets close when the Server is destroyed). Handlers still
  // running then finish on the worker pool; the destructor waits for them. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace referrald::http
