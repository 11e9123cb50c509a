#include "http/request_framing.hpp"

#include <algorithm>

namespace referrald::http {
namespace {

// Longer lines are over RESTinio's own limits (URL 8 KiB, field 16 KiB): it rejects them.
constexpr std::size_t kMaxLineBytes = std::size_t{32} * 1024;
constexpr std::size_t kMaxMethodBytes = 32;
constexpr std::size_t kMaxTargetBytes = std::size_t{2} * 1024;
constexpr std::size_t kMaxRequestIdBytes = 129;  // one more than a sane id, so a longer one fails
constexpr std::size_t kMaxOriginBytes = std::size_t{2} * 1024;

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// `name` is already lowercase.
bool EqualsIgnoreCase(std::string_view text, std::string_view name) {
  return text.size() == name.size() && std::equal(text.begin(), text.end(), name.begin(),
                                                  [](char a, char b) { return Lower(a) == b; });
}

std::string_view TrimWhitespace(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  const char lower = Lower(c);
  if (lower >= 'a' && lower <= 'f') return lower - 'a' + 10;
  return -1;
}

}  // namespace

RequestFramer::RequestFramer(std::uint64_t max_body_bytes) : max_body_bytes_(max_body_bytes) {}

bool RequestFramer::in_request() const {
  return state_ != State::kBetweenRequests && state_ != State::kOversized && state_ != State::kLost;
}

std::size_t RequestFramer::Feed(std::string_view bytes) {
  std::size_t pos = 0;
  std::optional<std::size_t> began_at;  // where the current request began within `bytes`
  while (pos < bytes.size()) {
    if (state_ == State::kOversized || state_ == State::kLost) return bytes.size();
    if (state_ == State::kBetweenRequests) {
      if (bytes[pos] == '\r' || bytes[pos] == '\n') {
        ++pos;
        continue;
      }
      BeginRequest();
      began_at = pos;
      continue;
    }
    if (state_ == State::kBody || state_ == State::kChunkData) {
      const auto take = static_cast<std::size_t>(
          std::min<std::uint64_t>(body_left_, static_cast<std::uint64_t>(bytes.size() - pos)));
      pos += take;
      body_left_ -= take;
      if (body_left_ == 0) {
        if (state_ == State::kBody) {
          EndRequest();
        } else {
          state_ = State::kChunkDataEnd;
        }
      }
      continue;
    }
    // A line state: collect up to the LF.
    const std::size_t lf = bytes.find('\n', pos);
    const std::size_t end = lf == std::string_view::npos ? bytes.size() : lf;
    const std::string_view piece = bytes.substr(pos, end - pos);
    if (line_.size() + piece.size() > kMaxLineBytes) {
      state_ = State::kLost;
      return bytes.size();
    }
    if (lf == std::string_view::npos) {
      line_.append(piece);
      break;
    }
    pos = lf + 1;
    std::string_view line = piece;
    if (!line_.empty()) {
      line_.append(piece);
      line = line_;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    OnLine(line);
    line_.clear();
    if (state_ == State::kOversized) return began_at.value_or(0);
  }
  return bytes.size();
}

void RequestFramer::BeginRequest() {
  ++requests_begun_;
  head_ = RequestHead{};
  content_length_.reset();
  chunked_ = false;
  other_transfer_coding_ = false;
  body_left_ = 0;
  body_seen_ = 0;
  state_ = State::kRequestLine;
}

void RequestFramer::OnLine(std::string_view line) {
  switch (state_) {
    case State::kRequestLine:
      OnRequestLine(line);
      break;
    case State::kHeaderLine:
      OnHeaderLine(line);
      break;
    case State::kChunkSize:
      OnChunkSizeLine(line);
      break;
    case State::kChunkDataEnd:
      state_ = line.empty() ? State::kChunkSize : State::kLost;
      break;
    case State::kTrailerLine:
      if (line.empty()) EndRequest();
      break;
    default:
      break;
  }
}

void RequestFramer::OnRequestLine(std::string_view line) {
  const std::size_t method_end = std::min(line.find(' '), line.size());
  head_.method = std::string(line.substr(0, std::min(method_end, kMaxMethodBytes)));
  if (method_end < line.size()) {
    const std::string_view rest = line.substr(method_end + 1);
    const std::string_view target = rest.substr(0, std::min(rest.find(' '), rest.size()));
    head_.target = std::string(target.substr(0, std::min(target.size(), kMaxTargetBytes)));
  }
  state_ = State::kHeaderLine;
}

void RequestFramer::OnHeaderLine(std::string_view line) {
  if (line.empty()) {
    OnHeadersEnd();
    return;
  }
  if (line.front() == ' ' || line.front() == '\t') return;  // obsolete folding of a field value
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    state_ = State::kLost;
    return;
  }
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = TrimWhitespace(line.substr(colon + 1));
  if (EqualsIgnoreCase(name, "content-length")) {
    // http_parser refuses a repeated Content-Length and anything but digits.
    if (content_length_ || value.empty()) {
      state_ = State::kLost;
      return;
    }
    std::uint64_t length = 0;
    for (const char c : value) {
      if (c < '0' || c > '9') {
        state_ = State::kLost;
        return;
      }
      // Saturate: anything over the limit is oversized, however large.
      length =
          length > max_body_bytes_ ? length : length * 10 + static_cast<std::uint64_t>(c - '0');
    }
    content_length_ = length;
  } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
    // The final coding decides; a later field replaces an earlier one's final coding.
    const std::size_t comma = value.rfind(',');
    const std::string_view last =
        TrimWhitespace(comma == std::string_view::npos ? value : value.substr(comma + 1));
    chunked_ = EqualsIgnoreCase(last, "chunked");
    other_transfer_coding_ = !chunked_;
  } else if (EqualsIgnoreCase(name, "x-request-id") && !head_.request_id) {
    head_.request_id = std::string(value.substr(0, std::min(value.size(), kMaxRequestIdBytes)));
  } else if (EqualsIgnoreCase(name, "origin") && !head_.origin) {
    head_.origin = std::string(value.substr(0, std::min(value.size(), kMaxOriginBytes)));
  }
}

void RequestFramer::OnHeadersEnd() {
  if (head_.method == "CONNECT") {  // http_parser hands what follows to another protocol
    EndRequest();
    return;
  }
  if (chunked_ || other_transfer_coding_) {
    // http_parser rejects a request whose final coding is not chunked, or with a Content-Length
    // beside it.
    if (!chunked_ || content_length_) {
      state_ = State::kLost;
      return;
    }
    body_seen_ = 0;
    state_ = State::kChunkSize;
    return;
  }
  if (!content_length_ || *content_length_ == 0) {
    EndRequest();
    return;
  }
  if (*content_length_ > max_body_bytes_) {
    state_ = State::kOversized;
    return;
  }
  body_left_ = *content_length_;
  state_ = State::kBody;
}

void RequestFramer::OnChunkSizeLine(std::string_view line) {
  std::uint64_t size = 0;
  std::size_t digits = 0;
  while (digits < line.size() && HexValue(line[digits]) >= 0) {
    size = size * 16 + static_cast<std::uint64_t>(HexValue(line[digits]));
    ++digits;
    if (size > max_body_bytes_ - body_seen_) {
      state_ = State::kOversized;
      return;
    }
  }
  const std::string_view rest = line.substr(digits);
  if (digits == 0 ||
      !(rest.empty() || rest.front() == ';' || rest.front() == ' ' || rest.front() == '\t')) {
    state_ = State::kLost;
    return;
  }
  if (size == 0) {
    state_ = State::kTrailerLine;
    return;
  }
  body_seen_ += size;
  body_left_ = size;
  state_ = State::kChunkData;
}

}  // namespace referrald::http
