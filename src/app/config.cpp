#include "app/config.hpp"

#include <cerrno>
#include <charconv>
#include <fstream>
#include <string_view>

#include "worker/cron.hpp"

extern char** environ;  // NOLINT: POSIX

namespace referrald::app {
namespace {

Error Bad(const std::string& var, const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, "INVALID_CONFIG", var + ": " + why);
}

// Parses an integer in [lo, hi] from the variable, or keeps `out` when the variable is unset.
Status Int(const Environment& env, const std::string& var, long long lo, long long hi,
           long long& out) {
  auto it = env.find(var);
  if (it == env.end()) return {};
  const std::string& s = it->second;
  long long v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) {
    return Bad(var, "expected an integer, got \"" + s + "\"");
  }
  if (v < lo || v > hi) {
    return Bad(
        var, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + s);
  }
  out = v;
  return {};
}

Status Bool(const Environment& env, const std::string& var, bool& out) {
  auto it = env.find(var);
  if (it == env.end()) return {};
  const std::string& s = it->second;
  if (s == "true" || s == "1" || s == "yes") {
    out = true;
  } else if (s == "false" || s == "0" || s == "no") {
    out = false;
  } else {
    return Bad(var, "expected true or false, got \"" + s + "\"");
  }
  return {};
}

Status OneOf(const Environment& env, const std::string& var,
             std::initializer_list<std::string_view> allowed, std::string& out) {
  auto it = env.find(var);
  if (it == env.end()) return {};
  for (auto a : allowed) {
    if (it->second == a) {
      out = it->second;
      return {};
    }
  }
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  return Bad(var, "expected one of " + list + ", got \"" + it->second + "\"");
}

// A 5-field cron expression, parsed by the worker's parser so that `serve` never starts with a
// schedule it cannot evaluate.
Status Cron(const Environment& env, const std::string& var, std::string& out) {
  auto it = env.find(var);
  if (it == env.end()) return {};
  auto parsed = worker::CronExpression::Parse(it->second);
  if (!parsed) return Bad(var, parsed.error().message + " in \"" + it->second + "\"");
  out = it->second;
  return {};
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

Result<Config> LoadConfig(const Environment& env) {
  Config c;
  long long v = 0;
#define REFERRALD_TRY(expr)                    \
  do {                                         \
    if (auto s = (expr); !s) return s.error(); \
  } while (false)

  if (auto it = env.find("HOST"); it != env.end()) {
    if (it->second.empty()) return Bad("HOST", "must not be empty");
    c.host = it->second;
  }
  v = c.port;
  REFERRALD_TRY(Int(env, "PORT", 0, 65535, v));
  c.port = static_cast<std::uint16_t>(v);
  if (auto it = env.find("DATABASE_URL"); it != env.end()) {
    const std::string& url = it->second;
    const bool sqlite = url.rfind("sqlite:", 0) == 0 && url.size() > 7;
    const bool pg = url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0;
    if (!sqlite && !pg) {
      return Bad("DATABASE_URL", "expected sqlite:PATH, postgres://… or postgresql://…");
    }
    c.database_url = url;
  }
  if (auto it = env.find("JWT_SECRET"); it != env.end()) {
    if (!it->second.empty() && it->second.size() < 16) {
      return Bad("JWT_SECRET", "must be at least 16 characters");
    }
    c.jwt_secret = it->second;
  }
  REFERRALD_TRY(Bool(env, "ENABLE_REFERRAL_SYSTEM", c.referral_enabled));
  v = c.referral.code_length;
  REFERRALD_TRY(Int(env, "REFERRAL_CODE_LENGTH", 6, 32, v));
  c.referral.code_length = static_cast<int>(v);
  v = c.referral.code_expiration_days;
  REFERRALD_TRY(Int(env, "REFERRAL_CODE_EXPIRATION_DAYS", 1, 3650, v));
  c.referral.code_expiration_days = v;
  v = c.referral.reward_days;
  REFERRALD_TRY(Int(env, "REFERRAL_REWARD_DAYS", 1, 3650, v));
  c.referral.reward_days = v;
  v = c.referral.reward_claim_days;
  REFERRALD_TRY(Int(env, "REFERRAL_REWARD_CLAIM_DAYS", 0, 3650, v));
  c.referral.reward_claim_days = v;
  v = c.referral.master_threshold;
  REFERRALD_TRY(Int(env, "REFERRAL_MASTER_THRESHOLD", 1, 1000000, v));
  c.referral.master_threshold = v;
  REFERRALD_TRY(Bool(env, "ENABLE_AUTOMATION_WORKER", c.worker_enabled));
  REFERRALD_TRY(Cron(env, "CRON_EXPIRE_CODES", c.cron_expire_codes));
  REFERRALD_TRY(Cron(env, "CRON_AWARD_BADGES", c.cron_award_badges));
  REFERRALD_TRY(Cron(env, "CRON_HEALTH_CHECK", c.cron_health_check));
  REFERRALD_TRY(
      OneOf(env, "LOG_LEVEL", {"trace", "debug", "info", "warn", "error", "off"}, c.log_level));
  REFERRALD_TRY(OneOf(env, "LOG_FORMAT", {"text", "json"}, c.log_format));
  v = c.http_worker_threads;
  REFERRALD_TRY(Int(env, "HTTP_WORKER_THREADS", 1, 64, v));
  c.http_worker_threads = static_cast<int>(v);
#undef REFERRALD_TRY
  return c;
}

Result<Environment> ReadDotEnv(const std::string& path) {
  Environment env;
  std::ifstream in(path);
  if (!in) return env;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string t = Trim(line);
    if (t.empty() || t.front() == '#') continue;
    if (t.rfind("export ", 0) == 0) t = Trim(std::string_view(t).substr(7));
    const auto eq = t.find('=');
    if (eq == std::string::npos || eq == 0) {
      return MakeError(ErrorCode::kInvalidArgument, "INVALID_CONFIG",
                       path + ":" + std::to_string(number) + ": expected KEY=VALUE");
    }
    std::string key = Trim(std::string_view(t).substr(0, eq));
    std::string value = Trim(std::string_view(t).substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    } else if (const auto hash = value.find(" #"); hash != std::string::npos) {
      value = Trim(std::string_view(value).substr(0, hash));  // trailing comment
    }
    env[key] = value;
  }
  return env;
}

Result<Environment> ReadEnvironment(const std::string& dotenv_path) {
  auto env = ReadDotEnv(dotenv_path);
  if (!env) return env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    (*env)[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  return env;
}

}  // namespace referrald::app
