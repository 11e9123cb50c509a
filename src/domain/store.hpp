#pragma once
// The storage port: what the domain needs from a database, implemented by storage/sqlite and
// storage/postgres. The domain owns it so that dependencies point from storage to domain.
//
// Writes: a use case runs its steps inside Store::Write, one transaction, through WriteTx. The
// rules (which checks, in which order, what is audited) are written once, in the domain; a
// backend provides each step as SQL. Every exactly-once rule is enforced by the step itself — a
// constraint or a single conditional statement — so two processes sharing a database cannot both
// win, whatever the domain code around it does. Reads are use-case-shaped queries on Store.
//
// Ids, timestamps and audit rows always come in from the domain: no store generates an id or
// composes an audit entry. Failures of the database come back as errors::StorageUnavailable()
// or errors::StorageFailure(), never with driver text. Every method is thread-safe.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "domain/events.hpp"
#include "domain/model.hpp"
#include "domain/paging.hpp"
#include "domain/user_export.hpp"
#include "domain/webhooks.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace referrald::domain {

// How an attempt to insert a code ended.
enum class CodeInsert {
  kInserted,
  kCodeTaken,          // another code has the same text: the caller regenerates
  kUserHasActiveCode,  // the user already has an active code (perhaps inserted concurrently)
};

// The steps of one write transaction. Valid only inside the Store::Write call that passed it.
class WriteTx {
 public:
  virtual ~WriteTx() = default;

  // --- users ---
  // Creates the user, or updates its email when `email` is set and differs. Errors: UserErased
  // when the user was erased (nothing changes) — the check every write use case makes of its
  // actor, in the statement that provisions it, so that it costs no round trip of its own; an
  // erasure that commits while this transaction runs is seen or waited for.
  virtual Status UpsertUser(const Actor& actor, TimePoint now) = 0;
  // Erases the user: email set to NULL, erased_at set to `now` unless set already (holding the
  // user's row until commit). nullopt when there is no such user.
  virtual Result<std::optional<ErasedUser>> MarkUserErased(const std::string& user_id,
                                                           TimePoint now) = 0;
  // Replaces `email` (matched exactly, case-sensitively) wherever free text stores it: the
  // details and error messages of automation_logs, the data of events (and so the payloads of
  // webhook deliveries not yet sent, which are read from the events) and remembered
  // Idempotency-Key answers. Scans those tables.
  virtual Status ScrubEmail(const std::string& email) = 0;
  // Deactivates every active code of the user (the aggregates count them as expired). Returns
  // how many.
  virtual Result<std::int64_t> DeactivateCodesOf(const std::string& user_id) = 0;
  // Deletes the user's remembered Idempotency-Keys (and so their answers).
  virtual Status DeleteIdempotencyKeysOf(const std::string& user_id) = 0;
  // The user's premium_until, holding the user's row until commit so that concurrent claims of
  // one user extend premium one after the other. The user must exist.
  virtual Result<std::optional<TimePoint>> LockPremiumUntil(const std::string& user_id) = 0;
  virtual Status SetPremiumUntil(const std::string& user_id, TimePoint until) = 0;
  // Makes every other transaction that locks the same pair (in either order) wait until this one
  // ends: the circular-referral rule reads one user's referrer and writes the other's.
  virtual Status LockUserPair(const std::string& a, const std::string& b) = 0;

  // --- codes ---
  // The user's code with is_active set (expired or not), if any.
  virtual Result<std::optional<ReferralCode>> FindActiveCode(const std::string& user_id) = 0;
  virtual Status DeactivateCode(const std::string& code_id) = 0;
  // Inserts an active code unless its text is taken or the user has an active code; never
  // aborts the transaction.
  virtual Result<CodeInsert> InsertCode(const ReferralCode& code) = 0;
  // The code with this exact (normalised) text, whatever its state.
  virtual Result<std::optional<ReferralCode>> FindCodeByText(const std::string& code) = 0;
  // Deactivates every active code with expires_at <= now. Returns how many.
  virtual Result<std::int64_t> ExpireCodes(TimePoint now) = 0;

  // --- referrals ---
  // The referral whose referred user is `user_id` (a user has at most one).
  virtual Result<std::optional<Referral>> FindReferralOf(const std::string& user_id) = 0;
  // Inserts the referral; false when the referred user already has one (unique index).
  virtual Result<bool> InsertReferral(const Referral& referral) = 0;
  // Turns the user's pending referral into converted at `now`, in one conditional statement;
  // nullopt when the user has no pending referral (none, or already converted).
  virtual Result<std::optional<Referral>> ConvertPendingReferral(const std::string& user_id,
                                                                 TimePoint now) = 0;

  // --- rewards ---
  // Inserts a reward. A second reward for one source referral is refused by a unique index.
  virtual Status InsertReward(const Reward& reward) = 0;
  virtual Result<std::optional<Reward>> FindReward(const std::string& reward_id) = 0;
  // Marks the reward claimed at `now` in one conditional statement: only when it belongs to
  // `user_id`, is unclaimed, not revoked, past its hold (claimable_at <= now) and not expired at
  // `now`. False when nothing changed.
  virtual Result<bool> MarkRewardClaimed(const std::string& reward_id, const std::string& user_id,
                                         TimePoint now) = 0;
  // Inserts `badge` (a claimed badge reward) in one conditional statement: only when its user
  // has at least `threshold` converted referrals whose reward was not revoked, and no badge yet.
  // False when nothing changed.
  virtual Result<bool> InsertBadge(const Reward& badge, std::int64_t threshold) = 0;
  // Revokes the reward earned by the converted referral `source_referral_id` at `now`, in one
  // conditional statement: only while it is on hold at `now` (claimable_at after `now`),
  // unclaimed and not yet revoked — so a claim and a revocation never both win, and a second
  // revocation changes nothing. Counts the revoked conversion for the reward's owner (the badge
  // rule subtracts it) in the same transaction. The reward as revoked; nullopt when nothing
  // changed.
  virtual Result<std::optional<Reward>> RevokeHeldReward(const std::string& source_referral_id,
                                                         TimePoint now) = 0;

  // --- referral links ---
  // Counts `click` unless its (code, day, visitor) is counted already, in one conditional
  // statement, and adds it to the aggregates (its referrer's clicks, the program's per day and in
  // total) in this transaction. True when it was counted now.
  virtual Result<bool> InsertClick(const Click& click) = 0;

  // --- subscriptions ---
  // Inserts an active subscription; false when the user already has an active one.
  virtual Result<bool> InsertSubscription(const Subscription& subscription) = 0;
  // Cancels the user's active subscription at `now`, recording `refund` and `reason`, in one
  // conditional statement: of two concurrent cancellations one changes it. The subscription as
  // cancelled; nullopt when the user has no active one.
  virtual Result<std::optional<Subscription>> CancelActiveSubscription(
      const std::string& user_id, TimePoint now, bool refund,
      const std::optional<std::string>& reason) = 0;

  // --- scheduling ---
  // Claims the run of `job` at `slot`: true for exactly one caller per (job, slot) across every
  // instance sharing the database.
  virtual Result<bool> ClaimScheduledRun(const std::string& job, TimePoint slot, TimePoint now) = 0;

  // --- aggregates ---
  // Recounts the window totals last counted before `today` (a UTC day number) and drops those
  // left without a referral, so that reads meet few stale rows. Reads are right without it.
  // Returns how many rows changed.
  virtual Result<std::int64_t> RefreshAggregates(std::int64_t today) = 0;

  // --- idempotency keys (domain/idempotency.hpp decides what they mean) ---
  // Inserts `record` (whole: state and response too) unless its caller already has a row for its
  // key, whatever its state; false when it has. A concurrent insert of the same key waits for the
  // first to commit or roll back.
  virtual Result<bool> InsertIdempotencyKey(const IdempotencyRecord& record) = 0;
  // The caller's row for `key`, whatever its age.
  virtual Result<std::optional<IdempotencyRecord>> FindIdempotencyKey(const std::string& user_id,
                                                                      const std::string& key) = 0;
  // Overwrites the caller's row for record.key with `record` (whole) in one conditional
  // statement, only while its owner is still `expected_owner`: of two replacing a forgotten row,
  // one wins. False when the row is gone or has another owner.
  virtual Result<bool> ReplaceIdempotencyKey(const IdempotencyRecord& record,
                                             const std::string& expected_owner) = 0;
  // Deletes at most `limit` rows created at or before `cutoff`, but none whose request may still
  // be running (in progress with lease_until after `now`). Returns how many.
  virtual Result<std::int64_t> DeleteExpiredIdempotencyKeys(TimePoint cutoff, TimePoint now,
                                                            int limit) = 0;

  // --- records ---
  virtual Status AppendAudit(const AuditEntry& entry) = 0;
  // Appends `event` to the outbox; it becomes visible to ListEvents when (and only if) this
  // transaction commits. Events appended by one transaction are listed in the order appended.
  virtual Status AppendEvent(const Event& event) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Runs `work` in one write transaction: commits when it returns success, rolls back when it
  // returns an error (which Write then returns). When the database asks for a retry (a
  // serialization failure or deadlock) Write rolls back and runs `work` again, so `work` must
  // have no effect outside the transaction. A failure to commit is StorageUnavailable().
  virtual Status Write(const std::function<Status(WriteTx&)>& work) = 0;

  // Cheap round trip for /health. kUnavailable when the database does not answer.
  virtual Status Ping() = 0;

  virtual Result<std::optional<User>> FindUser(const std::string& user_id) = 0;
  // Every row that concerns the user (domain/user_export.hpp); nullopt when there is no such user.
  virtual Result<std::optional<UserExport>> ExportUser(const std::string& user_id) = 0;
  // The caller's Idempotency-Key row for `key`, whatever its age, as committed.
  virtual Result<std::optional<IdempotencyRecord>> FindIdempotencyKey(const std::string& user_id,
                                                                      const std::string& key) = 0;
  // The user's newest code, active or not.
  virtual Result<std::optional<ReferralCode>> FindNewestCode(const std::string& user_id) = 0;
  // The code with this exact (normalised) text whatever its state, and whether `visitor` has a
  // click of it counted on `day`; one read. nullopt when no code has this text.
  virtual Result<std::optional<LinkLookup>> LookupLink(const std::string& code, std::int64_t day,
                                                       const std::string& visitor) = 0;
  virtual Result<std::optional<Subscription>> FindActiveSubscription(
      const std::string& user_id) = 0;
  // The user's newest subscription (by created_at), whatever its status.
  virtual Result<std::optional<Subscription>> FindNewestSubscription(
      const std::string& user_id) = 0;
  // Paged lists (domain/paging.hpp): at most page.limit rows, newest first by (created_at, id),
  // strictly after page.after when set.
  //
  // The user's rewards.
  virtual Result<std::vector<Reward>> ListRewards(const std::string& user_id,
                                                  const PageRequest& page) = 0;
  // Referrals that match `filter`, with their code's text and the referred user's email.
  virtual Result<std::vector<ReferralListing>> ListReferrals(const ReferralFilter& filter,
                                                             const PageRequest& page) = 0;
  // The referral whose referred user is `user_id` (a user has at most one), as committed.
  virtual Result<std::optional<Referral>> FindReferralOf(const std::string& user_id) = 0;
  // Read models, served from aggregates the write steps maintain in their own transactions:
  // each answers in a time that does not grow with the number of referrals (or of days).
  //
  // The user's counts as a referrer; rewards counts all of the user's rewards (revoked ones
  // too: they were granted); revoked_conversions the converted referrals whose reward was revoked;
  // clicks every counted click of the user's codes.
  virtual Result<ReferrerStats> GetReferrerStats(const std::string& user_id) = 0;
  // Referrers with at least one referral in the period — all time when `window_days` is nullopt,
  // else the `window_days` UTC days ending on now's — ordered by converted desc, total desc,
  // user_id asc; at most `limit` rows; rank left 0. `window_days` must be one of
  // kWindowLengths (domain/rules.hpp).
  virtual Result<std::vector<LeaderboardEntry>> Leaderboard(std::optional<int> window_days,
                                                            TimePoint now, int limit) = 0;
  // Referrals created in the period (a cohort: converted counts those of them that converted),
  // rewards of every type created in it, clicks counted on its days; code counts as of `now`
  // whatever the period.
  virtual Result<AnalyticsCounts> Analytics(std::optional<int> window_days, TimePoint now) = 0;
  // Signups by created_at day, conversions by converted_at day and clicks by their day, for UTC
  // day numbers in [first_day, last_day]; only days that have any; ascending.
  virtual Result<std::vector<DailyCount>> DailyCounts(std::int64_t first_day,
                                                      std::int64_t last_day) = 0;
  // Users with at least `threshold` converted referrals not revoked (converted_referrals -
  // revoked_conversions) and no badge, ascending.
  virtual Result<std::vector<std::string>> BadgeCandidates(std::int64_t threshold) = 0;
  // automation_logs (paged, newest first); `service` filters when set.
  virtual Result<std::vector<AuditEntry>> ListAudit(const std::optional<std::string>& service,
                                                    const PageRequest& page) = 0;

  // The outbox in commit order: at most `limit` events after `after`, of `type` when set, and
  // where the next page starts. Ordered so that an event whose transaction committed before
  // another's began comes first; an event of a transaction that has not committed when the page
  // is read is never passed over (it is held back, with every event ordered after it, until it
  // commits or rolls back), so paging from the start, each page from the last one's `next`, sees
  // every committed event exactly once, whatever other handles or processes write meanwhile.
  virtual Result<EventPage> ListEvents(const EventPosition& after, std::optional<EventType> type,
                                       int limit) = 0;

  // --- webhooks (domain/webhooks.hpp; contract §10) ---
  // Registers `endpoint`. Its fan-out starts at the current end of the feed: it gets the events
  // of transactions that commit after the registration, never one from before.
  virtual Status InsertWebhook(const WebhookEndpoint& endpoint) = 0;
  // Every registered endpoint, oldest first (with its secret: the caller decides what to show).
  virtual Result<std::vector<WebhookEndpoint>> ListWebhooks() = 0;
  virtual Result<std::optional<WebhookEndpoint>> FindWebhook(const std::string& id) = 0;
  // Deletes the endpoint and its deliveries (an attempt in flight then records nothing). False
  // when there was no such endpoint. `id` must be a UUID.
  virtual Result<bool> DeleteWebhook(const std::string& id) = 0;
  // The endpoint's deliveries (paged, newest first by created_at, then feed order: the page key's
  // id is the event's seq, PageKeyKind::kSequence). A replay moves a delivery it re-queues to the
  // front.
  virtual Result<std::vector<WebhookDelivery>> ListDeliveries(const std::string& endpoint_id,
                                                              const PageRequest& page) = 0;
  // For each endpoint: copies the events of the feed after its cursor (at most `batch`, in feed
  // order, with ListEvents' guarantee that none is passed over) into deliveries due at `now` —
  // those of the types it wants — and moves its cursor past them, in one transaction that holds
  // the endpoint, so that instances running this at once create each delivery once in all.
  virtual Result<FanOutResult> FanOutEvents(TimePoint now, int batch) = 0;
  // Queues every event of the feed after `after` that the endpoint wants for delivery at `now`
  // again (a delivery already there starts over: pending, no attempt made, its lease dropped).
  // Returns how many; nullopt when there is no such endpoint.
  virtual Result<std::optional<std::int64_t>> RequeueDeliveries(const std::string& endpoint_id,
                                                                const EventPosition& after,
                                                                TimePoint now) = 0;
  // Claims the pending delivery due longest ago (next_attempt_at <= now) that no live lease
  // holds: it belongs to `lease` until `lease_until`. Each delivery is claimed by one caller at a
  // time across every instance. nullopt when none is due.
  virtual Result<std::optional<ClaimedDelivery>> ClaimDelivery(TimePoint now, TimePoint lease_until,
                                                               const std::string& lease) = 0;
  // Records an attempt (attempt + 1, status, next time) and drops the lease, only while
  // `attempt.lease` still holds the delivery. False when it no longer does (expired and claimed
  // again, re-queued by a replay, or deleted with its endpoint).
  virtual Result<bool> RecordDeliveryAttempt(const DeliveryAttempt& attempt) = 0;
  // Drops the lease without recording an attempt (the sender stopped), when `lease` holds it.
  virtual Status ReleaseDelivery(const std::string& endpoint_id, const std::string& event_id,
                                 const std::string& lease) = 0;

  // The read models recounted from scratch with GROUP BY over the base tables, at `now` (slow:
  // for checking the aggregates, never for a route). Leaderboards and analytics for all time and
  // each of kWindowLengths.
  virtual Result<ReadModels> RecountReadModels(TimePoint now) = 0;
  // Rebuilds every aggregate from the base tables as of `now`, in one transaction (for data
  // loaded behind the service's back).
  virtual Status RebuildAggregates(TimePoint now) = 0;
};

// Runs `work` (WriteTx& → Result<T>) in one write transaction and returns its result: the value
// when it succeeded and committed, its error when it failed (rolled back), or the storage error
// when the commit itself failed.
template <typename Work>
auto Transact(Store& store, Work&& work) -> std::invoke_result_t<Work&, WriteTx&> {
  using R = std::invoke_result_t<Work&, WriteTx&>;
  std::optional<R> out;
  Status written = store.Write([&](WriteTx& tx) -> Status {
    out.emplace(work(tx));
    if (out->has_value()) return {};
    return out->error();
  });
  if (!written && (!out || out->has_value())) return written.error();
  return std::move(*out);
}

}  // namespace referrald::domain
