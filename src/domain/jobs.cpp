#include "domain/jobs.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "domain/audit.hpp"
#include "domain/events.hpp"
#include "domain/idempotency.hpp"
#include "util/process.hpp"
#include "util/time_format.hpp"

namespace referrald::domain {

JobRunner::JobRunner(Store& store, const Clock& clock, IdGenerator& ids, ReferralSettings settings,
                     TimePoint started_at, Metrics* metrics, IdempotencySettings idempotency)
    : store_(store),
      clock_(clock),
      ids_(ids),
      settings_(settings),
      idempotency_(idempotency),
      started_at_(started_at),
      metrics_(metrics) {}

const std::vector<std::string_view>& JobRunner::Names() {
  static const std::vector<std::string_view> kNames{kJobExpireCodes, kJobAwardBadges,
                                                    kJobHealthCheck, kJobPurgeIdempotencyKeys};
  return kNames;
}

bool JobRunner::IsKnown(std::string_view name) {
  const auto& names = Names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

Result<JobResult> JobRunner::Run(std::string_view name) {
  if (!IsKnown(name)) {
    return MakeError(ErrorCode::kNotFound, Reason::kJobNotFound,
                     "Unknown job: " + std::string(name));
  }
  const TimePoint start = clock_.Now();
  Log(name, audit::kPending, {{"event", std::string("started")}}, std::nullopt, start);
  auto details = Execute(name, start);
  const TimePoint end = clock_.Now();
  const auto duration_ms = static_cast<std::int64_t>((end - start).count());
  JobResult result{std::string(name), audit::kSuccess, {}, {}};
  if (details) {
    result.details = std::move(*details);
    result.details.emplace_back("durationMs", duration_ms);
    Log(name, audit::kSuccess, result.details, std::nullopt, end);
    spdlog::info("job {} succeeded in {} ms", name, duration_ms);
  } else {
    result.status = audit::kFailed;
    result.error = details.error().message;
    result.details.emplace_back("durationMs", duration_ms);
    Log(name, audit::kFailed, result.details, result.error, end);
    spdlog::error("job {} failed: {}", name, result.error);
  }
  if (metrics_ != nullptr) metrics_->JobRun(name, result.status != audit::kSuccess);
  return result;
}

std::optional<JobResult> JobRunner::RunScheduled(std::string_view name, TimePoint slot) {
  const TimePoint now = clock_.Now();
  auto claimed = Transact(
      store_, [&](WriteTx& tx) { return tx.ClaimScheduledRun(std::string(name), slot, now); });
  if (!claimed) {
    JobResult failed{std::string(name),
                     audit::kFailed,
                     {{"slot", FormatIso8601(slot)}},
                     "could not claim the scheduled slot: " + claimed.error().message};
    Log(name, audit::kFailed, failed.details, failed.error, now);
    spdlog::error("job {}: {}", name, failed.error);
    if (metrics_ != nullptr) metrics_->JobRun(name, true);
    return failed;
  }
  if (!*claimed) {
    spdlog::debug("job {}: slot {} already run by another instance", name, FormatIso8601(slot));
    return std::nullopt;
  }
  auto result = Run(name);
  if (!result) return std::nullopt;  // unreachable: scheduled names are known
  return std::move(*result);
}

Result<Details> JobRunner::Execute(std::string_view name, TimePoint now) {
  if (name == kJobExpireCodes) {
    auto expired = Transact(store_, [&](WriteTx& tx) { return tx.ExpireCodes(now); });
    if (!expired) return expired.error();
    // The daily housekeeping of the aggregates: window totals counted on earlier days, recounted.
    auto refreshed =
        Transact(store_, [&](WriteTx& tx) { return tx.RefreshAggregates(UtcDayNumber(now)); });
    if (!refreshed) return refreshed.error();
    return Details{{"codesDeactivated", *expired}, {"windowRowsRefreshed", *refreshed}};
  }
  if (name == kJobAwardBadges) {
    auto granted = AwardBadges(now);
    if (!granted) return granted.error();
    return Details{{"badgesGranted", *granted}, {"threshold", settings_.master_threshold}};
  }
  if (name == kJobPurgeIdempotencyKeys) {
    auto deleted = PurgeIdempotencyKeys(store_, now, idempotency_.ttl);
    if (!deleted) return deleted.error();
    return Details{{"keysDeleted", *deleted},
                   {"ttlHours", static_cast<std::int64_t>(idempotency_.ttl.count())}};
  }
  // health-check
  auto ping = store_.Ping();
  Details details{
      {"uptimeSeconds",
       static_cast<std::int64_t>(
           std::chrono::duration_cast<std::chrono::seconds>(now - started_at_).count())},
      {"residentMemoryBytes", ResidentMemoryBytes()},
      {"database", std::string(ping ? "ok" : "unavailable")}};
  if (!ping) return ping.error();
  return details;
}

Result<std::int64_t> JobRunner::AwardBadges(TimePoint now) {
  auto candidates = store_.BadgeCandidates(settings_.master_threshold);
  if (!candidates) return candidates.error();
  std::int64_t granted = 0;
  for (const std::string& user_id : *candidates) {
    Reward badge;
    badge.id = ids_.New(now);
    badge.user_id = user_id;
    badge.type = RewardType::kBadge;
    badge.value.badge = std::string(kReferralMasterBadge);
    badge.is_claimed = true;
    badge.created_at = now;
    badge.claimed_at = now;
    badge.claimable_at = now;
    // The insert re-checks the threshold and the one-badge index itself: a concurrent run, or
    // another instance, cannot grant a second badge.
    auto inserted = Transact(store_, [&](WriteTx& tx) -> Result<bool> {
      auto done = tx.InsertBadge(badge, settings_.master_threshold);
      if (!done || !*done) return done;
      auto audited = tx.AppendAudit(audit::Entry(
          ids_.New(now), audit::kServiceReferral, audit::kRewardGranted, audit::kSuccess, user_id,
          {{"rewardId", badge.id}, {"badge", *badge.value.badge}}, std::nullopt, now));
      if (!audited) return audited.error();
      auto emitted = tx.AppendEvent(MakeEvent(
          ids_.New(now), now, events::BadgeAwarded{badge.id, user_id, *badge.value.badge}));
      if (!emitted) return emitted.error();
      return true;
    });
    if (!inserted) return inserted.error();
    if (*inserted) {
      ++granted;
      if (metrics_ != nullptr) metrics_->RewardGranted();
    }
  }
  return granted;
}

void JobRunner::Log(std::string_view job, AuditStatus status, Details details,
                    std::optional<std::string> error, TimePoint now) {
  auto appended = Transact(store_, [&](WriteTx& tx) {
    return tx.AppendAudit(audit::Entry(ids_.New(now), audit::kServiceWorker, job, status,
                                       std::nullopt, details, error, now));
  });
  if (!appended) spdlog::error("could not write automation log for job {}", job);
}

}  // namespace referrald::domain
