// Server::Stop waits for events, not guesses: it returns once the response of every accepted
// request has been written, or after the drain timeout when a handler is stuck, and nothing runs
// into freed memory afterwards (ASan builds would catch it).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "delivery/target_resolver.hpp"
#include "domain/abuse.hpp"
#include "domain/idempotency.hpp"
#include "domain/jobs.hpp"
#include "domain/referral_service.hpp"
#include "domain/subscription_service.hpp"
#include "domain/user_directory.hpp"
#include "domain/webhook_service.hpp"
#include "http/jwt.hpp"
#include "http/server.hpp"
#include "support/fake_clock.hpp"
#include "support/server_fixture.hpp"
#include "support/test_database.hpp"
#include "util/ids.hpp"
#include "util/uuid.hpp"

namespace referrald::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

milliseconds Since(steady_clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
}

// True when a TCP connection to 127.0.0.1:`port` is refused (nothing listens).
bool ConnectionRefused(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool refused =
      connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0;
  close(fd);
  return refused;
}

// The real http::Server over real services and a fresh database of the test's backend, with
// ServerOptions the test chooses (app::App takes them from its Config).
class ServerShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::Create();
    store_ = db_->Open();
    referrals_ = std::make_unique<domain::ReferralService>(*store_, clock_, random_, ids_,
                                                           domain::ReferralSettings{}, &metrics_);
    subscriptions_ = std::make_unique<domain::SubscriptionService>(*store_, payments_, *referrals_,
                                                                   clock_, ids_);
    users_ = std::make_unique<domain::UserDirectory>(*store_, clock_);
    jobs_ = std::make_unique<domain::JobRunner>(*store_, clock_, ids_, domain::ReferralSettings{},
                                                clock_.Now(), &metrics_);
    idempotency_ = std::make_unique<domain::IdempotencyService>(*store_, clock_, ids_,
                                                                domain::IdempotencySettings{});
    webhooks_ =
        std::make_unique<domain::WebhookService>(*store_, resolver_, clock_, random_, ids_, false);
    personal_data_ =
        std::make_unique<domain::PersonalDataService>(*store_, clock_, ids_, *subscriptions_);
    deps_ = std::make_unique<http::Dependencies>(http::Dependencies{
        *referrals_, *subscriptions_, *users_, *store_, clock_, random_, jwt_, *jobs_, metrics_,
        abuse_, *idempotency_, *webhooks_, *personal_data_, clock_.Now()});
  }

  void TearDown() override { server_.reset(); }

  // Starts server_ on an ephemeral loopback port; returns its port.
  std::uint16_t StartServer(milliseconds drain_timeout) {
    http::ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.worker_threads = 2;
    options.drain_timeout = drain_timeout;
    server_ = std::make_unique<http::Server>(options, *deps_);
    const auto started = server_->Start();
    EXPECT_TRUE(started.has_value()) << started.error().message;
    WarmUpHttpClient(server_->port());
    return server_->port();
  }

  // A token for a new user.
  std::string NewToken() {
    http::Claims claims;
    claims.sub = NewUuidV7(clock_.Now(), random_);
    claims.email = "shutdown@example.com";
    claims.exp =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count() +
        3600;
    return http::SignToken(claims, kTestJwtSecret);
  }

  // Waits (up to 5 s) until `n` requests are inside the pipeline.
  bool WaitInFlight(std::int64_t n) {
    const auto deadline = steady_clock::now() + std::chrono::seconds(5);
    while (metrics_.in_flight() < n) {
      if (steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return true;
  }

  FakeClock clock_;
  SystemRandom random_;
  UuidV7Generator ids_{random_};
  Metrics metrics_;
  domain::AbuseGuard abuse_{domain::AbuseLimits{}, clock_};
  delivery::SystemTargetResolver resolver_;
  std::unique_ptr<domain::WebhookService> webhooks_;
  std::unique_ptr<domain::PersonalDataService> personal_data_;
  domain::SandboxPaymentProvider payments_{ids_, clock_};
  http::JwtVerifier jwt_{kTestJwtSecret};
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<domain::Store> store_;
  std::unique_ptr<domain::ReferralService> referrals_;
  std::unique_ptr<domain::SubscriptionService> subscriptions_;
  std::unique_ptr<domain::UserDirectory> users_;
  std::unique_ptr<domain::JobRunner> jobs_;
  std::unique_ptr<domain::IdempotencyService> idempotency_;
  std::unique_ptr<http::Dependencies> deps_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(ServerShutdownTest, StopWithNothingInFlightIsPromptAndIdempotent) {
  const std::uint16_t port = StartServer(std::chrono::seconds(10));
  EXPECT_EQ(SendRequest(port, "GET", "/health", "", "").status, 200);
  const auto start = steady_clock::now();
  server_->Stop();
  EXPECT_LT(Since(start), milliseconds(1000));
  server_->Stop();
  EXPECT_TRUE(ConnectionRefused(port));
}

// An idle keep-alive connection is not a request in flight: Stop does not wait for it.
TEST_F(ServerShutdownTest, IdleKeepAliveConnectionDoesNotDelayStop) {
  const std::uint16_t port = StartServer(std::chrono::seconds(10));
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  auto first = client.Get("/health");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  const auto start = steady_clock::now();
  server_->Stop();
  EXPECT_LT(Since(start), milliseconds(1000));
}

// The response being produced when Stop() begins reaches the client whole; Stop returns as soon
// as it has been written, long before the drain timeout.
TEST_F(ServerShutdownTest, ResponseInFlightWhenStopBeginsIsDelivered) {
  const std::uint16_t port = StartServer(std::chrono::seconds(20));
  auto blocker = db_->HoldWriteLock();
  HttpReply reply;
  std::thread client(
      [&] { reply = SendRequest(port, "POST", "/api/referral/generate-code", "{}", NewToken()); });
  EXPECT_TRUE(WaitInFlight(1));

  milliseconds stop_took{0};
  std::thread stopper([&] {
    const auto start = steady_clock::now();
    server_->Stop();
    stop_took = Since(start);
  });
  // Stop has begun once nothing listens any more.
  const auto deadline = steady_clock::now() + std::chrono::seconds(5);
  while (!ConnectionRefused(port) && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(ConnectionRefused(port));
  std::this_thread::sleep_for(milliseconds(300));

  blocker.reset();
  client.join();
  stopper.join();
  EXPECT_EQ(reply.status, 201) << reply.body;
  const auto body = reply.Json();
  ASSERT_TRUE(body.is_object()) << reply.body;
  EXPECT_EQ(body.value("code", "").size(), 8U) << reply.body;
  EXPECT_GE(stop_took, milliseconds(250));
  EXPECT_LT(stop_took, std::chrono::seconds(10));
}

// A handler stuck past the drain timeout: Stop returns after about the drain timeout, the handler
// finishes later on its own (its answer goes nowhere), and the service carries on.
TEST_F(ServerShutdownTest, StuckHandlerStopReturnsAfterDrainTimeout) {
  const std::uint16_t port = StartServer(milliseconds(800));
  auto blocker = db_->HoldWriteLock();
  HttpReply reply;
  std::thread client(
      [&] { reply = SendRequest(port, "POST", "/api/referral/generate-code", "{}", NewToken()); });
  EXPECT_TRUE(WaitInFlight(1));

  const auto start = steady_clock::now();
  server_->Stop();
  const milliseconds stop_took = Since(start);
  EXPECT_GE(stop_took, milliseconds(700));
  EXPECT_LT(stop_took, milliseconds(2500));
  EXPECT_TRUE(ConnectionRefused(port));

  // The handler now completes after Stop() returned; destroying the server waits for it, and the
  // dropped connection then closes without an answer.
  std::this_thread::sleep_for(milliseconds(200));
  blocker.reset();
  server_.reset();
  client.join();
  EXPECT_EQ(reply.status, 0) << reply.body;
  EXPECT_EQ(db_->Scalar("SELECT COUNT(*) FROM referral_codes"), "1");
  EXPECT_EQ(metrics_.in_flight(), 0);

  // The same services serve again.
  const std::uint16_t again = StartServer(std::chrono::seconds(10));
  EXPECT_EQ(SendRequest(again, "GET", "/health", "", "").status, 200);
  EXPECT_EQ(SendRequest(again, "POST", "/api/referral/generate-code", "{}", NewToken()).status,
            201);
  server_->Stop();
}

// Stop() from the destructor alone, with a stuck handler: the destructor waits for the handler.
TEST_F(ServerShutdownTest, DestroyingWithStuckHandlerWaitsForIt) {
  const std::uint16_t port = StartServer(milliseconds(300));
  auto blocker = db_->HoldWriteLock();
  std::thread client(
      [&] { SendRequest(port, "POST", "/api/referral/generate-code", "{}", NewToken()); });
  EXPECT_TRUE(WaitInFlight(1));
  std::thread releaser([&] {
    std::this_thread::sleep_for(milliseconds(800));
    blocker.reset();
  });
  server_.reset();
  releaser.join();
  client.join();
  EXPECT_EQ(db_->Scalar("SELECT COUNT(*) FROM referral_codes"), "1");
}

TEST_F(ServerShutdownTest, StartOnATakenPortFailsCleanly) {
  const std::uint16_t port = StartServer(std::chrono::seconds(10));
  http::ServerOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  {
    http::Server second(options, *deps_);
    const auto started = second.Start();
    ASSERT_FALSE(started.has_value());
    EXPECT_EQ(started.error().code, ErrorCode::kUnavailable);
  }
  EXPECT_EQ(SendRequest(port, "GET", "/health", "", "").status, 200);
}

}  // namespace
}  // namespace referrald::testing
