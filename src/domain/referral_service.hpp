#pragma once
// The referral program's use cases. Each validates its input, then runs its rules in one
// transaction through the storage port (domain/store.hpp). Thread-safe: holds no mutable state
// of its own beyond what Store, Clock, RandomSource and IdGenerator guard.

#include <optional>
#include <string>
#include <vector>

#include "domain/idempotency.hpp"
#include "domain/model.hpp"
#include "domain/paging.hpp"
#include "domain/rules.hpp"
#include "domain/settings.hpp"
#include "domain/store.hpp"
#include "util/clock.hpp"
#include "util/ids.hpp"
#include "util/metrics.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace referrald::domain {

// The write use cases take an optional OnCommit hook (domain/idempotency.hpp): called with the
// result at the end of the transaction that makes the change, so that the caller can keep
// something with it (the HTTP layer: an idempotent request's response).
class ReferralService {
 public:
  // `random` draws code text; `ids` names every row written. `metrics`, when given, counts
  // referrals tracked and converted and rewards granted/claimed.
  ReferralService(Store& store, const Clock& clock, RandomSource& random, IdGenerator& ids,
                  ReferralSettings settings, Metrics* metrics = nullptr);

  // New code for the actor; expires_in_days in 1..3650 (default from settings). An expired
  // active code is deactivated first. Errors: Invalid (range), CodeExists.
  Result<ReferralCode> GenerateCode(const Actor& actor, std::optional<std::int64_t> expires_in_days,
                                    const OnCommit<ReferralCode>& on_commit = {});
  // The user's newest code. Errors: CodeNotFound.
  Result<ReferralCode> GetCode(const std::string& user_id);
  // Errors, in this order: InvalidCode, SelfReferral, AlreadyReferred, CircularReferral.
  Result<Referral> Track(const Actor& actor, std::string_view code_input,
                         const OnCommit<Referral>& on_commit = {});
  Result<ReferrerStats> Stats(const std::string& user_id);
  // The user's rewards, newest first, one page.
  Result<Page<Reward>> Rewards(const std::string& user_id, const PageRequest& page);
  // The user's referrals as referrer, newest first, one page; referred emails masked (null when
  // unknown or erased).
  Result<Page<ReferralListing>> ReferralsMade(const std::string& user_id, const PageRequest& page);
  // Every referral matching `filter`, newest first, one page (referred emails as stored).
  Result<Page<ReferralListing>> ListReferrals(const ReferralFilter& filter,
                                              const PageRequest& page);
  // Errors: InvalidRewardId (not a UUID), RewardNotFound (unknown, another user's, already
  // claimed, revoked), RewardOnHold (before claimable_at), RewardExpired.
  Result<Reward> ClaimReward(const Actor& actor, std::string_view reward_id,
                             const OnCommit<Reward>& on_commit = {});
  // limit 1..100. Emails masked unless reveal_emails.
  Result<std::vector<LeaderboardEntry>> Leaderboard(Period period, int limit, bool reveal_emails);
  Result<AnalyticsSummary> Analytics(Period period);
  // days 1..365.
  Result<std::vector<DailyCount>> Trends(int days);
  // GET /r/{code} (contract section 12): the active, unexpired code `code_input` names (trimmed,
  // any case). Counts the visit as a click of `visitor` (an opaque hash, domain::Click) unless
  // `count` is false or the visitor's click of today's UTC day is counted already; a click that
  // cannot be written is logged, not returned. Errors: InvalidCode.
  Result<ReferralCode> FollowLink(std::string_view code_input, const std::string& visitor,
                                  bool count = true);
  // processReferralConversion by hand (an admin). Errors: InvalidReferredUserId (not a UUID),
  // ReferralNotFound, AlreadyConverted.
  Result<Conversion> Convert(const Actor& actor, std::string_view referred_user_id,
                             const OnCommit<Conversion>& on_commit = {});

  // --- the same rules inside a caller's transaction (composition, bulk loading) ---

  // A new candidate code for `actor`, created at `now`, valid `days`.
  ReferralCode NewCode(const Actor& actor, std::int64_t days, TimePoint now);
  // Inserts `code` (from NewCode) for `actor` at code.created_at. Errors: CodeExists,
  // CodeCollision (the caller draws another code in a new transaction).
  Result<ReferralCode> GenerateCodeIn(WriteTx& tx, const Actor& actor, const ReferralCode& code);
  // `code` already normalised. Errors as Track, without auditing the refusal.
  Result<Referral> TrackIn(WriteTx& tx, const Actor& actor, const std::string& code, TimePoint now);
  // Converts the pending referral of `referred_user_id` and grants its referrer's reward
  // (audited). nullopt when the user has no pending referral.
  Result<std::optional<Conversion>> ConvertPending(WriteTx& tx, const std::string& referred_user_id,
                                                   TimePoint now);
  // The clawback of a refunded cancellation (contract §11): revokes the reward that the
  // conversion of `referred_user_id` earned its referrer, while it is on hold at `now` (never a
  // claimed one), audited and with a reward.revoked event. nullopt when nothing was revoked (no
  // converted referral, or its reward is claimed, past its hold or already revoked).
  Result<std::optional<Reward>> RevokeHeldRewardIn(WriteTx& tx, const std::string& referred_user_id,
                                                   TimePoint now);
  // Counts a committed conversion and its reward in the metrics.
  void CountConversion();

 private:
  // Audits a refusal in its own transaction (also provisioning the actor's user row).
  void Refused(std::string_view action, const Actor& actor, const Error& error, Details details);

  Store& store_;
  const Clock& clock_;
  RandomSource& random_;
  IdGenerator& ids_;
  ReferralSettings settings_;
  Metrics* metrics_;
};

}  // namespace referrald::domain
