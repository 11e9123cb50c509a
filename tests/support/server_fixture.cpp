#include "support/server_fixture.hpp"

#include <httplib.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "http/jwt.hpp"
#include "util/random.hpp"
#include "util/uuid.hpp"

namespace referrald::testing {
namespace {

bool EqualsIgnoreCase(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

nlohmann::json HttpReply::Json() const {
  return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

std::string HttpReply::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

HttpReply SendRequest(std::uint16_t port, const std::string& method, const std::string& path,
                      const std::string& body, const std::string& token,
                      const ExtraHeaders& headers) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(10));
  client.set_read_timeout(std::chrono::seconds(30));
  client.set_write_timeout(std::chrono::seconds(30));
  httplib::Headers request_headers(headers.begin(), headers.end());
  if (!token.empty()) request_headers.emplace("Authorization", "Bearer " + token);
  httplib::Result result = [&] {
    if (method == "POST") return client.Post(path, request_headers, body, "application/json");
    if (method == "DELETE") return client.Delete(path, request_headers);
    if (method == "GET") return client.Get(path, request_headers);
    // Any other method (HEAD, OPTIONS, PUT, PATCH, ...): the body only when there is one.
    httplib::Request request;
    request.method = method;
    request.path = path;
    request.headers = request_headers;
    if (!body.empty()) {
      request.body = body;
      request.set_header("Content-Type", "application/json");
    }
    return client.send(request);
  }();
  HttpReply reply;
  if (!result) return reply;
  reply.status = result->status;
  reply.body = result->body;
  reply.headers.insert(result->headers.begin(), result->headers.end());
  return reply;
}

void WarmUpHttpClient(std::uint16_t port) {
  // cpp-httplib builds function-local static regexes on first use inside its (uninstrumented)
  // shared library; doing that once here, before tests start client threads, keeps
  // ThreadSanitizer from reporting the library's own lazy initialisation as a race.
  SendRequest(port, "POST", "/warm-up", "{}", "");
  SendRequest(port, "GET", "/health", "", "");
}

void ServerFixture::SetUp() {
  db_ = TestDatabase::Create();

  app::Config config = db_->Configure(app::Config{});
  config.host = "127.0.0.1";
  config.port = 0;
  config.jwt_secret = kTestJwtSecret;
  config.worker_enabled = false;
  config.http_worker_threads = 4;
  Configure(config);

  clock_ = std::make_shared<FakeClock>();
  auto created = app::App::Create(config, clock_, std::make_shared<SystemRandom>());
  ASSERT_TRUE(created.has_value()) << created.error().message;
  app_ = std::move(*created);
  auto started = app_->Start();
  ASSERT_TRUE(started.has_value()) << started.error().message;
  port_ = app_->port();
  ASSERT_NE(port_, 0);
  WarmUpHttpClient(port_);
}

void ServerFixture::TearDown() {
  if (app_) app_->Stop();
  app_.reset();
  db_.reset();
}

std::string ServerFixture::Token(const std::string& sub, const std::string& email,
                                 bool admin) const {
  const auto now_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch()).count();
  http::Claims claims;
  claims.sub = sub;
  claims.email = email;
  if (admin) claims.role = "admin";
  claims.iat = now_seconds;
  claims.exp = now_seconds + 10LL * 365 * 24 * 3600;
  return http::SignToken(claims, kTestJwtSecret);
}

std::string ServerFixture::NewUserId() {
  static SystemRandom random;
  return NewUuidV7(TimePoint{std::chrono::milliseconds{0}} + std::chrono::hours(24 * 365 * 55),
                   random);
}

HttpReply ServerFixture::Post(const std::string& path, const nlohmann::json& body,
                              const std::string& token, const ExtraHeaders& headers) const {
  return SendRequest(port_, "POST", path, body.dump(), token, headers);
}

HttpReply ServerFixture::Delete(const std::string& path, const std::string& token) const {
  return SendRequest(port_, "DELETE", path, "", token);
}

HttpReply ServerFixture::PostRaw(const std::string& path, const std::string& body,
                                 const std::string& token, const ExtraHeaders& headers) const {
  return SendRequest(port_, "POST", path, body, token, headers);
}

HttpReply ServerFixture::Get(const std::string& path, const std::string& token,
                             const ExtraHeaders& headers) const {
  return SendRequest(port_, "GET", path, "", token, headers);
}

TestUser ServerFixture::NewUser(const std::string& email_prefix, bool admin) const {
  TestUser user;
  user.id = NewUserId();
  user.email = email_prefix + "." + user.id.substr(24) + "@example.com";
  user.token = Token(user.id, user.email, admin);
  return user;
}

std::string ServerFixture::GenerateCode(const TestUser& user, const nlohmann::json& body) const {
  const auto reply = Post("/api/referral/generate-code", body, user.token);
  EXPECT_EQ(reply.status, 201) << reply.body;
  return reply.Json().value("code", "");
}

HttpReply ServerFixture::Track(const TestUser& user, const std::string& code) const {
  return Post("/api/referral/track", {{"referralCode", code}}, user.token);
}

}  // namespace referrald::testing
