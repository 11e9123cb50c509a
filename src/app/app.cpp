#include "app/app.hpp"

#include "domain/user_directory.hpp"
#include "http/jwt.hpp"
#include "http/server.hpp"
#include "storage/sqlite_store.hpp"

namespace referrald::app {

Result<std::unique_ptr<domain::Store>> OpenStore(const std::string& database_url,
                                                 const Clock& /*clock*/, RandomSource& random) {
  constexpr std::string_view kSqlite = "sqlite:";
  if (database_url.rfind(kSqlite, 0) == 0) {
    auto store = storage::SqliteStore::Open(database_url.substr(kSqlite.size()), random);
    if (!store) return store.error();
    return std::unique_ptr<domain::Store>(std::move(*store));
  }
  if (database_url.rfind("postgres://", 0) == 0 || database_url.rfind("postgresql://", 0) == 0) {
    return MakeError(ErrorCode::kInvalidArgument, "INVALID_CONFIG",
                     "DATABASE_URL: PostgreSQL is not supported by this build yet");
  }
  return MakeError(ErrorCode::kInvalidArgument, "INVALID_CONFIG",
                   "DATABASE_URL: expected sqlite:PATH or postgres://…");
}

struct App::Impl {
  Config config;
  std::shared_ptr<Clock> clock;
  std::shared_ptr<RandomSource> random;
  std::unique_ptr<domain::Store> store;
  std::unique_ptr<domain::ReferralService> referrals;
  std::unique_ptr<domain::SandboxPaymentProvider> payments;
  std::unique_ptr<domain::SubscriptionService> subscriptions;
  std::unique_ptr<domain::UserDirectory> users;
  std::unique_ptr<http::JwtVerifier> jwt;
  std::unique_ptr<http::Server> server;
};

App::App() : impl_(std::make_unique<Impl>()) {}
App::~App() { Stop(); }

Result<std::unique_ptr<App>> App::Create(Config config, std::shared_ptr<Clock> clock,
                                         std::shared_ptr<RandomSource> random) {
  if (config.jwt_secret.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "INVALID_CONFIG",
                     "JWT_SECRET: required to serve (see README: make run creates one in .env)");
  }
  std::unique_ptr<App> app(new App());
  Impl& s = *app->impl_;
  s.config = std::move(config);
  s.clock = clock ? std::move(clock) : std::make_shared<SystemClock>();
  s.random = random ? std::move(random) : std::make_shared<SystemRandom>();
  auto store = OpenStore(s.config.database_url, *s.clock, *s.random);
  if (!store) return store.error();
  s.store = std::move(*store);
  s.referrals =
      std::make_unique<domain::ReferralService>(*s.store, *s.clock, *s.random, s.config.referral);
  s.payments = std::make_unique<domain::SandboxPaymentProvider>(*s.random, *s.clock);
  s.subscriptions = std::make_unique<domain::SubscriptionService>(
      *s.store, *s.payments, *s.referrals, *s.clock, *s.random);
  s.users = std::make_unique<domain::UserDirectory>(*s.store, *s.clock);
  s.jwt = std::make_unique<http::JwtVerifier>(s.config.jwt_secret);
  http::ServerOptions options{s.config.host, s.config.port, s.config.http_worker_threads,
                              s.config.referral_enabled};
  s.server = std::make_unique<http::Server>(
      options, http::Dependencies{*s.referrals, *s.subscriptions, *s.users, *s.store, *s.clock,
                                  *s.random, *s.jwt});
  return app;
}

Status App::Start() { return impl_->server->Start(); }

std::uint16_t App::port() const { return impl_->server->port(); }

void App::Stop() {
  if (impl_ && impl_->server) impl_->server->Stop();
}

domain::Store& App::store() { return *impl_->store; }
domain::ReferralService& App::referrals() { return *impl_->referrals; }
const Config& App::config() const { return impl_->config; }

}  // namespace referrald::app
