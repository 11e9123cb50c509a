#include "storage/common/aggregates.hpp"

#include <algorithm>

namespace referrald::storage {

int ShardOf(std::string_view user_id, int shards) {
  if (shards <= 1 || user_id.empty()) return 0;
  // A UUID's last hex digit: random bits in every version the service sees.
  const char c = user_id.back();
  int value = 0;
  if (c >= '0' && c <= '9') value = c - '0';
  if (c >= 'a' && c <= 'f') value = c - 'a' + 10;
  if (c >= 'A' && c <= 'F') value = c - 'A' + 10;
  return value % shards;
}

std::optional<std::pair<std::int64_t, std::int64_t>> LiveWindowEnds(int window_days,
                                                                    std::int64_t created_day,
                                                                    std::int64_t from_day) {
  const std::int64_t first = std::max(created_day, from_day);
  const std::int64_t last = created_day + window_days - 1;
  if (first > last) return std::nullopt;
  return std::make_pair(first, last);
}

}  // namespace referrald::storage
