#pragma once
// The socket type RESTinio uses for every connection (Traits::stream_socket_t): a TCP socket that
// follows the request bytes RESTinio reads through it with a RequestFramer, in order to
//  - answer a request whose body is over the limit with 413 itself, as soon as its headers (or the
//    chunk that crosses the limit) arrive, instead of reading the body; RESTinio is then told the
//    stream ended and tears the connection down without writing anything;
//  - bound the time one request may take to arrive: RESTinio's own read timer runs from the moment
//    a connection waits for a request, so it bounds idle time plus reading, but not reading alone.
// It has the members RESTinio calls on a stream socket (like restinio's tls_socket_t). Included by
// server.cpp only, which adds RESTinio's customisation points for it.

#include <asio/associated_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "http/request_framing.hpp"

namespace referrald::http {

// What every connection of one server shares.
struct GuardConfig {
  // Larger request bodies are answered with 413 by the socket.
  std::uint64_t max_body_bytes = UINT64_MAX;
  // From a request's first byte to its last, and for a new connection from its accept to the end
  // of its first request. Zero: no limit of ours.
  std::chrono::steady_clock::duration request_read_timeout{};
  // After the 413: how long at most to go on discarding what the client still sends before
  // closing; closing with unread input would make the kernel reset the connection, and a reset can
  // destroy the 413 before the client reads it.
  std::chrono::steady_clock::duration linger_timeout = std::chrono::seconds(2);
  // The complete 413 response for `head`, status line to body, with Connection: close. Called on
  // the I/O thread; an empty string or an exception closes the connection without an answer.
  std::function<std::string(const RequestHead& head)> payload_too_large;
};

// Holds the GuardConfig of one io_context's sockets: RESTinio creates sockets from the io_context
// alone. Set it before the server creates any socket.
class GuardService : public asio::execution_context::service {
 public:
  static asio::execution_context::id id;  // NOLINT: the name and kind Asio requires

  explicit GuardService(asio::io_context& io);
  void set_config(std::shared_ptr<const GuardConfig> config) { config_ = std::move(config); }
  [[nodiscard]] const std::shared_ptr<const GuardConfig>& config() const { return config_; }

 private:
  void shutdown() override {}

  std::shared_ptr<const GuardConfig> config_;
};

namespace internal {

// A connection's socket and what follows its requests. Shared with the socket's own pending
// operations, so that a 413 being written outlives RESTinio's connection object if need be. Used
// on the I/O thread only (its last owner may release it anywhere).
class GuardState : public std::enable_shared_from_this<GuardState> {
 public:
  GuardState(asio::io_context& io, const std::shared_ptr<const GuardConfig>& config);

  asio::ip::tcp::socket& socket() { return socket_; }
  const asio::ip::tcp::socket& socket() const { return socket_; }
  // False once the socket took the connection over to answer 413.
  [[nodiscard]] bool is_open() const;
  void Cancel(asio::error_code& error);
  void Shutdown(asio::socket_base::shutdown_type what, asio::error_code& error);
  void Close(asio::error_code& error);

  enum class ReadStart {
    kRead,         // read from the socket
    kTakeOver,     // answer the oversized request now, then report the end of the stream
    kEndOfStream,  // the socket was taken over: report the end of the stream
  };
  // RESTinio asks for more bytes.
  ReadStart BeginRead();

  struct ReadResult {
    asio::error_code error;
    std::size_t bytes = 0;  // what RESTinio gets to parse
    bool take_over = false;
  };
  // A read from the socket completed with `bytes` at `data`.
  ReadResult EndRead(const char* data, const asio::error_code& error, std::size_t bytes);

  // Writes the 413, lingers, closes the socket, then completes `handler` (RESTinio's read) with
  // end-of-file. Until then RESTinio's connection waits for that read, so the connection keeps its
  // place under the connection cap while the socket is open.
  template <typename Handler>
  void TakeOver(Handler handler) {
    mode_ = Mode::kTakenOver;
    // This wait ends the takeover: at the linger deadline, or cancelled sooner once the client
    // has read the answer and closed, or the write failed.
    timer_.expires_after(config_->linger_timeout);
    timer_.async_wait(
        [self = shared_from_this(), handler = std::move(handler)](const asio::error_code&) mutable {
          self->FinishTakeOver();
          auto executor = asio::get_associated_executor(handler, self->socket_.get_executor());
          asio::post(executor, [handler = std::move(handler)]() mutable {
            handler(asio::error_code(asio::error::eof), std::size_t{0});
          });
        });
    StartTakeOver();
  }

 private:
  enum class Mode {
    kFollowing,        // RESTinio reads; the framer follows
    kOversizePending,  // an oversized request follows the bytes RESTinio got: take over at its
                       // next read, when it has answered everything before
    kTakenOver,        // writing the 413 and lingering
    kClosed,           // the takeover ended
  };

  void ArmDeadline();
  void OnDeadline(const asio::error_code& error, std::uint64_t generation);
  void StartTakeOver();
  void OnReplyWritten(const asio::error_code& error);
  void DrainInput();
  void FinishTakeOver();

  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;  // the request deadline, then the takeover's linger deadline
  std::shared_ptr<const GuardConfig> config_;
  RequestFramer framer_;
  Mode mode_ = Mode::kFollowing;

  bool started_ = false;
  std::chrono::steady_clock::time_point accepted_at_;
  std::chrono::steady_clock::time_point request_started_at_;
  bool read_pending_ = false;
  std::uint64_t read_generation_ = 0;
  bool deadline_armed_ = false;
  bool timed_out_ = false;

  std::string reply_;  // the 413 being written
  std::string drain_;  // what the client sends after it, discarded
};

}  // namespace internal

// RESTinio's stream socket; see the top of this file.
class GuardedSocket {
 public:
  using executor_type = asio::any_io_executor;

  explicit GuardedSocket(asio::io_context& io);
  GuardedSocket(GuardedSocket&&) noexcept = default;
  GuardedSocket& operator=(GuardedSocket&&) noexcept = default;
  GuardedSocket(const GuardedSocket&) = delete;
  GuardedSocket& operator=(const GuardedSocket&) = delete;
  ~GuardedSocket() = default;

  asio::ip::tcp::socket& lowest_layer() { return state_->socket(); }
  [[nodiscard]] const asio::ip::tcp::socket& lowest_layer() const { return state_->socket(); }
  executor_type get_executor() { return state_->socket().get_executor(); }
  [[nodiscard]] asio::ip::tcp::endpoint remote_endpoint() const {
    return state_->socket().remote_endpoint();
  }
  [[nodiscard]] bool is_open() const { return state_->is_open(); }

  void cancel(asio::error_code& error) { state_->Cancel(error); }
  void cancel() {
    asio::error_code error;
    state_->Cancel(error);
    if (error) throw std::system_error(error, "cancel");
  }
  void shutdown(asio::socket_base::shutdown_type what, asio::error_code& error) {
    state_->Shutdown(what, error);
  }
  void close(asio::error_code& error) { state_->Close(error); }
  void close() {
    asio::error_code error;
    state_->Close(error);
    if (error) throw std::system_error(error, "close");
  }

  template <typename Handler>
  void async_read_some(const asio::mutable_buffer& buffer, Handler&& handler) {
    using State = internal::GuardState;
    switch (state_->BeginRead()) {
      case State::ReadStart::kRead:
        state_->socket().async_read_some(
            buffer,
            ReadCompletion<std::decay_t<Handler>>{state_, static_cast<const char*>(buffer.data()),
                                                  std::forward<Handler>(handler)});
        return;
      case State::ReadStart::kTakeOver:
        state_->TakeOver(std::forward<Handler>(handler));
        return;
      case State::ReadStart::kEndOfStream: {
        auto executor = asio::get_associated_executor(handler, get_executor());
        asio::post(executor, [handler = std::forward<Handler>(handler)]() mutable {
          handler(asio::error_code(asio::error::eof), std::size_t{0});
        });
        return;
      }
    }
  }

  template <typename ConstBuffers, typename Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    state_->socket().async_write_some(buffers, std::forward<Handler>(handler));
  }

 private:
  // RESTinio's read handler, behind the framer; runs where RESTinio's handler would.
  template <typename Handler>
  struct ReadCompletion {
    using executor_type = asio::associated_executor_t<Handler, asio::any_io_executor>;

    [[nodiscard]] executor_type get_executor() const noexcept {
      return asio::get_associated_executor(handler, state->socket().get_executor());
    }

    void operator()(const asio::error_code& error, std::size_t bytes) {
      const auto result = state->EndRead(data, error, bytes);
      if (result.take_over) {
        state->TakeOver(std::move(handler));
        return;
      }
      handler(result.error, result.bytes);
    }

    std::shared_ptr<internal::GuardState> state;
    const char* data = nullptr;
    Handler handler;
  };

  std::shared_ptr<internal::GuardState> state_;
};

}  // namespace referrald::http
