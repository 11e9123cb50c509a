#pragma once
// Time is read only through an injected Clock so tests can control it.

#include <chrono>

namespace referrald {

// Milliseconds since the Unix epoch, UTC. Every timestamp the service stores has this precision.
using TimePoint = std::chrono::sys_time<std::chrono::milliseconds>;

class Clock {
 public:
  virtual ~Clock() = default;
  // The current UTC time. Thread-safe.
  [[nodiscard]] virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] TimePoint Now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
};

}  // namespace referrald
