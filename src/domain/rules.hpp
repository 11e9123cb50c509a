#pragma once
// Pure rules of the program: codes, periods, ranking, masking, rates. Unit-tested directly.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/model.hpp"
#include "util/clock.hpp"
#include "util/random.hpp"

namespace referrald::domain {

// 32 characters: digits and uppercase letters without 0, O, 1, I (and no lowercase l).
inline constexpr std::string_view kCodeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

// `length` characters drawn uniformly from kCodeAlphabet.
std::string GenerateCodeText(RandomSource& random, int length);

// Trimmed (ASCII whitespace) and uppercased, for lookups.
std::string NormalizeCode(std::string_view input);

enum class Period { kAll, kMonth, kWeek };
std::optional<Period> ParsePeriod(std::string_view s);

// Start of the period's first UTC day: week = today and the 6 days before, month = today and
// the 29 before; nullopt for all.
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

// max(now, current) + days.
TimePoint ExtendPremium(TimePoint now, std::optional<TimePoint> current, std::int64_t days);

}  // namespace referrald::domain
