#pragma once
// Log lines that carry fields of their own (the access log's requestId, status, ...). A message
// that starts with kLogFieldsMarker is followed by a JSON object; the LOG_FORMAT=json formatter
// (app/logging.hpp) writes its members as fields of the line. Only code that knows the format is
// json emits one: the text format never sees the marker.

namespace referrald {

inline constexpr char kLogFieldsMarker = '\x1e';  // ASCII record separator

}  // namespace referrald
