#pragma once
// The storage port: one use-case-shaped interface the domain needs, implemented by
// storage/sqlite_store and (later) storage/postgres_store. The domain owns it so that
// dependencies point from storage to domain, never back.
//
// Every method is thread-safe and atomic: a method that writes runs in one transaction, and the
// exactly-once rules (one referrer per user, one active code per user, one conversion per
// referral, one claim per reward, one badge per user) are enforced by constraints or single
// conditional statements inside the database. Each successful mutation writes its
// automation_logs row(s) in the same transaction. Failures of the database itself come back as
// errors::StorageUnavailable() / errors::StorageFailure(); never with driver text.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/model.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace referrald::domain {

// A new code to insert. The store deactivates the user's expired active codes first.
struct NewCode {
  std::string id;
  std::string user_id;
  std::string code;
  TimePoint now;
  TimePoint expires_at;
};

// A signup with a code. `code` is already trimmed and uppercased.
struct NewReferral {
  std::string id;
  std::string referred_user_id;
  std::string code;
  TimePoint now;
};

// What a conversion grants: the referrer's free_premium reward.
struct ConversionGrant {
  std::string referred_user_id;
  std::string reward_id;
  std::int64_t reward_days = 0;
  std::optional<TimePoint> reward_expires_at;  // nullopt: claimable forever
  TimePoint now;
};

class Store {
 public:
  virtual ~Store() = default;

  // Cheap round trip for /health. kUnavailable when the database does not answer.
  virtual Status Ping() = 0;

  // Creates the user, or updates its email when it changed. Idempotent.
  virtual Status UpsertUser(const std::string& user_id, const std::optional<std::string>& email,
                            TimePoint now) = 0;
  virtual Result<std::optional<User>> FindUser(const std::string& user_id) = 0;

  // Inserts a code. Errors: CodeExists(existing) when the user has an active unexpired code
  // (including one inserted concurrently); CodeCollision() when the code text is taken.
  // Writes kCodeGenerated.
  virtual Result<ReferralCode> CreateCode(const NewCode& code) = 0;
  // The user's newest code, active or not.
  virtual Result<std::optional<ReferralCode>> FindNewestCode(const std::string& user_id) = 0;

  // Records a signup. Errors, checked in this order inside one transaction: InvalidCode()
  // (unknown, inactive or expired at `now`), SelfReferral(), AlreadyReferred(),
  // CircularReferral() (the code's owner was referred by the caller). Writes kReferralTracked.
  virtual Result<Referral> TrackReferral(const NewReferral& referral) = 0;

  // Converts the pending referral of grant.referred_user_id and grants the referrer's reward.
  // Errors: ReferralNotFound() (no referral), AlreadyConverted() (already converted).
  // Writes kReferralConverted and kRewardGranted.
  virtual Result<Conversion> ConvertReferral(const ConversionGrant& grant) = 0;

  // Inserts an active subscription and, in the same transaction and when `grant` is set,
  // converts the subscriber's pending referral if there is one. Errors: AlreadySubscribed().
  // Writes kSubscriptionCreated (+ conversion rows).
  virtual Result<SubscriptionCreated> CreateSubscription(
      const Subscription& subscription, const std::optional<ConversionGrant>& grant) = 0;
  virtual Result<std::optional<Subscription>> FindActiveSubscription(
      const std::string& user_id) = 0;

  // The user's rewards, newest first.
  virtual Result<std::vector<Reward>> ListRewards(const std::string& user_id) = 0;
  // Claims an unclaimed reward of the user and, for free_premium, sets
  // premium_until = max(now, premium_until) + days. Errors: RewardNotFound() (unknown, another
  // user's, already claimed), RewardExpired(). Writes kRewardClaimed.
  virtual Result<Reward> ClaimReward(const std::string& user_id, const std::string& reward_id,
                                     TimePoint now) = 0;

  // The user's counts as a referrer; rewards counts all of the user's rewards.
  virtual Result<ReferrerStats> GetReferrerStats(const std::string& user_id) = 0;

  // Referrers with at least one referral created at or after `since` (all when nullopt),
  // ordered by converted desc, total desc, user_id asc; at most `limit` rows; rank left 0.
  virtual Result<std::vector<LeaderboardEntry>> Leaderboard(std::optional<TimePoint> since,
                                                            int limit) = 0;
  // Referrals created since `since` (a cohort: converted counts those of them that converted),
  // rewards of every type created since `since`; code counts as of `now` whatever the period.
  virtual Result<AnalyticsCounts> Analytics(std::optional<TimePoint> since, TimePoint now) = 0;
  // Signups by created_at day and conversions by converted_at day, for days in [from, now];
  // only days that have any; ascending.
  virtual Result<std::vector<DailyCount>> DailyCounts(TimePoint from, TimePoint now) = 0;

  // Deactivates active codes with expires_at <= now. Returns how many.
  virtual Result<std::int64_t> ExpireCodes(TimePoint now) = 0;
  // Grants the badge reward (already claimed) to every user with >= threshold converted
  // referrals who has none; exactly once per user even under concurrent runs. Returns the
  // user ids granted. `new_id` supplies ids for the rows it inserts.
  virtual Result<std::vector<std::string>> AwardBadges(std::int64_t threshold,
                                                       const std::string& badge_name,
                                                       TimePoint now) = 0;

  // Claims the scheduled run of `job` at `slot` for this instance: true for exactly one caller
  // per (job, slot) across every instance sharing the database.
  virtual Result<bool> ClaimScheduledRun(const std::string& job, TimePoint slot, TimePoint now) = 0;

  // Appends one automation_logs row (for refusals and job runs; successes are written by the
  // mutating methods themselves).
  virtual Status AppendAudit(const AuditEntry& entry) = 0;
  // Newest first; `service` filters when set.
  virtual Result<std::vector<AuditEntry>> ListAudit(const std::optional<std::string>& service,
                                                    int limit) = 0;
};

}  // namespace referrald::domain
