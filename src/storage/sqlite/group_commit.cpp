#include "storage/sqlite/group_commit.hpp"

#include <algorithm>
#include <vector>

#include "domain/errors.hpp"

namespace referrald::storage::sqlite {

GroupCommit::GroupCommit(std::size_t max_batch, std::chrono::milliseconds timeout)
    : max_batch_(std::max<std::size_t>(max_batch, 1)), timeout_(timeout) {}

Status GroupCommit::Submit(const Work& work, const Runner& runner) {
  Waiting mine{{&work, {}}};
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  std::unique_lock lock(mutex_);
  queue_.push_back(&mine);
  while (!mine.done) {
    if (!leading_) {
      // Lead one batch: the oldest waiting requests (this one among them unless the queue is
      // longer than a batch, in which case the loop comes back here).
      leading_ = true;
      const std::size_t n = std::min(queue_.size(), max_batch_);
      std::vector<Waiting*> taken(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      lock.unlock();
      std::vector<Request*> batch;
      batch.reserve(taken.size());
      for (Waiting* w : taken) batch.push_back(&w->request);
      runner(batch);
      lock.lock();
      for (Waiting* w : taken) w->done = true;
      leading_ = false;
      finished_.notify_all();  // the done return; one of the others leads the next batch
      continue;
    }
    if (std::chrono::steady_clock::now() < deadline) {
      finished_.wait_until(lock, deadline);
      continue;
    }
    const auto it = std::find(queue_.begin(), queue_.end(), &mine);
    if (it != queue_.end()) {
      queue_.erase(it);
      return domain::errors::StorageUnavailable();
    }
    // Already in the running batch, which refers to `work`: wait for it to end.
    finished_.wait(lock);
  }
  return mine.request.status;
}

std::size_t GroupCommit::Queued() const {
  const std::lock_guard lock(mutex_);
  return queue_.size();
}

}  // namespace referrald::storage::sqlite
