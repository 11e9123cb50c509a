#pragma once
// Idempotency-Key (contract section 10): a caller may send a write again under the same key and
// get the first answer back instead of a second change. The rules live here, once; the rows live
// in the store (idempotency_keys), so they hold across instances sharing a database.
//
// A keyed request first reserves its key in a short transaction of its own (Reserve). Then:
//  - a use case that changes something stores the response in the transaction of the change, via
//    an OnCommit hook that calls Complete: a change never commits without its response;
//  - a response without a change (a refusal, an answer that wrote nothing) is stored afterwards
//    in a transaction of its own (Remember);
//  - a response not to be remembered (5xx, 429, 409 IDEMPOTENCY_IN_PROGRESS) gives the key up
//    (Release), so that a retry runs again.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

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

// A keyed request: the caller, its key and the request's fingerprint (a repeat must match it).
struct IdempotentRequest {
  std::string user_id;
  std::string key;
  std::string method;
  std::string path;
  std::string body_sha256;  // lowercase hex of the request body's SHA-256
};

// What Reserve decided: answer `replay` and run nothing, or run the request holding `claim`.
struct Reservation {
  std::optional<StoredResponse> replay;
  IdempotencyClaim claim;  // meaningful only without a replay
};

// The instant at or before which a key created is forgotten, at `now`.
TimePoint IdempotencyCutoff(TimePoint now, std::chrono::hours ttl);

class IdempotencyService {
 public:
  // `ids` names the owner token of each reservation. Thread-safe.
  IdempotencyService(Store& store, const Clock& clock, IdGenerator& ids,
                     IdempotencySettings settings);

  // In a transaction of its own: a key not seen (or forgotten: older than the TTL) is reserved
  // for this request; a completed key with the same fingerprint is answered with its response; a
  // key held by a request whose lease ended (its instance died) is taken over.
  // Errors: InvalidIdempotencyKey, IdempotencyKeyReused (another method, path or body),
  // IdempotencyInProgress (the first request still runs, here or on another instance), and the
  // storage errors.
  Result<Reservation> Reserve(const IdempotentRequest& request);
  // Inside the transaction of the request's change: stores its response with it.
  // Error IdempotencyInProgress when the claim was lost (its lease ended and another request took
  // the key over): the change must roll back.
  Status Complete(WriteTx& tx, const IdempotencyClaim& claim, const StoredResponse& response);
  // Stores the response of a request that changed nothing, in a transaction of its own.
  Status Remember(const IdempotencyClaim& claim, const StoredResponse& response);
  // Gives the key up so that a retry runs again. A failure is logged, not returned: the key is
  // then free once its lease ends.
  void Release(const IdempotencyClaim& claim);

  [[nodiscard]] const IdempotencySettings& settings() const { return settings_; }

 private:
  Store& store_;
  const Clock& clock_;
  IdGenerator& ids_;
  IdempotencySettings settings_;
};

// Deletes every key older than `ttl` at `now` (but none whose request may still run), in
// transactions of a bounded size. Returns how many. For the purge job.
Result<std::int64_t> PurgeIdempotencyKeys(Store& store, TimePoint now, std::chrono::hours ttl);

}  // namespace referrald::domain
