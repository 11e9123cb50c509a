#include "domain/webhooks.hpp"

#include <algorithm>
#include <charconv>

#include "domain/errors.hpp"
#include "domain/rules.hpp"
#include "util/base64.hpp"

namespace referrald::domain {
namespace {

// An IPv4 prefix: the first `bits` of `net`.
struct V4Net {
  std::array<std::uint8_t, 4> net;
  int bits;
};

// Unspecified, loopback, link-local, private, shared, IETF, documentation, benchmarking,
// multicast, reserved and broadcast ranges (IANA IPv4 special-purpose registry, and multicast).
constexpr std::array<V4Net, 15> kNonPublicV4{{
    {{0, 0, 0, 0}, 8},        // "this network"
    {{10, 0, 0, 0}, 8},       // RFC 1918
    {{100, 64, 0, 0}, 10},    // shared address space (CGNAT)
    {{127, 0, 0, 0}, 8},      // loopback
    {{169, 254, 0, 0}, 16},   // link-local (cloud metadata services live here)
    {{172, 16, 0, 0}, 12},    // RFC 1918
    {{192, 0, 0, 0}, 24},     // IETF protocol assignments
    {{192, 0, 2, 0}, 24},     // TEST-NET-1
    {{192, 88, 99, 0}, 24},   // 6to4 relay anycast
    {{192, 168, 0, 0}, 16},   // RFC 1918
    {{198, 18, 0, 0}, 15},    // benchmarking
    {{198, 51, 100, 0}, 24},  // TEST-NET-2
    {{203, 0, 113, 0}, 24},   // TEST-NET-3
    {{224, 0, 0, 0}, 4},      // multicast
    {{240, 0, 0, 0}, 4},      // reserved, and 255.255.255.255
}};

bool InV4Net(std::span<const std::uint8_t, 4> a, const V4Net& n) {
  std::uint32_t addr = 0;
  std::uint32_t net = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    addr = (addr << 8U) | a[i];
    net = (net << 8U) | n.net.at(i);
  }
  const std::uint32_t mask =
      n.bits == 0 ? 0 : ~std::uint32_t{0} << static_cast<unsigned>(32 - n.bits);
  return (addr & mask) == (net & mask);
}

bool IsNonPublicV4(std::span<const std::uint8_t, 4> a) {
  return std::any_of(kNonPublicV4.begin(), kNonPublicV4.end(),
                     [&](const V4Net& n) { return InV4Net(a, n); });
}

bool AllZero(std::span<const std::uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

bool IsNonPublicV6(const std::array<std::uint8_t, 16>& a) {
  const std::span<const std::uint8_t, 16> all(a);
  // ::/96 holds :: (unspecified), ::1 (loopback) and the deprecated IPv4-compatible addresses:
  // refused whatever the IPv4 part.
  if (AllZero(all.first<12>())) return true;
  // ::ffff:0:0/96, IPv4-mapped: what the IPv4 address is.
  if (AllZero(all.first<10>()) && a[10] == 0xFF && a[11] == 0xFF) {
    return IsNonPublicV4(all.last<4>());
  }
  // 64:ff9b::/96, NAT64: the IPv4 address it translates to.
  if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xFF && a[3] == 0x9B &&
      AllZero(all.subspan<4, 8>())) {
    return IsNonPublicV4(all.last<4>());
  }
  // 2002::/16, 6to4: the IPv4 address in bits 16..48.
  if (a[0] == 0x20 && a[1] == 0x02) return IsNonPublicV4(all.subspan<2, 4>());
  if ((a[0] & 0xFEU) == 0xFC) return true;                        // fc00::/7 unique local
  if (a[0] == 0xFE && (a[1] & 0xC0U) == 0x80) return true;        // fe80::/10 link-local
  if (a[0] == 0xFE && (a[1] & 0xC0U) == 0xC0) return true;        // fec0::/10 site-local
  if (a[0] == 0xFF) return true;                                  // ff00::/8 multicast
  if (a[0] == 0x01 && AllZero(all.subspan<1, 7>())) return true;  // 100::/64 discard
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0D && a[3] == 0xB8) return true;  // 2001:db8::/32
  return false;
}

}  // namespace

bool Wants(const WebhookEndpoint& endpoint, EventType type) {
  if (!endpoint.event_types) return true;
  return std::find(endpoint.event_types->begin(), endpoint.event_types->end(), type) !=
         endpoint.event_types->end();
}

std::string_view ToString(DeliveryStatus status) {
  switch (status) {
    case DeliveryStatus::kPending:
      return "pending";
    case DeliveryStatus::kSucceeded:
      return "succeeded";
    case DeliveryStatus::kFailed:
      return "failed";
  }
  return "pending";
}

std::optional<DeliveryStatus> ParseDeliveryStatus(std::string_view s) {
  for (const auto status :
       {DeliveryStatus::kPending, DeliveryStatus::kSucceeded, DeliveryStatus::kFailed}) {
    if (ToString(status) == s) return status;
  }
  return std::nullopt;
}

RetrySchedule::RetrySchedule() : delays_(kDefaultRetryDelays.begin(), kDefaultRetryDelays.end()) {}

RetrySchedule::RetrySchedule(std::vector<std::chrono::seconds> delays)
    : delays_(std::move(delays)) {}

Result<RetrySchedule> RetrySchedule::Parse(std::string_view text) {
  const auto invalid = [] {
    return errors::Invalid("expected 1 to " + std::to_string(kMaxRetryDelays) +
                           " comma-separated whole seconds, each 1.." +
                           std::to_string(kMaxRetryDelaySeconds) + " (e.g. 5,300,1800)");
  };
  std::vector<std::chrono::seconds> delays;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    std::int64_t seconds = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), seconds);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || seconds < 1 ||
        seconds > kMaxRetryDelaySeconds) {
      return invalid();
    }
    delays.emplace_back(seconds);
    if (delays.size() > kMaxRetryDelays) return invalid();
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return RetrySchedule(std::move(delays));
}

std::optional<TimePoint> RetrySchedule::NextAttempt(int attempts_made, TimePoint now,
                                                    RandomSource& random) const {
  if (attempts_made < 1 || static_cast<std::size_t>(attempts_made) > delays_.size()) {
    return std::nullopt;
  }
  const std::int64_t base =
      std::chrono::milliseconds(delays_[static_cast<std::size_t>(attempts_made - 1)]).count();
  const std::int64_t spread = base * kRetryJitterPercent / 100;
  // Uniform in [base - spread, base + spread].
  const auto draw = static_cast<std::int64_t>(random.Uniform(
      static_cast<std::uint32_t>(std::min<std::int64_t>(2 * spread + 1, UINT32_MAX))));
  return now + std::chrono::milliseconds(base - spread + draw);
}

DeliveryAttempt DecideAttempt(const ClaimedDelivery& claimed, const SendOutcome& outcome,
                              const RetrySchedule& schedule, TimePoint now, RandomSource& random) {
  DeliveryAttempt attempt;
  attempt.endpoint_id = claimed.endpoint_id;
  attempt.event_id = claimed.event.id;
  attempt.lease = claimed.lease;
  attempt.response_status = outcome.response_status;
  attempt.attempted_at = now;
  if (outcome.delivered) {
    attempt.status = DeliveryStatus::kSucceeded;
    return attempt;
  }
  attempt.next_attempt_at = schedule.NextAttempt(claimed.attempts_made + 1, now, random);
  attempt.status = attempt.next_attempt_at ? DeliveryStatus::kPending : DeliveryStatus::kFailed;
  return attempt;
}

IpAddress IpAddress::V4(std::array<std::uint8_t, 4> b) {
  IpAddress a;
  std::copy(b.begin(), b.end(), a.bytes.begin());
  return a;
}

IpAddress IpAddress::V6(std::array<std::uint8_t, 16> b) {
  IpAddress a;
  a.bytes = b;
  a.v6 = true;
  return a;
}

bool IsNonPublicAddress(const IpAddress& address) {
  if (address.v6) return IsNonPublicV6(address.bytes);
  return IsNonPublicV4(std::span<const std::uint8_t, 16>(address.bytes).first<4>());
}

std::string NewWebhookSecret(RandomSource& random) {
  std::array<std::uint8_t, kWebhookSecretBytes> key{};
  random.Fill(key);
  return std::string(kWebhookSecretPrefix) +
         Base64Encode(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}

std::optional<std::string> WebhookSecretKey(std::string_view secret) {
  if (!secret.starts_with(kWebhookSecretPrefix)) return std::nullopt;
  auto key = Base64Decode(secret.substr(kWebhookSecretPrefix.size()));
  if (!key || key->empty()) return std::nullopt;
  return key;
}

}  // namespace referrald::domain
