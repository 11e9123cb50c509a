#include "http/request.hpp"

#include <algorithm>
#include <cctype>

namespace referrald::http {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<std::string_view> FindField(const Fields& fields, std::string_view name,
                                          bool ignore_case) {
  for (const auto& [key, value] : fields) {
    if (ignore_case ? EqualsIgnoreCase(key, name) : key == name) return std::string_view(value);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> Request::QueryParam(std::string_view key) const {
  return FindField(query, key, false);
}

std::optional<std::string_view> Request::Header(std::string_view name) const {
  return FindField(headers, name, true);
}

std::string_view Request::RouteParam(std::string_view name) const {
  return FindField(route_params, name, false).value_or(std::string_view());
}

std::optional<std::string_view> Response::Header(std::string_view name) const {
  return FindField(headers, name, true);
}

void Response::SetHeader(std::string name, std::string value) {
  for (auto& [key, existing] : headers) {
    if (EqualsIgnoreCase(key, name)) {
      existing = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case status::kOk:
      return "OK";
    case status::kCreated:
      return "Created";
    case status::kAccepted:
      return "Accepted";
    case status::kNoContent:
      return "No Content";
    case status::kFound:
      return "Found";
    case status::kBadRequest:
      return "Bad Request";
    case status::kUnauthorized:
      return "Unauthorized";
    case status::kPaymentRequired:
      return "Payment Required";
    case status::kForbidden:
      return "Forbidden";
    case status::kNotFound:
      return "Not Found";
    case status::kMethodNotAllowed:
      return "Method Not Allowed";
    case status::kConflict:
      return "Conflict";
    case status::kUnprocessableEntity:
      return "Unprocessable Entity";
    case status::kTooManyRequests:
      return "Too Many Requests";
    case status::kPayloadTooLarge:
      return "Payload Too Large";
    case status::kInternalServerError:
      return "Internal Server Error";
    case status::kServiceUnavailable:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

}  // namespace referrald::http
