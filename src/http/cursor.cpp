#include "http/cursor.hpp"

#include <array>
#include <cstdint>

#include "http/base64url.hpp"
#include "http/error_mapping.hpp"

namespace referrald::http {
namespace {

constexpr char kEventCursorVersion = 1;
// The version byte, then tx and seq as 8 bytes each, big-endian.
constexpr std::size_t kEventCursorBytes = 1 + 8 + 8;
// Far longer than any cursor: refused before decoding.
constexpr std::size_t kMaxCursorLength = 64;

void PutU64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xFFU));
  }
}

std::uint64_t GetU64(std::string_view in) {
  std::uint64_t v = 0;
  for (char c : in.substr(0, 8)) v = (v << 8U) | static_cast<unsigned char>(c);
  return v;
}

}  // namespace

std::string EncodeEventCursor(const domain::EventPosition& position) {
  std::string raw;
  raw.reserve(kEventCursorBytes);
  raw.push_back(kEventCursorVersion);
  PutU64(raw, position.tx);
  PutU64(raw, static_cast<std::uint64_t>(position.seq));
  return Base64UrlEncode(raw);
}

Result<domain::EventPosition> ParseEventCursor(std::optional<std::string_view> text) {
  if (!text) return domain::EventPosition{};
  if (text->size() > kMaxCursorLength) return http_errors::InvalidCursor();
  const auto raw = Base64UrlDecode(*text);
  if (!raw || raw->size() != kEventCursorBytes || (*raw)[0] != kEventCursorVersion) {
    return http_errors::InvalidCursor();
  }
  const std::uint64_t seq = GetU64(std::string_view(*raw).substr(9));
  if (seq > static_cast<std::uint64_t>(INT64_MAX)) return http_errors::InvalidCursor();
  return domain::EventPosition{GetU64(std::string_view(*raw).substr(1)),
                               static_cast<std::int64_t>(seq)};
}

}  // namespace referrald::http
