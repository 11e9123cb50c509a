#pragma once
// The referral program's entities and read models. Plain data: no SQL, no HTTP, no JSON.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "util/clock.hpp"

namespace referrald::domain {

// Who asks: the user behind a request's token (claims `sub` and `email`). Write use cases create
// or update this user's row in their own transaction.
struct Actor {
  std::string id;  // canonical lowercase UUID
  std::optional<std::string> email;
};

struct User {
  std::string id;                    // UUID from the token's `sub`
  std::optional<std::string> email;  // null once erased
  TimePoint created_at;
  std::optional<TimePoint> premium_until;
  // When an administrator erased the user's personal data (DELETE /api/admin/users/{id}); its
  // tokens are refused from then on.
  std::optional<TimePoint> erased_at;
};

struct ReferralCode {
  std::string id;
  std::string user_id;
  std::string code;  // uppercase, from kCodeAlphabet
  bool is_active = true;
  TimePoint created_at;
  TimePoint expires_at;
};

enum class ReferralStatus { kPending, kConverted, kExpired };

struct Referral {
  std::string id;
  std::string referrer_user_id;
  std::string referred_user_id;
  std::string referral_code_id;
  ReferralStatus status = ReferralStatus::kPending;
  TimePoint created_at;
  std::optional<TimePoint> converted_at;
};

// A referral as the lists show it (GET /api/referral/referrals, GET /api/admin/referrals).
struct ReferralListing {
  Referral referral;
  std::string code;                           // the text of the code it was tracked with
  std::optional<std::string> referred_email;  // as stored: null when unknown or erased
};

// Which referrals GET /api/admin/referrals lists (every one when both are unset).
struct ReferralFilter {
  std::optional<std::string> referrer_user_id;  // canonical UUID
  std::optional<ReferralStatus> status;
};

enum class RewardType { kFreePremium, kBadge };

// The reward's JSON value: {"days": N} for free_premium, {"badge": "..."} for a badge.
struct RewardValue {
  std::optional<std::int64_t> days;
  std::optional<std::string> badge;
  bool operator==(const RewardValue&) const = default;
};

struct Reward {
  std::string id;
  std::string user_id;
  RewardType type = RewardType::kFreePremium;
  RewardValue value;
  bool is_claimed = false;
  TimePoint created_at;
  std::optional<TimePoint> claimed_at;
  std::optional<TimePoint> expires_at;  // the claim window's end: claimable_at + claim days
  std::optional<std::string> source_referral_id;  // the converted referral that earned it
  // The end of the hold (contract §11): created_at + REFERRAL_REWARD_HOLD_DAYS when granted. A
  // row stored without one (before the hold existed) reads back as created_at.
  TimePoint claimable_at;
  std::optional<TimePoint> revoked_at;  // set by a clawback, only while the reward was on hold
};

// A reward's status at an instant (contract §11), derived from its columns and the clock
// (RewardStatusAt in rules.hpp), never stored: a read is right at every instant.
enum class RewardStatus { kOnHold, kClaimable, kClaimed, kExpired, kRevoked };

// A referral turned into a reward, exactly once.
struct Conversion {
  Referral referral;
  Reward reward;
};

// Subscription statuses as stored.
inline constexpr std::string_view kSubscriptionStatusActive = "active";
inline constexpr std::string_view kSubscriptionStatusCancelled = "cancelled";

struct Subscription {
  std::string id;
  std::string user_id;
  std::string tier;    // "premium"
  std::string status;  // kSubscriptionStatusActive or kSubscriptionStatusCancelled
  std::string provider;
  std::string provider_ref;
  TimePoint created_at;
};

struct SubscriptionCreated {
  Subscription subscription;
  std::optional<Conversion> conversion;  // set when the subscriber had a pending referral
};

// POST /api/subscriptions/cancel: what changed in its transaction.
struct SubscriptionCancellation {
  Subscription subscription;  // as cancelled (status kSubscriptionStatusCancelled)
  TimePoint cancelled_at;
  bool refund = false;
  std::optional<Reward> revoked;  // the referrer's reward clawed back by the refund, if any
};

// What GET /api/subscriptions/me shows.
struct PremiumStatus {
  std::string tier;    // "premium" or "free"
  std::string status;  // subscription status, "none" without one
  std::optional<TimePoint> premium_until;
};

struct ReferrerStats {
  std::int64_t total_referrals = 0;
  std::int64_t converted_referrals = 0;
  std::int64_t pending_referrals = 0;
  std::int64_t total_rewards_earned = 0;
  // Converted referrals whose reward was revoked (contract §11): they stay converted, but the
  // badge counts converted - revoked. Not shown by /stats.
  std::int64_t revoked_conversions = 0;
  std::int64_t clicks = 0;  // counted clicks of the user's links (contract section 12)
  bool operator==(const ReferrerStats&) const = default;
};

struct LeaderboardEntry {
  std::string user_id;
  std::optional<std::string> email;
  std::int64_t total_referrals = 0;
  std::int64_t converted_referrals = 0;
  std::int64_t rank = 0;  // competition rank, set by the domain
  bool operator==(const LeaderboardEntry&) const = default;
};

// Raw counts the store returns for GET /analytics; the domain derives the rate.
struct AnalyticsCounts {
  std::int64_t total_referrals = 0;
  std::int64_t converted_referrals = 0;
  std::int64_t total_rewards_awarded = 0;
  std::int64_t active_codes = 0;
  std::int64_t expired_codes = 0;
  std::int64_t clicks = 0;  // counted clicks of the period, by the click's UTC day
  bool operator==(const AnalyticsCounts&) const = default;
};

struct AnalyticsSummary {
  AnalyticsCounts counts;
  double conversion_rate = 0.0;       // percent, one decimal
  double click_to_signup_rate = 0.0;  // signups / clicks, percent, one decimal
};

struct DailyCount {
  std::string date;  // YYYY-MM-DD, UTC
  std::int64_t signups = 0;
  std::int64_t conversions = 0;
  std::int64_t clicks = 0;
  bool operator==(const DailyCount&) const = default;
};

// --- referral links (contract section 12) ---

// One visit of GET /r/{code}: counted at most once per code, visitor and UTC day.
struct Click {
  std::string code_id;
  std::string referrer_user_id;  // the code's owner, whose counts it adds to
  std::int64_t day = 0;          // UTC day number of the visit
  std::string visitor;           // an opaque keyed hash (never the client's address)
};

// What a referral link's redirect needs to know, read in one query: the code with this text, and
// whether the visitor's click of the day is already counted.
struct LinkLookup {
  ReferralCode code;
  bool counted = false;
};

// Everything the read routes show at one instant, keyed the way the store reads it: used to
// compare the maintained aggregates with a recount over the base tables.
struct ReadModels {
  // Every user with a referral or a reward.
  std::map<std::string, ReferrerStats> stats;
  // By window length in days (0: all time): every referrer of the period, in leaderboard order.
  std::map<int, std::vector<LeaderboardEntry>> leaderboards;
  // By window length in days (0: all time).
  std::map<int, AnalyticsCounts> analytics;
  // Every day with a signup, a conversion or a click, ascending.
  std::vector<DailyCount> days;
  bool operator==(const ReadModels&) const = default;
};

// What erasing a user found (WriteTx::MarkUserErased).
struct ErasedUser {
  std::optional<std::string> email;  // the email it held before, to be scrubbed; null on a repeat
  TimePoint erased_at;               // the first erasure's time
  bool already_erased = false;
};

// The status of an automation_logs row, and of a job run.
enum class AuditStatus { kSuccess, kFailed, kPending };

// One automation_logs row. Details become a JSON object in storage (codec/json_codec.hpp).
using AuditValue = std::variant<std::string, std::int64_t, double, bool>;
using Details = std::vector<std::pair<std::string, AuditValue>>;
struct AuditEntry {
  std::string id;
  std::string service;
  std::string action;
  AuditStatus status = AuditStatus::kSuccess;
  std::optional<std::string> user_id;
  Details details;
  std::optional<std::string> error_message;
  TimePoint created_at;
};

// --- Idempotency-Key (contract section 10) ---

// A response as it was sent, kept to be answered again byte for byte. The domain does not read
// it: `headers` is the HTTP layer's own encoding of the headers its handler set.
struct StoredResponse {
  int status = 0;
  std::string headers;
  std::string body;
  bool operator==(const StoredResponse&) const = default;
};

// A keyed request: the caller, its key and the request's fingerprint (a repeat must match it).
struct IdempotentRequest {
  std::string user_id;
  std::string key;
  std::string method;
  std::string path;
  std::string body_sha256;  // lowercase hex of the request body's SHA-256
};

enum class IdempotencyState { kInProgress, kCompleted };

// One remembered Idempotency-Key of one caller: what the first request was (method, path, the
// SHA-256 of its body) and its response, stored with the request's change. `owner` names the
// row (a replacement is conditional on it). kInProgress and `lease_until` are kept for the rows
// of an earlier version, which reserved a key before its request ran: such a row counts as in
// progress until its lease ends.
struct IdempotencyRecord {
  std::string user_id;  // the caller (`sub`)
  std::string key;
  std::string method;
  std::string path;
  std::string body_sha256;  // lowercase hex
  IdempotencyState state = IdempotencyState::kInProgress;
  std::string owner;
  TimePoint lease_until;
  TimePoint created_at;
  std::optional<StoredResponse> response;  // set when completed
  bool operator==(const IdempotencyRecord&) const = default;
};

std::string_view ToString(ReferralStatus s);
std::string_view ToString(AuditStatus s);
std::optional<AuditStatus> ParseAuditStatus(std::string_view s);
std::string_view ToString(RewardType t);
std::string_view ToString(RewardStatus s);
std::optional<ReferralStatus> ParseReferralStatus(std::string_view s);
std::optional<RewardType> ParseRewardType(std::string_view s);
std::string_view ToString(IdempotencyState s);
std::optional<IdempotencyState> ParseIdempotencyState(std::string_view s);

}  // namespace referrald::domain
