#pragma once
// The referral program's tunables (contract section 1), already validated by app/config.

#include <chrono>
#include <cstdint>

#include "domain/limits.hpp"

namespace referrald::domain {

struct ReferralSettings {
  int code_length = 8;                      // 6..32
  std::int64_t code_expiration_days = 365;  // default lifetime of a code
  std::int64_t reward_days = 30;            // premium days per conversion
  std::int64_t reward_claim_days = 90;      // 0 = claimable forever; counted from the hold's end
  std::int64_t reward_hold_days = 0;        // 0..kMaxRewardHoldDays; 0 = claimable at once
  std::int64_t master_threshold = 5;        // conversions for the Referral Master badge
};

// Idempotency-Key (contract section 10).
struct IdempotencySettings {
  // IDEMPOTENCY_TTL_HOURS: a key older than this is forgotten (ignored, then purged by a job).
  std::chrono::hours ttl{kDefaultIdempotencyTtlHours};
};

}  // namespace referrald::domain
