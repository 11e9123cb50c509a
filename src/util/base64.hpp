#pragma once
// Standard base64 (RFC 4648 §4) with padding: webhook secrets (`whsec_` + base64 of the key) and
// webhook signatures; and base64url (RFC 4648 §5) without padding: JWT segments and the opaque
// cursors of paged lists (domain/paging.hpp).

#include <optional>
#include <string>
#include <string_view>

namespace referrald {

std::string Base64Encode(std::string_view in);
// Strict: nullopt for a length that is not a multiple of 4, a character outside the alphabet,
// padding anywhere but at the end, or non-zero bits left over by the padding.
std::optional<std::string> Base64Decode(std::string_view in);

std::string Base64UrlEncode(std::string_view in);
// Strict (RFC 7515 §2): nullopt for any other character, padding, or a non-canonical encoding.
std::optional<std::string> Base64UrlDecode(std::string_view in);

}  // namespace referrald
