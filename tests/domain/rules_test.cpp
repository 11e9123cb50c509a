#include "domain/rules.hpp"

#include <gtest/gtest.h>

#include <set>

#include "support/scripted_random.hpp"
#include "util/time_format.hpp"

namespace referrald::domain {
namespace {

TimePoint At(const char* iso) { return *ParseIso8601(iso); }

TEST(CodeRulesTest, AlphabetHas32UnambiguousCharacters) {
  EXPECT_EQ(kCodeAlphabet.size(), 32U);
  std::set<char> unique(kCodeAlphabet.begin(), kCodeAlphabet.end());
  EXPECT_EQ(unique.size(), 32U);
  for (char banned : {'0', 'O', '1', 'I', 'l'}) {
    EXPECT_EQ(kCodeAlphabet.find(banned), std::string_view::npos) << banned;
  }
}

TEST(CodeRulesTest, GeneratedCodesHaveTheLengthAndOnlyAlphabetCharacters) {
  SystemRandom random;
  for (int length : {6, 8, 32}) {
    for (int i = 0; i < 200; ++i) {
      const auto code = GenerateCodeText(random, length);
      ASSERT_EQ(code.size(), static_cast<std::size_t>(length));
      for (char c : code) ASSERT_NE(kCodeAlphabet.find(c), std::string_view::npos) << code;
    }
  }
}

TEST(CodeRulesTest, GeneratedCodeFollowsTheRandomSource) {
  testing::ScriptedRandom random;
  random.PushUniform({0, 1, 2, 3, 28, 29, 30, 31});
  EXPECT_EQ(GenerateCodeText(random, 8), "2345WXYZ");
}

TEST(CodeRulesTest, NormalizeTrimsAndUppercases) {
  EXPECT_EQ(NormalizeCode("  ab12cd34\t\n"), "AB12CD34");
  EXPECT_EQ(NormalizeCode("XyZ"), "XYZ");
  EXPECT_EQ(NormalizeCode("   "), "");
}

TEST(PeriodTest, ParsesTheThreePeriods) {
  EXPECT_EQ(ParsePeriod("all"), Period::kAll);
  EXPECT_EQ(ParsePeriod("month"), Period::kMonth);
  EXPECT_EQ(ParsePeriod("week"), Period::kWeek);
  EXPECT_FALSE(ParsePeriod("year"));
  EXPECT_FALSE(ParsePeriod("WEEK"));
  EXPECT_FALSE(ParsePeriod(""));
}

TEST(PeriodTest, WeekIsTodayAndTheSixUtcDaysBefore) {
  const auto start = PeriodStart(Period::kWeek, At("2025-03-07T23:59:59.999Z"));
  ASSERT_TRUE(start);
  EXPECT_EQ(FormatIso8601(*start), "2025-03-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601(*PeriodStart(Period::kWeek, At("2025-03-07T00:00:00.000Z"))),
            "2025-03-01T00:00:00.000Z");
}

TEST(PeriodTest, MonthIsTodayAndTheTwentyNineUtcDaysBefore) {
  EXPECT_EQ(FormatIso8601(*PeriodStart(Period::kMonth, At("2024-03-29T08:00:00.000Z"))),
            "2024-02-29T00:00:00.000Z");
  EXPECT_FALSE(PeriodStart(Period::kAll, At("2024-03-29T08:00:00.000Z")));
}

LeaderboardEntry Row(const char* id, std::int64_t converted, std::int64_t total) {
  return LeaderboardEntry{id, std::nullopt, total, converted, 0};
}

TEST(RankingTest, CompetitionRankingSharesAndSkips) {
  std::vector<LeaderboardEntry> rows{Row("a", 5, 9), Row("b", 3, 4), Row("c", 3, 4), Row("d", 3, 2),
                                     Row("e", 0, 1)};
  AssignCompetitionRanks(rows);
  std::vector<std::int64_t> ranks;
  for (const auto& r : rows) ranks.push_back(r.rank);
  EXPECT_EQ(ranks, (std::vector<std::int64_t>{1, 2, 2, 4, 5}));
}

TEST(RankingTest, EqualConvertedButDifferentTotalsDoNotTie) {
  std::vector<LeaderboardEntry> rows{Row("a", 2, 5), Row("b", 2, 3)};
  AssignCompetitionRanks(rows);
  EXPECT_EQ(rows[0].rank, 1);
  EXPECT_EQ(rows[1].rank, 2);
}

TEST(MaskTest, KeepsFirstCharacterAndDomain) {
  EXPECT_EQ(MaskEmail("john@example.com"), "j***@example.com");
  EXPECT_EQ(MaskEmail("j@example.com"), "j***@example.com");
  EXPECT_EQ(MaskEmail("@example.com"), "***");
  EXPECT_EQ(MaskEmail("not-an-email"), "***");
  EXPECT_EQ(MaskEmail(""), "***");
}

TEST(RateTest, RoundsToOneDecimal) {
  EXPECT_DOUBLE_EQ(ConversionRate(0, 0), 0.0);
  EXPECT_DOUBLE_EQ(ConversionRate(45, 150), 30.0);
  EXPECT_DOUBLE_EQ(ConversionRate(1, 3), 33.3);
  EXPECT_DOUBLE_EQ(ConversionRate(2, 3), 66.7);
  EXPECT_DOUBLE_EQ(ConversionRate(1, 16), 6.3);
  EXPECT_DOUBLE_EQ(ConversionRate(3, 3), 100.0);
}

TEST(TrendTest, FillsExactlyNDaysOldestFirstWithZeros) {
  const auto now = At("2025-03-02T01:00:00.000Z");
  const std::vector<DailyCount> sparse{{"2025-02-28", 2, 1}, {"2025-03-02", 0, 4}};
  const auto days = FillTrend(sparse, 4, now);
  ASSERT_EQ(days.size(), 4U);
  EXPECT_EQ(days[0].date, "2025-02-27");
  EXPECT_EQ(days[1].date, "2025-02-28");
  EXPECT_EQ(days[1].signups, 2);
  EXPECT_EQ(days[1].conversions, 1);
  EXPECT_EQ(days[2].date, "2025-03-01");
  EXPECT_EQ(days[2].signups, 0);
  EXPECT_EQ(days[3].date, "2025-03-02");
  EXPECT_EQ(days[3].conversions, 4);
  EXPECT_EQ(FillTrend({}, 1, now).size(), 1U);
}

TEST(PremiumTest, ExtendsFromNowOrFromAFutureEnd) {
  const auto now = At("2025-06-15T12:00:00.000Z");
  EXPECT_EQ(FormatIso8601(ExtendPremium(now, std::nullopt, 30)), "2025-07-15T12:00:00.000Z");
  EXPECT_EQ(FormatIso8601(ExtendPremium(now, At("2025-01-01T00:00:00.000Z"), 30)),
            "2025-07-15T12:00:00.000Z");
  EXPECT_EQ(FormatIso8601(ExtendPremium(now, At("2025-07-01T00:00:00.000Z"), 30)),
            "2025-07-31T00:00:00.000Z");
}

}  // namespace
}  // namespace referrald::domain
