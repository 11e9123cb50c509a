#include "http/wire.hpp"

#include <restinio/uri_helpers.hpp>

namespace referrald::http {

Request FromWire(std::string_view method, std::string_view target, Fields headers, std::string body,
                 std::string client_address) {
  Request request;
  request.method = std::string(method);
  const std::size_t fragment = target.find('#');
  if (fragment != std::string_view::npos) target = target.substr(0, fragment);
  const std::size_t question = target.find('?');
  request.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) {
    const auto query =
        restinio::try_parse_query<restinio::parse_query_traits::javascript_compatible>(
            restinio::string_view_t(target.data() + question + 1, target.size() - question - 1));
    if (query) {
      for (const auto& [key, value] : *query) {
        request.query.emplace_back(std::string(key), std::string(value));
      }
    } else {
      request.query_valid = false;
    }
  }
  request.headers = std::move(headers);
  request.body = std::move(body);
  request.client_address = std::move(client_address);
  return request;
}

}  // namespace referrald::http
