#include "storage/postgres/pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "storage/common/storage_error.hpp"

namespace referrald::storage::postgres {

// --- Lease ------------------------------------------------------------------------------------

Lease::Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}

Lease::Lease(Lease&& other) noexcept : pool_(other.pool_), conn_(std::move(other.conn_)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Return();
    pool_ = other.pool_;
    conn_ = std::move(other.conn_);
  }
  return *this;
}

Lease::~Lease() { Return(); }

void Lease::Return() noexcept {
  if (conn_) pool_->Release(std::move(conn_));
}

// --- Pool -------------------------------------------------------------------------------------

Pool::Pool(std::string url, int size, std::chrono::milliseconds statement_timeout)
    : url_(std::move(url)), size_(std::max(size, 1)), statement_timeout_(statement_timeout) {
  // Release never allocates (it runs in destructors): idle_ never holds more than size_.
  idle_.reserve(static_cast<std::size_t>(size_));
}

Pool::~Pool() { Close(); }

Lease Pool::Acquire(Deadline deadline) {
  std::unique_lock lock(mutex_);
  while (true) {
    if (closed_) {
      throw StorageError(StorageError::Kind::kUnavailable, "the database pool is closed");
    }
    if (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      lock.unlock();
      if (conn->CheckIdle()) return {this, std::move(conn)};
      conn.reset();  // closed outside the lock
      lock.lock();
      --open_;
      continue;
    }
    if (open_ < size_) {
      ++open_;
      lock.unlock();
      try {
        return {this, Connection::Open(url_, deadline, statement_timeout_)};
      } catch (...) {
        FreeSlot();
        throw;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw StorageError(StorageError::Kind::kUnavailable,
                         "no database connection available in time");
    }
    // Woken by a release (or a timeout): look again before giving up, so a connection released
    // at the deadline is still taken.
    released_.wait_until(lock, deadline);
  }
}

void Pool::Release(std::unique_ptr<Connection> conn) noexcept {
  if (!conn->broken()) {
    if (conn->InTransaction()) {
      spdlog::warn("postgres: a connection came back inside a transaction; closing it");
    } else {
      std::lock_guard lock(mutex_);
      if (!closed_) {
        idle_.push_back(std::move(conn));
        released_.notify_one();
        return;
      }
    }
  }
  conn.reset();  // closed outside the lock
  FreeSlot();
}

void Pool::FreeSlot() noexcept {
  {
    std::lock_guard lock(mutex_);
    --open_;
  }
  released_.notify_one();
}

void Pool::Close() {
  std::vector<std::unique_ptr<Connection>> idle;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    idle.swap(idle_);
    open_ -= static_cast<int>(idle.size());
  }
  released_.notify_all();
  idle.clear();  // closed outside the lock
}

int Pool::open() const {
  std::lock_guard lock(mutex_);
  return open_;
}

}  // namespace referrald::storage::postgres
