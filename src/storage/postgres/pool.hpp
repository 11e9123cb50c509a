#pragma once
// A bounded pool of PostgreSQL connections, opened on demand. Broken connections are dropped and
// replaced by the next Acquire, so the service recovers by itself once the server is back.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/postgres/connection.hpp"

namespace referrald::storage::postgres {

class Pool;

// A connection borrowed from a Pool. Move-only. On destruction the connection goes back to the
// pool, or is closed (freeing its slot) when it is broken or still inside a transaction. A Lease
// must not outlive its Pool; a moved-from Lease holds nothing and must not be dereferenced.
class Lease {
 public:
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  Connection& operator*() const { return *conn_; }
  Connection* operator->() const { return conn_.get(); }

 private:
  friend class Pool;
  Lease(Pool* pool, std::unique_ptr<Connection> conn);
  void Return() noexcept;

  Pool* pool_;
  std::unique_ptr<Connection> conn_;
};

// Thread-safe. Holds at most `size` connections (idle + lent + being opened).
class Pool {
 public:
  // `url`: a libpq URI; `size`: the most connections open at once (at least 1);
  // `statement_timeout`: passed to Connection::Open for every connection. Opens nothing yet.
  Pool(std::string url, int size, std::chrono::milliseconds statement_timeout);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  Pool(Pool&&) = delete;
  Pool& operator=(Pool&&) = delete;
  // Close(). Every Lease must have been destroyed before.
  ~Pool();

  // An idle connection (checked for a server-side close first), or a new one when fewer than
  // `size` are open (opened outside the lock, bounded by `deadline`), or the next one released.
  // Throws StorageError{kUnavailable} when none is available by `deadline`, when connecting
  // fails, or after Close(); StorageError{kFailure} when the URL does not parse.
  Lease Acquire(Deadline deadline);

  // Closes the idle connections; later Acquires throw, and lent connections are closed when
  // their Lease ends.
  void Close();

  // Connections open now (idle + lent + being opened), for tests and metrics.
  [[nodiscard]] int open() const;

 private:
  friend class Lease;
  // Takes back a lent connection.
  void Release(std::unique_ptr<Connection> conn) noexcept;
  // Frees the slot of a connection that was closed or never opened.
  void FreeSlot() noexcept;

  const std::string url_;
  const int size_;
  const std::chrono::milliseconds statement_timeout_;

  mutable std::mutex mutex_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<Connection>> idle_;  // most recently used last
  int open_ = 0;
  bool closed_ = false;
};

}  // namespace referrald::storage::postgres
