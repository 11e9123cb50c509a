#include "app/app.hpp"

#include <spdlog/spdlog.h>

#include "delivery/curl_sender.hpp"
#include "delivery/delivery_worker.hpp"
#include "delivery/target_resolver.hpp"
#include "domain/personal_data.hpp"
#include "domain/user_directory.hpp"
#include "domain/webhook_dispatcher.hpp"
#include "domain/webhook_service.hpp"
#include "http/jwt.hpp"
#include "http/server.hpp"
#include "storage/postgres/postgres_store.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "util/time_format.hpp"
#include "worker/cron.hpp"
#include "worker/scheduler.hpp"

namespace referrald::app {
namespace {

struct ScheduledJob {
  std::string_view name;
  std::string_view description;
  const std::string Config::*cron;
};

constexpr ScheduledJob kScheduledJobs[] = {
    {domain::kJobExpireCodes, "Expired codes cleanup", &Config::cron_expire_codes},
    {domain::kJobAwardBadges, "Badge awards check", &Config::cron_award_badges},
    {domain::kJobHealthCheck, "Health check", &Config::cron_health_check},
    {domain::kJobPurgeIdempotencyKeys, "Idempotency keys purge",
     &Config::cron_purge_idempotency_keys},
};

// PUBLIC_BASE_URL (default http://localhost:PORT), REFERRAL_LANDING_URL, and the visitor hash key
// derived from JWT_SECRET.
http::LinkOptions LinkOptionsOf(const Config& config) {
  http::LinkOptions links;
  links.public_base_url = config.public_base_url.empty()
                              ? "http://localhost:" + std::to_string(config.port)
                              : config.public_base_url;
  links.landing_url = config.referral_landing_url;
  links.visitor_key = http::DeriveVisitorKey(config.jwt_secret);
  links.trust_forwarded_for = config.trust_forwarded_for;
  return links;
}

}  // namespace

Result<std::unique_ptr<domain::Store>> OpenStore(const Config& config,
                                                 std::shared_ptr<const Clock> clock) {
  constexpr std::string_view kSqlite = "sqlite:";
  const std::string& database_url = config.database_url;
  const std::chrono::milliseconds timeout(config.database_timeout_ms);
  if (!clock) clock = std::make_shared<SystemClock>();
  auto now = [clock] { return clock->Now(); };
  if (database_url.rfind(kSqlite, 0) == 0) {
    storage::SqliteOptions options;
    options.timeout = timeout;
    options.now = now;
    auto store = storage::SqliteStore::Open(database_url.substr(kSqlite.size()), options);
    if (!store) return store.error();
    return std::unique_ptr<domain::Store>(std::move(*store));
  }
  if (database_url.rfind("postgres://", 0) == 0 || database_url.rfind("postgresql://", 0) == 0) {
    storage::PostgresOptions options;
    options.url = database_url;
    options.pool_size = config.db_pool_size;
    options.timeout = timeout;
    options.now = now;
    auto store = storage::PostgresStore::Open(options);
    if (!store) return store.error();
    return std::unique_ptr<domain::Store>(std::move(*store));
  }
  return MakeError(ErrorCode::kInvalidArgument, Reason::kInvalidConfig,
                   "DATABASE_URL: expected sqlite:PATH or postgres://…");
}

std::vector<std::string> DescribeSchedule(const Config& config, TimePoint now) {
  std::vector<std::string> lines;
  for (const auto& job : kScheduledJobs) {
    const std::string& text = config.*job.cron;
    auto cron = worker::CronExpression::Parse(text);
    std::string next = "never";
    if (cron) {
      if (auto t = cron->Next(now)) next = FormatIso8601(*t);
    }
    std::string line(job.description);
    line.append(" (").append(job.name).append("): \"").append(text).append("\" UTC, next ");
    line.append(next);
    lines.push_back(std::move(line));
  }
  return lines;
}

struct App::Impl {
  Config config;
  std::shared_ptr<Clock> clock;
  std::shared_ptr<RandomSource> random;
  std::shared_ptr<IdGenerator> ids;
  TimePoint started_at;
  Metrics metrics;
  std::unique_ptr<domain::Store> store;
  std::unique_ptr<domain::ReferralService> referrals;
  std::unique_ptr<domain::SandboxPaymentProvider> payments;
  std::unique_ptr<domain::SubscriptionService> subscriptions;
  std::unique_ptr<domain::UserDirectory> users;
  std::unique_ptr<domain::JobRunner> jobs;
  std::unique_ptr<domain::AbuseGuard> abuse;
  std::unique_ptr<domain::IdempotencyService> idempotency;
  std::unique_ptr<delivery::SystemTargetResolver> resolver;
  std::unique_ptr<domain::WebhookService> webhooks;
  std::unique_ptr<domain::PersonalDataService> personal_data;
  std::unique_ptr<delivery::CurlWebhookSender> sender;
  std::unique_ptr<domain::WebhookDispatcher> dispatcher;
  std::unique_ptr<delivery::DeliveryWorker> deliveries;
  std::unique_ptr<http::JwtVerifier> jwt;
  std::unique_ptr<http::Server> server;
  std::unique_ptr<worker::Worker> worker;
};

App::App() : impl_(std::make_unique<Impl>()) {}
App::~App() { Stop(); }

Result<std::unique_ptr<App>> App::Create(Config config, std::shared_ptr<Clock> clock,
                                         std::shared_ptr<RandomSource> random,
                                         std::shared_ptr<IdGenerator> ids) {
  if (Status secret = CheckJwtSecretForTokens(config.jwt_secret); !secret) return secret.error();
  std::unique_ptr<App> app(new App());
  Impl& s = *app->impl_;
  s.config = std::move(config);
  s.clock = clock ? std::move(clock) : std::make_shared<SystemClock>();
  s.random = random ? std::move(random) : std::make_shared<SystemRandom>();
  s.ids = ids ? std::move(ids) : std::make_shared<UuidV7Generator>(*s.random);
  s.started_at = s.clock->Now();

  // Parse the schedule before touching the database: a bad expression names its variable.
  worker::Scheduler scheduler;
  for (const auto& job : kScheduledJobs) {
    auto cron = worker::CronExpression::Parse(s.config.*job.cron);
    if (!cron) {
      return MakeError(ErrorCode::kInvalidArgument, Reason::kInvalidConfig,
                       "CRON for " + std::string(job.name) + ": " + cron.error().message);
    }
    Impl* impl = &s;
    const std::string_view name = job.name;
    scheduler.Add(std::string(name), std::move(*cron),
                  [impl, name](TimePoint slot) { (void)impl->jobs->RunScheduled(name, slot); });
  }

  auto store = OpenStore(s.config, s.clock);
  if (!store) return store.error();
  s.store = std::move(*store);
  s.referrals = std::make_unique<domain::ReferralService>(*s.store, *s.clock, *s.random, *s.ids,
                                                          s.config.referral, &s.metrics);
  s.payments = std::make_unique<domain::SandboxPaymentProvider>(*s.ids, *s.clock);
  s.subscriptions = std::make_unique<domain::SubscriptionService>(
      *s.store, *s.payments, *s.referrals, *s.clock, *s.ids, s.config.referral_enabled);
  s.users = std::make_unique<domain::UserDirectory>(*s.store, *s.clock);
  s.jobs = std::make_unique<domain::JobRunner>(*s.store, *s.clock, *s.ids, s.config.referral,
                                               s.started_at, &s.metrics, s.config.idempotency);
  s.idempotency = std::make_unique<domain::IdempotencyService>(*s.store, *s.clock, *s.ids,
                                                               s.config.idempotency);
  s.resolver = std::make_unique<delivery::SystemTargetResolver>();
  s.webhooks = std::make_unique<domain::WebhookService>(
      *s.store, *s.resolver, *s.clock, *s.random, *s.ids, s.config.webhook_allow_private_networks);
  s.personal_data =
      std::make_unique<domain::PersonalDataService>(*s.store, *s.clock, *s.ids, *s.subscriptions);
  s.sender = std::make_unique<delivery::CurlWebhookSender>(
      delivery::CurlSenderOptions{s.config.webhook_allow_private_networks});
  s.dispatcher = std::make_unique<domain::WebhookDispatcher>(
      *s.store, *s.sender, *s.clock, *s.random, *s.ids, s.config.webhook_retry_schedule);
  s.deliveries = std::make_unique<delivery::DeliveryWorker>(
      *s.dispatcher, delivery::DeliveryWorkerOptions{
                         s.config.webhook_delivery_threads,
                         std::chrono::milliseconds(s.config.webhook_poll_interval_ms)});
  s.jwt = std::make_unique<http::JwtVerifier>(s.config.jwt_secret);
  const bool sqlite = s.config.database_url.rfind("sqlite:", 0) == 0;
  const int workers = s.config.http_worker_threads > 0 ? s.config.http_worker_threads
                      : sqlite                         ? Config::kSqliteWorkerThreads
                                                       : s.config.db_pool_size;
  s.abuse = std::make_unique<domain::AbuseGuard>(s.config.abuse, *s.clock);
  http::ServerOptions options;
  options.host = s.config.host;
  options.port = s.config.port;
  options.worker_threads = workers;
  options.referral_enabled = s.config.referral_enabled;
  options.trust_forwarded_for = s.config.trust_forwarded_for;
  options.cors_allowed_origins = s.config.cors_allowed_origins;
  options.json_access_log = s.config.log_format == "json";
  s.server = std::make_unique<http::Server>(
      options,
      http::Dependencies{*s.referrals, *s.subscriptions, *s.users, *s.store, *s.clock, *s.random,
                         *s.jwt, *s.jobs, s.metrics, *s.abuse, *s.idempotency, *s.webhooks,
                         *s.personal_data, s.started_at, LinkOptionsOf(s.config)});
  if (s.config.worker_enabled) {
    s.worker = std::make_unique<worker::Worker>(std::move(scheduler), *s.clock);
  }
  return app;
}

Status App::Start() {
  if (auto started = impl_->server->Start(); !started) return started;
  impl_->deliveries->Start();
  if (impl_->worker) impl_->worker->Start();
  return {};
}

std::uint16_t App::port() const { return impl_->server->port(); }

void App::Stop() {
  if (!impl_) return;
  if (impl_->server) impl_->server->Stop();
  if (impl_->sender) impl_->sender->Abort();
  if (impl_->deliveries) impl_->deliveries->Stop();
  if (impl_->worker) impl_->worker->Stop();
}

bool App::worker_running() const { return impl_->worker != nullptr; }

void App::WakeWorker() {
  if (impl_->worker) impl_->worker->Wake();
}

void App::WakeDeliveries() {
  if (impl_->deliveries) impl_->deliveries->Wake();
}

domain::Store& App::store() { return *impl_->store; }
domain::ReferralService& App::referrals() { return *impl_->referrals; }
domain::JobRunner& App::jobs() { return *impl_->jobs; }
Metrics& App::metrics() { return impl_->metrics; }
const Config& App::config() const { return impl_->config; }

}  // namespace referrald::app
