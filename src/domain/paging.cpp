#include "domain/paging.hpp"

#include <array>
#include <cstdint>

#include "domain/errors.hpp"
#include "domain/rules.hpp"
#include "util/base64.hpp"
#include "util/uuid.hpp"

namespace referrald::domain {
namespace {

// Version bytes: what a cursor holds after it.
constexpr char kEventCursorVersion = 1;  // tx, seq: 8 bytes each, big-endian
constexpr char kUuidKeyVersion = 2;      // created_at (Unix ms), then the UUID's 16 bytes
constexpr char kSequenceKeyVersion = 3;  // created_at (Unix ms), then the position: 8 bytes
constexpr std::size_t kEventCursorBytes = 1 + 8 + 8;
constexpr std::size_t kUuidKeyBytes = 1 + 8 + 16;
constexpr std::size_t kSequenceKeyBytes = 1 + 8 + 8;
// Far longer than any cursor: refused before decoding.
constexpr std::size_t kMaxCursorLength = 64;
// Timestamps a key may hold: those the stores can hold (years 1970..9999).
constexpr std::int64_t kMaxKeyMillis = 253402300799999;

void PutU64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> static_cast<unsigned>(shift)) & 0xFFU));
  }
}

std::uint64_t GetU64(std::string_view in) {
  std::uint64_t v = 0;
  for (char c : in.substr(0, 8)) v = (v << 8U) | static_cast<unsigned char>(c);
  return v;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The 16 bytes of a canonical (lowercase) UUID.
std::string UuidBytes(std::string_view uuid) {
  std::string out;
  out.reserve(16);
  int high = -1;
  for (char c : uuid) {
    const int v = HexValue(c);
    if (v < 0) continue;  // the dashes
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<char>((high << 4) | v));
      high = -1;
    }
  }
  return out;
}

std::string UuidText(std::string_view bytes) {
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    const auto b = static_cast<unsigned char>(bytes[i]);
    out.push_back(kHex[b >> 4U]);
    out.push_back(kHex[b & 0xFU]);
  }
  return out;
}

}  // namespace

Result<int> ParsePageLimit(std::optional<std::string_view> text) {
  return ParseBoundedInt(text, kDefaultPageLimit, 1, kMaxPageLimit, errors::InvalidPageLimit());
}

std::string EncodePageCursor(const PageKey& key, PageKeyKind kind) {
  std::string raw;
  raw.push_back(kind == PageKeyKind::kUuid ? kUuidKeyVersion : kSequenceKeyVersion);
  PutU64(raw, static_cast<std::uint64_t>(key.created_at.time_since_epoch().count()));
  if (kind == PageKeyKind::kUuid) {
    raw += UuidBytes(CanonicalUuid(key.id));
  } else {
    PutU64(raw, static_cast<std::uint64_t>(std::stoll(key.id)));
  }
  return Base64UrlEncode(raw);
}

Result<std::optional<PageKey>> ParsePageCursor(std::optional<std::string_view> text,
                                               PageKeyKind kind) {
  if (!text) return std::optional<PageKey>();
  if (text->size() > kMaxCursorLength) return errors::InvalidCursor();
  const auto raw = Base64UrlDecode(*text);
  const bool uuid = kind == PageKeyKind::kUuid;
  if (!raw || raw->size() != (uuid ? kUuidKeyBytes : kSequenceKeyBytes) ||
      (*raw)[0] != (uuid ? kUuidKeyVersion : kSequenceKeyVersion)) {
    return errors::InvalidCursor();
  }
  const std::string_view bytes(*raw);
  const std::uint64_t millis = GetU64(bytes.substr(1));
  if (millis > static_cast<std::uint64_t>(kMaxKeyMillis)) return errors::InvalidCursor();
  PageKey key{TimePoint(std::chrono::milliseconds(static_cast<std::int64_t>(millis))), {}};
  if (uuid) {
    key.id = UuidText(bytes.substr(9));
  } else {
    const std::uint64_t seq = GetU64(bytes.substr(9));
    if (seq > static_cast<std::uint64_t>(INT64_MAX)) return errors::InvalidCursor();
    key.id = std::to_string(seq);
  }
  return std::optional<PageKey>(std::move(key));
}

Result<PageRequest> ParsePageRequest(std::optional<std::string_view> limit,
                                     std::optional<std::string_view> after, PageKeyKind kind) {
  auto parsed_limit = ParsePageLimit(limit);
  if (!parsed_limit) return parsed_limit.error();
  auto parsed_after = ParsePageCursor(after, kind);
  if (!parsed_after) return parsed_after.error();
  return PageRequest{*parsed_limit, std::move(*parsed_after)};
}

std::string EncodeEventCursor(const EventPosition& position) {
  std::string raw;
  raw.reserve(kEventCursorBytes);
  raw.push_back(kEventCursorVersion);
  PutU64(raw, position.tx);
  PutU64(raw, static_cast<std::uint64_t>(position.seq));
  return Base64UrlEncode(raw);
}

Result<EventPosition> ParseEventCursor(std::optional<std::string_view> text) {
  if (!text) return EventPosition{};
  if (text->size() > kMaxCursorLength) return errors::InvalidCursor();
  const auto raw = Base64UrlDecode(*text);
  if (!raw || raw->size() != kEventCursorBytes || (*raw)[0] != kEventCursorVersion) {
    return errors::InvalidCursor();
  }
  const std::uint64_t seq = GetU64(std::string_view(*raw).substr(9));
  if (seq > static_cast<std::uint64_t>(INT64_MAX)) return errors::InvalidCursor();
  return EventPosition{GetU64(std::string_view(*raw).substr(1)), static_cast<std::int64_t>(seq)};
}

}  // namespace referrald::domain
