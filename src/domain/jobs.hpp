#pragma once
// The automation worker's jobs as domain operations: expire-codes, award-badges, health-check,
// purge-idempotency-keys.
// Each run writes automation_logs rows (start, then success with counts and duration, or failure
// with its message). Used by the scheduler, `referrald job run` and the admin HTTP route alike.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/model.hpp"
#include "domain/settings.hpp"
#include "domain/store.hpp"
#include "util/clock.hpp"
#include "util/ids.hpp"
#include "util/metrics.hpp"
#include "util/result.hpp"

namespace referrald::domain {

inline constexpr std::string_view kJobExpireCodes = "expire-codes";
inline constexpr std::string_view kJobAwardBadges = "award-badges";
inline constexpr std::string_view kJobHealthCheck = "health-check";
inline constexpr std::string_view kJobPurgeIdempotencyKeys = "purge-idempotency-keys";
inline constexpr std::string_view kReferralMasterBadge = "Referral Master";

struct JobResult {
  std::string job;
  AuditStatus status = AuditStatus::kSuccess;  // success or failed
  Details details;
  std::string error;  // set when failed
};

class JobRunner {
 public:
  // `started_at` is when the process started, for the health check's uptime; `idempotency.ttl`
  // is the age past which purge-idempotency-keys deletes a key.
  JobRunner(Store& store, const Clock& clock, IdGenerator& ids, ReferralSettings settings,
            TimePoint started_at, Metrics* metrics = nullptr, IdempotencySettings idempotency = {});

  static const std::vector<std::string_view>& Names();
  static bool IsKnown(std::string_view name);

  // Runs the job now. Errors: kNotFound "JOB_NOT_FOUND" for an unknown name. A job that fails
  // is not an error: it comes back with status "failed" and is logged. Thread-safe.
  Result<JobResult> Run(std::string_view name);

  // A scheduled run of `name` for `slot`: runs only if this instance claims the slot first
  // (Store::ClaimScheduledRun), so instances sharing a database run each slot once in all.
  // nullopt when another instance had it. A failed claim is logged as a failed run.
  std::optional<JobResult> RunScheduled(std::string_view name, TimePoint slot);

 private:
  Result<Details> Execute(std::string_view name, TimePoint now);
  // Grants the badge to every user at the threshold, each in its own transaction.
  Result<std::int64_t> AwardBadges(TimePoint now);
  void Log(std::string_view job, AuditStatus status, Details details,
           std::optional<std::string> error, TimePoint now);

  Store& store_;
  const Clock& clock_;
  IdGenerator& ids_;
  ReferralSettings settings_;
  IdempotencySettings idempotency_;
  TimePoint started_at_;
  Metrics* metrics_;
};

}  // namespace referrald::domain
