#include "http/links.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

#include "http/base64url.hpp"

namespace referrald::http {
namespace {

constexpr std::size_t kSha256Length = 32;
// 128 bits keep two visitors of one code and day apart with certainty for any realistic count
// (a collision merges two clicks into one) and keep the rows small.
constexpr std::size_t kVisitorHashBytes = 16;
constexpr std::string_view kVisitorKeyLabel = "referrald/referral-link-visitor/v1";

std::array<unsigned char, kSha256Length> HmacSha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, kSha256Length> mac{};
  unsigned int length = 0;
  // HMAC cannot fail with SHA-256 and buffers of these sizes; a zero MAC would still be a key.
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &length);
  return mac;
}

std::string_view AsText(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace

std::string DeriveVisitorKey(std::string_view secret) {
  const auto mac = HmacSha256(secret, kVisitorKeyLabel);
  return std::string(AsText(mac.data(), mac.size()));
}

std::string VisitorHash(std::string_view key, std::string_view address,
                        std::string_view user_agent) {
  std::string input;
  input.reserve(address.size() + 1 + user_agent.size());
  input.append(address).append("\n").append(user_agent);
  const auto mac = HmacSha256(key, input);
  return Base64UrlEncode(AsText(mac.data(), kVisitorHashBytes));
}

std::string ShareUrl(std::string_view public_base_url, std::string_view code) {
  std::string url(public_base_url);
  url.append("/r/").append(code);
  return url;
}

std::string LandingLocation(const std::optional<std::string>& landing_url, std::string_view code) {
  if (!landing_url) return "/join?ref=" + std::string(code);
  std::string location = *landing_url;
  if (location.find('?') == std::string::npos) {
    location += '?';
  } else if (location.back() != '?' && location.back() != '&') {
    location += '&';
  }
  location.append("ref=").append(code);
  return location;
}

std::optional<std::string> PercentDecode(std::string_view segment) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(segment.size());
  for (std::size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] != '%') {
      out += segment[i];
      continue;
    }
    if (i + 2 >= segment.size()) return std::nullopt;
    const int high = hex(segment[i + 1]);
    const int low = hex(segment[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>((high << 4) | low);
    i += 2;
  }
  return out;
}

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

Response HtmlPage(int status, std::string_view title, std::string_view body_html) {
  Response response;
  response.status = status;
  response.body.append(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
  response.body.append(HtmlEscape(title));
  response.body.append("</title>\n</head>\n<body>\n");
  response.body.append(body_html);
  response.body.append("\n</body>\n</html>\n");
  response.SetHeader("Content-Type", "text/html; charset=utf-8");
  response.SetHeader("Content-Security-Policy", std::string(kPageContentSecurityPolicy));
  response.SetHeader("X-Content-Type-Options", "nosniff");
  response.SetHeader("Referrer-Policy", "no-referrer");
  response.SetHeader("Cache-Control", "no-store");
  return response;
}

}  // namespace referrald::http
