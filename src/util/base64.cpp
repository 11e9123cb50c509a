#include "util/base64.hpp"

#include <array>
#include <cstdint>

namespace referrald {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The 6-bit value of `c`, or -1.
int Sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v =
        (static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16U) |
        (static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8U) |
        static_cast<unsigned char>(in[i + 2]);
    out.push_back(kAlphabet[(v >> 18U) & 63U]);
    out.push_back(kAlphabet[(v >> 12U) & 63U]);
    out.push_back(kAlphabet[(v >> 6U) & 63U]);
    out.push_back(kAlphabet[v & 63U]);
  }
  const std::size_t rest = in.size() - i;
  if (rest == 0) return out;
  std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16U;
  if (rest == 2) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8U;
  out.push_back(kAlphabet[(v >> 18U) & 63U]);
  out.push_back(kAlphabet[(v >> 12U) & 63U]);
  out.push_back(rest == 2 ? kAlphabet[(v >> 6U) & 63U] : '=');
  out.push_back('=');
  return out;
}

std::optional<std::string> Base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    std::array<int, 4> s{};
    int padding = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      if (c == '=' && last && k >= 2) {
        ++padding;
        s.at(k) = 0;
        continue;
      }
      if (padding > 0) return std::nullopt;  // a character after '='
      s.at(k) = Sextet(c);
      if (s.at(k) < 0) return std::nullopt;
    }
    const std::uint32_t v =
        (static_cast<std::uint32_t>(s[0]) << 18U) | (static_cast<std::uint32_t>(s[1]) << 12U) |
        (static_cast<std::uint32_t>(s[2]) << 6U) | static_cast<std::uint32_t>(s[3]);
    out.push_back(static_cast<char>((v >> 16U) & 0xFFU));
    if (padding == 2) {
      if ((v & 0xFFFFU) != 0) return std::nullopt;
      continue;
    }
    out.push_back(static_cast<char>((v >> 8U) & 0xFFU));
    if (padding == 1) {
      if ((v & 0xFFU) != 0) return std::nullopt;
      continue;
    }
    out.push_back(static_cast<char>(v & 0xFFU));
  }
  return out;
}

std::string Base64UrlEncode(std::string_view in) {
  std::string out = Base64Encode(in);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

// Non-canonical encodings (left-over bits set) are refused by the strict standard decoder.
std::optional<std::string> Base64UrlDecode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string b64(in);
  for (char& c : b64) {
    if (c == '+' || c == '/' || c == '=') return std::nullopt;
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  b64.append((4 - b64.size() % 4) % 4, '=');
  return Base64Decode(b64);
}

}  // namespace referrald
