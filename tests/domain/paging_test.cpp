// Paged lists' rules (domain/paging.hpp): the limit, the opaque cursors (of the event feed and of
// keyset pages) — what Encode*Cursor writes parses back, nothing else does — and FetchPage.

#include "domain/paging.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace referrald::domain {
namespace {

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

TEST(PageLimitTest, DefaultsToOneHundredWithinOneToFiveHundred) {
  EXPECT_EQ(*ParsePageLimit(std::nullopt), 100);
  EXPECT_EQ(*ParsePageLimit("1"), 1);
  EXPECT_EQ(*ParsePageLimit("500"), 500);
  for (const char* bad : {"0", "501", "", "-1", "+5", "5x", "1e2", "9999999999"}) {
    SCOPED_TRACE(bad);
    const auto parsed = ParsePageLimit(std::string_view(bad));
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().reason, Reason::kValidationError);
  }
}

const PageKey kKey{TimePoint(std::chrono::milliseconds(1750000000123)),
                   "0197a3b4-1c2d-7e8f-9a0b-1c2d3e4f5a6b"};

TEST(PageCursorTest, KeysRoundTripForEachKind) {
  const std::string uuid_cursor = EncodePageCursor(kKey, PageKeyKind::kUuid);
  EXPECT_EQ(uuid_cursor.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  EXPECT_EQ(**ParsePageCursor(uuid_cursor, PageKeyKind::kUuid), kKey);
  const PageKey seq{kKey.created_at, "9223372036854775807"};
  EXPECT_EQ(
      **ParsePageCursor(EncodePageCursor(seq, PageKeyKind::kSequence), PageKeyKind::kSequence),
      seq);
  EXPECT_EQ(*ParsePageCursor(std::nullopt, PageKeyKind::kUuid), std::nullopt);
}

TEST(PageCursorTest, ACursorOfAnotherShapeOrAnythingElseIsInvalidCursor) {
  const std::string uuid_cursor = EncodePageCursor(kKey, PageKeyKind::kUuid);
  const std::string seq_cursor =
      EncodePageCursor(PageKey{kKey.created_at, "42"}, PageKeyKind::kSequence);
  const std::string event_cursor = EncodeEventCursor({5, 6});
  for (const auto& [bad, kind] : std::vector<std::pair<std::string, PageKeyKind>>{
           {seq_cursor, PageKeyKind::kUuid},
           {event_cursor, PageKeyKind::kUuid},
           {uuid_cursor, PageKeyKind::kSequence},
           {event_cursor, PageKeyKind::kSequence},
           {"", PageKeyKind::kUuid},
           {"not a cursor", PageKeyKind::kUuid},
           {uuid_cursor + "A", PageKeyKind::kUuid},
           {uuid_cursor.substr(1), PageKeyKind::kUuid},
           {std::string(65, 'A'), PageKeyKind::kUuid},
           // a time past year 9999
           {EncodePageCursor(PageKey{TimePoint(std::chrono::milliseconds(INT64_MAX)), kKey.id},
                             PageKeyKind::kUuid),
            PageKeyKind::kUuid}}) {
    SCOPED_TRACE(bad);
    const auto parsed = ParsePageCursor(bad, kind);
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().reason, Reason::kInvalidCursor);
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(PageRequestTest, LimitThenCursorAreChecked) {
  EXPECT_EQ(ParsePageRequest("0", std::nullopt, PageKeyKind::kUuid).error().reason,
            Reason::kValidationError);
  EXPECT_EQ(ParsePageRequest("5", "x", PageKeyKind::kUuid).error().reason, Reason::kInvalidCursor);
  const auto ok =
      ParsePageRequest("5", EncodePageCursor(kKey, PageKeyKind::kUuid), PageKeyKind::kUuid);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->limit, 5);
  EXPECT_EQ(ok->after, kKey);
}

TEST(FetchPageTest, AsksForOneRowMoreAndAnnouncesANextPageOnlyWhenItCame) {
  const auto fetch_n = [](std::size_t available) {
    return [available](const PageRequest& probe) -> Result<std::vector<int>> {
      EXPECT_EQ(probe.limit, 3);  // limit + 1
      std::vector<int> rows;
      for (int i = 0; i < static_cast<int>(std::min<std::size_t>(available, 3)); ++i) {
        rows.push_back(i);
      }
      return rows;
    };
  };
  const auto key_of = [](int i) { return PageKey{TimePoint{}, std::to_string(i)}; };
  const PageRequest request{2, std::nullopt};
  const auto full = FetchPage<int>(request, fetch_n(3), key_of);
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->items, (std::vector<int>{0, 1}));
  EXPECT_EQ(full->next, key_of(1));
  const auto last = FetchPage<int>(request, fetch_n(2), key_of);
  EXPECT_EQ(last->items, (std::vector<int>{0, 1}));
  EXPECT_EQ(last->next, std::nullopt);
}

}  // namespace
}  // namespace referrald::domain
