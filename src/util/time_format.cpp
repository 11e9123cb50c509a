#include "util/time_format.hpp"

#include <cstdio>

namespace referrald {

using std::chrono::days;
using std::chrono::floor;
using std::chrono::milliseconds;

std::string FormatIso8601(TimePoint t) {
  const auto day = floor<days>(t);
  const std::chrono::year_month_day ymd{day};
  const auto in_day = t - day;
  const auto h = std::chrono::duration_cast<std::chrono::hours>(in_day);
  const auto m = std::chrono::duration_cast<std::chrono::minutes>(in_day - h);
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(in_day - h - m);
  const auto ms = in_day - h - m - s;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02lldZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(h.count()), static_cast<int>(m.count()),
                static_cast<long long>(s.count()));
  // Insert the milliseconds before the trailing Z.
  std::string out(buf);
  char msbuf[8];
  std::snprintf(msbuf, sizeof(msbuf), ".%03lld", static_cast<long long>(ms.count()));
  out.insert(out.size() - 1, msbuf);
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
  const auto y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2),
             se = num(17, 2), ms = num(20, 3);
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
