#include "delivery/signature.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

#include "util/base64.hpp"

namespace referrald::delivery {

std::string SignatureV1(std::string_view key, std::string_view id, std::int64_t timestamp,
                        std::string_view body) {
  std::string content;
  content.reserve(id.size() + body.size() + 24);
  content.append(id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac.data(), &length);
  return "v1," + Base64Encode(std::string_view(reinterpret_cast<const char*>(mac.data()), length));
}

}  // namespace referrald::delivery
