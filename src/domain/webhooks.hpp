#pragma once
// Webhooks (contract §10 "Webhooks"): endpoints an admin registers, one delivery per event and
// endpoint, and the rules of both — which URLs may be registered (and connected to), how a
// secret looks, how long to wait before the next attempt, when a delivery is failed. Plain data
// and rules: how a URL is resolved and how a delivery is sent are ports (WebhookTargetResolver,
// WebhookSender) that src/delivery/ implements with getaddrinfo, libcurl and OpenSSL.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/events.hpp"
#include "domain/limits.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace referrald::domain {

// --- limits and timings (the one owner of each; input limits are in limits.hpp) -----------------

// The secret: `whsec_` + standard padded base64 of this many random bytes (the HMAC key).
inline constexpr std::string_view kWebhookSecretPrefix = "whsec_";
inline constexpr std::size_t kWebhookSecretBytes = 32;
// A delivery attempt succeeds on a 2xx answered within this time; anything else is retried.
inline constexpr std::chrono::seconds kWebhookTimeout{10};
// How much of a receiver's answer body is read (and discarded) before the connection is dropped.
inline constexpr std::size_t kMaxWebhookResponseBytes = std::size_t{64} * 1024;
// How long a claimed delivery belongs to the instance that claimed it: longer than an attempt
// can take, so a live sender always records its result; an instance that died frees its claims
// after this long and another instance makes the attempt.
inline constexpr std::chrono::seconds kDeliveryLease{60};
// Events copied into deliveries per endpoint per fan-out transaction.
inline constexpr int kFanOutBatch = 500;
// The delay before each retry: after attempt 1 failed wait ~5 s, after attempt 2 ~5 min, ...;
// after the last attempt (one more than the delays) the delivery is failed.
inline constexpr std::array<std::chrono::seconds, 9> kDefaultRetryDelays{
    std::chrono::seconds{5}, std::chrono::minutes{5}, std::chrono::minutes{30},
    std::chrono::hours{2},   std::chrono::hours{5},   std::chrono::hours{10},
    std::chrono::hours{14},  std::chrono::hours{20},  std::chrono::hours{24}};
// Each delay is drawn uniformly within ± this percentage, so that receivers that failed together
// are not all retried in the same second.
inline constexpr int kRetryJitterPercent = 10;
// WEBHOOK_RETRY_SCHEDULE_SECONDS: how many delays, and how long each may be.
inline constexpr std::size_t kMaxRetryDelays = 20;
inline constexpr std::int64_t kMaxRetryDelaySeconds = std::int64_t{7} * 24 * 3600;

// --- endpoints and deliveries -----------------------------------------------------------------

struct WebhookEndpoint {
  std::string id;  // a UUID from the IdGenerator
  std::string url;
  // The types delivered, in the order given, without repeats; nullopt: every type (including
  // types added later).
  std::optional<std::vector<EventType>> event_types;
  std::optional<std::string> description;
  std::string secret;  // whsec_…; shown once, at registration
  TimePoint created_at;
  bool operator==(const WebhookEndpoint&) const = default;
};

// Whether `endpoint` wants events of `type`.
bool Wants(const WebhookEndpoint& endpoint, EventType type);

enum class DeliveryStatus : std::uint8_t { kPending, kSucceeded, kFailed };
// "pending", "succeeded", "failed".
std::string_view ToString(DeliveryStatus status);
std::optional<DeliveryStatus> ParseDeliveryStatus(std::string_view s);

// One event's delivery to one endpoint (there is at most one per pair; a replay re-queues it).
struct WebhookDelivery {
  std::string endpoint_id;
  std::string event_id;
  EventType type = EventType::kCodeGenerated;
  int attempt = 0;  // attempts made so far; 0 until the first is recorded
  DeliveryStatus status = DeliveryStatus::kPending;
  std::optional<int> response_status;  // the HTTP status of the last attempt, when it got one
  std::optional<TimePoint> last_attempt_at;
  std::optional<TimePoint> next_attempt_at;  // set while pending
  TimePoint created_at;
  std::int64_t event_seq = 0;  // the event's place in the feed: the listing's tie-breaker
};

// A delivery claimed by one sender until `lease_until`: what it needs to make one attempt.
struct ClaimedDelivery {
  std::string endpoint_id;
  std::string url;
  std::string secret;
  Event event;
  int attempts_made = 0;  // before this one
  std::string lease;      // the claim's token: the result is recorded only while it still holds
};

// The result of one attempt, recorded only when `lease` still holds the delivery.
struct DeliveryAttempt {
  std::string endpoint_id;
  std::string event_id;
  std::string lease;
  DeliveryStatus status = DeliveryStatus::kPending;  // after this attempt
  std::optional<int> response_status;
  TimePoint attempted_at;
  std::optional<TimePoint> next_attempt_at;  // set when still pending
};

// What one fan-out step did: deliveries created, and whether an endpoint had more events
// waiting than one batch took (call again).
struct FanOutResult {
  std::int64_t created = 0;
  bool more = false;
};

// --- rules ---------------------------------------------------------------------------------------

// The delays between attempts. Immutable; thread-safe.
class RetrySchedule {
 public:
  RetrySchedule();  // kDefaultRetryDelays
  explicit RetrySchedule(std::vector<std::chrono::seconds> delays);

  // WEBHOOK_RETRY_SCHEDULE_SECONDS: comma-separated whole seconds ("5,300,1800"), 1 to
  // kMaxRetryDelays of them, each 1..kMaxRetryDelaySeconds. Errors: a message for the config.
  static Result<RetrySchedule> Parse(std::string_view text);

  // When to make the next attempt after `attempts_made` (≥ 1) failed, at `now`: the delay for
  // that attempt within ±kRetryJitterPercent; nullopt when no attempt is left (failed).
  std::optional<TimePoint> NextAttempt(int attempts_made, TimePoint now,
                                       RandomSource& random) const;
  // Attempts in all: one more than the delays.
  [[nodiscard]] int max_attempts() const { return static_cast<int>(delays_.size()) + 1; }
  [[nodiscard]] const std::vector<std::chrono::seconds>& delays() const { return delays_; }

 private:
  std::vector<std::chrono::seconds> delays_;
};

// What an attempt that ended with `outcome` makes of a delivery claimed with `claimed`.
struct SendOutcome {
  bool delivered = false;              // a 2xx within kWebhookTimeout
  std::optional<int> response_status;  // the receiver's status, when it answered
  bool aborted = false;  // the sender stopped (shutdown) before an answer: not an attempt
};
DeliveryAttempt DecideAttempt(const ClaimedDelivery& claimed, const SendOutcome& outcome,
                              const RetrySchedule& schedule, TimePoint now, RandomSource& random);

// An IP address as the network sees it: 4 bytes (IPv4) or 16 (IPv6), network order.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool v6 = false;
  static IpAddress V4(std::array<std::uint8_t, 4> b);
  static IpAddress V6(std::array<std::uint8_t, 16> b);
  bool operator==(const IpAddress&) const = default;
};

// Whether a webhook may not connect to `address` (unless WEBHOOK_ALLOW_PRIVATE_NETWORKS):
// unspecified, loopback, link-local, private (RFC 1918, fc00::/7), shared (100.64/10), multicast,
// reserved, benchmarking and documentation ranges — and IPv6 forms that carry such an IPv4
// address (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16).
bool IsNonPublicAddress(const IpAddress& address);

// What a URL names, as the sender's URL parser reads it.
struct WebhookTarget {
  std::string scheme;                // lowercase
  std::string host;                  // without brackets
  std::vector<IpAddress> addresses;  // what the host resolves to now
};

// Port: reads a URL and resolves its host (src/delivery: libcurl's URL parser, getaddrinfo).
class WebhookTargetResolver {
 public:
  virtual ~WebhookTargetResolver() = default;
  // Errors: InvalidWebhookUrl naming what is wrong (not a URL, no host, host does not resolve).
  virtual Result<WebhookTarget> Resolve(std::string_view url) = 0;
};

// Port: makes one delivery attempt: POSTs the event, signed with the endpoint's secret, at `now`
// (the webhook-timestamp). Never throws; thread-safe.
class WebhookSender {
 public:
  virtual ~WebhookSender() = default;
  virtual SendOutcome Send(const ClaimedDelivery& delivery, TimePoint now) = 0;
};

// A new secret from `random`: kWebhookSecretPrefix + base64 of kWebhookSecretBytes bytes.
std::string NewWebhookSecret(RandomSource& random);
// The HMAC key of a secret (the bytes its base64 part decodes to); nullopt when malformed.
std::optional<std::string> WebhookSecretKey(std::string_view secret);

}  // namespace referrald::domain
