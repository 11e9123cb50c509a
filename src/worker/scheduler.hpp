#pragma once
// Runs named jobs on cron schedules. Steppable: RunDue(now) runs what is due at `now`, so tests
// drive it with a fake clock and no sleeps. Worker wraps it in a background thread.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "util/clock.hpp"
#include "worker/cron.hpp"

namespace referrald::worker {

class Scheduler {
 public:
  // `run` receives the slot (the scheduled minute) it runs for.
  using Job = std::function<void(TimePoint slot)>;

  void Add(std::string name, CronExpression cron, Job run);
  // Computes every job's first slot after `now`. Call once before RunDue.
  void Start(TimePoint now);
  // Runs, in the order added, every job whose slot is <= now; a job that missed several slots
  // runs once. Then schedules each from `now`. Returns the names run.
  std::vector<std::string> RunDue(TimePoint now);
  // The earliest upcoming slot, nullopt with no jobs.
  [[nodiscard]] std::optional<TimePoint> NextDue() const;

  struct Entry {
    std::string name;
    CronExpression cron;
    Job run;
    std::optional<TimePoint> next;
  };
  [[nodiscard]] const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

// A thread that sleeps until the scheduler's next slot (by the wall clock) and runs it.
class Worker {
 public:
  Worker(Scheduler scheduler, const Clock& clock);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void Start();
  // Makes the thread re-read the clock now (e.g. after a test moved a fake clock).
  void Wake();
  // Wakes the thread, lets a running job finish, joins. Idempotent.
  void Stop();
  [[nodiscard]] const Scheduler& scheduler() const { return scheduler_; }

 private:
  void Loop();

  Scheduler scheduler_;
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace referrald::worker
