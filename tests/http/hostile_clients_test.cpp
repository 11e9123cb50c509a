// Hostile clients at the transport, over raw TCP on loopback: oversized bodies are answered 413
// with the contract's error body before they are read, whatever their size or framing; slow and
// silent connections are cut off after the read timeout while everyone else is served; over the
// connection cap clients wait their turn. Plus the request framer on its own.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "delivery/target_resolver.hpp"
#include "domain/abuse.hpp"
#include "domain/idempotency.hpp"
#include "domain/jobs.hpp"
#include "domain/referral_service.hpp"
#include "domain/subscription_service.hpp"
#include "domain/user_directory.hpp"
#include "domain/webhook_service.hpp"
#include "http/jwt.hpp"
#include "http/request_framing.hpp"
#include "http/router.hpp"
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

// Both ends of hundreds of connections live in this process.
void RaiseOpenFilesLimit(rlim_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// One HTTP response as read off the wire.
struct RawResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  [[nodiscard]] std::string Header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (EqualsIgnoreCase(key, name)) return value;
    }
    return "";
  }
  [[nodiscard]] nlohmann::json Json() const {
    return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  }
  // The string field `key` of a JSON object body; "" otherwise.
  [[nodiscard]] std::string Field(const char* key) const {
    const auto json = Json();
    return json.is_object() && json.contains(key) && json[key].is_string()
               ? json[key].get<std::string>()
               : "";
  }
};

// A TCP client on loopback that sends exactly the bytes it is given and reads responses (framed
// by Content-Length) with deadlines. Not thread-safe.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
      close(fd_);
      fd_ = -1;
      return;
    }
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  [[nodiscard]] bool connected() const { return fd_ >= 0; }

  // Sends all of `bytes`, keeping whatever the server answers meanwhile (it may answer before
  // reading everything). False when the connection broke or `timeout` passed first.
  bool Send(std::string_view bytes, milliseconds timeout = milliseconds(10000)) {
    const auto deadline = steady_clock::now() + timeout;
    while (!bytes.empty()) {
      const ssize_t sent = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(sent));
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
      pollfd entry{fd_, POLLIN | POLLOUT, 0};
      if (poll(&entry, 1, RemainingMs(deadline)) <= 0) return false;
      if ((entry.revents & (POLLIN | POLLHUP | POLLERR)) != 0) ReadAvailable();
    }
    return true;
  }

  // Sends what the socket takes right now (for trickling). False when the connection broke.
  bool SendNow(std::string_view bytes) {
    const ssize_t sent = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    return sent >= 0 || errno == EAGAIN || errno == EWOULDBLOCK;
  }

  // The next complete response; nullopt when none arrived within `timeout` or the connection
  // closed first.
  std::optional<RawResponse> ReadResponse(milliseconds timeout) {
    const auto deadline = steady_clock::now() + timeout;
    while (true) {
      if (auto response = TakeResponse()) return response;
      if (closed_ || !WaitReadable(deadline)) return std::nullopt;
      ReadAvailable();
    }
  }

  // True when the server closed the connection (end of stream or reset) within `timeout`.
  bool WaitClosed(milliseconds timeout) {
    const auto deadline = steady_clock::now() + timeout;
    while (!closed_) {
      if (!WaitReadable(deadline)) return false;
      ReadAvailable();
    }
    return true;
  }

  // Without waiting: true once the server closed the connection.
  bool CheckClosed() {
    ReadAvailable();
    return closed_;
  }

 private:
  static int RemainingMs(steady_clock::time_point deadline) {
    return static_cast<int>(std::max<std::int64_t>(
        0, std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count()));
  }

  bool WaitReadable(steady_clock::time_point deadline) {
    pollfd entry{fd_, POLLIN, 0};
    return poll(&entry, 1, RemainingMs(deadline)) > 0;
  }

  void ReadAvailable() {
    if (closed_) return;
    char chunk[16384];
    while (true) {
      const ssize_t got = recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
      if (got > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(got));
        continue;
      }
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
      closed_ = true;  // end of stream, or reset
      return;
    }
  }

  std::optional<RawResponse> TakeResponse() {
    const std::size_t head_end = buffer_.find("\r\n\r\n");
    if (head_end == std::string::npos) return std::nullopt;
    RawResponse response;
    std::string_view head(buffer_.data(), head_end);
    std::size_t line_end = head.find("\r\n");
    const std::string_view status_line = head.substr(0, line_end);
    if (status_line.size() >= 12)
      response.status = std::stoi(std::string(status_line.substr(9, 3)));
    std::size_t content_length = 0;
    while (line_end != std::string_view::npos) {
      head.remove_prefix(line_end + 2);
      line_end = head.find("\r\n");
      const std::string_view line = head.substr(0, line_end);
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      response.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
      if (EqualsIgnoreCase(line.substr(0, colon), "content-length")) {
        content_length = std::stoul(std::string(value));
      }
    }
    if (buffer_.size() < head_end + 4 + content_length) return std::nullopt;
    response.body = buffer_.substr(head_end + 4, content_length);
    buffer_.erase(0, head_end + 4 + content_length);
    return response;
  }

  int fd_ = -1;
  std::string buffer_;
  bool closed_ = false;
};

// `request` on a connection of its own; status 0 when no answer came within `timeout`.
RawResponse Exchange(std::uint16_t port, std::string_view request,
                     milliseconds timeout = milliseconds(1000)) {
  RawClient client(port);
  if (!client.Send(request, timeout)) return {};
  return client.ReadResponse(timeout).value_or(RawResponse{});
}

// The transport's 413: the contract's error body and headers, and the connection closes.
void ExpectPayloadTooLarge(const RawResponse& response) {
  EXPECT_EQ(response.status, 413) << response.body;
  EXPECT_EQ(response.Header("Content-Type"), "application/json");
  EXPECT_EQ(response.Header("Connection"), "close");
  const auto body = response.Json();
  ASSERT_TRUE(body.is_object()) << response.body;
  EXPECT_EQ(body.size(), 3U) << response.body;
  EXPECT_EQ(body.value("code", ""), "PAYLOAD_TOO_LARGE");
  EXPECT_FALSE(body.value("error", "").empty());
  EXPECT_FALSE(response.Header("X-Request-Id").empty());
  EXPECT_EQ(body.value("requestId", ""), response.Header("X-Request-Id"));
}

std::string PostHead(std::string_view path, std::string_view framing,
                     std::string_view extra_headers = "") {
  return "POST " + std::string(path) +
         " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n" +
         std::string(extra_headers) + std::string(framing) + "\r\n\r\n";
}

std::string Chunked(const std::string& body, std::size_t chunk_bytes) {
  std::string out;
  char size[32];
  for (std::size_t pos = 0; pos < body.size(); pos += chunk_bytes) {
    const std::string chunk = body.substr(pos, chunk_bytes);
    std::snprintf(size, sizeof(size), "%zx\r\n", chunk.size());
    out += size + chunk + "\r\n";
  }
  return out + "0\r\n\r\n";
}

class HostileClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RaiseOpenFilesLimit(4096);
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

  // Starts server_ on an ephemeral loopback port with `options` (host and port replaced).
  std::uint16_t StartServer(http::ServerOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<http::Server>(options, *deps_);
    const auto started = server_->Start();
    EXPECT_TRUE(started.has_value()) << started.error().message;
    port_ = server_->port();
    WarmUpHttpClient(port_);
    return port_;
  }

  // A token for a new user.
  std::string NewToken() {
    http::Claims claims;
    claims.sub = NewUuidV7(clock_.Now(), random_);
    claims.email = "hostile@example.com";
    claims.exp =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count() +
        3600;
    return http::SignToken(claims, kTestJwtSecret);
  }

  static std::string Get(std::string_view path, std::string_view extra_headers = "") {
    return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
           "\r\n";
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
  std::uint16_t port_ = 0;
};

// --- oversized bodies --------------------------------------------------------------------------

TEST_F(HostileClientsTest, HugeDeclaredBodyIs413AtOnceWithoutSendingIt) {
  const std::uint16_t port = StartServer();
  RawClient client(port);
  const auto start = steady_clock::now();
  ASSERT_TRUE(client.Send(PostHead("/api/referral/track", "Content-Length: 100000000")));
  const auto response = client.ReadResponse(milliseconds(1000));
  ASSERT_TRUE(response);
  EXPECT_LT(Since(start), milliseconds(1000));
  ExpectPayloadTooLarge(*response);
  EXPECT_EQ(response->Header("X-Request-Id").size(), 36U);  // a new UUIDv7
  EXPECT_TRUE(client.WaitClosed(milliseconds(1000)));
}

TEST_F(HostileClientsTest, The413AnswersWithTheClientsSaneRequestId) {
  const std::uint16_t port = StartServer();
  auto response = Exchange(port, PostHead("/api/referral/track", "Content-Length: 100000000",
                                          "X-Request-Id: hostile-413.a_b\r\n"));
  ExpectPayloadTooLarge(response);
  EXPECT_EQ(response.Header("X-Request-Id"), "hostile-413.a_b");

  response = Exchange(port, PostHead("/api/referral/track", "Content-Length: 100000000",
                                     "X-Request-Id: not sane!\r\n"));
  ExpectPayloadTooLarge(response);
  EXPECT_EQ(response.Header("X-Request-Id").size(), 36U);
}

TEST_F(HostileClientsTest, TwoMebibyteBodyActuallySentIs413) {
  const std::uint16_t port = StartServer();
  RawClient client(port);
  const std::string body(2 * 1024 * 1024, 'a');
  // The server answers after the headers and discards the rest: sending may or may not finish.
  client.Send(PostHead("/api/referral/track", "Content-Length: " + std::to_string(body.size())) +
              body);
  const auto response = client.ReadResponse(milliseconds(2000));
  ASSERT_TRUE(response);
  ExpectPayloadTooLarge(*response);
}

TEST_F(HostileClientsTest, BodyJustOverTheLimitIs413AndJustUnderIsNot) {
  const std::uint16_t port = StartServer();
  const std::string over(65 * 1024, ' ');
  ExpectPayloadTooLarge(Exchange(
      port,
      PostHead("/api/referral/track", "Content-Length: " + std::to_string(over.size())) + over));
  ExpectPayloadTooLarge(
      Exchange(port, PostHead("/api/referral/track",
                              "Content-Length: " + std::to_string(http::kMaxBodyBytes + 1)) +
                         std::string(http::kMaxBodyBytes + 1, ' ')));

  // Under the limit the route answers as usual (here: no token).
  for (const std::size_t size : {std::size_t{60 * 1024}, http::kMaxBodyBytes}) {
    const std::string under(size, ' ');
    const auto response = Exchange(
        port,
        PostHead("/api/referral/track", "Content-Length: " + std::to_string(under.size())) + under);
    EXPECT_EQ(response.status, 401) << size << ": " << response.body;
    EXPECT_EQ(response.Field("code"), "TOKEN_MISSING");
  }
}

TEST_F(HostileClientsTest, ChunkedBodyGrowingPastTheLimitIs413) {
  const std::uint16_t port = StartServer();
  RawClient client(port);
  client.Send(PostHead("/api/referral/track", "Transfer-Encoding: chunked") +
              Chunked(std::string(100 * 1024, 'a'), 4096));
  const auto response = client.ReadResponse(milliseconds(2000));
  ASSERT_TRUE(response);
  ExpectPayloadTooLarge(*response);
  EXPECT_TRUE(client.WaitClosed(milliseconds(3000)));
}

TEST_F(HostileClientsTest, SmallChunkedBodyIsServed) {
  const std::uint16_t port = StartServer();
  const std::string token = NewToken();
  const auto response =
      Exchange(port, PostHead("/api/referral/generate-code", "Transfer-Encoding: chunked",
                              "Authorization: Bearer " + token + "\r\n") +
                         Chunked(R"({"expiresInDays": 7})", 5));
  EXPECT_EQ(response.status, 201) << response.body;
  EXPECT_EQ(response.Field("code").size(), 8U) << response.body;
}

// --- keep-alive and pipelining still work byte for byte -----------------------------------------

TEST_F(HostileClientsTest, KeepAliveRequestsOnOneConnectionAreAllAnswered) {
  const std::uint16_t port = StartServer();
  const std::string auth = "Authorization: Bearer " + NewToken() + "\r\n";
  RawClient client(port);
  ASSERT_TRUE(client.Send(Get("/health")));
  auto response = client.ReadResponse(milliseconds(2000));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);

  ASSERT_TRUE(client.Send(Get("/api/referral/stats", auth)));
  response = client.ReadResponse(milliseconds(2000));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200) << response->body;

  ASSERT_TRUE(
      client.Send(PostHead("/api/referral/generate-code", "Content-Length: 2", auth) + "{}"));
  response = client.ReadResponse(milliseconds(2000));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 201) << response->body;
  EXPECT_FALSE(client.CheckClosed());
}

TEST_F(HostileClientsTest, PipelinedRequestsAreAnsweredInOrder) {
  const std::uint16_t port = StartServer();
  const std::string auth = "Authorization: Bearer " + NewToken() + "\r\n";
  RawClient client(port);
  ASSERT_TRUE(client.Send(
      Get("/health", "X-Request-Id: p1\r\n") +
      PostHead("/api/referral/generate-code", "Content-Length: 2", auth + "X-Request-Id: p2\r\n") +
      "{}" + Get("/api/referral/stats", auth + "X-Request-Id: p3\r\n")));
  for (const auto& [id, status] :
       std::vector<std::pair<std::string, int>>{{"p1", 200}, {"p2", 201}, {"p3", 200}}) {
    const auto response = client.ReadResponse(milliseconds(2000));
    ASSERT_TRUE(response) << id;
    EXPECT_EQ(response->Header("X-Request-Id"), id);
    EXPECT_EQ(response->status, status) << id << ": " << response->body;
  }
}

// The 413 of an oversized request comes after the answer to the request before it.
TEST_F(HostileClientsTest, OversizedRequestPipelinedAfterAnotherIsAnsweredAfterIt) {
  const std::uint16_t port = StartServer();
  RawClient client(port);
  ASSERT_TRUE(client.Send(
      Get("/health", "X-Request-Id: first\r\n") +
      PostHead("/api/referral/track", "Content-Length: 100000000", "X-Request-Id: second\r\n")));
  const auto first = client.ReadResponse(milliseconds(2000));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->Header("X-Request-Id"), "first");
  const auto second = client.ReadResponse(milliseconds(2000));
  ASSERT_TRUE(second);
  ExpectPayloadTooLarge(*second);
  EXPECT_EQ(second->Header("X-Request-Id"), "second");
  EXPECT_TRUE(client.WaitClosed(milliseconds(2000)));
}

// --- slow, silent and too many clients ---------------------------------------------------------

TEST_F(HostileClientsTest, SlowAndSilentClientsAreCutOffWhileOthersAreServed) {
  http::ServerOptions options;
  options.request_read_timeout = milliseconds(2000);
  options.idle_timeout = std::chrono::seconds(30);  // not what cuts these off
  options.max_connections = 1024;
  const std::uint16_t port = StartServer(options);
  const std::string stats =
      Get("/api/referral/stats", "Authorization: Bearer " + NewToken() + "\r\n");

  constexpr std::size_t kHeaderTricklers = 250;
  constexpr std::size_t kBodyTricklers = 50;
  constexpr std::size_t kSilent = 100;
  constexpr std::size_t kTricklers = kHeaderTricklers + kBodyTricklers;
  std::vector<std::unique_ptr<RawClient>> clients;
  const auto opened = steady_clock::now();
  for (std::size_t i = 0; i < kTricklers + kSilent; ++i) {
    clients.push_back(std::make_unique<RawClient>(port));
    ASSERT_TRUE(clients.back()->connected()) << i;
    if (i < kHeaderTricklers) {
      clients.back()->SendNow("GET /health HTTP/1.1\r\nHo");
    } else if (i < kTricklers) {
      clients.back()->SendNow(PostHead("/api/referral/track", "Content-Length: 1000") + "{");
    }
  }

  // One byte every 300 ms on each trickling connection, noting when the server closes each one.
  std::vector<std::optional<milliseconds>> closed_after(clients.size());
  std::atomic<bool> done{false};
  std::thread trickler([&] {
    while (!done.load()) {
      for (std::size_t i = 0; i < clients.size(); ++i) {
        if (closed_after[i]) continue;
        if (clients[i]->CheckClosed()) {
          closed_after[i] = Since(opened);
        } else if (i < kTricklers) {
          clients[i]->SendNow(i < kHeaderTricklers ? "x" : " ");
        }
      }
      std::this_thread::sleep_for(milliseconds(300));
    }
  });

  // Meanwhile ordinary clients are answered at once, the whole time.
  int probes = 0;
  while (Since(opened) < milliseconds(4500)) {
    auto start = steady_clock::now();
    const auto health = Exchange(port, Get("/health"));
    EXPECT_EQ(health.status, 200);
    EXPECT_LT(Since(start), milliseconds(1000));
    start = steady_clock::now();
    const auto answered = Exchange(port, stats);
    EXPECT_EQ(answered.status, 200) << answered.body;
    EXPECT_LT(Since(start), milliseconds(1000));
    ++probes;
    std::this_thread::sleep_for(milliseconds(100));
  }
  done = true;
  trickler.join();
  EXPECT_GT(probes, 10);

  for (std::size_t i = 0; i < clients.size(); ++i) {
    ASSERT_TRUE(closed_after[i]) << "connection " << i << " still open";
    EXPECT_GE(*closed_after[i], milliseconds(1500)) << i;
    EXPECT_LE(*closed_after[i], milliseconds(4500)) << i;
  }
}

TEST_F(HostileClientsTest, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  http::ServerOptions options;
  options.idle_timeout = milliseconds(1000);
  const std::uint16_t port = StartServer(options);
  RawClient client(port);
  ASSERT_TRUE(client.Send(Get("/health")));
  const auto response = client.ReadResponse(milliseconds(2000));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  const auto idle_since = steady_clock::now();
  // RESTinio checks its timers once a second.
  EXPECT_TRUE(client.WaitClosed(milliseconds(4000)));
  EXPECT_GE(Since(idle_since), milliseconds(900));
}

TEST_F(HostileClientsTest, ConnectionsOverTheCapWaitUntilOthersClose) {
  http::ServerOptions options;
  options.max_connections = 8;
  options.request_read_timeout = std::chrono::seconds(30);
  options.idle_timeout = std::chrono::seconds(30);
  const std::uint16_t port = StartServer(options);
  std::this_thread::sleep_for(milliseconds(200));  // the warm-up's connections are gone

  std::vector<std::unique_ptr<RawClient>> holders;
  for (int i = 0; i < 8; ++i) {
    holders.push_back(std::make_unique<RawClient>(port));
    ASSERT_TRUE(holders.back()->connected());
  }
  RawClient waiting(port);
  ASSERT_TRUE(waiting.connected());  // the kernel queues it; the server does not take it yet
  ASSERT_TRUE(waiting.Send(Get("/health")));
  EXPECT_FALSE(waiting.ReadResponse(milliseconds(700)));

  holders.resize(4);  // four leave
  const auto response = waiting.ReadResponse(milliseconds(3000));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(Exchange(port, Get("/health")).status, 200);
}

// --- the framer on its own ---------------------------------------------------------------------

const std::string kThreeRequests =
    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    "POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
    "POST /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
    "3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: t\r\n\r\n";

TEST(HostileFramingTest, FollowsRequestBoundariesHoweverTheBytesAreSplit) {
  for (std::size_t split = 1; split <= kThreeRequests.size(); ++split) {
    http::RequestFramer framer(64);
    for (std::size_t pos = 0; pos < kThreeRequests.size(); pos += split) {
      const std::string_view piece = std::string_view(kThreeRequests).substr(pos, split);
      EXPECT_EQ(framer.Feed(piece), piece.size()) << split;
    }
    EXPECT_EQ(framer.requests_begun(), 3U) << split;
    EXPECT_FALSE(framer.in_request()) << split;
    EXPECT_TRUE(framer.following()) << split;
    EXPECT_FALSE(framer.oversized()) << split;
  }
}

TEST(HostileFramingTest, KnowsWhenARequestIsIncomplete) {
  http::RequestFramer framer(1024);
  framer.Feed("\r\n\r\nGET / HTTP/1.1\r\n\r\n");  // stray CRLFs before a request are skipped
  EXPECT_EQ(framer.requests_begun(), 1U);
  EXPECT_FALSE(framer.in_request());
  framer.Feed("POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345");
  EXPECT_TRUE(framer.in_request());
  framer.Feed("67890");
  EXPECT_FALSE(framer.in_request());
  EXPECT_EQ(framer.requests_begun(), 2U);
}

TEST(HostileFramingTest, OversizedContentLengthStopsAtTheStartOfItsRequest) {
  http::RequestFramer framer(http::kMaxBodyBytes);
  const std::string first = "GET / HTTP/1.1\r\n\r\n";
  const std::size_t accepted = framer.Feed(
      first + "POST /api/x?q=1 HTTP/1.1\r\nx-request-id:  abc \r\nContent-Length: 65537\r\n\r\n");
  EXPECT_EQ(accepted, first.size());
  EXPECT_TRUE(framer.oversized());
  EXPECT_EQ(framer.head().method, "POST");
  EXPECT_EQ(framer.head().target, "/api/x?q=1");
  EXPECT_EQ(framer.head().request_id, std::optional<std::string>("abc"));
}

TEST(HostileFramingTest, LimitItselfIsNotOversized) {
  http::RequestFramer framer(http::kMaxBodyBytes);
  framer.Feed("POST / HTTP/1.1\r\nContent-Length: 65536\r\n\r\n");
  EXPECT_FALSE(framer.oversized());
  EXPECT_TRUE(framer.in_request());
  framer.Feed(std::string(http::kMaxBodyBytes, 'a'));
  EXPECT_FALSE(framer.in_request());
}

TEST(HostileFramingTest, ChunksAddingUpPastTheLimitAreOversized) {
  http::RequestFramer framer(100);
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string fifty = "32\r\n" + std::string(50, 'a') + "\r\n";
  EXPECT_EQ(framer.Feed(head), head.size());
  EXPECT_EQ(framer.Feed(fifty), fifty.size());
  EXPECT_EQ(framer.Feed(fifty), fifty.size());  // exactly at the limit
  EXPECT_FALSE(framer.oversized());
  EXPECT_EQ(framer.Feed("1\r\na\r\n0\r\n\r\n"), 0U);  // began in an earlier Feed
  EXPECT_TRUE(framer.oversized());
}

TEST(HostileFramingTest, StopsFollowingWhatHttpParserRejects) {
  for (const std::string request :
       {"POST / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nno colon here\r\n\r\n"}) {
    http::RequestFramer framer(1024);
    framer.Feed(request);
    EXPECT_FALSE(framer.following()) << request;
    EXPECT_FALSE(framer.in_request()) << request;
  }
}

}  // namespace
}  // namespace referrald::testing
