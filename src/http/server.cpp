// The RESTinio adapter: the only file that includes RESTinio. One I/O thread parses and writes;
// every request is accepted at once and answered from the worker pool through the Pipeline.

#include "http/server.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <restinio/all.hpp>
#include <thread>

#include "http/error_mapping.hpp"
#include "http/router.hpp"

namespace referrald::http {
namespace {

using ExpressRouter = restinio::router::express_router_t<>;

struct Traits : public restinio::default_traits_t {
  using request_handler_t = ExpressRouter;
};

using HttpServer = restinio::http_server_t<Traits>;

constexpr std::uint64_t kMaxBodyBytesBeforeClose = 1024 * 1024;  // beyond: RESTinio drops it
constexpr std::size_t kMaxUrlBytes = 8 * 1024;
constexpr std::size_t kMaxFieldNameBytes = 256;
constexpr std::size_t kMaxFieldValueBytes = 16 * 1024;
constexpr std::size_t kMaxFieldCount = 100;
constexpr auto kDrainTimeout = std::chrono::seconds(10);
constexpr auto kHandleRequestTimeout = std::chrono::seconds(30);
constexpr auto kReadTimeout = std::chrono::seconds(60);

restinio::http_method_id_t ToRestinio(Method method) {
  switch (method) {
    case Method::kGet:
      return restinio::http_method_get();
    case Method::kPost:
      return restinio::http_method_post();
  }
  return restinio::http_method_get();
}

// Copies what handlers need out of RESTinio's request.
Request ToRequest(const restinio::request_t& raw, const Route* route,
                  const restinio::router::route_params_t* params) {
  Request request;
  const auto& header = raw.header();
  request.method = std::string(header.method().c_str());
  request.path = std::string(header.path());
  header.for_each_field([&request](const restinio::http_header_field_t& field) {
    request.headers.emplace_back(field.name(), field.value());
  });
  auto query = restinio::try_parse_query<restinio::parse_query_traits::javascript_compatible>(
      header.query());
  if (query) {
    for (const auto& [key, value] : *query) request.query.emplace_back(key, value);
  } else {
    request.query_valid = false;
  }
  if (route != nullptr && params != nullptr) {
    // The pattern's ":name" segments name the parameters.
    std::string_view pattern = route->path;
    for (std::size_t pos = pattern.find(':'); pos != std::string_view::npos;
         pos = pattern.find(':', pos + 1)) {
      const std::size_t end = pattern.find('/', pos);
      const auto name =
          pattern.substr(pos + 1, end == std::string_view::npos ? end : end - pos - 1);
      if (const auto value = params->get_param(name)) {
        request.route_params.emplace_back(std::string(name), std::string(*value));
      }
    }
  }
  request.body = raw.body();
  return request;
}

void Send(const restinio::request_handle_t& raw, const Response& response, bool close) {
  auto builder = raw->create_response(restinio::http_status_line_t{
      restinio::http_status_code_t{static_cast<std::uint16_t>(response.status)},
      std::string(ReasonPhrase(response.status))});
  for (const auto& [name, value] : response.headers) builder.append_header(name, value);
  if (close) builder.connection_close();
  builder.set_body(response.body);
  builder.done();
}

}  // namespace

struct Server::Impl {
  Impl(ServerOptions opts, Dependencies dependencies)
      : options(std::move(opts)),
        deps(dependencies),
        pipeline(deps, options.referral_enabled),
        work_guard(asio::make_work_guard(io)) {}

  // Runs on the I/O thread: hands the request to the pool and returns at once.
  restinio::request_handling_status_t Accept(const Route* route, restinio::request_handle_t raw,
                                             restinio::router::route_params_t params) {
    const auto received = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mu);
      if (draining) {
        Request request = ToRequest(*raw, nullptr, nullptr);
        Send(raw, pipeline.Reject(http_errors::ShuttingDown(), request, received), true);
        return restinio::request_accepted();
      }
      ++in_flight;
    }
    asio::post(*workers,
               [this, route, raw = std::move(raw), params = std::move(params), received]() mutable {
                 try {
                   Request request = ToRequest(*raw, route, &params);
                   Send(raw, pipeline.Handle(route, request, received), false);
                 } catch (const std::exception& e) {
                   // Only the transport can fail here (e.g. the connection is gone).
                   spdlog::warn("could not send response: {}", e.what());
                 } catch (...) {
                   spdlog::warn("could not send response");
                 }
                 std::lock_guard lock(mu);
                 if (--in_flight == 0) drained.notify_all();
               });
    return restinio::request_accepted();
  }

  std::unique_ptr<ExpressRouter> MakeRouter() {
    auto router = std::make_unique<ExpressRouter>();
    for (const Route& route : Routes()) {
      const Route* entry = &route;
      router->add_handler(
          ToRestinio(route.method), route.path,
          [this, entry](restinio::request_handle_t raw, restinio::router::route_params_t params) {
            return Accept(entry, std::move(raw), std::move(params));
          });
    }
    router->non_matched_request_handler([this](restinio::request_handle_t raw) {
      return Accept(nullptr, std::move(raw), restinio::router::route_params_t{});
    });
    return router;
  }

  ServerOptions options;
  Dependencies deps;
  Pipeline pipeline;

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work_guard;
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<asio::thread_pool> workers;
  std::thread io_thread;
  std::atomic<std::uint16_t> bound_port{0};

  std::mutex mu;
  std::condition_variable drained;
  int in_flight = 0;
  bool draining = false;
  bool started = false;
  bool stopped = false;
};

Server::Server(ServerOptions options, Dependencies deps)
    : impl_(std::make_unique<Impl>(std::move(options), deps)) {}

Server::~Server() { Stop(); }

Status Server::Start() {
  Impl& impl = *impl_;
  {
    std::lock_guard lock(impl.mu);
    if (impl.started) return Status();
    impl.started = true;
  }
  impl.workers = std::make_unique<asio::thread_pool>(
      static_cast<std::size_t>(std::max(1, impl.options.worker_threads)));

  auto settings = restinio::server_settings_t<Traits>{}
                      .address(impl.options.host)
                      .port(impl.options.port)
                      .request_handler(impl.MakeRouter())
                      .incoming_http_msg_limits(restinio::incoming_http_msg_limits_t{}
                                                    .max_url_size(kMaxUrlBytes)
                                                    .max_field_name_size(kMaxFieldNameBytes)
                                                    .max_field_value_size(kMaxFieldValueBytes)
                                                    .max_field_count(kMaxFieldCount)
                                                    .max_body_size(kMaxBodyBytesBeforeClose))
                      .handle_request_timeout(kHandleRequestTimeout)
                      .read_next_http_message_timelimit(kReadTimeout)
                      .acceptor_post_bind_hook([&impl](asio::ip::tcp::acceptor& acceptor) {
                        impl.bound_port = acceptor.local_endpoint().port();
                      });
  try {
    impl.server =
        std::make_unique<HttpServer>(restinio::external_io_context(impl.io), std::move(settings));
  } catch (const std::exception& e) {
    spdlog::error("HTTP server setup failed: {}", e.what());
    return MakeError(ErrorCode::kUnavailable, "BIND_FAILED", "Cannot start the HTTP server");
  }

  std::promise<void> opened;
  auto opened_future = opened.get_future();
  impl.server->open_async(
      [&opened]() noexcept { opened.set_value(); },
      [&opened](std::exception_ptr ex) noexcept { opened.set_exception(std::move(ex)); });
  impl.io_thread = std::thread([&impl] {
    try {
      impl.io.run();
    } catch (const std::exception& e) {
      spdlog::critical("HTTP I/O thread failed: {}", e.what());
    }
  });
  try {
    opened_future.get();
  } catch (const std::exception& e) {
    spdlog::error("cannot listen on {}:{}: {}", impl.options.host, impl.options.port, e.what());
    Stop();
    return MakeError(
        ErrorCode::kUnavailable, "BIND_FAILED",
        "Cannot listen on " + impl.options.host + ":" + std::to_string(impl.options.port));
  }
  spdlog::info("HTTP server listening on {}:{}", impl.options.host, impl.bound_port.load());
  return Status();
}

std::uint16_t Server::port() const { return impl_->bound_port.load(); }

void Server::Stop() {
  Impl& impl = *impl_;
  {
    std::lock_guard lock(impl.mu);
    if (!impl.started || impl.stopped) return;
    impl.stopped = true;
    impl.draining = true;
  }
  // 1. Stop accepting: close the acceptor on its own executor.
  if (impl.server && impl.io_thread.joinable()) {
    std::promise<void> closed;
    auto closed_future = closed.get_future();
    impl.server->close_async([&closed]() noexcept { closed.set_value(); },
                             [&closed](std::exception_ptr) noexcept { closed.set_value(); });
    if (closed_future.wait_for(kDrainTimeout) != std::future_status::ready) {
      spdlog::warn("HTTP acceptor did not close in time");
    }
  }
  // 2. Let in-flight requests finish and their responses be written (bounded).
  {
    std::unique_lock lock(impl.mu);
    spdlog::info("HTTP server stopped accepting; draining {} in-flight request(s)", impl.in_flight);
    if (!impl.drained.wait_for(lock, kDrainTimeout, [&impl] { return impl.in_flight == 0; })) {
      spdlog::warn("{} request(s) still in flight after the drain timeout", impl.in_flight);
    }
  }
  if (impl.io_thread.joinable()) {
    // Give the I/O thread a few turns to start and complete the last writes, then stop it.
    for (int turn = 0; turn < 3; ++turn) {
      std::promise<void> flushed;
      auto flushed_future = flushed.get_future();
      asio::post(impl.io, [&flushed] { flushed.set_value(); });
      if (flushed_future.wait_for(std::chrono::seconds(1)) != std::future_status::ready) break;
    }
    impl.work_guard.reset();
    impl.io.stop();
    impl.io_thread.join();
  }
  // 3. Join the workers (any still running finish their current request first).
  if (impl.workers) impl.workers->join();
  spdlog::info("HTTP server stopped");
}

}  // namespace referrald::http
