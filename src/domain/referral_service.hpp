#pragma once
// The referral program's use cases. Validates inputs, applies the rules and calls the Store.
// Thread-safe: holds no mutable state of its own beyond what Store, Clock and RandomSource guard.

#include <optional>
#include <string>
#include <vector>

#include "domain/model.hpp"
#include "domain/rules.hpp"
#include "domain/settings.hpp"
#include "domain/store.hpp"
#include "util/clock.hpp"
#include "util/metrics.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace referrald::domain {

class ReferralService {
 public:
  // `metrics`, when given, counts referrals tracked and converted and rewards granted/claimed.
  ReferralService(Store& store, const Clock& clock, RandomSource& random, ReferralSettings settings,
                  Metrics* metrics = nullptr);

  // New code for the user; expires_in_days in 1..3650 (default from settings).
  // Errors: Invalid (range), CodeExists.
  Result<ReferralCode> GenerateCode(const std::string& user_id,
                                    std::optional<std::int64_t> expires_in_days);
  // The user's newest code. Errors: CodeNotFound.
  Result<ReferralCode> GetCode(const std::string& user_id);
  // Errors: InvalidCode, SelfReferral, AlreadyReferred, CircularReferral.
  Result<Referral> Track(const std::string& user_id, std::string_view code_input);
  Result<ReferrerStats> Stats(const std::string& user_id);
  Result<std::vector<Reward>> Rewards(const std::string& user_id);
  // Errors: RewardNotFound, RewardExpired.
  Result<Reward> ClaimReward(const std::string& user_id, const std::string& reward_id);
  // limit 1..100. Emails masked unless reveal_emails.
  Result<std::vector<LeaderboardEntry>> Leaderboard(Period period, int limit, bool reveal_emails);
  Result<AnalyticsSummary> Analytics(Period period);
  // days 1..365.
  Result<std::vector<DailyCount>> Trends(int days);
  // processReferralConversion by hand. Errors: ReferralNotFound, AlreadyConverted.
  Result<Conversion> Convert(const std::string& referred_user_id);

  // The grant a conversion of `referred_user_id` at `now` would make (used by subscriptions).
  ConversionGrant MakeGrant(const std::string& referred_user_id, TimePoint now);
  // Counts a conversion and its reward in the metrics.
  void CountConversion();

 private:
  void Refused(std::string_view action, const std::string& user_id, const Error& error,
               std::vector<std::pair<std::string, AuditValue>> details);

  Store& store_;
  const Clock& clock_;
  RandomSource& random_;
  ReferralSettings settings_;
  Metrics* metrics_;
};

}  // namespace referrald::domain
