#pragma once
// ISO 8601 UTC formatting and parsing, and UTC day arithmetic.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/clock.hpp"

namespace referrald {

// "2025-12-31T23:59:59.000Z".
std::string FormatIso8601(TimePoint t);

// Parses exactly the FormatIso8601 form. nullopt for anything else.
std::optional<TimePoint> ParseIso8601(std::string_view s);

// "2025-12-31": the UTC calendar day of `t`.
std::string FormatDate(TimePoint t);

// 00:00:00.000 UTC of the day containing `t`.
TimePoint StartOfUtcDay(TimePoint t);

// `t` plus `n` whole days (`n` may be negative).
TimePoint AddDays(TimePoint t, long long n);

// The UTC day of `t` as a number of days since 1970-01-01 (the key of the daily aggregates).
std::int64_t UtcDayNumber(TimePoint t);
// 00:00:00.000 UTC of day number `day`.
TimePoint StartOfDayNumber(std::int64_t day);

}  // namespace referrald
