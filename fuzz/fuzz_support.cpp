#include "fuzz_support.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>  // mkdtemp

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "domain/errors.hpp"
#include "http/request_id.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace referrald::fuzz {

namespace {

constexpr std::int64_t kNowSeconds = 1749988800;  // FixedNow()
constexpr std::int64_t kHundredYears = 100LL * 366 * 24 * 3600;

std::string* g_world_dir = nullptr;  // removed at exit

void RemoveWorldDir() {
  if (g_world_dir == nullptr || g_world_dir->empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(*g_world_dir, ignored);
}

std::string MakeTempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/referrald-fuzz.XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) Fail("cannot create a temporary directory");
  return pattern;
}

std::string Base64Url(std::string_view bytes) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  auto at = [&bytes](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (at(i) << 16U) | (at(i + 1) << 8U) | at(i + 2);
    out.push_back(kAlphabet[(v >> 18U) & 63U]);
    out.push_back(kAlphabet[(v >> 12U) & 63U]);
    out.push_back(kAlphabet[(v >> 6U) & 63U]);
    out.push_back(kAlphabet[v & 63U]);
  }
  if (bytes.size() - i == 1) {
    const std::uint32_t v = at(i) << 16U;
    out.push_back(kAlphabet[(v >> 18U) & 63U]);
    out.push_back(kAlphabet[(v >> 12U) & 63U]);
  } else if (bytes.size() - i == 2) {
    const std::uint32_t v = (at(i) << 16U) | (at(i + 1) << 8U);
    out.push_back(kAlphabet[(v >> 18U) & 63U]);
    out.push_back(kAlphabet[(v >> 12U) & 63U]);
    out.push_back(kAlphabet[(v >> 6U) & 63U]);
  }
  return out;
}

void Check(bool ok, std::string_view what) {
  if (!ok) Fail(what);
}

http::Claims ClaimsOf(std::string sub, std::string email, bool admin) {
  http::Claims claims;
  claims.sub = std::move(sub);
  claims.email = std::move(email);
  if (admin) claims.role = "admin";
  claims.iat = kNowSeconds;
  claims.exp = kNowSeconds + kHundredYears;
  return claims;
}

std::string Truncated(std::string_view s) {
  constexpr std::size_t kMax = 4000;
  return s.size() <= kMax ? std::string(s) : std::string(s.substr(0, kMax)) + "…";
}

bool HasBreak(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

}  // namespace

TimePoint FixedNow() { return TimePoint{std::chrono::seconds{kNowSeconds}}; }

void SeededRandom::Fill(std::span<std::uint8_t> out) {
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < out.size(); i += 8) {
    state_ += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
    z ^= z >> 31U;
    for (std::size_t k = 0; k < 8 && i + k < out.size(); ++k) {
      out[i + k] = static_cast<std::uint8_t>(z >> (8U * k));
    }
  }
}

std::string UserId(int i) { return "00000000-0000-4000-8000-0000000000a" + std::to_string(i); }
std::string AdminId() { return "00000000-0000-4000-8000-0000000000ad"; }

std::string SignPayload(std::string_view header_json, std::string_view payload_json) {
  const std::string input = Base64Url(header_json) + "." + Base64Url(payload_json);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_length = 0;
  if (HMAC(EVP_sha256(), kJwtSecret.data(), static_cast<int>(kJwtSecret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(),
           &mac_length) == nullptr) {
    Fail("HMAC failed");
  }
  return input + "." +
         Base64Url(std::string_view(reinterpret_cast<const char*>(mac.data()), mac_length));
}

Result<domain::WebhookTarget> NoResolver::Resolve(std::string_view /*url*/) {
  return domain::errors::InvalidWebhookUrl("the host does not resolve");
}

World::World() : dir(MakeTempDir()) {
  g_world_dir = new std::string(dir);  // NOLINT: lives until exit, read by the atexit handler
  std::atexit(RemoveWorldDir);
  // The pipeline logs a line per request; only errors (an escaped exception) are worth seeing.
  spdlog::set_level(spdlog::level::err);

  storage::SqliteOptions sqlite_options;
  sqlite_options.now = [] { return FixedNow(); };
  auto opened = storage::SqliteStore::Open(dir + "/fuzz.db", sqlite_options);
  if (!opened) Fail("cannot open the fuzz database: " + opened.error().message);
  store = std::move(*opened);

  const domain::ReferralSettings settings;
  referrals =
      std::make_unique<domain::ReferralService>(*store, clock, random, ids, settings, &metrics);
  payments = std::make_unique<domain::SandboxPaymentProvider>(ids, clock);
  subscriptions =
      std::make_unique<domain::SubscriptionService>(*store, *payments, *referrals, clock, ids);
  users = std::make_unique<domain::UserDirectory>(*store, clock);
  jobs = std::make_unique<domain::JobRunner>(*store, clock, ids, settings, clock.Now(), &metrics);
  idempotency = std::make_unique<domain::IdempotencyService>(*store, clock, ids,
                                                             domain::IdempotencySettings{});
  webhooks = std::make_unique<domain::WebhookService>(*store, resolver, clock, random, ids,
                                                      /*allow_private_networks=*/false);
  personal_data = std::make_unique<domain::PersonalDataService>(*store, clock, ids, *subscriptions);
  deps = std::make_unique<http::Dependencies>(
      http::Dependencies{*referrals, *subscriptions, *users, *store, clock, random, jwt, *jobs,
                         metrics, abuse, *idempotency, *webhooks, *personal_data, clock.Now()});
  http::ServerOptions options;
  options.trust_forwarded_for = true;  // so that X-Forwarded-For parsing is fuzzed too
  pipeline = std::make_unique<http::Pipeline>(*deps, options);

  for (int i = 0; i < kUsers; ++i) {
    user_tokens.push_back(http::SignToken(
        ClaimsOf(UserId(i), "user" + std::to_string(i) + "@example.com", false), kJwtSecret));
  }
  admin_token = http::SignToken(ClaimsOf(AdminId(), "admin@example.com", true), kJwtSecret);

  // Users 0..5 have codes; 1 and 2 were referred by 0, 3 by 1; 1 paid, so 0 has a reward to
  // claim and 2 a pending referral to convert. Users 4..7 are free to be referred.
  codes.assign(kUsers, "");
  auto actor = [](int i) {
    return domain::Actor{UserId(i), "user" + std::to_string(i) + "@example.com"};
  };
  for (int i = 0; i < 6; ++i) {
    auto code = referrals->GenerateCode(actor(i), std::nullopt);
    Check(static_cast<bool>(code), "world: GenerateCode failed");
    codes[static_cast<std::size_t>(i)] = code->code;
  }
  Check(static_cast<bool>(referrals->Track(actor(1), codes[0])), "world: track 1 → 0 failed");
  Check(static_cast<bool>(referrals->Track(actor(2), codes[0])), "world: track 2 → 0 failed");
  Check(static_cast<bool>(referrals->Track(actor(3), codes[1])), "world: track 3 → 1 failed");
  Check(static_cast<bool>(subscriptions->Create(actor(1), "premium", "fuzz-nonce")),
        "world: subscription of 1 failed");
  auto rewards = referrals->Rewards(UserId(0), domain::PageRequest{});
  Check(rewards && !rewards->items.empty(), "world: user 0 has no reward");
  reward_id = rewards->items.front().id;
}

World::~World() = default;

World& TheWorld() {
  static World* world = new World();  // NOLINT: never destroyed, see the header
  return *world;
}

std::string Expand(std::string_view input, const World& world) {
  std::string out;
  out.reserve(input.size());
  std::size_t i = 0;
  while (i < input.size()) {
    if (input.substr(i, 2) != "{{") {
      out.push_back(input[i++]);
      continue;
    }
    const std::string_view rest = input.substr(i + 2);
    if (rest.substr(0, 2) == "J:") {
      const std::size_t end = rest.find(":J}}");
      if (end != std::string_view::npos) {
        out += SignPayload(R"({"alg":"HS256","typ":"JWT"})", rest.substr(2, end - 2));
        i += 2 + end + 4;
        continue;
      }
    } else if (rest.size() >= 3 && rest.substr(1, 2) == "}}") {
      if (rest[0] == 'A' || rest[0] == 'R') {
        out += rest[0] == 'A' ? world.admin_token : world.reward_id;
        i += 5;
        continue;
      }
      if (rest[0] == 'Z') {
        out.append(http::kMaxBodyBytes + 1, 'z');
        i += 5;
        continue;
      }
    } else if (rest.size() >= 4 && rest.substr(2, 2) == "}}" && rest[1] >= '0' &&
               rest[1] < '0' + kUsers) {
      const auto n = static_cast<std::size_t>(rest[1] - '0');
      if (rest[0] == 'T' || rest[0] == 'C' || rest[0] == 'U') {
        out += rest[0] == 'T'   ? world.user_tokens[n]
               : rest[0] == 'C' ? world.codes[n]
                                : UserId(static_cast<int>(n));
        i += 6;
        continue;
      }
    }
    out.push_back(input[i++]);
  }
  return out;
}

void CheckResponse(const http::Request& request, const http::Response& response) {
  static const bool kVerbose = std::getenv("REFERRALD_FUZZ_VERBOSE") != nullptr;
  if (kVerbose) {
    std::fprintf(stderr, "fuzz: %s %s -> %d %s\n", Truncated(request.method).c_str(),
                 Truncated(request.path).c_str(), response.status,
                 response.body.substr(0, 160).c_str());
  }
  static constexpr std::array<int, 14> kStatuses{200, 201, 204, 400, 401, 402, 403,
                                                 404, 405, 409, 413, 422, 429, 503};
  bool known = false;
  for (int s : kStatuses) known = known || s == response.status;
  if (!known) Fail("a status the contract does not list", request, response);
  if (response.status >= 500 && response.status != 503) {
    Fail("a 5xx other than 503", request, response);
  }
  for (const auto& [name, value] : response.headers) {
    if (name.empty() || HasBreak(name) || HasBreak(value)) {
      Fail("a header name or value with CR, LF or NUL (or an empty name)", request, response);
    }
  }
  const auto request_id = response.Header("X-Request-Id");
  if (!request_id || !http::IsSaneRequestId(*request_id)) {
    Fail("X-Request-Id missing or not sane", request, response);
  }
  if (response.status == 204) {  // a preflight or a deletion: nothing to type
    if (!response.body.empty()) Fail("a 204 with a body", request, response);
    return;
  }
  const auto content_type = response.Header("Content-Type");
  if (!content_type) Fail("no Content-Type", request, response);
  if (request.method == "HEAD") {
    if (!response.body.empty()) Fail("a HEAD answer with a body", request, response);
    return;
  }
  if (content_type->starts_with("text/plain")) {
    if (response.status != 200) Fail("a text/plain error", request, response);
    return;
  }
  if (!content_type->starts_with("application/json")) {
    Fail("an unexpected Content-Type", request, response);
  }
  const auto body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_discarded()) Fail("a JSON body that does not parse", request, response);
  if (response.status >= 400) {
    // A replayed answer (Idempotency-Key) keeps the requestId of the request that made it.
    const bool replayed = response.Header("Idempotent-Replayed").has_value();
    if (!body.is_object() || !body.contains("error") || !body["error"].is_string() ||
        !body.contains("code") || !body["code"].is_string() ||
        body["code"].get_ref<const std::string&>().empty() || !body.contains("requestId") ||
        !body["requestId"].is_string() ||
        (!replayed && body["requestId"] != std::string(*request_id))) {
      Fail("an error body that is not {error, code, requestId = X-Request-Id}", request, response);
    }
  }
}

void Fail(std::string_view what, const http::Request& request, const http::Response& response) {
  std::fprintf(stderr, "\n==== fuzz invariant broken: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::fprintf(stderr, "request: %s %s (%zu query parameters, query_valid=%d)\n",
               Truncated(request.method).c_str(), Truncated(request.path).c_str(),
               request.query.size(), request.query_valid ? 1 : 0);
  for (const auto& [name, value] : request.headers) {
    std::fprintf(stderr, "  %s: %s\n", Truncated(name).c_str(), Truncated(value).c_str());
  }
  std::fprintf(stderr, "request body (%zu bytes): %s\n", request.body.size(),
               Truncated(request.body).c_str());
  std::fprintf(stderr, "response: %d\n", response.status);
  for (const auto& [name, value] : response.headers) {
    std::fprintf(stderr, "  %s: %s\n", Truncated(name).c_str(), Truncated(value).c_str());
  }
  std::fprintf(stderr, "response body: %s\n", Truncated(response.body).c_str());
  std::abort();
}

void Fail(std::string_view what) {
  std::fprintf(stderr, "\n==== fuzz invariant broken: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::abort();
}

}  // namespace referrald::fuzz
