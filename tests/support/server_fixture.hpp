#pragma once
// Starts the real service (app::App over a fresh database of the test's backend, port 0, a known
// JWT secret and a FakeClock) and talks to it over loopback HTTP with cpp-httplib.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "app/app.hpp"
#include "app/config.hpp"
#include "support/fake_clock.hpp"
#include "support/test_database.hpp"

namespace referrald::testing {

inline constexpr const char* kTestJwtSecret = "test-secret-0123456789abcdef-0123456789";

// One HTTP exchange as the client saw it. status is 0 when the request failed at the transport.
struct HttpReply {
  int status = 0;
  std::string body;
  std::multimap<std::string, std::string> headers;  // names as sent by the server

  // The body parsed as JSON (discarded value when it is not JSON).
  [[nodiscard]] nlohmann::json Json() const;
  // The first header named `name`, case-insensitively; "" when absent.
  [[nodiscard]] std::string Header(const std::string& name) const;
};

using ExtraHeaders = std::multimap<std::string, std::string>;

// A user as the tests see it: id, email and a token for them.
struct TestUser {
  std::string id;
  std::string email;
  std::string token;
};

// Base fixture: SetUp starts the server, TearDown stops it and drops the database.
// Override Configure() to change the Config before the App is created.
class ServerFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  virtual void Configure(app::Config& /*config*/) {}

  // A signed HS256 token for `sub` (exp ten years after the fake clock's now by default).
  [[nodiscard]] std::string Token(const std::string& sub, const std::string& email,
                                  bool admin = false) const;
  // A fresh random user id (lowercase UUID).
  [[nodiscard]] static std::string NewUserId();

  // Requests; an empty token sends no Authorization header.
  HttpReply Post(const std::string& path, const nlohmann::json& body, const std::string& token,
                 const ExtraHeaders& headers = {}) const;
  HttpReply PostRaw(const std::string& path, const std::string& body, const std::string& token,
                    const ExtraHeaders& headers = {}) const;
  HttpReply Get(const std::string& path, const std::string& token,
                const ExtraHeaders& headers = {}) const;
  HttpReply Delete(const std::string& path, const std::string& token) const;

  // A fresh user named `<email_prefix>.<id tail>@example.com`, with a token.
  [[nodiscard]] TestUser NewUser(const std::string& email_prefix = "user",
                                 bool admin = false) const;
  // Creates a code for `user` (expecting 201) and returns it.
  std::string GenerateCode(const TestUser& user,
                           const nlohmann::json& body = nlohmann::json::object()) const;
  HttpReply Track(const TestUser& user, const std::string& code) const;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] app::App& application() { return *app_; }

  std::shared_ptr<FakeClock> clock_;
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<app::App> app_;
  std::uint16_t port_ = 0;
};

// One POST and one GET from this thread, before a test starts concurrent clients (see .cpp).
void WarmUpHttpClient(std::uint16_t port);

// The request `method` over a client of its own; usable from any thread. GET and DELETE send no
// body; other methods send `body` when it is not empty.
HttpReply SendRequest(std::uint16_t port, const std::string& method, const std::string& path,
                      const std::string& body, const std::string& token,
                      const ExtraHeaders& headers = {});

// The contract's error body: exactly {error, code, requestId} (+ `extra_fields` more), the
// requestId equal to the X-Request-Id header, JSON content type.
inline void ExpectError(const HttpReply& reply, int status, const std::string& code,
                        std::size_t extra_fields = 0) {
  EXPECT_EQ(reply.status, status) << reply.body;
  const auto body = reply.Json();
  ASSERT_TRUE(body.is_object()) << reply.body;
  EXPECT_EQ(body.size(), 3 + extra_fields) << reply.body;
  ASSERT_TRUE(body.contains("error") && body["error"].is_string()) << reply.body;
  EXPECT_FALSE(body["error"].get<std::string>().empty());
  ASSERT_TRUE(body.contains("code") && body["code"].is_string()) << reply.body;
  EXPECT_EQ(body["code"], code) << reply.body;
  ASSERT_TRUE(body.contains("requestId") && body["requestId"].is_string()) << reply.body;
  EXPECT_FALSE(reply.Header("X-Request-Id").empty());
  EXPECT_EQ(body["requestId"], reply.Header("X-Request-Id"));
  EXPECT_EQ(reply.Header("Content-Type"), "application/json");
}

}  // namespace referrald::testing
