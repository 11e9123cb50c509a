#pragma once
// Process-wide counters and histograms, rendered in the Prometheus text format (version 0.0.4).
// Thread-safe. Passed by reference to whoever records; never a global.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace referrald {

class Metrics {
 public:
  // Upper bounds (seconds) of the request latency histogram buckets; +Inf is implicit.
  static constexpr std::array<double, 11> kLatencyBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                          0.05,   0.1,   0.25,   0.5,   1.0};

  void RequestStarted();
  // `route` is the route pattern (or "unmatched"), never the raw path.
  void RequestFinished(std::string_view method, std::string_view route, int status, double seconds);
  void JobRun(std::string_view job, bool failed);
  void ReferralTracked();
  void ReferralConverted();
  void RewardGranted();
  void RewardClaimed();

  // The exposition text. Uptime and resident memory are passed in by the caller.
  [[nodiscard]] std::string Render(double uptime_seconds, std::int64_t resident_bytes) const;

  [[nodiscard]] std::int64_t in_flight() const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kLatencyBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0.0;
  };

  mutable std::mutex mu_;
  std::int64_t in_flight_ = 0;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, Histogram> latency_;
  std::map<std::string, std::uint64_t> job_runs_;
  std::map<std::string, std::uint64_t> job_failures_;
  std::uint64_t referrals_tracked_ = 0;
  std::uint64_t referrals_converted_ = 0;
  std::uint64_t rewards_granted_ = 0;
  std::uint64_t rewards_claimed_ = 0;
};

}  // namespace referrald
