#pragma once
// X-Request-Id: the client's own value when it is sane, otherwise a fresh one.

#include <optional>
#include <string>
#include <string_view>

#include "util/clock.hpp"
#include "util/random.hpp"

namespace referrald::http {

inline constexpr std::size_t kMaxRequestIdLength = 128;

// True for 1..128 characters of [A-Za-z0-9._-].
bool IsSaneRequestId(std::string_view id);

// `client_value` when sane, otherwise a new time-ordered UUID.
std::string ResolveRequestId(std::optional<std::string_view> client_value, TimePoint now,
                             RandomSource& random);

}  // namespace referrald::http
