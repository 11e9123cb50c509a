// The RESTinio adapter: the only file that includes RESTinio. One I/O thread parses and writes;
// every request is accepted at once and answered from the worker pool through the Pipeline.
// Connections run on GuardedSocket (guarded_socket.hpp), which answers oversized bodies with 413
// before reading them and bounds the time a request takes to arrive.

#include "http/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <restinio/all.hpp>
#include <restinio/tls_fwd.hpp>
#include <thread>
#include <vector>

#include "http/error_mapping.hpp"
#include "http/guarded_socket.hpp"
#include "http/router.hpp"
#include "http/wire.hpp"

// RESTinio's customisation points for its stream socket type, with the names RESTinio calls.
// NOLINTBEGIN(readability-identifier-naming)
namespace referrald::http {

// Called when a connection starts (found by argument-dependent lookup): nothing to prepare, no
// handshake.
template <typename Connection, typename StartRead, typename Failed>
void prepare_connection_and_start_read(GuardedSocket& /*socket*/, Connection& /*connection*/,
                                       StartRead start_read, Failed /*failed*/) {
  start_read();
}

// For RESTinio's connection state listener: not a TLS socket.
restinio::impl::tls_socket_t* make_tls_socket_pointer_for_state_listener(
    GuardedSocket& /*socket*/) noexcept {
  return nullptr;
}

}  // namespace referrald::http

namespace restinio::impl {

// The acceptor's sockets waiting for connections: one handed to a connection is replaced by a new
// one (a moved-from GuardedSocket has no socket), as RESTinio does for its TLS sockets.
template <>
class socket_supplier_t<referrald::http::GuardedSocket> {
 protected:
  template <typename Settings>
  socket_supplier_t(Settings& settings, asio::io_context& io) : io_(io) {
    sockets_.reserve(settings.concurrent_accepts_count());
    while (sockets_.size() < settings.concurrent_accepts_count()) sockets_.emplace_back(io_);
  }
  ~socket_supplier_t() = default;

 public:
  socket_supplier_t(const socket_supplier_t&) = delete;
  socket_supplier_t& operator=(const socket_supplier_t&) = delete;
  socket_supplier_t(socket_supplier_t&&) = delete;
  socket_supplier_t& operator=(socket_supplier_t&&) = delete;

 protected:
  referrald::http::GuardedSocket& socket(std::size_t index) { return sockets_.at(index); }

  referrald::http::GuardedSocket move_socket(std::size_t index) {
    referrald::http::GuardedSocket fresh(io_);
    std::swap(fresh, sockets_.at(index));
    return fresh;
  }

  [[nodiscard]] std::size_t concurrent_accept_sockets_count() const noexcept {
    return sockets_.size();
  }

 private:
  asio::io_context& io_;
  std::vector<referrald::http::GuardedSocket> sockets_;
};
// NOLINTEND(readability-identifier-naming)

}  // namespace restinio::impl

namespace referrald::http {
namespace {

struct Traits : public restinio::default_traits_t {
  using stream_socket_t = GuardedSocket;
  // The connection count limiter is ConnectionCap: see connection_count_limit_types below.
};

// The cap on connections served at once: RESTinio's connection count limiter (at the cap the
// acceptor stops accepting, and resumes when a connection goes) with two changes.
//  - RESTinio 0.6.16 keeps its limiter inside the acceptor and gives each connection a raw pointer
//    to it; at shutdown the io_context destroys the acceptor and the connections in no set order,
//    so a connection could count itself out on a freed limiter. Here the counts are shared with
//    the connections, and the acceptor detaches itself when it goes.
//  - RESTinio counts an accept as outstanding until its connection object exists; when setting up
//    the connection fails in between (e.g. the client reset it at once, so reading its address
//    fails), the count leaked for good, and enough such clients would stop the server accepting.
//    Here an accept slot's previous accept is over whenever the acceptor asks for the next one.
class ConnectionCap {
 public:
  using AcceptorCallbacks = restinio::connection_count_limits::impl::acceptor_callback_iface_t;

  struct Counts {
    std::mutex mu;
    AcceptorCallbacks* acceptor = nullptr;  // null once the acceptor is gone
    std::size_t max_connections = 0;
    std::size_t connections = 0;
    std::vector<bool> accepting;               // per accept slot: an accept is outstanding
    std::size_t active_accepts = 0;            // slots accepting
    std::vector<std::size_t> pending_accepts;  // slots waiting for room

    [[nodiscard]] bool HasRoom() const { return active_accepts + connections < max_connections; }

    void Connected() noexcept {
      std::lock_guard lock(mu);
      ++connections;
    }
    // A connection went: resumes a waiting accept slot if there is room now. The acceptor goes
    // only when the I/O thread and the workers are gone (see Server::Impl), never during this.
    void Disconnected() noexcept {
      AcceptorCallbacks* resume_on = nullptr;
      std::size_t slot = 0;
      {
        std::lock_guard lock(mu);
        --connections;
        if (acceptor != nullptr && HasRoom() && !pending_accepts.empty()) {
          resume_on = acceptor;
          slot = pending_accepts.back();
          pending_accepts.pop_back();
        }
      }
      if (resume_on != nullptr) resume_on->schedule_next_accept_attempt(slot);
    }
  };

  // RESTinio's limiter interface: the acceptor constructs it and calls accept_next.
  ConnectionCap(AcceptorCallbacks* acceptor,
                restinio::connection_count_limits::max_parallel_connections_t max_connections,
                restinio::connection_count_limits::max_active_accepts_t max_accepts)
      : counts_(std::make_shared<Counts>()) {
    counts_->acceptor = acceptor;
    counts_->max_connections = max_connections.value();
    counts_->accepting.assign(max_accepts.value(), false);
    counts_->pending_accepts.reserve(max_accepts.value());
  }
  ~ConnectionCap() {
    std::lock_guard lock(counts_->mu);
    counts_->acceptor = nullptr;
  }
  ConnectionCap(const ConnectionCap&) = delete;
  ConnectionCap& operator=(const ConnectionCap&) = delete;
  ConnectionCap(ConnectionCap&&) = delete;
  ConnectionCap& operator=(ConnectionCap&&) = delete;

  // Accepts on `slot` now when there is room, else once a connection goes.
  void accept_next(std::size_t slot) noexcept {  // NOLINT(readability-identifier-naming)
    AcceptorCallbacks* accept_on = nullptr;
    {
      std::lock_guard lock(counts_->mu);
      Counts& counts = *counts_;
      if (slot >= counts.accepting.size()) counts.accepting.resize(slot + 1, false);
      if (counts.accepting[slot]) {  // its previous accept is over
        counts.accepting[slot] = false;
        --counts.active_accepts;
      }
      if (counts.HasRoom()) {
        counts.accepting[slot] = true;
        ++counts.active_accepts;
        accept_on = counts.acceptor;
      } else {
        counts.pending_accepts.push_back(slot);
      }
    }
    if (accept_on != nullptr) accept_on->call_accept_now(slot);
  }

  [[nodiscard]] const std::shared_ptr<Counts>& SharedCounts() const { return counts_; }

 private:
  std::shared_ptr<Counts> counts_;
};

// A connection's place under the cap, held by its connection object (RESTinio's connection
// lifetime monitor).
class ConnectionPlace {
 public:
  explicit ConnectionPlace(ConnectionCap* cap) noexcept : counts_(cap->SharedCounts()) {
    counts_->Connected();
  }
  ~ConnectionPlace() {
    if (counts_) counts_->Disconnected();
  }
  ConnectionPlace(ConnectionPlace&& other) noexcept = default;
  ConnectionPlace& operator=(ConnectionPlace&& other) noexcept {
    ConnectionPlace released(std::move(*this));
    counts_ = std::move(other.counts_);
    return *this;
  }
  ConnectionPlace(const ConnectionPlace&) = delete;
  ConnectionPlace& operator=(const ConnectionPlace&) = delete;

 private:
  std::shared_ptr<ConnectionCap::Counts> counts_;
};

}  // namespace
}  // namespace referrald::http

namespace restinio {
template <>
struct connection_count_limit_types<referrald::http::Traits> {
  using limiter_t = referrald::http::ConnectionCap;
  using lifetime_monitor_t = referrald::http::ConnectionPlace;
};
}  // namespace restinio

namespace referrald::http {
namespace {

using HttpServer = restinio::http_server_t<Traits>;

// RESTinio's own body limit, a backstop behind GuardedSocket's 413: beyond it RESTinio closes the
// connection without an answer.
constexpr std::uint64_t kMaxBodyBytesBeforeClose = std::uint64_t{1024} * 1024;
static_assert(kMaxBodyBytesBeforeClose > kMaxBodyBytes);
constexpr std::size_t kMaxUrlBytes = std::size_t{8} * 1024;
constexpr std::size_t kMaxFieldNameBytes = 256;
constexpr std::size_t kMaxFieldValueBytes = std::size_t{16} * 1024;
constexpr std::size_t kMaxFieldCount = 100;
constexpr auto kHandleRequestTimeout = std::chrono::seconds(30);
constexpr auto kOpenTimeout = std::chrono::seconds(10);
// Descriptors kept for everything but connections: database connections, files, Asio's own.
constexpr rlim_t kReservedDescriptors = 256;

// RESTinio 0.6.16 never re-arms an accept that failed, so one accept() failing for lack of file
// descriptors would stop the server accepting for good. Keep the connection cap within the
// open-files limit: raise the soft limit towards the hard one when needed, else lower the cap.
std::size_t FitConnectionCap(std::size_t wanted) {
  wanted = std::clamp<std::size_t>(wanted, 1, std::size_t{1} << 24);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return wanted;
  const rlim_t needed = static_cast<rlim_t>(wanted) + kReservedDescriptors;
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed) return wanted;
  rlimit raised = limit;
  raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? needed : std::min(needed, limit.rlim_max);
  if (raised.rlim_cur > limit.rlim_cur && setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  if (limit.rlim_cur >= needed) return wanted;
  const std::size_t fitted =
      limit.rlim_cur > 2 * kReservedDescriptors
          ? static_cast<std::size_t>(limit.rlim_cur - kReservedDescriptors)
          : std::max<std::size_t>(1, static_cast<std::size_t>(limit.rlim_cur / 2));
  spdlog::warn("open-files limit {} leaves room for {} connections, not {}", limit.rlim_cur, fitted,
               wanted);
  return fitted;
}

// Copies what the pipeline needs out of RESTinio's request.
Request ToRequest(const restinio::request_t& raw) {
  const auto& header = raw.header();
  Fields headers;
  headers.reserve(header.fields_count());
  header.for_each_field([&headers](const restinio::http_header_field_t& field) {
    headers.emplace_back(field.name(), field.value());
  });
  return FromWire(header.method().c_str(), header.request_target(), std::move(headers), raw.body(),
                  raw.remote_endpoint().address().to_string());
}

// A complete response that closes the connection, for a socket to write by itself.
std::string SerializeClosing(const Response& response) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                    std::string(ReasonPhrase(response.status)) + "\r\n";
  for (const auto& [name, value] : response.headers) {
    out.append(name).append(": ").append(value).append("\r\n");
  }
  out +=
      "Connection: close\r\nContent-Length: " + std::to_string(response.body.size()) + "\r\n\r\n";
  out += response.body;
  return out;
}

// Accepted requests whose response is not written yet. Shared with the callbacks that count them
// down, which may run, or be destroyed, after Stop() returned.
struct InFlight {
  std::mutex mu;
  std::condition_variable idle;
  int count = 0;
  bool draining = false;
};

// One accepted request, counted in InFlight until its response was written, failed to be
// written, or was dropped unsent: Finish() or the destructor, whichever comes first, on any thread.
class InFlightRequest {
 public:
  explicit InFlightRequest(std::shared_ptr<InFlight> in_flight)
      : in_flight_(std::move(in_flight)) {}
  ~InFlightRequest() { Finish(); }
  InFlightRequest(const InFlightRequest&) = delete;
  InFlightRequest& operator=(const InFlightRequest&) = delete;
  InFlightRequest(InFlightRequest&&) = delete;
  InFlightRequest& operator=(InFlightRequest&&) = delete;

  void Finish() noexcept {
    if (finished_.exchange(true)) return;
    std::lock_guard lock(in_flight_->mu);
    if (--in_flight_->count == 0) in_flight_->idle.notify_all();
  }

 private:
  std::shared_ptr<InFlight> in_flight_;
  std::atomic<bool> finished_{false};
};

// Hands `response` to RESTinio; `done` finishes once it has been written (or could not be).
void Send(const restinio::request_handle_t& raw, const Response& response, bool close,
          const std::shared_ptr<InFlightRequest>& done) {
  auto builder = raw->create_response(restinio::http_status_line_t{
      restinio::http_status_code_t{static_cast<std::uint16_t>(response.status)},
      std::string(ReasonPhrase(response.status))});
  for (const auto& [name, value] : response.headers) builder.append_header(name, value);
  if (close) builder.connection_close();
  builder.set_body(response.body);
  // Called on the I/O thread when the write completed or failed, or wherever the response is
  // dropped unwritten.
  builder.done([done](const asio::error_code& /*error*/) { done->Finish(); });
}

}  // namespace

struct Server::Impl {
  Impl(ServerOptions opts, Dependencies dependencies)
      : options(std::move(opts)),
        deps(std::move(dependencies)),
        pipeline(deps, options),
        work_guard(asio::make_work_guard(io)) {}

  // Handlers still running after Stop() gave up waiting use the pipeline and the io_context (to
  // hand over their response): they finish before either goes.
  ~Impl() {
    workers.reset();
    server.reset();
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  Impl(Impl&&) = delete;
  Impl& operator=(Impl&&) = delete;

  // Runs on the I/O thread: hands the request to the pool and returns at once.
  restinio::request_handling_status_t Accept(restinio::request_handle_t raw) {
    const auto received = std::chrono::steady_clock::now();
    bool draining = false;
    {
      std::lock_guard lock(in_flight->mu);
      draining = in_flight->draining;
      ++in_flight->count;
    }
    auto done = std::make_shared<InFlightRequest>(in_flight);
    if (draining) {
      try {
        Request request = ToRequest(*raw);
        Send(raw, pipeline.Reject(http_errors::ShuttingDown(), request, received), true, done);
      } catch (const std::exception& e) {
        spdlog::warn("could not send response: {}", e.what());
      }
      return restinio::request_accepted();
    }
    asio::post(*workers, [this, raw = std::move(raw), received, done = std::move(done)]() {
      try {
        Request request = ToRequest(*raw);
        Send(raw, pipeline.Handle(request, received), false, done);
      } catch (const std::exception& e) {
        // Only the transport can fail here (e.g. the connection is gone).
        spdlog::warn("could not send response: {}", e.what());
      } catch (...) {
        spdlog::warn("could not send response");
      }
    });
    return restinio::request_accepted();
  }

  // What every connection's GuardedSocket shares. The 413 goes through the pipeline's Reject, so
  // it carries the same headers, metrics and log line as any other answer.
  std::shared_ptr<const GuardConfig> MakeGuardConfig() {
    auto config = std::make_shared<GuardConfig>();
    config->max_body_bytes = kMaxBodyBytes;
    config->request_read_timeout = options.request_read_timeout;
    config->payload_too_large = [this](const RequestHead& head) {
      Request request = FromWire(head.method, head.target, {}, {}, {});
      if (head.request_id) request.headers.emplace_back("X-Request-Id", *head.request_id);
      if (head.origin) request.headers.emplace_back("Origin", *head.origin);
      return SerializeClosing(pipeline.Reject(http_errors::PayloadTooLarge(), request,
                                              std::chrono::steady_clock::now()));
    };
    return config;
  }

  ServerOptions options;
  Dependencies deps;
  Pipeline pipeline;
  std::shared_ptr<InFlight> in_flight = std::make_shared<InFlight>();

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work_guard;
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<asio::thread_pool> workers;
  std::thread io_thread;
  std::atomic<std::uint16_t> bound_port{0};

  std::mutex mu;
  bool started = false;
  bool stopped = false;
};

Server::Server(ServerOptions options, Dependencies deps)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(deps))) {}

Server::~Server() { Stop(); }

Status Server::Start() {
  Impl& impl = *impl_;
  {
    std::lock_guard lock(impl.mu);
    if (impl.started) return {};
    impl.started = true;
  }
  impl.workers = std::make_unique<asio::thread_pool>(
      static_cast<std::size_t>(std::max(1, impl.options.worker_threads)));
  asio::use_service<GuardService>(impl.io).set_config(impl.MakeGuardConfig());

  auto settings =
      restinio::server_settings_t<Traits>{}
          .address(impl.options.host)
          .port(impl.options.port)
          .request_handler(
              [&impl](restinio::request_handle_t raw) { return impl.Accept(std::move(raw)); })
          // GuardedSocket relies on this: RESTinio reads a connection's next request only once
          // the previous one is answered, so a 413 it writes cannot overtake an earlier answer.
          .max_pipelined_requests(1)
          .max_parallel_connections(FitConnectionCap(impl.options.max_connections))
          .incoming_http_msg_limits(restinio::incoming_http_msg_limits_t{}
                                        .max_url_size(kMaxUrlBytes)
                                        .max_field_name_size(kMaxFieldNameBytes)
                                        .max_field_value_size(kMaxFieldValueBytes)
                                        .max_field_count(kMaxFieldCount)
                                        .max_body_size(kMaxBodyBytesBeforeClose))
          .handle_request_timeout(kHandleRequestTimeout)
          // RESTinio's read timer starts when a connection with nothing in flight waits for a
          // request and stops when one has arrived whole: the keep-alive idle timeout. Bytes
          // arriving do not restart it.
          .read_next_http_message_timelimit(impl.options.idle_timeout)
          .acceptor_post_bind_hook([&impl](asio::ip::tcp::acceptor& acceptor) {
            impl.bound_port = acceptor.local_endpoint().port();
          });
  try {
    impl.server =
        std::make_unique<HttpServer>(restinio::external_io_context(impl.io), std::move(settings));
  } catch (const std::exception& e) {
    spdlog::error("HTTP server setup failed: {}", e.what());
    return MakeError(ErrorCode::kUnavailable, Reason::kBindFailed, "Cannot start the HTTP server");
  }

  // The callbacks own the promise: they may run after this function stopped waiting.
  auto opened = std::make_shared<std::promise<void>>();
  auto opened_future = opened->get_future();
  impl.server->open_async(
      [opened]() noexcept { opened->set_value(); },
      [opened](std::exception_ptr error) noexcept { opened->set_exception(std::move(error)); });
  impl.io_thread = std::thread([&impl] {
    try {
      impl.io.run();
    } catch (const std::exception& e) {
      spdlog::critical("HTTP I/O thread failed: {}", e.what());
    }
  });
  std::string failure;
  if (opened_future.wait_for(kOpenTimeout) != std::future_status::ready) {
    failure = "the I/O thread did not open the listener in time";
  } else {
    try {
      opened_future.get();
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  if (!failure.empty()) {
    spdlog::error("cannot listen on {}:{}: {}", impl.options.host, impl.options.port, failure);
    Stop();
    return MakeError(
        ErrorCode::kUnavailable, Reason::kBindFailed,
        "Cannot listen on " + impl.options.host + ":" + std::to_string(impl.options.port));
  }
  spdlog::info("HTTP server listening on {}:{}", impl.options.host, impl.bound_port.load());
  return {};
}

std::uint16_t Server::port() const { return impl_->bound_port.load(); }

void Server::Stop() {
  Impl& impl = *impl_;
  {
    std::lock_guard lock(impl.mu);
    if (!impl.started || impl.stopped) return;
    impl.stopped = true;
  }
  const auto deadline = std::chrono::steady_clock::now() + impl.options.drain_timeout;
  {
    // From here requests on open connections are answered 503 SHUTTING_DOWN.
    std::lock_guard lock(impl.in_flight->mu);
    impl.in_flight->draining = true;
  }
  // 1. Stop accepting: close the acceptor on its own executor. The callbacks own the promise:
  //    they may run after this function stopped waiting.
  if (impl.server && impl.io_thread.joinable()) {
    auto closed = std::make_shared<std::promise<void>>();
    auto closed_future = closed->get_future();
    impl.server->close_async([closed]() noexcept { closed->set_value(); },
                             [closed](const std::exception_ptr&) noexcept { closed->set_value(); });
    if (closed_future.wait_until(deadline) != std::future_status::ready) {
      spdlog::warn("HTTP acceptor did not close in time");
    }
  }
  // 2. Wait until the response of every accepted request has been written (or failed).
  bool drained = false;
  {
    std::unique_lock lock(impl.in_flight->mu);
    spdlog::info("HTTP server stopped accepting; draining {} in-flight request(s)",
                 impl.in_flight->count);
    drained = impl.in_flight->idle.wait_until(lock, deadline,
                                              [&impl] { return impl.in_flight->count == 0; });
    if (!drained) {
      spdlog::warn("{} request(s) still in flight after the drain timeout of {} ms; dropping them",
                   impl.in_flight->count, impl.options.drain_timeout.count());
    }
  }
  // 3. Stop the I/O thread; the connections still open are dropped with it.
  if (impl.io_thread.joinable()) {
    impl.work_guard.reset();
    impl.io.stop();
    impl.io_thread.join();
  }
  // 4. The workers are idle once drained. Otherwise handlers still running finish on their own
  //    (their answers go nowhere) and the destructor waits for them; queued ones never start.
  if (impl.workers) {
    if (drained) {
      impl.workers->join();
    } else {
      impl.workers->stop();
    }
  }
  spdlog::info("HTTP server stopped");
}

}  // namespace referrald::http
