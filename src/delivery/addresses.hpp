#pragma once
// Socket addresses as the domain's IpAddress, for the SSRF rule (domain::IsNonPublicAddress).

#include <sys/socket.h>

#include <optional>

#include "domain/webhooks.hpp"

namespace referrald::delivery {

// The address of an AF_INET or AF_INET6 sockaddr; nullopt for any other family.
std::optional<domain::IpAddress> ToIpAddress(const sockaddr* address);

}  // namespace referrald::delivery
