// The abuse budgets of contract section 9, on a fake clock: rolling windows, the wait a refusal
// names, disabled limits, and a bounded memory.

#include "domain/abuse.hpp"

#include <gtest/gtest.h>

#include <string>

#include "support/fake_clock.hpp"

namespace referrald::domain {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(RollingLimiterTest, AdmitsUpToTheLimitThenNamesTheWaitUntilTheOldestLeaves) {
  testing::FakeClock clock;
  RollingLimiter limiter(3, minutes(1));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.Wait("u", clock.Now()), milliseconds(0));
    limiter.Record("u", clock.Now());
    clock.Advance(seconds(10));
  }
  // Events at 0 s, 10 s, 20 s; now 30 s: the first leaves the window at 60 s.
  EXPECT_EQ(limiter.Wait("u", clock.Now()), seconds(30));
  EXPECT_EQ(limiter.Wait("other", clock.Now()), milliseconds(0));
  clock.Advance(seconds(30));
  EXPECT_EQ(limiter.Wait("u", clock.Now()), milliseconds(0));
  limiter.Record("u", clock.Now());
  // Now events at 10 s, 20 s, 60 s: full until 70 s.
  EXPECT_EQ(limiter.Wait("u", clock.Now()), seconds(10));
}

TEST(RollingLimiterTest, ZeroDisables) {
  testing::FakeClock clock;
  RollingLimiter limiter(0, minutes(1));
  for (int i = 0; i < 1000; ++i) limiter.Record("u", clock.Now());
  EXPECT_EQ(limiter.Wait("u", clock.Now()), milliseconds(0));
}

TEST(RollingLimiterTest, ForgetsKeysRatherThanGrowWithoutBound) {
  testing::FakeClock clock;
  RollingLimiter limiter(1, hours(1), /*max_keys=*/100);
  for (int i = 0; i < 1000; ++i) limiter.Record("k" + std::to_string(i), clock.Now());
  // The newest keys are still counted (each is at its limit of one) ...
  EXPECT_GT(limiter.Wait("k999", clock.Now()), milliseconds(0));
  // ... and once the window has passed, every budget is whole again.
  clock.Advance(hours(1));
  for (int i = 0; i < 1000; i += 97) {
    EXPECT_EQ(limiter.Wait("k" + std::to_string(i), clock.Now()), milliseconds(0));
  }
}

TEST(AbuseGuardTest, FailedTracksRefuseEveryTrackOfTheUserOrTheAddressUntilTheHourFrees) {
  testing::FakeClock clock;
  AbuseGuard guard(AbuseLimits{2, 3, 0}, clock);
  EXPECT_TRUE(guard.AdmitTrack("alice", "10.0.0.1"));
  guard.RecordFailedTrack("alice", "10.0.0.1");
  clock.Advance(minutes(10));
  guard.RecordFailedTrack("alice", "10.0.0.1");
  const Status refused = guard.AdmitTrack("alice", "10.0.0.2");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().reason, Reason::kRateLimited);
  EXPECT_EQ(refused.error().code, ErrorCode::kTooManyRequests);
  EXPECT_EQ(refused.error().retry_after_seconds, 50 * 60);  // the first failure leaves at 60 min
  // Another user from the same address still has the address's third failure.
  EXPECT_TRUE(guard.AdmitTrack("bob", "10.0.0.1"));
  guard.RecordFailedTrack("bob", "10.0.0.1");
  EXPECT_FALSE(guard.AdmitTrack("carol", "10.0.0.1"));
  EXPECT_TRUE(guard.AdmitTrack("carol", "10.0.0.9"));
  clock.Advance(minutes(50));
  EXPECT_TRUE(guard.AdmitTrack("alice", "10.0.0.2"));
}

TEST(AbuseGuardTest, WritesCountOnlyWhenAdmittedAndTheWaitRoundsUpToWholeSeconds) {
  testing::FakeClock clock;
  AbuseGuard guard(AbuseLimits{0, 0, 2}, clock);
  EXPECT_TRUE(guard.AdmitWrite("alice"));
  clock.Advance(milliseconds(59500));
  EXPECT_TRUE(guard.AdmitWrite("alice"));
  for (int i = 0; i < 5; ++i) {
    const Status refused = guard.AdmitWrite("alice");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().retry_after_seconds, 1);  // 500 ms rounds up to 1 s
  }
  clock.Advance(milliseconds(500));
  // The refusals were not counted: one write fits again.
  EXPECT_TRUE(guard.AdmitWrite("alice"));
  EXPECT_FALSE(guard.AdmitWrite("alice"));
  EXPECT_TRUE(guard.AdmitWrite("bob"));
}

}  // namespace
}  // namespace referrald::domain
