// The whole request path without a socket: raw bytes → nodejs http_parser (the parser RESTinio
// uses) → http::FromWire → the Pipeline (routing, size limit, auth, provisioning, handlers) over
// real services on a real SQLite file → response, whose invariants CheckResponse holds.
// Placeholders ({{T0}}, {{A}}, {{C1}}, {{J:…:J}}, see fuzz_support.hpp) in the target, the
// header values and the body are expanded after parsing (so a seed's Content-Length counts the
// placeholder, not what it stands for): seeds carry valid tokens, codes and ids. Up to 8
// pipelined requests per input.

#include <http_parser.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "http/wire.hpp"

namespace {

using referrald::fuzz::World;

constexpr int kMaxMessagesPerInput = 8;

struct Message {
  std::string url;
  referrald::http::Fields headers;
  std::string body;
  bool in_value = false;  // the last header callback was a value (the next field starts a pair)
};

struct ParseState {
  World* world = nullptr;
  Message message;
  int answered = 0;
};

ParseState& StateOf(http_parser* parser) { return *static_cast<ParseState*>(parser->data); }

int OnMessageBegin(http_parser* parser) {
  StateOf(parser).message = Message{};
  return 0;
}

int OnUrl(http_parser* parser, const char* at, std::size_t length) {
  StateOf(parser).message.url.append(at, length);
  return 0;
}

int OnHeaderField(http_parser* parser, const char* at, std::size_t length) {
  Message& m = StateOf(parser).message;
  if (m.headers.empty() || m.in_value) m.headers.emplace_back();
  m.headers.back().first.append(at, length);
  m.in_value = false;
  return 0;
}

int OnHeaderValue(http_parser* parser, const char* at, std::size_t length) {
  Message& m = StateOf(parser).message;
  if (m.headers.empty()) m.headers.emplace_back();
  m.headers.back().second.append(at, length);
  m.in_value = true;
  return 0;
}

int OnBody(http_parser* parser, const char* at, std::size_t length) {
  StateOf(parser).message.body.append(at, length);
  return 0;
}

int OnMessageComplete(http_parser* parser) {
  ParseState& state = StateOf(parser);
  Message& m = state.message;
  const World& world = *state.world;
  for (auto& header : m.headers) header.second = referrald::fuzz::Expand(header.second, world);
  const char* method = http_method_str(static_cast<http_method>(parser->method));
  referrald::http::Request request =
      referrald::http::FromWire(method, referrald::fuzz::Expand(m.url, world), std::move(m.headers),
                                referrald::fuzz::Expand(m.body, world), "127.0.0.1");
  const referrald::http::Response response =
      state.world->pipeline->Handle(request, std::chrono::steady_clock::now());
  referrald::fuzz::CheckResponse(request, response);
  ++state.answered;
  return state.answered >= kMaxMessagesPerInput ? 1 : 0;  // non-zero stops the parser
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  referrald::fuzz::TheWorld();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& world = referrald::fuzz::TheWorld();

  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_message_begin = OnMessageBegin;
  settings.on_url = OnUrl;
  settings.on_header_field = OnHeaderField;
  settings.on_header_value = OnHeaderValue;
  settings.on_body = OnBody;
  settings.on_message_complete = OnMessageComplete;

  ParseState state;
  state.world = &world;
  http_parser parser;
  http_parser_init(&parser, HTTP_REQUEST);
  parser.data = &state;
  http_parser_execute(&parser, &settings, reinterpret_cast<const char*>(data), size);
  return 0;
}
