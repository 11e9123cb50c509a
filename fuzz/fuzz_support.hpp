#pragma once
// What the fuzz targets share: a fixed clock, a seeded random source, and the "world" the
// request-path targets answer from — the real services and the real Pipeline over a real SQLite
// store in a temporary file, created once per process, with a few users, codes, referrals and a
// reward already in it — plus the invariants every response must keep.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
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
#include "http/request.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "util/clock.hpp"
#include "util/ids.hpp"
#include "util/metrics.hpp"
#include "util/random.hpp"

namespace referrald::fuzz {

// The HS256 key of every token the targets accept.
inline constexpr std::string_view kJwtSecret = "fuzz-secret-0123456789abcdef-0123456789";
// Users 0..kUsers-1 have tokens {{T0}}..; the admin has {{A}}.
inline constexpr int kUsers = 8;

// The instant the fixed clock shows: 2025-06-15T12:00:00.000Z.
TimePoint FixedNow();

class FixedClock final : public Clock {
 public:
  [[nodiscard]] TimePoint Now() const override { return FixedNow(); }
};

// splitmix64 from a fixed seed: codes and ids are the same from run to run (given the same
// inputs in the same order). Thread-safe.
class SeededRandom final : public RandomSource {
 public:
  void Fill(std::span<std::uint8_t> out) override;

 private:
  std::mutex mu_;
  std::uint64_t state_ = 0x5eed5eed5eed5eedULL;
};

// "00000000-0000-4000-8000-0000000000a<i>" for user i; the admin is "…-0000000000ad".
std::string UserId(int i);
std::string AdminId();

// A compact JWT whose header and payload are exactly these bytes (JSON or not), signed with
// HMAC-SHA256 under kJwtSecret: a token that passes the signature check, so that the verifier's
// header and claim checks are what is fuzzed.
std::string SignPayload(std::string_view header_json, std::string_view payload_json);

// Resolves nothing: the fuzzer must not send DNS queries (every registration is refused).
class NoResolver final : public domain::WebhookTargetResolver {
 public:
  Result<domain::WebhookTarget> Resolve(std::string_view url) override;
};

// The real services over a temporary SQLite file. Abuse limits are off: the clock never moves,
// so a spent budget would never refill and every write would end at 429 before its handler
// (the limits themselves are unit-tested in tests/domain/abuse_test.cpp).
struct World {
  World();
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  std::string dir;  // the temporary directory holding the database
  FixedClock clock;
  SeededRandom random;
  UuidV7Generator ids{random};
  Metrics metrics;
  domain::AbuseGuard abuse{domain::AbuseLimits{0, 0, 0}, clock};
  http::JwtVerifier jwt{std::string(kJwtSecret)};
  std::unique_ptr<domain::Store> store;
  std::unique_ptr<domain::ReferralService> referrals;
  std::unique_ptr<domain::SandboxPaymentProvider> payments;
  std::unique_ptr<domain::SubscriptionService> subscriptions;
  std::unique_ptr<domain::UserDirectory> users;
  std::unique_ptr<domain::JobRunner> jobs;
  std::unique_ptr<domain::IdempotencyService> idempotency;
  NoResolver resolver;
  std::unique_ptr<domain::WebhookService> webhooks;
  std::unique_ptr<domain::PersonalDataService> personal_data;
  std::unique_ptr<http::Dependencies> deps;
  std::unique_ptr<http::Pipeline> pipeline;

  std::vector<std::string> user_tokens;  // user_tokens[i]: a valid token of UserId(i)
  std::string admin_token;               // a valid token of AdminId() with role "admin"
  std::vector<std::string> codes;        // codes[i]: user i's code, "" when none
  std::string reward_id;                 // an unclaimed reward of user 0
};

// The world of this process, built on first use (call it from LLVMFuzzerInitialize). Never
// destroyed: libFuzzer may exit from any thread; the database directory is removed at exit.
World& TheWorld();

// `input` with its placeholders replaced, so that short seeds reach the handlers and mutations
// keep them valid: {{T0}}..{{T7}} a user's token, {{A}} the admin's token, {{C0}}..{{C7}} a
// user's code, {{U0}}..{{U7}} a user's id, {{R}} the reward id, {{Z}} one byte more than the
// largest body, and {{J:<payload>:J}} a token signed with kJwtSecret for the JSON payload
// <payload> (any claims, checked by the verifier).
std::string Expand(std::string_view input, const World& world);

// Checks what every answer of the service must be, whatever was asked; on a violation prints
// the request and the response and aborts (a finding):
//   the status is one the contract lists; no 5xx but 503; X-Request-Id is set and sane;
//   no header value holds CR, LF or NUL; a HEAD answer has no body; Content-Type is JSON or
//   (metrics) text; a JSON body parses, and an error body is {"error", "code", "requestId"}
//   with requestId equal to X-Request-Id.
// With REFERRALD_FUZZ_VERBOSE set, also prints each request line and answer (to see what the
// seeds reach: `REFERRALD_FUZZ_VERBOSE=1 build/asan/fuzz/fuzz_request fuzz/corpus/request/*`).
void CheckResponse(const http::Request& request, const http::Response& response);

// Prints `what` with the request and the response, then aborts.
[[noreturn]] void Fail(std::string_view what, const http::Request& request,
                       const http::Response& response);
// Prints `what`, then aborts.
[[noreturn]] void Fail(std::string_view what);

}  // namespace referrald::fuzz
