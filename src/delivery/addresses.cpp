#include "delivery/addresses.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace referrald::delivery {

std::optional<domain::IpAddress> ToIpAddress(const sockaddr* address) {
  if (address == nullptr) return std::nullopt;
  if (address->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, address, sizeof in);
    std::array<std::uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &in.sin_addr, bytes.size());
    return domain::IpAddress::V4(bytes);
  }
  if (address->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, address, sizeof in6);
    std::array<std::uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), &in6.sin6_addr, bytes.size());
    return domain::IpAddress::V6(bytes);
  }
  return std::nullopt;
}

}  // namespace referrald::delivery
