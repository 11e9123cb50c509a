#pragma once
// Randomness is read only through an injected RandomSource so tests can script it.

#include <cstddef>
#include <cstdint>
#include <span>

namespace referrald {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Fills `out` with random bytes. The production source is a CSPRNG. Thread-safe.
  virtual void Fill(std::span<std::uint8_t> out) = 0;

  // A uniformly distributed integer in [0, bound), bound > 0, without modulo bias.
  std::uint32_t Uniform(std::uint32_t bound);
};

// The kernel CSPRNG (getrandom(2)).
class SystemRandom final : public RandomSource {
 public:
  void Fill(std::span<std::uint8_t> out) override;
};

}  // namespace referrald
