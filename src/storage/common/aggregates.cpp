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

std::vector<domain::LeaderboardEntry> TopOfWindow(std::vector<WindowRankRow> first,
                                                  std::vector<WindowRankRow> last_bucket,
                                                  int limit) {
  std::vector<domain::LeaderboardEntry> rows;
  if (!first.empty() && !last_bucket.empty()) {
    // Everything above the lowest bucket `first` reaches, then that whole bucket.
    const auto key = [](const WindowRankRow& r) {
      return std::make_pair(r.entry.converted_referrals, r.bucket);
    };
    const auto lowest = key(*std::min_element(
        first.begin(), first.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); }));
    for (auto& row : first) {
      if (key(row) != lowest) rows.push_back(std::move(row.entry));
    }
    for (auto& row : last_bucket) rows.push_back(std::move(row.entry));
  } else {
    for (auto& row : first) rows.push_back(std::move(row.entry));
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    if (a.converted_referrals != b.converted_referrals) {
      return a.converted_referrals > b.converted_referrals;
    }
    if (a.total_referrals != b.total_referrals) return a.total_referrals > b.total_referrals;
    return a.user_id < b.user_id;
  });
  if (static_cast<int>(rows.size()) > limit) rows.resize(static_cast<std::size_t>(limit));
  return rows;
}

}  // namespace referrald::storage
