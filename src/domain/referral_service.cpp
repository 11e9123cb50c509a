#include "domain/referral_service.hpp"

#include <spdlog/spdlog.h>

#include <array>

#include "domain/audit.hpp"
#include "domain/errors.hpp"
#include "domain/events.hpp"
#include "domain/limits.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::domain {
namespace {

// Attempts before giving up on finding an unused code. With 32^8 codes a second attempt is
// already astronomically rare; running out means the code space is nearly full.
constexpr int kMaxCodeAttempts = 10;

// Errors of the database itself are not refusals: they are not audited as such; nor is a request
// that lost its Idempotency-Key to a retry (the retry runs the use case instead), nor one of an
// erased user (whose row may not be written again).
bool IsRefusal(const Error& error) {
  return error.code != ErrorCode::kInternal && error.code != ErrorCode::kUnavailable &&
         error.reason != Reason::kIdempotencyInProgress && error.reason != Reason::kUserErased;
}

}  // namespace

ReferralService::ReferralService(Store& store, const Clock& clock, RandomSource& random,
                                 IdGenerator& ids, ReferralSettings settings, Metrics* metrics)
    : store_(store),
      clock_(clock),
      random_(random),
      ids_(ids),
      settings_(settings),
      metrics_(metrics) {}

Result<ReferralCode> ReferralService::GenerateCode(const Actor& actor,
                                                   std::optional<std::int64_t> expires_in_days,
                                                   const OnCommit<ReferralCode>& on_commit) {
  const std::int64_t days = expires_in_days.value_or(settings_.code_expiration_days);
  if (days < 1 || days > kMaxExpiresInDays) return errors::InvalidExpiresInDays();
  for (int attempt = 1; attempt <= kMaxCodeAttempts; ++attempt) {
    const TimePoint now = clock_.Now();
    const ReferralCode code = NewCode(actor, days, now);
    bool collided = false;
    auto created = Transact(store_, [&](WriteTx& tx) -> Result<ReferralCode> {
      auto inserted = GenerateCodeIn(tx, actor, code);
      collided = !inserted && inserted.error().reason == Reason::kCodeCollision;
      if (!inserted) return inserted;
      if (auto hooked = RunOnCommit(on_commit, tx, *inserted); !hooked) return hooked.error();
      return inserted;
    });
    if (!collided) return created;
    spdlog::warn("referral code collision on attempt {}, regenerating", attempt);
    auto logged = Transact(store_, [&](WriteTx& tx) -> Status {
      return tx.AppendAudit(audit::Entry(
          ids_.New(now), audit::kServiceReferral, audit::kCodeCollision, audit::kFailed, actor.id,
          {{"attempt", std::int64_t{attempt}}}, "generated code already taken; regenerating", now));
    });
    if (!logged) spdlog::error("could not write automation log for a code collision");
  }
  return MakeError(ErrorCode::kUnavailable, Reason::kCodeSpaceExhausted,
                   "Could not generate a unique referral code; try again");
}

ReferralCode ReferralService::NewCode(const Actor& actor, std::int64_t days, TimePoint now) {
  return ReferralCode{ids_.New(now), actor.id, GenerateCodeText(random_, settings_.code_length),
                      true,          now,      AddDays(now, days)};
}

Result<ReferralCode> ReferralService::GenerateCodeIn(WriteTx& tx, const Actor& actor,
                                                     const ReferralCode& code) {
  const TimePoint now = code.created_at;
  if (auto upserted = tx.UpsertUser(actor, now); !upserted) return upserted.error();
  auto active = tx.FindActiveCode(actor.id);
  if (!active) return active.error();
  if (*active) {
    if ((*active)->expires_at > now) return errors::CodeExists((*active)->code);
    // Generating a new code after the old one expired deactivates the old one.
    if (auto deactivated = tx.DeactivateCode((*active)->id); !deactivated) {
      return deactivated.error();
    }
  }
  auto inserted = tx.InsertCode(code);
  if (!inserted) return inserted.error();
  if (*inserted == CodeInsert::kCodeTaken) return errors::CodeCollision();
  if (*inserted == CodeInsert::kUserHasActiveCode) {
    // Another request of this user inserted one since FindActiveCode.
    auto winner = tx.FindActiveCode(actor.id);
    if (!winner) return winner.error();
    return errors::CodeExists(*winner ? (*winner)->code : std::string());
  }
  auto audited = tx.AppendAudit(audit::Entry(
      ids_.New(now), audit::kServiceReferral, audit::kCodeGenerated, audit::kSuccess, actor.id,
      {{"code", code.code}, {"codeId", code.id}, {"expiresAt", FormatIso8601(code.expires_at)}},
      std::nullopt, now));
  if (!audited) return audited.error();
  auto emitted = tx.AppendEvent(
      MakeEvent(ids_.New(now), now, events::CodeGenerated{code.code, actor.id, code.expires_at}));
  if (!emitted) return emitted.error();
  return code;
}

Result<ReferralCode> ReferralService::GetCode(const std::string& user_id) {
  auto code = store_.FindNewestCode(user_id);
  if (!code) return code.error();
  if (!code->has_value()) return errors::CodeNotFound();
  return std::move(**code);
}

Result<Referral> ReferralService::Track(const Actor& actor, std::string_view code_input,
                                        const OnCommit<Referral>& on_commit) {
  const std::string code = NormalizeCode(code_input);
  const TimePoint now = clock_.Now();
  // A code outside the alphabet or of an impossible length cannot exist: refuse without a lookup.
  if (!IsPlausibleCode(code)) {
    // Only the alphabet's characters reach the log, so no caller-controlled text is stored.
    Refused(audit::kReferralRefused, actor, errors::InvalidCode(),
            {{"code", std::string("<malformed>")}});
    return errors::InvalidCode();
  }
  auto tracked = Transact(store_, [&](WriteTx& tx) -> Result<Referral> {
    auto referral = TrackIn(tx, actor, code, now);
    if (!referral) return referral;
    if (auto hooked = RunOnCommit(on_commit, tx, *referral); !hooked) return hooked.error();
    return referral;
  });
  if (!tracked && IsRefusal(tracked.error())) {
    Refused(audit::kReferralRefused, actor, tracked.error(), {{"code", code}});
  }
  if (tracked && metrics_ != nullptr) metrics_->ReferralTracked();
  return tracked;
}

Result<Referral> ReferralService::TrackIn(WriteTx& tx, const Actor& actor, const std::string& code,
                                          TimePoint now) {
  if (auto upserted = tx.UpsertUser(actor, now); !upserted) return upserted.error();
  auto found = tx.FindCodeByText(code);
  if (!found) return found.error();
  if (!*found || !(*found)->is_active || (*found)->expires_at <= now) {
    return errors::InvalidCode();
  }
  const ReferralCode& owner_code = **found;
  if (owner_code.user_id == actor.id) return errors::SelfReferral();
  if (auto locked = tx.LockUserPair(actor.id, owner_code.user_id); !locked) {
    return locked.error();
  }
  auto mine = tx.FindReferralOf(actor.id);
  if (!mine) return mine.error();
  if (*mine) return errors::AlreadyReferred();
  auto owners = tx.FindReferralOf(owner_code.user_id);
  if (!owners) return owners.error();
  if (*owners && (*owners)->referrer_user_id == actor.id) return errors::CircularReferral();

  Referral referral{ids_.New(now), owner_code.user_id,       actor.id,
                    owner_code.id, ReferralStatus::kPending, now,
                    std::nullopt};
  auto inserted = tx.InsertReferral(referral);
  if (!inserted) return inserted.error();
  if (!*inserted) return errors::AlreadyReferred();
  auto audited = tx.AppendAudit(audit::Entry(
      ids_.New(now), audit::kServiceReferral, audit::kReferralTracked, audit::kSuccess, actor.id,
      {{"referralId", referral.id}, {"referrerUserId", referral.referrer_user_id}, {"code", code}},
      std::nullopt, now));
  if (!audited) return audited.error();
  auto emitted = tx.AppendEvent(
      MakeEvent(ids_.New(now), now,
                events::ReferralTracked{referral.id, referral.referrer_user_id,
                                        referral.referred_user_id, owner_code.code}));
  if (!emitted) return emitted.error();
  return referral;
}

Result<ReferrerStats> ReferralService::Stats(const std::string& user_id) {
  return store_.GetReferrerStats(user_id);
}

Result<Page<Reward>> ReferralService::Rewards(const std::string& user_id, const PageRequest& page) {
  return FetchPage<Reward>(
      page, [&](const PageRequest& probe) { return store_.ListRewards(user_id, probe); },
      [](const Reward& r) {
        return PageKey{r.created_at, r.id};
      });
}

Result<Page<ReferralListing>> ReferralService::ReferralsMade(const std::string& user_id,
                                                             const PageRequest& page) {
  auto listed = ListReferrals(ReferralFilter{user_id, std::nullopt}, page);
  if (!listed) return listed;
  for (auto& row : listed->items) {
    if (row.referred_email) row.referred_email = MaskEmail(*row.referred_email);
  }
  return listed;
}

Result<Page<ReferralListing>> ReferralService::ListReferrals(const ReferralFilter& filter,
                                                             const PageRequest& page) {
  return FetchPage<ReferralListing>(
      page, [&](const PageRequest& probe) { return store_.ListReferrals(filter, probe); },
      [](const ReferralListing& r) {
        return PageKey{r.referral.created_at, r.referral.id};
      });
}

Result<Reward> ReferralService::ClaimReward(const Actor& actor, std::string_view reward_id_text,
                                            const OnCommit<Reward>& on_commit) {
  if (!IsUuid(reward_id_text)) return errors::InvalidRewardId();
  const std::string reward_id = CanonicalUuid(reward_id_text);
  const TimePoint now = clock_.Now();
  auto claimed = Transact(store_, [&](WriteTx& tx) -> Result<Reward> {
    if (auto upserted = tx.UpsertUser(actor, now); !upserted) return upserted.error();
    auto found = tx.FindReward(reward_id);
    if (!found) return found.error();
    if (!*found || (*found)->user_id != actor.id || (*found)->is_claimed || (*found)->revoked_at) {
      return errors::RewardNotFound();
    }
    Reward reward = std::move(**found);
    if (now < reward.claimable_at) {
      return errors::RewardOnHold(FormatIso8601(reward.claimable_at));
    }
    if (reward.expires_at && *reward.expires_at <= now) return errors::RewardExpired();
    auto marked = tx.MarkRewardClaimed(reward.id, actor.id, now);
    if (!marked) return marked.error();
    if (!*marked) return errors::RewardNotFound();  // claimed or revoked concurrently
    reward.is_claimed = true;
    reward.claimed_at = now;

    Details details{{"rewardId", reward.id}, {"rewardType", std::string(ToString(reward.type))}};
    if (reward.type == RewardType::kFreePremium && reward.value.days) {
      auto current = tx.LockPremiumUntil(actor.id);
      if (!current) return current.error();
      const TimePoint until = ExtendPremium(now, *current, *reward.value.days);
      if (auto set = tx.SetPremiumUntil(actor.id, until); !set) return set.error();
      details.emplace_back("days", *reward.value.days);
      details.emplace_back("premiumUntil", FormatIso8601(until));
    }
    auto audited = tx.AppendAudit(audit::Entry(ids_.New(now), audit::kServiceReferral,
                                               audit::kRewardClaimed, audit::kSuccess, actor.id,
                                               std::move(details), std::nullopt, now));
    if (!audited) return audited.error();
    auto emitted = tx.AppendEvent(
        MakeEvent(ids_.New(now), now, events::RewardClaimed{reward.id, actor.id, reward.type}));
    if (!emitted) return emitted.error();
    if (auto hooked = RunOnCommit(on_commit, tx, reward); !hooked) return hooked.error();
    return reward;
  });
  if (!claimed && IsRefusal(claimed.error())) {
    Refused(audit::kRewardClaimRefused, actor, claimed.error(), {{"rewardId", reward_id}});
  }
  if (claimed && metrics_ != nullptr) metrics_->RewardClaimed();
  return claimed;
}

Result<std::vector<LeaderboardEntry>> ReferralService::Leaderboard(Period period, int limit,
                                                                   bool reveal_emails) {
  if (limit < 1 || limit > kMaxLeaderboardLimit) return errors::InvalidLeaderboardLimit();
  auto rows = store_.Leaderboard(PeriodDays(period), clock_.Now(), limit);
  if (!rows) return rows;
  AssignCompetitionRanks(*rows);
  if (!reveal_emails) {
    for (auto& row : *rows) {
      if (row.email) row.email = MaskEmail(*row.email);
    }
  }
  return rows;
}

Result<AnalyticsSummary> ReferralService::Analytics(Period period) {
  const TimePoint now = clock_.Now();
  auto counts = store_.Analytics(PeriodDays(period), now);
  if (!counts) return counts.error();
  return AnalyticsSummary{*counts,
                          ConversionRate(counts->converted_referrals, counts->total_referrals),
                          ConversionRate(counts->total_referrals, counts->clicks)};
}

Result<std::vector<DailyCount>> ReferralService::Trends(int days) {
  if (days < 1 || days > kMaxTrendDays) return errors::InvalidTrendDays();
  const TimePoint now = clock_.Now();
  const std::int64_t today = UtcDayNumber(now);
  auto sparse = store_.DailyCounts(today - (days - 1), today);
  if (!sparse) return sparse;
  return FillTrend(*sparse, days, now);
}

Result<Conversion> ReferralService::Convert(const Actor& actor,
                                            std::string_view referred_user_id_text,
                                            const OnCommit<Conversion>& on_commit) {
  if (!IsUuid(referred_user_id_text)) return errors::InvalidReferredUserId();
  const std::string referred_user_id = CanonicalUuid(referred_user_id_text);
  const TimePoint now = clock_.Now();
  auto converted = Transact(store_, [&](WriteTx& tx) -> Result<Conversion> {
    if (auto upserted = tx.UpsertUser(actor, now); !upserted) return upserted.error();
    auto conversion = ConvertPending(tx, referred_user_id, now);
    if (!conversion) return conversion.error();
    if (*conversion) {
      if (auto hooked = RunOnCommit(on_commit, tx, **conversion); !hooked) return hooked.error();
      return std::move(**conversion);
    }
    auto referral = tx.FindReferralOf(referred_user_id);
    if (!referral) return referral.error();
    if (*referral && (*referral)->status == ReferralStatus::kConverted) {
      return errors::AlreadyConverted();
    }
    return errors::ReferralNotFound();
  });
  if (!converted && IsRefusal(converted.error())) {
    Refused(audit::kConversionRefused, actor, converted.error(),
            {{"referredUserId", referred_user_id}});
  }
  if (converted) CountConversion();
  return converted;
}

Result<std::optional<Conversion>> ReferralService::ConvertPending(
    WriteTx& tx, const std::string& referred_user_id, TimePoint now) {
  auto pending = tx.ConvertPendingReferral(referred_user_id, now);
  if (!pending) return pending.error();
  if (!*pending) return std::optional<Conversion>();
  Referral referral = std::move(**pending);

  Reward reward;
  reward.id = ids_.New(now);
  reward.user_id = referral.referrer_user_id;
  reward.type = RewardType::kFreePremium;
  reward.value.days = settings_.reward_days;
  reward.created_at = now;
  // The hold (contract §11), then the claim window from its end; with no hold the window starts
  // at once, as it always did.
  reward.claimable_at =
      settings_.reward_hold_days > 0 ? AddDays(now, settings_.reward_hold_days) : now;
  if (settings_.reward_claim_days > 0) {
    reward.expires_at = AddDays(reward.claimable_at, settings_.reward_claim_days);
  }
  reward.source_referral_id = referral.id;
  if (auto inserted = tx.InsertReward(reward); !inserted) return inserted.error();

  Details granted{
      {"rewardId", reward.id}, {"days", settings_.reward_days}, {"referralId", referral.id}};
  if (settings_.reward_hold_days > 0) {
    granted.emplace_back("claimableAt", FormatIso8601(reward.claimable_at));
  }
  for (const AuditEntry& entry :
       {audit::Entry(ids_.New(now), audit::kServiceReferral, audit::kReferralConverted,
                     audit::kSuccess, referral.referred_user_id,
                     {{"referralId", referral.id}, {"referrerUserId", referral.referrer_user_id}},
                     std::nullopt, now),
        audit::Entry(ids_.New(now), audit::kServiceReferral, audit::kRewardGranted, audit::kSuccess,
                     referral.referrer_user_id, std::move(granted), std::nullopt, now)}) {
    if (auto audited = tx.AppendAudit(entry); !audited) return audited.error();
  }
  for (EventData& data :
       std::array<EventData, 2>{events::ReferralConverted{referral.id, referral.referrer_user_id,
                                                          referral.referred_user_id, reward.id},
                                events::RewardGranted{reward.id, reward.user_id, reward.type,
                                                      reward.value, referral.id}}) {
    auto emitted = tx.AppendEvent(MakeEvent(ids_.New(now), now, std::move(data)));
    if (!emitted) return emitted.error();
  }
  return std::optional<Conversion>(Conversion{std::move(referral), std::move(reward)});
}

Result<ReferralCode> ReferralService::FollowLink(std::string_view code_input,
                                                 const std::string& visitor, bool count) {
  const std::string code = NormalizeCode(code_input);
  if (!IsPlausibleCode(code)) return errors::InvalidCode();
  const TimePoint now = clock_.Now();
  const std::int64_t day = UtcDayNumber(now);
  // A read first: an unknown code, and a visitor's repeat of the day, take no write lock.
  auto found = store_.LookupLink(code, day, visitor);
  if (!found) return found.error();
  if (!*found || !(*found)->code.is_active || (*found)->code.expires_at <= now) {
    return errors::InvalidCode();
  }
  ReferralCode link = std::move((*found)->code);
  if (!count || (*found)->counted) return link;
  const Click click{link.id, link.user_id, day, visitor};
  // Two first visits at once both get here: the click's primary key counts one of them.
  auto counted =
      Transact(store_, [&](WriteTx& tx) -> Result<bool> { return tx.InsertClick(click); });
  // The visitor is sent on even when the click could not be written: a lost count is better than
  // a broken link.
  if (!counted) {
    spdlog::warn("could not count a referral link click: {}", counted.error().machine());
  }
  return link;
}

Result<std::optional<Reward>> ReferralService::RevokeHeldRewardIn(
    WriteTx& tx, const std::string& referred_user_id, TimePoint now) {
  auto referral = tx.FindReferralOf(referred_user_id);
  if (!referral) return referral.error();
  if (!*referral || (*referral)->status != ReferralStatus::kConverted) {
    return std::optional<Reward>();
  }
  // The conditional revocation decides: a reward claimed, past its hold or already revoked stays.
  auto revoked = tx.RevokeHeldReward((*referral)->id, now);
  if (!revoked || !*revoked) return revoked;
  const Reward& reward = **revoked;
  auto audited = tx.AppendAudit(audit::Entry(ids_.New(now), audit::kServiceReferral,
                                             audit::kRewardRevoked, audit::kSuccess, reward.user_id,
                                             {{"rewardId", reward.id},
                                              {"referralId", (*referral)->id},
                                              {"referredUserId", referred_user_id},
                                              {"reason", std::string("refunded_cancellation")}},
                                             std::nullopt, now));
  if (!audited) return audited.error();
  auto emitted = tx.AppendEvent(MakeEvent(
      ids_.New(now), now, events::RewardRevoked{reward.id, reward.user_id, (*referral)->id}));
  if (!emitted) return emitted.error();
  return revoked;
}

void ReferralService::CountConversion() {
  if (metrics_ == nullptr) return;
  metrics_->ReferralConverted();
  metrics_->RewardGranted();
}

void ReferralService::Refused(std::string_view action, const Actor& actor, const Error& error,
                              Details details) {
  details.emplace_back("reason", std::string(error.machine()));
  const TimePoint now = clock_.Now();
  auto appended = Transact(store_, [&](WriteTx& tx) -> Status {
    if (auto upserted = tx.UpsertUser(actor, now); !upserted) return upserted;
    return tx.AppendAudit(audit::Entry(ids_.New(now), audit::kServiceReferral, action,
                                       audit::kFailed, actor.id, details, error.message, now));
  });
  if (!appended) spdlog::error("could not write automation log for {}", action);
}

}  // namespace referrald::domain
