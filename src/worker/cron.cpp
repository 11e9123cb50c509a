#include "worker/cron.hpp"

#include <charconv>
#include <vector>

namespace referrald::worker {
namespace {

using std::chrono::days;
using std::chrono::floor;
using std::chrono::hours;
using std::chrono::minutes;

struct FieldSpec {
  const char* name;
  int min;
  int max;
};

constexpr FieldSpec kFields[] = {{"minute", 0, 59},
                                 {"hour", 0, 23},
                                 {"day of month", 1, 31},
                                 {"month", 1, 12},
                                 {"day of week", 0, 7}};

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const auto pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? s.size() - start : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

std::optional<int> Number(std::string_view s) {
  int v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// Sets bits [min, max] of the field in `out` (index = value). Returns false on bad syntax/range.
bool ParseField(std::string_view text, const FieldSpec& spec, std::vector<bool>& out) {
  out.assign(static_cast<std::size_t>(spec.max) + 1, false);
  if (text.empty()) return false;
  for (std::string_view item : Split(text, ',')) {
    int step = 1;
    const bool stepped = item.find('/') != std::string_view::npos;
    if (const auto slash = item.find('/'); slash != std::string_view::npos) {
      const auto s = Number(item.substr(slash + 1));
      if (!s || *s < 1) return false;
      step = *s;
      item = item.substr(0, slash);
    }
    int lo = 0;
    int hi = 0;
    if (item == "*") {
      lo = spec.min;
      hi = spec.max;
    } else if (const auto dash = item.find('-'); dash != std::string_view::npos) {
      const auto a = Number(item.substr(0, dash));
      const auto b = Number(item.substr(dash + 1));
      if (!a || !b || *a > *b) return false;
      lo = *a;
      hi = *b;
    } else {
      const auto a = Number(item);
      if (!a) return false;
      lo = *a;
      hi = stepped ? spec.max : *a;  // `5/15` means 5-max/15
    }
    if (lo < spec.min || hi > spec.max || lo > hi) return false;
    // Counted without overflow: a step may be as large as an int (`*/2147483647` is the first
    // value alone).
    for (int v = lo;; v += step) {
      out[static_cast<std::size_t>(v)] = true;
      if (hi - v < step) break;
    }
  }
  return true;
}

template <std::size_t N>
void Copy(const std::vector<bool>& from, std::bitset<N>& to) {
  for (std::size_t i = 0; i < N && i < from.size(); ++i) to[i] = from[i];
}

}  // namespace

Result<CronExpression> CronExpression::Parse(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  if (fields.size() != 5) {
    return MakeError(ErrorCode::kInvalidArgument, Reason::kInvalidCron,
                     "expected 5 fields (minute hour day-of-month month day-of-week), got " +
                         std::to_string(fields.size()));
  }
  CronExpression expr;
  expr.text_ = std::string(text);
  std::vector<bool> bits;
  for (std::size_t f = 0; f < 5; ++f) {
    if (!ParseField(fields[f], kFields[f], bits)) {
      return MakeError(
          ErrorCode::kInvalidArgument, Reason::kInvalidCron,
          std::string("invalid ") + kFields[f].name + " field \"" + std::string(fields[f]) + "\"");
    }
    switch (f) {
      case 0:
        Copy(bits, expr.minutes_);
        break;
      case 1:
        Copy(bits, expr.hours_);
        break;
      case 2:
        Copy(bits, expr.days_of_month_);
        break;
      case 3:
        Copy(bits, expr.months_);
        break;
      default:
        if (bits[7]) bits[0] = true;  // Sunday as 7
        Copy(bits, expr.days_of_week_);
    }
  }
  expr.dom_star_ = fields[2].front() == '*';
  expr.dow_star_ = fields[4].front() == '*';
  return expr;
}

bool CronExpression::Matches(TimePoint t) const {
  const auto day = floor<days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::weekday wd{day};
  const auto in_day = floor<minutes>(t) - day;
  const auto h = static_cast<std::size_t>(floor<hours>(in_day).count());
  const auto m = static_cast<std::size_t>((in_day - floor<hours>(in_day)).count());
  const bool dom = days_of_month_[static_cast<unsigned>(ymd.day())];
  const bool dow = days_of_week_[wd.c_encoding()];
  const bool day_ok = dom_star_ || dow_star_ ? (dom && dow) : (dom || dow);
  return minutes_[m] && hours_[h] && months_[static_cast<unsigned>(ymd.month())] && day_ok;
}

std::optional<TimePoint> CronExpression::Next(TimePoint after) const {
  TimePoint t = floor<minutes>(after) + minutes{1};
  const TimePoint limit = after + days{366 * 8};
  while (t <= limit) {
    const auto day = floor<days>(t);
    const std::chrono::year_month_day ymd{day};
    if (!months_[static_cast<unsigned>(ymd.month())]) {
      const auto next_month =
          std::chrono::year_month{ymd.year(), ymd.month()} + std::chrono::months{1};
      t = TimePoint{std::chrono::sys_days{next_month / 1}};
      continue;
    }
    const std::chrono::weekday wd{day};
    const bool dom = days_of_month_[static_cast<unsigned>(ymd.day())];
    const bool dow = days_of_week_[wd.c_encoding()];
    if (!(dom_star_ || dow_star_ ? (dom && dow) : (dom || dow))) {
      t = TimePoint{day + days{1}};
      continue;
    }
    const auto in_day = t - TimePoint{day};
    const auto h = floor<hours>(in_day);
    if (!hours_[static_cast<std::size_t>(h.count())]) {
      t = TimePoint{day} + h + hours{1};
      continue;
    }
    const auto m = floor<minutes>(in_day - h);
    if (!minutes_[static_cast<std::size_t>(m.count())]) {
      t += minutes{1};
      continue;
    }
    return t;
  }
  return std::nullopt;
}

}  // namespace referrald::worker
