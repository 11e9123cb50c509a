// Query strings: http::FromWire on "/api/referral/leaderboard?" + bytes (percent-decoding, '+',
// '&' and '=' splitting, a fragment), then the read routes' parameter parsers on every decoded
// value — domain::ParsePeriodParam, ParseLeaderboardLimit, ParseTrendDays and the HTTP layer's
// ParseIntParam (automation-logs' limit).
// Invariants: the path is what preceded '?'; a value a parser accepts is in its range and is
// exactly the decimal digits it came from; a parser never accepts what another spelling of the
// same number would be refused for (no sign, no spaces, at most 9 digits).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "domain/limits.hpp"
#include "domain/rules.hpp"
#include "fuzz_support.hpp"
#include "http/json_mapping.hpp"
#include "http/wire.hpp"

namespace {

namespace fuzz = referrald::fuzz;
namespace domain = referrald::domain;

constexpr std::string_view kPath = "/api/referral/leaderboard";

bool IsPlainNumber(std::string_view text) {
  if (text.empty() || text.size() > 9) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string WithoutLeadingZeros(std::string_view text) {
  while (text.size() > 1 && text.front() == '0') text.remove_prefix(1);
  return std::string(text);
}

void CheckBounded(const referrald::Result<int>& parsed, std::string_view text, int min, int max,
                  std::string_view what) {
  if (!parsed) return;
  if (*parsed < min || *parsed > max || !IsPlainNumber(text) ||
      std::to_string(*parsed) != WithoutLeadingZeros(text)) {
    fuzz::Fail(std::string(what) + " accepted \"" + std::string(text) + "\" as " +
               std::to_string(*parsed));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view query(reinterpret_cast<const char*>(data), size);
  const std::string target = std::string(kPath) + "?" + std::string(query);
  const referrald::http::Request request =
      referrald::http::FromWire("GET", target, {}, "", "127.0.0.1");
  if (request.path != kPath) fuzz::Fail("FromWire changed the path: " + request.path);
  if (!request.query_valid && !request.query.empty()) {
    fuzz::Fail("an invalid query string left parameters behind");
  }

  for (const auto& parameter : request.query) {
    const std::string& value = parameter.second;
    const std::optional<std::string_view> text(value);
    const auto period = domain::ParsePeriodParam(text);
    if (period && value != "all" && value != "month" && value != "week") {
      fuzz::Fail("ParsePeriodParam accepted \"" + value + "\"");
    }
    CheckBounded(domain::ParseLeaderboardLimit(text), value, 1, domain::kMaxLeaderboardLimit,
                 "ParseLeaderboardLimit");
    CheckBounded(domain::ParseTrendDays(text), value, 1, domain::kMaxTrendDays, "ParseTrendDays");
  }
  // The route handlers read the first parameter of each name; absent ones take the default.
  const std::string default_limit = std::to_string(domain::kDefaultLeaderboardLimit);
  const std::string default_days = std::to_string(domain::kDefaultTrendDays);
  CheckBounded(domain::ParseLeaderboardLimit(request.QueryParam("limit")),
               request.QueryParam("limit").value_or(default_limit), 1, domain::kMaxLeaderboardLimit,
               "ParseLeaderboardLimit(limit)");
  CheckBounded(domain::ParseTrendDays(request.QueryParam("days")),
               request.QueryParam("days").value_or(default_days), 1, domain::kMaxTrendDays,
               "ParseTrendDays(days)");
  (void)domain::ParsePeriodParam(request.QueryParam("period"));
  const auto limit = referrald::http::ParseIntParam(request, "limit", 50, 1, 500);
  if (limit && (*limit < 1 || *limit > 500)) fuzz::Fail("ParseIntParam out of range");
  return 0;
}
