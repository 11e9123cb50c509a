#include "app/config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <string_view>

#include "domain/limits.hpp"
#include "worker/cron.hpp"

extern char** environ;  // NOLINT: POSIX

namespace referrald::app {
namespace {

Error Bad(const std::string& var, const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, Reason::kInvalidConfig, var + ": " + why);
}

// Parses an integer in [lo, hi] from the variable, or keeps `out` when the variable is unset.
template <typename T>
Status Int(const Environment& env, const std::string& var, long long lo, long long hi, T& out) {
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
  out = static_cast<T>(v);
  return {};
}

// A whole number of hours in [lo, hi], or keeps `out` when the variable is unset.
Status Hours(const Environment& env, const std::string& var, int lo, int hi,
             std::chrono::hours& out) {
  int hours = static_cast<int>(out.count());
  if (Status parsed = Int(env, var, lo, hi, hours); !parsed) return parsed;
  out = std::chrono::hours(hours);
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
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

Status Host(const Environment& env, std::string& out) {
  auto it = env.find("HOST");
  if (it == env.end()) return {};
  if (it->second.empty()) return Bad("HOST", "must not be empty");
  out = it->second;
  return {};
}

Status DatabaseUrl(const Environment& env, std::string& out) {
  auto it = env.find("DATABASE_URL");
  if (it == env.end()) return {};
  const std::string& url = it->second;
  const bool sqlite = url.rfind("sqlite:", 0) == 0 && url.size() > 7;
  const bool pg = url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0;
  if (!sqlite && !pg) {
    return Bad("DATABASE_URL", "expected sqlite:PATH, postgres://… or postgresql://…");
  }
  out = url;
  return {};
}

// Empty means "not set" (serve and token refuse to start without it).
Status JwtSecret(const Environment& env, std::string& out) {
  auto it = env.find("JWT_SECRET");
  if (it == env.end()) return {};
  if (!it->second.empty() && it->second.size() < kMinJwtSecretLength) {
    return Bad("JWT_SECRET", "must be at least " + std::to_string(kMinJwtSecretLength) +
                                 " characters (e.g. `openssl rand -hex 32`), got " +
                                 std::to_string(it->second.size()));
  }
  out = it->second;
  return {};
}

bool IsHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.';
}

// "http(s)://host[:port]", as a browser sends it in Origin: no path, no trailing slash.
bool IsOrigin(std::string_view origin) {
  std::string_view rest;
  for (const std::string_view scheme : {"http://", "https://"}) {
    if (origin.substr(0, scheme.size()) == scheme) rest = origin.substr(scheme.size());
  }
  if (rest.empty()) return false;
  std::string_view host = rest;
  std::string_view port;
  if (rest.front() == '[') {  // an IPv6 literal
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (const char c : rest.substr(1, close - 1)) {
      if (std::isxdigit(static_cast<unsigned char>(c)) == 0 && c != ':' && c != '.') return false;
    }
    host = {};
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return false;
      port = rest.substr(close + 2);
      if (port.empty()) return false;
    }
  } else if (const std::size_t colon = rest.find(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty()) return false;
  }
  if (rest.front() != '[') {
    if (host.empty() || host.front() == '.' || host.front() == '-' || host.back() == '.') {
      return false;
    }
    for (const char c : host) {
      if (!IsHostChar(c)) return false;
    }
  }
  if (!port.empty()) {
    int number = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc() || end != port.data() + port.size() || number < 1 || number > 65535) {
      return false;
    }
  }
  return true;
}

Status CorsOrigins(const Environment& env, std::vector<std::string>& out) {
  constexpr const char* kVar = "CORS_ALLOWED_ORIGINS";
  auto it = env.find(kVar);
  if (it == env.end() || Trim(it->second).empty()) return {};
  std::vector<std::string> origins;
  std::string_view rest = it->second;
  while (true) {
    const std::size_t comma = rest.find(',');
    std::string entry = Trim(rest.substr(0, comma));
    if (entry != "*" && !IsOrigin(entry)) {
      return Bad(kVar,
                 "expected * or comma-separated origins like https://app.example.com (scheme, "
                 "host and optional port; no path), got \"" +
                     entry + "\"");
    }
    origins.push_back(std::move(entry));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (origins.size() > 1 && std::find(origins.begin(), origins.end(), "*") != origins.end()) {
    return Bad(kVar, "* allows every origin and must be the only entry");
  }
  out = std::move(origins);
  return {};
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// Splits an absolute http(s) URL into its lowercased scheme with "://", its authority and the
// rest (path, query, fragment), checking the authority: a host (a name, an IPv4 address or a
// bracketed IPv6 address) and an optional port 1..65535, no user info.
Result<std::array<std::string, 3>> SplitHttpUrl(const std::string& var, std::string_view url) {
  std::string scheme;
  if (StartsWithNoCase(url, "https://")) {
    scheme = "https://";
  } else if (StartsWithNoCase(url, "http://")) {
    scheme = "http://";
  } else {
    return Bad(var, "expected an http:// or https:// URL, got \"" + std::string(url) + "\"");
  }
  url.remove_prefix(scheme.size());
  const std::size_t end = url.find_first_of("/?#");
  const std::string_view authority = url.substr(0, end);
  const std::string_view rest = end == std::string_view::npos ? "" : url.substr(end);
  std::string_view host = authority;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos) return Bad(var, "malformed IPv6 host");
    port = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (host.empty() || host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) {
      return Bad(var, "malformed IPv6 host");
    }
    if (!port.empty() && port.front() != ':') return Bad(var, "malformed host");
  } else if (const std::size_t colon = host.find(':'); colon != std::string_view::npos) {
    port = host.substr(colon);
    host = host.substr(0, colon);
    if (host.empty() || host.find_first_not_of(
                            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") !=
                            std::string_view::npos) {
      return Bad(var, "expected a host name or address, got \"" + std::string(authority) + "\"");
    }
  } else if (host.empty() ||
             host.find_first_not_of(
                 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") !=
                 std::string_view::npos) {
    return Bad(var, "expected a host name or address, got \"" + std::string(authority) + "\"");
  }
  if (!port.empty()) {
    port.remove_prefix(1);  // ':'
    int number = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || number < 1 ||
        number > 65535) {
      return Bad(var, "expected a port between 1 and 65535 after the host");
    }
  }
  std::string lower_authority(authority);
  for (char& c : lower_authority) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return std::array<std::string, 3>{scheme, lower_authority, std::string(rest)};
}

// PUBLIC_BASE_URL: an origin; one trailing slash is dropped, any other path refused.
Status PublicBaseUrl(const Environment& env, std::string& out) {
  constexpr std::string_view kVar = "PUBLIC_BASE_URL";
  auto it = env.find(std::string(kVar));
  if (it == env.end()) return {};
  auto parts = SplitHttpUrl(std::string(kVar), it->second);
  if (!parts) return parts.error();
  const std::string& rest = (*parts)[2];
  if (!rest.empty() && rest != "/") {
    return Bad(std::string(kVar),
               "expected an origin (scheme://host[:port]) without a path, query or fragment, "
               "got \"" +
                   it->second + "\"");
  }
  out = (*parts)[0] + (*parts)[1];
  return {};
}

// REFERRAL_LANDING_URL: an absolute http(s) URL without a fragment (ref= joins its query), of
// printable ASCII that needs no escaping in a Location header. Empty counts as unset.
Status LandingUrl(const Environment& env, std::optional<std::string>& out) {
  constexpr std::string_view kVar = "REFERRAL_LANDING_URL";
  auto it = env.find(std::string(kVar));
  if (it == env.end() || it->second.empty()) return {};
  auto parts = SplitHttpUrl(std::string(kVar), it->second);
  if (!parts) return parts.error();
  const std::string& rest = (*parts)[2];
  if (rest.find('#') != std::string::npos) {
    return Bad(std::string(kVar), "must not have a fragment (#): ref=CODE is added to its query");
  }
  for (const char c : rest) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f ||
        std::string_view("\"<>\\^`{|}").find(c) != std::string_view::npos) {
      return Bad(std::string(kVar), "has a character that must be percent-encoded");
    }
  }
  out = (*parts)[0] + (*parts)[1] + rest;
  return {};
}

Status RetrySchedule(const Environment& env, const std::string& var, domain::RetrySchedule& out) {
  auto it = env.find(var);
  if (it == env.end()) return {};
  auto parsed = domain::RetrySchedule::Parse(it->second);
  if (!parsed) return Bad(var, parsed.error().message + ", got \"" + it->second + "\"");
  out = std::move(*parsed);
  return {};
}

}  // namespace

Result<Config> LoadConfig(const Environment& env) {
  Config c;
  // Every variable is read and checked, in this order; the first malformed one is reported.
  const std::initializer_list<Status> checks = {
      Host(env, c.host),
      Int(env, "PORT", 0, 65535, c.port),
      DatabaseUrl(env, c.database_url),
      Int(env, "DB_POOL_SIZE", 1, 256, c.db_pool_size),
      Int(env, "DATABASE_TIMEOUT_MS", 50, 600000, c.database_timeout_ms),
      JwtSecret(env, c.jwt_secret),
      Bool(env, "ENABLE_REFERRAL_SYSTEM", c.referral_enabled),
      Int(env, "REFERRAL_CODE_LENGTH", domain::kMinCodeLength, domain::kMaxCodeLength,
          c.referral.code_length),
      Int(env, "REFERRAL_CODE_EXPIRATION_DAYS", 1, domain::kMaxExpiresInDays,
          c.referral.code_expiration_days),
      Int(env, "REFERRAL_REWARD_DAYS", 1, 3650, c.referral.reward_days),
      Int(env, "REFERRAL_REWARD_CLAIM_DAYS", 0, 3650, c.referral.reward_claim_days),
      Int(env, "REFERRAL_REWARD_HOLD_DAYS", 0, domain::kMaxRewardHoldDays,
          c.referral.reward_hold_days),
      Int(env, "REFERRAL_MASTER_THRESHOLD", 1, 1000000, c.referral.master_threshold),
      Bool(env, "ENABLE_AUTOMATION_WORKER", c.worker_enabled),
      Cron(env, "CRON_EXPIRE_CODES", c.cron_expire_codes),
      Cron(env, "CRON_AWARD_BADGES", c.cron_award_badges),
      Cron(env, "CRON_HEALTH_CHECK", c.cron_health_check),
      Cron(env, "CRON_PURGE_IDEMPOTENCY_KEYS", c.cron_purge_idempotency_keys),
      Hours(env, "IDEMPOTENCY_TTL_HOURS", 1, domain::kMaxIdempotencyTtlHours, c.idempotency.ttl),
      OneOf(env, "LOG_LEVEL", {"trace", "debug", "info", "warn", "error", "off"}, c.log_level),
      OneOf(env, "LOG_FORMAT", {"text", "json"}, c.log_format),
      Int(env, "HTTP_WORKER_THREADS", 1, 64, c.http_worker_threads),
      Int(env, "RATE_LIMIT_FAILED_TRACKS_PER_HOUR", 0, 1000000, c.abuse.failed_tracks_per_hour),
      Int(env, "RATE_LIMIT_FAILED_TRACKS_PER_IP_PER_HOUR", 0, 1000000,
          c.abuse.failed_tracks_per_ip_per_hour),
      Int(env, "RATE_LIMIT_WRITES_PER_MINUTE", 0, 1000000, c.abuse.writes_per_minute),
      Bool(env, "TRUST_FORWARDED_FOR", c.trust_forwarded_for),
      PublicBaseUrl(env, c.public_base_url),
      LandingUrl(env, c.referral_landing_url),
      Bool(env, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", c.webhook_allow_private_networks),
      RetrySchedule(env, "WEBHOOK_RETRY_SCHEDULE_SECONDS", c.webhook_retry_schedule),
      Int(env, "WEBHOOK_POLL_INTERVAL_MS", 10, 60000, c.webhook_poll_interval_ms),
      Int(env, "WEBHOOK_DELIVERY_THREADS", 1, 32, c.webhook_delivery_threads),
      CorsOrigins(env, c.cors_allowed_origins),
  };
  for (const Status& check : checks) {
    if (!check) return check.error();
  }
  return c;
}

Status CheckJwtSecretForTokens(const std::string& secret) {
  if (secret.empty()) {
    return Bad("JWT_SECRET",
               "required to serve and to mint tokens (set it in the environment or .env; `make "
               "run` creates one)");
  }
  if (secret == kJwtSecretPlaceholder) {
    return Bad("JWT_SECRET",
               "still the placeholder of .env.example; set a random secret of at least " +
                   std::to_string(kMinJwtSecretLength) +
                   " characters (e.g. `openssl rand -hex 32`)");
  }
  if (secret.size() < kMinJwtSecretLength) {
    return Bad("JWT_SECRET", "must be at least " + std::to_string(kMinJwtSecretLength) +
                                 " characters (e.g. `openssl rand -hex 32`)");
  }
  return {};
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
      return MakeError(ErrorCode::kInvalidArgument, Reason::kInvalidConfig,
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
