#include "util/random.hpp"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <limits>

namespace referrald {

std::uint32_t RandomSource::Uniform(std::uint32_t bound) {
  // Rejection sampling: draw until the value falls below the largest multiple of `bound`.
  const std::uint32_t limit = std::numeric_limits<std::uint32_t>::max() -
                              (std::numeric_limits<std::uint32_t>::max() % bound);
  while (true) {
    std::array<std::uint8_t, 4> b{};
    Fill(b);
    const std::uint32_t v = (std::uint32_t{b[0]} << 24U) | (std::uint32_t{b[1]} << 16U) |
                            (std::uint32_t{b[2]} << 8U) | std::uint32_t{b[3]};
    if (v < limit) return v % bound;
  }
}

void SystemRandom::Fill(std::span<std::uint8_t> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::abort();  // The kernel CSPRNG failing is not recoverable.
    }
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace referrald
