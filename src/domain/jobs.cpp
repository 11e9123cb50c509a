#include "domain/jobs.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "domain/audit.hpp"
#include "util/process.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::domain {

JobRunner::JobRunner(Store& store, const Clock& clock, RandomSource& random,
                     ReferralSettings settings, TimePoint started_at, Metrics* metrics)
    : store_(store),
      clock_(clock),
      random_(random),
      settings_(settings),
      started_at_(started_at),
      metrics_(metrics) {}

const std::vector<std::string_view>& JobRunner::Names() {
  static const std::vector<std::string_view> kNames{kJobExpireCodes, kJobAwardBadges,
                                                    kJobHealthCheck};
  return kNames;
}

bool JobRunner::IsKnown(std::string_view name) {
  const auto& names = Names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

Result<JobResult> JobRunner::Run(std::string_view name) {
  if (!IsKnown(name)) {
    return MakeError(ErrorCode::kNotFound, "JOB_NOT_FOUND", "Unknown job: " + std::string(name));
  }
  const TimePoint start = clock_.Now();
  Log(name, audit::kPending, {{"event", std::string("started")}}, std::nullopt, start);
  auto details = Execute(name, start);
  const TimePoint end = clock_.Now();
  const auto duration_ms = static_cast<std::int64_t>((end - start).count());
  JobResult result{std::string(name), std::string(audit::kSuccess), {}, {}};
  if (details) {
    result.details = std::move(*details);
    result.details.emplace_back("durationMs", duration_ms);
    Log(name, audit::kSuccess, result.details, std::nullopt, end);
    spdlog::info("job {} succeeded in {} ms", name, duration_ms);
  } else {
    result.status = std::string(audit::kFailed);
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
  auto claimed = store_.ClaimScheduledRun(std::string(name), slot, now);
  if (!claimed) {
    JobResult failed{std::string(name),
                     std::string(audit::kFailed),
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

Result<std::vector<std::pair<std::string, AuditValue>>> JobRunner::Execute(std::string_view name,
                                                                           TimePoint now) {
  using Details = std::vector<std::pair<std::string, AuditValue>>;
  if (name == kJobExpireCodes) {
    auto expired = store_.ExpireCodes(now);
    if (!expired) return expired.error();
    return Details{{"codesDeactivated", *expired}};
  }
  if (name == kJobAwardBadges) {
    auto granted =
        store_.AwardBadges(settings_.master_threshold, std::string(kReferralMasterBadge), now);
    if (!granted) return granted.error();
    return Details{{"badgesGranted", static_cast<std::int64_t>(granted->size())},
                   {"threshold", settings_.master_threshold}};
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

void JobRunner::Log(std::string_view job, std::string_view status,
                    std::vector<std::pair<std::string, AuditValue>> details,
                    std::optional<std::string> error, TimePoint now) {
  auto appended = store_.AppendAudit(
      AuditEntry{NewUuidV7(now, random_), std::string(audit::kServiceWorker), std::string(job),
                 std::string(status), std::nullopt, std::move(details), std::move(error), now});
  if (!appended) spdlog::error("could not write automation log for job {}", job);
}

}  // namespace referrald::domain
