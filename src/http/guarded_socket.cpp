#include "http/guarded_socket.hpp"

#include <spdlog/spdlog.h>

#include <asio/write.hpp>

namespace referrald::http {
namespace {

constexpr std::size_t kDrainChunkBytes = std::size_t{16} * 1024;

// For sockets of an io_context nobody configured: follow nothing, limit nothing.
const std::shared_ptr<const GuardConfig>& Unguarded() {
  static const auto kConfig = std::make_shared<const GuardConfig>();
  return kConfig;
}

}  // namespace

asio::execution_context::id GuardService::id;  // NOLINT: the name and kind Asio's services need

GuardService::GuardService(asio::io_context& io) : asio::execution_context::service(io) {}

namespace internal {

GuardState::GuardState(asio::io_context& io, const std::shared_ptr<const GuardConfig>& config)
    : socket_(io),
      timer_(io),
      config_(config ? config : Unguarded()),
      framer_(config_->max_body_bytes) {}

bool GuardState::is_open() const {
  return (mode_ == Mode::kFollowing || mode_ == Mode::kOversizePending) && socket_.is_open();
}

// Once the socket took the connection over, RESTinio's cancel, shutdown and close are no-ops: the
// takeover closes the socket itself when the 413 is out.
void GuardState::Cancel(asio::error_code& error) {
  error.clear();
  if (mode_ == Mode::kFollowing || mode_ == Mode::kOversizePending) socket_.cancel(error);
}

void GuardState::Shutdown(asio::socket_base::shutdown_type what, asio::error_code& error) {
  error.clear();
  if (mode_ == Mode::kFollowing || mode_ == Mode::kOversizePending) socket_.shutdown(what, error);
}

void GuardState::Close(asio::error_code& error) {
  error.clear();
  if (mode_ == Mode::kFollowing || mode_ == Mode::kOversizePending) socket_.close(error);
}

GuardState::ReadStart GuardState::BeginRead() {
  switch (mode_) {
    case Mode::kFollowing:
      break;
    case Mode::kOversizePending:
      // RESTinio (one request in flight per connection at most, see server.cpp) asks for more only
      // once it has answered every request before the oversized one.
      return ReadStart::kTakeOver;
    case Mode::kTakenOver:
    case Mode::kClosed:
      return ReadStart::kEndOfStream;
  }
  if (!started_) {
    started_ = true;
    accepted_at_ = std::chrono::steady_clock::now();
  }
  read_pending_ = true;
  ++read_generation_;
  ArmDeadline();
  return ReadStart::kRead;
}

void GuardState::ArmDeadline() {
  if (config_->request_read_timeout <= std::chrono::steady_clock::duration::zero()) return;
  std::chrono::steady_clock::time_point start;
  if (framer_.in_request()) {
    start = request_started_at_;
  } else if (framer_.requests_begun() == 0 && framer_.following()) {
    start = accepted_at_;  // a new connection owes its first request
  } else {
    return;  // between requests: RESTinio's keep-alive timer
  }
  deadline_armed_ = true;
  timer_.expires_at(start + config_->request_read_timeout);
  timer_.async_wait([self = shared_from_this(), generation = read_generation_](
                        const asio::error_code& error) { self->OnDeadline(error, generation); });
}

void GuardState::OnDeadline(const asio::error_code& error, std::uint64_t generation) {
  if (error || !read_pending_ || generation != read_generation_ || mode_ != Mode::kFollowing) {
    return;
  }
  // The read completes as cancelled; EndRead turns that into a timeout, which RESTinio answers by
  // closing the connection.
  timed_out_ = true;
  asio::error_code ignored;
  socket_.cancel(ignored);
}

GuardState::ReadResult GuardState::EndRead(const char* data, const asio::error_code& error,
                                           std::size_t bytes) {
  read_pending_ = false;
  if (deadline_armed_) {
    deadline_armed_ = false;
    timer_.cancel();
  }
  if (timed_out_) {
    timed_out_ = false;
    spdlog::debug("closing a connection: its request did not arrive within the read timeout");
    return {asio::error_code(asio::error::timed_out), 0, false};
  }
  if (error || mode_ != Mode::kFollowing || !framer_.following()) return {error, bytes, false};

  const std::uint64_t begun_before = framer_.requests_begun();
  const std::size_t before_oversized = framer_.Feed(std::string_view(data, bytes));
  if (framer_.oversized()) {
    if (before_oversized > 0) {
      // Complete requests come first: RESTinio answers them before the 413 goes out.
      mode_ = Mode::kOversizePending;
      return {asio::error_code(), before_oversized, false};
    }
    return {asio::error_code(), 0, true};
  }
  if (framer_.in_request() && framer_.requests_begun() != begun_before) {
    request_started_at_ = std::chrono::steady_clock::now();
  }
  return {asio::error_code(), bytes, false};
}

void GuardState::StartTakeOver() {
  try {
    reply_ = config_->payload_too_large ? config_->payload_too_large(framer_.head()) : "";
  } catch (const std::exception& e) {
    spdlog::error("could not build the 413 answer: {}", e.what());
    reply_.clear();
  } catch (...) {
    reply_.clear();
  }
  if (reply_.empty()) {
    timer_.cancel();  // end the takeover: close without an answer
    return;
  }
  asio::async_write(socket_, asio::buffer(reply_),
                    [self = shared_from_this()](const asio::error_code& error, std::size_t) {
                      self->OnReplyWritten(error);
                    });
}

void GuardState::OnReplyWritten(const asio::error_code& error) {
  if (mode_ != Mode::kTakenOver) return;  // the linger deadline came first
  if (error) {
    timer_.cancel();
    return;
  }
  // The answer is followed by our FIN; what the client still sends is read and dropped until it
  // closes too (or the linger deadline).
  asio::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_send, ignored);
  drain_.resize(kDrainChunkBytes);
  DrainInput();
}

void GuardState::DrainInput() {
  socket_.async_read_some(asio::buffer(drain_),
                          [self = shared_from_this()](const asio::error_code& error, std::size_t) {
                            if (self->mode_ != Mode::kTakenOver) return;
                            if (error) {
                              self->timer_.cancel();  // the client closed: done
                              return;
                            }
                            self->DrainInput();
                          });
}

void GuardState::FinishTakeOver() {
  if (mode_ == Mode::kClosed) return;
  mode_ = Mode::kClosed;
  asio::error_code ignored;
  socket_.close(ignored);  // pending operations complete as aborted and see kClosed
}

}  // namespace internal

GuardedSocket::GuardedSocket(asio::io_context& io)
    : state_(std::make_shared<internal::GuardState>(
          io, asio::use_service<GuardService>(io).config())) {}

}  // namespace referrald::http
