// worker::CronExpression: Parse on arbitrary text (the CRON_* settings) and, when it parses, the
// next-fire computation from a fixed instant. Next is bounded (eight years) by contract, so an
// input that makes it run long is a timeout finding.
// Invariants: Next(t) is a whole minute strictly after t that Matches; no minute between t and
// it matches (checked over the first 2000 minutes); Next of that instant is later still; a
// parsed expression's text parses again.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "worker/cron.hpp"

namespace {

namespace fuzz = referrald::fuzz;
using referrald::TimePoint;
using std::chrono::minutes;

constexpr std::size_t kMaxInput = 256;  // a setting, not a document
constexpr int kMinutesChecked = 2000;

void CheckNext(const referrald::worker::CronExpression& expr, TimePoint after) {
  const auto next = expr.Next(after);
  const TimePoint first = std::chrono::floor<minutes>(after) + minutes{1};
  TimePoint t = first;
  for (int i = 0; i < kMinutesChecked && (!next || t < *next); ++i, t += minutes{1}) {
    if (expr.Matches(t)) {
      fuzz::Fail("Next skipped a matching minute: \"" + expr.text() + "\"");
    }
  }
  if (!next) return;
  if (*next <= after) fuzz::Fail("Next is not after its argument: \"" + expr.text() + "\"");
  if (std::chrono::floor<minutes>(*next) != *next) {
    fuzz::Fail("Next is not a whole minute: \"" + expr.text() + "\"");
  }
  if (!expr.Matches(*next)) fuzz::Fail("Next does not match: \"" + expr.text() + "\"");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxInput) return -1;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto expr = referrald::worker::CronExpression::Parse(text);
  if (!expr) return 0;
  if (!referrald::worker::CronExpression::Parse(expr->text())) {
    fuzz::Fail("a parsed expression's text does not parse again");
  }
  const TimePoint now = fuzz::FixedNow() + std::chrono::milliseconds{12345};
  CheckNext(*expr, now);
  if (const auto next = expr->Next(now)) {
    const auto after = expr->Next(*next);
    if (after && *after <= *next) fuzz::Fail("Next of Next is not later: \"" + expr->text() + "\"");
    CheckNext(*expr, *next);
  }
  return 0;
}
