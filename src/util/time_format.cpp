#include "util/time_format.hpp"

#include <array>
#include <string>

namespace referrald {

using std::chrono::days;
using std::chrono::floor;
using std::chrono::milliseconds;

namespace {

// Appends `value` (0 <= value < 10^width) as exactly `width` decimal digits.
void AppendDigits(std::string& out, long long value, int width) {
  std::array<char, 20> digits{};
  for (int i = width - 1; i >= 0; --i) {
    digits.at(static_cast<std::size_t>(i)) = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(digits.data(), static_cast<std::size_t>(width));
}

}  // namespace

std::string FormatIso8601(TimePoint t) {
  const auto day = floor<days>(t);
  const std::chrono::year_month_day ymd{day};
  const auto in_day = t - day;
  const auto h = std::chrono::duration_cast<std::chrono::hours>(in_day);
  const auto m = std::chrono::duration_cast<std::chrono::minutes>(in_day - h);
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(in_day - h - m);
  const auto ms = in_day - h - m - s;
  std::string out;
  out.reserve(24);
  const int year = static_cast<int>(ymd.year());
  if (year >= 0 && year <= 9999) {
    AppendDigits(out, year, 4);
  } else {
    out += std::to_string(year);  // outside what the format holds; never made by this service
  }
  out += '-';
  AppendDigits(out, static_cast<unsigned>(ymd.month()), 2);
  out += '-';
  AppendDigits(out, static_cast<unsigned>(ymd.day()), 2);
  out += 'T';
  AppendDigits(out, h.count(), 2);
  out += ':';
  AppendDigits(out, m.count(), 2);
  out += ':';
  AppendDigits(out, s.count(), 2);
  out += '.';
  AppendDigits(out, ms.count(), 3);
  out += 'Z';
  return out;
}

std::optional<TimePoint> ParseIso8601(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS.mmmZ
  if (s.size() != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != '.' || s[23] != 'Z') {
    return std::nullopt;
  }
  auto num = [&](std::size_t pos, std::size_t len) -> std::optional<int> {
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  const auto y = num(0, 4);
  const auto mo = num(5, 2);
  const auto d = num(8, 2);
  const auto h = num(11, 2);
  const auto mi = num(14, 2);
  const auto se = num(17, 2);
  const auto ms = num(20, 3);
  if (!y || !mo || !d || !h || !mi || !se || !ms) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{*y},
                                        std::chrono::month{static_cast<unsigned>(*mo)},
                                        std::chrono::day{static_cast<unsigned>(*d)}};
  if (!ymd.ok() || *h > 23 || *mi > 59 || *se > 59) return std::nullopt;
  return TimePoint{std::chrono::sys_days{ymd}} + std::chrono::hours{*h} +
         std::chrono::minutes{*mi} + std::chrono::seconds{*se} + milliseconds{*ms};
}

std::string FormatDate(TimePoint t) { return FormatIso8601(t).substr(0, 10); }

TimePoint StartOfUtcDay(TimePoint t) { return TimePoint{floor<days>(t)}; }

TimePoint AddDays(TimePoint t, long long n) { return t + days{n}; }

std::int64_t UtcDayNumber(TimePoint t) { return floor<days>(t).time_since_epoch().count(); }

TimePoint StartOfDayNumber(std::int64_t day) { return TimePoint{days{day}}; }

}  // namespace referrald
