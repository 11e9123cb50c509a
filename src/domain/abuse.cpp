#include "domain/abuse.hpp"

#include <algorithm>

#include "domain/errors.hpp"

namespace referrald::domain {

using std::chrono::milliseconds;

RollingLimiter::RollingLimiter(int limit, milliseconds window, std::size_t max_keys)
    : limit_(limit), window_(window), max_keys_(max_keys) {}

void RollingLimiter::Forget(std::deque<TimePoint>& events, TimePoint now) const {
  while (!events.empty() && events.front() + window_ <= now) events.pop_front();
}

milliseconds RollingLimiter::Wait(const std::string& key, TimePoint now) {
  if (limit_ <= 0) return milliseconds(0);
  std::lock_guard lock(mu_);
  const auto it = events_.find(key);
  if (it == events_.end()) return milliseconds(0);
  Forget(it->second, now);
  if (static_cast<int>(it->second.size()) < limit_) return milliseconds(0);
  // The budget frees when the oldest event that fills it leaves the window.
  const TimePoint frees =
      it->second[it->second.size() - static_cast<std::size_t>(limit_)] + window_;
  return std::max(milliseconds(1), frees - now);
}

void RollingLimiter::Record(const std::string& key, TimePoint now) {
  if (limit_ <= 0) return;
  std::lock_guard lock(mu_);
  SweepIfFull(now);
  auto& events = events_[key];
  Forget(events, now);
  events.push_back(now);
  while (static_cast<int>(events.size()) > limit_) events.pop_front();
}

void RollingLimiter::SweepIfFull(TimePoint now) {
  if (events_.size() < max_keys_) return;
  for (auto it = events_.begin(); it != events_.end();) {
    Forget(it->second, now);
    it = it->second.empty() ? events_.erase(it) : std::next(it);
  }
  // Still full of live keys (someone rotating through addresses or users): forget the fullest
  // half rather than grow without bound; their budgets start over.
  if (events_.size() >= max_keys_) {
    std::size_t drop = events_.size() / 2;
    for (auto it = events_.begin(); it != events_.end() && drop > 0; --drop) {
      it = events_.erase(it);
    }
  }
}

AbuseGuard::AbuseGuard(AbuseLimits limits, const Clock& clock)
    : clock_(clock),
      failed_tracks_(limits.failed_tracks_per_hour, std::chrono::hours(1)),
      failed_tracks_by_address_(limits.failed_tracks_per_ip_per_hour, std::chrono::hours(1)),
      writes_(limits.writes_per_minute, std::chrono::minutes(1)) {}

Status AbuseGuard::AdmitTrack(const std::string& user_id, std::string_view address) {
  const TimePoint now = clock_.Now();
  milliseconds wait = failed_tracks_.Wait(user_id, now);
  if (!address.empty()) {
    wait = std::max(wait, failed_tracks_by_address_.Wait(std::string(address), now));
  }
  if (wait > milliseconds(0)) return errors::RateLimited(wait);
  return {};
}

void AbuseGuard::RecordFailedTrack(const std::string& user_id, std::string_view address) {
  const TimePoint now = clock_.Now();
  failed_tracks_.Record(user_id, now);
  if (!address.empty()) failed_tracks_by_address_.Record(std::string(address), now);
}

Status AbuseGuard::AdmitWrite(const std::string& user_id) {
  const TimePoint now = clock_.Now();
  const milliseconds wait = writes_.Wait(user_id, now);
  if (wait > milliseconds(0)) return errors::RateLimited(wait);
  writes_.Record(user_id, now);
  return {};
}

}  // namespace referrald::domain
