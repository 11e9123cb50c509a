// PostgreSQL goes away under a running `referrald serve` and comes back: requests in flight and
// new ones answer 503 DATABASE_UNAVAILABLE within DATABASE_TIMEOUT_MS plus a little, /health
// answers 503, the process keeps running, and once the server is back the service answers 200
// again by itself. Runs against a private cluster it stops and starts (scripts/pg-cluster.sh).

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <latch>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "support/serve_process.hpp"
#include "support/server_fixture.hpp"
#include "util/random.hpp"
#include "util/uuid.hpp"

namespace referrald::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

constexpr int kTimeoutMs = 2000;

class PostgresOutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* script = std::getenv("REFERRALD_PG_CLUSTER_SCRIPT");
    if (script == nullptr || *script == '\0') {
      const char* require = std::getenv("REFERRALD_REQUIRE_POSTGRES");
      if (require != nullptr && std::string(require) == "1") {
        FAIL() << "REFERRALD_PG_CLUSTER_SCRIPT is not set";
      }
      GTEST_SKIP() << "REFERRALD_PG_CLUSTER_SCRIPT is not set (scripts/test.sh sets it)";
    }
    script_ = script;
    std::string pattern = "/tmp/referrald-outage-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    const auto started = Cluster("start");
    ASSERT_EQ(started.exit_code, 0) << started.err;
    url_ = started.out.substr(0, started.out.find('\n'));
  }

  void TearDown() override {
    server_.reset();
    if (!dir_.empty()) Cluster("destroy");
  }

  ProcessResult Cluster(const std::string& command) {
    std::vector<std::string> args{"/bin/bash", script_, command, dir_};
    // An immediate stop: every backend quits at once without releasing its locks. A fast stop
    // ends the lock holder's session first on some runs, and a write waiting on its lock can
    // then commit before its own session is ended: a race this test must not depend on.
    if (command == "stop") args.emplace_back("immediate");
    return RunProcess(args, {{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}}, "/");
  }

  std::string script_;
  std::string dir_;
  std::string url_;
  std::unique_ptr<ServeProcess> server_;
};

// Holds an exclusive lock on users from a connection of the test's own, so that every write of
// the service waits on it.
class UsersLock {
 public:
  explicit UsersLock(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    PGresult* res = PQexec(conn_, "BEGIN; LOCK TABLE users IN EXCLUSIVE MODE");
    ok_ = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
  }
  ~UsersLock() { PQfinish(conn_); }
  UsersLock(const UsersLock&) = delete;
  UsersLock& operator=(const UsersLock&) = delete;
  [[nodiscard]] bool ok() const { return ok_; }

 private:
  PGconn* conn_;
  bool ok_ = false;
};

TEST_F(PostgresOutageTest, RequestsAnswer503WhileTheDatabaseIsDownAndRecoverWithoutARestart) {
  server_ = std::make_unique<ServeProcess>(
      url_, ProcessEnv{{"DATABASE_TIMEOUT_MS", std::to_string(kTimeoutMs)},
                       {"ENABLE_AUTOMATION_WORKER", "false"},
                       {"DB_POOL_SIZE", "4"}});
  ASSERT_NE(server_->port(), 0);
  const std::uint16_t port = server_->port();
  WarmUpHttpClient(port);
  SystemRandom random;
  auto new_token = [&] { return RealTimeToken(NewUuidV7(SystemClock().Now(), random), "o@x.io"); };
  ASSERT_EQ(SendRequest(port, "GET", "/health", "", "").status, 200);
  ASSERT_EQ(SendRequest(port, "POST", "/api/referral/generate-code", "{}", new_token()).status,
            201);

  // Requests in flight: three writes wait on a lock while PostgreSQL stops under them.
  {
    UsersLock lock(url_);
    ASSERT_TRUE(lock.ok());
    constexpr int kInFlight = 3;
    std::vector<HttpReply> replies(kInFlight);
    std::vector<milliseconds> took(kInFlight);
    std::latch sent(kInFlight);
    std::vector<std::thread> clients;
    for (int i = 0; i < kInFlight; ++i) {
      clients.emplace_back([&, i] {
        const std::string token = new_token();
        sent.count_down();
        const auto start = SteadyClock::now();
        replies[static_cast<std::size_t>(i)] =
            SendRequest(port, "POST", "/api/referral/generate-code", "{}", token);
        took[static_cast<std::size_t>(i)] =
            std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start);
      });
    }
    sent.wait();
    std::this_thread::sleep_for(milliseconds(300));  // let them reach the lock
    ASSERT_EQ(Cluster("stop").exit_code, 0);
    for (auto& t : clients) t.join();
    for (int i = 0; i < kInFlight; ++i) {
      ExpectError(replies[static_cast<std::size_t>(i)], 503, "DATABASE_UNAVAILABLE");
      EXPECT_LT(took[static_cast<std::size_t>(i)].count(), kTimeoutMs + 1500);
    }
  }

  // While it is down: new requests fail fast and cleanly, /health says so, nothing crashes.
  for (const std::string path : {"/api/referral/stats", "/api/referral/generate-code"}) {
    const auto start = SteadyClock::now();
    const auto reply =
        SendRequest(port, path == "/api/referral/stats" ? "GET" : "POST", path, "{}", new_token());
    ExpectError(reply, 503, "DATABASE_UNAVAILABLE");
    EXPECT_LT(std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start).count(),
              kTimeoutMs + 1500);
  }
  const auto health = SendRequest(port, "GET", "/health", "", "");
  EXPECT_EQ(health.status, 503);
  EXPECT_EQ(health.Json()["database"], "unavailable");
  EXPECT_TRUE(server_->Running());

  // Back again: the same process recovers by itself.
  ASSERT_EQ(Cluster("start").exit_code, 0);
  int status = 0;
  const auto deadline = SteadyClock::now() + seconds(20);
  while (status != 200 && SteadyClock::now() < deadline) {
    status = SendRequest(port, "GET", "/health", "", "").status;
    if (status != 200) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(status, 200);
  const auto written = SendRequest(port, "POST", "/api/referral/generate-code", "{}", new_token());
  EXPECT_EQ(written.status, 201) << written.body << server_->Output(200);
  EXPECT_EQ(server_->Stop(SIGTERM), 0) << server_->Output();
}

}  // namespace
}  // namespace referrald::testing
