#include "http/request_id.hpp"

#include <algorithm>

#include "util/uuid.hpp"

namespace referrald::http {

bool IsSaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string ResolveRequestId(std::optional<std::string_view> client_value, TimePoint now,
                             RandomSource& random) {
  if (client_value && IsSaneRequestId(*client_value)) return std::string(*client_value);
  return NewUuidV7(now, random);
}

}  // namespace referrald::http
