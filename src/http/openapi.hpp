#pragma once

#include <string_view>

namespace referrald::http {

// The OpenAPI 3.0 document (docs/openapi.json, embedded at build time) served at /api/openapi.json.
std::string_view OpenApiDocument();

}  // namespace referrald::http
