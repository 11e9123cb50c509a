#pragma once
// The limits of the program's inputs, owned here once: the use cases, the configuration and the
// HTTP layer all read them from here (the messages that name them are in errors.hpp).

#include <cstddef>
#include <cstdint>

namespace referrald::domain {

// REFERRAL_CODE_LENGTH, and so the longest code a lookup can match.
inline constexpr int kMinCodeLength = 6;
inline constexpr int kMaxCodeLength = 32;
// expiresInDays of generate-code, and REFERRAL_CODE_EXPIRATION_DAYS.
inline constexpr std::int64_t kMaxExpiresInDays = 3650;
// A payment nonce.
inline constexpr std::size_t kMaxNonceLength = 256;
// POST /api/subscriptions/cancel: the reason, in bytes.
inline constexpr std::size_t kMaxCancelReasonLength = 500;
// REFERRAL_REWARD_HOLD_DAYS.
inline constexpr std::int64_t kMaxRewardHoldDays = 3650;
// GET /leaderboard?limit=
inline constexpr int kDefaultLeaderboardLimit = 10;
inline constexpr int kMaxLeaderboardLimit = 100;
// GET /trends?days=
inline constexpr int kDefaultTrendDays = 30;
inline constexpr int kMaxTrendDays = 365;
// GET /api/admin/events?limit=
inline constexpr int kDefaultEventLimit = 100;
inline constexpr int kMaxEventLimit = 500;
// POST /api/admin/webhooks: url and description.
inline constexpr std::size_t kMaxWebhookUrlLength = 2048;
inline constexpr std::size_t kMaxWebhookDescriptionLength = 500;
// ?limit= of every paged list (domain/paging.hpp): rewards, referrals, automation logs, webhook
// deliveries.
inline constexpr int kDefaultPageLimit = 100;
inline constexpr int kMaxPageLimit = 500;
// GET /api/admin/users/{id}: the newest rewards it shows.
inline constexpr int kUserLookupRewards = 100;

// Idempotency-Key: 1..255 visible ASCII characters (0x21–0x7E).
inline constexpr std::size_t kMaxIdempotencyKeyLength = 255;
// IDEMPOTENCY_TTL_HOURS: how long a key is remembered (a year at most).
inline constexpr int kDefaultIdempotencyTtlHours = 24;
inline constexpr int kMaxIdempotencyTtlHours = 8760;

}  // namespace referrald::domain
