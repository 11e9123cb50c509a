#include <gtest/gtest.h>

#include <set>

#include "support/scripted_random.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald {
namespace {

TimePoint At(const char* iso) { return *ParseIso8601(iso); }

TEST(UuidTest, V7HasVersionVariantAndTimePrefix) {
  SystemRandom random;
  // A instant no other test uses, so the process-wide monotonic state cannot shift it.
  const std::string id = NewUuidV7(At("2033-05-18T03:33:20.000Z"), random);
  ASSERT_TRUE(IsUuid(id));
  EXPECT_EQ(id[14], '7');
  EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
  // 2033-05-18T03:33:20Z = 2000000000000 ms = 0x01d1a94a2000.
  EXPECT_EQ(id.substr(0, 13), "01d1a94a-2000");
}

TEST(UuidTest, V7IsOrderedByTime) {
  SystemRandom random;
  const auto a = NewUuidV7(At("2025-06-15T12:00:00.000Z"), random);
  const auto b = NewUuidV7(At("2025-06-15T12:00:00.001Z"), random);
  EXPECT_LT(a, b);
}

TEST(UuidTest, V7IsOrderedWithinOneMillisecond) {
  SystemRandom random;
  std::string previous = NewUuidV7(At("2025-06-15T12:00:00.000Z"), random);
  for (int i = 0; i < 5000; ++i) {
    const std::string next = NewUuidV7(At("2025-06-15T12:00:00.000Z"), random);
    ASSERT_LT(previous, next);
    previous = next;
  }
}

TEST(UuidTest, V7IsUniqueWithinOneMillisecond) {
  SystemRandom random;
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(NewUuidV7(At("2025-06-15T12:00:00.000Z"), random));
  EXPECT_EQ(ids.size(), 1000U);
}

TEST(UuidTest, IsUuidAcceptsCanonicalFormOnly) {
  EXPECT_TRUE(IsUuid("123e4567-e89b-12d3-a456-426614174000"));
  EXPECT_TRUE(IsUuid("123E4567-E89B-12D3-A456-426614174000"));
  EXPECT_FALSE(IsUuid(""));
  EXPECT_FALSE(IsUuid("123e4567e89b12d3a456426614174000"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-42661417400g"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-4266141740001"));
  EXPECT_FALSE(IsUuid("' OR 1=1 --"));
  EXPECT_EQ(CanonicalUuid("123E4567-E89B-12D3-A456-426614174000"),
            "123e4567-e89b-12d3-a456-426614174000");
}

TEST(TimeFormatTest, RoundTripsWithMilliseconds) {
  const auto t = At("2025-12-31T23:59:59.123Z");
  EXPECT_EQ(FormatIso8601(t), "2025-12-31T23:59:59.123Z");
  EXPECT_EQ(FormatIso8601(At("2024-02-29T00:00:00.000Z")), "2024-02-29T00:00:00.000Z");
  EXPECT_EQ(FormatDate(t), "2025-12-31");
}

TEST(TimeFormatTest, RejectsMalformedTimestamps) {
  EXPECT_FALSE(ParseIso8601("2025-12-31T23:59:59Z"));
  EXPECT_FALSE(ParseIso8601("2025-02-30T00:00:00.000Z"));
  EXPECT_FALSE(ParseIso8601("2025-12-31T24:00:00.000Z"));
  EXPECT_FALSE(ParseIso8601("2025-12-31 23:59:59.000Z"));
  EXPECT_FALSE(ParseIso8601("2023-02-29T00:00:00.000Z"));
}

TEST(TimeFormatTest, DayArithmeticIsUtc) {
  EXPECT_EQ(FormatIso8601(StartOfUtcDay(At("2025-03-01T23:59:59.999Z"))),
            "2025-03-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601(AddDays(At("2025-03-01T10:00:00.000Z"), -1)), "2025-02-28T10:00:00.000Z");
  EXPECT_EQ(FormatIso8601(AddDays(At("2024-02-28T10:00:00.000Z"), 1)), "2024-02-29T10:00:00.000Z");
}

TEST(RandomTest, UniformStaysInBoundsAndCoversIt) {
  SystemRandom random;
  std::set<std::uint32_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto v = random.Uniform(32);
    ASSERT_LT(v, 32U);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 32U);
}

TEST(RandomTest, UniformRejectsBiasedDraws) {
  testing::ScriptedRandom random;
  // 0xFFFFFFFF lies above the largest multiple of 32 below 2^32 → rejected; then 37 → 37 % 32.
  random.PushUniform({0xFFFFFFFFU, 37});
  EXPECT_EQ(random.Uniform(32), 5U);
  EXPECT_EQ(random.Remaining(), 0U);
}

}  // namespace
}  // namespace referrald
