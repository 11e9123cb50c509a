#include "storage/common/aggregates.hpp"

#include <algorithm>
#include <tuple>

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

WindowTouch DecideWindowTouch(int window_days, std::optional<std::int64_t> as_of_day,
                              std::int64_t created_day, std::int64_t today) {
  // The row's window ends on its day or today, whichever is later.
  const std::int64_t end = as_of_day ? std::max(*as_of_day, today) : today;
  if (created_day < WindowStart(window_days, end) || created_day > end) return WindowTouch::kNone;
  if (!as_of_day) return WindowTouch::kInsert;
  if (*as_of_day < today) return WindowTouch::kRecount;
  return WindowTouch::kIncrement;
}

namespace {

// Rank order: converted desc, total desc, user_id asc.
bool RanksBefore(const domain::LeaderboardEntry& a, const domain::LeaderboardEntry& b) {
  return std::make_tuple(-a.converted_referrals, -a.total_referrals, std::string_view(a.user_id)) <
         std::make_tuple(-b.converted_referrals, -b.total_referrals, std::string_view(b.user_id));
}

}  // namespace

WindowTop::WindowTop(int limit) : limit_(static_cast<std::size_t>(std::max(limit, 0))) {}

bool WindowTop::MayEnter(std::int64_t stored_converted, std::int64_t stored_total,
                         std::string_view user_id) const {
  if (rows_.size() < limit_) return true;
  if (limit_ == 0) return false;
  // A row's counts as of today are at most its stored ones, and rows come in stored order: once
  // the stored key ranks after the last row held, so does every count from here on.
  const domain::LeaderboardEntry& last = rows_.back();
  return std::make_tuple(-stored_converted, -stored_total, user_id) <
         std::make_tuple(-last.converted_referrals, -last.total_referrals,
                         std::string_view(last.user_id));
}

void WindowTop::Add(domain::LeaderboardEntry entry) {
  if (entry.total_referrals <= 0 || limit_ == 0) return;
  const auto at = std::upper_bound(rows_.begin(), rows_.end(), entry, RanksBefore);
  if (rows_.size() == limit_ && at == rows_.end()) return;
  rows_.insert(at, std::move(entry));
  if (rows_.size() > limit_) rows_.pop_back();
}

std::vector<domain::LeaderboardEntry> WindowTop::Take() && { return std::move(rows_); }

}  // namespace referrald::storage
