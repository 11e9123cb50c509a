#pragma once
// base64url (RFC 4648 §5) without padding, for JWT segments: util/base64.hpp's, named here for the
// HTTP layer (the cursors of paged lists use it from the domain, domain/paging.hpp).

#include "util/base64.hpp"

namespace referrald::http {

using referrald::Base64UrlDecode;
using referrald::Base64UrlEncode;

}  // namespace referrald::http
