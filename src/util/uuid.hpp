#pragma once
// UUID helpers: time-ordered ids for rows the service creates, validation for ids from outside.

#include <string>
#include <string_view>

#include "util/clock.hpp"
#include "util/random.hpp"

namespace referrald {

// A UUIDv7 (48-bit Unix milliseconds, version 7, then random bits), lowercase canonical form.
// Time-ordered keys keep inserts at the right edge of the B-tree.
std::string NewUuidV7(TimePoint now, RandomSource& random);

// True when `s` is a canonical 8-4-4-4-12 hex UUID (either case).
bool IsUuid(std::string_view s);

// Lowercase form of a UUID that passed IsUuid.
std::string CanonicalUuid(std::string_view s);

}  // namespace referrald
