#pragma once
// Configuration (contract section 1): environment variables, a .env file read first, real
// environment variables winning. Every value is validated; a malformed one is an error naming it.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/abuse.hpp"
#include "domain/settings.hpp"
#include "domain/webhooks.hpp"
#include "util/result.hpp"

namespace referrald::app {

using Environment = std::map<std::string, std::string>;

// JWT_SECRET (contract section 13): at least this long, and not the placeholder of .env.example
// (tests/app/config_test.cpp holds the two together).
inline constexpr std::size_t kMinJwtSecretLength = 32;
inline constexpr std::string_view kJwtSecretPlaceholder = "change-me-to-a-long-random-string";

struct Config {
  std::string host = "0.0.0.0";
  std::uint16_t port = 5000;
  std::string database_url = "sqlite:data/referrals.db";
  int db_pool_size = 8;            // PostgreSQL connections per instance
  int database_timeout_ms = 5000;  // longest a request waits for the database
  std::string jwt_secret;          // empty when not set; else at least kMinJwtSecretLength
  // Referral links (contract section 12). PUBLIC_BASE_URL: the public origin share URLs start
  // with (scheme://host[:port], no trailing slash); empty: http://localhost:PORT.
  std::string public_base_url;
  // REFERRAL_LANDING_URL: an absolute http(s) URL /r/{code} sends visitors to; unset: /join.
  std::optional<std::string> referral_landing_url;
  bool referral_enabled = true;
  domain::ReferralSettings referral;
  bool worker_enabled = true;
  std::string cron_expire_codes = "0 2 * * *";
  std::string cron_award_badges = "0 3 * * 0";
  std::string cron_health_check = "*/5 * * * *";
  std::string cron_purge_idempotency_keys = "15 * * * *";
  domain::IdempotencySettings idempotency;  // IDEMPOTENCY_TTL_HOURS (contract section 10)
  std::string log_level = "info";           // trace, debug, info, warn, error, off
  std::string log_format = "text";          // text, json
  // Threads that run handlers; 0 (unset): kSqliteWorkerThreads on SQLite (the writes of the
  // threads waiting for the one writer are committed together: more threads, larger batches),
  // DB_POOL_SIZE on PostgreSQL (one per connection, so that concurrent commits share the
  // server's flushes).
  int http_worker_threads = 0;
  static constexpr int kSqliteWorkerThreads = 16;
  domain::AbuseLimits abuse;         // RATE_LIMIT_* (contract section 9)
  bool trust_forwarded_for = false;  // the client address is X-Forwarded-For's last hop
  // Webhooks (contract §10): URLs may point at loopback/private addresses.
  bool webhook_allow_private_networks = false;
  // The delays between delivery attempts (WEBHOOK_RETRY_SCHEDULE_SECONDS; tests shorten it).
  domain::RetrySchedule webhook_retry_schedule;
  // How often an idle delivery thread looks for new events and due retries.
  int webhook_poll_interval_ms = 1000;
  // Delivery attempts in flight at once per instance.
  int webhook_delivery_threads = 4;
  // CORS_ALLOWED_ORIGINS: origins (scheme://host[:port]) browsers may call from, or the one
  // entry "*" for any; empty: no CORS headers (contract section 13).
  std::vector<std::string> cors_allowed_origins;
};

// Parses and validates every variable in `env`. Errors: kInvalidArgument naming the variable.
Result<Config> LoadConfig(const Environment& env);

// What `serve` and `token` need of JWT_SECRET besides LoadConfig's checks: that it is set and is
// not the placeholder of .env.example. Errors: kInvalidArgument naming JWT_SECRET.
Status CheckJwtSecretForTokens(const std::string& secret);

// KEY=VALUE lines of a .env file (comments, blank lines, `export `, single/double quotes).
// A missing file is empty. Errors: kInvalidArgument naming the line.
Result<Environment> ReadDotEnv(const std::string& path);

// The .env file's values overlaid by the process environment.
Result<Environment> ReadEnvironment(const std::string& dotenv_path);

}  // namespace referrald::app
