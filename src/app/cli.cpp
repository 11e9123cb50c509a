#include "app/cli.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "app/app.hpp"
#include "app/config.hpp"
#include "domain/read_model_check.hpp"
#include "http/json_mapping.hpp"
#include "http/jwt.hpp"
#include "util/uuid.hpp"

namespace referrald::app {
namespace {

constexpr const char* kDotEnv = ".env";

// Loads .env + environment and validates it. Prints the error naming the variable.
std::optional<Config> LoadOrReport() {
  auto env = ReadEnvironment(kDotEnv);
  if (!env) {
    std::cerr << "referrald: " << env.error().message << "\n";
    return std::nullopt;
  }
  auto config = LoadConfig(*env);
  if (!config) {
    std::cerr << "referrald: invalid configuration: " << config.error().message << "\n";
    return std::nullopt;
  }
  return *config;
}

// Writes the log message JSON-escaped, for LOG_FORMAT=json.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*tm*/,
              spdlog::memory_buf_t& dest) override {
    const std::string escaped = nlohmann::json(std::string(msg.payload.data(), msg.payload.size()))
                                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    // Drop the surrounding quotes: the pattern supplies them.
    dest.append(escaped.data() + 1, escaped.data() + escaped.size() - 1);
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

// `serve` logs to stdout; the one-shot commands log to stderr so stdout carries only their result.
void SetUpLogging(const Config& config, bool to_stderr = false) {
  if (to_stderr) spdlog::set_default_logger(spdlog::stderr_color_mt("referrald"));
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  if (config.log_format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%*"})");
    spdlog::set_formatter(std::move(formatter));
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v", spdlog::pattern_time_type::utc);
  }
}

int Serve() {
  auto config = LoadOrReport();
  if (!config) return 2;
  SetUpLogging(*config);
  if (config->jwt_secret.empty()) {
    std::cerr << "referrald: invalid configuration: JWT_SECRET: required by serve "
                 "(set it in the environment or .env; `make run` creates one)\n";
    return 2;
  }
  // Block the shutdown signals before any thread starts so only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto app = App::Create(*config);
  if (!app) {
    std::cerr << "referrald: " << app.error().message << "\n";
    return 2;
  }
  if (auto started = (*app)->Start(); !started) {
    std::cerr << "referrald: " << started.error().message << "\n";
    return 2;
  }
  std::cout << "🚀 referrald listening on http://" << config->host << ":" << (*app)->port()
            << " (database "
            << (config->database_url.rfind("sqlite:", 0) == 0 ? config->database_url : "postgres")
            << ")\n"
            << "   Mint a token: build/release/referrald token --sub "
               "11111111-1111-4111-8111-111111111111 --email alice@example.com [--role admin]\n";
  if ((*app)->worker_running()) {
    std::cout << "✅ Automation worker started successfully\n📅 Scheduled jobs:\n";
    for (const auto& line : DescribeSchedule(*config, SystemClock().Now())) {
      std::cout << "  - " << line << "\n";
    }
  } else {
    std::cout << "⏸  Automation worker disabled (ENABLE_AUTOMATION_WORKER=false); "
                 "jobs run only when triggered\n";
  }
  std::cout << std::flush;
  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("received {}, shutting down", received == SIGTERM ? "SIGTERM" : "SIGINT");
  (*app)->Stop();
  spdlog::info("stopped");
  return 0;
}

int Migrate() {
  auto config = LoadOrReport();
  if (!config) return 2;
  SetUpLogging(*config, /*to_stderr=*/true);
  auto store = OpenStore(*config);
  if (!store) {
    std::cerr << "referrald: " << store.error().message << "\n";
    return 1;
  }
  std::cout << "migrations applied\n";
  return 0;
}

int Token(const std::string& sub, const std::string& email, const std::string& role,
          std::int64_t ttl) {
  auto config = LoadOrReport();
  if (!config) return 2;
  if (config->jwt_secret.empty()) {
    std::cerr << "referrald: invalid configuration: JWT_SECRET: required by token\n";
    return 2;
  }
  if (!IsUuid(sub)) {
    std::cerr << "referrald: --sub must be a UUID\n";
    return 2;
  }
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(SystemClock().Now().time_since_epoch())
          .count();
  http::Claims claims;
  claims.sub = CanonicalUuid(sub);
  claims.email = email;
  if (!role.empty()) claims.role = role;
  claims.iat = now;
  claims.exp = now + ttl;
  std::cout << http::SignToken(claims, config->jwt_secret) << "\n";
  return 0;
}

// Runs one job through the same domain code as the scheduler and the admin route.
// Exit 0 on success, 1 when the job failed, 2 for an unknown job or bad configuration.
int RunJob(const std::string& name) {
  auto config = LoadOrReport();
  if (!config) return 2;
  SetUpLogging(*config, /*to_stderr=*/true);
  if (!domain::JobRunner::IsKnown(name)) {
    std::string names;
    for (const auto known : domain::JobRunner::Names()) {
      names.append(names.empty() ? "" : ", ").append(known);
    }
    std::cerr << "referrald: unknown job \"" << name << "\" (" << names << ")\n";
    return 2;
  }
  SystemClock clock;
  SystemRandom random;
  UuidV7Generator ids(random);
  auto store = OpenStore(*config);
  if (!store) {
    std::cerr << "referrald: " << store.error().message << "\n";
    return 1;
  }
  domain::JobRunner jobs(**store, clock, ids, config->referral, clock.Now(), nullptr,
                         config->idempotency);
  auto result = jobs.Run(name);
  if (!result) {
    std::cerr << "referrald: " << result.error().message << "\n";
    return 2;
  }
  std::cout << http::JobResultJson(*result).dump() << "\n";
  return result->status == domain::AuditStatus::kSuccess ? 0 : 1;
}

// Compares every read model with a recount over the base tables; with `repair`, rebuilds the
// aggregates when they differ. Exit 0 when they match, 1 when they differed (repaired or not),
// 2 for bad configuration, 3 when the database failed.
int VerifyAggregates(bool repair) {
  auto config = LoadOrReport();
  if (!config) return 2;
  SetUpLogging(*config, /*to_stderr=*/true);
  auto clock = std::make_shared<SystemClock>();
  auto store = OpenStore(*config, clock);
  if (!store) {
    std::cerr << "referrald: " << store.error().message << "\n";
    return 3;
  }
  auto differences = domain::CheckReadModels(**store, clock->Now());
  if (!differences) {
    std::cerr << "referrald: " << differences.error().message << "\n";
    return 3;
  }
  if (differences->empty()) {
    std::cout << "aggregates match the base tables\n";
    return 0;
  }
  for (const auto& difference : *differences) std::cout << "difference: " << difference << "\n";
  if (!repair) {
    std::cout << differences->size() << " difference(s); run with --repair to rebuild\n";
    return 1;
  }
  if (auto rebuilt = (*store)->RebuildAggregates(clock->Now()); !rebuilt) {
    std::cerr << "referrald: " << rebuilt.error().message << "\n";
    return 3;
  }
  auto after = domain::CheckReadModels(**store, clock->Now());
  if (!after) {
    std::cerr << "referrald: " << after.error().message << "\n";
    return 3;
  }
  for (const auto& difference : *after) std::cout << "after the rebuild: " << difference << "\n";
  std::cout << "aggregates rebuilt from the base tables"
            << (after->empty() ? "; they match now" : "; writes ran meanwhile, check again")
            << "\n";
  return 1;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App cli{"referrald: a referral-program service (codes, referrals, rewards, analytics)"};
  cli.require_subcommand(0, 1);

  auto* serve =
      cli.add_subcommand("serve", "Serve the HTTP API and the automation worker (default)");
  auto* migrate = cli.add_subcommand("migrate", "Create or upgrade the database schema and exit");

  auto* token = cli.add_subcommand("token", "Print a signed JWT for local use and demos");
  std::string sub;
  std::string email;
  std::string role;
  std::int64_t ttl = 3600;
  token->add_option("--sub", sub, "The user's id (a UUID)")->required();
  token->add_option("--email", email, "The user's email")->required();
  token->add_option("--role", role, "\"admin\" for an administrator")
      ->check(CLI::IsMember({"admin", "user"}));
  token->add_option("--ttl", ttl, "Lifetime in seconds")
      ->check(CLI::Range(1, 31536000))
      ->capture_default_str();

  auto* job = cli.add_subcommand("job", "Worker jobs");
  job->require_subcommand(1);
  auto* job_run = job->add_subcommand("run", "Run one worker job now, log it, print its result");
  std::string job_name;
  job_run->add_option("NAME", job_name, "expire-codes | award-badges | health-check")->required();

  auto* verify = cli.add_subcommand(
      "verify-aggregates",
      "Compare every read model with a recount over the base tables (exit 1 on a difference)");
  bool repair = false;
  verify->add_flag("--repair", repair,
                   "Rebuild the aggregates from the base tables when they differ");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }
  if (*migrate) return Migrate();
  if (*token) return Token(sub, email, role, ttl);
  if (*job_run) return RunJob(job_name);
  if (*verify) return VerifyAggregates(repair);
  (void)serve;
  return Serve();
}

}  // namespace referrald::app
