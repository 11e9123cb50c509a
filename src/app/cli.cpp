#include "app/cli.hpp"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "app/app.hpp"
#include "app/config.hpp"
#include "app/logging.hpp"
#include "domain/read_model_check.hpp"
#include "http/json_mapping.hpp"
#include "http/jwt.hpp"
#include "util/uuid.hpp"
#include "util/version.hpp"

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

// Exit codes shared by every command (each documents its others).
constexpr int kExitConfig = 2;  // bad configuration
constexpr int kExitUsage = 2;   // a command line CLI11 cannot parse

// The one-shot commands log to stderr so that stdout carries only their result.
void SetUpCommandLogging(const Config& config) {
  SetUpLogging(config.log_format == "json" ? LogFormat::kJson : LogFormat::kText, config.log_level,
               /*to_stderr=*/true);
}

// serve writes every line, its own and spdlog's, on stdout and stderr in the LOG_FORMAT format:
// with json, each is one JSON object (contract section 13).
int Serve() {
  auto env = ReadEnvironment(kDotEnv);
  // Known before the configuration is: a configuration error is a JSON line too.
  const LogFormat format = env && env->count("LOG_FORMAT") != 0 && env->at("LOG_FORMAT") == "json"
                               ? LogFormat::kJson
                               : LogFormat::kText;
  const auto fail = [format](const std::string& message) {
    std::cerr << FormatLine(format, "error", "referrald: " + message) << std::flush;
  };
  const auto say = [format](std::string_view message) {
    std::cout << FormatLine(format, "info", message);
  };
  if (!env) {
    fail(env.error().message);
    return kExitConfig;
  }
  auto config = LoadConfig(*env);
  if (!config) {
    fail("invalid configuration: " + config.error().message);
    return kExitConfig;
  }
  SetUpLogging(format, config->log_level, /*to_stderr=*/false);
  if (Status secret = CheckJwtSecretForTokens(config->jwt_secret); !secret) {
    fail("invalid configuration: " + secret.error().message);
    return kExitConfig;
  }
  // Block the shutdown signals before any thread starts so only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto app = App::Create(*config);
  if (!app) {
    fail(app.error().message);
    return kExitConfig;
  }
  if (auto started = (*app)->Start(); !started) {
    fail(started.error().message);
    return kExitConfig;
  }
  say("🚀 referrald listening on http://" + config->host + ":" + std::to_string((*app)->port()) +
      " (database " +
      (config->database_url.rfind("sqlite:", 0) == 0 ? config->database_url : "postgres") + ")");
  say("   Mint a token: build/release/referrald token --sub 11111111-1111-4111-8111-111111111111 "
      "--email alice@example.com [--role admin]");
  if ((*app)->worker_running()) {
    say("✅ Automation worker started successfully");
    say("📅 Scheduled jobs:");
    for (const auto& line : DescribeSchedule(*config, SystemClock().Now())) say("  - " + line);
  } else {
    say("⏸  Automation worker disabled (ENABLE_AUTOMATION_WORKER=false); jobs run only when "
        "triggered");
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
  if (!config) return kExitConfig;
  SetUpCommandLogging(*config);
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
  if (!config) return kExitConfig;
  if (Status secret = CheckJwtSecretForTokens(config->jwt_secret); !secret) {
    std::cerr << "referrald: invalid configuration: " << secret.error().message << "\n";
    return kExitConfig;
  }
  if (!IsUuid(sub)) {
    std::cerr << "referrald: --sub must be a UUID\n";
    return kExitUsage;
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
  if (!config) return kExitConfig;
  SetUpCommandLogging(*config);
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
  if (!config) return kExitConfig;
  SetUpCommandLogging(*config);
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

// What a usage error's message adds: the subcommands and options valid where parsing stopped
// (the innermost subcommand it had entered).
std::string UsageHint(const CLI::App& cli) {
  const CLI::App* at = &cli;
  std::string command = "referrald";
  for (bool deeper = true; deeper;) {
    deeper = false;
    for (const CLI::App* sub : at->get_subcommands()) {
      if (sub->parsed()) {
        at = sub;
        command += " " + sub->get_name();
        deeper = true;
        break;
      }
    }
  }
  std::string hint;
  std::string names;
  for (const CLI::App* sub : at->get_subcommands({})) {
    names.append(names.empty() ? "" : ", ").append(sub->get_name());
  }
  if (!names.empty()) hint += "valid subcommands of `" + command + "`: " + names + "\n";
  names.clear();
  for (const CLI::Option* option : at->get_options()) {
    names.append(names.empty() ? "" : ", ").append(option->get_name());
  }
  if (!names.empty()) hint += "valid options of `" + command + "`: " + names + "\n";
  return hint + "run `" + command + " --help` for more\n";
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App cli{"referrald: a referral-program service (codes, referrals, rewards, analytics)"};
  cli.require_subcommand(0, 1);
  cli.set_version_flag("--version", "referrald " + std::string(Version()),
                       "Print the version and exit");

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
    // --help and --version "fail" with success: CLI11 prints them.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return cli.exit(e);
    std::cerr << "referrald: " << e.what() << "\n" << UsageHint(cli) << std::flush;
    return kExitUsage;
  }
  if (*migrate) return Migrate();
  if (*token) return Token(sub, email, role, ttl);
  if (*job_run) return RunJob(job_name);
  if (*verify) return VerifyAggregates(repair);
  (void)serve;
  return Serve();
}

}  // namespace referrald::app
