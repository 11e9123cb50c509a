#pragma once
// What both stores need to maintain the aggregates the same way: which shard of the program-wide
// rows a write goes to, and which window rows a referral counts in.

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/model.hpp"

namespace referrald::storage {

// The shard (0..shards-1) of the program-wide aggregates that writes concerning `user_id` (a
// referrer, or a reward's recipient) update. All of one transaction's program-wide updates go to
// one shard, so two transactions never take those rows in opposite orders.
int ShardOf(std::string_view user_id, int shards);

// The end days of the `window_days`-day windows that count a referral created on `created_day`
// and that a read on `from_day` or later can still see: [max(created_day, from_day),
// created_day + window_days - 1]; nullopt when there are none.
std::optional<std::pair<std::int64_t, std::int64_t>> LiveWindowEnds(int window_days,
                                                                    std::int64_t created_day,
                                                                    std::int64_t from_day);

// The rank bucket of a window total, as SQL both dialects run: the total itself below
// kExactRankBelow, then the total with its low bits cleared (buckets about 1/16 to 1/8 of the
// value wide). The window rank index orders rows by (converted, bucket) instead of (converted,
// total), so that most increments of a total leave the index alone: a referral adds 1 to one
// row per window end day, and moving an index entry for each of those days would dirty a page
// for each. Reads sort each bucket's rows exactly (TopOfWindow).
#define REFERRALD_RANK_BUCKET(t)                             \
  "(CASE WHEN " t " < 16 THEN " t " WHEN " t " < 32 THEN " t \
  " & ~1"                                                    \
  " WHEN " t " < 64 THEN " t                                 \
  " & ~3"                                                    \
  " WHEN " t " < 128 THEN " t                                \
  " & ~7"                                                    \
  " WHEN " t " < 256 THEN " t                                \
  " & ~15"                                                   \
  " WHEN " t " < 512 THEN " t                                \
  " & ~31"                                                   \
  " WHEN " t " < 1024 THEN " t                               \
  " & ~63"                                                   \
  " WHEN " t " < 2048 THEN " t                               \
  " & ~127"                                                  \
  " WHEN " t " < 4096 THEN " t                               \
  " & ~255"                                                  \
  " WHEN " t " < 8192 THEN " t                               \
  " & ~511"                                                  \
  " WHEN " t " < 16384 THEN " t                              \
  " & ~1023"                                                 \
  " WHEN " t " < 32768 THEN " t                              \
  " & ~2047"                                                 \
  " WHEN " t " < 65536 THEN " t                              \
  " & ~4095"                                                 \
  " WHEN " t " < 131072 THEN " t                             \
  " & ~8191"                                                 \
  " WHEN " t " < 262144 THEN " t                             \
  " & ~16383"                                                \
  " WHEN " t " < 524288 THEN " t                             \
  " & ~32767"                                                \
  " WHEN " t " < 1048576 THEN " t                            \
  " & ~65535"                                                \
  " ELSE " t " & ~131071 END)"

// Totals below this have a bucket of their own, so the index order is already exact there.
inline constexpr std::int64_t kExactRankBelow = 16;

// One row of a window's rank index, with the bucket it is filed under.
struct WindowRankRow {
  domain::LeaderboardEntry entry;
  std::int64_t bucket = 0;
};

// The exact top `limit` of a window from what the index gave: `first` = the first `limit` rows in
// index order (converted desc, bucket desc, user_id asc), in any order; `last_bucket` = every row
// of the lowest (converted, bucket) among them when that bucket is not exact (empty otherwise).
// Sorted by converted desc, total desc, user_id asc.
std::vector<domain::LeaderboardEntry> TopOfWindow(std::vector<WindowRankRow> first,
                                                  std::vector<WindowRankRow> last_bucket,
                                                  int limit);

// The marker a migration file carries when the aggregates must be rebuilt right after it, in the
// same transaction.
inline constexpr std::string_view kRebuildAggregatesMarker = "referrald:rebuild-aggregates";

}  // namespace referrald::storage
