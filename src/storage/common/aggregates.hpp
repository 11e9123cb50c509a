#pragma once
// What both stores need to maintain the aggregates the same way: which shard of the program-wide
// rows a write goes to, how a write keeps a referrer's window totals, and how a read finds a
// window's exact top N from them.
//
// Window totals. For each window length W and referrer there is one row: the referrals the
// referrer made in the W UTC days ending on `as_of_day`, and how many of them converted. A write
// brings the row to its day first — recounting it from referrer_daily when it was counted on an
// earlier day — and then counts itself, so a write costs two rows whatever the window's length.
// Rows nobody wrote to since an earlier day are stale, and a stale row only ever overstates:
// between its day and today it lost the days that left the window and gained nothing (any gain
// would have been a write, which recounts). The rank index files rows by their stored
// (converted, total), so a read walks it in that order, recounts the stale rows it meets and
// stops as soon as no row further down can beat the N it holds (WindowTop). Right at every
// instant, across UTC midnight included, without a job; the daily job only recounts stale rows
// so that reads meet few of them.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "domain/model.hpp"

namespace referrald::storage {

// The shard (0..shards-1) of the program-wide aggregates that writes concerning `user_id` (a
// referrer, or a reward's recipient) update. All of one transaction's program-wide updates go to
// one shard, so two transactions never take those rows in opposite orders.
int ShardOf(std::string_view user_id, int shards);

// What a write made on `today` about a referral created on `created_day` (a track, or its
// conversion) does to its referrer's row of a `window_days` window, counted as of `as_of_day`
// (nullopt: there is no row). referrer_daily already holds the write when the row is recounted.
enum class WindowTouch {
  kNone,       // the referral is outside the row's window: nothing to do
  kInsert,     // no row: insert one counted from referrer_daily (when it has any referral)
  kRecount,    // a row of an earlier day: recount it from referrer_daily as of today
  kIncrement,  // a row of today (or later, on another instance's clock): add the change
};
WindowTouch DecideWindowTouch(int window_days, std::optional<std::int64_t> as_of_day,
                              std::int64_t created_day, std::int64_t today);

// The first day of the `window_days`-day window ending on `day`.
inline std::int64_t WindowStart(int window_days, std::int64_t day) { return day - window_days + 1; }

// The exact top N of a window, from its rows in rank-index order (stored converted desc, stored
// total desc, user_id asc) with their counts as of today (recounted for stale rows).
class WindowTop {
 public:
  explicit WindowTop(int limit);

  // Whether a row filed under (converted, total, user_id) can still enter the top. False: neither
  // it nor any row after it in index order can; stop reading.
  [[nodiscard]] bool MayEnter(std::int64_t stored_converted, std::int64_t stored_total,
                              std::string_view user_id) const;
  // A row with its counts as of today (rows without a referral in the window are left out).
  void Add(domain::LeaderboardEntry entry);
  // Converted desc, total desc, user_id asc; at most `limit` rows; rank left 0.
  std::vector<domain::LeaderboardEntry> Take() &&;

 private:
  std::size_t limit_;
  std::vector<domain::LeaderboardEntry> rows_;  // sorted, at most limit_
};

// The marker a migration file carries when the aggregates must be rebuilt right after it, in the
// same transaction.
inline constexpr std::string_view kRebuildAggregatesMarker = "referrald:rebuild-aggregates";

}  // namespace referrald::storage
