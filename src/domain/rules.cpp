#include "domain/rules.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "domain/errors.hpp"
#include "domain/limits.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::domain {

std::string GenerateCodeText(RandomSource& random, int length) {
  std::string code;
  code.reserve(static_cast<std::size_t>(length));
  for (int i = 0; i < length; ++i) {
    code.push_back(kCodeAlphabet[random.Uniform(static_cast<std::uint32_t>(kCodeAlphabet.size()))]);
  }
  return code;
}

std::string NormalizeCode(std::string_view input) {
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!input.empty() && is_space(input.front())) input.remove_prefix(1);
  while (!input.empty() && is_space(input.back())) input.remove_suffix(1);
  std::string out(input);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool IsPlausibleCode(std::string_view normalized) {
  if (normalized.empty() || normalized.size() > static_cast<std::size_t>(kMaxCodeLength)) {
    return false;
  }
  return normalized.find_first_not_of(kCodeAlphabet) == std::string_view::npos;
}

std::optional<Period> ParsePeriod(std::string_view s) {
  if (s == "all") return Period::kAll;
  if (s == "month") return Period::kMonth;
  if (s == "week") return Period::kWeek;
  return std::nullopt;
}

Result<int> ParseBoundedInt(std::optional<std::string_view> text, int fallback, int min, int max,
                            const Error& invalid) {
  if (!text) return fallback;
  if (text->empty() || text->size() > 9 ||
      !std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return invalid;
  }
  int value = 0;
  for (char c : *text) value = value * 10 + (c - '0');
  if (value < min || value > max) return invalid;
  return value;
}

Result<Period> ParsePeriodParam(std::optional<std::string_view> text) {
  if (!text) return Period::kAll;
  auto period = ParsePeriod(*text);
  if (!period) return errors::InvalidPeriod();
  return *period;
}

Result<int> ParseLeaderboardLimit(std::optional<std::string_view> text) {
  return ParseBoundedInt(text, kDefaultLeaderboardLimit, 1, kMaxLeaderboardLimit,
                         errors::InvalidLeaderboardLimit());
}

Result<int> ParseTrendDays(std::optional<std::string_view> text) {
  return ParseBoundedInt(text, kDefaultTrendDays, 1, kMaxTrendDays, errors::InvalidTrendDays());
}

Result<ReferralFilter> ParseReferralFilter(std::optional<std::string_view> status,
                                           std::optional<std::string_view> referrer_user_id) {
  ReferralFilter filter;
  if (status && !status->empty()) {
    filter.status = ParseReferralStatus(*status);
    if (!filter.status) return errors::InvalidReferralStatus();
  }
  if (referrer_user_id && !referrer_user_id->empty()) {
    if (!IsUuid(*referrer_user_id)) return errors::InvalidReferrerUserId();
    filter.referrer_user_id = CanonicalUuid(*referrer_user_id);
  }
  return filter;
}

bool HasControlCharacter(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; });
}

std::optional<int> PeriodDays(Period period) {
  switch (period) {
    case Period::kAll:
      return std::nullopt;
    case Period::kMonth:
      return kMonthDays;
    case Period::kWeek:
      return kWeekDays;
  }
  return std::nullopt;
}

std::optional<TimePoint> PeriodStart(Period period, TimePoint now) {
  const auto days = PeriodDays(period);
  if (!days) return std::nullopt;
  return AddDays(StartOfUtcDay(now), -(*days - 1));
}

void AssignCompetitionRanks(std::vector<LeaderboardEntry>& rows) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const bool ties_previous = i > 0 &&
                               rows[i].converted_referrals == rows[i - 1].converted_referrals &&
                               rows[i].total_referrals == rows[i - 1].total_referrals;
    rows[i].rank = ties_previous ? rows[i - 1].rank : static_cast<std::int64_t>(i) + 1;
  }
}

std::string MaskEmail(std::string_view email) {
  const auto at = email.find('@');
  if (at == std::string_view::npos || at == 0) return "***";
  std::string out;
  out.push_back(email.front());
  out += "***";
  out += email.substr(at);
  return out;
}

double ConversionRate(std::int64_t converted, std::int64_t total) {
  if (total <= 0) return 0.0;
  const double pct = static_cast<double>(converted) * 100.0 / static_cast<double>(total);
  return std::round(pct * 10.0) / 10.0;
}

std::vector<DailyCount> FillTrend(const std::vector<DailyCount>& sparse, int days, TimePoint now) {
  std::map<std::string, const DailyCount*> by_date;
  for (const auto& d : sparse) by_date[d.date] = &d;
  std::vector<DailyCount> out;
  out.reserve(static_cast<std::size_t>(days));
  const TimePoint today = StartOfUtcDay(now);
  for (int i = days - 1; i >= 0; --i) {
    DailyCount day{FormatDate(AddDays(today, -i)), 0, 0};
    if (auto it = by_date.find(day.date); it != by_date.end()) {
      day.signups = it->second->signups;
      day.conversions = it->second->conversions;
      day.clicks = it->second->clicks;
    }
    out.push_back(std::move(day));
  }
  return out;
}

RewardStatus RewardStatusAt(const Reward& reward, TimePoint now) {
  if (reward.revoked_at) return RewardStatus::kRevoked;
  if (reward.is_claimed) return RewardStatus::kClaimed;
  if (now < reward.claimable_at) return RewardStatus::kOnHold;
  if (reward.expires_at && *reward.expires_at <= now) return RewardStatus::kExpired;
  return RewardStatus::kClaimable;
}

TimePoint ExtendPremium(TimePoint now, std::optional<TimePoint> current, std::int64_t days) {
  const TimePoint base = current && *current > now ? *current : now;
  return AddDays(base, days);
}

}  // namespace referrald::domain
