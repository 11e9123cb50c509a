#pragma once
// Standard base64 (RFC 4648 §4) with padding: webhook secrets (`whsec_` + base64 of the key) and
// webhook signatures. (JWTs and cursors use base64url: http/base64url.hpp.)

#include <optional>
#include <string>
#include <string_view>

namespace referrald {

std::string Base64Encode(std::string_view in);
// Strict: nullopt for a length that is not a multiple of 4, a character outside the alphabet,
// padding anywhere but at the end, or non-zero bits left over by the padding.
std::optional<std::string> Base64Decode(std::string_view in);

}  // namespace referrald
