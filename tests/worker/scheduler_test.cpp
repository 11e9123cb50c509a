#include "worker/scheduler.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "util/time_format.hpp"

namespace referrald::worker {
namespace {

TimePoint At(const char* iso) { return *ParseIso8601(iso); }

CronExpression Cron(const char* text) { return *CronExpression::Parse(text); }

TEST(SchedulerTest, RunsEachJobAtItsSlots) {
  Scheduler scheduler;
  std::vector<std::string> slots;
  scheduler.Add("every-5", Cron("*/5 * * * *"),
                [&](TimePoint slot) { slots.push_back("every-5 " + FormatIso8601(slot)); });
  scheduler.Add("daily-2am", Cron("0 2 * * *"),
                [&](TimePoint slot) { slots.push_back("daily " + FormatIso8601(slot)); });
  scheduler.Start(At("2025-06-15T01:52:30.000Z"));
  EXPECT_EQ(FormatIso8601(*scheduler.NextDue()), "2025-06-15T01:55:00.000Z");

  EXPECT_TRUE(scheduler.RunDue(At("2025-06-15T01:54:59.999Z")).empty());
  EXPECT_EQ(scheduler.RunDue(At("2025-06-15T01:55:00.000Z")), std::vector<std::string>{"every-5"});
  EXPECT_TRUE(scheduler.RunDue(At("2025-06-15T01:55:30.000Z")).empty());
  EXPECT_EQ(scheduler.RunDue(At("2025-06-15T02:00:00.010Z")),
            (std::vector<std::string>{"every-5", "daily-2am"}));
  EXPECT_EQ(slots, (std::vector<std::string>{"every-5 2025-06-15T01:55:00.000Z",
                                             "every-5 2025-06-15T02:00:00.000Z",
                                             "daily 2025-06-15T02:00:00.000Z"}));
  EXPECT_EQ(FormatIso8601(*scheduler.NextDue()), "2025-06-15T02:05:00.000Z");
}

TEST(SchedulerTest, MissedSlotsRunOnceAndRescheduleFromNow) {
  Scheduler scheduler;
  int runs = 0;
  scheduler.Add("every-minute", Cron("* * * * *"), [&](TimePoint) { ++runs; });
  scheduler.Start(At("2025-06-15T12:00:00.000Z"));
  EXPECT_EQ(scheduler.RunDue(At("2025-06-15T13:30:20.000Z")).size(), 1U);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(FormatIso8601(*scheduler.NextDue()), "2025-06-15T13:31:00.000Z");
}

TEST(SchedulerTest, AThrowingJobDoesNotStopTheOthers) {
  Scheduler scheduler;
  int runs = 0;
  scheduler.Add("broken", Cron("* * * * *"), [](TimePoint) { throw std::runtime_error("boom"); });
  scheduler.Add("fine", Cron("* * * * *"), [&](TimePoint) { ++runs; });
  scheduler.Start(At("2025-06-15T12:00:00.000Z"));
  EXPECT_EQ(scheduler.RunDue(At("2025-06-15T12:01:00.000Z")).size(), 2U);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(scheduler.RunDue(At("2025-06-15T12:02:00.000Z")).size(), 2U);
  EXPECT_EQ(runs, 2);
}

TEST(SchedulerTest, NoJobsMeansNothingDue) {
  Scheduler scheduler;
  scheduler.Start(At("2025-06-15T12:00:00.000Z"));
  EXPECT_FALSE(scheduler.NextDue());
  EXPECT_TRUE(scheduler.RunDue(At("2030-01-01T00:00:00.000Z")).empty());
}

TEST(WorkerTest, StopsPromptlyWhileWaitingForASlot) {
  SystemClock clock;
  Scheduler scheduler;
  int runs = 0;
  scheduler.Add("yearly", Cron("0 0 1 1 *"), [&](TimePoint) { ++runs; });
  Worker worker(std::move(scheduler), clock);
  worker.Start();
  worker.Stop();  // joins: would hang here if the wait could not be interrupted
  worker.Stop();
  EXPECT_EQ(runs, 0);
}

}  // namespace
}  // namespace referrald::worker
