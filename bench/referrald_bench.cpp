// referrald-bench: the benchmark harness's own tool (bench/run.sh drives it).
//
//   seed         creates referrers, referrals, conversions, rewards and badges through the
//                domain's use cases (in bulk: many operations per transaction), spread over 90
//                days, and writes the token files the wrk scenarios use.
//   commit-rate  the backend's raw single-row commit rate, for the write routes' goal.
//   contention   conversions of different referrers from many threads on PostgreSQL, with the
//                program-wide aggregates in 1 shard or in 16: the hot-row cost, measured.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "app/app.hpp"
#include "app/config.hpp"
#include "domain/jobs.hpp"
#include "domain/referral_service.hpp"
#include "http/jwt.hpp"
#include "storage/common/aggregates.hpp"
#include "storage/postgres/connection.hpp"
#include "storage/postgres/postgres_store.hpp"
#include "storage/sqlite/connection.hpp"
#include "util/ids.hpp"
#include "util/time_format.hpp"
#include "util/uuid.hpp"

namespace referrald::bench {
namespace {

using std::chrono::duration;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

// A clock the bulk loader sets to each operation's instant.
class SettableClock final : public Clock {
 public:
  [[nodiscard]] TimePoint Now() const override { return TimePoint{std::chrono::milliseconds{ms_}}; }
  void Set(TimePoint t) { ms_ = t.time_since_epoch().count(); }

 private:
  std::atomic<long long> ms_{0};
};

std::string Token(const std::string& secret, const std::string& sub, const std::string& email,
                  bool admin = false) {
  const auto now =
      std::chrono::duration_cast<seconds>(SystemClock().Now().time_since_epoch()).count();
  http::Claims claims;
  claims.sub = sub;
  claims.email = email;
  if (admin) claims.role = "admin";
  claims.iat = now;
  claims.exp = now + 7 * 24 * 3600;
  return http::SignToken(claims, secret);
}

std::unique_ptr<domain::Store> Open(const std::string& url) {
  app::Config config;
  config.database_url = url;
  config.database_timeout_ms = 600000;  // bulk transactions are long
  auto store = app::OpenStore(config);
  if (!store) {
    std::cerr << "referrald-bench: " << store.error().message << "\n";
    std::exit(1);
  }
  return std::move(*store);
}

// --- seed ---------------------------------------------------------------------------------------

struct SeedOptions {
  std::string url;
  std::string out;
  std::string secret;
  std::int64_t referrals = 10000;
  int referrers = 5000;
  int days = 90;
  double conversion = 0.3;
  int threads = 1;
  int batch = 1000;
  int tokens = 100000;
};

struct PlannedReferral {
  int referrer;
  domain::Actor referred;
  TimePoint created;
  std::optional<TimePoint> converted;
};

int Seed(const SeedOptions& o) {
  std::filesystem::create_directories(o.out);
  auto store = Open(o.url);
  SettableClock clock;
  SystemRandom random;
  UuidV7Generator ids(random);
  domain::ReferralSettings settings;
  domain::ReferralService referrals(*store, clock, random, ids, settings);
  const TimePoint now = SystemClock().Now();
  const TimePoint start = AddDays(now, -o.days);
  std::mt19937_64 rng(20261128);
  auto uniform_time = [&](TimePoint from, TimePoint to) {
    std::uniform_int_distribution<long long> pick(from.time_since_epoch().count(),
                                                  to.time_since_epoch().count());
    return TimePoint{std::chrono::milliseconds{pick(rng)}};
  };
  const auto began = SteadyClock::now();

  // Referrers and their codes, before the first referral.
  std::vector<domain::Actor> referrers;
  std::vector<std::string> codes;
  for (int i = 0; i < o.referrers; ++i) {
    referrers.push_back(
        {NewUuidV7(start, random), "referrer" + std::to_string(i) + "@example.com"});
  }
  for (std::size_t first = 0; first < referrers.size();
       first += static_cast<std::size_t>(o.batch)) {
    const std::size_t last = std::min(referrers.size(), first + static_cast<std::size_t>(o.batch));
    auto written = domain::Transact(*store, [&](domain::WriteTx& tx) -> Status {
      for (std::size_t i = first; i < last; ++i) {
        auto code = referrals.GenerateCodeIn(
            tx, referrers[i], referrals.NewCode(referrers[i], 365, AddDays(start, -1)));
        if (!code) return code.error();
        codes.push_back(code->code);
      }
      return {};
    });
    if (!written) {
      std::cerr << "referrald-bench: codes: " << written.error().machine() << "\n";
      return 1;
    }
  }

  // Referrals: a uniformly chosen referrer, a uniform instant in the last `days`, and for
  // `conversion` of them a conversion within five days (not after now).
  std::vector<std::vector<PlannedReferral>> per_thread(static_cast<std::size_t>(o.threads));
  std::uniform_int_distribution<int> pick_referrer(0, o.referrers - 1);
  std::bernoulli_distribution converts(o.conversion);
  for (std::int64_t i = 0; i < o.referrals; ++i) {
    PlannedReferral r{pick_referrer(rng),
                      {NewUuidV7(start, random), "referred" + std::to_string(i) + "@example.com"},
                      uniform_time(start, now),
                      std::nullopt};
    if (converts(rng)) r.converted = uniform_time(r.created, std::min(now, AddDays(r.created, 5)));
    // Threads own disjoint referrers and disjoint shards of the program-wide aggregates, so that
    // their bulk transactions (which touch many days' rows) never wait on one another's rows.
    const int shard = storage::ShardOf(referrers[static_cast<std::size_t>(r.referrer)].id, 16);
    per_thread[static_cast<std::size_t>(shard % o.threads)].push_back(std::move(r));
  }
  std::atomic<std::int64_t> tracked{0};
  std::atomic<std::int64_t> converted{0};
  std::atomic<bool> failed{false};
  std::vector<domain::Actor> pending;
  std::mutex pending_mu;
  std::vector<std::thread> workers;
  for (int t = 0; t < o.threads; ++t) {
    workers.emplace_back([&, t] {
      auto own_store = t == 0 ? nullptr : Open(o.url);
      domain::Store& s = t == 0 ? *store : *own_store;
      SettableClock own_clock;
      domain::ReferralService own(s, own_clock, random, ids, settings);
      const auto& plan = per_thread[static_cast<std::size_t>(t)];
      for (std::size_t first = 0; first < plan.size() && !failed;
           first += static_cast<std::size_t>(o.batch)) {
        const std::size_t last = std::min(plan.size(), first + static_cast<std::size_t>(o.batch));
        std::int64_t batch_tracked = 0;
        std::int64_t batch_converted = 0;
        auto written = domain::Transact(s, [&](domain::WriteTx& tx) -> Status {
          batch_tracked = batch_converted = 0;
          for (std::size_t i = first; i < last; ++i) {
            const auto& r = plan[i];
            auto referral =
                own.TrackIn(tx, r.referred, codes[static_cast<std::size_t>(r.referrer)], r.created);
            if (!referral) return referral.error();
            ++batch_tracked;
            if (!r.converted) continue;
            auto conversion = own.ConvertPending(tx, r.referred.id, *r.converted);
            if (!conversion) return conversion.error();
            ++batch_converted;
          }
          return {};
        });
        if (!written) {
          std::cerr << "referrald-bench: referrals: " << written.error().machine() << "\n";
          failed = true;
          return;
        }
        tracked += batch_tracked;
        converted += batch_converted;
        std::lock_guard lock(pending_mu);
        for (std::size_t i = first; i < last; ++i) {
          if (!plan[i].converted && pending.size() < static_cast<std::size_t>(o.tokens)) {
            pending.push_back(plan[i].referred);
          }
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  if (failed) return 1;

  // The badge job, as the worker would run it.
  domain::JobRunner jobs(*store, clock, ids, settings, now);
  clock.Set(now);
  auto badges = jobs.Run(domain::kJobAwardBadges);
  const double took = duration<double>(SteadyClock::now() - began).count();

  // Token files for the wrk scenarios.
  std::ofstream(o.out + "/admin.token")
      << Token(o.secret, NewUuidV7(now, random), "admin@example.com", true) << "\n";
  {
    std::ofstream out(o.out + "/referrers.tokens");
    for (const auto& r : referrers) out << Token(o.secret, r.id, *r.email) << "\n";
  }
  {
    std::ofstream generate(o.out + "/generate.tokens");
    std::ofstream track(o.out + "/track.lines");
    std::uniform_int_distribution<std::size_t> pick_code(0, codes.size() - 1);
    for (int i = 0; i < o.tokens; ++i) {
      generate << Token(o.secret, NewUuidV7(now, random), "new" + std::to_string(i) + "@x.io")
               << "\n";
      track << Token(o.secret, NewUuidV7(now, random), "joiner" + std::to_string(i) + "@x.io")
            << " " << codes[pick_code(rng)] << "\n";
    }
  }
  {
    // Subscribers whose referral is pending (each subscription converts it), then fresh users.
    std::ofstream out(o.out + "/subscribe.tokens");
    for (const auto& r : pending) out << Token(o.secret, r.id, *r.email) << "\n";
    for (std::size_t i = pending.size(); i < static_cast<std::size_t>(o.tokens); ++i) {
      out << Token(o.secret, NewUuidV7(now, random), "buyer" + std::to_string(i) + "@x.io") << "\n";
    }
  }
  std::printf(
      "{\"referrers\": %d, \"referrals\": %lld, \"conversions\": %lld, \"badges\": %lld, "
      "\"pendingSubscribers\": %zu, \"seconds\": %.1f}\n",
      o.referrers, static_cast<long long>(tracked.load()), static_cast<long long>(converted.load()),
      badges ? static_cast<long long>(std::get<std::int64_t>(badges->details.at(0).second)) : -1LL,
      pending.size(), took);
  return 0;
}

// --- commit-rate --------------------------------------------------------------------------------

// Single-row INSERT transactions into a scratch table, with the store's own connection settings:
// the most a backend commits per second, which the write routes are measured against.
int CommitRate(const std::string& url, int threads, double secs) {
  std::atomic<long long> commits{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  const bool sqlite = url.rfind("sqlite:", 0) == 0;
  if (sqlite) threads = 1;  // one writer at a time: more threads only queue
  try {
    if (sqlite) {
      auto conn = storage::sqlite::Connection::Open(
          url.substr(7), storage::sqlite::Connection::Role::kWriter, false, 5000);
      conn->Exec("CREATE TABLE IF NOT EXISTS bench_commits (id INTEGER PRIMARY KEY, at TEXT)");
      workers.emplace_back([&, c = conn.release()] {
        std::unique_ptr<storage::sqlite::Connection> owned(c);
        while (!stop) {
          storage::sqlite::WriteTransaction tx(*owned);
          storage::sqlite::Stmt(*owned, "INSERT INTO bench_commits (at) VALUES (?1)")
              .Bind(FormatIso8601(SystemClock().Now()))
              .Run();
          tx.Commit();
          ++commits;
        }
      });
    } else {
      const auto deadline = SteadyClock::now() + seconds(30);
      auto setup = storage::postgres::Connection::Open(url, deadline, std::chrono::milliseconds(0));
      setup->ExecScript(
          "CREATE TABLE IF NOT EXISTS bench_commits (id BIGSERIAL PRIMARY KEY, at TIMESTAMP)",
          deadline);
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
          auto conn = storage::postgres::Connection::Open(url, SteadyClock::now() + seconds(30),
                                                          std::chrono::milliseconds(0));
          while (!stop) {
            conn->Query("INSERT INTO bench_commits (at) VALUES ($1)",
                        SteadyClock::now() + seconds(30), SystemClock().Now());
            ++commits;
          }
        });
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "referrald-bench: " << e.what() << "\n";
    return 1;
  }
  std::this_thread::sleep_for(duration<double>(secs));
  stop = true;
  for (auto& w : workers) w.join();
  std::printf("{\"threads\": %d, \"commitsPerSecond\": %.0f}\n", threads,
              static_cast<double>(commits.load()) / secs);
  return 0;
}

// --- contention ---------------------------------------------------------------------------------

// Referrals of distinct referrers tracked and converted from `threads` threads, one per
// transaction, with the program-wide aggregates in `shards` rows.
int Contention(const std::string& url, int threads, double secs, int shards) {
  storage::PostgresOptions options;
  options.url = url;
  options.pool_size = threads;
  options.aggregate_shards = shards;
  auto opened = storage::PostgresStore::Open(options);
  if (!opened) {
    std::cerr << "referrald-bench: " << opened.error().message << "\n";
    return 1;
  }
  domain::Store& store = **opened;
  SystemRandom random;
  UuidV7Generator ids(random);
  SystemClock clock;
  domain::ReferralService referrals(store, clock, random, ids, domain::ReferralSettings{});
  std::atomic<long long> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      while (!stop) {
        // A new referrer each time: no two transactions share a referrer's rows, so what they
        // can still wait on is the program-wide aggregates.
        const domain::Actor referrer{NewUuidV7(clock.Now(), random), std::nullopt};
        const domain::Actor referred{NewUuidV7(clock.Now(), random), std::nullopt};
        auto code = referrals.GenerateCode(referrer, std::nullopt);
        if (!code || !referrals.Track(referred, code->code) ||
            !referrals.Convert(referrer, referred.id)) {
          std::cerr << "referrald-bench: contention: a write failed\n";
          stop = true;
          return;
        }
        ++done;
      }
    });
  }
  std::this_thread::sleep_for(duration<double>(secs));
  stop = true;
  for (auto& w : workers) w.join();
  std::printf("{\"threads\": %d, \"shards\": %d, \"conversionsPerSecond\": %.0f}\n", threads,
              shards, static_cast<double>(done.load()) / secs);
  return 0;
}

}  // namespace
}  // namespace referrald::bench

int main(int argc, char** argv) {
  using namespace referrald::bench;  // NOLINT(google-build-using-namespace)
  // stdout carries only each command's one JSON line.
  spdlog::set_default_logger(spdlog::stderr_color_mt("referrald-bench"));
  spdlog::set_level(spdlog::level::warn);
  CLI::App cli{"referrald-bench: data generator and probes for bench/run.sh"};
  cli.require_subcommand(1);
  SeedOptions seed;
  auto* seed_cmd = cli.add_subcommand("seed", "Create data through the domain, write token files");
  seed_cmd->add_option("--database-url", seed.url)->required();
  seed_cmd->add_option("--out", seed.out, "Directory for the token files")->required();
  seed_cmd->add_option("--jwt-secret", seed.secret)->required();
  seed_cmd->add_option("--referrals", seed.referrals)->capture_default_str();
  seed_cmd->add_option("--referrers", seed.referrers)->capture_default_str();
  seed_cmd->add_option("--days", seed.days)->capture_default_str();
  seed_cmd->add_option("--conversion", seed.conversion)->capture_default_str();
  seed_cmd->add_option("--threads", seed.threads)->capture_default_str();
  seed_cmd->add_option("--tokens", seed.tokens, "Tokens per write scenario")->capture_default_str();

  std::string url;
  int threads = 1;
  double secs = 5;
  auto* rate_cmd = cli.add_subcommand("commit-rate", "Raw single-row commits per second");
  rate_cmd->add_option("--database-url", url)->required();
  rate_cmd->add_option("--threads", threads)->capture_default_str();
  rate_cmd->add_option("--seconds", secs)->capture_default_str();

  int shards = 16;
  auto* contention_cmd =
      cli.add_subcommand("contention", "Conversions of distinct referrers from many threads");
  contention_cmd->add_option("--database-url", url)->required();
  contention_cmd->add_option("--threads", threads)->capture_default_str();
  contention_cmd->add_option("--seconds", secs)->capture_default_str();
  contention_cmd->add_option("--shards", shards)->capture_default_str();

  CLI11_PARSE(cli, argc, argv);
  if (*seed_cmd) return Seed(seed);
  if (*rate_cmd) return CommitRate(url, threads, secs);
  return Contention(url, threads, secs, shards);
}
