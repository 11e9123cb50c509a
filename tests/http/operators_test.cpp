// Contract section 13 for integrators and operators, through real HTTP on the test's backend:
// methods (405 with Allow for every route of the table, HEAD, OPTIONS), CORS on every answer,
// the 401 codes with their WWW-Authenticate, and the version in /health and /metrics.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "http/jwt.hpp"
#include "http/router.hpp"
#include "support/server_fixture.hpp"
#include "util/version.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;

constexpr const char* kAppOrigin = "https://app.example.com";
constexpr const char* kOtherOrigin = "https://evil.example.net";

// The methods a client may try on a path; every one the path lacks answers 405.
const std::vector<std::string>& ProbeMethods() {
  static const std::vector<std::string> kMethods = {"GET", "POST", "DELETE", "PUT", "PATCH"};
  return kMethods;
}

// A path the route pattern matches: each ":name" segment becomes "sample-name".
std::string Concrete(std::string_view pattern) {
  std::string out;
  std::size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] == ':' && i > 0 && pattern[i - 1] == '/') {
      const std::size_t end = pattern.find('/', i);
      out += "sample-" + std::string(pattern.substr(i + 1, end - i - 1));
      i = end == std::string_view::npos ? pattern.size() : end;
    } else {
      out += pattern[i++];
    }
  }
  return out;
}

// The Allow header a path of `pattern` must carry, from the route table: its methods in the
// order GET (with HEAD), POST, DELETE.
std::string ExpectedAllow(std::string_view pattern) {
  std::set<http::Method> methods;
  for (const auto& route : http::Routes()) {
    if (route.path == pattern) methods.insert(route.method);
  }
  std::string allow;
  for (const http::Method method : methods) {
    allow.append(allow.empty() ? "" : ", ").append(http::ToString(method));
    if (method == http::Method::kGet) allow += ", HEAD";
  }
  return allow;
}

// Whether `reply` carries any Access-Control-* header.
bool HasCorsHeader(const HttpReply& reply) {
  for (const auto& [name, value] : reply.headers) {
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.rfind("access-control-", 0) == 0) return true;
  }
  return false;
}

class OperatorsTest : public ServerFixture {
 protected:
  HttpReply Send(const std::string& method, const std::string& path, const std::string& token = "",
                 const ExtraHeaders& headers = {}) const {
    return SendRequest(port(), method, path, method == "POST" ? "{}" : "", token, headers);
  }

  [[nodiscard]] std::int64_t NowSeconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch())
        .count();
  }
};

// --- methods ----------------------------------------------------------------------------------

TEST_F(OperatorsTest, EveryRouteAnswers405WithAllowToTheMethodsItLacksBeforeTheToken) {
  ASSERT_FALSE(http::Routes().empty());
  for (const auto& route : http::Routes()) {
    const std::string path = Concrete(route.path);
    const std::string allow = ExpectedAllow(route.path);
    for (const std::string& method : ProbeMethods()) {
      if (allow.find(method) != std::string::npos) continue;
      SCOPED_TRACE(method + " " + path);
      const auto reply = Send(method, path);  // no token: the method is judged first
      ExpectError(reply, 405, "METHOD_NOT_ALLOWED");
      EXPECT_EQ(reply.Header("Allow"), allow);
    }
  }
}

TEST_F(OperatorsTest, HeadAnswersLikeGetWithoutABody) {
  const auto user = NewUser();
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"/health", ""},
      {"/metrics", ""},
      {"/api/referral/stats", user.token},
      {"/api/subscriptions/me", user.token},
      {"/api/referral/code", user.token},  // an error answer (404 CODE_NOT_FOUND)
      {"/api/referral/stats", ""},         // 401 TOKEN_MISSING
  };
  for (const auto& [path, token] : requests) {
    SCOPED_TRACE(path);
    const ExtraHeaders id = {{"X-Request-Id", "head-check"}};
    const auto get = SendRequest(port(), "GET", path, "", token, id);
    const auto head = SendRequest(port(), "HEAD", path, "", token, id);
    EXPECT_EQ(head.status, get.status);
    EXPECT_TRUE(head.body.empty()) << head.body;
    EXPECT_FALSE(get.body.empty());
    const std::set<std::string> ignored = {"date", "content-length"};
    for (const auto* pair : {&get, &head}) {
      const auto& other = pair == &get ? head : get;
      for (const auto& [name, value] : pair->headers) {
        std::string lower = name;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (ignored.count(lower) != 0) continue;
        EXPECT_EQ(other.Header(name), value) << name;
      }
    }
  }
  // HEAD where GET is not: 405 like any other method, and still no body.
  const auto head = Send("HEAD", "/api/referral/track");
  EXPECT_EQ(head.status, 405);
  EXPECT_EQ(head.Header("Allow"), "POST");
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(Send("HEAD", "/no/such/path").status, 404);
}

TEST_F(OperatorsTest, OptionsOnAKnownPathAnswers204AndOnAnUnknownOne404) {
  for (const auto& route : http::Routes()) {
    const std::string path = Concrete(route.path);
    SCOPED_TRACE(path);
    const auto reply = Send("OPTIONS", path);
    EXPECT_EQ(reply.status, 204) << reply.body;
    EXPECT_EQ(reply.Header("Allow"), ExpectedAllow(route.path));
    EXPECT_TRUE(reply.body.empty());
    EXPECT_FALSE(HasCorsHeader(reply)) << "CORS_ALLOWED_ORIGINS is not set";
  }
  ExpectError(Send("OPTIONS", "/no/such/path"), 404, "NOT_FOUND");
  ExpectError(Send("OPTIONS", "/api/referral/nope"), 404, "NOT_FOUND");
}

TEST_F(OperatorsTest, WithoutCorsConfiguredNoAnswerCarriesCorsHeaders) {
  const auto user = NewUser();
  const ExtraHeaders origin = {{"Origin", kAppOrigin}};
  for (const auto& reply :
       {Get("/api/referral/stats", user.token, origin), Get("/api/referral/stats", "", origin),
        Get("/nope", "", origin), Send("OPTIONS", "/api/referral/track", "", origin)}) {
    EXPECT_FALSE(HasCorsHeader(reply)) << reply.status;
    EXPECT_EQ(reply.Header("Vary"), "");
  }
}

// --- tokens -----------------------------------------------------------------------------------

TEST_F(OperatorsTest, Each401NamesWhatIsWrongWithTheToken) {
  const std::string sub = NewUserId();
  const auto sign = [&](std::optional<std::int64_t> exp, std::optional<std::int64_t> nbf,
                        const std::string& subject, const std::string& secret = kTestJwtSecret) {
    http::Claims claims;
    claims.sub = subject;
    claims.email = "tokens@example.com";
    claims.exp = exp;
    claims.nbf = nbf;
    return http::SignToken(claims, secret);
  };
  const std::int64_t now = NowSeconds();
  const std::string invalid_token = R"(Bearer error="invalid_token")";
  struct Case {
    std::string what;
    ExtraHeaders headers;
    std::string code;
    std::string www_authenticate;
  };
  const auto bearer = [](const std::string& token) {
    return ExtraHeaders{{"Authorization", "Bearer " + token}};
  };
  const std::vector<Case> cases = {
      {"no Authorization header", {}, "TOKEN_MISSING", "Bearer"},
      {"another scheme", {{"Authorization", "Basic dXNlcjpwYXNz"}}, "TOKEN_MISSING", "Bearer"},
      {"garbage", bearer("garbage"), "TOKEN_INVALID", invalid_token},
      {"bad signature",
       bearer(sign(now + 60, std::nullopt, sub, "another-secret-0123456789abcdef-0123")),
       "TOKEN_INVALID", invalid_token},
      {"alg none",
       bearer("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." +
              [&] {
                const std::string t = sign(now + 60, std::nullopt, sub);
                return t.substr(t.find('.') + 1, t.rfind('.') - t.find('.') - 1);
              }() +
              "."),
       "TOKEN_INVALID", invalid_token},
      {"expired", bearer(sign(now - 1, std::nullopt, sub)), "TOKEN_EXPIRED", invalid_token},
      {"not yet valid", bearer(sign(now + 3600, now + 60, sub)), "TOKEN_NOT_YET_VALID",
       invalid_token},
      {"no exp", bearer(sign(std::nullopt, std::nullopt, sub)), "TOKEN_CLAIMS_INVALID",
       invalid_token},
      {"sub not a UUID", bearer(sign(now + 60, std::nullopt, "user-1")), "TOKEN_CLAIMS_INVALID",
       invalid_token},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    for (const auto& reply :
         {Get("/api/referral/stats", "", c.headers),
          SendRequest(port(), "POST", "/api/referral/generate-code", "{}", "", c.headers),
          Get("/api/admin/automation-logs", "", c.headers)}) {
      ExpectError(reply, 401, c.code);
      EXPECT_EQ(reply.Header("WWW-Authenticate"), c.www_authenticate);
    }
  }
  // The same token with exp is accepted.
  EXPECT_EQ(Get("/api/referral/stats", "", bearer(sign(now + 60, std::nullopt, sub))).status, 200);
}

// --- versions ---------------------------------------------------------------------------------

TEST_F(OperatorsTest, HealthAndMetricsReportTheVersion) {
  ASSERT_FALSE(Version().empty());
  const auto health = Get("/health", "");
  ASSERT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(health.Json()["version"], std::string(Version()));
  const auto metrics = Get("/metrics", "");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(
      metrics.body.find("\nreferrald_build_info{version=\"" + std::string(Version()) + "\"} 1\n"),
      std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("# TYPE referrald_build_info gauge"), std::string::npos);
}

// --- CORS -------------------------------------------------------------------------------------

class CorsTest : public OperatorsTest {
 protected:
  void Configure(app::Config& config) override {
    config.cors_allowed_origins = {kAppOrigin, "http://localhost:3000"};
  }

  // The headers every answer to an allowed origin carries.
  static void ExpectCors(const HttpReply& reply, const std::string& origin) {
    EXPECT_EQ(reply.Header("Access-Control-Allow-Origin"), origin) << reply.status;
    EXPECT_EQ(reply.Header("Vary"), "Origin");
    EXPECT_EQ(reply.Header("Access-Control-Expose-Headers"),
              "X-Request-Id, Retry-After, Link, Idempotent-Replayed");
  }
};

TEST_F(CorsTest, PreflightFromAnAllowedOriginNeedsNoTokenAndListsThePathsMethods) {
  for (const auto& route : http::Routes()) {
    const std::string path = Concrete(route.path);
    SCOPED_TRACE(path);
    const auto reply = Send("OPTIONS", path, "",
                            {{"Origin", kAppOrigin},
                             {"Access-Control-Request-Method", std::string(ToString(route.method))},
                             {"Access-Control-Request-Headers", "authorization,content-type"}});
    EXPECT_EQ(reply.status, 204) << reply.body;
    EXPECT_TRUE(reply.body.empty());
    ExpectCors(reply, kAppOrigin);
    EXPECT_EQ(reply.Header("Access-Control-Allow-Methods"), ExpectedAllow(route.path));
    const std::string allowed_headers = reply.Header("Access-Control-Allow-Headers");
    for (const char* header :
         {"Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"}) {
      EXPECT_NE(allowed_headers.find(header), std::string::npos) << header;
    }
    EXPECT_GT(std::stoi(reply.Header("Access-Control-Max-Age")), 0);
  }
  // The second configured origin too, echoed as sent.
  ExpectCors(Send("OPTIONS", "/api/referral/stats", "", {{"Origin", "http://localhost:3000"}}),
             "http://localhost:3000");
}

TEST_F(CorsTest, PreflightFromAnotherOriginAnswers204WithoutCorsHeaders) {
  for (const std::string& origin :
       {std::string(kOtherOrigin), std::string("https://app.example.com.evil.net"),
        std::string("http://app.example.com"), std::string("null")}) {
    SCOPED_TRACE(origin);
    const auto reply = Send("OPTIONS", "/api/referral/track", "",
                            {{"Origin", origin}, {"Access-Control-Request-Method", "POST"}});
    EXPECT_EQ(reply.status, 204);
    EXPECT_FALSE(HasCorsHeader(reply));
  }
  EXPECT_FALSE(HasCorsHeader(Send("OPTIONS", "/api/referral/track")));  // no Origin at all
}

TEST_F(CorsTest, EveryAnswerToAnAllowedOriginCarriesTheCorsHeaders) {
  const auto user = NewUser();
  const ExtraHeaders origin = {{"Origin", kAppOrigin}};
  const auto ok = Get("/api/referral/stats", user.token, origin);
  EXPECT_EQ(ok.status, 200);
  ExpectCors(ok, kAppOrigin);
  const auto created = Post("/api/referral/generate-code", json::object(), user.token, origin);
  EXPECT_EQ(created.status, 201);
  ExpectCors(created, kAppOrigin);
  const std::vector<std::pair<HttpReply, int>> errors = {
      {Get("/api/referral/stats", "", origin), 401},
      {Get("/api/referral/stats", "garbage", origin), 401},
      {Get("/no/such/path", "", origin), 404},
      {Send("OPTIONS", "/no/such/path", "", origin), 404},
      {Get("/api/referral/track", "", origin), 405},
      {Post("/api/referral/track", {{"referralCode", 7}}, user.token, origin), 400},
      {PostRaw("/api/referral/track", std::string(http::kMaxBodyBytes + 1, ' '), user.token,
               origin),
       413},
      {Get("/api/referral/analytics", user.token, origin), 403},
  };
  for (const auto& [reply, status] : errors) {
    SCOPED_TRACE(status);
    EXPECT_EQ(reply.status, status) << reply.body;
    ExpectCors(reply, kAppOrigin);
  }
}

TEST_F(CorsTest, AnswersToOtherOriginsCarryNoCorsHeaders) {
  const auto user = NewUser();
  const ExtraHeaders origin = {{"Origin", kOtherOrigin}};
  for (const auto& reply :
       {Get("/api/referral/stats", user.token, origin), Get("/api/referral/stats", "", origin),
        Get("/no/such/path", "", origin), Get("/api/referral/track", "", origin),
        Get("/health", "")}) {
    EXPECT_FALSE(HasCorsHeader(reply)) << reply.status;
  }
}

class CorsAnyOriginTest : public OperatorsTest {
 protected:
  void Configure(app::Config& config) override { config.cors_allowed_origins = {"*"}; }
};

TEST_F(CorsAnyOriginTest, AnyOriginIsEchoed) {
  for (const std::string& origin : {std::string(kAppOrigin), std::string(kOtherOrigin)}) {
    const auto reply = Get("/health", "", {{"Origin", origin}});
    EXPECT_EQ(reply.Header("Access-Control-Allow-Origin"), origin);
    EXPECT_EQ(reply.Header("Vary"), "Origin");
    const auto preflight = Send("OPTIONS", "/api/referral/track", "", {{"Origin", origin}});
    EXPECT_EQ(preflight.status, 204);
    EXPECT_EQ(preflight.Header("Access-Control-Allow-Origin"), origin);
    EXPECT_EQ(preflight.Header("Access-Control-Allow-Methods"), "POST");
  }
  EXPECT_FALSE(HasCorsHeader(Get("/health", "")));  // no Origin: not a CORS request
}

}  // namespace
}  // namespace referrald::testing
