#pragma once
// A RandomSource that replays scripted bytes first, then falls back to the system CSPRNG
// (so ids stay unique once the script is used up). Thread-safe.

#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <vector>

#include "util/random.hpp"

namespace referrald::testing {

class ScriptedRandom final : public RandomSource {
 public:
  // Queues bytes to be returned by the next Fill calls, in order.
  void Push(const std::vector<std::uint8_t>& bytes) {
    std::lock_guard lock(mu_);
    script_.insert(script_.end(), bytes.begin(), bytes.end());
  }
  // Queues the 4-byte big-endian draws that make Uniform(bound) return each of `values`.
  void PushUniform(const std::vector<std::uint32_t>& values) {
    for (std::uint32_t v : values) {
      Push({static_cast<std::uint8_t>(v >> 24U), static_cast<std::uint8_t>(v >> 16U),
            static_cast<std::uint8_t>(v >> 8U), static_cast<std::uint8_t>(v)});
    }
  }
  [[nodiscard]] std::size_t Remaining() {
    std::lock_guard lock(mu_);
    return script_.size();
  }
  void Fill(std::span<std::uint8_t> out) override {
    std::lock_guard lock(mu_);
    std::size_t i = 0;
    for (; i < out.size() && !script_.empty(); ++i) {
      out[i] = script_.front();
      script_.pop_front();
    }
    if (i < out.size()) system_.Fill(out.subspan(i));
  }

 private:
  std::mutex mu_;
  std::deque<std::uint8_t> script_;
  SystemRandom system_;
};

}  // namespace referrald::testing
