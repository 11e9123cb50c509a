#pragma once
// From the wire to our Request: the one place where the fields of a parsed HTTP message become
// a Request. The server calls it for every request; the fuzz targets call it on what the same
// parser (nodejs http_parser, RESTinio's) made of random bytes.

#include <string>
#include <string_view>

#include "http/request.hpp"

namespace referrald::http {

// `target` is the request-target as received ("/path?query"); its query is percent-decoded
// ('+' as space); an undecodable query leaves request.query_valid false (answered 400).
Request FromWire(std::string_view method, std::string_view target, Fields headers, std::string body,
                 std::string client_address);

}  // namespace referrald::http
