#pragma once
// Where each HTTP/1.1 request starts and ends in the bytes a client sends: the request line and
// header block up to the empty line, then a Content-Length or chunked body. The transport uses it
// to refuse an oversized body before reading it and to time each request; it only observes, and
// RESTinio still parses every byte itself. No I/O here.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace referrald::http {

// What the framer kept of the request it is in (or of the oversized one that stopped it).
struct RequestHead {
  std::string method;                     // as sent, at most 32 characters kept
  std::string target;                     // the request-target, at most 2 KiB kept
  std::optional<std::string> request_id;  // the first X-Request-Id value, at most 129 kept
  std::optional<std::string> origin;      // the first Origin value, at most 2 KiB kept
};

class RequestFramer {
 public:
  // Bodies over `max_body_bytes` (declared by Content-Length, or chunks adding up) are oversized.
  explicit RequestFramer(std::uint64_t max_body_bytes);

  // Follows `bytes`, the next ones the client sent. Returns how many of them come before a
  // request whose body is over the limit when that request began within `bytes` (0 when it began
  // earlier), or bytes.size() when there is none. Once an oversized request is found the framer
  // stops following (oversized() is true, further bytes are ignored).
  std::size_t Feed(std::string_view bytes);

  // True once a request with an oversized body was found.
  [[nodiscard]] bool oversized() const { return state_ == State::kOversized; }
  // False once the bytes stopped looking like HTTP/1.1 framing this class knows (an invalid
  // Content-Length, a Transfer-Encoding other than chunked, a line over 32 KiB, ...): the framer
  // then stops following, and RESTinio's parser rejects such input itself.
  [[nodiscard]] bool following() const { return state_ != State::kLost; }
  // True between the first byte of a request and its last.
  [[nodiscard]] bool in_request() const;
  // Requests begun so far, the current one included.
  [[nodiscard]] std::uint64_t requests_begun() const { return requests_begun_; }
  // The request being read, or the oversized one.
  [[nodiscard]] const RequestHead& head() const { return head_; }

 private:
  enum class State {
    kBetweenRequests,  // skipping the CR/LF a client may send before a request line
    kRequestLine,
    kHeaderLine,
    kBody,          // Content-Length bytes left in body_left_
    kChunkSize,     // a chunk-size line
    kChunkData,     // chunk bytes left in body_left_
    kChunkDataEnd,  // the CRLF after a chunk's data
    kTrailerLine,   // trailer fields after the last chunk, up to the empty line
    kOversized,
    kLost,
  };

  // Handles one complete line (without its CRLF) in a line state.
  void OnLine(std::string_view line);
  void OnRequestLine(std::string_view line);
  void OnHeaderLine(std::string_view line);
  void OnHeadersEnd();
  void OnChunkSizeLine(std::string_view line);
  void BeginRequest();
  void EndRequest() { state_ = State::kBetweenRequests; }

  std::uint64_t max_body_bytes_;
  State state_ = State::kBetweenRequests;
  std::uint64_t requests_begun_ = 0;
  RequestHead head_;
  std::string line_;  // the part of the current line that arrived in earlier Feeds

  // Framing of the current request, from its header fields.
  std::optional<std::uint64_t> content_length_;
  bool chunked_ = false;
  bool other_transfer_coding_ = false;
  std::uint64_t body_left_ = 0;
  std::uint64_t body_seen_ = 0;  // chunked: data bytes so far
};

}  // namespace referrald::http
