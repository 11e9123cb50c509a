// The event feed's opaque cursor: what EncodeEventCursor writes parses back; nothing else does.

#include "http/cursor.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace referrald::http {
namespace {

using domain::EventPosition;

TEST(CursorTest, PositionsRoundTrip) {
  for (const EventPosition& position :
       {EventPosition{}, EventPosition{0, 1}, EventPosition{748, 12},
        EventPosition{std::numeric_limits<std::uint64_t>::max(),
                      std::numeric_limits<std::int64_t>::max()}}) {
    const std::string cursor = EncodeEventCursor(position);
    EXPECT_EQ(cursor.find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos)
        << cursor;
    const auto parsed = ParseEventCursor(cursor);
    ASSERT_TRUE(parsed.has_value()) << cursor;
    EXPECT_EQ(*parsed, position);
  }
}

TEST(CursorTest, AbsentIsTheStartOfTheFeed) {
  EXPECT_EQ(*ParseEventCursor(std::nullopt), EventPosition{});
}

TEST(CursorTest, AnythingElseIsInvalidCursor) {
  const std::string good = EncodeEventCursor({5, 6});
  std::string flipped_version = good;
  flipped_version[0] = flipped_version[0] == 'A' ? 'B' : 'A';  // the version byte's high bits
  const std::string negative_seq = EncodeEventCursor({1, -1});
  for (const std::string& bad :
       {std::string(), std::string("x"), std::string("not a cursor"), good + "A", good + "AAAA",
        good.substr(0, good.size() - 1), good + "=", flipped_version, negative_seq,
        std::string(65, 'A'), std::string("AQ"), std::string("!!!!")}) {
    SCOPED_TRACE(bad);
    const auto parsed = ParseEventCursor(bad);
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().reason, Reason::kInvalidCursor);
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace referrald::http
