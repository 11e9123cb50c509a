#include "support/serve_process.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>

#include "http/jwt.hpp"
#include "util/clock.hpp"

namespace referrald::testing {

ServeProcess::ServeProcess(const std::string& database_url, const ProcessEnv& extra) {
  std::string pattern = (std::filesystem::temp_directory_path() / "referrald-serve-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  ProcessEnv env{{"PATH", "/usr/bin:/bin"},
                 {"JWT_SECRET", kServeJwtSecret},
                 {"DATABASE_URL", database_url},
                 {"HOST", "127.0.0.1"},
                 {"PORT", "0"},
                 {"LOG_LEVEL", "warn"}};
  for (const auto& [key, value] : extra) env[key] = value;
  child_ = std::make_unique<ChildProcess>(std::vector<std::string>{REFERRALD_BINARY, "serve"}, env,
                                          dir_);
  const auto line = child_->WaitForLine("listening on http://", std::chrono::seconds(30));
  if (!line) {
    ADD_FAILURE() << "referrald serve did not start:\n" << child_->output();
    return;
  }
  const auto colon = line->rfind(':', line->find(" (database"));
  port_ = static_cast<std::uint16_t>(std::stoi(line->substr(colon + 1)));
}

ServeProcess::~ServeProcess() {
  if (!stopped_) Stop(SIGKILL);
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

int ServeProcess::Stop(int signal) {
  stopped_ = true;
  if (child_->Alive()) child_->Signal(signal);
  return child_->Wait();
}

bool ServeProcess::Running() { return !stopped_ && child_->Alive(); }

const std::string& ServeProcess::Output(int wait_ms) {
  if (!stopped_) child_->WaitForLine("\x01", std::chrono::milliseconds(wait_ms));
  return child_->output();
}

std::string RealTimeToken(const std::string& sub, const std::string& email, bool admin) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       SystemClock().Now().time_since_epoch())
                       .count();
  http::Claims claims;
  claims.sub = sub;
  claims.email = email;
  if (admin) claims.role = "admin";
  claims.iat = now;
  claims.exp = now + 3600;
  return http::SignToken(claims, kServeJwtSecret);
}

}  // namespace referrald::testing
