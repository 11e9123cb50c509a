#pragma once
// base64url (RFC 4648 §5) without padding: JWT segments and the opaque cursors of paged lists.

#include <optional>
#include <string>
#include <string_view>

namespace referrald::http {

std::string Base64UrlEncode(std::string_view in);
// Strict (RFC 7515 §2): nullopt for any other character, padding, or a non-canonical encoding.
std::optional<std::string> Base64UrlDecode(std::string_view in);

}  // namespace referrald::http
