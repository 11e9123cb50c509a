// The group commit queue (storage/sqlite/group_commit.hpp) with a runner of the test's own: a lone
// request runs at once on its own thread; requests that arrive while a batch runs are run together
// in the next one, at most max_batch at a time, in arrival order; each gets its own status; a
// request still queued at its deadline gives up and never runs.

#include "storage/sqlite/group_commit.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "domain/errors.hpp"

namespace referrald::storage::sqlite {
namespace {

using std::chrono::milliseconds;
using Work = GroupCommit::Work;

// What the runner saw: the works of each batch, in order, and the thread that ran it.
struct Seen {
  std::mutex mutex;
  std::vector<std::vector<const Work*>> batches;
  std::vector<std::thread::id> threads;
};

GroupCommit::Runner Recorder(Seen& seen, const std::function<void()>& during = {}) {
  return [&seen, during](std::span<GroupCommit::Request* const> batch) {
    {
      const std::lock_guard lock(seen.mutex);
      std::vector<const Work*> works;
      for (auto* r : batch) works.push_back(r->work);
      seen.batches.push_back(works);
      seen.threads.push_back(std::this_thread::get_id());
    }
    if (during) during();
    for (auto* r : batch) r->status = {};
  };
}

// Waits until `gc` has `n` requests queued (they are blocked in Submit behind a running batch).
void AwaitQueued(const GroupCommit& gc, std::size_t n) {
  while (gc.Queued() < n) std::this_thread::sleep_for(milliseconds(1));
}

const Work kNothing = [](domain::WriteTx&) -> Status { return {}; };

TEST(GroupCommitTest, ALoneRequestRunsAtOnceOnItsOwnThread) {
  GroupCommit gc(8, milliseconds(1000));
  Seen seen;
  EXPECT_TRUE(gc.Submit(kNothing, Recorder(seen)).has_value());
  ASSERT_EQ(seen.batches.size(), 1U);
  EXPECT_EQ(seen.batches[0], std::vector<const Work*>{&kNothing});
  EXPECT_EQ(seen.threads[0], std::this_thread::get_id());
  EXPECT_EQ(gc.Queued(), 0U);
}

TEST(GroupCommitTest, RequestsArrivingDuringABatchRunTogetherInTheNextInArrivalOrder) {
  constexpr std::size_t kWaiting = 5;
  constexpr std::size_t kMaxBatch = 2;
  GroupCommit gc(kMaxBatch, milliseconds(10000));
  Seen seen;
  std::vector<Work> works(kWaiting, kNothing);
  std::atomic<bool> first{true};
  // The first batch holds the writer until every other request is queued behind it, one after
  // the other (so that their order is known).
  auto runner = Recorder(seen, [&] {
    if (first.exchange(false)) AwaitQueued(gc, kWaiting);
  });
  std::vector<std::thread> threads;
  threads.emplace_back([&] { EXPECT_TRUE(gc.Submit(kNothing, runner).has_value()); });
  while (first.load()) std::this_thread::sleep_for(milliseconds(1));  // its batch runs
  for (std::size_t i = 0; i < kWaiting; ++i) {
    threads.emplace_back([&, i] { EXPECT_TRUE(gc.Submit(works[i], runner).has_value()); });
    // Once the last is queued the first batch ends and the queue drains: wait only before.
    if (i + 1 < kWaiting) AwaitQueued(gc, i + 1);
  }
  for (auto& t : threads) t.join();
  // One alone, then the five in batches of at most two, in the order they came.
  ASSERT_EQ(seen.batches.size(), 4U);
  EXPECT_EQ(seen.batches[0], std::vector<const Work*>{&kNothing});
  EXPECT_EQ(seen.batches[1], (std::vector<const Work*>{&works[0], &works[1]}));
  EXPECT_EQ(seen.batches[2], (std::vector<const Work*>{&works[2], &works[3]}));
  EXPECT_EQ(seen.batches[3], std::vector<const Work*>{&works[4]});
  EXPECT_EQ(gc.Queued(), 0U);
}

TEST(GroupCommitTest, EachRequestGetsTheStatusItsRunnerGaveIt) {
  GroupCommit gc(8, milliseconds(10000));
  const Work good = kNothing;
  const Work bad = kNothing;
  std::atomic<bool> first{true};
  const GroupCommit::Runner runner = [&](std::span<GroupCommit::Request* const> batch) {
    if (first.exchange(false)) AwaitQueued(gc, 2);
    for (auto* r : batch) {
      r->status = r->work == &bad ? Status(domain::errors::Invalid("bad")) : Status();
    }
  };
  Status first_status;
  Status good_status;
  Status bad_status;
  std::thread leader([&] { first_status = gc.Submit(kNothing, runner); });
  while (first.load()) std::this_thread::sleep_for(milliseconds(1));  // its batch runs
  std::thread a([&] { good_status = gc.Submit(good, runner); });
  std::thread b([&] { bad_status = gc.Submit(bad, runner); });
  leader.join();
  a.join();
  b.join();
  EXPECT_TRUE(first_status.has_value());
  EXPECT_TRUE(good_status.has_value());
  ASSERT_FALSE(bad_status.has_value());
  EXPECT_EQ(bad_status.error().machine(), "VALIDATION_ERROR");
}

TEST(GroupCommitTest, ARequestStillQueuedAtItsDeadlineGivesUpAndNeverRuns) {
  GroupCommit gc(8, milliseconds(50));
  Seen seen;
  std::latch late_returned(1);
  const Work late = kNothing;
  std::atomic<bool> first{true};
  auto runner = Recorder(seen, [&] {
    if (first.exchange(false)) late_returned.wait();  // a batch slower than the deadline
  });
  std::thread leader([&] { EXPECT_TRUE(gc.Submit(kNothing, runner).has_value()); });
  while (first.load()) std::this_thread::sleep_for(milliseconds(1));  // its batch runs
  const Status gave_up = gc.Submit(late, runner);
  late_returned.count_down();
  leader.join();
  ASSERT_FALSE(gave_up.has_value());
  EXPECT_EQ(gave_up.error().machine(), "DATABASE_UNAVAILABLE");
  ASSERT_EQ(seen.batches.size(), 1U);
  EXPECT_EQ(gc.Queued(), 0U);
}

}  // namespace
}  // namespace referrald::storage::sqlite
