#include "domain/referral_service.hpp"

#include <spdlog/spdlog.h>

#include "domain/audit.hpp"
#include "domain/errors.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::domain {
namespace {

// Attempts before giving up on finding an unused code. With 32^8 codes a second attempt is
// already astronomically rare; running out means the code space is nearly full.
constexpr int kMaxCodeAttempts = 10;
constexpr std::int64_t kMaxExpiresInDays = 3650;
constexpr int kMaxLeaderboardLimit = 100;
constexpr int kMaxTrendDays = 365;

}  // namespace

ReferralService::ReferralService(Store& store, const Clock& clock, RandomSource& random,
                                 ReferralSettings settings, Metrics* metrics)
    : store_(store), clock_(clock), random_(random), settings_(settings), metrics_(metrics) {}

Result<ReferralCode> ReferralService::GenerateCode(const std::string& user_id,
                                                   std::optional<std::int64_t> expires_in_days) {
  const std::int64_t days = expires_in_days.value_or(settings_.code_expiration_days);
  if (days < 1 || days > kMaxExpiresInDays) {
    return errors::Invalid("expiresInDays must be an integer between 1 and 3650");
  }
  for (int attempt = 1; attempt <= kMaxCodeAttempts; ++attempt) {
    const TimePoint now = clock_.Now();
    NewCode code{NewUuidV7(now, random_), user_id, GenerateCodeText(random_, settings_.code_length),
                 now, AddDays(now, days)};
    auto created = store_.CreateCode(code);
    if (created || created.error().machine != "CODE_COLLISION") return created;
    spdlog::warn("referral code collision on attempt {}, regenerating", attempt);
    (void)store_.AppendAudit(AuditEntry{NewUuidV7(now, random_),
                                        std::string(audit::kServiceReferral),
                                        std::string(audit::kCodeCollision),
                                        std::string(audit::kFailed),
                                        user_id,
                                        {{"attempt", std::int64_t{attempt}}},
                                        "generated code already taken; regenerating",
                                        now});
  }
  return MakeError(ErrorCode::kUnavailable, "CODE_SPACE_EXHAUSTED",
                   "Could not generate a unique referral code; try again");
}

Result<ReferralCode> ReferralService::GetCode(const std::string& user_id) {
  auto code = store_.FindNewestCode(user_id);
  if (!code) return code.error();
  if (!code->has_value()) return errors::CodeNotFound();
  return std::move(**code);
}

Result<Referral> ReferralService::Track(const std::string& user_id, std::string_view code_input) {
  const std::string code = NormalizeCode(code_input);
  const TimePoint now = clock_.Now();
  // A code outside the alphabet or of an impossible length cannot exist: refuse without a lookup.
  bool plausible = !code.empty() && code.size() <= 32;
  for (char c : code) plausible = plausible && kCodeAlphabet.find(c) != std::string_view::npos;
  Result<Referral> tracked =
      plausible ? store_.TrackReferral(NewReferral{NewUuidV7(now, random_), user_id, code, now})
                : Result<Referral>(errors::InvalidCode());
  if (!tracked && tracked.error().code != ErrorCode::kInternal &&
      tracked.error().code != ErrorCode::kUnavailable) {
    // Only the alphabet's characters reach the log, so no caller-controlled text is stored.
    Refused(audit::kReferralRefused, user_id, tracked.error(),
            {{"code", plausible ? code : std::string("<malformed>")}});
  }
  if (tracked && metrics_ != nullptr) metrics_->ReferralTracked();
  return tracked;
}

Result<ReferrerStats> ReferralService::Stats(const std::string& user_id) {
  return store_.GetReferrerStats(user_id);
}

Result<std::vector<Reward>> ReferralService::Rewards(const std::string& user_id) {
  return store_.ListRewards(user_id);
}

Result<Reward> ReferralService::ClaimReward(const std::string& user_id,
                                            const std::string& reward_id) {
  auto claimed = store_.ClaimReward(user_id, reward_id, clock_.Now());
  if (!claimed && claimed.error().code != ErrorCode::kInternal &&
      claimed.error().code != ErrorCode::kUnavailable) {
    Refused(audit::kRewardClaimRefused, user_id, claimed.error(), {{"rewardId", reward_id}});
  }
  if (claimed && metrics_ != nullptr) metrics_->RewardClaimed();
  return claimed;
}

Result<std::vector<LeaderboardEntry>> ReferralService::Leaderboard(Period period, int limit,
                                                                   bool reveal_emails) {
  if (limit < 1 || limit > kMaxLeaderboardLimit) {
    return errors::Invalid("limit must be an integer between 1 and 100");
  }
  auto rows = store_.Leaderboard(PeriodStart(period, clock_.Now()), limit);
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
  auto counts = store_.Analytics(PeriodStart(period, now), now);
  if (!counts) return counts.error();
  return AnalyticsSummary{*counts,
                          ConversionRate(counts->converted_referrals, counts->total_referrals)};
}

Result<std::vector<DailyCount>> ReferralService::Trends(int days) {
  if (days < 1 || days > kMaxTrendDays) {
    return errors::Invalid("days must be an integer between 1 and 365");
  }
  const TimePoint now = clock_.Now();
  auto sparse = store_.DailyCounts(AddDays(StartOfUtcDay(now), -(days - 1)), now);
  if (!sparse) return sparse;
  return FillTrend(*sparse, days, now);
}

Result<Conversion> ReferralService::Convert(const std::string& referred_user_id) {
  auto converted = store_.ConvertReferral(MakeGrant(referred_user_id, clock_.Now()));
  if (!converted && converted.error().code != ErrorCode::kInternal &&
      converted.error().code != ErrorCode::kUnavailable) {
    Refused(audit::kConversionRefused, referred_user_id, converted.error(), {});
  }
  if (converted) CountConversion();
  return converted;
}

ConversionGrant ReferralService::MakeGrant(const std::string& referred_user_id, TimePoint now) {
  std::optional<TimePoint> expires;
  if (settings_.reward_claim_days > 0) expires = AddDays(now, settings_.reward_claim_days);
  return ConversionGrant{referred_user_id, NewUuidV7(now, random_), settings_.reward_days, expires,
                         now};
}

void ReferralService::CountConversion() {
  if (metrics_ == nullptr) return;
  metrics_->ReferralConverted();
  metrics_->RewardGranted();
}

void ReferralService::Refused(std::string_view action, const std::string& user_id,
                              const Error& error,
                              std::vector<std::pair<std::string, AuditValue>> details) {
  details.emplace_back("reason", error.machine);
  const TimePoint now = clock_.Now();
  auto appended = store_.AppendAudit(
      AuditEntry{NewUuidV7(now, random_), std::string(audit::kServiceReferral), std::string(action),
                 std::string(audit::kFailed), user_id, std::move(details), error.message, now});
  if (!appended) spdlog::error("could not write automation log for {}", action);
}

}  // namespace referrald::domain
