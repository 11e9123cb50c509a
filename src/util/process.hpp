#pragma once
// Facts about this process for health checks and metrics.

#include <cstdint>

namespace referrald {

// Resident set size in bytes (from /proc/self/statm); 0 when unavailable.
std::int64_t ResidentMemoryBytes();

}  // namespace referrald
