#include "storage/postgres/postgres_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <utility>

#include "codec/json_codec.hpp"
#include "domain/errors.hpp"
#include "domain/personal_data.hpp"
#include "domain/rules.hpp"
#include "storage/common/aggregates.hpp"
#include "storage/common/guard.hpp"
#include "storage/common/readers.hpp"
#include "storage/common/storage_error.hpp"
#include "storage/migrations.hpp"
#include "storage/postgres/connection.hpp"
#include "storage/postgres/pool.hpp"
#include "util/time_format.hpp"

namespace referrald::storage {
namespace {

using postgres::Connection;
using postgres::Lease;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kBackend = "postgres";
// A transaction the database chose as a deadlock or serialization victim runs again, this often.
constexpr int kMaxAttempts = 5;

// Parameters are text and the server infers their types from the columns they meet; where a
// parameter meets no column (INSERT … SELECT, function arguments) it is cast explicitly.

constexpr char kPing[] = "SELECT 1";
constexpr char kBegin[] = "BEGIN";
constexpr char kCommit[] = "COMMIT";
constexpr char kRollback[] = "ROLLBACK";

// --- migrations -------------------------------------------------------------------------------
// Instances starting together take turns on this session lock (the two keys are arbitrary but
// fixed: "referrald", "migrations").
constexpr char kLockMigrations[] = "SELECT pg_advisory_lock(1919247461, 1)";
constexpr char kUnlockMigrations[] = "SELECT pg_advisory_unlock(1919247461, 1)";
constexpr char kCreateSchemaMigrations[] = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at TIMESTAMP NOT NULL
))sql";
constexpr char kSelectMigrationApplied[] = "SELECT 1 FROM schema_migrations WHERE version = $1";
// applied_at is bookkeeping only, so the database's clock is good enough here.
constexpr char kInsertMigration[] = R"sql(
INSERT INTO schema_migrations (version, name, applied_at)
VALUES ($1, $2, timezone('UTC', now())))sql";

// --- users ------------------------------------------------------------------------------------
constexpr char kSelectUser[] =
    "SELECT id, email, created_at, premium_until, erased_at FROM users WHERE id = $1";
// Provisioning and the erased check in one statement (no round trip of its own). ON CONFLICT DO
// UPDATE locks the existing row whatever its WHERE says, so the transaction holds the user's row:
// an erasure (which updates that row) waits for it, or it waits for the erasure and then judges
// the WHERE on the row as the erasure committed it. An erased row takes a no-op update, which
// returns its erased_at; a row the statement inserted or updated is not erased. One row with
// erased_at set: the user is erased. (No second lock on the row: a FOR SHARE after the upsert's
// own lock was a second tuple lock on every write, measurably slower.)
constexpr char kUpsertUser[] = R"sql(
INSERT INTO users (id, email, created_at) VALUES ($1::uuid, $2::text, $3::timestamp)
ON CONFLICT (id) DO UPDATE
  SET email = CASE WHEN users.erased_at IS NULL THEN EXCLUDED.email ELSE users.email END
  WHERE users.erased_at IS NOT NULL
     OR (EXCLUDED.email IS NOT NULL AND users.email IS DISTINCT FROM EXCLUDED.email)
RETURNING erased_at)sql";
// The email before the erasure and the first erasure's time, holding the row.
constexpr char kLockUserState[] = "SELECT email, erased_at FROM users WHERE id = $1 FOR UPDATE";
constexpr char kMarkUserErased[] =
    "UPDATE users SET email = NULL, erased_at = coalesce(erased_at, $2) WHERE id = $1";
constexpr char kLockPremiumUntil[] = "SELECT premium_until FROM users WHERE id = $1 FOR UPDATE";
constexpr char kUpdatePremiumUntil[] = "UPDATE users SET premium_until = $2 WHERE id = $1";
// A transaction-scoped lock on the unordered pair: (a, b) and (b, a) take the same lock.
constexpr char kLockUserPair[] = R"sql(
SELECT pg_advisory_xact_lock(1919247461,
                             hashtext(least($1::text, $2::text) || greatest($1::text, $2::text))))sql";

// --- referral codes ---------------------------------------------------------------------------
constexpr char kSelectActiveCodeOfUser[] = R"sql(
SELECT id, user_id, code, is_active, created_at, expires_at FROM referral_codes
WHERE user_id = $1 AND is_active)sql";
constexpr char kDeactivateCode[] =
    "UPDATE referral_codes SET is_active = FALSE WHERE id = $1 AND is_active";
// DO NOTHING on either unique index (the code's text, the user's one active code): the caller
// tells which from what is stored, without aborting the transaction.
constexpr char kInsertCode[] = R"sql(
INSERT INTO referral_codes (id, user_id, code, is_active, created_at, expires_at)
VALUES ($1, $2, $3, TRUE, $4, $5)
ON CONFLICT DO NOTHING)sql";
constexpr char kSelectCodeTaken[] = "SELECT 1 FROM referral_codes WHERE code = $1";
constexpr char kSelectCodeByText[] = R"sql(
SELECT id, user_id, code, is_active, created_at, expires_at FROM referral_codes
WHERE code = $1)sql";
constexpr char kSelectNewestCode[] = R"sql(
SELECT id, user_id, code, is_active, created_at, expires_at FROM referral_codes
WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1)sql";
constexpr char kExpireCodes[] =
    "UPDATE referral_codes SET is_active = FALSE WHERE is_active AND expires_at <= $1";
constexpr char kDeactivateCodesOfUser[] =
    "UPDATE referral_codes SET is_active = FALSE WHERE user_id = $1 AND is_active";
constexpr char kSelectCodesOfUser[] = R"sql(
SELECT id, user_id, code, is_active, created_at, expires_at FROM referral_codes
WHERE user_id = $1 ORDER BY created_at, id)sql";

// --- referral links (migrations/postgres/0009_referral_links.sql) --------------------------------
// $1 the code's text, $2 the day, $3 the visitor: the code, and whether the click is counted.
constexpr char kSelectLink[] = R"sql(
SELECT c.id, c.user_id, c.code, c.is_active, c.created_at, c.expires_at,
       EXISTS (SELECT 1 FROM referral_clicks k
               WHERE k.code_id = c.id AND k.day = $2::integer AND k.visitor = $3::text)
FROM referral_codes c WHERE c.code = $1)sql";
// $1 code, $2 day, $3 visitor, $4 the code's owner, $5 the shard. One round trip: the primary key
// makes a second click of the visitor on that day a no-op (a concurrent one waits for the first
// to commit, then does nothing), and only an inserted click adds to the aggregates (PostgreSQL
// runs every data-modifying WITH to completion, read or not).
constexpr char kInsertClick[] = R"sql(
WITH counted AS (
  INSERT INTO referral_clicks (code_id, day, visitor) VALUES ($1::uuid, $2::integer, $3::text)
  ON CONFLICT DO NOTHING
  RETURNING 1),
referrer AS (
  INSERT INTO referrer_totals (user_id, clicks) SELECT $4::uuid, 1 FROM counted
  ON CONFLICT (user_id) DO UPDATE SET clicks = referrer_totals.clicks + 1
  RETURNING 1),
daily AS (
  INSERT INTO program_daily (day, shard, clicks) SELECT $2::integer, $5::integer, 1 FROM counted
  ON CONFLICT (day, shard) DO UPDATE SET clicks = program_daily.clicks + 1
  RETURNING 1),
total AS (
  INSERT INTO program_totals (shard, clicks) SELECT $5::integer, 1 FROM counted
  ON CONFLICT (shard) DO UPDATE SET clicks = program_totals.clicks + 1
  RETURNING 1)
SELECT count(*) FROM counted)sql";

// --- referrals --------------------------------------------------------------------------------
constexpr char kSelectReferralOfReferred[] = R"sql(
SELECT id, referrer_user_id, referred_user_id, referral_code_id, status, created_at, converted_at
FROM referrals WHERE referred_user_id = $1)sql";
// Keyset pages, newest first (domain/paging.hpp): $3/$4 the (created_at, id) to start after (a
// bound above every row for the first page), $5 the limit. $2 the status, NULL for any.
constexpr char kSelectReferralsOfReferrerPage[] = R"sql(
SELECT r.id, r.referrer_user_id, r.referred_user_id, r.referral_code_id, r.status, r.created_at,
       r.converted_at, c.code, u.email
FROM referrals r
JOIN referral_codes c ON c.id = r.referral_code_id
LEFT JOIN users u ON u.id = r.referred_user_id
WHERE r.referrer_user_id = $1::uuid AND ($2::text IS NULL OR r.status = $2::text)
  AND (r.created_at, r.id) < ($3::timestamp, $4::uuid)
ORDER BY r.created_at DESC, r.id DESC LIMIT $5::bigint)sql";
// The same over every referrer: $1 the status, $2/$3 the bound, $4 the limit.
constexpr char kSelectReferralsPage[] = R"sql(
SELECT r.id, r.referrer_user_id, r.referred_user_id, r.referral_code_id, r.status, r.created_at,
       r.converted_at, c.code, u.email
FROM referrals r
JOIN referral_codes c ON c.id = r.referral_code_id
LEFT JOIN users u ON u.id = r.referred_user_id
WHERE ($1::text IS NULL OR r.status = $1::text) AND (r.created_at, r.id) < ($2::timestamp, $3::uuid)
ORDER BY r.created_at DESC, r.id DESC LIMIT $4::bigint)sql";
constexpr char kSelectReferralsMade[] = R"sql(
SELECT id, referrer_user_id, referred_user_id, referral_code_id, status, created_at, converted_at
FROM referrals WHERE referrer_user_id = $1 ORDER BY created_at, id)sql";
// The unique index on referred_user_id makes a second referrer a no-op.
constexpr char kInsertReferral[] = R"sql(
INSERT INTO referrals (id, referrer_user_id, referred_user_id, referral_code_id, status,
                       created_at)
VALUES ($1, $2, $3, $4, 'pending', $5)
ON CONFLICT DO NOTHING)sql";
// The single conditional statement that makes a conversion happen once: a concurrent one waits
// for this row and then finds it no longer pending.
constexpr char kConvertPendingReferral[] = R"sql(
UPDATE referrals SET status = 'converted', converted_at = $2
WHERE referred_user_id = $1 AND status = 'pending'
RETURNING id, referrer_user_id, referred_user_id, referral_code_id, status, created_at,
          converted_at)sql";

// --- rewards ----------------------------------------------------------------------------------
constexpr char kInsertReward[] = R"sql(
INSERT INTO user_rewards (id, user_id, reward_type, reward_value, is_claimed, created_at,
                          claimed_at, expires_at, source_referral_id, claimable_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10))sql";
// Re-checks the threshold (conversions whose reward was not revoked) in the statement itself; the
// partial unique index on (user_id) WHERE reward_type = 'badge' makes it a no-op for a user who
// already has a badge, whoever inserted it.
constexpr char kInsertBadge[] = R"sql(
INSERT INTO user_rewards (id, user_id, reward_type, reward_value, is_claimed, created_at,
                          claimed_at, expires_at, source_referral_id, claimable_at)
SELECT $1::uuid, $2::uuid, 'badge', $3::jsonb, TRUE, $4::timestamp, $4::timestamp, NULL, NULL,
       $4::timestamp
WHERE (SELECT converted_referrals - revoked_conversions FROM referrer_totals
       WHERE user_id = $2::uuid) >= $5::bigint
ON CONFLICT DO NOTHING)sql";
// The reward columns ReadReward expects; claimable_at is created_at for a row without one.
constexpr char kSelectReward[] = R"sql(
SELECT id, user_id, reward_type, reward_value, is_claimed, created_at, claimed_at, expires_at,
       source_referral_id, coalesce(claimable_at, created_at), revoked_at
FROM user_rewards WHERE id = $1)sql";
// $2/$3 the (created_at, id) to start after, $4 the limit.
constexpr char kSelectRewardsPage[] = R"sql(
SELECT id, user_id, reward_type, reward_value, is_claimed, created_at, claimed_at, expires_at,
       source_referral_id, coalesce(claimable_at, created_at), revoked_at
FROM user_rewards WHERE user_id = $1::uuid AND (created_at, id) < ($2::timestamp, $3::uuid)
ORDER BY created_at DESC, id DESC LIMIT $4::bigint)sql";
constexpr char kSelectRewardsOfUser[] = R"sql(
SELECT id, user_id, reward_type, reward_value, is_claimed, created_at, claimed_at, expires_at,
       source_referral_id, coalesce(claimable_at, created_at), revoked_at
FROM user_rewards WHERE user_id = $1 ORDER BY created_at, id)sql";
// The single conditional statement that makes a claim happen once: only past the hold, before
// the window's end, and never after a revocation. A concurrent revocation holds the row: this
// waits for it, then re-checks the conditions on the row as it committed.
constexpr char kClaimReward[] = R"sql(
UPDATE user_rewards SET is_claimed = TRUE, claimed_at = $3
WHERE id = $1 AND user_id = $2 AND NOT is_claimed AND revoked_at IS NULL
  AND coalesce(claimable_at, created_at) <= $3 AND (expires_at IS NULL OR expires_at > $3))sql";
// The single conditional statement that makes a clawback happen once, and only while the reward
// is on hold: a claim (which needs the hold to be over) and a revocation never both change it,
// and of two revocations the second waits for the first's row lock and then finds it revoked.
constexpr char kRevokeHeldReward[] = R"sql(
UPDATE user_rewards SET revoked_at = $2
WHERE source_referral_id = $1 AND NOT is_claimed AND revoked_at IS NULL
  AND coalesce(claimable_at, created_at) > $2
RETURNING id, user_id, reward_type, reward_value, is_claimed, created_at, claimed_at, expires_at,
          source_referral_id, coalesce(claimable_at, created_at), revoked_at)sql";
constexpr char kSelectBadgeCandidates[] = R"sql(
SELECT t.user_id FROM referrer_totals t
WHERE t.total_referrals > 0 AND t.converted_referrals - t.revoked_conversions >= $1
  AND NOT EXISTS (SELECT 1 FROM user_rewards r WHERE r.user_id = t.user_id
                                                 AND r.reward_type = 'badge')
ORDER BY t.user_id)sql";

// --- subscriptions ----------------------------------------------------------------------------
constexpr char kSelectSubscriptionsOfUser[] = R"sql(
SELECT id, user_id, tier, status, provider, provider_ref, created_at
FROM subscriptions WHERE user_id = $1 ORDER BY created_at, id)sql";
constexpr char kSelectActiveSubscription[] = R"sql(
SELECT id, user_id, tier, status, provider, provider_ref, created_at
FROM subscriptions WHERE user_id = $1 AND status = 'active')sql";
// The active one first, then the newest.
constexpr char kSelectNewestSubscription[] = R"sql(
SELECT id, user_id, tier, status, provider, provider_ref, created_at
FROM subscriptions WHERE user_id = $1
ORDER BY status = 'active' DESC, created_at DESC, id DESC LIMIT 1)sql";
// The partial unique index (one active subscription per user) makes a second one a no-op.
constexpr char kInsertSubscription[] = R"sql(
INSERT INTO subscriptions (id, user_id, tier, status, provider, provider_ref, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING)sql";
// The single conditional statement that makes a cancellation happen once: a concurrent one waits
// for this row, then finds it no longer active.
constexpr char kCancelActiveSubscription[] = R"sql(
UPDATE subscriptions SET status = 'cancelled', cancelled_at = $2, refunded = $3, cancel_reason = $4
WHERE user_id = $1 AND status = 'active'
RETURNING id, user_id, tier, status, provider, provider_ref, created_at)sql";

// --- aggregates: maintained by the write steps ------------------------------------------------
// The UTC day number of a stored timestamp (a `timestamp` holding UTC).
// A macro, not a function: the SQL constants are string literals joined at compile time.
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define REFERRALD_DAY(column) "(" column "::date - DATE '1970-01-01')"

constexpr char kReferrerTracked[] = R"sql(
INSERT INTO referrer_totals (user_id, total_referrals, pending_referrals) VALUES ($1, 1, 1)
ON CONFLICT (user_id) DO UPDATE
SET total_referrals = referrer_totals.total_referrals + 1,
    pending_referrals = referrer_totals.pending_referrals + 1)sql";
constexpr char kReferrerDayTracked[] = R"sql(
INSERT INTO referrer_daily (user_id, day, referrals) VALUES ($1, $2, 1)
ON CONFLICT (user_id, day) DO UPDATE SET referrals = referrer_daily.referrals + 1)sql";
// Window totals (storage/common/aggregates.hpp). $1 the window's length, $2 the referrer. The
// row is locked first, so that a recount (a later statement, a later snapshot) sees every change
// committed before it; changes still running wait for the lock and then find the row current.
constexpr char kLockWindow[] = R"sql(
SELECT as_of_day FROM referrer_windows WHERE window_days = $1::integer AND user_id = $2::uuid
FOR UPDATE)sql";
// $3 today: the row counted from referrer_daily, when the window holds a referral; a row
// inserted concurrently wins (nothing returned: lock it and look again).
constexpr char kInsertWindowCounted[] = R"sql(
INSERT INTO referrer_windows (window_days, user_id, as_of_day, total, converted)
SELECT $1::integer, $2::uuid, $3::integer, sum(referrals)::bigint, sum(conversions)::bigint
FROM referrer_daily
WHERE user_id = $2::uuid AND day BETWEEN $3::integer - $1::integer + 1 AND $3::integer
HAVING sum(referrals) > 0
ON CONFLICT DO NOTHING
RETURNING 1)sql";
constexpr char kRecountWindow[] = R"sql(
UPDATE referrer_windows w SET as_of_day = $3::integer, total = s.total, converted = s.converted
FROM (SELECT coalesce(sum(referrals), 0)::bigint AS total,
             coalesce(sum(conversions), 0)::bigint AS converted
      FROM referrer_daily
      WHERE user_id = $2::uuid AND day BETWEEN $3::integer - $1::integer + 1 AND $3::integer) AS s
WHERE w.window_days = $1::integer AND w.user_id = $2::uuid)sql";
// $3 referrals, $4 conversions to add.
constexpr char kIncrementWindow[] = R"sql(
UPDATE referrer_windows SET total = total + $3::bigint, converted = converted + $4::bigint
WHERE window_days = $1::integer AND user_id = $2::uuid)sql";
constexpr char kProgramDaySignup[] = R"sql(
INSERT INTO program_daily (day, shard, signups) VALUES ($1, $2, 1)
ON CONFLICT (day, shard) DO UPDATE SET signups = program_daily.signups + 1)sql";
constexpr char kProgramReferral[] = R"sql(
INSERT INTO program_totals (shard, referrals) VALUES ($1, 1)
ON CONFLICT (shard) DO UPDATE SET referrals = program_totals.referrals + 1)sql";

constexpr char kReferrerConverted[] = R"sql(
UPDATE referrer_totals SET converted_referrals = converted_referrals + 1,
                           pending_referrals = pending_referrals - 1
WHERE user_id = $1)sql";
constexpr char kReferrerDayConverted[] =
    "UPDATE referrer_daily SET conversions = conversions + 1 WHERE user_id = $1 AND day = $2";
constexpr char kProgramDayCohortConversion[] = R"sql(
INSERT INTO program_daily (day, shard, cohort_conversions) VALUES ($1, $2, 1)
ON CONFLICT (day, shard) DO UPDATE
SET cohort_conversions = program_daily.cohort_conversions + 1)sql";
constexpr char kProgramDayConversion[] = R"sql(
INSERT INTO program_daily (day, shard, conversions) VALUES ($1, $2, 1)
ON CONFLICT (day, shard) DO UPDATE SET conversions = program_daily.conversions + 1)sql";
constexpr char kProgramConverted[] = R"sql(
INSERT INTO program_totals (shard, converted) VALUES ($1, 1)
ON CONFLICT (shard) DO UPDATE SET converted = program_totals.converted + 1)sql";

constexpr char kReferrerReward[] = R"sql(
INSERT INTO referrer_totals (user_id, rewards_earned) VALUES ($1, 1)
ON CONFLICT (user_id) DO UPDATE SET rewards_earned = referrer_totals.rewards_earned + 1)sql";
constexpr char kReferrerRewardRevoked[] = R"sql(
INSERT INTO referrer_totals (user_id, revoked_conversions) VALUES ($1, 1)
ON CONFLICT (user_id) DO UPDATE
SET revoked_conversions = referrer_totals.revoked_conversions + 1)sql";
constexpr char kProgramDayReward[] = R"sql(
INSERT INTO program_daily (day, shard, rewards) VALUES ($1, $2, 1)
ON CONFLICT (day, shard) DO UPDATE SET rewards = program_daily.rewards + 1)sql";
constexpr char kProgramReward[] = R"sql(
INSERT INTO program_totals (shard, rewards) VALUES ($1, 1)
ON CONFLICT (shard) DO UPDATE SET rewards = program_totals.rewards + 1)sql";

constexpr char kProgramCode[] = R"sql(
INSERT INTO program_totals (shard, codes, active_codes) VALUES ($1, 1, 1)
ON CONFLICT (shard) DO UPDATE
SET codes = program_totals.codes + 1, active_codes = program_totals.active_codes + 1)sql";
constexpr char kProgramCodesDeactivated[] = R"sql(
INSERT INTO program_totals (shard, active_codes) VALUES ($1, -$2::bigint)
ON CONFLICT (shard) DO UPDATE SET active_codes = program_totals.active_codes - $2::bigint)sql";

// $1 the window's length, $2 today: the stale rows locked (in key order), then recounted by a
// later statement, then those left empty dropped.
constexpr char kLockStaleWindows[] = R"sql(
SELECT user_id FROM referrer_windows
WHERE window_days = $1::integer AND as_of_day < $2::integer
ORDER BY user_id FOR UPDATE)sql";
constexpr char kRecountStaleWindows[] = R"sql(
UPDATE referrer_windows w SET as_of_day = $2::integer, total = s.total, converted = s.converted
FROM (SELECT user_id, sum(referrals)::bigint AS total, sum(conversions)::bigint AS converted
      FROM referrer_daily WHERE day BETWEEN $2::integer - $1::integer + 1 AND $2::integer
      GROUP BY user_id) AS s
WHERE w.window_days = $1::integer AND w.as_of_day < $2::integer AND w.user_id = s.user_id)sql";
constexpr char kDropEmptyWindows[] =
    "DELETE FROM referrer_windows WHERE window_days = $1::integer AND as_of_day < $2::integer";

// --- read models, from the aggregates -----------------------------------------------------------
constexpr char kSelectReferrerStats[] = R"sql(
SELECT total_referrals, converted_referrals, pending_referrals, rewards_earned, revoked_conversions,
       clicks
FROM referrer_totals WHERE user_id = $1)sql";
// Both leaderboards are a range scan of their rank index, stopped at the limit.
constexpr char kSelectLeaderboardAll[] = R"sql(
SELECT t.user_id, u.email, t.total_referrals, t.converted_referrals
FROM referrer_totals t LEFT JOIN users u ON u.id = t.user_id
WHERE t.total_referrals > 0
ORDER BY t.converted_referrals DESC, t.total_referrals DESC, t.user_id ASC
LIMIT $1)sql";
// A window's leaderboard: the first $3 rows of the rank index with their counts as of today ($2),
// recounted from referrer_daily for stale rows; one statement, one snapshot. WindowTop asks for
// more rows when these were not enough to be sure of the top.
constexpr char kSelectWindowRanked[] = R"sql(
WITH ranked AS (
  SELECT user_id, total, converted, as_of_day FROM referrer_windows
  WHERE window_days = $1::integer
  ORDER BY converted DESC, total DESC, user_id ASC
  LIMIT $3::bigint)
SELECT r.user_id, u.email,
       CASE WHEN r.as_of_day = $2::integer THEN r.total ELSE c.total END,
       CASE WHEN r.as_of_day = $2::integer THEN r.converted ELSE c.converted END,
       r.total, r.converted
FROM ranked r
LEFT JOIN users u ON u.id = r.user_id
CROSS JOIN LATERAL (
  SELECT coalesce(sum(d.referrals), 0)::bigint AS total,
         coalesce(sum(d.conversions), 0)::bigint AS converted
  FROM referrer_daily d
  WHERE r.as_of_day <> $2::integer AND d.user_id = r.user_id
    AND d.day BETWEEN $2::integer - $1::integer + 1 AND $2::integer) AS c
ORDER BY r.converted DESC, r.total DESC, r.user_id ASC)sql";
// One round trip: the all-time totals, the window's sums ($1..$2, empty for all time) and the
// codes flagged active but past their expiry (those expire-codes has not swept yet: a range of
// the partial index on expires_at).
constexpr char kSelectAnalytics[] = R"sql(
SELECT t.referrals, t.converted, t.rewards, t.codes, t.active_codes,
       d.signups, d.cohort_conversions, d.rewards,
       (SELECT count(*) FROM referral_codes WHERE is_active AND expires_at <= $3),
       t.clicks, d.clicks
FROM (SELECT coalesce(sum(referrals), 0) AS referrals, coalesce(sum(converted), 0) AS converted,
             coalesce(sum(rewards), 0) AS rewards, coalesce(sum(codes), 0) AS codes,
             coalesce(sum(active_codes), 0) AS active_codes, coalesce(sum(clicks), 0) AS clicks
      FROM program_totals) AS t,
     (SELECT coalesce(sum(signups), 0) AS signups,
             coalesce(sum(cohort_conversions), 0) AS cohort_conversions,
             coalesce(sum(rewards), 0) AS rewards, coalesce(sum(clicks), 0) AS clicks
      FROM program_daily WHERE day BETWEEN $1 AND $2) AS d)sql";
constexpr char kSelectDailyCounts[] = R"sql(
SELECT day, sum(signups), sum(conversions), sum(clicks) FROM program_daily
WHERE day BETWEEN $1 AND $2
GROUP BY day HAVING sum(signups) > 0 OR sum(conversions) > 0 OR sum(clicks) > 0
ORDER BY day)sql";

// --- recounts over the base tables (verification only) ------------------------------------------
constexpr char kRecountStats[] = R"sql(
SELECT user_id, sum(total), sum(converted), sum(pending), sum(rewards), sum(revoked), sum(clicks) FROM (
  SELECT referrer_user_id AS user_id, 1 AS total, (status = 'converted')::int AS converted,
         (status = 'pending')::int AS pending, 0 AS rewards, 0 AS revoked, 0 AS clicks FROM referrals
  UNION ALL
  SELECT user_id, 0, 0, 0, 1, (revoked_at IS NOT NULL)::int, 0 FROM user_rewards
  UNION ALL
  SELECT c.user_id, 0, 0, 0, 0, 0, 1 FROM referral_clicks k JOIN referral_codes c ON c.id = k.code_id
) AS rows
GROUP BY user_id)sql";
// $1 is the period's first instant, '-infinity' for all time.
constexpr char kRecountLeaderboard[] = R"sql(
SELECT r.referrer_user_id, u.email, count(*) AS total,
       count(*) FILTER (WHERE r.status = 'converted') AS converted
FROM referrals r LEFT JOIN users u ON u.id = r.referrer_user_id
WHERE r.created_at >= $1
GROUP BY r.referrer_user_id, u.email
ORDER BY converted DESC, total DESC, r.referrer_user_id ASC)sql";
constexpr char kRecountAnalytics[] = R"sql(
SELECT
  (SELECT count(*) FROM referrals WHERE created_at >= $1),
  (SELECT count(*) FROM referrals WHERE created_at >= $1 AND status = 'converted'),
  (SELECT count(*) FROM user_rewards WHERE created_at >= $1),
  (SELECT count(*) FROM referral_codes WHERE is_active AND expires_at > $2),
  (SELECT count(*) FROM referral_codes),
  (SELECT count(*) FROM referral_clicks WHERE day >= $3::bigint))sql";
// $2 today's day number.
constexpr char kRecountDays[] = R"sql(
SELECT day, sum(signups), sum(conversions), sum(clicks) FROM (
  SELECT to_char(created_at, 'YYYY-MM-DD') AS day, 1 AS signups, 0 AS conversions, 0 AS clicks
  FROM referrals WHERE created_at < $1
  UNION ALL
  SELECT to_char(converted_at, 'YYYY-MM-DD'), 0, 1, 0 FROM referrals WHERE converted_at < $1
  UNION ALL
  SELECT to_char(DATE '1970-01-01' + day, 'YYYY-MM-DD'), 0, 0, 1 FROM referral_clicks
  WHERE day <= $2::integer
) AS events
GROUP BY day ORDER BY day)sql";

// --- rebuilding the aggregates from the base tables ---------------------------------------------
constexpr char kDeleteAggregates[] =
    "TRUNCATE referrer_totals, referrer_daily, referrer_windows, program_daily, program_totals";
constexpr char kRebuildReferrerTotals[] = R"sql(
INSERT INTO referrer_totals (user_id, total_referrals, converted_referrals, pending_referrals,
                             rewards_earned, revoked_conversions, clicks)
SELECT user_id, sum(total), sum(converted), sum(pending), sum(rewards), sum(revoked), sum(clicks) FROM (
  SELECT referrer_user_id AS user_id, 1 AS total, (status = 'converted')::int AS converted,
         (status = 'pending')::int AS pending, 0 AS rewards, 0 AS revoked, 0 AS clicks FROM referrals
  UNION ALL
  SELECT user_id, 0, 0, 0, 1, (revoked_at IS NOT NULL)::int, 0 FROM user_rewards
  UNION ALL
  SELECT c.user_id, 0, 0, 0, 0, 0, 1 FROM referral_clicks k JOIN referral_codes c ON c.id = k.code_id
) AS rows
GROUP BY user_id)sql";
constexpr char kRebuildReferrerDaily[] = R"sql(
INSERT INTO referrer_daily (user_id, day, referrals, conversions)
SELECT referrer_user_id, )sql" REFERRALD_DAY("created_at") R"sql(, count(*),
       count(*) FILTER (WHERE status = 'converted')
FROM referrals GROUP BY 1, 2)sql";
// $1 the window's length, $2 today.
constexpr char kRebuildReferrerWindows[] = R"sql(
INSERT INTO referrer_windows (window_days, user_id, as_of_day, total, converted)
SELECT $1::integer, user_id, $2::integer, sum(referrals)::bigint, sum(conversions)::bigint
FROM referrer_daily WHERE day BETWEEN $2::integer - $1::integer + 1 AND $2::integer
GROUP BY user_id)sql";
constexpr char kRebuildProgramDaily[] = R"sql(
INSERT INTO program_daily (day, shard, signups, cohort_conversions, conversions, rewards, clicks)
SELECT day, 0, sum(signups), sum(cohort), sum(conversions), sum(rewards), sum(clicks) FROM (
  SELECT )sql" REFERRALD_DAY("created_at") R"sql( AS day, 1 AS signups,
         (status = 'converted')::int AS cohort, 0 AS conversions, 0 AS rewards, 0 AS clicks
  FROM referrals
  UNION ALL
  SELECT )sql" REFERRALD_DAY("converted_at") R"sql(, 0, 0, 1, 0, 0 FROM referrals
  WHERE converted_at IS NOT NULL
  UNION ALL
  SELECT )sql" REFERRALD_DAY("created_at") R"sql(, 0, 0, 0, 1, 0 FROM user_rewards
  UNION ALL
  SELECT day, 0, 0, 0, 0, 1 FROM referral_clicks) AS events
GROUP BY day)sql";
constexpr char kRebuildProgramTotals[] = R"sql(
INSERT INTO program_totals (shard, referrals, converted, rewards, codes, active_codes, clicks)
SELECT 0, (SELECT count(*) FROM referrals),
       (SELECT count(*) FROM referrals WHERE status = 'converted'),
       (SELECT count(*) FROM user_rewards), (SELECT count(*) FROM referral_codes),
       (SELECT count(*) FROM referral_codes WHERE is_active),
       (SELECT count(*) FROM referral_clicks))sql";

#undef REFERRALD_DAY

// --- scheduled runs ---------------------------------------------------------------------------
constexpr char kClaimJobRun[] = R"sql(
INSERT INTO job_runs (job, slot, claimed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING)sql";

// --- idempotency keys -------------------------------------------------------------------------
// DO NOTHING on the primary key: the caller reads what is there instead. A concurrent insert of
// the same key waits here until the first commits (then does nothing) or rolls back.
constexpr char kInsertIdempotencyKey[] = R"sql(
INSERT INTO idempotency_keys (user_id, idempotency_key, method, path, body_sha256, state, owner,
                              lease_until, created_at, completed_at, response_status,
                              response_headers, response_body)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT DO NOTHING)sql";
constexpr char kSelectIdempotencyKey[] = R"sql(
SELECT user_id, idempotency_key, method, path, body_sha256, state, owner, lease_until, created_at,
       response_status, response_headers, response_body
FROM idempotency_keys WHERE user_id = $1 AND idempotency_key = $2)sql";
// A takeover, conditional on the owner the taker saw: a second taker waits for the first's row
// lock, then finds another owner and changes nothing.
constexpr char kReplaceIdempotencyKey[] = R"sql(
UPDATE idempotency_keys
SET method = $3, path = $4, body_sha256 = $5, state = $6, owner = $7, lease_until = $8,
    created_at = $9, completed_at = $10, response_status = $11, response_headers = $12,
    response_body = $13
WHERE user_id = $1 AND idempotency_key = $2 AND owner = $14)sql";
// The conditions are repeated on the deleted row itself: a key taken over since the batch was
// chosen (created_at moved) is re-checked under its row lock and kept.
constexpr char kDeleteIdempotencyKeysOfUser[] = "DELETE FROM idempotency_keys WHERE user_id = $1";
constexpr char kDeleteExpiredIdempotencyKeys[] = R"sql(
DELETE FROM idempotency_keys k
USING (SELECT user_id, idempotency_key FROM idempotency_keys
       WHERE created_at <= $1 AND (state = 'completed' OR lease_until <= $2)
       LIMIT $3) old
WHERE k.user_id = old.user_id AND k.idempotency_key = old.idempotency_key
  AND k.created_at <= $1 AND (k.state = 'completed' OR k.lease_until <= $2))sql";

// --- audit ------------------------------------------------------------------------------------
constexpr char kInsertAudit[] = R"sql(
INSERT INTO automation_logs (id, service, action, status, user_id, details, error_message,
                             created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8))sql";
// $1/$2 the (created_at, id) to start after, $3 the limit; $4 the service.
constexpr char kSelectAudit[] = R"sql(
SELECT id, service, action, status, user_id, details, error_message, created_at
FROM automation_logs WHERE (created_at, id) < ($1::timestamp, $2::uuid)
ORDER BY created_at DESC, id DESC LIMIT $3::bigint)sql";
constexpr char kSelectAuditOfService[] = R"sql(
SELECT id, service, action, status, user_id, details, error_message, created_at
FROM automation_logs WHERE service = $4::text AND (created_at, id) < ($1::timestamp, $2::uuid)
ORDER BY created_at DESC, id DESC LIMIT $3::bigint)sql";
// $1 the user's id: rows about the user, or naming it in their details.
constexpr char kSelectAuditAboutUser[] = R"sql(
SELECT id, service, action, status, user_id, details, error_message, created_at
FROM automation_logs WHERE user_id = $1::uuid OR strpos(details::text, $1::text) > 0
ORDER BY created_at, id)sql";
// $1 the email as JSON text holds it (escaped, without quotes), $2 the email as is, $3 what
// replaces it. (jsonb's text form escapes strings as the codec does.)
constexpr char kScrubAudit[] = R"sql(
UPDATE automation_logs
SET details = replace(details::text, $1::text, $3::text)::jsonb,
    error_message = replace(error_message, $2::text, $3::text)
WHERE strpos(details::text, $1::text) > 0 OR strpos(error_message, $2::text) > 0)sql";
constexpr char kScrubEvents[] = R"sql(
UPDATE events SET data = replace(data::text, $1::text, $2::text)::jsonb
WHERE strpos(data::text, $1::text) > 0)sql";
constexpr char kScrubIdempotencyKeys[] = R"sql(
UPDATE idempotency_keys SET response_body = replace(response_body, $1::text, $2::text)
WHERE strpos(response_body, $1::text) > 0)sql";

// --- events (the outbox; migrations/postgres/0004_events.sql argues the order) ------------------
// tx_id defaults to the writing transaction's id.
constexpr char kInsertEvent[] = R"sql(
INSERT INTO events (id, type, occurred_at, data) VALUES ($1, $2, $3, $4))sql";
// Only rows of transactions below the snapshot's xmin, which have all ended: the rows this can
// list are final, so a cursor never passes an event that commits later. pg_current_snapshot() is
// the snapshot this very statement reads with, so every committed row below xmin is visible to it.
// (tx_id is read as text under another name, so that ORDER BY tx_id sorts the xid8 column.)
constexpr char kSelectEvents[] = R"sql(
SELECT id, type, occurred_at, data, tx_id::text AS tx_text, seq FROM events
WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())
  AND (tx_id, seq) > ($1::xid8, $2::bigint)
ORDER BY tx_id, seq LIMIT $3)sql";
constexpr char kSelectEventsAboutUser[] = R"sql(
SELECT id, type, occurred_at, data FROM events WHERE strpos(data::text, $1::text) > 0
ORDER BY tx_id, seq)sql";
constexpr char kSelectEventsOfType[] = R"sql(
SELECT id, type, occurred_at, data, tx_id::text AS tx_text, seq FROM events
WHERE type = $1 AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
  AND (tx_id, seq) > ($2::xid8, $3::bigint)
ORDER BY tx_id, seq LIMIT $4)sql";

// --- webhooks (migrations/postgres/0006_webhooks.sql) ------------------------------------------
// A new endpoint's cursor: the last event the feed lists now (below the snapshot's xmin), so that
// every event listed later is after it; and the statement's snapshot, whose committed
// transactions' events the fan-out passes over (they were in the feed before the endpoint).
constexpr char kInsertWebhook[] = R"sql(
INSERT INTO webhook_endpoints (id, url, event_types, description, secret, created_at, cursor_tx,
                               cursor_seq, start_snapshot)
SELECT $1::uuid, $2::text, $3::jsonb, $4::text, $5::text, $6::timestamp,
       coalesce(last.tx_id, '0'::xid8), coalesce(last.seq, 0), pg_current_snapshot()
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (SELECT tx_id, seq FROM events
                   WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())
                   ORDER BY tx_id DESC, seq DESC LIMIT 1) AS last ON true)sql";
constexpr char kSelectWebhooks[] = R"sql(
SELECT id, url, event_types::text, description, secret, created_at FROM webhook_endpoints
ORDER BY created_at, id)sql";
constexpr char kSelectWebhook[] = R"sql(
SELECT id, url, event_types::text, description, secret, created_at FROM webhook_endpoints
WHERE id = $1)sql";
// Its deliveries go with it (ON DELETE CASCADE).
constexpr char kDeleteWebhook[] = "DELETE FROM webhook_endpoints WHERE id = $1";
// $2/$3 the (created_at, event_seq) to start after, $4 the limit.
constexpr char kSelectDeliveries[] = R"sql(
SELECT endpoint_id, event_id, event_type, attempt, status, response_status, last_attempt_at,
       next_attempt_at, created_at, event_seq
FROM webhook_deliveries
WHERE endpoint_id = $1::uuid AND (created_at, event_seq) < ($2::timestamp, $3::bigint)
ORDER BY created_at DESC, event_seq DESC LIMIT $4::bigint)sql";
// Endpoints with events after their cursor in the feed (a read, so that an idle poll locks
// nothing).
constexpr char kSelectWebhooksBehind[] = R"sql(
SELECT w.id FROM webhook_endpoints w
WHERE EXISTS (SELECT 1 FROM events e
              WHERE e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
                AND (e.tx_id, e.seq) > (w.cursor_tx, w.cursor_seq))
ORDER BY w.id)sql";
// Holds the endpoint until commit; an endpoint another instance holds is skipped.
constexpr char kLockWebhookCursor[] = R"sql(
SELECT cursor_tx::text, cursor_seq FROM webhook_endpoints WHERE id = $1
FOR UPDATE SKIP LOCKED)sql";
// $1 endpoint, $2/$3 its cursor, $4 batch, $5 now: the feed's page after the cursor (ListEvents'
// rule: only transactions below xmin), the events the endpoint wants copied, the cursor moved to
// the page's last event (compare-and-set on the cursor read under the lock). One statement, one
// snapshot.
constexpr char kFanOutPage[] = R"sql(
WITH page AS (
  SELECT tx_id, seq, id, type FROM events
  WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())
    AND (tx_id, seq) > ($2::xid8, $3::bigint)
  ORDER BY tx_id, seq LIMIT $4),
copied AS (
  INSERT INTO webhook_deliveries (endpoint_id, event_id, event_seq, event_type, attempt, status,
                                  next_attempt_at, created_at)
  SELECT w.id, p.id, p.seq, p.type, 0, 'pending', $5::timestamp, $5::timestamp
  FROM page p JOIN webhook_endpoints w ON w.id = $1::uuid
  WHERE (w.event_types IS NULL OR w.event_types ? p.type)
    AND (w.start_snapshot IS NULL OR NOT pg_visible_in_snapshot(p.tx_id, w.start_snapshot))
  ON CONFLICT DO NOTHING
  RETURNING 1),
last AS (SELECT tx_id, seq FROM page ORDER BY tx_id DESC, seq DESC LIMIT 1),
moved AS (
  UPDATE webhook_endpoints w SET cursor_tx = last.tx_id, cursor_seq = last.seq FROM last
  WHERE w.id = $1::uuid AND w.cursor_tx = $2::xid8 AND w.cursor_seq = $3::bigint
  RETURNING 1)
SELECT (SELECT count(*) FROM copied), (SELECT count(*) FROM page), (SELECT count(*) FROM moved))sql";
constexpr char kSelectWebhookExists[] = "SELECT 1 FROM webhook_endpoints WHERE id = $1";
// $1 endpoint, $2/$3 after, $4 now.
constexpr char kRequeueDeliveries[] = R"sql(
INSERT INTO webhook_deliveries (endpoint_id, event_id, event_seq, event_type, attempt, status,
                                next_attempt_at, created_at)
SELECT w.id, e.id, e.seq, e.type, 0, 'pending', $4::timestamp, $4::timestamp
FROM events e JOIN webhook_endpoints w ON w.id = $1::uuid
WHERE e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
  AND (e.tx_id, e.seq) > ($2::xid8, $3::bigint)
  AND (w.event_types IS NULL OR w.event_types ? e.type)
ON CONFLICT (endpoint_id, event_id) DO UPDATE SET
  attempt = 0, status = 'pending', response_status = NULL, last_attempt_at = NULL,
  next_attempt_at = excluded.next_attempt_at, lease_owner = NULL, lease_until = NULL,
  created_at = excluded.created_at)sql";
// $1 now, $2 lease_until, $3 lease: the due delivery no other claim holds (SKIP LOCKED: two
// instances claiming at once take different rows), claimed in one autocommitted statement.
constexpr char kClaimDelivery[] = R"sql(
WITH claimed AS (
  UPDATE webhook_deliveries SET lease_owner = $3::text, lease_until = $2::timestamp
  WHERE (endpoint_id, event_id) = (
    SELECT endpoint_id, event_id FROM webhook_deliveries
    WHERE status = 'pending' AND next_attempt_at <= $1::timestamp
      AND (lease_until IS NULL OR lease_until <= $1::timestamp)
    ORDER BY next_attempt_at LIMIT 1
    FOR UPDATE SKIP LOCKED)
  RETURNING endpoint_id, event_id, attempt)
SELECT e.id, e.type, e.occurred_at, e.data, c.endpoint_id, w.url, w.secret, c.attempt
FROM claimed c
JOIN webhook_endpoints w ON w.id = c.endpoint_id
JOIN events e ON e.id = c.event_id)sql";
constexpr char kRecordDeliveryAttempt[] = R"sql(
UPDATE webhook_deliveries SET attempt = attempt + 1, status = $4, response_status = $5,
  last_attempt_at = $6, next_attempt_at = $7, lease_owner = NULL, lease_until = NULL
WHERE endpoint_id = $1 AND event_id = $2 AND lease_owner = $3)sql";
constexpr char kReleaseDelivery[] = R"sql(
UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL
WHERE endpoint_id = $1 AND event_id = $2 AND lease_owner = $3)sql";

// Where a keyset page starts: after page.after, or above every row (the first page).
struct PageBound {
  std::string created_at;
  std::string id;
  int limit;
};
PageBound BoundOf(const domain::PageRequest& page) {
  if (!page.after) {
    return {"infinity", "ffffffff-ffff-ffff-ffff-ffffffffffff", std::max(page.limit, 0)};
  }
  return {FormatIso8601(page.after->created_at), page.after->id, std::max(page.limit, 0)};
}
// The same for a list whose tie-breaker is a sequence number.
std::int64_t SeqBoundOf(const domain::PageRequest& page) {
  return page.after ? std::stoll(page.after->id) : INT64_MAX;
}

// A transaction id as PostgreSQL prints an xid8.
std::uint64_t ParseTxId(const std::string& text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw StorageError(StorageError::Kind::kCorrupt, "malformed tx_id in an events row");
  }
  return value;
}

// The period's first instant, or the beginning of time.
std::string SinceParam(std::optional<int> window_days, TimePoint now) {
  if (!window_days) return "-infinity";
  return FormatIso8601(StartOfDayNumber(UtcDayNumber(now) - (*window_days - 1)));
}

// Rolls a failed transaction back, so the connection returns to the pool clean. A broken
// connection is dropped by its lease instead.
void RollbackQuietly(Connection& conn, Clock::time_point deadline) {
  if (conn.broken()) return;
  try {
    conn.ExecScript(kRollback, deadline);
  } catch (const StorageError&) {
    // The lease closes a connection left inside a transaction.
  }
}

}  // namespace

// --- the steps of a write transaction, on one pooled connection ---------------------------------

class PostgresStore::Tx final : public domain::WriteTx {
 public:
  Tx(Connection& conn, Clock::time_point deadline, int shards)
      : conn_(conn), deadline_(deadline), shards_(shards), guard_(kBackend) {}

  [[nodiscard]] const StepGuard& Guard() const { return guard_; }

  Status UpsertUser(const domain::Actor& actor, TimePoint now) override {
    return guard_("UpsertUser", [&]() -> Status {
      const auto result = conn_.Query(kUpsertUser, deadline_, actor.id, actor.email, now);
      if (result.rows() > 0 && !result.row(0).IsNull(0)) return domain::errors::UserErased();
      return {};
    });
  }

  Result<std::optional<domain::ErasedUser>> MarkUserErased(const std::string& user_id,
                                                           TimePoint now) override {
    return guard_("MarkUserErased", [&]() -> Result<std::optional<domain::ErasedUser>> {
      const auto locked = conn_.Query(kLockUserState, deadline_, user_id);
      if (locked.rows() == 0) return std::optional<domain::ErasedUser>();
      domain::ErasedUser erased;
      erased.email = locked.row(0).OptText(0);
      const auto before = locked.row(0).OptTime(1);
      erased.already_erased = before.has_value();
      erased.erased_at = before.value_or(now);
      conn_.Query(kMarkUserErased, deadline_, user_id, now);
      return std::optional<domain::ErasedUser>(std::move(erased));
    });
  }

  Status ScrubEmail(const std::string& email) override {
    return guard_("ScrubEmail", [&]() -> Status {
      const std::string in_json = codec::JsonStringContent(email);
      const std::string placeholder(domain::kErasedPlaceholder);
      conn_.Query(kScrubAudit, deadline_, in_json, email, placeholder);
      conn_.Query(kScrubEvents, deadline_, in_json, placeholder);
      conn_.Query(kScrubIdempotencyKeys, deadline_, in_json, placeholder);
      return {};
    });
  }

  Result<std::int64_t> DeactivateCodesOf(const std::string& user_id) override {
    return guard_("DeactivateCodesOf", [&]() -> Result<std::int64_t> {
      const std::int64_t deactivated =
          conn_.Query(kDeactivateCodesOfUser, deadline_, user_id).affected();
      CodesDeactivated(deactivated);
      return deactivated;
    });
  }

  Status DeleteIdempotencyKeysOf(const std::string& user_id) override {
    return guard_("DeleteIdempotencyKeysOf", [&]() -> Status {
      conn_.Query(kDeleteIdempotencyKeysOfUser, deadline_, user_id);
      return {};
    });
  }

  Result<std::optional<TimePoint>> LockPremiumUntil(const std::string& user_id) override {
    return guard_("LockPremiumUntil", [&]() -> Result<std::optional<TimePoint>> {
      const auto result = conn_.Query(kLockPremiumUntil, deadline_, user_id);
      if (result.rows() == 0) return std::optional<TimePoint>();
      return result.row(0).OptTime(0);
    });
  }

  Status SetPremiumUntil(const std::string& user_id, TimePoint until) override {
    return guard_("SetPremiumUntil", [&]() -> Status {
      conn_.Query(kUpdatePremiumUntil, deadline_, user_id, until);
      return {};
    });
  }

  Status LockUserPair(const std::string& a, const std::string& b) override {
    return guard_("LockUserPair", [&]() -> Status {
      conn_.Query(kLockUserPair, deadline_, a, b);
      return {};
    });
  }

  Result<std::optional<domain::ReferralCode>> FindActiveCode(const std::string& user_id) override {
    return guard_("FindActiveCode", [&]() -> Result<std::optional<domain::ReferralCode>> {
      return First<domain::ReferralCode>(conn_.Query(kSelectActiveCodeOfUser, deadline_, user_id),
                                         ReadCode);
    });
  }

  Status DeactivateCode(const std::string& code_id) override {
    return guard_("DeactivateCode", [&]() -> Status {
      CodesDeactivated(conn_.Query(kDeactivateCode, deadline_, code_id).affected());
      return {};
    });
  }

  Result<domain::CodeInsert> InsertCode(const domain::ReferralCode& code) override {
    return guard_("InsertCode", [&]() -> Result<domain::CodeInsert> {
      const auto inserted = conn_.Query(kInsertCode, deadline_, code.id, code.user_id, code.code,
                                        code.created_at, code.expires_at);
      if (inserted.affected() == 1) {
        conn_.Query(kProgramCode, deadline_, ShardOf(code.user_id, shards_));
        return domain::CodeInsert::kInserted;
      }
      if (conn_.Query(kSelectCodeTaken, deadline_, code.code).rows() > 0) {
        return domain::CodeInsert::kCodeTaken;
      }
      return domain::CodeInsert::kUserHasActiveCode;
    });
  }

  Result<std::optional<domain::ReferralCode>> FindCodeByText(const std::string& code) override {
    return guard_("FindCodeByText", [&]() -> Result<std::optional<domain::ReferralCode>> {
      return First<domain::ReferralCode>(conn_.Query(kSelectCodeByText, deadline_, code), ReadCode);
    });
  }

  Result<std::int64_t> ExpireCodes(TimePoint now) override {
    return guard_("ExpireCodes", [&]() -> Result<std::int64_t> {
      const std::int64_t expired = conn_.Query(kExpireCodes, deadline_, now).affected();
      CodesDeactivated(expired);
      return expired;
    });
  }

  Result<std::optional<domain::Referral>> FindReferralOf(const std::string& user_id) override {
    return guard_("FindReferralOf", [&]() -> Result<std::optional<domain::Referral>> {
      return First<domain::Referral>(conn_.Query(kSelectReferralOfReferred, deadline_, user_id),
                                     ReadReferral);
    });
  }

  Result<bool> InsertReferral(const domain::Referral& r) override {
    return guard_("InsertReferral", [&]() -> Result<bool> {
      if (conn_
              .Query(kInsertReferral, deadline_, r.id, r.referrer_user_id, r.referred_user_id,
                     r.referral_code_id, r.created_at)
              .affected() != 1) {
        return false;
      }
      Tracked(r);
      return true;
    });
  }

  Result<std::optional<domain::Referral>> ConvertPendingReferral(const std::string& user_id,
                                                                 TimePoint now) override {
    return guard_("ConvertPendingReferral", [&]() -> Result<std::optional<domain::Referral>> {
      auto referral = First<domain::Referral>(
          conn_.Query(kConvertPendingReferral, deadline_, user_id, now), ReadReferral);
      if (referral) Converted(*referral);
      return referral;
    });
  }

  Status InsertReward(const domain::Reward& reward) override {
    return guard_("InsertReward", [&]() -> Status {
      conn_.Query(kInsertReward, deadline_, reward.id, reward.user_id,
                  std::string(domain::ToString(reward.type)),
                  codec::EncodeRewardValue(reward.value), reward.is_claimed, reward.created_at,
                  reward.claimed_at, reward.expires_at, reward.source_referral_id,
                  reward.claimable_at);
      Rewarded(reward);
      return {};
    });
  }

  Result<std::optional<domain::Reward>> FindReward(const std::string& reward_id) override {
    return guard_("FindReward", [&]() -> Result<std::optional<domain::Reward>> {
      return First<domain::Reward>(conn_.Query(kSelectReward, deadline_, reward_id), ReadReward);
    });
  }

  Result<bool> MarkRewardClaimed(const std::string& reward_id, const std::string& user_id,
                                 TimePoint now) override {
    return guard_("MarkRewardClaimed", [&]() -> Result<bool> {
      return conn_.Query(kClaimReward, deadline_, reward_id, user_id, now).affected() == 1;
    });
  }

  Result<bool> InsertBadge(const domain::Reward& badge, std::int64_t threshold) override {
    return guard_("InsertBadge", [&]() -> Result<bool> {
      if (conn_
              .Query(kInsertBadge, deadline_, badge.id, badge.user_id,
                     codec::EncodeRewardValue(badge.value), badge.created_at, threshold)
              .affected() != 1) {
        return false;
      }
      Rewarded(badge);
      return true;
    });
  }

  Result<bool> InsertClick(const domain::Click& click) override {
    return guard_("InsertClick", [&]() -> Result<bool> {
      const auto result =
          conn_.Query(kInsertClick, deadline_, click.code_id, click.day, click.visitor,
                      click.referrer_user_id, ShardOf(click.referrer_user_id, shards_));
      return result.row(0).Int(0) == 1;
    });
  }

  Result<std::optional<domain::Reward>> RevokeHeldReward(const std::string& source_referral_id,
                                                         TimePoint now) override {
    return guard_("RevokeHeldReward", [&]() -> Result<std::optional<domain::Reward>> {
      auto reward = First<domain::Reward>(
          conn_.Query(kRevokeHeldReward, deadline_, source_referral_id, now), ReadReward);
      if (reward) conn_.Query(kReferrerRewardRevoked, deadline_, reward->user_id);
      return reward;
    });
  }

  Result<std::optional<domain::Subscription>> CancelActiveSubscription(
      const std::string& user_id, TimePoint now, bool refund,
      const std::optional<std::string>& reason) override {
    return guard_("CancelActiveSubscription", [&]() -> Result<std::optional<domain::Subscription>> {
      return First<domain::Subscription>(
          conn_.Query(kCancelActiveSubscription, deadline_, user_id, now, refund, reason),
          ReadSubscription);
    });
  }

  Result<bool> InsertSubscription(const domain::Subscription& s) override {
    return guard_("InsertSubscription", [&]() -> Result<bool> {
      return conn_
                 .Query(kInsertSubscription, deadline_, s.id, s.user_id, s.tier, s.status,
                        s.provider, s.provider_ref, s.created_at)
                 .affected() == 1;
    });
  }

  Result<bool> ClaimScheduledRun(const std::string& job, TimePoint slot, TimePoint now) override {
    return guard_("ClaimScheduledRun", [&]() -> Result<bool> {
      return conn_.Query(kClaimJobRun, deadline_, job, slot, now).affected() == 1;
    });
  }

  Result<std::int64_t> RefreshAggregates(std::int64_t today) override {
    return guard_("RefreshAggregates", [&]() -> Result<std::int64_t> {
      std::int64_t refreshed = 0;
      for (const int window : domain::kWindowLengths) {
        conn_.Query(kLockStaleWindows, deadline_, window, today);
        refreshed += conn_.Query(kRecountStaleWindows, deadline_, window, today).affected();
        refreshed += conn_.Query(kDropEmptyWindows, deadline_, window, today).affected();
      }
      return refreshed;
    });
  }

  Result<bool> InsertIdempotencyKey(const domain::IdempotencyRecord& r) override {
    return guard_("InsertIdempotencyKey", [&]() -> Result<bool> {
      const auto c = ResponseColumnsOf(r);
      return conn_
                 .Query(kInsertIdempotencyKey, deadline_, r.user_id, r.key, r.method, r.path,
                        r.body_sha256, domain::ToString(r.state), r.owner, r.lease_until,
                        r.created_at, c.completed_at, c.status, c.headers, c.body)
                 .affected() == 1;
    });
  }

  Result<std::optional<domain::IdempotencyRecord>> FindIdempotencyKey(
      const std::string& user_id, const std::string& key) override {
    return guard_("FindIdempotencyKey", [&]() -> Result<std::optional<domain::IdempotencyRecord>> {
      return First<domain::IdempotencyRecord>(
          conn_.Query(kSelectIdempotencyKey, deadline_, user_id, key), ReadIdempotencyRecord);
    });
  }

  Result<bool> ReplaceIdempotencyKey(const domain::IdempotencyRecord& r,
                                     const std::string& expected_owner) override {
    return guard_("ReplaceIdempotencyKey", [&]() -> Result<bool> {
      const auto c = ResponseColumnsOf(r);
      return conn_
                 .Query(kReplaceIdempotencyKey, deadline_, r.user_id, r.key, r.method, r.path,
                        r.body_sha256, domain::ToString(r.state), r.owner, r.lease_until,
                        r.created_at, c.completed_at, c.status, c.headers, c.body, expected_owner)
                 .affected() == 1;
    });
  }

  Result<std::int64_t> DeleteExpiredIdempotencyKeys(TimePoint cutoff, TimePoint now,
                                                    int limit) override {
    return guard_("DeleteExpiredIdempotencyKeys", [&]() -> Result<std::int64_t> {
      return conn_.Query(kDeleteExpiredIdempotencyKeys, deadline_, cutoff, now, limit).affected();
    });
  }

  Status AppendAudit(const domain::AuditEntry& e) override {
    return guard_("AppendAudit", [&]() -> Status {
      conn_.Query(kInsertAudit, deadline_, e.id, e.service, e.action, domain::ToString(e.status),
                  e.user_id, codec::EncodeDetails(e.details), e.error_message, e.created_at);
      return {};
    });
  }

  Status AppendEvent(const domain::Event& e) override {
    return guard_("AppendEvent", [&]() -> Status {
      conn_.Query(kInsertEvent, deadline_, e.id, domain::ToString(e.type()), e.occurred_at,
                  codec::EncodeEventData(e.data));
      return {};
    });
  }

 private:
  // --- the aggregates each step keeps, in its transaction ---

  void CodesDeactivated(std::int64_t count) {
    if (count > 0) conn_.Query(kProgramCodesDeactivated, deadline_, 0, count);
  }

  void Tracked(const domain::Referral& r) {
    const std::int64_t day = UtcDayNumber(r.created_at);
    const int shard = ShardOf(r.referrer_user_id, shards_);
    conn_.Query(kReferrerTracked, deadline_, r.referrer_user_id);
    conn_.Query(kReferrerDayTracked, deadline_, r.referrer_user_id, day);
    TouchWindows(r.referrer_user_id, day, day, 1, 0);
    conn_.Query(kProgramDaySignup, deadline_, day, shard);
    conn_.Query(kProgramReferral, deadline_, shard);
  }

  void Converted(const domain::Referral& r) {
    const std::int64_t created = UtcDayNumber(r.created_at);
    const std::int64_t converted = UtcDayNumber(r.converted_at.value_or(r.created_at));
    const int shard = ShardOf(r.referrer_user_id, shards_);
    conn_.Query(kReferrerConverted, deadline_, r.referrer_user_id);
    conn_.Query(kReferrerDayConverted, deadline_, r.referrer_user_id, created);
    TouchWindows(r.referrer_user_id, created, converted, 0, 1);
    conn_.Query(kProgramDayCohortConversion, deadline_, created, shard);
    conn_.Query(kProgramDayConversion, deadline_, converted, shard);
    conn_.Query(kProgramConverted, deadline_, shard);
  }

  // The referrer's window rows after a change (referrals, conversions) to a referral created on
  // `created_day`, made on `today`; referrer_daily already holds it.
  void TouchWindows(const std::string& user_id, std::int64_t created_day, std::int64_t today,
                    std::int64_t referrals, std::int64_t conversions) {
    for (const int window : domain::kWindowLengths) {
      // At most twice: a row inserted concurrently is locked and looked at again.
      for (int attempt = 0; attempt < 2; ++attempt) {
        const auto locked = conn_.Query(kLockWindow, deadline_, window, user_id);
        std::optional<std::int64_t> as_of_day;
        if (locked.rows() > 0) as_of_day = locked.row(0).Int(0);
        const WindowTouch touch = DecideWindowTouch(window, as_of_day, created_day, today);
        if (touch == WindowTouch::kInsert) {
          if (conn_.Query(kInsertWindowCounted, deadline_, window, user_id, today).rows() > 0) {
            break;
          }
          continue;  // inserted by another transaction since, or nothing to count
        }
        if (touch == WindowTouch::kRecount) {
          conn_.Query(kRecountWindow, deadline_, window, user_id, today);
        } else if (touch == WindowTouch::kIncrement) {
          conn_.Query(kIncrementWindow, deadline_, window, user_id, referrals, conversions);
        }
        break;
      }
    }
  }

  void Rewarded(const domain::Reward& reward) {
    const int shard = ShardOf(reward.user_id, shards_);
    conn_.Query(kReferrerReward, deadline_, reward.user_id);
    conn_.Query(kProgramDayReward, deadline_, UtcDayNumber(reward.created_at), shard);
    conn_.Query(kProgramReward, deadline_, shard);
  }

  template <typename T, typename Reader>
  static std::optional<T> First(const postgres::PgResult& result, Reader read) {
    if (result.rows() == 0) return std::nullopt;
    return read(result.row(0));
  }

  Connection& conn_;
  Clock::time_point deadline_;
  int shards_;
  StepGuard guard_;
};

// --- the store ----------------------------------------------------------------------------------

PostgresStore::PostgresStore(PostgresOptions options)
    : options_(std::move(options)),
      pool_(std::make_unique<postgres::Pool>(options_.url, options_.pool_size, options_.timeout)) {}

PostgresStore::~PostgresStore() = default;

Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(const PostgresOptions& options) {
  std::unique_ptr<PostgresStore> store(new PostgresStore(options));
  if (Status migrated = store->Migrate(); !migrated) return migrated.error();
  return {std::move(store)};
}

Clock::time_point PostgresStore::Deadline() const { return Clock::now() + options_.timeout; }

Status PostgresStore::Migrate() {
  return Guarded(kBackend, "Migrate", [&]() -> Status {
    // A connection of its own, without statement or lock timeouts: waiting for another instance's
    // migrations, or running a long one, is bounded by migration_timeout instead.
    const auto deadline = Clock::now() + options_.migration_timeout;
    auto conn = Connection::Open(options_.url, deadline, std::chrono::milliseconds(0));
    conn->ExecScript(kLockMigrations, deadline);
    conn->ExecScript(kCreateSchemaMigrations, deadline);
    const auto all = options_.migrations;
    std::vector<Migration> pending(all.begin(), all.end());
    std::sort(pending.begin(), pending.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    // Every pending migration in one transaction, and the aggregates rebuilt once at its end when
    // any of them asks for it: the rebuild is today's code, which knows only the latest schema,
    // and a crash half-way leaves nothing half-migrated.
    conn->ExecScript(kBegin, deadline);
    bool rebuild = false;
    std::vector<std::string_view> applied;
    for (const Migration& migration : pending) {
      if (migration.sql.empty()) continue;
      if (conn->Query(kSelectMigrationApplied, deadline, migration.version).rows() > 0) continue;
      conn->ExecScript(migration.sql, deadline);
      rebuild = rebuild || migration.sql.find(kRebuildAggregatesMarker) != std::string_view::npos;
      conn->Query(kInsertMigration, deadline, migration.version, std::string(migration.name));
      applied.push_back(migration.name);
    }
    if (rebuild) RebuildAggregatesIn(*conn, options_.now(), deadline);
    conn->ExecScript(kCommit, deadline);
    for (const auto name : applied) spdlog::info("postgres: applied migration {}", name);
    conn->ExecScript(kUnlockMigrations, deadline);
    return {};
  });
}

Status PostgresStore::Write(const std::function<Status(domain::WriteTx&)>& work) {
  return Guarded(kBackend, "Write", [&]() -> Status {
    const auto deadline = Deadline();
    for (int attempt = 1;; ++attempt) {
      Lease lease = pool_->Acquire(deadline);
      lease->ExecScript(kBegin, deadline);
      Tx steps(*lease, deadline, options_.aggregate_shards);
      Status done = work(steps);
      if (!done) {
        RollbackQuietly(*lease, deadline);
        const bool retry = steps.Guard().failure() == StorageError::Kind::kRetry;
        if (retry && attempt < kMaxAttempts) continue;
        return done;
      }
      try {
        lease->ExecScript(kCommit, deadline);
      } catch (const StorageError& e) {
        if (e.kind() == StorageError::Kind::kRetry && attempt < kMaxAttempts) continue;
        throw;
      }
      return {};
    }
  });
}

Status PostgresStore::Ping() {
  Status status = Guarded(kBackend, "Ping", [&]() -> Status {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    lease->Query(kPing, deadline);
    return {};
  });
  if (!status) return domain::errors::StorageUnavailable();
  return status;
}

Result<std::optional<domain::User>> PostgresStore::FindUser(const std::string& user_id) {
  return Guarded(kBackend, "FindUser", [&]() -> Result<std::optional<domain::User>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    const auto result = lease->Query(kSelectUser, deadline, user_id);
    if (result.rows() == 0) return std::optional<domain::User>();
    return std::optional<domain::User>(ReadUser(result.row(0)));
  });
}

Result<std::optional<domain::IdempotencyRecord>> PostgresStore::FindIdempotencyKey(
    const std::string& user_id, const std::string& key) {
  return Guarded(
      kBackend, "FindIdempotencyKey", [&]() -> Result<std::optional<domain::IdempotencyRecord>> {
        const auto deadline = Deadline();
        Lease lease = pool_->Acquire(deadline);
        const auto result = lease->Query(kSelectIdempotencyKey, deadline, user_id, key);
        if (result.rows() == 0) return std::optional<domain::IdempotencyRecord>();
        return std::optional<domain::IdempotencyRecord>(ReadIdempotencyRecord(result.row(0)));
      });
}

Result<std::optional<domain::ReferralCode>> PostgresStore::FindNewestCode(
    const std::string& user_id) {
  return Guarded(kBackend, "FindNewestCode", [&]() -> Result<std::optional<domain::ReferralCode>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    const auto result = lease->Query(kSelectNewestCode, deadline, user_id);
    if (result.rows() == 0) return std::optional<domain::ReferralCode>();
    return std::optional<domain::ReferralCode>(ReadCode(result.row(0)));
  });
}

Result<std::optional<domain::LinkLookup>> PostgresStore::LookupLink(const std::string& code,
                                                                    std::int64_t day,
                                                                    const std::string& visitor) {
  return Guarded(kBackend, "LookupLink", [&]() -> Result<std::optional<domain::LinkLookup>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    const auto result = lease->Query(kSelectLink, deadline, code, day, visitor);
    if (result.rows() == 0) return std::optional<domain::LinkLookup>();
    const auto row = result.row(0);
    return std::optional<domain::LinkLookup>(domain::LinkLookup{ReadCode(row), row.Bool(6)});
  });
}

Result<std::optional<domain::Subscription>> PostgresStore::FindActiveSubscription(
    const std::string& user_id) {
  return Guarded(kBackend, "FindActiveSubscription",
                 [&]() -> Result<std::optional<domain::Subscription>> {
                   const auto deadline = Deadline();
                   Lease lease = pool_->Acquire(deadline);
                   const auto result = lease->Query(kSelectActiveSubscription, deadline, user_id);
                   if (result.rows() == 0) return std::optional<domain::Subscription>();
                   return std::optional<domain::Subscription>(ReadSubscription(result.row(0)));
                 });
}

Result<std::optional<domain::Subscription>> PostgresStore::FindNewestSubscription(
    const std::string& user_id) {
  return Guarded(kBackend, "FindNewestSubscription",
                 [&]() -> Result<std::optional<domain::Subscription>> {
                   const auto deadline = Deadline();
                   Lease lease = pool_->Acquire(deadline);
                   const auto result = lease->Query(kSelectNewestSubscription, deadline, user_id);
                   if (result.rows() == 0) return std::optional<domain::Subscription>();
                   return std::optional<domain::Subscription>(ReadSubscription(result.row(0)));
                 });
}

Result<std::optional<domain::UserExport>> PostgresStore::ExportUser(const std::string& user_id) {
  return Guarded(kBackend, "ExportUser", [&]() -> Result<std::optional<domain::UserExport>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    // One snapshot for every part of the document.
    lease->ExecScript("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", deadline);
    std::optional<domain::UserExport> out;
    try {
      const auto user = lease->Query(kSelectUser, deadline, user_id);
      if (user.rows() > 0) {
        out.emplace();
        out->user = ReadUser(user.row(0));
        const auto each = [&](const char* sql, const auto& add) {
          const auto result = lease->Query(sql, deadline, user_id);
          for (int i = 0; i < result.rows(); ++i) add(result.row(i));
        };
        each(kSelectCodesOfUser, [&](const auto& row) { out->codes.push_back(ReadCode(row)); });
        each(kSelectReferralsMade,
             [&](const auto& row) { out->referrals_made.push_back(ReadReferral(row)); });
        each(kSelectReferralOfReferred,
             [&](const auto& row) { out->referred_by = ReadReferral(row); });
        each(kSelectRewardsOfUser,
             [&](const auto& row) { out->rewards.push_back(ReadReward(row)); });
        each(kSelectSubscriptionsOfUser,
             [&](const auto& row) { out->subscriptions.push_back(ReadSubscription(row)); });
        each(kSelectAuditAboutUser,
             [&](const auto& row) { out->automation_logs.push_back(ReadAudit(row)); });
        each(kSelectEventsAboutUser,
             [&](const auto& row) { out->events.push_back(ReadEvent(row)); });
      }
    } catch (const StorageError&) {
      RollbackQuietly(*lease, deadline);
      throw;
    }
    lease->ExecScript(kCommit, deadline);
    return out;
  });
}

Result<std::vector<domain::Reward>> PostgresStore::ListRewards(const std::string& user_id,
                                                               const domain::PageRequest& page) {
  return Guarded(kBackend, "ListRewards", [&]() -> Result<std::vector<domain::Reward>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    const PageBound bound = BoundOf(page);
    const auto result = lease->Query(kSelectRewardsPage, deadline, user_id, bound.created_at,
                                     bound.id, bound.limit);
    std::vector<domain::Reward> rewards;
    rewards.reserve(static_cast<std::size_t>(result.rows()));
    for (int i = 0; i < result.rows(); ++i) rewards.push_back(ReadReward(result.row(i)));
    return rewards;
  });
}

Result<std::vector<domain::ReferralListing>> PostgresStore::ListReferrals(
    const domain::ReferralFilter& filter, const domain::PageRequest& page) {
  return Guarded(kBackend, "ListReferrals", [&]() -> Result<std::vector<domain::ReferralListing>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    const PageBound bound = BoundOf(page);
    std::optional<std::string> status;
    if (filter.status) status = std::string(domain::ToString(*filter.status));
    const auto result =
        filter.referrer_user_id
            ? lease->Query(kSelectReferralsOfReferrerPage, deadline, *filter.referrer_user_id,
                           status, bound.created_at, bound.id, bound.limit)
            : lease->Query(kSelectReferralsPage, deadline, status, bound.created_at, bound.id,
                           bound.limit);
    std::vector<domain::ReferralListing> rows;
    rows.reserve(static_cast<std::size_t>(result.rows()));
    for (int i = 0; i < result.rows(); ++i) rows.push_back(ReadReferralListing(result.row(i)));
    return rows;
  });
}

Result<std::optional<domain::Referral>> PostgresStore::FindReferralOf(const std::string& user_id) {
  return Guarded(kBackend, "FindReferralOf", [&]() -> Result<std::optional<domain::Referral>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    const auto result = lease->Query(kSelectReferralOfReferred, deadline, user_id);
    if (result.rows() == 0) return std::optional<domain::Referral>();
    return std::optional<domain::Referral>(ReadReferral(result.row(0)));
  });
}

Result<domain::ReferrerStats> PostgresStore::GetReferrerStats(const std::string& user_id) {
  return Guarded(kBackend, "GetReferrerStats", [&]() -> Result<domain::ReferrerStats> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    const auto result = lease->Query(kSelectReferrerStats, deadline, user_id);
    domain::ReferrerStats stats;
    if (result.rows() > 0) {
      const auto row = result.row(0);
      stats.total_referrals = row.Int(0);
      stats.converted_referrals = row.Int(1);
      stats.pending_referrals = row.Int(2);
      stats.total_rewards_earned = row.Int(3);
      stats.revoked_conversions = row.Int(4);
      stats.clicks = row.Int(5);
    }
    return stats;
  });
}

Result<std::vector<domain::LeaderboardEntry>> PostgresStore::Leaderboard(
    std::optional<int> window_days, TimePoint now, int limit) {
  return Guarded(kBackend, "Leaderboard", [&]() -> Result<std::vector<domain::LeaderboardEntry>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    std::vector<domain::LeaderboardEntry> rows;
    if (!window_days) {
      const auto result = lease->Query(kSelectLeaderboardAll, deadline, std::max(limit, 0));
      rows.reserve(static_cast<std::size_t>(result.rows()));
      for (int i = 0; i < result.rows(); ++i) rows.push_back(ReadLeaderboardEntry(result.row(i)));
      return rows;
    }
    // Rows past the first `limit` are needed only where stale rows overstate; read more until
    // WindowTop is sure (the whole window at worst).
    const std::int64_t today = UtcDayNumber(now);
    constexpr std::int64_t kAll = std::int64_t{1} << 50;  // more rows than any window holds
    for (std::int64_t batch = std::int64_t{std::max(limit, 0)} + 16;;
         batch = std::min(batch * 4, kAll)) {
      const auto result = lease->Query(kSelectWindowRanked, deadline, *window_days, today, batch);
      WindowTop top(limit);
      bool sure = result.rows() < batch;  // the whole window was read
      for (int i = 0; i < result.rows(); ++i) {
        const auto row = result.row(i);
        domain::LeaderboardEntry entry = ReadLeaderboardEntry(row);
        if (!top.MayEnter(row.Int(5), row.Int(4), entry.user_id)) {
          sure = true;
          break;
        }
        top.Add(std::move(entry));
      }
      if (sure) return std::move(top).Take();
    }
  });
}

Result<domain::AnalyticsCounts> PostgresStore::Analytics(std::optional<int> window_days,
                                                         TimePoint now) {
  return Guarded(kBackend, "Analytics", [&]() -> Result<domain::AnalyticsCounts> {
    const auto deadline = Deadline();
    const std::int64_t today = UtcDayNumber(now);
    // All time reads the totals; an empty day range leaves the window's sums unused.
    const std::int64_t first = window_days ? today - (*window_days - 1) : today + 1;
    Lease lease = pool_->Acquire(deadline);
    const auto result = lease->Query(kSelectAnalytics, deadline, first, today, now);
    const auto row = result.row(0);
    domain::AnalyticsCounts counts;
    counts.total_referrals = window_days ? row.Int(5) : row.Int(0);
    counts.converted_referrals = window_days ? row.Int(6) : row.Int(1);
    counts.total_rewards_awarded = window_days ? row.Int(7) : row.Int(2);
    counts.active_codes = row.Int(4) - row.Int(8);
    counts.expired_codes = row.Int(3) - counts.active_codes;
    counts.clicks = window_days ? row.Int(10) : row.Int(9);
    return counts;
  });
}

Result<std::vector<domain::DailyCount>> PostgresStore::DailyCounts(std::int64_t first_day,
                                                                   std::int64_t last_day) {
  return Guarded(kBackend, "DailyCounts", [&]() -> Result<std::vector<domain::DailyCount>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    const auto result = lease->Query(kSelectDailyCounts, deadline, first_day, last_day);
    std::vector<domain::DailyCount> out;
    for (int i = 0; i < result.rows(); ++i) {
      const auto row = result.row(i);
      out.push_back(domain::DailyCount{FormatDate(StartOfDayNumber(row.Int(0))), row.Int(1),
                                       row.Int(2), row.Int(3)});
    }
    return out;
  });
}

Result<std::vector<std::string>> PostgresStore::BadgeCandidates(std::int64_t threshold) {
  return Guarded(kBackend, "BadgeCandidates", [&]() -> Result<std::vector<std::string>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    const auto result = lease->Query(kSelectBadgeCandidates, deadline, threshold);
    std::vector<std::string> users;
    users.reserve(static_cast<std::size_t>(result.rows()));
    for (int i = 0; i < result.rows(); ++i) users.push_back(result.row(i).Text(0));
    return users;
  });
}

Result<std::vector<domain::AuditEntry>> PostgresStore::ListAudit(
    const std::optional<std::string>& service, const domain::PageRequest& page) {
  return Guarded(kBackend, "ListAudit", [&]() -> Result<std::vector<domain::AuditEntry>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    const PageBound bound = BoundOf(page);
    const auto result =
        service ? lease->Query(kSelectAuditOfService, deadline, bound.created_at, bound.id,
                               bound.limit, *service)
                : lease->Query(kSelectAudit, deadline, bound.created_at, bound.id, bound.limit);
    std::vector<domain::AuditEntry> entries;
    entries.reserve(static_cast<std::size_t>(result.rows()));
    for (int i = 0; i < result.rows(); ++i) entries.push_back(ReadAudit(result.row(i)));
    return entries;
  });
}

Result<domain::EventPage> PostgresStore::ListEvents(const domain::EventPosition& after,
                                                    std::optional<domain::EventType> type,
                                                    int limit) {
  return Guarded(kBackend, "ListEvents", [&]() -> Result<domain::EventPage> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    const std::string tx = std::to_string(after.tx);
    const auto result =
        type ? lease->Query(kSelectEventsOfType, deadline, domain::ToString(*type), tx, after.seq,
                            std::max(limit, 0))
             : lease->Query(kSelectEvents, deadline, tx, after.seq, std::max(limit, 0));
    domain::EventPage page{{}, after};
    page.events.reserve(static_cast<std::size_t>(result.rows()));
    for (int i = 0; i < result.rows(); ++i) {
      const auto row = result.row(i);
      page.events.push_back(ReadEvent(row));
      page.next = domain::EventPosition{ParseTxId(row.Text(4)), row.Int(5)};
    }
    return page;
  });
}

// --- webhooks
// -------------------------------------------------------------------------------------

Status PostgresStore::InsertWebhook(const domain::WebhookEndpoint& endpoint) {
  return Guarded(kBackend, "InsertWebhook", [&]() -> Status {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    std::optional<std::string> types;
    if (endpoint.event_types) types = codec::EncodeEventTypes(*endpoint.event_types);
    lease->Query(kInsertWebhook, deadline, endpoint.id, endpoint.url, types, endpoint.description,
                 endpoint.secret, endpoint.created_at);
    return {};
  });
}

Result<std::vector<domain::WebhookEndpoint>> PostgresStore::ListWebhooks() {
  return Guarded(kBackend, "ListWebhooks", [&]() -> Result<std::vector<domain::WebhookEndpoint>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    const auto result = lease->Query(kSelectWebhooks, deadline);
    std::vector<domain::WebhookEndpoint> endpoints;
    endpoints.reserve(static_cast<std::size_t>(result.rows()));
    for (int i = 0; i < result.rows(); ++i) endpoints.push_back(ReadWebhook(result.row(i)));
    return endpoints;
  });
}

Result<std::optional<domain::WebhookEndpoint>> PostgresStore::FindWebhook(const std::string& id) {
  return Guarded(kBackend, "FindWebhook", [&]() -> Result<std::optional<domain::WebhookEndpoint>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    const auto result = lease->Query(kSelectWebhook, deadline, id);
    if (result.rows() == 0) return std::optional<domain::WebhookEndpoint>();
    return std::optional<domain::WebhookEndpoint>(ReadWebhook(result.row(0)));
  });
}

Result<bool> PostgresStore::DeleteWebhook(const std::string& id) {
  return Guarded(kBackend, "DeleteWebhook", [&]() -> Result<bool> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    return lease->Query(kDeleteWebhook, deadline, id).affected() == 1;
  });
}

Result<std::vector<domain::WebhookDelivery>> PostgresStore::ListDeliveries(
    const std::string& endpoint_id, const domain::PageRequest& page) {
  return Guarded(kBackend, "ListDeliveries", [&]() -> Result<std::vector<domain::WebhookDelivery>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    const PageBound bound = BoundOf(page);
    const auto result = lease->Query(kSelectDeliveries, deadline, endpoint_id, bound.created_at,
                                     SeqBoundOf(page), bound.limit);
    std::vector<domain::WebhookDelivery> deliveries;
    deliveries.reserve(static_cast<std::size_t>(result.rows()));
    for (int i = 0; i < result.rows(); ++i) deliveries.push_back(ReadDelivery(result.row(i)));
    return deliveries;
  });
}

Result<domain::FanOutResult> PostgresStore::FanOutEvents(TimePoint now, int batch) {
  return Guarded(kBackend, "FanOutEvents", [&]() -> Result<domain::FanOutResult> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    std::vector<std::string> ids;
    {
      const auto behind = lease->Query(kSelectWebhooksBehind, deadline);
      for (int i = 0; i < behind.rows(); ++i) ids.push_back(behind.row(i).Text(0));
    }
    domain::FanOutResult result;
    for (const std::string& id : ids) {
      lease->ExecScript(kBegin, deadline);
      try {
        const auto cursor = lease->Query(kLockWebhookCursor, deadline, id);
        if (cursor.rows() == 0) {  // deleted, or another instance is at it
          lease->ExecScript(kRollback, deadline);
          continue;
        }
        const auto row = cursor.row(0);
        const auto page = lease->Query(kFanOutPage, deadline, id, row.Text(0), row.Int(1),
                                       std::max(batch, 0), now);
        const auto counts = page.row(0);
        if (counts.Int(2) != 1) {  // nothing listed after the cursor (or it moved): no change
          lease->ExecScript(kRollback, deadline);
          continue;
        }
        lease->ExecScript(kCommit, deadline);
        result.created += counts.Int(0);
        result.more = result.more || counts.Int(1) >= batch;
      } catch (const StorageError&) {
        RollbackQuietly(*lease, deadline);
        throw;
      }
    }
    return result;
  });
}

Result<std::optional<std::int64_t>> PostgresStore::RequeueDeliveries(
    const std::string& endpoint_id, const domain::EventPosition& after, TimePoint now) {
  return Guarded(kBackend, "RequeueDeliveries", [&]() -> Result<std::optional<std::int64_t>> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    if (lease->Query(kSelectWebhookExists, deadline, endpoint_id).rows() == 0) {
      return std::optional<std::int64_t>();
    }
    // A delete between the two statements makes this insert nothing (the join finds no row).
    const auto queued = lease->Query(kRequeueDeliveries, deadline, endpoint_id,
                                     std::to_string(after.tx), after.seq, now);
    return std::optional<std::int64_t>(queued.affected());
  });
}

Result<std::optional<domain::ClaimedDelivery>> PostgresStore::ClaimDelivery(
    TimePoint now, TimePoint lease_until, const std::string& lease_token) {
  return Guarded(
      kBackend, "ClaimDelivery", [&]() -> Result<std::optional<domain::ClaimedDelivery>> {
        const auto deadline = Deadline();
        Lease lease = pool_->Acquire(deadline);
        const auto result = lease->Query(kClaimDelivery, deadline, now, lease_until, lease_token);
        if (result.rows() == 0) return std::optional<domain::ClaimedDelivery>();
        return std::optional<domain::ClaimedDelivery>(
            ReadClaimedDelivery(result.row(0), lease_token));
      });
}

Result<bool> PostgresStore::RecordDeliveryAttempt(const domain::DeliveryAttempt& a) {
  return Guarded(kBackend, "RecordDeliveryAttempt", [&]() -> Result<bool> {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    return lease
               ->Query(kRecordDeliveryAttempt, deadline, a.endpoint_id, a.event_id, a.lease,
                       domain::ToString(a.status), a.response_status, a.attempted_at,
                       a.next_attempt_at)
               .affected() == 1;
  });
}

Status PostgresStore::ReleaseDelivery(const std::string& endpoint_id, const std::string& event_id,
                                      const std::string& lease_token) {
  return Guarded(kBackend, "ReleaseDelivery", [&]() -> Status {
    const auto deadline = Deadline();
    Lease lease = pool_->Acquire(deadline);
    lease->Query(kReleaseDelivery, deadline, endpoint_id, event_id, lease_token);
    return {};
  });
}

Result<domain::ReadModels> PostgresStore::RecountReadModels(TimePoint now) {
  return Guarded(kBackend, "RecountReadModels", [&]() -> Result<domain::ReadModels> {
    const auto deadline = Clock::now() + options_.migration_timeout;
    Lease lease = pool_->Acquire(Deadline());
    // One snapshot for every query, with no statement timeout: a recount reads every row.
    lease->ExecScript(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = 0",
        deadline);
    domain::ReadModels models;
    {
      const auto stats = lease->Query(kRecountStats, deadline);
      for (int i = 0; i < stats.rows(); ++i) {
        const auto row = stats.row(i);
        models.stats[row.Text(0)] = domain::ReferrerStats{row.Int(1), row.Int(2), row.Int(3),
                                                          row.Int(4), row.Int(5), row.Int(6)};
      }
    }
    std::vector<std::optional<int>> periods{std::nullopt};
    for (const int window : domain::kWindowLengths) periods.emplace_back(window);
    for (const auto& window : periods) {
      auto& rows = models.leaderboards[window.value_or(0)];
      const auto leaderboard = lease->Query(kRecountLeaderboard, deadline, SinceParam(window, now));
      for (int i = 0; i < leaderboard.rows(); ++i) {
        rows.push_back(ReadLeaderboardEntry(leaderboard.row(i)));
      }
      const std::int64_t first_day =
          window ? UtcDayNumber(now) - (*window - 1) : std::numeric_limits<std::int64_t>::min();
      const auto analytics =
          lease->Query(kRecountAnalytics, deadline, SinceParam(window, now), now, first_day);
      const auto row = analytics.row(0);
      auto& counts = models.analytics[window.value_or(0)];
      counts.total_referrals = row.Int(0);
      counts.converted_referrals = row.Int(1);
      counts.total_rewards_awarded = row.Int(2);
      counts.active_codes = row.Int(3);
      counts.expired_codes = row.Int(4) - counts.active_codes;
      counts.clicks = row.Int(5);
    }
    const auto days =
        lease->Query(kRecountDays, deadline, AddDays(StartOfUtcDay(now), 1), UtcDayNumber(now));
    for (int i = 0; i < days.rows(); ++i) {
      const auto row = days.row(i);
      models.days.push_back(domain::DailyCount{row.Text(0), row.Int(1), row.Int(2), row.Int(3)});
    }
    lease->ExecScript(kCommit, deadline);
    return models;
  });
}

void PostgresStore::RebuildAggregatesIn(Connection& conn, TimePoint now,
                                        Clock::time_point deadline) {
  conn.ExecScript(kDeleteAggregates, deadline);
  conn.Query(kRebuildReferrerTotals, deadline);
  conn.Query(kRebuildReferrerDaily, deadline);
  for (const int window : domain::kWindowLengths) {
    conn.Query(kRebuildReferrerWindows, deadline, window, UtcDayNumber(now));
  }
  conn.Query(kRebuildProgramDaily, deadline);
  conn.Query(kRebuildProgramTotals, deadline);
}

Status PostgresStore::RebuildAggregates(TimePoint now) {
  return Guarded(kBackend, "RebuildAggregates", [&]() -> Status {
    const auto deadline = Clock::now() + options_.migration_timeout;
    // A connection of its own, without timeouts: a rebuild reads every row. TRUNCATE takes the
    // aggregate tables' exclusive lock, so writes wait for the rebuild and see its result.
    auto conn = Connection::Open(options_.url, deadline, std::chrono::milliseconds(0));
    conn->ExecScript(kBegin, deadline);
    RebuildAggregatesIn(*conn, now, deadline);
    conn->ExecScript(kCommit, deadline);
    return {};
  });
}

}  // namespace referrald::storage
