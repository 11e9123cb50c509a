// The OpenAPI document (docs/openapi.json, embedded) against the route table: every route is
// documented, every documented operation is routed, auth is declared as the router enforces it,
// and every $ref resolves.

#include "http/openapi.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "http/router.hpp"
#include "util/result.hpp"
#include "util/version.hpp"

namespace referrald::http {
namespace {

using json = nlohmann::json;
using Operation = std::pair<std::string, std::string>;  // (lowercase method, OpenAPI path)

const std::set<std::string>& HttpMethods() {
  static const std::set<std::string> kMethods = {"get",     "put",  "post",  "delete",
                                                 "options", "head", "patch", "trace"};
  return kMethods;
}

std::string MethodName(Method method) {
  std::string name(ToString(method));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

// "/api/admin/jobs/:name/run" → "/api/admin/jobs/{name}/run". A parameter's name ends at the
// first character that cannot be part of it (e.g. an express-style "(regex)" suffix, dropped).
std::string ToOpenApiPath(std::string_view router_path) {
  std::string out;
  std::size_t i = 0;
  while (i < router_path.size()) {
    if (router_path[i] != ':') {
      out += router_path[i++];
      continue;
    }
    ++i;
    std::string name;
    while (
        i < router_path.size() &&
        (std::isalnum(static_cast<unsigned char>(router_path[i])) != 0 || router_path[i] == '_')) {
      name += router_path[i++];
    }
    out += "{" + name + "}";
    while (i < router_path.size() && router_path[i] != '/') ++i;
  }
  return out;
}

const json& Document() {
  static const json kDocument = json::parse(OpenApiDocument());
  return kDocument;
}

// The route of a documented operation. OPTIONS is answered by the pipeline on every routed path
// (the CORS preflight): any route of the path stands for it.
const Route* FindRoute(const Operation& op) {
  for (const auto& route : Routes()) {
    if ((op.first == "options" || MethodName(route.method) == op.first) &&
        ToOpenApiPath(route.path) == op.second) {
      return &route;
    }
  }
  return nullptr;
}

std::set<Operation> DocumentedOperations() {
  std::set<Operation> out;
  for (const auto& [path, item] : Document().at("paths").items()) {
    for (const auto& [method, operation] : item.items()) {
      if (HttpMethods().count(method) != 0) out.emplace(method, path);
    }
  }
  return out;
}

// The security requirements in force for an operation: its own, else the document's.
json EffectiveSecurity(const json& operation) {
  if (operation.contains("security")) return operation.at("security");
  return Document().value("security", json::array());
}

bool RequiresBearer(const json& security) {
  return std::any_of(security.begin(), security.end(),
                     [](const json& requirement) { return requirement.contains("bearerAuth"); });
}

// Whether the operation documents a response for `status`.
bool HasResponse(const json& operation, const std::string& status) {
  return operation.contains("responses") && operation.at("responses").contains(status);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

void CollectRefs(const json& node, const std::string& where,
                 std::vector<std::pair<std::string, std::string>>& out) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "$ref" && value.is_string()) {
        out.emplace_back(where, value.get<std::string>());
      } else {
        CollectRefs(value, where + "/" + key, out);
      }
    }
  } else if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      CollectRefs(node[i], where + "/" + std::to_string(i), out);
    }
  }
}

TEST(OpenApiTest, IsValidJsonForOpenApi30) {
  json document;
  ASSERT_NO_THROW(document = json::parse(OpenApiDocument()));
  ASSERT_TRUE(document.is_object());
  ASSERT_TRUE(document.contains("openapi"));
  EXPECT_EQ(document.at("openapi").get<std::string>().rfind("3.0", 0), 0u);
  EXPECT_EQ(document.at("info").at("title"), "referrald");
  // One version: CMake's project version, which the binary reports (util/version.hpp).
  EXPECT_EQ(document.at("info").at("version"), std::string(Version()));
  ASSERT_TRUE(document.contains("paths"));
  ASSERT_TRUE(document.at("paths").is_object());
}

TEST(OpenApiTest, PathConversion) {
  EXPECT_EQ(ToOpenApiPath("/health"), "/health");
  EXPECT_EQ(ToOpenApiPath("/api/admin/jobs/:name/run"), "/api/admin/jobs/{name}/run");
  EXPECT_EQ(ToOpenApiPath("/a/:id([0-9]+)"), "/a/{id}");
}

TEST(OpenApiTest, EveryRouteIsDocumented) {
  const auto documented = DocumentedOperations();
  for (const auto& route : Routes()) {
    const Operation op{MethodName(route.method), ToOpenApiPath(route.path)};
    EXPECT_TRUE(documented.count(op) != 0)
        << "route " << op.first << " " << route.path << " is missing from docs/openapi.json";
  }
}

TEST(OpenApiTest, EveryDocumentedOperationIsRouted) {
  for (const auto& op : DocumentedOperations()) {
    EXPECT_NE(FindRoute(op), nullptr) << "docs/openapi.json documents " << op.first << " "
                                      << op.second << " but Routes() has no such route";
  }
}

TEST(OpenApiTest, EveryOperationHasResponses) {
  for (const auto& [method, path] : DocumentedOperations()) {
    const json& operation = Document().at("paths").at(path).at(method);
    ASSERT_TRUE(operation.contains("responses")) << method << " " << path;
    EXPECT_TRUE(operation.at("responses").is_object()) << method << " " << path;
    EXPECT_FALSE(operation.at("responses").empty()) << method << " " << path;
  }
}

TEST(OpenApiTest, PathParametersAreDeclared) {
  for (const auto& [method, path] : DocumentedOperations()) {
    std::set<std::string> in_path;
    for (std::size_t open = path.find('{'); open != std::string::npos;
         open = path.find('{', open + 1)) {
      in_path.insert(path.substr(open + 1, path.find('}', open) - open - 1));
    }
    std::set<std::string> declared;
    const json& item = Document().at("paths").at(path);
    for (const json* parameters : {&item, &item.at(method)}) {
      if (!parameters->contains("parameters")) continue;
      for (json parameter : parameters->at("parameters")) {
        if (parameter.contains("$ref")) {
          const std::string ref = parameter.at("$ref");
          parameter = Document().at(json::json_pointer(ref.substr(1)));
        }
        if (parameter.value("in", "") == "path") {
          EXPECT_TRUE(parameter.value("required", false)) << method << " " << path;
          declared.insert(parameter.at("name").get<std::string>());
        }
      }
    }
    EXPECT_EQ(in_path, declared) << method << " " << path;
  }
}

TEST(OpenApiTest, BearerAuthSchemeIsDeclared) {
  const json& schemes = Document().at("components").at("securitySchemes");
  ASSERT_TRUE(schemes.contains("bearerAuth"));
  EXPECT_EQ(schemes.at("bearerAuth").at("type"), "http");
  EXPECT_EQ(Lower(schemes.at("bearerAuth").at("scheme").get<std::string>()), "bearer");
}

TEST(OpenApiTest, AuthMatchesTheRouter) {
  for (const auto& route : Routes()) {
    const std::string method = MethodName(route.method);
    const std::string path = ToOpenApiPath(route.path);
    const json& paths = Document().at("paths");
    if (!paths.contains(path) || !paths.at(path).contains(method)) continue;  // reported above
    const json& operation = paths.at(path).at(method);
    const bool bearer = RequiresBearer(EffectiveSecurity(operation));
    if (route.auth == Auth::kNone) {
      EXPECT_FALSE(bearer) << method << " " << path << " is public but documented with bearerAuth";
      EXPECT_FALSE(HasResponse(operation, "401")) << method << " " << path;
      continue;
    }
    EXPECT_TRUE(bearer) << method << " " << path << " needs a token but declares no bearerAuth";
    EXPECT_TRUE(HasResponse(operation, "401")) << method << " " << path << " lacks a 401";
    if (route.auth == Auth::kAdmin) {
      EXPECT_TRUE(HasResponse(operation, "403")) << method << " " << path << " lacks a 403";
      EXPECT_NE(Lower(operation.value("description", "")).find("admin"), std::string::npos)
          << method << " " << path << " is admin-only but its description does not say so";
    } else {
      // Contract §13: an erased user's tokens answer 403 USER_ERASED on every route; that is
      // the only 403 a route open to every user documents.
      ASSERT_TRUE(HasResponse(operation, "403")) << method << " " << path << " lacks USER_ERASED";
      EXPECT_EQ(operation.at("responses").at("403").value("$ref", ""),
                "#/components/responses/UserErased")
          << method << " " << path << " is not admin-only but documents another 403";
    }
  }
}

// Contract section 10: every POST under /api/ takes an Idempotency-Key and documents what it
// answers with one (400 for a malformed key, 409 while in flight, 422 for another request, the
// Idempotent-Replayed header on its success).
TEST(OpenApiTest, EveryApiPostDocumentsTheIdempotencyKey) {
  const json& paths = Document().at("paths");
  for (const auto& route : Routes()) {
    const std::string path = ToOpenApiPath(route.path);
    if (route.method != Method::kPost || path.rfind("/api/", 0) != 0) continue;
    const json& operation = paths.at(path).at("post");
    bool declared = false;
    for (const json& parameter : operation.value("parameters", json::array())) {
      declared =
          declared || parameter.value("$ref", "") == "#/components/parameters/IdempotencyKey";
    }
    EXPECT_TRUE(declared) << path << " does not declare the Idempotency-Key parameter";
    for (const char* status : {"400", "409", "422"}) {
      EXPECT_TRUE(HasResponse(operation, status)) << path << " lacks a " << status;
    }
    for (const auto& [status, response] : operation.at("responses").items()) {
      if (status.front() != '2') continue;
      EXPECT_TRUE(response.contains("headers") &&
                  response.at("headers").contains("Idempotent-Replayed"))
          << path << " " << status << " does not document Idempotent-Replayed";
    }
  }
  const json& key = Document().at("components").at("parameters").at("IdempotencyKey");
  EXPECT_EQ(key.at("name"), "Idempotency-Key");
  EXPECT_EQ(key.at("in"), "header");
  EXPECT_EQ(key.at("schema").at("maxLength"), 255);
}

// Contract section 13: every path answers OPTIONS (the preflight) and every operation documents
// the 405 its path answers to other methods. A new route needs both in docs/openapi.json.
TEST(OpenApiTest, EveryPathDocumentsItsPreflightAndEveryOperationIts405) {
  const json& paths = Document().at("paths");
  for (const auto& route : Routes()) {
    const std::string path = ToOpenApiPath(route.path);
    if (!paths.contains(path)) continue;  // reported by EveryRouteIsDocumented
    const json& item = paths.at(path);
    ASSERT_TRUE(item.contains("options"))
        << path << " lacks its \"options\" operation (the CORS preflight)";
    EXPECT_EQ(item.at("options").at("responses").at("204").value("$ref", ""),
              "#/components/responses/Preflight")
        << path;
    EXPECT_TRUE(item.at("options").at("security").empty()) << path << ": a preflight has no token";
    const std::string method = MethodName(route.method);
    if (!item.contains(method)) continue;
    EXPECT_TRUE(HasResponse(item.at(method), "405"))
        << method << " " << path << " lacks a 405 (#/components/responses/MethodNotAllowed)";
  }
  const json& not_allowed = Document().at("components").at("responses").at("MethodNotAllowed");
  EXPECT_TRUE(not_allowed.at("headers").contains("Allow"));
}

// Every 401 code the verifier answers with is documented, with WWW-Authenticate.
TEST(OpenApiTest, TheUnauthorizedResponseListsEveryTokenCode) {
  const json& unauthorized = Document().at("components").at("responses").at("Unauthorized");
  EXPECT_TRUE(unauthorized.at("headers").contains("WWW-Authenticate"));
  const json& codes = unauthorized.at("content")
                          .at("application/json")
                          .at("schema")
                          .at("allOf")
                          .at(1)
                          .at("properties")
                          .at("code")
                          .at("enum");
  for (const Reason reason : {Reason::kTokenMissing, Reason::kTokenInvalid, Reason::kTokenExpired,
                              Reason::kTokenNotYetValid, Reason::kTokenClaimsInvalid}) {
    EXPECT_NE(std::find(codes.begin(), codes.end(), std::string(ToString(reason))), codes.end())
        << ToString(reason);
  }
  const json& health = Document().at("components").at("schemas").at("Health");
  EXPECT_TRUE(health.at("properties").contains("version"));
}

TEST(OpenApiTest, EveryRefResolves) {
  std::vector<std::pair<std::string, std::string>> refs;
  CollectRefs(Document(), "", refs);
  ASSERT_FALSE(refs.empty());
  for (const auto& [where, ref] : refs) {
    ASSERT_EQ(ref.rfind("#/", 0), 0u) << where << ": only local $refs expected, got " << ref;
    json::json_pointer pointer;
    ASSERT_NO_THROW(pointer = json::json_pointer(ref.substr(1))) << where << ": " << ref;
    EXPECT_TRUE(Document().contains(pointer)) << where << ": $ref " << ref << " does not resolve";
  }
}

}  // namespace
}  // namespace referrald::http
