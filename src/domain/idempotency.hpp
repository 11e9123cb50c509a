#pragma once
// Idempotency-Key (contract section 10): a caller may send a write again under the same key and
// get the first answer back instead of a second change. The rules live here, once; the rows live
// in the store (idempotency_keys), so they hold across instances sharing a database.
//
// A keyed request is looked up before it runs (Find): a remembered key is answered from its row, a
// key that another request of this instance runs answers 409 at once (Enter). Otherwise it runs:
//  - a use case that changes something stores the response in the transaction of the change, via
//    an OnCommit hook that calls Complete: a change never commits without its response, and the
//    primary key of idempotency_keys lets only one change per key commit, across instances (a
//    second insert waits for the first to commit, then rolls its own change back);
//  - a response without a change (a refusal, an answer that wrote nothing) is stored afterwards
//    in a transaction of its own (Remember);
//  - a response not to be remembered (5xx, 429, 409 IDEMPOTENCY_IN_PROGRESS) leaves no row, so
//    that a retry runs again.
// A keyed write therefore costs one write transaction, as an unkeyed one does, plus a read.

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "domain/model.hpp"
#include "domain/settings.hpp"
#include "domain/store.hpp"
#include "util/clock.hpp"
#include "util/ids.hpp"
#include "util/result.hpp"

namespace referrald::domain {

// A hook a write use case calls at the end of its write transaction, with its result, so that
// whatever the caller keeps with the change (an idempotent request's response) commits or rolls
// back with it. An error from the hook rolls the whole transaction back and is the use case's
// error. It may run more than once when the database retries the transaction.
template <typename T>
using OnCommit = std::function<Status(WriteTx&, const T&)>;

// Calls `on_commit` with `value` inside `tx` when it is set: how the use cases call their hook.
template <typename T>
Status RunOnCommit(const OnCommit<T>& on_commit, WriteTx& tx, const T& value) {
  if (!on_commit) return {};
  return on_commit(tx, value);
}

// 1..kMaxIdempotencyKeyLength characters, each visible ASCII (0x21–0x7E).
bool IsValidIdempotencyKey(std::string_view key);

// The instant at or before which a key created is forgotten, at `now`.
TimePoint IdempotencyCutoff(TimePoint now, std::chrono::hours ttl);

class IdempotencyService {
 public:
  // Marks a key as running in this instance until destroyed (see Enter).
  class Running {
   public:
    Running(Running&& other) noexcept;
    Running& operator=(Running&&) = delete;
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;
    ~Running();

   private:
    friend class IdempotencyService;
    Running(IdempotencyService* service, std::string slot);
    IdempotencyService* service_;
    std::string slot_;
  };

  // `ids` names each stored row. Thread-safe.
  IdempotencyService(Store& store, const Clock& clock, IdGenerator& ids,
                     IdempotencySettings settings);

  // Marks `request`'s key as running here while the result lives. Errors: InvalidIdempotencyKey,
  // IdempotencyInProgress (a request of this instance runs the same key now).
  Result<Running> Enter(const IdempotentRequest& request);
  // The response to answer again for a repeat of a remembered request, or nullopt when the key
  // is new (or forgotten: older than the TTL) and the request runs. Errors: IdempotencyKeyReused
  // (another method, path or body), IdempotencyInProgress (a row of an earlier version that
  // reserved keys, whose lease has not ended), and the storage errors.
  Result<std::optional<StoredResponse>> Find(const IdempotentRequest& request);
  // Inside the transaction of the request's change: stores its response with it. Error
  // IdempotencyInProgress when another request stored the key first (it committed while this one
  // ran, perhaps on another instance): the change must roll back, and Find then tells what to
  // answer.
  Status Complete(WriteTx& tx, const IdempotentRequest& request, const StoredResponse& response);
  // Stores the response of a request that changed nothing, in a transaction of its own; the same
  // error as Complete when the key was stored first.
  Status Remember(const IdempotentRequest& request, const StoredResponse& response);

  [[nodiscard]] const IdempotencySettings& settings() const { return settings_; }

 private:
  void Leave(const std::string& slot);

  Store& store_;
  const Clock& clock_;
  IdGenerator& ids_;
  IdempotencySettings settings_;
  std::mutex running_mutex_;
  std::unordered_set<std::string> running_;  // "user_id\nkey" of the keys this instance runs
};

// Deletes every key older than `ttl` at `now` (but none whose request may still run), in
// transactions of a bounded size. Returns how many. For the purge job.
Result<std::int64_t> PurgeIdempotencyKeys(Store& store, TimePoint now, std::chrono::hours ttl);

}  // namespace referrald::domain
