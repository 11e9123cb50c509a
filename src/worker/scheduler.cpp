#include "worker/scheduler.hpp"

#include <spdlog/spdlog.h>

namespace referrald::worker {

void Scheduler::Add(std::string name, CronExpression cron, Job run) {
  entries_.push_back(Entry{std::move(name), std::move(cron), std::move(run), std::nullopt});
}

void Scheduler::Start(TimePoint now) {
  for (auto& e : entries_) e.next = e.cron.Next(now);
}

std::vector<std::string> Scheduler::RunDue(TimePoint now) {
  std::vector<std::string> ran;
  for (auto& e : entries_) {
    if (!e.next || *e.next > now) continue;
    const TimePoint slot = *e.next;
    e.next = e.cron.Next(now);
    try {
      e.run(slot);
    } catch (const std::exception& ex) {
      // A job reports its own failures; this only guards the worker against a bug.
      spdlog::error("scheduled job {} threw: {}", e.name, ex.what());
    }
    ran.push_back(e.name);
  }
  return ran;
}

std::optional<TimePoint> Scheduler::NextDue() const {
  std::optional<TimePoint> next;
  for (const auto& e : entries_) {
    if (e.next && (!next || *e.next < *next)) next = e.next;
  }
  return next;
}

Worker::Worker(Scheduler scheduler, const Clock& clock)
    : scheduler_(std::move(scheduler)), clock_(clock) {}

Worker::~Worker() { Stop(); }

void Worker::Start() {
  scheduler_.Start(clock_.Now());
  thread_ = std::thread([this] { Loop(); });
}

void Worker::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void Worker::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Worker::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto next = scheduler_.NextDue();
    if (!next) {
      cv_.wait(lock, [this] { return stopping_; });
      break;
    }
    // Sleep in bounded steps so a wall-clock jump is noticed within a minute.
    const auto now = clock_.Now();
    if (*next > now) {
      const auto wait = std::min<std::chrono::milliseconds>(*next - now, std::chrono::minutes{1});
      cv_.wait_for(lock, wait, [this] { return stopping_ || woken_; });
      woken_ = false;
      continue;
    }
    lock.unlock();
    scheduler_.RunDue(clock_.Now());
    lock.lock();
  }
}

}  // namespace referrald::worker
