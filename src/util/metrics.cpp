#include "util/metrics.hpp"

#include <charconv>
#include <tuple>

#include "util/version.hpp"

namespace referrald {
namespace {

// Label values here are route patterns, methods and job names: escape anyway, per the format.
std::string Escape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// The shortest text that reads back as `v` ("0.1", not "0.10000000000000001"), so bucket
// labels match what a query writes.
std::string Number(double v) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

void Header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

void Metrics::RequestStarted() {
  std::lock_guard lock(mu_);
  ++in_flight_;
}

void Metrics::RequestFinished(std::string_view method, std::string_view route, int status,
                              double seconds) {
  std::lock_guard lock(mu_);
  --in_flight_;
  ++requests_[{std::string(method), std::string(route), status}];
  Histogram& h = latency_[{std::string(method), std::string(route)}];
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) ++h.buckets[i];
  }
  ++h.count;
  h.sum += seconds;
}

void Metrics::JobRun(std::string_view job, bool failed) {
  std::lock_guard lock(mu_);
  ++job_runs_[std::string(job)];
  if (failed) {
    ++job_failures_[std::string(job)];
  } else {
    job_failures_.try_emplace(std::string(job), 0);
  }
}

void Metrics::ReferralTracked() {
  std::lock_guard lock(mu_);
  ++referrals_tracked_;
}
void Metrics::ReferralConverted() {
  std::lock_guard lock(mu_);
  ++referrals_converted_;
}
void Metrics::RewardGranted() {
  std::lock_guard lock(mu_);
  ++rewards_granted_;
}
void Metrics::RewardClaimed() {
  std::lock_guard lock(mu_);
  ++rewards_claimed_;
}

std::int64_t Metrics::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

std::string Metrics::Render(double uptime_seconds, std::int64_t resident_bytes) const {
  std::lock_guard lock(mu_);
  std::string out;
  Header(out, "referrald_http_requests_total", "counter",
         "HTTP requests by method, route and status.");
  for (const auto& [key, n] : requests_) {
    const auto& [method, route, status] = key;
    out += "referrald_http_requests_total{method=\"" + Escape(method) + "\",route=\"" +
           Escape(route) + "\",status=\"" + std::to_string(status) + "\"} " + std::to_string(n) +
           '\n';
  }
  Header(out, "referrald_http_request_duration_seconds", "histogram",
         "HTTP request latency by method and route.");
  for (const auto& [key, h] : latency_) {
    const std::string labels =
        "method=\"" + Escape(key.first) + "\",route=\"" + Escape(key.second) + "\"";
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      out += "referrald_http_request_duration_seconds_bucket{" + labels + ",le=\"" +
             Number(kLatencyBuckets[i]) + "\"} " + std::to_string(h.buckets[i]) + '\n';
    }
    out += "referrald_http_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " +
           std::to_string(h.count) + '\n';
    out += "referrald_http_request_duration_seconds_sum{" + labels + "} " + Number(h.sum) + '\n';
    out += "referrald_http_request_duration_seconds_count{" + labels + "} " +
           std::to_string(h.count) + '\n';
  }
  Header(out, "referrald_http_requests_in_flight", "gauge", "HTTP requests being handled.");
  out += "referrald_http_requests_in_flight " + std::to_string(in_flight_) + '\n';
  Header(out, "referrald_job_runs_total", "counter", "Worker job runs by job.");
  for (const auto& [job, n] : job_runs_) {
    out += "referrald_job_runs_total{job=\"" + Escape(job) + "\"} " + std::to_string(n) + '\n';
  }
  Header(out, "referrald_job_failures_total", "counter", "Failed worker job runs by job.");
  for (const auto& [job, n] : job_failures_) {
    out += "referrald_job_failures_total{job=\"" + Escape(job) + "\"} " + std::to_string(n) + '\n';
  }
  Header(out, "referrald_referrals_tracked_total", "counter", "Referrals tracked.");
  out += "referrald_referrals_tracked_total " + std::to_string(referrals_tracked_) + '\n';
  Header(out, "referrald_referrals_converted_total", "counter", "Referrals converted.");
  out += "referrald_referrals_converted_total " + std::to_string(referrals_converted_) + '\n';
  Header(out, "referrald_rewards_granted_total", "counter", "Rewards granted.");
  out += "referrald_rewards_granted_total " + std::to_string(rewards_granted_) + '\n';
  Header(out, "referrald_rewards_claimed_total", "counter", "Rewards claimed.");
  out += "referrald_rewards_claimed_total " + std::to_string(rewards_claimed_) + '\n';
  Header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  out += "process_resident_memory_bytes " + std::to_string(resident_bytes) + '\n';
  Header(out, "referrald_uptime_seconds", "gauge", "Seconds since the process started.");
  out += "referrald_uptime_seconds " + Number(uptime_seconds) + '\n';
  Header(out, "referrald_build_info", "gauge", "Always 1; the version of the running build.");
  out += "referrald_build_info{version=\"" + Escape(Version()) + "\"} 1\n";
  return out;
}

}  // namespace referrald
