#pragma once
// Paged lists (contract §13): the rules every list route shares, owned here once — how many rows
// a page may hold (`limit`), where a page starts (`after`, an opaque cursor) and how the next
// page is found. Also the event feed's cursor (domain/events.hpp), the other opaque cursor the
// service hands out.
//
// Lists are newest first and keyset-paged by (created_at, tie-breaker): a page holds the rows
// strictly older than the last row of the page before, so rows inserted while a client pages
// (newer than the page it is on) never shift a later page — no row is listed twice and none that
// existed at the first page is passed over. A cursor is base64url (no padding) of a version byte
// and the key; clients only pass it back.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/events.hpp"
#include "domain/limits.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace referrald::domain {

// The place of a row in a newest-first list: its created_at, then its tie-breaker.
struct PageKey {
  TimePoint created_at;
  // A canonical UUID (rewards, referrals, automation logs), or the decimal feed position of a
  // webhook delivery's event (see PageKeyKind).
  std::string id;
  bool operator==(const PageKey&) const = default;
};

// What a list's tie-breaker is, so that a cursor of the wrong shape is refused.
enum class PageKeyKind : std::uint8_t {
  kUuid,      // the row's UUID id
  kSequence,  // a non-negative 64-bit position (webhook deliveries: the event's seq)
};

// One page asked for: at most `limit` rows strictly after `after` in list order (from the newest
// row when absent).
struct PageRequest {
  int limit = kDefaultPageLimit;
  std::optional<PageKey> after;
};

// One page: its rows in list order, and the key to ask the next page after (nullopt on the last).
template <typename T>
struct Page {
  std::vector<T> items;
  std::optional<PageKey> next;
};

// ?limit= of a paged list: 1..kMaxPageLimit, kDefaultPageLimit when absent. Errors:
// InvalidPageLimit (VALIDATION_ERROR).
Result<int> ParsePageLimit(std::optional<std::string_view> text);

// The cursor of the page after `key`.
std::string EncodePageCursor(const PageKey& key, PageKeyKind kind);
// ?after= of a paged list: nullopt (the first page) when absent; the key EncodePageCursor wrote
// for a list of `kind`. Anything else (an empty string included) → INVALID_CURSOR.
Result<std::optional<PageKey>> ParsePageCursor(std::optional<std::string_view> text,
                                               PageKeyKind kind);

// The parsed ?limit= and ?after= of a paged list.
Result<PageRequest> ParsePageRequest(std::optional<std::string_view> limit,
                                     std::optional<std::string_view> after, PageKeyKind kind);

// The cursor of a place in the event feed.
std::string EncodeEventCursor(const EventPosition& position);
// The position `text` encodes; the start of the feed when absent. Anything EncodeEventCursor
// cannot have produced (an empty string included) → INVALID_CURSOR.
Result<EventPosition> ParseEventCursor(std::optional<std::string_view> text);

// Reads the page `request` asks for through `fetch` (PageRequest → Result<std::vector<T>>, rows in
// list order after request.after), asking it for one row more than the limit: when that row
// exists there is a next page, after the last row kept (`key_of` gives a row's PageKey).
template <typename T, typename Fetch, typename KeyOf>
Result<Page<T>> FetchPage(const PageRequest& request, Fetch&& fetch, KeyOf&& key_of) {
  PageRequest probe = request;
  probe.limit = request.limit + 1;
  Result<std::vector<T>> rows = fetch(probe);
  if (!rows) return rows.error();
  Page<T> page{std::move(*rows), std::nullopt};
  const auto limit = static_cast<std::size_t>(std::max(request.limit, 0));
  if (page.items.size() > limit) {
    page.items.resize(limit);
    if (!page.items.empty()) page.next = key_of(page.items.back());
  }
  return page;
}

}  // namespace referrald::domain
