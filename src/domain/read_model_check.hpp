#pragma once
// Checks the maintained aggregates: reads every read model the way the routes read it (through
// the aggregates) and compares it with the store's recount over the base tables, at one instant.
// Used by `referrald verify-aggregates` and by the property test.

#include <string>
#include <vector>

#include "domain/model.hpp"
#include "domain/store.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace referrald::domain {

// The read models at `now` as the routes see them (aggregates), for the users and days `shape`
// names: its stats' users and the days from its first day to now's.
Result<ReadModels> ReadThroughAggregates(Store& store, TimePoint now, const ReadModels& shape);

// Every difference between `expected` (a recount) and `actual` (the aggregates), in words;
// empty when they agree.
std::vector<std::string> DescribeDifferences(const ReadModels& expected, const ReadModels& actual);

// Recounts and reads at `now`; the differences, in words (empty: the aggregates are right).
Result<std::vector<std::string>> CheckReadModels(Store& store, TimePoint now);

}  // namespace referrald::domain
