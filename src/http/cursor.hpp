#pragma once
// The opaque cursors of paged lists (`after=`): base64url, without padding, of a version byte and
// the position. Clients only pass them back; the layout may change with the version byte.

#include <optional>
#include <string>
#include <string_view>

#include "domain/events.hpp"
#include "util/result.hpp"

namespace referrald::http {

// The cursor of a place in the event feed.
std::string EncodeEventCursor(const domain::EventPosition& position);
// The position `text` encodes; the start of the feed when absent. Anything EncodeEventCursor
// cannot have produced (an empty string included) → 400 INVALID_CURSOR.
Result<domain::EventPosition> ParseEventCursor(std::optional<std::string_view> text);

}  // namespace referrald::http
