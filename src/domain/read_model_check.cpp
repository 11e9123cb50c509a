#include "domain/read_model_check.hpp"

#include <limits>
#include <set>
#include <sstream>

#include "domain/rules.hpp"
#include "util/time_format.hpp"

namespace referrald::domain {
namespace {

constexpr int kEveryRow = std::numeric_limits<int>::max();

std::string Describe(const ReferrerStats& s) {
  std::ostringstream out;
  out << "{total " << s.total_referrals << ", converted " << s.converted_referrals << ", pending "
      << s.pending_referrals << ", rewards " << s.total_rewards_earned << ", clicks " << s.clicks
      << "}";
  return out.str();
}

std::string Describe(const LeaderboardEntry& e) {
  std::ostringstream out;
  out << "{" << e.user_id << ", total " << e.total_referrals << ", converted "
      << e.converted_referrals << ", email " << e.email.value_or("null") << "}";
  return out.str();
}

std::string Describe(const AnalyticsCounts& a) {
  std::ostringstream out;
  out << "{referrals " << a.total_referrals << ", converted " << a.converted_referrals
      << ", rewards " << a.total_rewards_awarded << ", active codes " << a.active_codes
      << ", expired codes " << a.expired_codes << ", clicks " << a.clicks << "}";
  return out.str();
}

std::string Describe(const DailyCount& d) {
  std::ostringstream out;
  out << "{" << d.date << ", signups " << d.signups << ", conversions " << d.conversions
      << ", clicks " << d.clicks << "}";
  return out.str();
}

std::string PeriodName(int days) { return days == 0 ? "all" : std::to_string(days) + " days"; }

}  // namespace

Result<ReadModels> ReadThroughAggregates(Store& store, TimePoint now, const ReadModels& shape) {
  ReadModels out;
  std::set<std::string> users;
  for (const auto& [user, stats] : shape.stats) users.insert(user);
  std::vector<std::optional<int>> periods{std::nullopt};
  for (int days : kWindowLengths) periods.emplace_back(days);
  for (const auto& window : periods) {
    auto rows = store.Leaderboard(window, now, kEveryRow);
    if (!rows) return rows.error();
    for (const auto& row : *rows) users.insert(row.user_id);
    out.leaderboards[window.value_or(0)] = std::move(*rows);
    auto analytics = store.Analytics(window, now);
    if (!analytics) return analytics.error();
    out.analytics[window.value_or(0)] = *analytics;
  }
  for (const auto& user : users) {
    auto stats = store.GetReferrerStats(user);
    if (!stats) return stats.error();
    if (*stats != ReferrerStats{}) out.stats[user] = *stats;
  }
  const std::int64_t today = UtcDayNumber(now);
  std::int64_t first = today;
  if (!shape.days.empty()) {
    if (auto t = ParseIso8601(shape.days.front().date + "T00:00:00.000Z")) {
      first = std::min(first, UtcDayNumber(*t));
    }
  }
  auto days = store.DailyCounts(first, today);
  if (!days) return days.error();
  out.days = std::move(*days);
  return out;
}

std::vector<std::string> DescribeDifferences(const ReadModels& expected, const ReadModels& actual) {
  std::vector<std::string> out;
  std::set<std::string> users;
  for (const auto& [user, s] : expected.stats) users.insert(user);
  for (const auto& [user, s] : actual.stats) users.insert(user);
  for (const auto& user : users) {
    const auto e = expected.stats.contains(user) ? expected.stats.at(user) : ReferrerStats{};
    const auto a = actual.stats.contains(user) ? actual.stats.at(user) : ReferrerStats{};
    if (e != a) {
      out.push_back("stats of " + user + ": " + Describe(e) + " recounted, " + Describe(a) +
                    " in the aggregates");
    }
  }
  for (const auto& [days, rows] : expected.leaderboards) {
    const auto it = actual.leaderboards.find(days);
    const std::vector<LeaderboardEntry> none;
    const auto& got = it == actual.leaderboards.end() ? none : it->second;
    if (rows == got) continue;
    std::ostringstream msg;
    msg << "leaderboard (" << PeriodName(days) << "): " << rows.size() << " rows recounted, "
        << got.size() << " in the aggregates";
    for (std::size_t i = 0; i < std::max(rows.size(), got.size()); ++i) {
      const bool have_e = i < rows.size();
      const bool have_a = i < got.size();
      if (have_e && have_a && rows[i] == got[i]) continue;
      msg << "; first difference at " << i + 1 << ": "
          << (have_e ? Describe(rows[i]) : std::string("none")) << " vs "
          << (have_a ? Describe(got[i]) : std::string("none"));
      break;
    }
    out.push_back(msg.str());
  }
  for (const auto& [days, counts] : expected.analytics) {
    const auto it = actual.analytics.find(days);
    const auto got = it == actual.analytics.end() ? AnalyticsCounts{} : it->second;
    if (counts != got) {
      out.push_back("analytics (" + PeriodName(days) + "): " + Describe(counts) + " recounted, " +
                    Describe(got) + " in the aggregates");
    }
  }
  if (expected.days != actual.days) {
    std::ostringstream msg;
    msg << "daily counts: " << expected.days.size() << " days recounted, " << actual.days.size()
        << " in the aggregates";
    for (std::size_t i = 0; i < std::max(expected.days.size(), actual.days.size()); ++i) {
      const bool have_e = i < expected.days.size();
      const bool have_a = i < actual.days.size();
      if (have_e && have_a && expected.days[i] == actual.days[i]) continue;
      msg << "; first difference: " << (have_e ? Describe(expected.days[i]) : std::string("none"))
          << " vs " << (have_a ? Describe(actual.days[i]) : std::string("none"));
      break;
    }
    out.push_back(msg.str());
  }
  return out;
}

Result<std::vector<std::string>> CheckReadModels(Store& store, TimePoint now) {
  auto recount = store.RecountReadModels(now);
  if (!recount) return recount.error();
  auto read = ReadThroughAggregates(store, now, *recount);
  if (!read) return read.error();
  return DescribeDifferences(*recount, *read);
}

}  // namespace referrald::domain
