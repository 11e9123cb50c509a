#include "worker/cron.hpp"

#include <gtest/gtest.h>

#include "util/time_format.hpp"

namespace referrald::worker {
namespace {

TimePoint At(const char* iso) { return *ParseIso8601(iso); }

std::string NextAfter(const char* expr, const char* after) {
  auto cron = CronExpression::Parse(expr);
  EXPECT_TRUE(cron) << expr << ": " << (cron ? "" : cron.error().message);
  if (!cron) return "parse error";
  auto next = cron->Next(At(after));
  return next ? FormatIso8601(*next) : "never";
}

TEST(CronTest, ContractDefaults) {
  EXPECT_EQ(NextAfter("0 2 * * *", "2025-06-15T01:59:59.999Z"), "2025-06-15T02:00:00.000Z");
  EXPECT_EQ(NextAfter("0 2 * * *", "2025-06-15T02:00:00.000Z"), "2025-06-16T02:00:00.000Z");
  // 2025-06-15 is a Sunday.
  EXPECT_EQ(NextAfter("0 3 * * 0", "2025-06-15T03:00:00.000Z"), "2025-06-22T03:00:00.000Z");
  EXPECT_EQ(NextAfter("0 3 * * 0", "2025-06-14T12:00:00.000Z"), "2025-06-15T03:00:00.000Z");
  EXPECT_EQ(NextAfter("*/5 * * * *", "2025-06-15T12:03:10.000Z"), "2025-06-15T12:05:00.000Z");
  EXPECT_EQ(NextAfter("*/5 * * * *", "2025-06-15T12:55:00.000Z"), "2025-06-15T13:00:00.000Z");
}

TEST(CronTest, NextIsStrictlyAfterAndOnAMinute) {
  EXPECT_EQ(NextAfter("* * * * *", "2025-06-15T12:00:00.000Z"), "2025-06-15T12:01:00.000Z");
  EXPECT_EQ(NextAfter("* * * * *", "2025-06-15T12:00:59.999Z"), "2025-06-15T12:01:00.000Z");
}

TEST(CronTest, StepsAcrossHoursAndDays) {
  EXPECT_EQ(NextAfter("*/20 * * * *", "2025-06-15T23:40:00.000Z"), "2025-06-16T00:00:00.000Z");
  EXPECT_EQ(NextAfter("15 */6 * * *", "2025-06-15T18:15:00.000Z"), "2025-06-16T00:15:00.000Z");
  EXPECT_EQ(NextAfter("10-30/10 * * * *", "2025-06-15T12:30:00.000Z"), "2025-06-15T13:10:00.000Z");
  EXPECT_EQ(NextAfter("5/15 * * * *", "2025-06-15T12:50:00.000Z"), "2025-06-15T13:05:00.000Z");
}

TEST(CronTest, StepsLargerThanTheFieldSelectOnlyTheFirstValue) {
  // Found by fuzz_cron: stepping past the field's end overflowed an int.
  EXPECT_EQ(NextAfter("*/2147483647 * * * *", "2025-06-15T12:00:00.000Z"),
            "2025-06-15T13:00:00.000Z");
  EXPECT_EQ(NextAfter("7/100 * * * *", "2025-06-15T12:00:00.000Z"), "2025-06-15T12:07:00.000Z");
  EXPECT_EQ(NextAfter("0 2/2147483647 * * *", "2025-06-15T03:00:00.000Z"),
            "2025-06-16T02:00:00.000Z");
  // A stepped start past the field's end is out of range, not an empty field.
  EXPECT_FALSE(CronExpression::Parse("2147483647/15 * * * *"));
  EXPECT_FALSE(CronExpression::Parse("71/15 * * * *"));
}

TEST(CronTest, ListsAndRanges) {
  EXPECT_EQ(NextAfter("0 9,17 * * *", "2025-06-15T09:00:00.000Z"), "2025-06-15T17:00:00.000Z");
  EXPECT_EQ(NextAfter("0 9,17 * * *", "2025-06-15T17:00:00.000Z"), "2025-06-16T09:00:00.000Z");
  // Monday to Friday; 2025-06-14 is a Saturday.
  EXPECT_EQ(NextAfter("30 8 * * 1-5", "2025-06-14T00:00:00.000Z"), "2025-06-16T08:30:00.000Z");
  EXPECT_EQ(NextAfter("0 0 1,15 * *", "2025-06-02T00:00:00.000Z"), "2025-06-15T00:00:00.000Z");
}

TEST(CronTest, MonthEnds) {
  EXPECT_EQ(NextAfter("0 0 31 * *", "2025-04-01T00:00:00.000Z"), "2025-05-31T00:00:00.000Z");
  EXPECT_EQ(NextAfter("0 0 31 * *", "2025-05-31T00:00:00.000Z"), "2025-07-31T00:00:00.000Z");
  EXPECT_EQ(NextAfter("59 23 * * *", "2025-12-31T23:59:00.000Z"), "2026-01-01T23:59:00.000Z");
  EXPECT_EQ(NextAfter("0 0 1 * *", "2025-12-15T00:00:00.000Z"), "2026-01-01T00:00:00.000Z");
}

TEST(CronTest, FebruaryTwentyNinth) {
  EXPECT_EQ(NextAfter("0 12 29 2 *", "2025-01-01T00:00:00.000Z"), "2028-02-29T12:00:00.000Z");
  EXPECT_EQ(NextAfter("0 12 29 2 *", "2024-02-29T11:59:00.000Z"), "2024-02-29T12:00:00.000Z");
  EXPECT_EQ(NextAfter("0 0 30 2 *", "2025-01-01T00:00:00.000Z"), "never");
}

TEST(CronTest, SundayIsZeroAndSeven) {
  EXPECT_EQ(NextAfter("0 3 * * 7", "2025-06-14T12:00:00.000Z"), "2025-06-15T03:00:00.000Z");
  EXPECT_EQ(NextAfter("0 3 * * 5-7", "2025-06-16T00:00:00.000Z"), "2025-06-20T03:00:00.000Z");
}

TEST(CronTest, BothDayFieldsRestrictedMatchEither) {
  // The 13th or any Friday: after Sat 2025-06-14 the next Friday is the 20th, but July 13 also
  // counts; from 2025-06-21 the next is Fri 27th.
  EXPECT_EQ(NextAfter("0 0 13 * 5", "2025-06-14T00:00:00.000Z"), "2025-06-20T00:00:00.000Z");
  EXPECT_EQ(NextAfter("0 0 13 * 5", "2025-06-27T00:00:00.000Z"), "2025-07-04T00:00:00.000Z");
  EXPECT_EQ(NextAfter("0 0 13 * 5", "2025-07-11T00:00:00.000Z"), "2025-07-13T00:00:00.000Z");
  // One field starred: the other alone decides.
  EXPECT_EQ(NextAfter("0 0 * * 5", "2025-06-14T00:00:00.000Z"), "2025-06-20T00:00:00.000Z");
  EXPECT_EQ(NextAfter("0 0 13 * *", "2025-06-14T00:00:00.000Z"), "2025-07-13T00:00:00.000Z");
}

TEST(CronTest, MatchesAgreesWithNext) {
  auto cron = CronExpression::Parse("*/7 1-3 * * 1,3");
  ASSERT_TRUE(cron);
  TimePoint t = At("2025-06-15T00:00:00.000Z");
  for (int i = 0; i < 50; ++i) {
    auto next = cron->Next(t);
    ASSERT_TRUE(next);
    EXPECT_TRUE(cron->Matches(*next)) << FormatIso8601(*next);
    for (TimePoint m = t + std::chrono::minutes{1}; m < *next; m += std::chrono::minutes{1}) {
      ASSERT_FALSE(cron->Matches(std::chrono::floor<std::chrono::minutes>(m)));
    }
    t = *next;
  }
}

TEST(CronTest, RejectsMalformedExpressions) {
  for (const char* bad :
       {"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
        "* * * 13 *", "* * * 0 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *",
        "1,,2 * * * *", "-1 * * * *", "*/ * * * *", "1-2-3 * * * *"}) {
    EXPECT_FALSE(CronExpression::Parse(bad)) << "\"" << bad << "\"";
  }
}

}  // namespace
}  // namespace referrald::worker
