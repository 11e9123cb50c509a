#pragma once
// 5-field cron expressions (minute hour day-of-month month day-of-week), evaluated in UTC.
// Supports `*`, numbers, lists (`1,15`), ranges (`1-5`), steps (`*/5`, `1-30/10`, `5/15`);
// Sunday is 0 or 7. When both day fields are restricted a day matches either (cron's rule);
// a field starting with `*` counts as unrestricted. No cron library is packaged in Debian 12.

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "util/clock.hpp"
#include "util/result.hpp"

namespace referrald::worker {

class CronExpression {
 public:
  // Errors: kInvalidArgument with a message saying which field is wrong.
  static Result<CronExpression> Parse(std::string_view text);

  // The first minute strictly after `after` that matches, or nullopt when none exists within
  // eight years (e.g. `0 0 30 2 *`).
  [[nodiscard]] std::optional<TimePoint> Next(TimePoint after) const;
  [[nodiscard]] bool Matches(TimePoint t) const;
  [[nodiscard]] const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // 1..31
  std::bitset<13> months_;         // 1..12
  std::bitset<7> days_of_week_;    // 0..6, Sunday = 0
  bool dom_star_ = false;
  bool dow_star_ = false;
};

}  // namespace referrald::worker
