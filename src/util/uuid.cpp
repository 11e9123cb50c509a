#include "util/uuid.hpp"

#include <array>
#include <cctype>
#include <cstdint>
#include <mutex>

namespace referrald {

namespace {

// RFC 9562 method 1: a 12-bit counter in rand_a keeps ids created in the same millisecond in
// creation order (so "newest first" by (created_at, id) is exact within this process).
struct Monotonic {
  std::mutex mu;
  std::uint64_t last_ms = 0;
  std::uint16_t counter = 0;
};
Monotonic& State() {
  static Monotonic state;
  return state;
}

}  // namespace

std::string NewUuidV7(TimePoint now, RandomSource& random) {
  std::array<std::uint8_t, 16> b{};
  random.Fill(std::span<std::uint8_t>(b).subspan(6));
  auto ms = static_cast<std::uint64_t>(now.time_since_epoch().count());
  {
    Monotonic& m = State();
    std::lock_guard lock(m.mu);
    // A clock that steps back by under a second (or ids outpacing the counter) continues from
    // the last millisecond; a larger jump (a test's fake clock) starts afresh.
    if (ms <= m.last_ms && m.last_ms - ms < 1000) {
      ms = m.last_ms;
      if (m.counter < 0x0FFFU) {
        ++m.counter;
      } else {
        ++ms;
        m.counter = static_cast<std::uint16_t>(((b[6] << 8U) | b[7]) & 0x07FFU);
      }
    } else {
      m.counter = static_cast<std::uint16_t>(((b[6] << 8U) | b[7]) & 0x07FFU);
    }
    m.last_ms = ms;
    b[6] = static_cast<std::uint8_t>(m.counter >> 8U);
    b[7] = static_cast<std::uint8_t>(m.counter & 0xFFU);
  }
  for (int i = 0; i < 6; ++i) {
    b[static_cast<std::size_t>(i)] =
        static_cast<std::uint8_t>(ms >> (8U * (5U - static_cast<unsigned>(i))));
  }
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0FU) | 0x70U);  // version 7
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3FU) | 0x80U);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4U]);
    out.push_back(kHex[b[i] & 0x0FU]);
  }
  return out;
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_pos) {
      if (s[i] != '-') return false;
    } else if (std::isxdigit(static_cast<unsigned char>(s[i])) == 0) {
      return false;
    }
  }
  return true;
}

std::string CanonicalUuid(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace referrald
