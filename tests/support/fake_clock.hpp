#pragma once
// A Clock tests set and advance. Thread-safe.

#include <atomic>
#include <chrono>

#include "util/clock.hpp"
#include "util/time_format.hpp"

namespace referrald::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = *ParseIso8601("2025-06-15T12:00:00.000Z"))
      : ms_(start.time_since_epoch().count()) {}
  [[nodiscard]] TimePoint Now() const override {
    return TimePoint{std::chrono::milliseconds{ms_.load()}};
  }
  void Set(TimePoint t) { ms_.store(t.time_since_epoch().count()); }
  void Advance(std::chrono::milliseconds d) { ms_.fetch_add(d.count()); }

 private:
  std::atomic<long long> ms_;
};

}  // namespace referrald::testing
