// Each POST route's JSON body, through the Pipeline with a valid token, over real services on a
// real SQLite file. Input: a first line naming the route pattern, optionally followed by a space
// and the caller (a digit 0..7 for that user; admin routes always run as the admin), then the
// body, e.g.
//   /api/referral/track 4
//   {"referralCode": "{{C0}}"}
// Placeholders are expanded in the body (fuzz_support.hpp). POST routes come from Routes(), so a
// new one is fuzzed without touching this file; an unknown first line is skipped.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "domain/jobs.hpp"
#include "fuzz_support.hpp"
#include "http/router.hpp"

namespace {

using referrald::fuzz::World;
namespace http = referrald::http;

std::vector<const http::Route*> PostRoutes() {
  std::vector<const http::Route*> routes;
  for (const http::Route& route : http::Routes()) {
    if (route.method == http::Method::kPost) routes.push_back(&route);
  }
  return routes;
}

// `pattern` with its ":name" segments filled: job routes get a job name picked by `pick`
// (one past the last is an unknown job).
std::string PathFor(std::string_view pattern, std::size_t pick) {
  const auto& jobs = referrald::domain::JobRunner::Names();
  const std::size_t choice = pick % (jobs.size() + 1);
  const std::string name = choice < jobs.size() ? std::string(jobs[choice]) : "no-such-job";
  std::string path;
  std::size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] == ':' && i > 0 && pattern[i - 1] == '/') {
      const std::size_t end = pattern.find('/', i);
      path += name;
      i = end == std::string_view::npos ? pattern.size() : end;
    } else {
      path.push_back(pattern[i++]);
    }
  }
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  referrald::fuzz::TheWorld();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<const http::Route*> kRoutes = PostRoutes();
  World& world = referrald::fuzz::TheWorld();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = input.find('\n');
  const std::string_view first_line = input.substr(0, newline);
  const std::string_view body =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  const std::size_t space = first_line.find(' ');
  const std::string_view pattern = first_line.substr(0, space);
  const std::string_view who =
      space == std::string_view::npos ? std::string_view() : first_line.substr(space + 1);

  const http::Route* route = nullptr;
  for (const http::Route* candidate : kRoutes) {
    if (candidate->path == pattern) route = candidate;
  }
  if (route == nullptr) return -1;  // not a POST route: not worth keeping in the corpus

  std::string token;
  if (route->auth == http::Auth::kAdmin) {
    token = world.admin_token;
  } else {
    const int user = who.size() == 1 && who[0] >= '0' && who[0] < '0' + referrald::fuzz::kUsers
                         ? who[0] - '0'
                         : 0;
    token = world.user_tokens[static_cast<std::size_t>(user)];
  }

  http::Request request;
  request.method = "POST";
  request.path = PathFor(route->path, body.size());
  request.headers = {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
  request.body = referrald::fuzz::Expand(body, world);
  request.client_address = "127.0.0.1";
  const http::Response response = world.pipeline->Handle(request, std::chrono::steady_clock::now());
  referrald::fuzz::CheckResponse(request, response);
  return 0;
}
