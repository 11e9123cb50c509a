#include "domain/idempotency.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "domain/errors.hpp"
#include "domain/limits.hpp"

namespace referrald::domain {
namespace {

// Rows deleted per purge transaction: short transactions, whatever the backlog.
constexpr int kPurgeBatch = 5000;
// A key that vanishes between a refused insert and the read that follows (its first request gave
// it up, or it was purged) is inserted again; this bounds the loop.
constexpr int kReserveAttempts = 3;

bool SameRequest(const IdempotencyRecord& row, const IdempotentRequest& request) {
  return row.method == request.method && row.path == request.path &&
         row.body_sha256 == request.body_sha256;
}

}  // namespace

bool IsValidIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxIdempotencyKeyLength) return false;
  return std::all_of(key.begin(), key.end(), [](char c) { return c >= '\x21' && c <= '\x7e'; });
}

TimePoint IdempotencyCutoff(TimePoint now, std::chrono::hours ttl) {
  return now - std::chrono::duration_cast<TimePoint::duration>(ttl);
}

IdempotencyService::IdempotencyService(Store& store, const Clock& clock, IdGenerator& ids,
                                       IdempotencySettings settings)
    : store_(store), clock_(clock), ids_(ids), settings_(settings) {}

Result<Reservation> IdempotencyService::Reserve(const IdempotentRequest& request) {
  if (!IsValidIdempotencyKey(request.key)) return errors::InvalidIdempotencyKey();
  const TimePoint now = clock_.Now();
  IdempotencyRecord mine{request.user_id,
                         request.key,
                         request.method,
                         request.path,
                         request.body_sha256,
                         IdempotencyState::kInProgress,
                         ids_.New(now),
                         now + std::chrono::duration_cast<TimePoint::duration>(settings_.lease),
                         now,
                         std::nullopt};
  const Reservation reserved{std::nullopt, {mine.user_id, mine.key, mine.owner}};
  const TimePoint cutoff = IdempotencyCutoff(now, settings_.ttl);
  const auto reserve = [&](WriteTx& tx) -> Result<Reservation> {
    for (int attempt = 0; attempt < kReserveAttempts; ++attempt) {
      auto inserted = tx.InsertIdempotencyKey(mine);
      if (!inserted) return inserted.error();
      if (*inserted) return reserved;
      auto found = tx.FindIdempotencyKey(request.user_id, request.key);
      if (!found) return found.error();
      if (!*found) continue;
      const IdempotencyRecord& row = **found;
      // A key past its TTL is forgotten: this request starts it afresh, whatever it was.
      const bool forgotten = row.created_at <= cutoff;
      if (!forgotten) {
        if (!SameRequest(row, request)) return errors::IdempotencyKeyReused();
        if (row.state == IdempotencyState::kCompleted && row.response) {
          return Reservation{row.response, {}};
        }
        if (row.lease_until > now) return errors::IdempotencyInProgress();
        spdlog::warn("idempotency: taking over a key whose request stopped holding it");
      }
      // Conditional on the owner we saw: of two requests taking over, one wins.
      auto replaced = tx.ReplaceIdempotencyKey(mine, row.owner);
      if (!replaced) return replaced.error();
      if (*replaced) return reserved;
      return errors::IdempotencyInProgress();
    }
    return errors::IdempotencyInProgress();
  };
  // Deferred: a reservation lost to a crash of the database server only frees the key, as the 5xx
  // of a request that failed does; and the durable commit of the change flushes it first.
  return Transact(store_, reserve, Durability::kDeferred);
}

Status IdempotencyService::Complete(WriteTx& tx, const IdempotencyClaim& claim,
                                    const StoredResponse& response) {
  auto completed = tx.CompleteIdempotencyKey(claim, response, clock_.Now());
  if (!completed) return completed.error();
  if (!*completed) {
    spdlog::warn("idempotency: a request lost its key before it finished; rolling back");
    return errors::IdempotencyInProgress();
  }
  return {};
}

Status IdempotencyService::Remember(const IdempotencyClaim& claim, const StoredResponse& response) {
  return Transact(store_, [&](WriteTx& tx) -> Status { return Complete(tx, claim, response); });
}

void IdempotencyService::Release(const IdempotencyClaim& claim) {
  const Status released = Transact(
      store_, [&](WriteTx& tx) { return tx.ReleaseIdempotencyKey(claim); },
      Durability::kDeferred);  // lost, the key is freed when its lease ends
  if (!released) {
    spdlog::warn("idempotency: could not release a key ({}); it frees when its lease ends",
                 released.error().machine());
  }
}

Result<std::int64_t> PurgeIdempotencyKeys(Store& store, TimePoint now, std::chrono::hours ttl) {
  const TimePoint cutoff = IdempotencyCutoff(now, ttl);
  std::int64_t total = 0;
  while (true) {
    auto deleted = Transact(store, [&](WriteTx& tx) {
      return tx.DeleteExpiredIdempotencyKeys(cutoff, now, kPurgeBatch);
    });
    if (!deleted) return deleted.error();
    total += *deleted;
    if (*deleted < kPurgeBatch) return total;
  }
}

}  // namespace referrald::domain
