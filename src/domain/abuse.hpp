#pragma once
// Abuse limits (contract section 9): a referral service is attacked for money — guessed codes,
// scripted writes — so each user and each client address gets a budget of failed tracks per
// rolling hour, and each user a budget of writes per rolling minute. Counted in this process
// (several instances each count their own). Thread-safe; time comes from the injected Clock.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "util/clock.hpp"
#include "util/result.hpp"

namespace referrald::domain {

struct AbuseLimits {
  int failed_tracks_per_hour = 20;          // per user; 0 disables
  int failed_tracks_per_ip_per_hour = 200;  // per client address; 0 disables
  int writes_per_minute = 120;              // per user, admins exempt; 0 disables
};

// At most `limit` events per key in any rolling `window`. Keeps at most `limit` instants per
// key and forgets keys whose events have all left the window.
class RollingLimiter {
 public:
  RollingLimiter(int limit, std::chrono::milliseconds window, std::size_t max_keys = 200000);

  // How long until one more event of `key` fits the budget; zero when it fits now (always, when
  // the limit is 0: disabled).
  std::chrono::milliseconds Wait(const std::string& key, TimePoint now);
  // Counts an event of `key` at `now`.
  void Record(const std::string& key, TimePoint now);

 private:
  void Forget(std::deque<TimePoint>& events, TimePoint now) const;
  void SweepIfFull(TimePoint now);

  const int limit_;
  const std::chrono::milliseconds window_;
  const std::size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, std::deque<TimePoint>> events_;
};

class AbuseGuard {
 public:
  AbuseGuard(AbuseLimits limits, const Clock& clock);

  // Before any /track: RateLimited once the user or the address has used up its budget of
  // failed tracks (so that a guessed code cannot be told apart), else success. Counts nothing.
  Status AdmitTrack(const std::string& user_id, std::string_view address);
  // After a /track refused with INVALID_CODE.
  void RecordFailedTrack(const std::string& user_id, std::string_view address);
  // Before a write of a non-admin user: RateLimited over the per-minute budget (not counted),
  // else counts it.
  Status AdmitWrite(const std::string& user_id);

 private:
  const Clock& clock_;
  RollingLimiter failed_tracks_;
  RollingLimiter failed_tracks_by_address_;
  RollingLimiter writes_;
};

}  // namespace referrald::domain
