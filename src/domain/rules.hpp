#pragma once
// Pure rules of the program: codes, periods, ranking, masking, rates. Unit-tested directly.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/model.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"
#include "util/result.hpp"

namespace referrald::domain {

// 32 characters: digits and uppercase letters without 0, O, 1, I (and no lowercase l).
inline constexpr std::string_view kCodeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

// `length` characters drawn uniformly from kCodeAlphabet.
std::string GenerateCodeText(RandomSource& random, int length);

// Trimmed (ASCII whitespace) and uppercased, for lookups.
std::string NormalizeCode(std::string_view input);
// Whether a normalised code could exist: 1..kMaxCodeLength characters of kCodeAlphabet. A code
// that could not is refused without a lookup.
bool IsPlausibleCode(std::string_view normalized);

enum class Period { kAll, kMonth, kWeek };
std::optional<Period> ParsePeriod(std::string_view s);

// The read routes' query parameters, parsed and checked (absent: the default).
// Errors: InvalidPeriod, InvalidLeaderboardLimit, InvalidTrendDays.
Result<Period> ParsePeriodParam(std::optional<std::string_view> text);
Result<int> ParseLeaderboardLimit(std::optional<std::string_view> text);
Result<int> ParseTrendDays(std::optional<std::string_view> text);
// ?status= and ?referrerUserId= of GET /api/admin/referrals (absent or empty: no filter).
// Errors: InvalidReferralStatus, InvalidReferrerUserId.
Result<ReferralFilter> ParseReferralFilter(std::optional<std::string_view> status,
                                           std::optional<std::string_view> referrer_user_id);
// A decimal integer of at most 9 digits (no sign) in [min, max]; `fallback` when absent;
// `invalid` otherwise.
Result<int> ParseBoundedInt(std::optional<std::string_view> text, int fallback, int min, int max,
                            const Error& invalid);

// True when `s` has an ASCII control character.
bool HasControlCharacter(std::string_view s);

// A period is "today and the days before it": week = 7 UTC days, month = 30.
inline constexpr int kWeekDays = 7;
inline constexpr int kMonthDays = 30;
// The windowed periods' lengths: the store keeps per-referrer totals for each, so that their
// leaderboards are right at every instant without scanning referrals.
inline constexpr std::array<int, 2> kWindowLengths{kWeekDays, kMonthDays};

// The number of UTC days the period covers, ending today; nullopt for all.
std::optional<int> PeriodDays(Period period);
// Start of the period's first UTC day; nullopt for all.
std::optional<TimePoint> PeriodStart(Period period, TimePoint now);

// Sets competition ranks ("1224") on rows already ordered: equal (converted, total) share a rank.
void AssignCompetitionRanks(std::vector<LeaderboardEntry>& rows);

// "j***@example.com": the first character of the local part, then ***. Empty local part or no
// '@' → "***".
std::string MaskEmail(std::string_view email);

// converted / total × 100 rounded half away from zero to one decimal; 0 when total is 0.
double ConversionRate(std::int64_t converted, std::int64_t total);

// Exactly `days` entries ending on today's UTC date, oldest first, zero days filled in.
std::vector<DailyCount> FillTrend(const std::vector<DailyCount>& sparse, int days, TimePoint now);

// The reward's status at `now` (contract §11): revoked, claimed, on_hold before claimable_at,
// expired from expires_at on, else claimable.
RewardStatus RewardStatusAt(const Reward& reward, TimePoint now);

// max(now, current) + days.
TimePoint ExtendPremium(TimePoint now, std::optional<TimePoint> current, std::int64_t days);

}  // namespace referrald::domain
