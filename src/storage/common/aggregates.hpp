#pragma once
// What both stores need to maintain the aggregates the same way: which shard of the program-wide
// rows a write goes to, and which window rows a referral counts in.

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

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

// The marker a migration file carries when the aggregates must be rebuilt right after it, in the
// same transaction.
inline constexpr std::string_view kRebuildAggregatesMarker = "referrald:rebuild-aggregates";

}  // namespace referrald::storage
