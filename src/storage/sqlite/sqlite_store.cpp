#include "storage/sqlite/sqlite_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
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
#include "storage/sqlite/connection.hpp"
#include "util/time_format.hpp"

namespace referrald::storage {
namespace {

using sqlite::Connection;
using sqlite::QueryExists;
using sqlite::Stmt;

constexpr std::string_view kBackend = "sqlite";

// Timestamps are TEXT in exactly the FormatIso8601 form, so text order is time order.
// Ids are TEXT lowercase UUIDs; booleans INTEGER 0/1; JSON TEXT.

constexpr char kPing[] = "SELECT 1";

// --- migrations -------------------------------------------------------------------------------
constexpr char kCreateSchemaMigrations[] = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at TEXT NOT NULL
))sql";
constexpr char kSelectMigrationApplied[] = "SELECT 1 FROM schema_migrations WHERE version = ?1";
// applied_at is bookkeeping only, so the database's clock is good enough here.
constexpr char kInsertMigration[] = R"sql(
INSERT INTO schema_migrations (version, name, applied_at)
VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))sql";

// --- users ------------------------------------------------------------------------------------
constexpr char kSelectUser[] =
    "SELECT id, email, created_at, premium_until, erased_at FROM users WHERE id = ?1";
// Provisioning reads the row first (the transaction holds the only write lock): a user stored
// as the token says costs this one lookup and no write, and an erased user is seen here.
constexpr char kSelectUserState[] = "SELECT email, erased_at FROM users WHERE id = ?1";
constexpr char kInsertUser[] = "INSERT INTO users (id, email, created_at) VALUES (?1, ?2, ?3)";
constexpr char kUpdateUserEmail[] = "UPDATE users SET email = ?2 WHERE id = ?1";
constexpr char kMarkUserErased[] =
    "UPDATE users SET email = NULL, erased_at = coalesce(erased_at, ?2) WHERE id = ?1";
constexpr char kSelectPremiumUntil[] = "SELECT premium_until FROM users WHERE id = ?1";
constexpr char kUpdatePremiumUntil[] = "UPDATE users SET premium_until = ?2 WHERE id = ?1";

// --- referral codes ---------------------------------------------------------------------------
constexpr char kSelectActiveCodeOfUser[] = R"sql(
SELECT id, user_id, code, is_active, created_at, expires_at FROM referral_codes
WHERE user_id = ?1 AND is_active = 1)sql";
constexpr char kDeactivateCode[] =
    "UPDATE referral_codes SET is_active = 0 WHERE id = ?1 AND is_active = 1";
// DO NOTHING on either unique index (the code's text, the user's one active code): the caller
// tells which from what is stored, without aborting the transaction.
constexpr char kInsertCode[] = R"sql(
INSERT INTO referral_codes (id, user_id, code, is_active, created_at, expires_at)
VALUES (?1, ?2, ?3, 1, ?4, ?5)
ON CONFLICT DO NOTHING)sql";
constexpr char kSelectCodeTaken[] = "SELECT 1 FROM referral_codes WHERE code = ?1";
constexpr char kSelectCodeByText[] = R"sql(
SELECT id, user_id, code, is_active, created_at, expires_at FROM referral_codes
WHERE code = ?1)sql";
constexpr char kSelectNewestCode[] = R"sql(
SELECT id, user_id, code, is_active, created_at, expires_at FROM referral_codes
WHERE user_id = ?1 ORDER BY created_at DESC, id DESC LIMIT 1)sql";
constexpr char kExpireCodes[] =
    "UPDATE referral_codes SET is_active = 0 WHERE is_active = 1 AND expires_at <= ?1";
constexpr char kDeactivateCodesOfUser[] =
    "UPDATE referral_codes SET is_active = 0 WHERE user_id = ?1 AND is_active = 1";
constexpr char kSelectCodesOfUser[] = R"sql(
SELECT id, user_id, code, is_active, created_at, expires_at FROM referral_codes
WHERE user_id = ?1 ORDER BY created_at, id)sql";

// --- referral links (migrations/sqlite/0010_referral_links.sql) ----------------------------------
// ?1 the code's text, ?2 the day, ?3 the visitor: the code, and whether the click is counted.
constexpr char kSelectLink[] = R"sql(
SELECT c.id, c.user_id, c.code, c.is_active, c.created_at, c.expires_at,
       EXISTS (SELECT 1 FROM referral_clicks k
               WHERE k.code_id = c.id AND k.day = ?2 AND k.visitor = ?3)
FROM referral_codes c WHERE c.code = ?1)sql";
// The primary key makes a second click of the visitor on that day a no-op.
constexpr char kInsertClick[] = R"sql(
INSERT INTO referral_clicks (code_id, day, visitor) VALUES (?1, ?2, ?3)
ON CONFLICT DO NOTHING)sql";

// --- referrals --------------------------------------------------------------------------------
constexpr char kSelectReferralOfReferred[] = R"sql(
SELECT id, referrer_user_id, referred_user_id, referral_code_id, status, created_at, converted_at
FROM referrals WHERE referred_user_id = ?1)sql";
// Keyset pages, newest first (domain/paging.hpp): ?3/?4 the (created_at, id) to start after (a
// bound above every row for the first page), ?5 the limit. ?2 the status, NULL for any.
constexpr char kSelectReferralsOfReferrerPage[] = R"sql(
SELECT r.id, r.referrer_user_id, r.referred_user_id, r.referral_code_id, r.status, r.created_at,
       r.converted_at, c.code, u.email
FROM referrals r INDEXED BY idx_referrals_referrer_user_id
JOIN referral_codes c ON c.id = r.referral_code_id
LEFT JOIN users u ON u.id = r.referred_user_id
WHERE r.referrer_user_id = ?1 AND (?2 IS NULL OR r.status = ?2) AND (r.created_at, r.id) < (?3, ?4)
ORDER BY r.created_at DESC, r.id DESC LIMIT ?5)sql";
// The same over every referrer: ?1 the status, ?2/?3 the bound, ?4 the limit.
constexpr char kSelectReferralsPage[] = R"sql(
SELECT r.id, r.referrer_user_id, r.referred_user_id, r.referral_code_id, r.status, r.created_at,
       r.converted_at, c.code, u.email
FROM referrals r INDEXED BY idx_referrals_created_at
JOIN referral_codes c ON c.id = r.referral_code_id
LEFT JOIN users u ON u.id = r.referred_user_id
WHERE (?1 IS NULL OR r.status = ?1) AND (r.created_at, r.id) < (?2, ?3)
ORDER BY r.created_at DESC, r.id DESC LIMIT ?4)sql";
constexpr char kSelectReferralsMade[] = R"sql(
SELECT id, referrer_user_id, referred_user_id, referral_code_id, status, created_at, converted_at
FROM referrals WHERE referrer_user_id = ?1 ORDER BY created_at, id)sql";
// The unique index on referred_user_id makes a second referrer a no-op.
constexpr char kInsertReferral[] = R"sql(
INSERT INTO referrals (id, referrer_user_id, referred_user_id, referral_code_id, status,
                       created_at)
VALUES (?1, ?2, ?3, ?4, 'pending', ?5)
ON CONFLICT DO NOTHING)sql";
// The single conditional statement that makes a conversion happen once.
constexpr char kConvertPendingReferral[] = R"sql(
UPDATE referrals SET status = 'converted', converted_at = ?2
WHERE referred_user_id = ?1 AND status = 'pending'
RETURNING id, referrer_user_id, referred_user_id, referral_code_id, status, created_at,
          converted_at)sql";

// --- rewards ----------------------------------------------------------------------------------
constexpr char kInsertReward[] = R"sql(
INSERT INTO user_rewards (id, user_id, reward_type, reward_value, is_claimed, created_at,
                          claimed_at, expires_at, source_referral_id, claimable_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10))sql";
// Re-checks the threshold (conversions whose reward was not revoked) in the statement itself; the
// partial unique index on (user_id) WHERE reward_type = 'badge' makes it a no-op for a user who
// already has a badge, whoever inserted it.
constexpr char kInsertBadge[] = R"sql(
INSERT INTO user_rewards (id, user_id, reward_type, reward_value, is_claimed, created_at,
                          claimed_at, expires_at, source_referral_id, claimable_at)
SELECT ?1, ?2, 'badge', ?3, 1, ?4, ?4, NULL, NULL, ?4
WHERE (SELECT converted_referrals - revoked_conversions FROM referrer_totals
       WHERE user_id = ?2) >= ?5
ON CONFLICT DO NOTHING)sql";
// The reward columns ReadReward expects; claimable_at is created_at for a row without one.
constexpr char kSelectReward[] = R"sql(
SELECT id, user_id, reward_type, reward_value, is_claimed, created_at, claimed_at, expires_at,
       source_referral_id, coalesce(claimable_at, created_at), revoked_at
FROM user_rewards WHERE id = ?1)sql";
// ?2/?3 the (created_at, id) to start after, ?4 the limit.
constexpr char kSelectRewardsPage[] = R"sql(
SELECT id, user_id, reward_type, reward_value, is_claimed, created_at, claimed_at, expires_at,
       source_referral_id, coalesce(claimable_at, created_at), revoked_at
FROM user_rewards WHERE user_id = ?1 AND (created_at, id) < (?2, ?3)
ORDER BY created_at DESC, id DESC LIMIT ?4)sql";
constexpr char kSelectRewardsOfUser[] = R"sql(
SELECT id, user_id, reward_type, reward_value, is_claimed, created_at, claimed_at, expires_at,
       source_referral_id, coalesce(claimable_at, created_at), revoked_at
FROM user_rewards WHERE user_id = ?1 ORDER BY created_at, id)sql";
// The single conditional statement that makes a claim happen once: only past the hold, before
// the window's end, and never after a revocation.
constexpr char kClaimReward[] = R"sql(
UPDATE user_rewards SET is_claimed = 1, claimed_at = ?3
WHERE id = ?1 AND user_id = ?2 AND is_claimed = 0 AND revoked_at IS NULL
  AND coalesce(claimable_at, created_at) <= ?3 AND (expires_at IS NULL OR expires_at > ?3))sql";
// The single conditional statement that makes a clawback happen once, and only while the reward
// is on hold: a claim (which needs the hold to be over) and a revocation never both change it.
constexpr char kRevokeHeldReward[] = R"sql(
UPDATE user_rewards SET revoked_at = ?2
WHERE source_referral_id = ?1 AND is_claimed = 0 AND revoked_at IS NULL
  AND coalesce(claimable_at, created_at) > ?2
RETURNING id, user_id, reward_type, reward_value, is_claimed, created_at, claimed_at, expires_at,
          source_referral_id, coalesce(claimable_at, created_at), revoked_at)sql";
constexpr char kSelectBadgeCandidates[] = R"sql(
SELECT t.user_id FROM referrer_totals t
WHERE t.total_referrals > 0 AND t.converted_referrals - t.revoked_conversions >= ?1
  AND NOT EXISTS (SELECT 1 FROM user_rewards r WHERE r.user_id = t.user_id
                                                 AND r.reward_type = 'badge')
ORDER BY t.user_id)sql";

// --- subscriptions ----------------------------------------------------------------------------
constexpr char kSelectSubscriptionsOfUser[] = R"sql(
SELECT id, user_id, tier, status, provider, provider_ref, created_at
FROM subscriptions WHERE user_id = ?1 ORDER BY created_at, id)sql";
constexpr char kSelectActiveSubscription[] = R"sql(
SELECT id, user_id, tier, status, provider, provider_ref, created_at
FROM subscriptions WHERE user_id = ?1 AND status = 'active')sql";
// The active one first, then the newest.
constexpr char kSelectNewestSubscription[] = R"sql(
SELECT id, user_id, tier, status, provider, provider_ref, created_at
FROM subscriptions WHERE user_id = ?1
ORDER BY status = 'active' DESC, created_at DESC, id DESC LIMIT 1)sql";
// The partial unique index (one active subscription per user) makes a second one a no-op.
constexpr char kInsertSubscription[] = R"sql(
INSERT INTO subscriptions (id, user_id, tier, status, provider, provider_ref, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT DO NOTHING)sql";
// The single conditional statement that makes a cancellation happen once.
constexpr char kCancelActiveSubscription[] = R"sql(
UPDATE subscriptions SET status = 'cancelled', cancelled_at = ?2, refunded = ?3, cancel_reason = ?4
WHERE user_id = ?1 AND status = 'active'
RETURNING id, user_id, tier, status, provider, provider_ref, created_at)sql";

// --- aggregates: maintained by the write steps ------------------------------------------------
// The UTC day number of a stored timestamp (TEXT in the FormatIso8601 form).
// A macro, not a function: the SQL constants are string literals joined at compile time.
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define REFERRALD_DAY(column) "CAST(julianday(substr(" column ", 1, 10)) - 2440587.5 AS INTEGER)"

constexpr char kReferrerTracked[] = R"sql(
INSERT INTO referrer_totals (user_id, total_referrals, pending_referrals) VALUES (?1, 1, 1)
ON CONFLICT (user_id) DO UPDATE SET total_referrals = total_referrals + 1,
                                    pending_referrals = pending_referrals + 1)sql";
constexpr char kReferrerDayTracked[] = R"sql(
INSERT INTO referrer_daily (user_id, day, referrals) VALUES (?1, ?2, 1)
ON CONFLICT (user_id, day) DO UPDATE SET referrals = referrals + 1)sql";
// Window totals (storage/common/aggregates.hpp). ?1 the window's length, ?2 the referrer.
constexpr char kSelectWindowDay[] =
    "SELECT as_of_day FROM referrer_windows WHERE window_days = ?1 AND user_id = ?2";
// ?3 today: the row counted from referrer_daily, when the window holds a referral.
constexpr char kInsertWindowCounted[] = R"sql(
INSERT INTO referrer_windows (window_days, user_id, as_of_day, total, converted)
SELECT ?1, ?2, ?3, sum(referrals), sum(conversions) FROM referrer_daily
WHERE user_id = ?2 AND day BETWEEN ?3 - ?1 + 1 AND ?3
HAVING sum(referrals) > 0)sql";
constexpr char kRecountWindow[] = R"sql(
UPDATE referrer_windows SET as_of_day = ?3, total = s.total, converted = s.converted
FROM (SELECT coalesce(sum(referrals), 0) AS total, coalesce(sum(conversions), 0) AS converted
      FROM referrer_daily WHERE user_id = ?2 AND day BETWEEN ?3 - ?1 + 1 AND ?3) AS s
WHERE window_days = ?1 AND user_id = ?2)sql";
// ?3 referrals, ?4 conversions to add.
constexpr char kIncrementWindow[] = R"sql(
UPDATE referrer_windows SET total = total + ?3, converted = converted + ?4
WHERE window_days = ?1 AND user_id = ?2)sql";
constexpr char kProgramDaySignup[] = R"sql(
INSERT INTO program_daily (day, shard, signups) VALUES (?1, ?2, 1)
ON CONFLICT (day, shard) DO UPDATE SET signups = signups + 1)sql";
constexpr char kProgramReferral[] = R"sql(
INSERT INTO program_totals (shard, referrals) VALUES (?1, 1)
ON CONFLICT (shard) DO UPDATE SET referrals = referrals + 1)sql";

constexpr char kReferrerConverted[] = R"sql(
UPDATE referrer_totals SET converted_referrals = converted_referrals + 1,
                           pending_referrals = pending_referrals - 1
WHERE user_id = ?1)sql";
constexpr char kReferrerDayConverted[] =
    "UPDATE referrer_daily SET conversions = conversions + 1 WHERE user_id = ?1 AND day = ?2";
constexpr char kProgramDayCohortConversion[] = R"sql(
INSERT INTO program_daily (day, shard, cohort_conversions) VALUES (?1, ?2, 1)
ON CONFLICT (day, shard) DO UPDATE SET cohort_conversions = cohort_conversions + 1)sql";
constexpr char kProgramDayConversion[] = R"sql(
INSERT INTO program_daily (day, shard, conversions) VALUES (?1, ?2, 1)
ON CONFLICT (day, shard) DO UPDATE SET conversions = conversions + 1)sql";
constexpr char kProgramConverted[] = R"sql(
INSERT INTO program_totals (shard, converted) VALUES (?1, 1)
ON CONFLICT (shard) DO UPDATE SET converted = converted + 1)sql";

constexpr char kReferrerReward[] = R"sql(
INSERT INTO referrer_totals (user_id, rewards_earned) VALUES (?1, 1)
ON CONFLICT (user_id) DO UPDATE SET rewards_earned = rewards_earned + 1)sql";
constexpr char kReferrerRewardRevoked[] = R"sql(
INSERT INTO referrer_totals (user_id, revoked_conversions) VALUES (?1, 1)
ON CONFLICT (user_id) DO UPDATE SET revoked_conversions = revoked_conversions + 1)sql";
constexpr char kProgramDayReward[] = R"sql(
INSERT INTO program_daily (day, shard, rewards) VALUES (?1, ?2, 1)
ON CONFLICT (day, shard) DO UPDATE SET rewards = rewards + 1)sql";
constexpr char kProgramReward[] = R"sql(
INSERT INTO program_totals (shard, rewards) VALUES (?1, 1)
ON CONFLICT (shard) DO UPDATE SET rewards = rewards + 1)sql";

constexpr char kReferrerClick[] = R"sql(
INSERT INTO referrer_totals (user_id, clicks) VALUES (?1, 1)
ON CONFLICT (user_id) DO UPDATE SET clicks = clicks + 1)sql";
constexpr char kProgramDayClick[] = R"sql(
INSERT INTO program_daily (day, shard, clicks) VALUES (?1, ?2, 1)
ON CONFLICT (day, shard) DO UPDATE SET clicks = clicks + 1)sql";
constexpr char kProgramClick[] = R"sql(
INSERT INTO program_totals (shard, clicks) VALUES (?1, 1)
ON CONFLICT (shard) DO UPDATE SET clicks = clicks + 1)sql";

constexpr char kProgramCode[] = R"sql(
INSERT INTO program_totals (shard, codes, active_codes) VALUES (?1, 1, 1)
ON CONFLICT (shard) DO UPDATE SET codes = codes + 1, active_codes = active_codes + 1)sql";
constexpr char kProgramCodesDeactivated[] = R"sql(
INSERT INTO program_totals (shard, active_codes) VALUES (?1, -?2)
ON CONFLICT (shard) DO UPDATE SET active_codes = active_codes - ?2)sql";

// ?1 the window's length, ?2 today: every stale row recounted, then those left empty dropped.
constexpr char kRecountStaleWindows[] = R"sql(
UPDATE referrer_windows SET as_of_day = ?2, total = s.total, converted = s.converted
FROM (SELECT user_id, sum(referrals) AS total, sum(conversions) AS converted FROM referrer_daily
      WHERE day BETWEEN ?2 - ?1 + 1 AND ?2 GROUP BY user_id) AS s
WHERE referrer_windows.window_days = ?1 AND referrer_windows.as_of_day < ?2
  AND referrer_windows.user_id = s.user_id)sql";
constexpr char kDropEmptyWindows[] =
    "DELETE FROM referrer_windows WHERE window_days = ?1 AND as_of_day < ?2";

// --- read models, from the aggregates -----------------------------------------------------------
constexpr char kSelectReferrerStats[] = R"sql(
SELECT total_referrals, converted_referrals, pending_referrals, rewards_earned, revoked_conversions,
       clicks
FROM referrer_totals WHERE user_id = ?1)sql";
// Both leaderboards are a range scan of their rank index, stopped at the limit.
constexpr char kSelectLeaderboardAll[] = R"sql(
SELECT t.user_id, u.email, t.total_referrals, t.converted_referrals
FROM referrer_totals t LEFT JOIN users u ON u.id = t.user_id
WHERE t.total_referrals > 0
ORDER BY t.converted_referrals DESC, t.total_referrals DESC, t.user_id ASC
LIMIT ?1)sql";
// A window's leaderboard: its rows in rank-index order, read until WindowTop has its N, and the
// counts of a stale row as of today.
constexpr char kSelectWindowRanked[] = R"sql(
SELECT w.user_id, u.email, w.total, w.converted, w.as_of_day
FROM referrer_windows w INDEXED BY idx_referrer_windows_rank LEFT JOIN users u ON u.id = w.user_id
WHERE w.window_days = ?1
ORDER BY w.converted DESC, w.total DESC, w.user_id ASC)sql";
constexpr char kSelectWindowCounts[] = R"sql(
SELECT coalesce(sum(referrals), 0), coalesce(sum(conversions), 0) FROM referrer_daily
WHERE user_id = ?1 AND day BETWEEN ?2 - ?3 + 1 AND ?2)sql";
constexpr char kSelectProgramTotals[] = R"sql(
SELECT coalesce(sum(referrals), 0), coalesce(sum(converted), 0), coalesce(sum(rewards), 0),
       coalesce(sum(codes), 0), coalesce(sum(active_codes), 0), coalesce(sum(clicks), 0)
FROM program_totals)sql";
constexpr char kSelectProgramDays[] = R"sql(
SELECT coalesce(sum(signups), 0), coalesce(sum(cohort_conversions), 0), coalesce(sum(rewards), 0),
       coalesce(sum(clicks), 0)
FROM program_daily WHERE day BETWEEN ?1 AND ?2)sql";
// Codes still flagged active but past their expiry: those the expire-codes job has not swept yet
// (a range of the partial index on expires_at).
constexpr char kSelectCodesPastExpiry[] =
    "SELECT count(*) FROM referral_codes WHERE is_active = 1 AND expires_at <= ?1";
constexpr char kSelectDailyCounts[] = R"sql(
SELECT day, sum(signups), sum(conversions), sum(clicks) FROM program_daily
WHERE day BETWEEN ?1 AND ?2
GROUP BY day HAVING sum(signups) > 0 OR sum(conversions) > 0 OR sum(clicks) > 0
ORDER BY day)sql";

// --- recounts over the base tables (verification only) ------------------------------------------
constexpr char kRecountStats[] = R"sql(
SELECT user_id, sum(total), sum(converted), sum(pending), sum(rewards), sum(revoked), sum(clicks) FROM (
  SELECT referrer_user_id AS user_id, 1 AS total, status = 'converted' AS converted,
         status = 'pending' AS pending, 0 AS rewards, 0 AS revoked, 0 AS clicks FROM referrals
  UNION ALL
  SELECT user_id, 0, 0, 0, 1, revoked_at IS NOT NULL, 0 FROM user_rewards
  UNION ALL
  SELECT c.user_id, 0, 0, 0, 0, 0, 1 FROM referral_clicks k JOIN referral_codes c ON c.id = k.code_id)
GROUP BY user_id)sql";
// ?1 is the period's first instant, '' for all time (every timestamp sorts after '').
constexpr char kRecountLeaderboard[] = R"sql(
SELECT r.referrer_user_id, u.email, count(*) AS total,
       sum(CASE WHEN r.status = 'converted' THEN 1 ELSE 0 END) AS converted
FROM referrals r LEFT JOIN users u ON u.id = r.referrer_user_id
WHERE r.created_at >= ?1
GROUP BY r.referrer_user_id, u.email
ORDER BY converted DESC, total DESC, r.referrer_user_id ASC)sql";
constexpr char kRecountAnalytics[] = R"sql(
SELECT
  (SELECT count(*) FROM referrals WHERE created_at >= ?1),
  (SELECT count(*) FROM referrals WHERE created_at >= ?1 AND status = 'converted'),
  (SELECT count(*) FROM user_rewards WHERE created_at >= ?1),
  (SELECT count(*) FROM referral_codes WHERE is_active = 1 AND expires_at > ?2),
  (SELECT count(*) FROM referral_codes),
  (SELECT count(*) FROM referral_clicks WHERE day >= ?3))sql";
// ?2 today's day number.
constexpr char kRecountDays[] = R"sql(
SELECT day, sum(signups), sum(conversions), sum(clicks) FROM (
  SELECT substr(created_at, 1, 10) AS day, 1 AS signups, 0 AS conversions, 0 AS clicks
  FROM referrals WHERE created_at < ?1
  UNION ALL
  SELECT substr(converted_at, 1, 10), 0, 1, 0 FROM referrals WHERE converted_at < ?1
  UNION ALL
  SELECT date(day * 86400, 'unixepoch'), 0, 0, 1 FROM referral_clicks WHERE day <= ?2)
GROUP BY day ORDER BY day)sql";

// --- rebuilding the aggregates from the base tables ---------------------------------------------
constexpr const char* kDeleteAggregates[] = {
    "DELETE FROM referrer_totals", "DELETE FROM referrer_daily", "DELETE FROM referrer_windows",
    "DELETE FROM program_daily", "DELETE FROM program_totals"};
constexpr char kRebuildReferrerTotals[] = R"sql(
INSERT INTO referrer_totals (user_id, total_referrals, converted_referrals, pending_referrals,
                             rewards_earned, revoked_conversions, clicks)
SELECT user_id, sum(total), sum(converted), sum(pending), sum(rewards), sum(revoked), sum(clicks) FROM (
  SELECT referrer_user_id AS user_id, 1 AS total, status = 'converted' AS converted,
         status = 'pending' AS pending, 0 AS rewards, 0 AS revoked, 0 AS clicks FROM referrals
  UNION ALL
  SELECT user_id, 0, 0, 0, 1, revoked_at IS NOT NULL, 0 FROM user_rewards
  UNION ALL
  SELECT c.user_id, 0, 0, 0, 0, 0, 1 FROM referral_clicks k JOIN referral_codes c ON c.id = k.code_id)
GROUP BY user_id)sql";
constexpr char kRebuildReferrerDaily[] = R"sql(
INSERT INTO referrer_daily (user_id, day, referrals, conversions)
SELECT referrer_user_id, )sql" REFERRALD_DAY("created_at") R"sql(, count(*),
       sum(status = 'converted')
FROM referrals GROUP BY 1, 2)sql";
// ?1 the window's length, ?2 today.
constexpr char kRebuildReferrerWindows[] = R"sql(
INSERT INTO referrer_windows (window_days, user_id, as_of_day, total, converted)
SELECT ?1, user_id, ?2, sum(referrals), sum(conversions) FROM referrer_daily
WHERE day BETWEEN ?2 - ?1 + 1 AND ?2 GROUP BY user_id)sql";
constexpr char kRebuildProgramDaily[] = R"sql(
INSERT INTO program_daily (day, shard, signups, cohort_conversions, conversions, rewards, clicks)
SELECT day, 0, sum(signups), sum(cohort), sum(conversions), sum(rewards), sum(clicks) FROM (
  SELECT )sql" REFERRALD_DAY("created_at") R"sql( AS day, 1 AS signups,
         status = 'converted' AS cohort, 0 AS conversions, 0 AS rewards, 0 AS clicks
  FROM referrals
  UNION ALL
  SELECT )sql" REFERRALD_DAY("converted_at") R"sql(, 0, 0, 1, 0, 0 FROM referrals
  WHERE converted_at IS NOT NULL
  UNION ALL
  SELECT )sql" REFERRALD_DAY("created_at") R"sql(, 0, 0, 0, 1, 0 FROM user_rewards
  UNION ALL
  SELECT day, 0, 0, 0, 0, 1 FROM referral_clicks)
GROUP BY day)sql";
constexpr char kRebuildProgramTotals[] = R"sql(
INSERT INTO program_totals (shard, referrals, converted, rewards, codes, active_codes, clicks)
SELECT 0, (SELECT count(*) FROM referrals),
       (SELECT count(*) FROM referrals WHERE status = 'converted'),
       (SELECT count(*) FROM user_rewards), (SELECT count(*) FROM referral_codes),
       (SELECT count(*) FROM referral_codes WHERE is_active = 1),
       (SELECT count(*) FROM referral_clicks))sql";

#undef REFERRALD_DAY

// --- scheduled runs ---------------------------------------------------------------------------
constexpr char kClaimJobRun[] = R"sql(
INSERT INTO job_runs (job, slot, claimed_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING)sql";

// --- idempotency keys -------------------------------------------------------------------------
// DO NOTHING on the primary key: the caller reads what is there instead.
constexpr char kInsertIdempotencyKey[] = R"sql(
INSERT INTO idempotency_keys (user_id, idempotency_key, method, path, body_sha256, state, owner,
                              lease_until, created_at, completed_at, response_status,
                              response_headers, response_body)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
ON CONFLICT DO NOTHING)sql";
constexpr char kSelectIdempotencyKey[] = R"sql(
SELECT user_id, idempotency_key, method, path, body_sha256, state, owner, lease_until, created_at,
       response_status, response_headers, response_body
FROM idempotency_keys WHERE user_id = ?1 AND idempotency_key = ?2)sql";
// A takeover, conditional on the owner the taker saw: of two takers, one changes the row.
constexpr char kReplaceIdempotencyKey[] = R"sql(
UPDATE idempotency_keys
SET method = ?3, path = ?4, body_sha256 = ?5, state = ?6, owner = ?7, lease_until = ?8,
    created_at = ?9, completed_at = ?10, response_status = ?11, response_headers = ?12,
    response_body = ?13
WHERE user_id = ?1 AND idempotency_key = ?2 AND owner = ?14)sql";
constexpr char kDeleteIdempotencyKeysOfUser[] = "DELETE FROM idempotency_keys WHERE user_id = ?1";
constexpr char kDeleteExpiredIdempotencyKeys[] = R"sql(
DELETE FROM idempotency_keys WHERE (user_id, idempotency_key) IN (
  SELECT user_id, idempotency_key FROM idempotency_keys
  WHERE created_at <= ?1 AND (state = 'completed' OR lease_until <= ?2)
  LIMIT ?3))sql";

// --- audit ------------------------------------------------------------------------------------
constexpr char kInsertAudit[] = R"sql(
INSERT INTO automation_logs (id, service, action, status, user_id, details, error_message,
                             created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8))sql";
// ?1/?2 the (created_at, id) to start after, ?3 the limit; ?4 the service.
constexpr char kSelectAudit[] = R"sql(
SELECT id, service, action, status, user_id, details, error_message, created_at
FROM automation_logs WHERE (created_at, id) < (?1, ?2)
ORDER BY created_at DESC, id DESC LIMIT ?3)sql";
constexpr char kSelectAuditOfService[] = R"sql(
SELECT id, service, action, status, user_id, details, error_message, created_at
FROM automation_logs WHERE service = ?4 AND (created_at, id) < (?1, ?2)
ORDER BY created_at DESC, id DESC LIMIT ?3)sql";
// ?1 the user's id: rows about the user, or naming it in their details.
constexpr char kSelectAuditAboutUser[] = R"sql(
SELECT id, service, action, status, user_id, details, error_message, created_at
FROM automation_logs WHERE user_id = ?1 OR instr(details, ?1) > 0
ORDER BY created_at, id)sql";
// ?1 the email as JSON text holds it (escaped, without quotes), ?2 the email as is, ?3 what
// replaces it.
constexpr char kScrubAudit[] = R"sql(
UPDATE automation_logs SET details = replace(details, ?1, ?3),
                           error_message = replace(error_message, ?2, ?3)
WHERE instr(details, ?1) > 0 OR instr(error_message, ?2) > 0)sql";
constexpr char kScrubEvents[] =
    "UPDATE events SET data = replace(data, ?1, ?2) WHERE instr(data, ?1) > 0";
constexpr char kScrubIdempotencyKeys[] = R"sql(
UPDATE idempotency_keys SET response_body = replace(response_body, ?1, ?2)
WHERE instr(response_body, ?1) > 0)sql";

// --- events (the outbox; migrations/sqlite/0005_events.sql says why seq order is commit order) --
constexpr char kInsertEvent[] = R"sql(
INSERT INTO events (id, type, occurred_at, data) VALUES (?1, ?2, ?3, ?4))sql";
constexpr char kSelectEvents[] = R"sql(
SELECT id, type, occurred_at, data, seq FROM events
WHERE seq > ?1 ORDER BY seq LIMIT ?2)sql";
constexpr char kSelectEventsOfType[] = R"sql(
SELECT id, type, occurred_at, data, seq FROM events
WHERE type = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3)sql";
constexpr char kSelectEventsAboutUser[] = R"sql(
SELECT id, type, occurred_at, data, seq FROM events WHERE instr(data, ?1) > 0 ORDER BY seq)sql";

// --- webhooks (migrations/sqlite/0007_webhooks.sql) -------------------------------------------
// A new endpoint's cursor: the end of the feed as this write transaction sees it.
constexpr char kInsertWebhook[] = R"sql(
INSERT INTO webhook_endpoints (id, url, event_types, description, secret, created_at, cursor_seq)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, (SELECT coalesce(max(seq), 0) FROM events)))sql";
constexpr char kSelectWebhooks[] = R"sql(
SELECT id, url, event_types, description, secret, created_at FROM webhook_endpoints
ORDER BY created_at, id)sql";
constexpr char kSelectWebhook[] = R"sql(
SELECT id, url, event_types, description, secret, created_at FROM webhook_endpoints
WHERE id = ?1)sql";
constexpr char kDeleteDeliveriesOfWebhook[] =
    "DELETE FROM webhook_deliveries WHERE endpoint_id = ?1";
constexpr char kDeleteWebhook[] = "DELETE FROM webhook_endpoints WHERE id = ?1";
// ?2/?3 the (created_at, event_seq) to start after, ?4 the limit.
constexpr char kSelectDeliveries[] = R"sql(
SELECT endpoint_id, event_id, event_type, attempt, status, response_status, last_attempt_at,
       next_attempt_at, created_at, event_seq
FROM webhook_deliveries WHERE endpoint_id = ?1 AND (created_at, event_seq) < (?2, ?3)
ORDER BY created_at DESC, event_seq DESC LIMIT ?4)sql";
// Read first, so that an idle poll takes no write lock.
constexpr char kSelectWebhookCursors[] = "SELECT id, cursor_seq FROM webhook_endpoints ORDER BY id";
constexpr char kSelectFeedEnd[] = "SELECT coalesce(max(seq), 0) FROM events";
constexpr char kSelectAnyDue[] = R"sql(
SELECT 1 FROM webhook_deliveries
WHERE status = 'pending' AND next_attempt_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1)
LIMIT 1)sql";
constexpr char kSelectWebhookCursor[] = "SELECT cursor_seq FROM webhook_endpoints WHERE id = ?1";
// ?1 endpoint, ?2 cursor, ?3 now, ?4 batch: the page of the feed after the cursor, those of its
// events the endpoint wants copied (the primary key makes a copy already there a no-op).
constexpr char kFanOutPage[] = R"sql(
INSERT INTO webhook_deliveries (endpoint_id, event_id, event_seq, event_type, attempt, status,
                                next_attempt_at, created_at)
SELECT w.id, e.id, e.seq, e.type, 0, 'pending', ?3, ?3
FROM (SELECT id, seq, type FROM events WHERE seq > ?2 ORDER BY seq LIMIT ?4) AS e
JOIN webhook_endpoints w ON w.id = ?1
WHERE w.event_types IS NULL OR e.type IN (SELECT value FROM json_each(w.event_types))
ON CONFLICT DO NOTHING)sql";
constexpr char kSelectPageEnd[] = R"sql(
SELECT max(seq), count(*) FROM (SELECT seq FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2))sql";
// Compare-and-set: moves the cursor only from where this step read it.
constexpr char kMoveWebhookCursor[] =
    "UPDATE webhook_endpoints SET cursor_seq = ?3 WHERE id = ?1 AND cursor_seq = ?2";
// ?1 endpoint, ?2 after (seq), ?3 now.
constexpr char kRequeueDeliveries[] = R"sql(
INSERT INTO webhook_deliveries (endpoint_id, event_id, event_seq, event_type, attempt, status,
                                next_attempt_at, created_at)
SELECT w.id, e.id, e.seq, e.type, 0, 'pending', ?3, ?3
FROM events e JOIN webhook_endpoints w ON w.id = ?1
WHERE e.seq > ?2
  AND (w.event_types IS NULL OR e.type IN (SELECT value FROM json_each(w.event_types)))
ON CONFLICT (endpoint_id, event_id) DO UPDATE SET
  attempt = 0, status = 'pending', response_status = NULL, last_attempt_at = NULL,
  next_attempt_at = excluded.next_attempt_at, lease_owner = NULL, lease_until = NULL,
  created_at = excluded.created_at)sql";
// ?1 now, ?2 lease_until, ?3 lease. The write lock makes the pick and the claim one step.
constexpr char kClaimDelivery[] = R"sql(
UPDATE webhook_deliveries SET lease_owner = ?3, lease_until = ?2
WHERE rowid = (SELECT rowid FROM webhook_deliveries
               WHERE status = 'pending' AND next_attempt_at <= ?1
                 AND (lease_until IS NULL OR lease_until <= ?1)
               ORDER BY next_attempt_at LIMIT 1)
RETURNING endpoint_id, event_id)sql";
constexpr char kSelectClaimed[] = R"sql(
SELECT e.id, e.type, e.occurred_at, e.data, d.endpoint_id, w.url, w.secret, d.attempt
FROM webhook_deliveries d
JOIN webhook_endpoints w ON w.id = d.endpoint_id
JOIN events e ON e.id = d.event_id
WHERE d.endpoint_id = ?1 AND d.event_id = ?2)sql";
constexpr char kRecordDeliveryAttempt[] = R"sql(
UPDATE webhook_deliveries SET attempt = attempt + 1, status = ?4, response_status = ?5,
  last_attempt_at = ?6, next_attempt_at = ?7, lease_owner = NULL, lease_until = NULL
WHERE endpoint_id = ?1 AND event_id = ?2 AND lease_owner = ?3)sql";
constexpr char kReleaseDelivery[] = R"sql(
UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL
WHERE endpoint_id = ?1 AND event_id = ?2 AND lease_owner = ?3)sql";

// SQLite serialises writers: one shard of the program-wide aggregates is enough.
constexpr int kShards = 1;

// Where a keyset page starts: after page.after, or above every row (the first page). Timestamps
// are FormatIso8601 text, so "9999…" sorts after each; ids are lowercase hex, so "~" does.
struct PageBound {
  std::string created_at;
  std::string id;
  int limit;
};
PageBound BoundOf(const domain::PageRequest& page) {
  if (!page.after) return {"9999-12-31T23:59:59.999Z", "~", std::max(page.limit, 0)};
  return {FormatIso8601(page.after->created_at), page.after->id, std::max(page.limit, 0)};
}
// The same for a list whose tie-breaker is a sequence number.
std::int64_t SeqBoundOf(const domain::PageRequest& page) {
  return page.after ? std::stoll(page.after->id) : INT64_MAX;
}

// The period's first instant as stored text, '' for all time (every timestamp sorts after '').
std::string SinceText(std::optional<int> window_days, TimePoint now) {
  if (!window_days) return {};
  return FormatIso8601(StartOfDayNumber(UtcDayNumber(now) - (*window_days - 1)));
}

// The period's first UTC day number; the smallest one for all time.
std::int64_t FirstDay(std::optional<int> window_days, TimePoint now) {
  if (!window_days) return std::numeric_limits<std::int64_t>::min();
  return UtcDayNumber(now) - (*window_days - 1);
}

}  // namespace

// Write requests committed together at most (sqlite/group_commit.hpp): enough to share the WAL
// pages of a burst, few enough that the last of a batch does not wait long for the others.
constexpr std::size_t kMaxWriteBatch = 32;

// --- the steps of a write transaction, on the writer connection ---------------------------------

class SqliteStore::Tx final : public domain::WriteTx {
 public:
  explicit Tx(Connection& conn) : conn_(conn), guard_(kBackend) {}

  Status UpsertUser(const domain::Actor& actor, TimePoint now) override {
    return guard_("UpsertUser", [&]() -> Status {
      std::optional<std::string> email;
      {
        Stmt select(conn_, kSelectUserState);
        select.Bind(actor.id);
        if (!select.Step()) {
          Stmt(conn_, kInsertUser).Bind(actor.id, actor.email, now).Run();
          return {};
        }
        if (!select.IsNull(1)) return domain::errors::UserErased();
        email = select.OptText(0);
      }
      if (actor.email && email != actor.email) {
        Stmt(conn_, kUpdateUserEmail).Bind(actor.id, actor.email).Run();
      }
      return {};
    });
  }

  Result<std::optional<domain::ErasedUser>> MarkUserErased(const std::string& user_id,
                                                           TimePoint now) override {
    return guard_("MarkUserErased", [&]() -> Result<std::optional<domain::ErasedUser>> {
      domain::ErasedUser erased;
      {
        Stmt select(conn_, kSelectUserState);
        select.Bind(user_id);
        if (!select.Step()) return std::optional<domain::ErasedUser>();
        erased.email = select.OptText(0);
        const auto before = select.OptTime(1);
        erased.already_erased = before.has_value();
        erased.erased_at = before.value_or(now);
      }
      Stmt(conn_, kMarkUserErased).Bind(user_id, now).Run();
      return std::optional<domain::ErasedUser>(std::move(erased));
    });
  }

  Status ScrubEmail(const std::string& email) override {
    return guard_("ScrubEmail", [&]() -> Status {
      const std::string in_json = codec::JsonStringContent(email);
      Stmt(conn_, kScrubAudit).Bind(in_json, email, domain::kErasedPlaceholder).Run();
      Stmt(conn_, kScrubEvents).Bind(in_json, domain::kErasedPlaceholder).Run();
      Stmt(conn_, kScrubIdempotencyKeys).Bind(in_json, domain::kErasedPlaceholder).Run();
      return {};
    });
  }

  Result<std::int64_t> DeactivateCodesOf(const std::string& user_id) override {
    return guard_("DeactivateCodesOf", [&]() -> Result<std::int64_t> {
      Stmt(conn_, kDeactivateCodesOfUser).Bind(user_id).Run();
      const std::int64_t deactivated = conn_.Changes();
      CodesDeactivated(deactivated);
      return deactivated;
    });
  }

  Status DeleteIdempotencyKeysOf(const std::string& user_id) override {
    return guard_("DeleteIdempotencyKeysOf", [&]() -> Status {
      Stmt(conn_, kDeleteIdempotencyKeysOfUser).Bind(user_id).Run();
      return {};
    });
  }

  Result<std::optional<TimePoint>> LockPremiumUntil(const std::string& user_id) override {
    // The transaction already holds the database's only write lock.
    return guard_("LockPremiumUntil", [&]() -> Result<std::optional<TimePoint>> {
      Stmt select(conn_, kSelectPremiumUntil);
      select.Bind(user_id);
      if (!select.Step()) return std::optional<TimePoint>();
      return select.OptTime(0);
    });
  }

  Status SetPremiumUntil(const std::string& user_id, TimePoint until) override {
    return guard_("SetPremiumUntil", [&]() -> Status {
      Stmt(conn_, kUpdatePremiumUntil).Bind(user_id, until).Run();
      return {};
    });
  }

  Status LockUserPair(const std::string& /*a*/, const std::string& /*b*/) override {
    return {};  // write transactions are serialised by BEGIN IMMEDIATE already
  }

  Result<std::optional<domain::ReferralCode>> FindActiveCode(const std::string& user_id) override {
    return guard_("FindActiveCode", [&]() -> Result<std::optional<domain::ReferralCode>> {
      Stmt select(conn_, kSelectActiveCodeOfUser);
      select.Bind(user_id);
      if (!select.Step()) return std::optional<domain::ReferralCode>();
      return std::optional<domain::ReferralCode>(ReadCode(select));
    });
  }

  Status DeactivateCode(const std::string& code_id) override {
    return guard_("DeactivateCode", [&]() -> Status {
      Stmt(conn_, kDeactivateCode).Bind(code_id).Run();
      CodesDeactivated(conn_.Changes());
      return {};
    });
  }

  Result<domain::CodeInsert> InsertCode(const domain::ReferralCode& code) override {
    return guard_("InsertCode", [&]() -> Result<domain::CodeInsert> {
      Stmt(conn_, kInsertCode)
          .Bind(code.id, code.user_id, code.code, code.created_at, code.expires_at)
          .Run();
      if (conn_.Changes() == 1) {
        Stmt(conn_, kProgramCode).Bind(ShardOf(code.user_id, kShards)).Run();
        return domain::CodeInsert::kInserted;
      }
      if (QueryExists(conn_, kSelectCodeTaken, code.code)) return domain::CodeInsert::kCodeTaken;
      return domain::CodeInsert::kUserHasActiveCode;
    });
  }

  Result<std::optional<domain::ReferralCode>> FindCodeByText(const std::string& code) override {
    return guard_("FindCodeByText", [&]() -> Result<std::optional<domain::ReferralCode>> {
      Stmt select(conn_, kSelectCodeByText);
      select.Bind(code);
      if (!select.Step()) return std::optional<domain::ReferralCode>();
      return std::optional<domain::ReferralCode>(ReadCode(select));
    });
  }

  Result<std::int64_t> ExpireCodes(TimePoint now) override {
    return guard_("ExpireCodes", [&]() -> Result<std::int64_t> {
      Stmt(conn_, kExpireCodes).Bind(now).Run();
      const std::int64_t expired = conn_.Changes();
      CodesDeactivated(expired);
      return expired;
    });
  }

  Result<std::optional<domain::Referral>> FindReferralOf(const std::string& user_id) override {
    return guard_("FindReferralOf", [&]() -> Result<std::optional<domain::Referral>> {
      Stmt select(conn_, kSelectReferralOfReferred);
      select.Bind(user_id);
      if (!select.Step()) return std::optional<domain::Referral>();
      return std::optional<domain::Referral>(ReadReferral(select));
    });
  }

  Result<bool> InsertReferral(const domain::Referral& r) override {
    return guard_("InsertReferral", [&]() -> Result<bool> {
      Stmt(conn_, kInsertReferral)
          .Bind(r.id, r.referrer_user_id, r.referred_user_id, r.referral_code_id, r.created_at)
          .Run();
      if (conn_.Changes() != 1) return false;
      Tracked(r);
      return true;
    });
  }

  Result<std::optional<domain::Referral>> ConvertPendingReferral(const std::string& user_id,
                                                                 TimePoint now) override {
    return guard_("ConvertPendingReferral", [&]() -> Result<std::optional<domain::Referral>> {
      std::optional<domain::Referral> referral;
      {
        Stmt update(conn_, kConvertPendingReferral);
        update.Bind(user_id, now);
        if (!update.Step()) return referral;
        referral = ReadReferral(update);
        update.Run();
      }
      Converted(*referral);
      return referral;
    });
  }

  Status InsertReward(const domain::Reward& reward) override {
    return guard_("InsertReward", [&]() -> Status {
      Stmt(conn_, kInsertReward)
          .Bind(reward.id, reward.user_id, domain::ToString(reward.type),
                codec::EncodeRewardValue(reward.value), reward.is_claimed, reward.created_at,
                reward.claimed_at, reward.expires_at, reward.source_referral_id,
                reward.claimable_at)
          .Run();
      Rewarded(reward);
      return {};
    });
  }

  Result<std::optional<domain::Reward>> FindReward(const std::string& reward_id) override {
    return guard_("FindReward", [&]() -> Result<std::optional<domain::Reward>> {
      Stmt select(conn_, kSelectReward);
      select.Bind(reward_id);
      if (!select.Step()) return std::optional<domain::Reward>();
      return std::optional<domain::Reward>(ReadReward(select));
    });
  }

  Result<bool> MarkRewardClaimed(const std::string& reward_id, const std::string& user_id,
                                 TimePoint now) override {
    return guard_("MarkRewardClaimed", [&]() -> Result<bool> {
      Stmt(conn_, kClaimReward).Bind(reward_id, user_id, now).Run();
      return conn_.Changes() == 1;
    });
  }

  Result<bool> InsertBadge(const domain::Reward& badge, std::int64_t threshold) override {
    return guard_("InsertBadge", [&]() -> Result<bool> {
      Stmt(conn_, kInsertBadge)
          .Bind(badge.id, badge.user_id, codec::EncodeRewardValue(badge.value), badge.created_at,
                threshold)
          .Run();
      if (conn_.Changes() != 1) return false;
      Rewarded(badge);
      return true;
    });
  }

  Result<bool> InsertClick(const domain::Click& click) override {
    return guard_("InsertClick", [&]() -> Result<bool> {
      Stmt(conn_, kInsertClick).Bind(click.code_id, click.day, click.visitor).Run();
      if (conn_.Changes() != 1) return false;
      const int shard = ShardOf(click.referrer_user_id, kShards);
      Stmt(conn_, kReferrerClick).Bind(click.referrer_user_id).Run();
      Stmt(conn_, kProgramDayClick).Bind(click.day, shard).Run();
      Stmt(conn_, kProgramClick).Bind(shard).Run();
      return true;
    });
  }

  Result<std::optional<domain::Reward>> RevokeHeldReward(const std::string& source_referral_id,
                                                         TimePoint now) override {
    return guard_("RevokeHeldReward", [&]() -> Result<std::optional<domain::Reward>> {
      std::optional<domain::Reward> reward;
      {
        Stmt update(conn_, kRevokeHeldReward);
        update.Bind(source_referral_id, now);
        if (!update.Step()) return reward;
        reward = ReadReward(update);
        update.Run();
      }
      Stmt(conn_, kReferrerRewardRevoked).Bind(reward->user_id).Run();
      return reward;
    });
  }

  Result<std::optional<domain::Subscription>> CancelActiveSubscription(
      const std::string& user_id, TimePoint now, bool refund,
      const std::optional<std::string>& reason) override {
    return guard_("CancelActiveSubscription", [&]() -> Result<std::optional<domain::Subscription>> {
      Stmt update(conn_, kCancelActiveSubscription);
      update.Bind(user_id, now, refund, reason);
      if (!update.Step()) return std::optional<domain::Subscription>();
      std::optional<domain::Subscription> cancelled = ReadSubscription(update);
      update.Run();
      return cancelled;
    });
  }

  Result<bool> InsertSubscription(const domain::Subscription& s) override {
    return guard_("InsertSubscription", [&]() -> Result<bool> {
      Stmt(conn_, kInsertSubscription)
          .Bind(s.id, s.user_id, s.tier, s.status, s.provider, s.provider_ref, s.created_at)
          .Run();
      return conn_.Changes() == 1;
    });
  }

  Result<bool> ClaimScheduledRun(const std::string& job, TimePoint slot, TimePoint now) override {
    return guard_("ClaimScheduledRun", [&]() -> Result<bool> {
      Stmt(conn_, kClaimJobRun).Bind(job, slot, now).Run();
      return conn_.Changes() == 1;
    });
  }

  Result<std::int64_t> RefreshAggregates(std::int64_t today) override {
    return guard_("RefreshAggregates", [&]() -> Result<std::int64_t> {
      std::int64_t refreshed = 0;
      for (const int window : domain::kWindowLengths) {
        Stmt(conn_, kRecountStaleWindows).Bind(window, today).Run();
        refreshed += conn_.Changes();
        Stmt(conn_, kDropEmptyWindows).Bind(window, today).Run();
        refreshed += conn_.Changes();
      }
      return refreshed;
      return conn_.Changes();
    });
  }

  Result<bool> InsertIdempotencyKey(const domain::IdempotencyRecord& r) override {
    return guard_("InsertIdempotencyKey", [&]() -> Result<bool> {
      const auto c = ResponseColumnsOf(r);
      Stmt(conn_, kInsertIdempotencyKey)
          .Bind(r.user_id, r.key, r.method, r.path, r.body_sha256, domain::ToString(r.state),
                r.owner, r.lease_until, r.created_at, c.completed_at, c.status, c.headers, c.body)
          .Run();
      return conn_.Changes() == 1;
    });
  }

  Result<std::optional<domain::IdempotencyRecord>> FindIdempotencyKey(
      const std::string& user_id, const std::string& key) override {
    return guard_("FindIdempotencyKey", [&]() -> Result<std::optional<domain::IdempotencyRecord>> {
      Stmt select(conn_, kSelectIdempotencyKey);
      select.Bind(user_id, key);
      if (!select.Step()) return std::optional<domain::IdempotencyRecord>();
      return std::optional<domain::IdempotencyRecord>(ReadIdempotencyRecord(select));
    });
  }

  Result<bool> ReplaceIdempotencyKey(const domain::IdempotencyRecord& r,
                                     const std::string& expected_owner) override {
    return guard_("ReplaceIdempotencyKey", [&]() -> Result<bool> {
      const auto c = ResponseColumnsOf(r);
      Stmt(conn_, kReplaceIdempotencyKey)
          .Bind(r.user_id, r.key, r.method, r.path, r.body_sha256, domain::ToString(r.state),
                r.owner, r.lease_until, r.created_at, c.completed_at, c.status, c.headers, c.body,
                expected_owner)
          .Run();
      return conn_.Changes() == 1;
    });
  }

  Result<std::int64_t> DeleteExpiredIdempotencyKeys(TimePoint cutoff, TimePoint now,
                                                    int limit) override {
    return guard_("DeleteExpiredIdempotencyKeys", [&]() -> Result<std::int64_t> {
      Stmt(conn_, kDeleteExpiredIdempotencyKeys).Bind(cutoff, now, limit).Run();
      return conn_.Changes();
    });
  }

  Status AppendAudit(const domain::AuditEntry& e) override {
    return guard_("AppendAudit", [&]() -> Status {
      Stmt(conn_, kInsertAudit)
          .Bind(e.id, e.service, e.action, domain::ToString(e.status), e.user_id,
                codec::EncodeDetails(e.details), e.error_message, e.created_at)
          .Run();
      return {};
    });
  }

  Status AppendEvent(const domain::Event& e) override {
    return guard_("AppendEvent", [&]() -> Status {
      Stmt(conn_, kInsertEvent)
          .Bind(e.id, domain::ToString(e.type()), e.occurred_at, codec::EncodeEventData(e.data))
          .Run();
      return {};
    });
  }

 private:
  // --- the aggregates each step keeps, in its transaction ---

  void CodesDeactivated(std::int64_t count) {
    if (count > 0) Stmt(conn_, kProgramCodesDeactivated).Bind(0, count).Run();
  }

  void Tracked(const domain::Referral& r) {
    const std::int64_t day = UtcDayNumber(r.created_at);
    const int shard = ShardOf(r.referrer_user_id, kShards);
    Stmt(conn_, kReferrerTracked).Bind(r.referrer_user_id).Run();
    Stmt(conn_, kReferrerDayTracked).Bind(r.referrer_user_id, day).Run();
    TouchWindows(r.referrer_user_id, day, day, 1, 0);
    Stmt(conn_, kProgramDaySignup).Bind(day, shard).Run();
    Stmt(conn_, kProgramReferral).Bind(shard).Run();
  }

  void Converted(const domain::Referral& r) {
    const std::int64_t created = UtcDayNumber(r.created_at);
    const std::int64_t converted = UtcDayNumber(r.converted_at.value_or(r.created_at));
    const int shard = ShardOf(r.referrer_user_id, kShards);
    Stmt(conn_, kReferrerConverted).Bind(r.referrer_user_id).Run();
    Stmt(conn_, kReferrerDayConverted).Bind(r.referrer_user_id, created).Run();
    TouchWindows(r.referrer_user_id, created, converted, 0, 1);
    Stmt(conn_, kProgramDayCohortConversion).Bind(created, shard).Run();
    Stmt(conn_, kProgramDayConversion).Bind(converted, shard).Run();
    Stmt(conn_, kProgramConverted).Bind(shard).Run();
  }

  // The referrer's window rows after a change (referrals, conversions) to a referral created on
  // `created_day`, made on `today`; referrer_daily already holds it.
  void TouchWindows(const std::string& user_id, std::int64_t created_day, std::int64_t today,
                    std::int64_t referrals, std::int64_t conversions) {
    for (const int window : domain::kWindowLengths) {
      std::optional<std::int64_t> as_of_day;
      {
        Stmt select(conn_, kSelectWindowDay);
        select.Bind(window, user_id);
        if (select.Step()) as_of_day = select.Int(0);
      }
      switch (DecideWindowTouch(window, as_of_day, created_day, today)) {
        case WindowTouch::kNone:
          break;
        case WindowTouch::kInsert:
          Stmt(conn_, kInsertWindowCounted).Bind(window, user_id, today).Run();
          break;
        case WindowTouch::kRecount:
          Stmt(conn_, kRecountWindow).Bind(window, user_id, today).Run();
          break;
        case WindowTouch::kIncrement:
          Stmt(conn_, kIncrementWindow).Bind(window, user_id, referrals, conversions).Run();
          break;
      }
    }
  }

  void Rewarded(const domain::Reward& reward) {
    const int shard = ShardOf(reward.user_id, kShards);
    Stmt(conn_, kReferrerReward).Bind(reward.user_id).Run();
    Stmt(conn_, kProgramDayReward).Bind(UtcDayNumber(reward.created_at), shard).Run();
    Stmt(conn_, kProgramReward).Bind(shard).Run();
  }

  Connection& conn_;
  StepGuard guard_;
};

// Either a pooled reader connection, or (in memory) the writer connection under its mutex.
class SqliteStore::ReadLease {
 public:
  ReadLease(sqlite::ReaderPool& pool, std::unique_ptr<Connection> conn)
      : pool_(&pool), owned_(std::move(conn)), conn_(owned_.get()) {}
  ReadLease(std::unique_lock<std::timed_mutex> lock, Connection& conn)
      : lock_(std::move(lock)), conn_(&conn) {}
  ReadLease(ReadLease&&) noexcept = default;
  ReadLease& operator=(ReadLease&&) = delete;
  ReadLease(const ReadLease&) = delete;
  ReadLease& operator=(const ReadLease&) = delete;
  ~ReadLease() {
    if (owned_) pool_->Release(std::move(owned_));
  }

  Connection& operator*() const { return *conn_; }

 private:
  sqlite::ReaderPool* pool_ = nullptr;
  std::unique_ptr<Connection> owned_;
  std::unique_lock<std::timed_mutex> lock_;
  Connection* conn_;
};

SqliteStore::SqliteStore(std::string path, bool in_memory, const SqliteOptions& options)
    : path_(std::move(path)),
      in_memory_(in_memory),
      options_(options),
      readers_(in_memory
                   ? nullptr
                   : std::make_unique<sqlite::ReaderPool>(
                         path_, options.max_readers, static_cast<int>(options.timeout.count()))),
      group_commit_(kMaxWriteBatch, options.timeout) {}

SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                       SqliteOptions options) {
  const bool in_memory = path.empty() || path == ":memory:" || path.starts_with("file::memory:") ||
                         path.find("mode=memory") != std::string::npos;
  if (!in_memory && !path.starts_with("file:")) {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      spdlog::error("sqlite Open: cannot create directory {}: {}", parent.string(), ec.message());
      return domain::errors::StorageUnavailable();
    }
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, in_memory, options));
  const Status opened = Guarded(kBackend, "Open", [&]() -> Status {
    store->writer_ = Connection::Open(path, Connection::Role::kWriter, in_memory,
                                      static_cast<int>(options.timeout.count()));
    return {};
  });
  if (!opened) return opened.error();
  if (Status migrated = store->Migrate(); !migrated) return migrated.error();
  return {std::move(store)};
}

std::unique_lock<std::timed_mutex> SqliteStore::LockWriter() {
  std::unique_lock lock(writer_mutex_, options_.timeout);
  if (!lock.owns_lock()) {
    throw StorageError(StorageError::Kind::kUnavailable, "timed out waiting for the writer");
  }
  return lock;
}

SqliteStore::ReadLease SqliteStore::AcquireReader() {
  if (in_memory_) return {LockWriter(), *writer_};
  return {*readers_, readers_->Acquire()};
}

Status SqliteStore::Migrate() {
  return Guarded(kBackend, "Migrate", [&]() -> Status {
    auto lock = LockWriter();
    Connection& conn = *writer_;
    conn.Exec(kCreateSchemaMigrations);
    const auto all = options_.migrations;
    std::vector<Migration> pending(all.begin(), all.end());
    std::sort(pending.begin(), pending.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    // Every pending migration in one transaction, and the aggregates rebuilt once at its end when
    // any of them asks for it: the rebuild is today's code, which knows only the latest schema,
    // and a crash half-way leaves nothing half-migrated. BEGIN IMMEDIATE takes the write lock, so
    // re-checking under it keeps two processes from applying the same migration.
    sqlite::WriteTransaction tx(conn);
    bool rebuild = false;
    std::vector<std::string_view> applied;
    for (const Migration& migration : pending) {
      if (migration.sql.empty()) continue;
      if (QueryExists(conn, kSelectMigrationApplied, migration.version)) continue;
      conn.Exec(std::string(migration.sql).c_str());
      rebuild = rebuild || migration.sql.find(kRebuildAggregatesMarker) != std::string_view::npos;
      Stmt(conn, kInsertMigration).Bind(migration.version, migration.name).Run();
      applied.push_back(migration.name);
    }
    if (rebuild) RebuildAggregatesIn(conn, options_.now());
    tx.Commit();
    for (const auto name : applied) spdlog::info("sqlite: applied migration {}", name);
    return {};
  });
}

Status SqliteStore::Write(const std::function<Status(domain::WriteTx&)>& work) {
  return group_commit_.Submit(
      work, [this](std::span<sqlite::GroupCommit::Request* const> batch) { RunBatch(batch); });
}

void SqliteStore::RunBatch(std::span<sqlite::GroupCommit::Request* const> batch) {
  const bool alone = batch.size() == 1;
  const Status outcome = Guarded(kBackend, "Write", [&]() -> Status {
    auto lock = LockWriter();
    sqlite::WriteTransaction transaction(*writer_);
    for (sqlite::GroupCommit::Request* request : batch) {
      if (!alone) transaction.Savepoint();
      Tx steps(*writer_);
      request->status = Guarded(kBackend, "Write", [&] { return (*request->work)(steps); });
      if (!writer_->InTransaction()) {
        throw StorageError(StorageError::Kind::kUnavailable, "the write transaction ended early");
      }
      if (alone) break;
      // A request that failed leaves nothing behind; the others go on.
      if (!request->status) transaction.RollbackToSavepoint();
      transaction.ReleaseSavepoint();
    }
    if (alone && !batch.front()->status) return {};  // rolled back as `transaction` goes
    transaction.Commit();
    return {};
  });
  if (outcome) return;
  // Nothing of the batch committed: every request that had succeeded fails with it (and those
  // that did not run yet, whose status is still success).
  for (sqlite::GroupCommit::Request* request : batch) {
    if (request->status) request->status = outcome.error();
  }
}

Status SqliteStore::Ping() {
  Status status = Guarded(kBackend, "Ping", [&]() -> Status {
    ReadLease lease = AcquireReader();
    Stmt(*lease, kPing).Run();
    return {};
  });
  if (!status) return domain::errors::StorageUnavailable();
  return status;
}

Result<std::optional<domain::User>> SqliteStore::FindUser(const std::string& user_id) {
  return Guarded(kBackend, "FindUser", [&]() -> Result<std::optional<domain::User>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectUser);
    select.Bind(user_id);
    if (!select.Step()) return std::optional<domain::User>();
    return std::optional<domain::User>(ReadUser(select));
  });
}

Result<std::optional<domain::IdempotencyRecord>> SqliteStore::FindIdempotencyKey(
    const std::string& user_id, const std::string& key) {
  return Guarded(kBackend, "FindIdempotencyKey",
                 [&]() -> Result<std::optional<domain::IdempotencyRecord>> {
                   ReadLease lease = AcquireReader();
                   Stmt select(*lease, kSelectIdempotencyKey);
                   select.Bind(user_id, key);
                   if (!select.Step()) return std::optional<domain::IdempotencyRecord>();
                   return std::optional<domain::IdempotencyRecord>(ReadIdempotencyRecord(select));
                 });
}

Result<std::optional<domain::ReferralCode>> SqliteStore::FindNewestCode(
    const std::string& user_id) {
  return Guarded(kBackend, "FindNewestCode", [&]() -> Result<std::optional<domain::ReferralCode>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectNewestCode);
    select.Bind(user_id);
    if (!select.Step()) return std::optional<domain::ReferralCode>();
    return std::optional<domain::ReferralCode>(ReadCode(select));
  });
}

Result<std::optional<domain::LinkLookup>> SqliteStore::LookupLink(const std::string& code,
                                                                  std::int64_t day,
                                                                  const std::string& visitor) {
  return Guarded(kBackend, "LookupLink", [&]() -> Result<std::optional<domain::LinkLookup>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectLink);
    select.Bind(code, day, visitor);
    if (!select.Step()) return std::optional<domain::LinkLookup>();
    return std::optional<domain::LinkLookup>(
        domain::LinkLookup{ReadCode(select), select.Int(6) != 0});
  });
}

Result<std::optional<domain::Subscription>> SqliteStore::FindActiveSubscription(
    const std::string& user_id) {
  return Guarded(kBackend, "FindActiveSubscription",
                 [&]() -> Result<std::optional<domain::Subscription>> {
                   ReadLease lease = AcquireReader();
                   Stmt select(*lease, kSelectActiveSubscription);
                   select.Bind(user_id);
                   if (!select.Step()) return std::optional<domain::Subscription>();
                   return std::optional<domain::Subscription>(ReadSubscription(select));
                 });
}

Result<std::optional<domain::Subscription>> SqliteStore::FindNewestSubscription(
    const std::string& user_id) {
  return Guarded(kBackend, "FindNewestSubscription",
                 [&]() -> Result<std::optional<domain::Subscription>> {
                   ReadLease lease = AcquireReader();
                   Stmt select(*lease, kSelectNewestSubscription);
                   select.Bind(user_id);
                   if (!select.Step()) return std::optional<domain::Subscription>();
                   return std::optional<domain::Subscription>(ReadSubscription(select));
                 });
}

Result<std::optional<domain::UserExport>> SqliteStore::ExportUser(const std::string& user_id) {
  return Guarded(kBackend, "ExportUser", [&]() -> Result<std::optional<domain::UserExport>> {
    ReadLease lease = AcquireReader();
    sqlite::ReadTransaction snapshot(*lease);
    domain::UserExport out;
    {
      Stmt select(*lease, kSelectUser);
      select.Bind(user_id);
      if (!select.Step()) return std::optional<domain::UserExport>();
      out.user = ReadUser(select);
    }
    const auto each = [&](const char* sql, const auto& add) {
      Stmt select(*lease, sql);
      select.Bind(user_id);
      while (select.Step()) add(select);
    };
    each(kSelectCodesOfUser, [&](const Stmt& row) { out.codes.push_back(ReadCode(row)); });
    each(kSelectReferralsMade,
         [&](const Stmt& row) { out.referrals_made.push_back(ReadReferral(row)); });
    each(kSelectReferralOfReferred, [&](const Stmt& row) { out.referred_by = ReadReferral(row); });
    each(kSelectRewardsOfUser, [&](const Stmt& row) { out.rewards.push_back(ReadReward(row)); });
    each(kSelectSubscriptionsOfUser,
         [&](const Stmt& row) { out.subscriptions.push_back(ReadSubscription(row)); });
    each(kSelectAuditAboutUser,
         [&](const Stmt& row) { out.automation_logs.push_back(ReadAudit(row)); });
    each(kSelectEventsAboutUser, [&](const Stmt& row) { out.events.push_back(ReadEvent(row)); });
    return std::optional<domain::UserExport>(std::move(out));
  });
}

Result<std::vector<domain::Reward>> SqliteStore::ListRewards(const std::string& user_id,
                                                             const domain::PageRequest& page) {
  return Guarded(kBackend, "ListRewards", [&]() -> Result<std::vector<domain::Reward>> {
    ReadLease lease = AcquireReader();
    const PageBound bound = BoundOf(page);
    Stmt select(*lease, kSelectRewardsPage);
    select.Bind(user_id, bound.created_at, bound.id, bound.limit);
    std::vector<domain::Reward> rewards;
    while (select.Step()) rewards.push_back(ReadReward(select));
    return rewards;
  });
}

Result<std::vector<domain::ReferralListing>> SqliteStore::ListReferrals(
    const domain::ReferralFilter& filter, const domain::PageRequest& page) {
  return Guarded(kBackend, "ListReferrals", [&]() -> Result<std::vector<domain::ReferralListing>> {
    ReadLease lease = AcquireReader();
    const PageBound bound = BoundOf(page);
    std::optional<std::string> status;
    if (filter.status) status = std::string(domain::ToString(*filter.status));
    Stmt select(*lease,
                filter.referrer_user_id ? kSelectReferralsOfReferrerPage : kSelectReferralsPage);
    if (filter.referrer_user_id) {
      select.Bind(*filter.referrer_user_id, status, bound.created_at, bound.id, bound.limit);
    } else {
      select.Bind(status, bound.created_at, bound.id, bound.limit);
    }
    std::vector<domain::ReferralListing> rows;
    while (select.Step()) rows.push_back(ReadReferralListing(select));
    return rows;
  });
}

Result<std::optional<domain::Referral>> SqliteStore::FindReferralOf(const std::string& user_id) {
  return Guarded(kBackend, "FindReferralOf", [&]() -> Result<std::optional<domain::Referral>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectReferralOfReferred);
    select.Bind(user_id);
    if (!select.Step()) return std::optional<domain::Referral>();
    return std::optional<domain::Referral>(ReadReferral(select));
  });
}

Result<domain::ReferrerStats> SqliteStore::GetReferrerStats(const std::string& user_id) {
  return Guarded(kBackend, "GetReferrerStats", [&]() -> Result<domain::ReferrerStats> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectReferrerStats);
    select.Bind(user_id);
    domain::ReferrerStats stats;
    if (select.Step()) {
      stats.total_referrals = select.Int(0);
      stats.converted_referrals = select.Int(1);
      stats.pending_referrals = select.Int(2);
      stats.total_rewards_earned = select.Int(3);
      stats.revoked_conversions = select.Int(4);
      stats.clicks = select.Int(5);
    }
    return stats;
  });
}

Result<std::vector<domain::LeaderboardEntry>> SqliteStore::Leaderboard(
    std::optional<int> window_days, TimePoint now, int limit) {
  return Guarded(kBackend, "Leaderboard", [&]() -> Result<std::vector<domain::LeaderboardEntry>> {
    ReadLease lease = AcquireReader();
    std::vector<domain::LeaderboardEntry> rows;
    if (!window_days) {
      Stmt select(*lease, kSelectLeaderboardAll);
      select.Bind(std::max(limit, 0));
      while (select.Step()) rows.push_back(ReadLeaderboardEntry(select));
      return rows;
    }
    sqlite::ReadTransaction snapshot(*lease);
    const std::int64_t today = UtcDayNumber(now);
    WindowTop top(limit);
    Stmt ranked(*lease, kSelectWindowRanked);
    ranked.Bind(*window_days);
    while (ranked.Step()) {
      domain::LeaderboardEntry entry = ReadLeaderboardEntry(ranked);
      if (!top.MayEnter(entry.converted_referrals, entry.total_referrals, entry.user_id)) break;
      if (ranked.Int(4) != today) {
        Stmt counts(*lease, kSelectWindowCounts);
        counts.Bind(entry.user_id, today, *window_days);
        if (counts.Step()) {
          entry.total_referrals = counts.Int(0);
          entry.converted_referrals = counts.Int(1);
        }
      }
      top.Add(std::move(entry));
    }
    return std::move(top).Take();
  });
}

Result<domain::AnalyticsCounts> SqliteStore::Analytics(std::optional<int> window_days,
                                                       TimePoint now) {
  return Guarded(kBackend, "Analytics", [&]() -> Result<domain::AnalyticsCounts> {
    ReadLease lease = AcquireReader();
    sqlite::ReadTransaction snapshot(*lease);
    domain::AnalyticsCounts counts;
    std::int64_t codes = 0;
    std::int64_t flagged_active = 0;
    {
      Stmt totals(*lease, kSelectProgramTotals);
      if (totals.Step()) {
        counts.total_referrals = totals.Int(0);
        counts.converted_referrals = totals.Int(1);
        counts.total_rewards_awarded = totals.Int(2);
        codes = totals.Int(3);
        flagged_active = totals.Int(4);
        counts.clicks = totals.Int(5);
      }
    }
    if (window_days) {
      const std::int64_t today = UtcDayNumber(now);
      Stmt days(*lease, kSelectProgramDays);
      days.Bind(today - (*window_days - 1), today);
      if (days.Step()) {
        counts.total_referrals = days.Int(0);
        counts.converted_referrals = days.Int(1);
        counts.total_rewards_awarded = days.Int(2);
        counts.clicks = days.Int(3);
      }
    }
    Stmt past_expiry(*lease, kSelectCodesPastExpiry);
    past_expiry.Bind(now);
    const std::int64_t unswept = past_expiry.Step() ? past_expiry.Int(0) : 0;
    counts.active_codes = flagged_active - unswept;
    counts.expired_codes = codes - counts.active_codes;
    return counts;
  });
}

Result<std::vector<domain::DailyCount>> SqliteStore::DailyCounts(std::int64_t first_day,
                                                                 std::int64_t last_day) {
  return Guarded(kBackend, "DailyCounts", [&]() -> Result<std::vector<domain::DailyCount>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectDailyCounts);
    select.Bind(first_day, last_day);
    std::vector<domain::DailyCount> out;
    while (select.Step()) {
      out.push_back(domain::DailyCount{FormatDate(StartOfDayNumber(select.Int(0))), select.Int(1),
                                       select.Int(2), select.Int(3)});
    }
    return out;
  });
}

Result<std::vector<std::string>> SqliteStore::BadgeCandidates(std::int64_t threshold) {
  return Guarded(kBackend, "BadgeCandidates", [&]() -> Result<std::vector<std::string>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectBadgeCandidates);
    select.Bind(threshold);
    std::vector<std::string> users;
    while (select.Step()) users.push_back(select.Text(0));
    return users;
  });
}

Result<std::vector<domain::AuditEntry>> SqliteStore::ListAudit(
    const std::optional<std::string>& service, const domain::PageRequest& page) {
  return Guarded(kBackend, "ListAudit", [&]() -> Result<std::vector<domain::AuditEntry>> {
    ReadLease lease = AcquireReader();
    const PageBound bound = BoundOf(page);
    Stmt select(*lease, service ? kSelectAuditOfService : kSelectAudit);
    if (service) {
      select.Bind(bound.created_at, bound.id, bound.limit, *service);
    } else {
      select.Bind(bound.created_at, bound.id, bound.limit);
    }
    std::vector<domain::AuditEntry> entries;
    while (select.Step()) entries.push_back(ReadAudit(select));
    return entries;
  });
}

Result<domain::EventPage> SqliteStore::ListEvents(const domain::EventPosition& after,
                                                  std::optional<domain::EventType> type,
                                                  int limit) {
  return Guarded(kBackend, "ListEvents", [&]() -> Result<domain::EventPage> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, type ? kSelectEventsOfType : kSelectEvents);
    if (type) {
      select.Bind(domain::ToString(*type), after.seq, std::max(limit, 0));
    } else {
      select.Bind(after.seq, std::max(limit, 0));
    }
    domain::EventPage page{{}, after};
    while (select.Step()) {
      page.events.push_back(ReadEvent(select));
      page.next = domain::EventPosition{0, select.Int(4)};
    }
    return page;
  });
}

// --- webhooks
// -------------------------------------------------------------------------------------

Status SqliteStore::InsertWebhook(const domain::WebhookEndpoint& endpoint) {
  return Guarded(kBackend, "InsertWebhook", [&]() -> Status {
    auto lock = LockWriter();
    sqlite::WriteTransaction transaction(*writer_);
    std::optional<std::string> types;
    if (endpoint.event_types) types = codec::EncodeEventTypes(*endpoint.event_types);
    Stmt(*writer_, kInsertWebhook)
        .Bind(endpoint.id, endpoint.url, types, endpoint.description, endpoint.secret,
              endpoint.created_at)
        .Run();
    transaction.Commit();
    return {};
  });
}

Result<std::vector<domain::WebhookEndpoint>> SqliteStore::ListWebhooks() {
  return Guarded(kBackend, "ListWebhooks", [&]() -> Result<std::vector<domain::WebhookEndpoint>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectWebhooks);
    std::vector<domain::WebhookEndpoint> endpoints;
    while (select.Step()) endpoints.push_back(ReadWebhook(select));
    return endpoints;
  });
}

Result<std::optional<domain::WebhookEndpoint>> SqliteStore::FindWebhook(const std::string& id) {
  return Guarded(kBackend, "FindWebhook", [&]() -> Result<std::optional<domain::WebhookEndpoint>> {
    ReadLease lease = AcquireReader();
    Stmt select(*lease, kSelectWebhook);
    select.Bind(id);
    if (!select.Step()) return std::optional<domain::WebhookEndpoint>();
    return std::optional<domain::WebhookEndpoint>(ReadWebhook(select));
  });
}

Result<bool> SqliteStore::DeleteWebhook(const std::string& id) {
  return Guarded(kBackend, "DeleteWebhook", [&]() -> Result<bool> {
    auto lock = LockWriter();
    sqlite::WriteTransaction transaction(*writer_);
    Stmt(*writer_, kDeleteDeliveriesOfWebhook).Bind(id).Run();
    Stmt(*writer_, kDeleteWebhook).Bind(id).Run();
    const bool deleted = writer_->Changes() == 1;
    transaction.Commit();
    return deleted;
  });
}

Result<std::vector<domain::WebhookDelivery>> SqliteStore::ListDeliveries(
    const std::string& endpoint_id, const domain::PageRequest& page) {
  return Guarded(kBackend, "ListDeliveries", [&]() -> Result<std::vector<domain::WebhookDelivery>> {
    ReadLease lease = AcquireReader();
    const PageBound bound = BoundOf(page);
    Stmt select(*lease, kSelectDeliveries);
    select.Bind(endpoint_id, bound.created_at, SeqBoundOf(page), bound.limit);
    std::vector<domain::WebhookDelivery> deliveries;
    while (select.Step()) deliveries.push_back(ReadDelivery(select));
    return deliveries;
  });
}

Result<domain::FanOutResult> SqliteStore::FanOutEvents(TimePoint now, int batch) {
  return Guarded(kBackend, "FanOutEvents", [&]() -> Result<domain::FanOutResult> {
    std::vector<std::string> ids;
    {
      ReadLease lease = AcquireReader();
      sqlite::ReadTransaction snapshot(*lease);
      std::int64_t feed_end = 0;
      {
        Stmt end(*lease, kSelectFeedEnd);
        if (end.Step()) feed_end = end.Int(0);
      }
      Stmt select(*lease, kSelectWebhookCursors);
      while (select.Step()) {
        if (select.Int(1) < feed_end) ids.push_back(select.Text(0));
      }
    }
    domain::FanOutResult result;
    for (const std::string& id : ids) {
      auto lock = LockWriter();
      sqlite::WriteTransaction transaction(*writer_);
      std::int64_t cursor = 0;
      {
        Stmt select(*writer_, kSelectWebhookCursor);
        select.Bind(id);
        if (!select.Step()) continue;  // deleted meanwhile
        cursor = select.Int(0);
      }
      std::int64_t end = cursor;
      std::int64_t scanned = 0;
      {
        Stmt page(*writer_, kSelectPageEnd);
        page.Bind(cursor, std::max(batch, 0));
        if (page.Step() && !page.IsNull(0)) {
          end = page.Int(0);
          scanned = page.Int(1);
        }
      }
      if (scanned == 0) continue;
      Stmt(*writer_, kFanOutPage).Bind(id, cursor, now, std::max(batch, 0)).Run();
      const std::int64_t created = writer_->Changes();
      Stmt(*writer_, kMoveWebhookCursor).Bind(id, cursor, end).Run();
      if (writer_->Changes() != 1) continue;  // cannot happen under the write lock; roll back
      transaction.Commit();
      result.created += created;
      result.more = result.more || scanned >= batch;
    }
    return result;
  });
}

Result<std::optional<std::int64_t>> SqliteStore::RequeueDeliveries(
    const std::string& endpoint_id, const domain::EventPosition& after, TimePoint now) {
  return Guarded(kBackend, "RequeueDeliveries", [&]() -> Result<std::optional<std::int64_t>> {
    auto lock = LockWriter();
    sqlite::WriteTransaction transaction(*writer_);
    if (!QueryExists(*writer_, kSelectWebhookCursor, endpoint_id)) {
      return std::optional<std::int64_t>();
    }
    Stmt(*writer_, kRequeueDeliveries).Bind(endpoint_id, after.seq, now).Run();
    const std::int64_t queued = writer_->Changes();
    transaction.Commit();
    return std::optional<std::int64_t>(queued);
  });
}

Result<std::optional<domain::ClaimedDelivery>> SqliteStore::ClaimDelivery(
    TimePoint now, TimePoint lease_until, const std::string& lease) {
  return Guarded(kBackend, "ClaimDelivery",
                 [&]() -> Result<std::optional<domain::ClaimedDelivery>> {
                   {
                     ReadLease reader = AcquireReader();
                     if (!QueryExists(*reader, kSelectAnyDue, now)) {
                       return std::optional<domain::ClaimedDelivery>();
                     }
                   }
                   auto lock = LockWriter();
                   sqlite::WriteTransaction transaction(*writer_);
                   std::string endpoint_id;
                   std::string event_id;
                   {
                     Stmt claim(*writer_, kClaimDelivery);
                     claim.Bind(now, lease_until, lease);
                     if (!claim.Step()) return std::optional<domain::ClaimedDelivery>();
                     endpoint_id = claim.Text(0);
                     event_id = claim.Text(1);
                     claim.Run();
                   }
                   Stmt select(*writer_, kSelectClaimed);
                   select.Bind(endpoint_id, event_id);
                   if (!select.Step()) return std::optional<domain::ClaimedDelivery>();
                   auto claimed = ReadClaimedDelivery(select, lease);
                   transaction.Commit();
                   return std::optional<domain::ClaimedDelivery>(std::move(claimed));
                 });
}

Result<bool> SqliteStore::RecordDeliveryAttempt(const domain::DeliveryAttempt& a) {
  return Guarded(kBackend, "RecordDeliveryAttempt", [&]() -> Result<bool> {
    auto lock = LockWriter();
    sqlite::WriteTransaction transaction(*writer_);
    Stmt(*writer_, kRecordDeliveryAttempt)
        .Bind(a.endpoint_id, a.event_id, a.lease, domain::ToString(a.status), a.response_status,
              a.attempted_at, a.next_attempt_at)
        .Run();
    const bool recorded = writer_->Changes() == 1;
    transaction.Commit();
    return recorded;
  });
}

Status SqliteStore::ReleaseDelivery(const std::string& endpoint_id, const std::string& event_id,
                                    const std::string& lease) {
  return Guarded(kBackend, "ReleaseDelivery", [&]() -> Status {
    auto lock = LockWriter();
    sqlite::WriteTransaction transaction(*writer_);
    Stmt(*writer_, kReleaseDelivery).Bind(endpoint_id, event_id, lease).Run();
    transaction.Commit();
    return {};
  });
}

Result<domain::ReadModels> SqliteStore::RecountReadModels(TimePoint now) {
  return Guarded(kBackend, "RecountReadModels", [&]() -> Result<domain::ReadModels> {
    ReadLease lease = AcquireReader();
    sqlite::ReadTransaction snapshot(*lease);
    domain::ReadModels models;
    {
      Stmt stats(*lease, kRecountStats);
      while (stats.Step()) {
        models.stats[stats.Text(0)] = domain::ReferrerStats{
            stats.Int(1), stats.Int(2), stats.Int(3), stats.Int(4), stats.Int(5), stats.Int(6)};
      }
    }
    std::vector<std::optional<int>> periods{std::nullopt};
    for (const int window : domain::kWindowLengths) periods.emplace_back(window);
    for (const auto& window : periods) {
      auto& rows = models.leaderboards[window.value_or(0)];
      Stmt leaderboard(*lease, kRecountLeaderboard);
      leaderboard.Bind(SinceText(window, now));
      while (leaderboard.Step()) rows.push_back(ReadLeaderboardEntry(leaderboard));
      Stmt analytics(*lease, kRecountAnalytics);
      analytics.Bind(SinceText(window, now), now, FirstDay(window, now));
      if (analytics.Step()) {
        auto& counts = models.analytics[window.value_or(0)];
        counts.total_referrals = analytics.Int(0);
        counts.converted_referrals = analytics.Int(1);
        counts.total_rewards_awarded = analytics.Int(2);
        counts.active_codes = analytics.Int(3);
        counts.expired_codes = analytics.Int(4) - counts.active_codes;
        counts.clicks = analytics.Int(5);
      }
    }
    Stmt days(*lease, kRecountDays);
    days.Bind(AddDays(StartOfUtcDay(now), 1), UtcDayNumber(now));
    while (days.Step()) {
      models.days.push_back(
          domain::DailyCount{days.Text(0), days.Int(1), days.Int(2), days.Int(3)});
    }
    return models;
  });
}

void SqliteStore::RebuildAggregatesIn(Connection& conn, TimePoint now) {
  for (const char* sql : kDeleteAggregates) Stmt(conn, sql).Run();
  Stmt(conn, kRebuildReferrerTotals).Run();
  Stmt(conn, kRebuildReferrerDaily).Run();
  for (const int window : domain::kWindowLengths) {
    Stmt(conn, kRebuildReferrerWindows).Bind(window, UtcDayNumber(now)).Run();
  }
  Stmt(conn, kRebuildProgramDaily).Run();
  Stmt(conn, kRebuildProgramTotals).Run();
}

Status SqliteStore::RebuildAggregates(TimePoint now) {
  return Guarded(kBackend, "RebuildAggregates", [&]() -> Status {
    auto lock = LockWriter();
    sqlite::WriteTransaction transaction(*writer_);
    RebuildAggregatesIn(*writer_, now);
    transaction.Commit();
    return {};
  });
}

}  // namespace referrald::storage
