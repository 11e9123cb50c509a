// Result and Status: values and errors read the right way, misuse stops the program with a
// message (never undefined behaviour), and every machine code has one wire name.

#include "util/result.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>

namespace referrald {
namespace {

Result<int> Parsed(bool ok) {
  if (ok) return 42;
  return MakeError(ErrorCode::kInvalidArgument, Reason::kValidationError, "not a number");
}

Status Checked(bool ok) {
  if (ok) return {};
  return MakeError(ErrorCode::kNotFound, Reason::kCodeNotFound, "no code");
}

TEST(ResultTest, HoldsAValueOrAnError) {
  const Result<int> value = Parsed(true);
  ASSERT_TRUE(value);
  EXPECT_EQ(*value, 42);
  const Result<int> error = Parsed(false);
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(error.error().reason, Reason::kValidationError);
  EXPECT_EQ(error.error().machine(), "VALIDATION_ERROR");
  EXPECT_TRUE(Checked(true));
  EXPECT_EQ(Checked(false).error().machine(), "CODE_NOT_FOUND");
}

TEST(ResultDeathTest, ReadingTheValueOfAnErrorStopsWithTheError) {
  EXPECT_DEATH((void)*Parsed(false),
               "bug: read the value of a Result that holds an error "
               "\\(VALIDATION_ERROR: not a number\\)");
  EXPECT_DEATH((void)Parsed(false).value(), "value of a Result that holds an error");
}

TEST(ResultDeathTest, ReadingTheErrorOfASuccessStops) {
  EXPECT_DEATH((void)Parsed(true).error(), "bug: read error\\(\\) of a Result that holds a value");
  EXPECT_DEATH((void)Checked(true).error(), "bug: read error\\(\\) of a successful Status");
}

TEST(ReasonTest, EveryReasonHasItsOwnScreamingSnakeWireName) {
  std::set<std::string> names;
  for (int i = 0; i <= static_cast<int>(kLastReason); ++i) {
    const std::string name(ToString(static_cast<Reason>(i)));
    ASSERT_FALSE(name.empty()) << "reason " << i;
    for (const char c : name) {
      EXPECT_TRUE(std::isupper(static_cast<unsigned char>(c)) || c == '_') << name;
    }
    EXPECT_TRUE(names.insert(name).second) << "duplicate wire name " << name;
  }
}

}  // namespace
}  // namespace referrald
