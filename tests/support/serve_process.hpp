#pragma once
// The real `referrald serve` binary as a child process, for tests of whole instances: several
// processes on one database, a database that goes away under a running server. Its clock is the
// wall clock, so tokens for it are minted with RealTimeToken.

#include <cstdint>
#include <memory>
#include <string>

#include "support/process.hpp"

namespace referrald::testing {

inline constexpr const char* kServeJwtSecret = "serve-process-secret-0123456789abcdef";

class ServeProcess {
 public:
  // Starts `referrald serve` on an ephemeral loopback port against `database_url`, with
  // kServeJwtSecret and `extra` variables (which win), in a temporary working directory. Returns
  // once it listens; port() is 0 (and a test failure recorded) when it did not start.
  ServeProcess(const std::string& database_url, const ProcessEnv& extra = {});
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  // Sends `signal` and waits for the exit; returns the exit code (-1 when killed by a signal).
  int Stop(int signal);
  // True while the process has not exited.
  [[nodiscard]] bool Running();
  // Everything it printed so far (reads what is pending, up to `wait_ms`).
  const std::string& Output(int wait_ms = 0);

 private:
  std::string dir_;
  std::unique_ptr<ChildProcess> child_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;
};

// An HS256 token for kServeJwtSecret valid for an hour of wall-clock time.
std::string RealTimeToken(const std::string& sub, const std::string& email, bool admin = false);

}  // namespace referrald::testing
