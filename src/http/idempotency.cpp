#include "http/idempotency.hpp"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

namespace referrald::http {

std::string Sha256Hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    // Only an allocation failure inside OpenSSL gets here: let the pipeline's catch-all answer.
    throw std::runtime_error("SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::size_t{2} * length);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4U];
    out += kHex[digest[i] & 0x0FU];
  }
  return out;
}

// Headers are stored one per line as "Name: value": names and values never hold CR or LF.
domain::StoredResponse ToStored(const Response& response) {
  domain::StoredResponse stored{response.status, {}, response.body};
  for (const auto& [name, value] : response.headers) {
    stored.headers.append(name).append(": ").append(value).append("\n");
  }
  return stored;
}

Response FromStored(const domain::StoredResponse& stored) {
  Response response;
  response.status = stored.status;
  response.body = stored.body;
  std::string_view rest = stored.headers;
  while (!rest.empty()) {
    const std::size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    const std::size_t colon = line.find(": ");
    if (colon == std::string_view::npos) continue;
    response.headers.emplace_back(std::string(line.substr(0, colon)),
                                  std::string(line.substr(colon + 2)));
  }
  response.SetHeader(std::string(kIdempotentReplayedHeader), "true");
  return response;
}

bool IsRemembered(const Response& response) {
  if (response.status >= status::kInternalServerError) return false;
  if (response.status == status::kTooManyRequests) return false;
  // An erased user's refusal: nothing is kept for a user whose rows erasure removed.
  if (response.reason == Reason::kUserErased) return false;
  return response.reason != Reason::kIdempotencyInProgress;
}

}  // namespace referrald::http
