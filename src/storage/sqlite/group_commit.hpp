#pragma once
// Group commit for a database with one writer (SQLite): write requests that arrive while another
// is being written wait in a queue, and the next of them to run takes every waiting request into
// one transaction (each in a savepoint of its own), so that N concurrent writes pay for one
// BEGIN IMMEDIATE, one COMMIT and one append of the pages they share to the WAL instead of N.
//
// Each request still succeeds or fails alone: the batch runner rolls a failed request back to its
// savepoint and goes on, and a commit that fails fails every request of the batch that had
// succeeded (none is acknowledged unless its transaction committed). The requests of a batch run
// on the thread of the one that leads it, one after the other, while their own threads wait.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <span>

#include "domain/store.hpp"
#include "util/result.hpp"

namespace referrald::storage::sqlite {

class GroupCommit {
 public:
  using Work = std::function<Status(domain::WriteTx&)>;

  // One request of a batch: its work, and what it ended with (set by the batch runner).
  struct Request {
    const Work* work = nullptr;
    Status status;
  };
  // Runs `batch` in one transaction and sets each request's status. Must not throw.
  using Runner = std::function<void(std::span<Request* const> batch)>;

  // `max_batch` requests at most per transaction; a request still queued after `timeout` gives
  // up with StorageUnavailable (one already taken into a batch waits for it to end).
  GroupCommit(std::size_t max_batch, std::chrono::milliseconds timeout);

  // Runs `work` in a batch run by `runner` (on this thread or another's) and returns its status.
  Status Submit(const Work& work, const Runner& runner);
  // How many requests wait for a batch to take them (for tests and metrics).
  [[nodiscard]] std::size_t Queued() const;

 private:
  struct Waiting {
    Request request;
    bool done = false;
  };

  const std::size_t max_batch_;
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mutex_;
  std::condition_variable finished_;
  std::deque<Waiting*> queue_;  // guarded by mutex_
  bool leading_ = false;        // a batch is running; guarded by mutex_
};

}  // namespace referrald::storage::sqlite
